//! Where the keyring's seed comes from, and the lazy loading of the keyring in the
//! functions that need it, kept fresh while the process lives.
//!
//! | variable | source |
//! |---|---|
//! | `APIKEYS_SEED_SECRET_ID` | Secrets Manager: `AWSCURRENT` seals, `AWSPREVIOUS` (if any) still opens |
//! | `APIKEYS_SEED_CIPHERTEXT` | a KMS ciphertext blob (base64) opened with `kms:Decrypt` under `APIKEYS_SEED_KMS_CONTEXT`; older blobs in `APIKEYS_SEED_PREVIOUS_CIPHERTEXTS` (comma-separated) only open |
//! | `APIKEYS_SEED` | a plain seed, for local development only (at least 32 characters) |
//!
//! The legacy RealMultiLLM seed has the same three sources under `APIKEYS_LEGACY_SEED…`
//! and is used only with `APIKEYS_LEGACY_POLICY=allow`. The master key derivation
//! reads `APIKEYS_KDF_SALT` and `APIKEYS_KDF_ITERATIONS`; `APIKEYS_KEYRING_MAX_AGE_SECONDS`
//! (300) says how long a loaded keyring is used before the versions are read again.
//!
//! The files build on each other: `error` and `config`, then `fetch` (the AWS
//! calls), then `derived` (keys by seed version), then `material` (the keyring of
//! a process).

mod derived;
mod error;
mod fetch;
mod material;
mod settings;

pub use error::KeyMaterialError;
pub use fetch::SeedFetcher;
pub use material::{KeyMaterial, SealingError, UNKNOWN_KEY_RELOAD_INTERVAL};
pub use settings::{
    SeedConfigError, SeedSettings, SeedSource, DEFAULT_KEYRING_MAX_AGE, DEFAULT_KMS_CONTEXT,
};
