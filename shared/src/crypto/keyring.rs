//! The keyring: the master keys of a deployment, one sealing and all opening,
//! and the legacy keys beside them.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use secrecy::{ExposeSecret, SecretString};
use zeroize::{Zeroize, Zeroizing};

use super::context::KeyContext;
use super::envelope;
use super::error::CryptoError;
use super::format::{LegacyFormat, StoredFormat, ENVELOPE_PREFIX};
use super::key_id::KeyId;
use super::legacy::{self, LegacyKeys, LegacySeedKeys};
use super::master::{KdfParams, MasterKey, Seed};

/// Whether values in the legacy RealMultiLLM formats may be opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LegacyPolicy {
    /// Legacy values open (with a legacy seed); each read is counted.
    Allow,
    /// Legacy values are refused with [`CryptoError::LegacyForbidden`].
    #[default]
    Forbid,
}

/// A value opened by the keyring.
pub struct Opened {
    /// The plaintext.
    pub secret: SecretString,
    /// What it was stored as; see [`Keyring::needs_rewrap`].
    pub format: StoredFormat,
}

impl fmt::Debug for Opened {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Opened")
            .field("secret", &"[REDACTED]")
            .field("format", &self.format)
            .finish()
    }
}

/// The master keys of a deployment: one current key seals, every key opens.
pub struct Keyring {
    current: Arc<MasterKey>,
    previous: Vec<Arc<MasterKey>>,
    legacy: LegacyKeys,
    legacy_policy: LegacyPolicy,
    legacy_reads: AtomicU64,
}

impl fmt::Debug for Keyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Keyring")
            .field("current", &self.current.id())
            .field(
                "previous",
                &self.previous.iter().map(|k| k.id()).collect::<Vec<_>>(),
            )
            .field("legacy_seeds", &self.legacy.len())
            .field("legacy_policy", &self.legacy_policy)
            .finish()
    }
}

impl Keyring {
    /// Derives the master keys: `current` seals, `previous` (older seeds) only open.
    /// A previous seed equal to the current one, or to another, is kept once.
    pub fn derive(current: &Seed, previous: &[Seed], params: &KdfParams) -> Self {
        Self::from_keys(
            Arc::new(MasterKey::derive(current, params)),
            previous
                .iter()
                .map(|seed| Arc::new(MasterKey::derive(seed, params))),
        )
    }

    /// A keyring of master keys derived before: `current` seals, `previous` only
    /// open. A key with the id of one already held is kept once.
    pub(crate) fn from_keys(
        current: Arc<MasterKey>,
        previous: impl IntoIterator<Item = Arc<MasterKey>>,
    ) -> Self {
        let mut older: Vec<Arc<MasterKey>> = Vec::new();
        for key in previous {
            if key.id() != current.id() && older.iter().all(|o| o.id() != key.id()) {
                older.push(key);
            }
        }
        Self {
            current,
            previous: older,
            legacy: LegacyKeys::default(),
            legacy_policy: LegacyPolicy::Forbid,
            legacy_reads: AtomicU64::new(0),
        }
    }

    /// Adds the seeds of the legacy RealMultiLLM formats and the policy for them.
    pub fn with_legacy(self, seeds: &[Seed], policy: LegacyPolicy) -> Self {
        let keys = seeds
            .iter()
            .map(|seed| Arc::new(LegacySeedKeys::derive(seed)))
            .collect();
        self.with_legacy_keys(keys, policy)
    }

    /// Adds legacy keys derived before and the policy for them.
    pub(crate) fn with_legacy_keys(
        mut self,
        keys: Vec<Arc<LegacySeedKeys>>,
        policy: LegacyPolicy,
    ) -> Self {
        self.legacy = LegacyKeys::new(keys);
        self.legacy_policy = policy;
        self
    }

    /// The id of the key that seals.
    pub fn current_key_id(&self) -> KeyId {
        self.current.id()
    }

    /// The ids of every key that opens, current first.
    pub fn key_ids(&self) -> Vec<KeyId> {
        std::iter::once(self.current.id())
            .chain(self.previous.iter().map(|k| k.id()))
            .collect()
    }

    /// Whether a key with this id opens envelopes.
    pub fn holds(&self, id: KeyId) -> bool {
        self.find(id).is_some()
    }

    /// How many legacy values this keyring has opened.
    pub fn legacy_reads(&self) -> u64 {
        self.legacy_reads.load(Ordering::Relaxed)
    }

    /// Seals a provider API key for `ctx` under the current key.
    pub fn seal(
        &self,
        ctx: &KeyContext<'_>,
        plaintext: &SecretString,
    ) -> Result<String, CryptoError> {
        envelope::seal(&self.current, ctx, plaintext.expose_secret().as_bytes())
    }

    /// Opens a stored value for `ctx`: an `akv1` envelope under any key of the
    /// ring, or (when the policy allows) a legacy value.
    pub fn open(&self, ctx: &KeyContext<'_>, stored: &str) -> Result<Opened, CryptoError> {
        let (plaintext, format) = if stored.starts_with(ENVELOPE_PREFIX) {
            let (plaintext, id) = envelope::open(|id| self.find(id), ctx, stored)?;
            (plaintext, StoredFormat::Akv1(id))
        } else {
            let format = LegacyFormat::detect(stored).ok_or(CryptoError::Malformed)?;
            if self.legacy_policy == LegacyPolicy::Forbid {
                return Err(CryptoError::LegacyForbidden(format));
            }
            let plaintext = legacy::open(&self.legacy, format, stored)?;
            self.legacy_reads.fetch_add(1, Ordering::Relaxed);
            tracing::info!(event = "legacy.read", format = %format, "opened a legacy value");
            (plaintext, StoredFormat::Legacy(format))
        };
        Ok(Opened {
            secret: into_secret_string(plaintext)?,
            format,
        })
    }

    /// Whether a value of this format should be sealed again under the current key.
    pub fn needs_rewrap(&self, format: StoredFormat) -> bool {
        format != StoredFormat::Akv1(self.current.id())
    }

    /// The format of a stored value, without opening it.
    pub fn format_of(stored: &str) -> Result<StoredFormat, CryptoError> {
        if stored.starts_with(ENVELOPE_PREFIX) {
            envelope::key_id_of(stored).map(StoredFormat::Akv1)
        } else {
            LegacyFormat::detect(stored)
                .map(StoredFormat::Legacy)
                .ok_or(CryptoError::Malformed)
        }
    }

    fn find(&self, id: KeyId) -> Option<&MasterKey> {
        if self.current.id() == id {
            return Some(&self.current);
        }
        self.previous
            .iter()
            .find(|k| k.id() == id)
            .map(|k| k.as_ref())
    }
}

/// The plaintext as a `SecretString`, leaving no copy behind: `SecretString` boxes
/// a string with a reallocation unless its length is its capacity, so a buffer of
/// exact size is taken as it is, and any other is first copied to one (and wiped).
fn into_secret_string(mut plaintext: Zeroizing<Vec<u8>>) -> Result<SecretString, CryptoError> {
    let exact = if plaintext.len() == plaintext.capacity() {
        std::mem::take(&mut *plaintext)
    } else {
        plaintext.to_vec()
    };
    String::from_utf8(exact)
        .map(SecretString::from)
        .map_err(|e| {
            e.into_bytes().zeroize();
            CryptoError::Malformed
        })
}
