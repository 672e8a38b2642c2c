//! The apikeys library: everything the Lambda functions share except their wiring.
//!
//! - [`crypto`]: the `akv1` envelope, the keyring and the legacy RealMultiLLM readers.
//! - [`seed`]: where the seed behind the keyring comes from (Secrets Manager, KMS, or a
//!   plain development seed), loaded lazily once per cold start.
//! - [`aws`]: the shared AWS SDK configuration with bounded timeouts.

pub mod aws;
pub mod crypto;
pub mod seed;
