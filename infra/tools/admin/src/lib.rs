//! Operator tools of the apikeys vault, behind the `apikeys-admin` binary: one
//! module per command, each with its arguments, its work and its printing.
//!
//! - [`provision`]: the DynamoDB table with its `byUser` index and TTL, the KMS key
//!   and the Secrets Manager secret holding the seed.
//! - [`import`]: a RealMultiLLM export into `akv1` items.
//! - [`rewrap`]: every key under the current master key after a seed rotation.
//! - [`stats`]: counts by key id and format, rotation due, unused.
//! - [`issuer`]: the local RS256 token issuer the local API verifies tokens against.
//!
//! Every command fails with the one [`AdminError`].

pub mod context;
mod error;
pub mod import;
pub mod issuer;
pub mod migrate;
pub mod provision;
pub mod rewrap;
pub mod stats;

pub use error::AdminError;
// The provisioning API at the crate root, where the local stack and the tests use it.
pub use provision::{
    check_alias, provision_seed, provision_table, Outcome, Provisioned, SeedProvisioned,
    BY_USER_INDEX, BY_USER_PROJECTED, SEED_LENGTH, TABLE_TTL_ATTRIBUTE,
};

/// The error of the provisioning functions: the one [`AdminError`], under the name
/// their callers know.
pub use error::AdminError as ProvisionError;
