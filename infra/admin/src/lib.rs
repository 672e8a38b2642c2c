//! Operator tools of the apikeys vault, behind the `apikeys-admin` binary.
//!
//! - [`provision_table`]: the DynamoDB table with its `byUser` index and TTL.
//! - [`provision_seed`]: the KMS key and the Secrets Manager secret holding the seed.
//!
//! - [`import`]: a RealMultiLLM export into `akv1` items.
//! - [`rewrap`]: every key under the current master key after a seed rotation.
//! - [`stats`]: counts by key id and format, rotation due, unused.
//! - [`issuer`]: the local RS256 token issuer the local API verifies tokens against.
//!
//! Provisioning is idempotent: what exists is left alone and reported as already present.
//! The local stack (`make run`) and the integration tests provision through them, the
//! same way.

mod error;
pub mod import;
pub mod issuer;
pub mod rewrap;
mod seed;
pub mod stats;
mod table;

pub use error::ProvisionError;
pub use seed::{check_alias, provision_seed, SeedProvisioned, SEED_LENGTH};
pub use table::{
    provision_table, Provisioned, BY_USER_INDEX, BY_USER_PROJECTED, TABLE_TTL_ATTRIBUTE,
};

/// Whether a provisioning call made a resource or found it there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// This call created it.
    Created,
    /// It existed already and was left alone.
    AlreadyPresent,
}

impl Outcome {
    /// True when this call created the resource.
    pub fn created(self) -> bool {
        self == Self::Created
    }
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Created => "created",
            Self::AlreadyPresent => "already present",
        })
    }
}
