//! The repository's one error: what failed, and whether trying again later may
//! mend it (503) or not (500).

use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};

/// A failure of the table that no client input explains. A transient one (DynamoDB
/// throttled, answered 5xx, the connection failed or the attempt timed out, after the
/// SDK's own retries) answers 503 with `Retry-After`; anything else (a malformed item)
/// 500. The cause goes to the log only.
#[derive(Debug, thiserror::Error)]
#[error("dynamodb {operation}: {reason}")]
pub struct RepoError {
    operation: &'static str,
    reason: String,
    transient: bool,
}

/// The error codes of DynamoDB that say "not now" rather than "not this request"
/// (<https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Programming.Errors.html>).
const TRANSIENT_CODES: [&str; 7] = [
    "ProvisionedThroughputExceededException",
    "ThrottlingException",
    "RequestLimitExceeded",
    "InternalServerError",
    "ServiceUnavailable",
    "TransactionConflictException",
    "TransactionInProgressException",
];

impl RepoError {
    pub(super) fn new(operation: &'static str, reason: impl Into<String>) -> Self {
        Self {
            operation,
            reason: reason.into(),
            transient: false,
        }
    }

    /// A failure that is not the request's: the table did not answer in time, or
    /// refused for now (a transaction cancelled by conflicts, over and over).
    pub(super) fn unavailable(operation: &'static str, reason: impl Into<String>) -> Self {
        Self {
            transient: true,
            ..Self::new(operation, reason)
        }
    }

    pub(super) fn sdk<E: ProvideErrorMetadata + std::error::Error + 'static>(
        operation: &'static str,
        err: SdkError<E>,
    ) -> Self {
        let transient = match &err {
            SdkError::TimeoutError(_)
            | SdkError::DispatchFailure(_)
            | SdkError::ResponseError(_) => true,
            SdkError::ServiceError(ctx) => {
                ctx.raw().status().is_server_error()
                    || err.code().is_some_and(|c| TRANSIENT_CODES.contains(&c))
            }
            _ => false,
        };
        let reason = match (err.code(), err.message()) {
            (Some(code), Some(msg)) => format!("{code}: {msg}"),
            (Some(code), None) => code.to_owned(),
            _ => aws_sdk_dynamodb::error::DisplayErrorContext(&err).to_string(),
        };
        Self {
            transient,
            ..Self::new(operation, reason)
        }
    }

    /// The same failure, worth trying again later (a transaction still cancelled by
    /// conflicts after its attempts: `transact::transaction_error`).
    pub(super) fn transient(self) -> Self {
        Self {
            transient: true,
            ..self
        }
    }

    /// Whether trying again later may succeed (503), as opposed to a failure no
    /// retry mends (500).
    pub fn is_transient(&self) -> bool {
        self.transient
    }
}
