//! Sealing and opening of stored API keys.
//!
//! Every key is sealed in an `akv1` [envelope](envelope) under the current master key of
//! a [`Keyring`]; the master key comes from a seed through PBKDF2 and is never used
//! directly: each record gets its own key and a key commitment through HKDF.

mod context;
mod envelope;
mod error;
mod keyring;
mod legacy;

pub use context::{KeyContext, PURPOSE_PROVIDER_API_KEY};
pub use envelope::{ENVELOPE_OVERHEAD, ENVELOPE_PREFIX};
pub use error::CryptoError;
pub use keyring::{
    KdfParams, KeyId, Keyring, LegacyPolicy, Opened, Seed, StoredFormat, DEFAULT_KDF_ITERATIONS,
    DEFAULT_KDF_SALT, MIN_KDF_ITERATIONS, MIN_SEED_LEN,
};
pub use legacy::LegacyFormat;

/// Primitives the envelope is built from, exposed so that known-answer tests
/// (Wycheproof) exercise exactly the code paths the envelope uses.
pub mod primitives {
    pub use super::envelope::{aes256gcm_open, aes256gcm_seal, hkdf_sha256};
}
