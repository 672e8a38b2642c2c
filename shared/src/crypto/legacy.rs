//! Readers of the two formats RealMultiLLM wrote. Read for migration, never written.

use std::fmt;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use super::envelope::aes256gcm_open;
use super::{CryptoError, Seed};

const PBKDF2_SALT: &[u8] = b"realmultillm-salt";
const PBKDF2_ITERATIONS: u32 = 100_000;
const V2_PREFIX: &str = "v2:gcm:";
const IV_LEN: usize = 12;
const TAG_LEN: usize = 16;
/// Longest legacy value looked at; stored keys are far shorter.
const MAX_LEN: usize = 64 * 1024;

/// A legacy RealMultiLLM storage format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LegacyFormat {
    /// base64(JSON `{iv, authTag, ciphertext}`), key from PBKDF2(seed, "realmultillm-salt").
    Pbkdf2Json,
    /// `v2:gcm:` + base64(iv || ciphertext || tag), key = SHA-256(seed).
    Sha256V2Gcm,
}

impl LegacyFormat {
    /// The format's name as the design and the tools spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pbkdf2Json => "pbkdf2-json",
            Self::Sha256V2Gcm => "sha256-v2gcm",
        }
    }

    /// Recognises a legacy value by its shape alone.
    pub fn detect(stored: &str) -> Option<Self> {
        if stored.starts_with(V2_PREFIX) {
            Some(Self::Sha256V2Gcm)
        } else if stored.starts_with("eyJ") {
            // base64 of `{"`: the JSON object of the PBKDF2 format.
            Some(Self::Pbkdf2Json)
        } else {
            None
        }
    }
}

impl fmt::Display for LegacyFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

struct SeedKeys {
    pbkdf2: Zeroizing<[u8; 32]>,
    sha256: Zeroizing<[u8; 32]>,
}

/// The keys of each configured legacy seed; the formats carry no key id, so each
/// is tried in turn.
#[derive(Default)]
pub(crate) struct LegacyKeys(Vec<SeedKeys>);

impl LegacyKeys {
    pub(crate) fn derive(seeds: &[Seed]) -> Self {
        Self(
            seeds
                .iter()
                .map(|seed| {
                    let mut pbkdf2 = Zeroizing::new([0u8; 32]);
                    pbkdf2::pbkdf2_hmac::<Sha256>(
                        seed.expose(),
                        PBKDF2_SALT,
                        PBKDF2_ITERATIONS,
                        pbkdf2.as_mut(),
                    );
                    let sha256 = Zeroizing::new(Sha256::digest(seed.expose()).into());
                    SeedKeys { pbkdf2, sha256 }
                })
                .collect(),
        )
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
