//! Readers of the two formats RealMultiLLM wrote. Read for migration, never written.

use std::sync::Arc;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use super::aead::{aes256gcm_open, NONCE_LEN, TAG_LEN};
use super::error::CryptoError;
use super::format::{LegacyFormat, V2_PREFIX};
use super::master::Seed;

const PBKDF2_SALT: &[u8] = b"realmultillm-salt";
const PBKDF2_ITERATIONS: u32 = 100_000;
const IV_LEN: usize = NONCE_LEN;
/// Longest legacy value looked at; stored keys are far shorter.
const MAX_LEN: usize = 64 * 1024;

/// The two keys one legacy seed gives, wiped on drop.
pub(crate) struct LegacySeedKeys {
    pbkdf2: Zeroizing<[u8; 32]>,
    sha256: Zeroizing<[u8; 32]>,
}

impl LegacySeedKeys {
    /// Runs the legacy PBKDF2 (100,000 iterations) and SHA-256 over the seed.
    pub(crate) fn derive(seed: &Seed) -> Self {
        let mut pbkdf2 = Zeroizing::new([0u8; 32]);
        pbkdf2::pbkdf2_hmac::<Sha256>(
            seed.expose(),
            PBKDF2_SALT,
            PBKDF2_ITERATIONS,
            pbkdf2.as_mut(),
        );
        let sha256 = Zeroizing::new(Sha256::digest(seed.expose()).into());
        Self { pbkdf2, sha256 }
    }
}

/// The keys of each configured legacy seed; the formats carry no key id, so each
/// is tried in turn.
#[derive(Default)]
pub(crate) struct LegacyKeys(Vec<Arc<LegacySeedKeys>>);

impl LegacyKeys {
    /// The keys of seeds derived before.
    pub(crate) fn new(keys: Vec<Arc<LegacySeedKeys>>) -> Self {
        Self(keys)
    }

    pub(crate) fn len(&self) -> usize {
        self.0.len()
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Pbkdf2JsonValue {
    iv: String,
    #[serde(rename = "authTag")]
    auth_tag: String,
    ciphertext: String,
}

/// A legacy value split into (iv, ciphertext, tag).
type Parts = (Vec<u8>, Zeroizing<Vec<u8>>, Vec<u8>);

/// Splits a legacy value into (iv, ciphertext, tag).
fn parse(format: LegacyFormat, stored: &str) -> Result<Parts, CryptoError> {
    if stored.len() > MAX_LEN {
        return Err(CryptoError::Malformed);
    }
    let b64 = |s: &str| STANDARD.decode(s).map_err(|_| CryptoError::Malformed);
    let (iv, ciphertext, tag) = match format {
        LegacyFormat::Pbkdf2Json => {
            let json = Zeroizing::new(b64(stored)?);
            let value: Pbkdf2JsonValue =
                serde_json::from_slice(&json).map_err(|_| CryptoError::Malformed)?;
            (
                b64(&value.iv)?,
                Zeroizing::new(b64(&value.ciphertext)?),
                b64(&value.auth_tag)?,
            )
        }
        LegacyFormat::Sha256V2Gcm => {
            let raw = b64(stored
                .strip_prefix(V2_PREFIX)
                .ok_or(CryptoError::Malformed)?)?;
            if raw.len() < IV_LEN + TAG_LEN {
                return Err(CryptoError::Malformed);
            }
            let (iv, rest) = raw.split_at(IV_LEN);
            let (ct, tag) = rest.split_at(rest.len() - TAG_LEN);
            (iv.to_vec(), Zeroizing::new(ct.to_vec()), tag.to_vec())
        }
    };
    if iv.len() != IV_LEN || tag.len() != TAG_LEN {
        return Err(CryptoError::Malformed);
    }
    Ok((iv, ciphertext, tag))
}

/// Opens a legacy value with whichever configured legacy seed authenticates it.
pub(crate) fn open(
    keys: &LegacyKeys,
    format: LegacyFormat,
    stored: &str,
) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    let (iv, ciphertext, tag) = parse(format, stored)?;
    if keys.0.is_empty() {
        return Err(CryptoError::LegacyKeyUnavailable(format));
    }
    for seed in &keys.0 {
        let key = match format {
            LegacyFormat::Pbkdf2Json => &seed.pbkdf2,
            LegacyFormat::Sha256V2Gcm => &seed.sha256,
        };
        let mut buffer = ciphertext.clone();
        if aes256gcm_open(key, &iv, &[], &mut buffer, &tag).is_ok() {
            return Ok(buffer);
        }
    }
    Err(CryptoError::AuthenticationFailed)
}
