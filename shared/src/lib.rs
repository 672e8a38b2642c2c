//! The apikeys library: everything the Lambda functions share except their wiring.
//!
//! - [`domain`]: the API key, its hint, settings, the stored item and the `config` view.
//! - [`crypto`]: the `akv1` envelope, the keyring and the legacy RealMultiLLM readers.
//! - [`seed`]: where the seed behind the keyring comes from (Secrets Manager, KMS, or a
//!   plain development seed), loaded lazily.
//! - [`aws`]: the shared AWS SDK configuration with bounded timeouts.
//! - [`provider`]: the registry of providers.
//! - [`repo`]: the DynamoDB table, one round trip per operation.
//! - [`keytest`]: zero-token provider checks of keys.
//! - [`api`]: the HTTP handlers of the functions.
//! - [`settings`]: the one settings tree every `main` reads once, every variable
//!   with its default.
//! - [`state`] and [`sealing_state`]: what a function builds once per cold start.
//! - [`telemetry`]: JSON log lines.
//! - [`usage`]: a user's key for the app's other services, with the use recorded.
//! - [`invoke`]: the payloads of `use-key`, which those services invoke.
//! - [`proxy`]: the streaming proxy that calls a provider with the user's key inside
//!   the vault (the `proxy` function).
//! - [`maintenance`]: the daily sweep for keys due for rotation or unused.

pub mod api;
pub mod aws;
#[cfg(feature = "sealing")]
pub mod crypto;
#[cfg(feature = "sealing")]
pub mod deployment;
pub mod domain;
#[cfg(all(feature = "sealing", feature = "keytest"))]
pub mod invoke;
#[cfg(feature = "keytest")]
pub mod keytest;
pub mod maintenance;
pub mod provider;
#[cfg(feature = "proxy")]
pub mod proxy;
pub mod repo;
#[cfg(all(feature = "sealing", feature = "keytest"))]
pub mod sealing_state;
#[cfg(feature = "sealing")]
pub mod seed;
pub mod settings;
pub mod state;
pub mod telemetry;
#[cfg(all(feature = "sealing", feature = "keytest"))]
pub mod usage;
#[cfg(feature = "usertoken")]
pub mod usertoken;
pub mod wipe;

#[cfg(all(feature = "sealing", feature = "keytest"))]
pub use sealing_state::SealingState;
pub use settings::Settings;
pub use state::State;
