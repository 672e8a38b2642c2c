//! What the functions that never touch key material build once per cold start and
//! lend to every request.

use aws_config::SdkConfig;

use crate::repo::KeyTable;
use crate::settings::{ServiceSettings, Settings};

/// The state of the functions that never touch key material.
#[derive(Debug, Clone)]
pub struct State {
    /// The configuration table.
    pub repo: KeyTable,
    /// The service's settings.
    pub settings: ServiceSettings,
}

impl State {
    /// State over a DynamoDB client (tests pass one with an interceptor).
    pub fn new(dynamodb: aws_sdk_dynamodb::Client, settings: ServiceSettings) -> Self {
        Self {
            repo: KeyTable::new(dynamodb, settings.table_name.clone()),
            settings,
        }
    }

    /// State over a shared SDK configuration.
    pub fn from_sdk(sdk: &SdkConfig, settings: ServiceSettings) -> Self {
        Self::new(aws_sdk_dynamodb::Client::new(sdk), settings)
    }

    /// The cold start of a function: the settings read once in its `main`. One log
    /// line (`cold_start`) says where the time went: the SDK configuration (region,
    /// credentials, endpoint from the environment) and the client.
    pub async fn from_settings(settings: &Settings) -> Self {
        let started = std::time::Instant::now();
        let sdk = crate::aws::sdk_config(&settings.aws).await;
        let loaded = started.elapsed();
        let state = Self::from_sdk(&sdk, settings.service.clone());
        tracing::info!(
            event = "cold_start",
            sdk_config_us = loaded.as_micros() as u64,
            clients_us = (started.elapsed() - loaded).as_micros() as u64,
        );
        state
    }
}
