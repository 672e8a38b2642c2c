//! The apikeys library: everything the Lambda functions share except their wiring.
//!
//! - [`crypto`]: the `akv1` envelope, the keyring and the legacy RealMultiLLM readers.
//! - [`seed`]: where the seed behind the keyring comes from (Secrets Manager, KMS, or a
//!   plain development seed), loaded lazily once per cold start.
//! - [`aws`]: the shared AWS SDK configuration with bounded timeouts.
//! - [`provider`]: the registry of providers.
//! - [`config`]: validated inputs, the stored item and the `config` view.
//! - [`repo`]: the DynamoDB table, one round trip per operation.
//! - [`keytest`]: zero-token provider checks of keys.
//! - [`api`]: the HTTP handlers of the functions.
//! - [`state`]: what a function builds once per cold start.
//! - [`telemetry`]: JSON log lines.
//! - [`usage`]: a user's key for the app's other services, with the use recorded.
//! - [`maintenance`]: the daily sweep for keys due for rotation or unused.

pub mod api;
pub mod aws;
pub mod config;
pub mod crypto;
pub mod keytest;
pub mod maintenance;
pub mod provider;
pub mod repo;
pub mod seed;
pub mod state;
pub mod telemetry;
pub mod usage;

pub use state::{SealingState, ServiceConfig, State};
