//! Sending a TransactWriteItems: one round trip, cancelled as a whole when one of
//! its conditions fails or when another transaction touches the same items at that
//! moment (<https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_TransactWriteItems.html>).
//! The first is an answer; the second is worth sending again, which the SDK does not
//! do (it is a cancellation, not a throttle).

use aws_sdk_dynamodb::config::http::HttpResponse;

use super::RepoError;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::transact_write_items::builders::TransactWriteItemsFluentBuilder;
use aws_sdk_dynamodb::operation::transact_write_items::{
    TransactWriteItemsError, TransactWriteItemsOutput,
};

/// Whether a transaction was cancelled because a condition failed (not because it
/// kept meeting another one: that is an error after [`send_transaction`]'s attempts).
pub(crate) fn is_cancelled<R>(err: &SdkError<TransactWriteItemsError, R>) -> bool {
    matches!(
        err.as_service_error(),
        Some(TransactWriteItemsError::TransactionCanceledException(_))
    ) && !conflicted(err)
}

/// A transaction's failure as the repository's error: one still cancelled by
/// conflicts after [`send_transaction`]'s attempts is transient (503), as a throttle
/// is; a failed condition is the caller's to read before it gets here.
pub(crate) fn transaction_error(
    operation: &'static str,
    err: SdkError<TransactWriteItemsError, HttpResponse>,
) -> RepoError {
    let conflicted = conflicted(&err);
    let error = RepoError::sdk(operation, err);
    if conflicted {
        error.transient()
    } else {
        error
    }
}

/// Transactions sent before giving up on conflicts with others in flight.
const TRANSACTION_ATTEMPTS: u32 = 4;

/// Whether DynamoDB cancelled a transaction only because another one touched the
/// same items at that moment (`TransactionConflict`): worth sending again. The SDK
/// does not retry it (it is a cancellation, not a throttle).
fn conflicted<R>(err: &SdkError<TransactWriteItemsError, R>) -> bool {
    match err.as_service_error() {
        Some(TransactWriteItemsError::TransactionCanceledException(e)) => e
            .cancellation_reasons()
            .iter()
            .any(|r| r.code() == Some("TransactionConflict")),
        _ => false,
    }
}

/// Sends `request`, again after a short wait while it is cancelled for a conflict
/// (see [`conflicted`]); the last answer otherwise.
pub(crate) async fn send_transaction(
    request: TransactWriteItemsFluentBuilder,
) -> Result<TransactWriteItemsOutput, SdkError<TransactWriteItemsError, HttpResponse>> {
    let mut attempt = 1;
    loop {
        let sent = request.clone().send().await;
        match &sent {
            Err(err) if conflicted(err) && attempt < TRANSACTION_ATTEMPTS => {
                tokio::time::sleep(std::time::Duration::from_millis(
                    10 * u64::from(attempt) + u64::from(rand_jitter()),
                ))
                .await;
                attempt += 1;
            }
            _ => return sent,
        }
    }
}

/// A few milliseconds of spread, so that two conflicting senders do not meet again.
fn rand_jitter() -> u8 {
    uuid::Uuid::new_v4().as_bytes()[0] % 16
}
