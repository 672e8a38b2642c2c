//! The master key of a seed: PBKDF2-HMAC-SHA256 over the seed with the
//! deployment salt, and its public fingerprint.

use std::fmt;

use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretSlice};
use sha2::Sha256;
use zeroize::Zeroizing;

use super::error::CryptoError;
use super::key_id::KeyId;

/// PBKDF2 iterations when none are configured.
pub const DEFAULT_KDF_ITERATIONS: u32 = 100_000;
/// The floor for configured iterations (NIST SP 800-132 asks for at least 1,000;
/// we ask for ten times that).
pub const MIN_KDF_ITERATIONS: u32 = 10_000;
/// The deployment salt when none is configured.
pub const DEFAULT_KDF_SALT: &str = "apikeys/v1/deployment-salt";
/// The shortest seed accepted for the current keyring.
pub const MIN_SEED_LEN: usize = 32;

/// The secret a master key is derived from. It cannot be printed.
pub struct Seed(SecretSlice<u8>);

impl Seed {
    /// A seed for the keyring: at least [`MIN_SEED_LEN`] bytes.
    pub fn new(bytes: Vec<u8>) -> Result<Self, CryptoError> {
        if bytes.len() < MIN_SEED_LEN {
            let mut bytes = bytes;
            zeroize::Zeroize::zeroize(&mut bytes);
            return Err(CryptoError::SeedTooShort { min: MIN_SEED_LEN });
        }
        Ok(Self(bytes.into()))
    }

    /// A seed of the legacy RealMultiLLM formats, which had no length rule.
    pub fn legacy(bytes: Vec<u8>) -> Self {
        Self(bytes.into())
    }

    pub(crate) fn expose(&self) -> &[u8] {
        self.0.expose_secret()
    }
}

impl fmt::Debug for Seed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Seed([REDACTED])")
    }
}

/// PBKDF2-HMAC-SHA256 parameters of the master key derivation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KdfParams {
    salt: Vec<u8>,
    iterations: u32,
}

impl KdfParams {
    /// Parameters with a deployment salt and an iteration count of at least
    /// [`MIN_KDF_ITERATIONS`].
    pub fn new(salt: impl Into<Vec<u8>>, iterations: u32) -> Result<Self, CryptoError> {
        if iterations < MIN_KDF_ITERATIONS {
            return Err(CryptoError::TooFewIterations {
                min: MIN_KDF_ITERATIONS,
            });
        }
        Ok(Self {
            salt: salt.into(),
            iterations,
        })
    }

    /// The iteration count.
    pub fn iterations(&self) -> u32 {
        self.iterations
    }
}

impl Default for KdfParams {
    fn default() -> Self {
        Self {
            salt: DEFAULT_KDF_SALT.as_bytes().to_vec(),
            iterations: DEFAULT_KDF_ITERATIONS,
        }
    }
}

/// A 32-byte master key and its fingerprint; the key is wiped on drop and never
/// printed.
pub(crate) struct MasterKey {
    id: KeyId,
    key: Zeroizing<[u8; 32]>,
}

impl MasterKey {
    /// Runs PBKDF2 over the seed: tens of milliseconds at the default iterations,
    /// so callers derive once per seed.
    pub(crate) fn derive(seed: &Seed, params: &KdfParams) -> Self {
        let mut key = Zeroizing::new([0u8; 32]);
        pbkdf2::pbkdf2_hmac::<Sha256>(seed.expose(), &params.salt, params.iterations, key.as_mut());
        Self {
            id: fingerprint(&key),
            key,
        }
    }

    /// The public fingerprint.
    pub(crate) fn id(&self) -> KeyId {
        self.id
    }

    pub(crate) fn expose(&self) -> &[u8; 32] {
        &self.key
    }
}

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MasterKey({})", self.id)
    }
}

fn fingerprint(key: &[u8; 32]) -> KeyId {
    let mut mac =
        <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC takes a key of any length");
    mac.update(b"apikeys key id");
    let out = mac.finalize().into_bytes();
    KeyId::from_bytes([out[0], out[1], out[2], out[3]])
}
