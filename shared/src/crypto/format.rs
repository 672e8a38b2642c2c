//! The formats a stored value can be in, recognised by shape alone.

use std::fmt;

use super::key_id::KeyId;

/// The text every `akv1` envelope starts with.
pub const ENVELOPE_PREFIX: &str = "akv1.";

/// The prefix of the `sha256-v2gcm` legacy format.
pub(crate) const V2_PREFIX: &str = "v2:gcm:";

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

/// The format a stored value was found in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoredFormat {
    /// An `akv1` envelope under the key with this id.
    Akv1(KeyId),
    /// A legacy RealMultiLLM value.
    Legacy(LegacyFormat),
}
