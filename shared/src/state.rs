//! What a function builds once per cold start and lends to every request.

use aws_config::SdkConfig;
use time::Duration;

use crate::api::IdentityPolicy;
use crate::keytest::{KeyTestSettings, KeyTester};
use crate::repo::ConfigRepository;
use crate::seed::{KeyMaterial, KeyMaterialConfig, SeedConfigError};

/// Days after which a stored key is reported as due for rotation, by default.
pub const DEFAULT_ROTATION_DAYS: i64 = 90;
/// Days a soft-deleted item is kept before DynamoDB's TTL purges it, by default.
pub const DEFAULT_DELETE_GRACE_DAYS: i64 = 30;
/// Key tests a user may run per minute, by default.
pub const DEFAULT_KEY_TESTS_PER_MINUTE: u32 = 10;
/// The table name when `APIKEYS_TABLE_NAME` is unset (the local stack's).
pub const DEFAULT_TABLE_NAME: &str = "apikeys-local";

/// The service settings read from the environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceConfig {
    /// `APIKEYS_TABLE_NAME`.
    pub table_name: String,
    /// `APIKEYS_ROTATION_DAYS`.
    pub rotation_after: Duration,
    /// `APIKEYS_DELETE_GRACE_DAYS`.
    pub delete_grace: Duration,
    /// `APIKEYS_UNUSED_DAYS`: how long without use before maintenance reports a key.
    pub unused_after: Duration,
    /// `APIKEYS_INSECURE_TRUST_LOCAL_USER_HEADER`: see [`IdentityPolicy`].
    pub identity: IdentityPolicy,
    /// `APIKEYS_KEY_TESTS_PER_MINUTE`.
    pub key_tests_per_minute: u32,
}

impl ServiceConfig {
    /// Reads the settings from the process environment.
    pub fn from_env() -> Self {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the settings through `get`; unparsable numbers fall back to defaults.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Self {
        let days = |name: &str, default: i64| {
            get(name)
                .and_then(|v| v.trim().parse::<i64>().ok())
                .filter(|d| *d > 0)
                .map_or(Duration::days(default), Duration::days)
        };
        Self {
            table_name: get("APIKEYS_TABLE_NAME")
                .filter(|t| !t.trim().is_empty())
                .unwrap_or_else(|| DEFAULT_TABLE_NAME.to_owned()),
            rotation_after: days("APIKEYS_ROTATION_DAYS", DEFAULT_ROTATION_DAYS),
            delete_grace: days("APIKEYS_DELETE_GRACE_DAYS", DEFAULT_DELETE_GRACE_DAYS),
            unused_after: days(
                "APIKEYS_UNUSED_DAYS",
                crate::maintenance::DEFAULT_UNUSED_DAYS,
            ),
            identity: IdentityPolicy::from_lookup(&get),
            key_tests_per_minute: get("APIKEYS_KEY_TESTS_PER_MINUTE")
                .and_then(|v| v.trim().parse().ok())
                .filter(|n| *n > 0)
                .unwrap_or(DEFAULT_KEY_TESTS_PER_MINUTE),
        }
    }
}

/// The state of the functions that never touch key material.
#[derive(Debug, Clone)]
pub struct State {
    /// The configuration table.
    pub repo: ConfigRepository,
    /// Service settings.
    pub config: ServiceConfig,
}

impl State {
    /// State over a DynamoDB client (tests pass one with an interceptor).
    pub fn new(dynamodb: aws_sdk_dynamodb::Client, config: ServiceConfig) -> Self {
        Self {
            repo: ConfigRepository::new(dynamodb, config.table_name.clone()),
            config,
        }
    }

    /// State from the environment and a shared SDK configuration.
    pub fn from_sdk(sdk: &SdkConfig, config: ServiceConfig) -> Self {
        Self::new(aws_sdk_dynamodb::Client::new(sdk), config)
    }

    /// State from the process environment: the cold start of a function.
    pub async fn from_env() -> Self {
        let sdk = crate::aws::load_sdk_config().await;
        Self::from_sdk(&sdk, ServiceConfig::from_env())
    }
}

/// The state of the functions that seal or open keys (store, test-key): [`State`]
/// plus the key material, fetched on first use rather than at cold start, and the
/// key tester, whose HTTP client is also built on first use.
#[derive(Debug)]
pub struct SealingState {
    /// Table and settings.
    pub base: State,
    /// The lazily loaded keyring.
    pub keys: KeyMaterial,
    /// Provider checks of keys.
    pub tester: KeyTester,
}

/// A configuration that cannot work, found at cold start.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    /// The key material variables.
    #[error(transparent)]
    Seed(#[from] SeedConfigError),
    /// The key test variables.
    #[error(transparent)]
    KeyTest(#[from] crate::keytest::KeyTestConfigError),
}

impl SealingState {
    /// Sealing state from its parts.
    pub fn new(base: State, keys: KeyMaterial, tester: KeyTester) -> Self {
        Self { base, keys, tester }
    }

    /// Sealing state from the process environment: the cold start of a function.
    /// A configuration that cannot work is an error here, so a misconfigured
    /// deployment fails loudly at once.
    pub async fn from_env() -> Result<Self, StartupError> {
        let sdk = crate::aws::load_sdk_config().await;
        let keys = KeyMaterial::new(KeyMaterialConfig::from_env()?, &sdk);
        let tester = KeyTester::new(KeyTestSettings::from_lookup(|n| std::env::var(n).ok())?);
        Ok(Self::new(
            State::from_sdk(&sdk, ServiceConfig::from_env()),
            keys,
            tester,
        ))
    }
}
