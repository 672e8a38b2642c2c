//! The AWS SDK configuration every function shares: region and credentials from the
//! environment, `AWS_ENDPOINT_URL` honoured (the local emulator), and timeouts short
//! enough that a cold start cannot hang on an unreachable service.

use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, SdkConfig};
use aws_types::sdk_config::SharedCredentialsProvider;
use aws_types::service_config::{LoadServiceConfig, ServiceConfigKey};

/// The roots the AWS calls trust.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AwsTrust {
    /// The five roots of Amazon Trust Services, which issue the certificates of AWS
    /// service endpoints (<https://www.amazontrust.com/repository/>, "Trust store and
    /// pinning recommendations": all five for a custom trust store). Built in: no
    /// certificate file is read at a cold start.
    Amazon,
    /// The platform's trust store (`/etc/ssl/certs`): for an endpoint of another CA,
    /// e.g. an emulator served over https.
    System,
}

/// The PEM bundle of [`AwsTrust::Amazon`].
pub const AMAZON_TRUST_SERVICES_ROOTS: &[u8] =
    include_bytes!("../data/amazon-trust-services-roots.pem");

/// Timeouts, retries and trusted roots of every AWS call.
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
    /// The roots the HTTPS connections trust (`APIKEYS_AWS_TRUST_STORE`).
    pub trust: AwsTrust,
}

impl Default for AwsTimeouts {
    fn default() -> Self {
        Self {
            connect: Duration::from_millis(1_000),
            attempt: Duration::from_millis(2_000),
            operation: Duration::from_millis(5_000),
            max_attempts: 3,
            trust: AwsTrust::Amazon,
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
            trust: match crate::settings::lookup(get, "APIKEYS_AWS_TRUST_STORE")
                .map(|v| v.trim().to_ascii_lowercase())
                .as_deref()
            {
                None | Some("amazon") => AwsTrust::Amazon,
                Some("system") => AwsTrust::System,
                Some(_) => {
                    return Err(crate::settings::SettingsError::new(
                        "APIKEYS_AWS_TRUST_STORE",
                        "must be amazon or system",
                    ))
                }
            },
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
    if timeouts.trust == AwsTrust::Amazon {
        builder = builder.http_client(amazon_https_client());
    }
    Some(builder.service_config(endpoints).build())
}

/// The SDK's own HTTPS client (hyper 1, rustls with aws-lc, as its default) with the
/// Amazon Trust Services roots as the only trust anchors. The platform's store holds
/// about 145 roots, and reading and parsing them was half of what was left of a
/// no-crypto function's init once the configuration came from the environment
/// (docs/benchmarks.md). Proxy variables are not read by this client.
pub fn amazon_https_client() -> aws_types::sdk_config::SharedHttpClient {
    use aws_smithy_http_client::tls::{self, TlsContext, TrustStore};
    let context = TlsContext::builder()
        .with_trust_store(
            TrustStore::empty()
                .with_native_roots(false)
                .with_pem_certificate(AMAZON_TRUST_SERVICES_ROOTS),
        )
        .build()
        .expect("a TLS context of built-in roots");
    aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(
            tls::rustls_provider::CryptoMode::AwsLc,
        ))
        .tls_context(context)
        .build_https()
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

    /// The SHA-256 of each root's SubjectPublicKeyInfo, as Amazon Trust Services
    /// publishes them (<https://www.amazontrust.com/repository/>, "Root CAs").
    const PUBLISHED_SPKI_SHA256: [&str; 5] = [
        "fbe3018031f9586bcbf41727e417b7d1c45c2f47f93be372a17b96b50757d5a2",
        "7f4296fc5b6a4e3b35d3c369623e364ab1af381d8fa7121533c9d6c633ea2461",
        "36abc32656acfc645c61b71613c4bf21c787f5cabbee48348d58597803d7abc9",
        "f7ecded5c66047d28ed6466b543c40e0743abe81d109254dcf845d4c2c7853c5",
        "2b071c59a0a0ae76b0eadb2bad23bad4580b69c3601b630c2eaf0613afa83f92",
    ];

    #[cfg(feature = "sealing")]
    #[test]
    fn the_built_in_roots_are_the_five_amazon_publishes() {
        use rustls_pki_types::pem::PemObject;
        use rustls_pki_types::CertificateDer;
        use sha2::{Digest, Sha256};
        let mut hashes: Vec<String> = CertificateDer::pem_slice_iter(AMAZON_TRUST_SERVICES_ROOTS)
            .map(|cert| {
                let cert = cert.expect("a PEM certificate");
                let anchor = webpki::anchor_from_trusted_cert(&cert).expect("a trust anchor");
                // The anchor holds the SPKI's contents; the published hash is of the
                // whole DER SEQUENCE.
                let body: &[u8] = anchor.subject_public_key_info.as_ref();
                let mut spki = vec![0x30];
                match body.len() {
                    n if n < 0x80 => spki.push(n as u8),
                    n if n < 0x100 => spki.extend([0x81, n as u8]),
                    n => spki.extend([0x82, (n >> 8) as u8, n as u8]),
                }
                spki.extend_from_slice(body);
                hex::encode(Sha256::digest(&spki))
            })
            .collect();
        hashes.sort();
        let mut published: Vec<String> = PUBLISHED_SPKI_SHA256
            .iter()
            .map(|h| (*h).to_owned())
            .collect();
        published.sort();
        assert_eq!(hashes, published);
    }

    #[test]
    fn the_trust_store_is_amazons_by_default_and_the_systems_on_request() {
        let read = |vars: &'static [(&'static str, &'static str)]| {
            AwsTimeouts::from_lookup(&lookup(vars)).map(|t| t.trust)
        };
        assert_eq!(read(&[]), Ok(AwsTrust::Amazon));
        assert_eq!(
            read(&[("APIKEYS_AWS_TRUST_STORE", "system")]),
            Ok(AwsTrust::System)
        );
        let err = read(&[("APIKEYS_AWS_TRUST_STORE", "all")]).unwrap_err();
        assert_eq!(err.name, "APIKEYS_AWS_TRUST_STORE");
        let lean = from_lambda_environment(&AwsTimeouts::default(), &lookup(LAMBDA)).unwrap();
        assert!(
            lean.http_client().is_some(),
            "the Amazon roots' client is set"
        );
        let system = AwsTimeouts {
            trust: AwsTrust::System,
            ..AwsTimeouts::default()
        };
        let lean = from_lambda_environment(&system, &lookup(LAMBDA)).unwrap();
        assert!(
            lean.http_client().is_none(),
            "the SDK's default client decides"
        );
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
