//! The AWS SDK configuration every function shares: region and credentials from the
//! environment, `AWS_ENDPOINT_URL` honoured (the local emulator), and timeouts short
//! enough that a cold start cannot hang on an unreachable service.

use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, SdkConfig};
use aws_types::sdk_config::SharedCredentialsProvider;
use aws_types::service_config::{LoadServiceConfig, ServiceConfigKey};

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
            .timeout_config(self.timeout_config())
            .retry_config(self.retry_config())
    }

    /// The SDK's timeout configuration.
    pub fn timeout_config(&self) -> TimeoutConfig {
        TimeoutConfig::builder()
            .connect_timeout(self.connect)
            .operation_attempt_timeout(self.attempt)
            .operation_timeout(self.operation)
            .build()
    }

    /// The SDK's retry configuration: standard retries within the attempt budget.
    pub fn retry_config(&self) -> RetryConfig {
        RetryConfig::standard().with_max_attempts(self.max_attempts)
    }
}

/// The SDK configuration (region, credentials, endpoint) from the environment, with
/// the timeouts of the settings.
///
/// Where the environment names the region and the credentials, as Lambda does for
/// every function (`AWS_REGION`, `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`,
/// `AWS_SESSION_TOKEN`: <https://docs.aws.amazon.com/lambda/latest/dg/configuration-envvars.html#configuration-envvars-runtime>)
/// and the local stack does, the configuration is built from those variables alone
/// ([`from_lambda_environment`]); that skips the general loader's profile files,
/// credential chain and per-setting providers, which were 60 % of a no-crypto
/// function's cold start (docs/benchmarks.md). Anywhere else (a named profile, SSO,
/// container credentials) the SDK's general loader runs.
pub async fn sdk_config(timeouts: &AwsTimeouts) -> SdkConfig {
    match from_lambda_environment(timeouts, &|name| std::env::var(name).ok()) {
        Some(config) => config,
        None => {
            timeouts
                .apply(aws_config::defaults(BehaviorVersion::latest()))
                .load()
                .await
        }
    }
}

/// The configuration from the variables Lambda sets, read through `get`; `None` when
/// they are not all there or a profile is named (`AWS_PROFILE`), so the general loader
/// decides. Endpoints follow the SDK's variables: `AWS_ENDPOINT_URL_<SERVICE>` (the
/// service id upper-cased, spaces as `_`, e.g. `AWS_ENDPOINT_URL_DYNAMODB`) before
/// `AWS_ENDPOINT_URL`
/// (<https://docs.aws.amazon.com/sdkref/latest/guide/feature-ss-endpoints.html>).
pub fn from_lambda_environment(
    timeouts: &AwsTimeouts,
    get: &impl Fn(&str) -> Option<String>,
) -> Option<SdkConfig> {
    let set = |name: &str| get(name).filter(|v| !v.trim().is_empty());
    let region = set("AWS_REGION")?;
    set("AWS_ACCESS_KEY_ID")?;
    set("AWS_SECRET_ACCESS_KEY")?;
    if set("AWS_PROFILE").is_some() {
        return None;
    }
    let endpoints = EndpointVariables::read(get);
    let mut builder = SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(aws_config::Region::new(region))
        .credentials_provider(SharedCredentialsProvider::new(
            aws_config::environment::EnvironmentVariableCredentialsProvider::new(),
        ))
        .timeout_config(timeouts.timeout_config())
        .retry_config(timeouts.retry_config());
    if let Some(url) = endpoints.general.clone() {
        builder = builder.endpoint_url(url);
    }
    Some(builder.service_config(endpoints).build())
}

/// The endpoint variables, read once at start-up and handed to each client as it is
/// built (the SDK asks with the service's id).
#[derive(Debug, Clone, Default)]
struct EndpointVariables {
    general: Option<String>,
    by_service: Vec<(String, String)>,
}

impl EndpointVariables {
    /// The services the functions call.
    const SERVICE_IDS: [&'static str; 3] = ["DynamoDB", "Secrets Manager", "KMS"];

    fn read(get: &impl Fn(&str) -> Option<String>) -> Self {
        let set = |name: &str| get(name).filter(|v| !v.trim().is_empty());
        let mut by_service = Vec::new();
        for id in Self::SERVICE_IDS {
            let name = Self::service_variable(id);
            if let Some(url) = set(&name) {
                by_service.push((name, url));
            }
        }
        Self {
            general: set("AWS_ENDPOINT_URL"),
            by_service,
        }
    }

    fn service_variable(service_id: &str) -> String {
        format!(
            "AWS_ENDPOINT_URL_{}",
            service_id.to_uppercase().replace(' ', "_")
        )
    }
}

impl LoadServiceConfig for EndpointVariables {
    fn load_config(&self, key: ServiceConfigKey<'_>) -> Option<String> {
        if key.env() != "AWS_ENDPOINT_URL" {
            return None;
        }
        let name = Self::service_variable(key.service_id());
        self.by_service
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, url)| url.clone())
            .or_else(|| self.general.clone())
    }
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

    const LAMBDA: &[(&str, &str)] = &[
        ("AWS_REGION", "eu-west-1"),
        ("AWS_ACCESS_KEY_ID", "ASIAEXAMPLE"),
        ("AWS_SECRET_ACCESS_KEY", "example-secret"),
        ("AWS_SESSION_TOKEN", "example-token"),
    ];

    fn endpoint_for(config: &SdkConfig, service_id: &str) -> Option<String> {
        let key = ServiceConfigKey::builder()
            .service_id(service_id)
            .env("AWS_ENDPOINT_URL")
            .profile("endpoint_url")
            .build()
            .unwrap();
        config.service_config()?.load_config(key)
    }

    #[test]
    fn lambda_variables_build_the_configuration_without_the_loader() {
        let config = from_lambda_environment(&AwsTimeouts::default(), &lookup(LAMBDA))
            .expect("Lambda's variables are enough");
        assert_eq!(config.region().map(|r| r.as_ref()), Some("eu-west-1"));
        assert!(config.credentials_provider().is_some());
        assert_eq!(config.endpoint_url(), None);
        assert_eq!(endpoint_for(&config, "DynamoDB"), None);
        let timeouts = config.timeout_config().unwrap();
        assert_eq!(
            timeouts.connect_timeout(),
            Some(Duration::from_millis(1_000))
        );
        assert_eq!(
            timeouts.operation_timeout(),
            Some(Duration::from_millis(5_000))
        );
        assert_eq!(config.retry_config().unwrap().max_attempts(), 3);
    }

    #[test]
    fn a_service_endpoint_variable_wins_over_the_general_one() {
        let vars: &'static [(&str, &str)] = &[
            ("AWS_REGION", "us-east-1"),
            ("AWS_ACCESS_KEY_ID", "test"),
            ("AWS_SECRET_ACCESS_KEY", "test"),
            ("AWS_ENDPOINT_URL", "http://127.0.0.1:4599"),
            ("AWS_ENDPOINT_URL_DYNAMODB", "http://127.0.0.1:4598"),
        ];
        let config = from_lambda_environment(&AwsTimeouts::default(), &lookup(vars)).unwrap();
        assert_eq!(config.endpoint_url(), Some("http://127.0.0.1:4599"));
        assert_eq!(
            endpoint_for(&config, "DynamoDB").as_deref(),
            Some("http://127.0.0.1:4598")
        );
        assert_eq!(
            endpoint_for(&config, "Secrets Manager").as_deref(),
            Some("http://127.0.0.1:4599")
        );
        assert_eq!(
            EndpointVariables::service_variable("Secrets Manager"),
            "AWS_ENDPOINT_URL_SECRETS_MANAGER"
        );
    }

    #[test]
    fn without_credentials_or_with_a_profile_the_general_loader_decides() {
        let timeouts = AwsTimeouts::default();
        assert!(from_lambda_environment(&timeouts, &lookup(&LAMBDA[..1])).is_none());
        let blank: &'static [(&str, &str)] = &[
            ("AWS_REGION", "eu-west-1"),
            ("AWS_ACCESS_KEY_ID", " "),
            ("AWS_SECRET_ACCESS_KEY", "example-secret"),
        ];
        assert!(from_lambda_environment(&timeouts, &lookup(blank)).is_none());
        let profile: &'static [(&str, &str)] = &[
            ("AWS_REGION", "eu-west-1"),
            ("AWS_ACCESS_KEY_ID", "ASIAEXAMPLE"),
            ("AWS_SECRET_ACCESS_KEY", "example-secret"),
            ("AWS_PROFILE", "admin"),
        ];
        assert!(from_lambda_environment(&timeouts, &lookup(profile)).is_none());
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
