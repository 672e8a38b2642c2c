//! What the functions that never touch key material build once per cold start and
//! lend to every request.

use aws_config::SdkConfig;

use crate::repo::ConfigRepository;
use crate::service_config::ServiceConfig;

// The settings and their defaults used to live here; their old paths stay valid.
pub use crate::service_config::{
    DEFAULT_DELETE_GRACE_DAYS, DEFAULT_KEY_TESTS_PER_MINUTE, DEFAULT_ROTATION_DAYS,
    DEFAULT_TABLE_NAME,
};

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
