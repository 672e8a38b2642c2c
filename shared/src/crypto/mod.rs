//! Sealing and opening of stored API keys.
//!
//! Every key is sealed in an `akv1` [envelope](envelope) under the current master key of
//! a [`Keyring`]; the master key comes from a seed through PBKDF2 and is never used
//! directly: each record gets its own key and a key commitment through HKDF.
//!
//! The files build on each other without a cycle: `key_id`, then `format`, `error`,
//! then `master`, `aead`, `context`, then `envelope` and `legacy`, then `keyring`.

mod aead;
mod context;
mod envelope;
mod error;
mod format;
mod key_id;
mod keyring;
mod legacy;
mod master;

pub use context::{KeyContext, PURPOSE_PROVIDER_API_KEY};
pub use envelope::ENVELOPE_OVERHEAD;
pub use error::CryptoError;
pub use format::{LegacyFormat, StoredFormat, ENVELOPE_PREFIX};
pub use key_id::KeyId;
pub use keyring::{Keyring, LegacyPolicy, Opened};
pub use master::{
    KdfParams, Seed, DEFAULT_KDF_ITERATIONS, DEFAULT_KDF_SALT, MIN_KDF_ITERATIONS, MIN_SEED_LEN,
};

pub(crate) use legacy::LegacySeedKeys;
pub(crate) use master::MasterKey;

/// Primitives the envelope is built from, exposed so that known-answer tests
/// (Wycheproof) exercise exactly the code paths the envelope uses.
pub mod primitives {
    pub use super::aead::{aes256gcm_open, aes256gcm_seal, hkdf_sha256};
}
