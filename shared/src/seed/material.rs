//! The keyring of a process: loaded on first use, read again once it is older
//! than the configured maximum age, and reloaded at once (rate limited) when a
//! stored value names a key it does not hold.

use std::fmt;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, Instant};

use aws_config::SdkConfig;
use secrecy::SecretString;

use super::derived::DerivedKeys;
use super::error::KeyMaterialError;
use super::fetch::SeedFetcher;
use super::settings::SeedSettings;
use crate::crypto::{CryptoError, KeyContext, KeyId, Keyring, Opened};

/// At most one reload per this interval is caused by values under an unknown key
/// id, so a flood of forged or stranded envelopes cannot flood Secrets Manager.
pub const UNKNOWN_KEY_RELOAD_INTERVAL: Duration = Duration::from_secs(10);

/// After a failed reload, the keyring in hand is used this long (or the max age,
/// when shorter) before the next attempt, so an outage does not cost every request
/// a timeout.
const FAILED_RELOAD_RETRY: Duration = Duration::from_secs(10);

/// Why a key could not be sealed or opened through [`KeyMaterial`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SealingError {
    /// The key material cannot be had, or the value names a key that no seed
    /// version holds even after a reload: try again later (503).
    #[error(transparent)]
    Unavailable(#[from] KeyMaterialError),
    /// The value itself does not seal or open: malformed, tampered, the wrong
    /// context, or a legacy value the policy refuses.
    #[error(transparent)]
    Crypto(CryptoError),
}

struct Loaded {
    keyring: Arc<Keyring>,
    /// When the versions are read again.
    next_check: Instant,
}

/// The keyring of a process (one Lambda execution environment), fetched on first
/// use and kept fresh:
///
/// - once it is older than [`SeedSettings::keyring_max_age`], the next use
///   reads the seed versions again; concurrent callers wait for that one read;
/// - PBKDF2 runs only for a seed version not seen before, so an unchanged seed
///   costs one Secrets Manager call and no derivation;
/// - a failed reload keeps the keyring in hand (with a warning), a failed first
///   load is not kept: the next request tries again;
/// - [`KeyMaterial::open`] of a value under an unknown key id reloads at once (at
///   most once per [`UNKNOWN_KEY_RELOAD_INTERVAL`]) and tries again.
pub struct KeyMaterial {
    settings: SeedSettings,
    fetcher: SeedFetcher,
    loaded: RwLock<Option<Loaded>>,
    /// Held for the whole of a load: the single flight, and the keys by version.
    derived: tokio::sync::Mutex<DerivedKeys>,
    last_unknown_key_reload: Mutex<Option<Instant>>,
    fetches: AtomicU32,
    derivations: AtomicU32,
}

impl fmt::Debug for KeyMaterial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyMaterial")
            .field("settings", &self.settings)
            .field("loaded", &self.current().is_some())
            .finish()
    }
}

impl KeyMaterial {
    /// Key material from `config`, fetched through clients built from `sdk`.
    pub fn new(settings: SeedSettings, sdk: &SdkConfig) -> Self {
        Self {
            settings,
            fetcher: SeedFetcher::new(sdk),
            loaded: RwLock::new(None),
            derived: tokio::sync::Mutex::new(DerivedKeys::default()),
            last_unknown_key_reload: Mutex::new(None),
            fetches: AtomicU32::new(0),
            derivations: AtomicU32::new(0),
        }
    }

    /// The keyring: loaded on first use, read again once older than the max age.
    pub async fn keyring(&self) -> Result<Arc<Keyring>, KeyMaterialError> {
        if let Some(keyring) = self.fresh() {
            return Ok(keyring);
        }
        let mut derived = self.derived.lock().await;
        // Loaded (or a failure backed off) while this caller waited.
        if let Some(keyring) = self.fresh() {
            return Ok(keyring);
        }
        self.load(&mut derived).await
    }

    /// Seals a provider API key for `ctx` under the current key of a fresh keyring.
    pub async fn seal(
        &self,
        ctx: &KeyContext<'_>,
        plaintext: &SecretString,
    ) -> Result<String, SealingError> {
        let keyring = self.keyring().await?;
        keyring.seal(ctx, plaintext).map_err(SealingError::Crypto)
    }

    /// Opens a stored value for `ctx`. A value under a key id the keyring does not
    /// hold (sealed by an instance that saw a rotation first) causes one reload,
    /// rate limited, and one more try; only then is it
    /// [`KeyMaterialError::KeyNotLoaded`].
    pub async fn open(&self, ctx: &KeyContext<'_>, stored: &str) -> Result<Opened, SealingError> {
        let keyring = self.keyring().await?;
        let key_id = match keyring.open(ctx, stored) {
            Err(CryptoError::UnknownKeyId(key_id)) => key_id,
            other => return other.map_err(SealingError::Crypto),
        };
        let keyring = self.reload_for_unknown_key(key_id, &keyring).await?;
        keyring.open(ctx, stored).map_err(|e| match e {
            CryptoError::UnknownKeyId(key_id) => KeyMaterialError::KeyNotLoaded { key_id }.into(),
            other => SealingError::Crypto(other),
        })
    }

    /// How many times the seed versions have been read (successfully or not).
    pub fn fetch_count(&self) -> u32 {
        self.fetches.load(Ordering::Relaxed)
    }

    /// How many seeds have gone through PBKDF2 in this process.
    pub fn derivation_count(&self) -> u32 {
        self.derivations.load(Ordering::Relaxed)
    }

    async fn reload_for_unknown_key(
        &self,
        key_id: KeyId,
        used: &Arc<Keyring>,
    ) -> Result<Arc<Keyring>, KeyMaterialError> {
        let mut derived = self.derived.lock().await;
        // Another caller reloaded since `used` was handed out: try that one.
        if let Some(current) = self.current() {
            if !Arc::ptr_eq(&current, used) {
                return Ok(current);
            }
        }
        if !self.take_unknown_key_reload() {
            tracing::warn!(
                event = "seed.unknown_key_id",
                key_id = %key_id,
                "a stored value names a key the keyring does not hold; reloaded too recently to reload again"
            );
            return Ok(Arc::clone(used));
        }
        tracing::info!(
            event = "seed.unknown_key_id",
            key_id = %key_id,
            "a stored value names a key the keyring does not hold: reloading the seed versions"
        );
        self.load(&mut derived).await
    }

    /// Takes the one unknown-key reload of the current interval, if it is free.
    fn take_unknown_key_reload(&self) -> bool {
        let mut last = self
            .last_unknown_key_reload
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let now = Instant::now();
        if last.is_some_and(|at| now.duration_since(at) < UNKNOWN_KEY_RELOAD_INTERVAL) {
            return false;
        }
        *last = Some(now);
        true
    }

    /// Reads the versions and derives what is new; the caller holds `derived`. A
    /// failure with a keyring in hand keeps that keyring (and says so in the log).
    async fn load(&self, derived: &mut DerivedKeys) -> Result<Arc<Keyring>, KeyMaterialError> {
        self.fetches.fetch_add(1, Ordering::Relaxed);
        let max_age = self.settings.keyring_max_age;
        match derived.load(&self.fetcher, &self.settings).await {
            Ok((keyring, derivations)) => {
                self.derivations.fetch_add(derivations, Ordering::Relaxed);
                tracing::info!(
                    event = "seed.loaded",
                    current_key_id = %keyring.current_key_id(),
                    keys = keyring.key_ids().len(),
                    derived = derivations,
                    "keyring ready"
                );
                let keyring = Arc::new(keyring);
                self.set(Loaded {
                    keyring: Arc::clone(&keyring),
                    next_check: Instant::now() + max_age,
                });
                Ok(keyring)
            }
            Err(error) => match self.current() {
                Some(keyring) => {
                    tracing::warn!(
                        event = "seed.reload_failed",
                        error = %error,
                        current_key_id = %keyring.current_key_id(),
                        "the seed versions could not be read again: keeping the keyring in hand"
                    );
                    self.set(Loaded {
                        keyring: Arc::clone(&keyring),
                        next_check: Instant::now() + max_age.min(FAILED_RELOAD_RETRY),
                    });
                    Ok(keyring)
                }
                None => {
                    tracing::error!(event = "seed.fetch_failed", error = %error, "key material unavailable");
                    Err(error)
                }
            },
        }
    }

    fn fresh(&self) -> Option<Arc<Keyring>> {
        let loaded = self.loaded.read().unwrap_or_else(PoisonError::into_inner);
        loaded
            .as_ref()
            .filter(|l| Instant::now() < l.next_check)
            .map(|l| Arc::clone(&l.keyring))
    }

    fn current(&self) -> Option<Arc<Keyring>> {
        let loaded = self.loaded.read().unwrap_or_else(PoisonError::into_inner);
        loaded.as_ref().map(|l| Arc::clone(&l.keyring))
    }

    fn set(&self, value: Loaded) {
        *self.loaded.write().unwrap_or_else(PoisonError::into_inner) = Some(value);
    }
}
