//! The AWS SDK configuration every function shares: region and credentials from the
//! environment, `AWS_ENDPOINT_URL` honoured (the local emulator), and timeouts short
//! enough that a cold start cannot hang on an unreachable service.

use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, SdkConfig};

/// Timeouts of every AWS call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AwsTimeouts {
    /// Time to open a connection.
    pub connect: Duration,
    /// Time for one attempt of an operation.
    pub attempt: Duration,
    /// Time for an operation, retries included.
    pub operation: Duration,
    /// Attempts per operation, the first included.
    pub max_attempts: u32,
}

impl Default for AwsTimeouts {
    fn default() -> Self {
        Self {
            connect: Duration::from_millis(1_000),
            attempt: Duration::from_millis(2_000),
            operation: Duration::from_millis(5_000),
            max_attempts: 3,
        }
    }
}

impl AwsTimeouts {
    /// Reads `APIKEYS_AWS_CONNECT_TIMEOUT_MS`, `APIKEYS_AWS_ATTEMPT_TIMEOUT_MS`,
    /// `APIKEYS_AWS_OPERATION_TIMEOUT_MS` and `APIKEYS_AWS_MAX_ATTEMPTS` through `get`.
    pub fn from_lookup(
        get: &impl Fn(&str) -> Option<String>,
    ) -> Result<Self, crate::settings::SettingsError> {
        use crate::settings::positive;
        let d = Self::default();
        let ms = |name: &str, default: Duration| {
            positive(get, name, default.as_millis() as u64).map(Duration::from_millis)
        };
        Ok(Self {
            connect: ms("APIKEYS_AWS_CONNECT_TIMEOUT_MS", d.connect)?,
            attempt: ms("APIKEYS_AWS_ATTEMPT_TIMEOUT_MS", d.attempt)?,
            operation: ms("APIKEYS_AWS_OPERATION_TIMEOUT_MS", d.operation)?,
            max_attempts: positive(get, "APIKEYS_AWS_MAX_ATTEMPTS", d.max_attempts)?,
        })
    }

    /// Applies the timeouts and the retry budget to an SDK config loader.
    pub fn apply(&self, loader: aws_config::ConfigLoader) -> aws_config::ConfigLoader {
        loader
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(self.connect)
                    .operation_attempt_timeout(self.attempt)
                    .operation_timeout(self.operation)
                    .build(),
            )
            .retry_config(RetryConfig::standard().with_max_attempts(self.max_attempts))
    }
}

/// Loads the SDK configuration (region, credentials, endpoint) from the
/// environment, with the timeouts of the settings.
pub async fn sdk_config(timeouts: &AwsTimeouts) -> SdkConfig {
    timeouts
        .apply(aws_config::defaults(BehaviorVersion::latest()))
        .load()
        .await
}

/// True inside a Lambda sandbox run by AWS, as opposed to `cargo lambda watch` or a test.
///
/// Real Lambda sets reserved variables that no function configuration can change:
/// `LAMBDA_TASK_ROOT`, `AWS_LAMBDA_LOG_GROUP_NAME` and `AWS_LAMBDA_INITIALIZATION_TYPE`
/// in every runtime, `AWS_EXECUTION_ENV` (`AWS_Lambda_…`) in the managed ones (not
/// in `provided.al2023`). `cargo lambda watch` sets none of them; `sam local` sets
/// `LAMBDA_TASK_ROOT`, so it counts as AWS here, which only makes it stricter.
pub fn running_in_aws_lambda() -> bool {
    running_in_aws_lambda_from(&|name| std::env::var(name).ok())
}

/// [`running_in_aws_lambda`] with the environment read through `get`.
pub fn running_in_aws_lambda_from(get: &impl Fn(&str) -> Option<String>) -> bool {
    let set = |name: &str| get(name).is_some_and(|v| !v.trim().is_empty());
    get("AWS_EXECUTION_ENV").is_some_and(|v| v.starts_with("AWS_Lambda_"))
        || set("LAMBDA_TASK_ROOT")
        || set("AWS_LAMBDA_LOG_GROUP_NAME")
        || set("AWS_LAMBDA_INITIALIZATION_TYPE")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lookup(vars: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |name| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).to_owned())
        }
    }

    #[test]
    fn a_provided_al2023_function_counts_as_aws() {
        // provided.al2023 sets no AWS_EXECUTION_ENV, but the task root and log group.
        assert!(running_in_aws_lambda_from(&lookup(&[
            ("LAMBDA_TASK_ROOT", "/var/task"),
            ("AWS_LAMBDA_RUNTIME_API", "127.0.0.1:9001"),
            ("AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/store"),
        ])));
        assert!(running_in_aws_lambda_from(&lookup(&[(
            "AWS_EXECUTION_ENV",
            "AWS_Lambda_python3.12"
        )])));
    }

    #[test]
    fn cargo_lambda_watch_counts_as_local() {
        assert!(!running_in_aws_lambda_from(&lookup(&[
            ("AWS_LAMBDA_RUNTIME_API", "http://127.0.0.1:9000/.rt/store"),
            ("AWS_LAMBDA_FUNCTION_NAME", "store"),
        ])));
    }
}
