//! The one error type of every command. It carries AWS error codes and messages,
//! resource names and file paths, never a key, a seed or a row's value.

use std::path::PathBuf;
use std::time::Duration;

use apikeys::repo::RepoError;
use apikeys::seed::{KeyMaterialError, SeedConfigError};
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};

/// Why a command stopped.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// An AWS call failed.
    #[error("{operation} {resource}: {code}: {message}")]
    Aws {
        /// The AWS operation, e.g. `CreateTable`.
        operation: &'static str,
        /// The table, alias or secret it was about.
        resource: String,
        /// The AWS error code, or the kind of failure when there is none (timeout, network).
        code: String,
        /// The AWS error message.
        message: String,
    },
    /// The table exists but differs from what the functions need.
    #[error("table {table} exists but {reason}; fix or delete it, then provision again")]
    TableMismatch {
        /// The table.
        table: String,
        /// What differs.
        reason: String,
    },
    /// The table did not become ACTIVE in time.
    #[error("table {table} is still {status} after {waited:?}")]
    TableNotActive {
        /// The table.
        table: String,
        /// Its last status (with the index that is not active yet, if any).
        status: String,
        /// How long provisioning waited.
        waited: Duration,
    },
    /// The KMS alias is not one this tool may create or use.
    #[error("invalid KMS alias {alias:?}: {reason}")]
    InvalidAlias {
        /// The alias as given.
        alias: String,
        /// Why it is refused.
        reason: &'static str,
    },
    /// The key behind the alias cannot encrypt.
    #[error("KMS key {key_id} behind {alias} is {state}, not Enabled")]
    KeyUnusable {
        /// The alias.
        alias: String,
        /// The key it points to.
        key_id: String,
        /// The key's state.
        state: String,
    },
    /// The secret exists but is scheduled for deletion, so it can neither be used nor
    /// created again under that name.
    #[error(
        "secret {name} is scheduled for deletion; restore it (aws secretsmanager \
         restore-secret --secret-id {name}) or pick another name"
    )]
    SecretScheduledForDeletion {
        /// The secret name.
        name: String,
    },
    /// An AWS answer lacked a field that provisioning reports.
    #[error("{operation} {resource}: the answer has no {field}")]
    IncompleteAnswer {
        /// The AWS operation.
        operation: &'static str,
        /// The resource it was about.
        resource: String,
        /// The missing field.
        field: &'static str,
    },
    /// A request could not be built (a bug: the inputs are constants).
    #[error("building the {operation} request: {message}")]
    Request {
        /// The AWS operation.
        operation: &'static str,
        /// The builder's message.
        message: String,
    },
    /// The operating system's random generator failed.
    #[error("random generator: {0}")]
    Random(String),
    /// A read or write of the table failed.
    #[error(transparent)]
    Table(#[from] RepoError),
    /// The seed variables contradict each other or hold a value that cannot work.
    #[error(transparent)]
    SeedConfig(#[from] SeedConfigError),
    /// A variable of the settings tree holds a value that cannot work.
    #[error(transparent)]
    Settings(#[from] apikeys::settings::SettingsError),
    /// The seed could not be fetched, or its keyring not built.
    #[error(transparent)]
    KeyMaterial(#[from] KeyMaterialError),
    /// The export file cannot be read.
    #[error("cannot read {}: {source}", path.display())]
    ReadFile {
        /// The file.
        path: PathBuf,
        /// The system's error.
        source: std::io::Error,
    },
    /// The export file is not a JSON array of rows. Says where, not what: the text
    /// around a bad value may be a key.
    #[error("{} is not an export: {problem} at line {line}, column {column}", path.display())]
    NotAnExport {
        /// The file.
        path: PathBuf,
        /// What kind of problem, without the offending text.
        problem: &'static str,
        /// Where.
        line: usize,
        /// Where on that line.
        column: usize,
    },
    /// The local token issuer's keys could not be made, read or used.
    #[error("local issuer: {0}")]
    Issuer(String),
    /// A report could not be written as JSON.
    #[error("writing the report as JSON: {0}")]
    Output(String),
}

impl AdminError {
    /// The error of a failed AWS call, with its code and message.
    pub(crate) fn aws<E>(operation: &'static str, resource: &str, err: SdkError<E>) -> Self
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        let (code, message) = match &err {
            SdkError::ServiceError(_) => (
                err.code().unwrap_or("Unknown"),
                err.message().unwrap_or_default().to_owned(),
            ),
            SdkError::TimeoutError(_) => ("Timeout", causes(&err)),
            SdkError::DispatchFailure(_) => ("DispatchFailure", causes(&err)),
            _ => ("Error", causes(&err)),
        };
        let code = code.to_owned();
        Self::Aws {
            operation,
            resource: resource.to_owned(),
            code,
            message,
        }
    }

    pub(crate) fn request(
        operation: &'static str,
        err: aws_sdk_dynamodb::error::BuildError,
    ) -> Self {
        Self::Request {
            operation,
            message: err.to_string(),
        }
    }

    /// The error of an export that does not parse, without quoting it.
    pub(crate) fn not_an_export(path: &std::path::Path, err: &serde_json::Error) -> Self {
        use serde_json::error::Category;
        Self::NotAnExport {
            path: path.to_owned(),
            problem: match err.classify() {
                Category::Io => "a read error",
                Category::Syntax => "invalid JSON",
                Category::Data => "a value of the wrong type or a missing field",
                Category::Eof => "an unexpected end",
            },
            line: err.line(),
            column: err.column(),
        }
    }

    /// The AWS error code, when an AWS call failed.
    pub fn aws_code(&self) -> Option<&str> {
        match self {
            Self::Aws { code, .. } => Some(code),
            _ => None,
        }
    }

    /// What to try next, when nothing answered at a local endpoint.
    pub fn hint(&self) -> Option<String> {
        let unreachable = matches!(self.aws_code(), Some("DispatchFailure" | "Timeout"));
        let endpoint = crate::context::endpoint()?;
        unreachable.then(|| {
            format!(
                "nothing answers at {endpoint}; start the emulator with `infra/scripts/local-aws.sh start`"
            )
        })
    }
}

/// The messages of an error and its sources, outermost first: one line, no `Debug`.
fn causes(err: &(dyn std::error::Error + 'static)) -> String {
    let mut line = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        line.push_str(": ");
        line.push_str(&cause.to_string());
        source = cause.source();
    }
    line
}
