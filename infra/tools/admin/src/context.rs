//! What the commands share: the table argument, the AWS configuration, the
//! operator's keyring, JSON output and exit codes.
//!
//! The AWS SDK is configured from the environment like the functions are
//! (`AWS_ENDPOINT_URL` points it at the local emulator).

use std::process::ExitCode;

use apikeys::crypto::{Keyring, LegacyPolicy};
use apikeys::repo::KeyTable;
use apikeys::seed::{SeedFetcher, SeedSettings};
use apikeys::settings::DEFAULT_TABLE_NAME;
use aws_config::SdkConfig;
use clap::Args;

use crate::AdminError;

/// The exit code of a run that went through but left some rows or items behind.
pub const EXIT_SOME_FAILED: u8 = 3;

/// `--table`: the configuration table, read from the same variable as the functions.
#[derive(Debug, Clone, Args)]
pub struct TableArg {
    /// The DynamoDB table.
    #[arg(long, env = "APIKEYS_TABLE_NAME", default_value = DEFAULT_TABLE_NAME)]
    pub table: String,
}

impl TableArg {
    /// The repository over this table.
    pub fn repository(&self, sdk: &SdkConfig) -> KeyTable {
        KeyTable::new(aws_sdk_dynamodb::Client::new(sdk), &self.table)
    }
}

/// The AWS configuration from the environment, with the timeouts of the settings
/// tree the functions read (`APIKEYS_AWS_*`).
pub async fn sdk_config() -> Result<SdkConfig, AdminError> {
    let timeouts = apikeys::aws::AwsTimeouts::from_lookup(&|n| std::env::var(n).ok())?;
    Ok(apikeys::aws::sdk_config(&timeouts).await)
}

/// The endpoint the SDK is pointed at (`AWS_ENDPOINT_URL`), when one is.
pub fn endpoint() -> Option<String> {
    std::env::var("AWS_ENDPOINT_URL")
        .ok()
        .filter(|e| !e.is_empty())
}

/// The keyring of the operator tools: the current seed and, when a legacy seed is
/// configured, legacy reading allowed whatever the functions' policy says (the
/// tools exist to move legacy values out).
pub async fn operator_keyring(sdk: &SdkConfig) -> Result<Keyring, AdminError> {
    let config = operator_key_material()?;
    Ok(SeedFetcher::new(sdk).keyring(&config).await?)
}

/// Like [`operator_keyring`], but `None` when no seed is configured at all.
pub async fn optional_keyring(sdk: &SdkConfig) -> Result<Option<Keyring>, AdminError> {
    let config = operator_key_material()?;
    if config.current.is_none() {
        return Ok(None);
    }
    Ok(Some(SeedFetcher::new(sdk).keyring(&config).await?))
}

fn operator_key_material() -> Result<SeedSettings, AdminError> {
    let mut config = SeedSettings::from_lookup(&|n| std::env::var(n).ok())?;
    if config.legacy.is_some() {
        config.legacy_policy = LegacyPolicy::Allow;
    }
    Ok(config)
}

/// Prints a report as pretty JSON on stdout.
pub fn print_json(value: &impl serde::Serialize) -> Result<(), AdminError> {
    let text =
        serde_json::to_string_pretty(value).map_err(|e| AdminError::Output(e.to_string()))?;
    println!("{text}");
    Ok(())
}

/// Success, or [`EXIT_SOME_FAILED`] when something was left behind.
pub fn exit_code(all_done: bool) -> ExitCode {
    if all_done {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_SOME_FAILED)
    }
}
