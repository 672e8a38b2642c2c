//! The app's own servers take a user's key through here (the `use-key` function,
//! invoked with the Lambda Invoke API; see [`crate::invoke`]): the key opens under
//! its (user, provider) context and its use is recorded (`lastUsedAt`,
//! `usageCount`) by the update that returns it, retry-safe: in one round trip when
//! the primary is usable or a key id is named, else after one Query of the
//! provider's keys (see `repo::uses`).

use secrecy::SecretString;
use time::OffsetDateTime;

use crate::crypto::{CryptoError, KeyContext};
use crate::domain::ProviderKey;
use crate::provider::ProviderId;
use crate::repo::{RepoError, UseMark, UseRecord};
use crate::sealing_state::SealingState;
use crate::seed::{KeyMaterialError, SealingError};

/// A user's key for a provider, or why there is none to use.
pub enum UsedKey {
    /// The active key, opened, and the item after this use was recorded.
    Active {
        /// The plaintext key.
        key: SecretString,
        /// The key as the vault knows it, with this use counted.
        stored: Box<ProviderKey>,
        /// Where the use left its token, for [`withdraw_use`] when the key is not
        /// sent after all.
        mark: Option<UseMark>,
    },
    /// No key to hand out.
    Refused(Refusal),
}

/// Why no key is handed out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// No configuration for that user and provider (or none of the id named).
    None,
    /// The configuration was deleted.
    Inactive,
    /// The key has expired.
    Expired,
    /// Every key of the provider is marked unavailable by what the provider said.
    AllUnavailable {
        /// The mark: `rate_limited`, `invalid` or `quota_exceeded`.
        reason: String,
        /// The earliest time one becomes usable; `None` when only replacing or
        /// testing a key again makes it usable.
        available_at: Option<OffsetDateTime>,
    },
}

impl Refusal {
    /// The wire name of the reason.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Inactive => "inactive",
            Self::Expired => "expired",
            Self::AllUnavailable { .. } => "all_unavailable",
        }
    }
}

impl std::fmt::Debug for UsedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Active { stored, .. } => f
                .debug_struct("Active")
                .field("key", &"[REDACTED]")
                .field("stored", stored)
                .finish(),
            Self::Refused(why) => f.debug_tuple("Refused").field(why).finish(),
        }
    }
}

/// Why a key could not be used.
#[derive(Debug, thiserror::Error)]
pub enum UsageError {
    /// The seed could not be had (try again).
    #[error(transparent)]
    KeyMaterial(#[from] KeyMaterialError),
    /// The table failed.
    #[error(transparent)]
    Repo(#[from] RepoError),
    /// The stored value does not open.
    #[error("the stored key does not open: {0}")]
    Crypto(#[from] CryptoError),
}

impl From<SealingError> for UsageError {
    fn from(err: SealingError) -> Self {
        match err {
            SealingError::Unavailable(cause) => Self::KeyMaterial(cause),
            SealingError::Crypto(cause) => Self::Crypto(cause),
        }
    }
}

/// Opens the user's usable key for `provider` (with `key_id`, only that one) and
/// records the use.
pub async fn use_key(
    state: &SealingState,
    user_id: &str,
    provider: ProviderId,
    key_id: Option<&str>,
) -> Result<UsedKey, UsageError> {
    use_key_in(state, user_id, provider, key_id, &[]).await
}

/// As [`use_key`] without a key id, passing over the keys a call already tried
/// (`skip`, their ids; none: the use order's first choice): the next usable key in
/// order, or why there is none.
pub async fn use_next_key(
    state: &SealingState,
    user_id: &str,
    provider: ProviderId,
    skip: &[String],
) -> Result<UsedKey, UsageError> {
    use_key_in(state, user_id, provider, None, skip).await
}

async fn use_key_in(
    state: &SealingState,
    user_id: &str,
    provider: ProviderId,
    key_id: Option<&str>,
    skip: &[String],
) -> Result<UsedKey, UsageError> {
    // Unavailable key material fails before the use is recorded.
    state.keys.keyring().await?;
    let now = OffsetDateTime::now_utc();
    let repo = &state.base.repo;
    let recorded = match key_id {
        Some(_) => repo.record_use(user_id, provider, key_id, now).await?,
        None => {
            repo.record_use_skipping(user_id, provider, skip, now)
                .await?
        }
    };
    let sealed = match recorded {
        UseRecord::Used(sealed) => sealed,
        UseRecord::None => return Ok(UsedKey::Refused(Refusal::None)),
        UseRecord::Inactive => return Ok(UsedKey::Refused(Refusal::Inactive)),
        UseRecord::Expired => return Ok(UsedKey::Refused(Refusal::Expired)),
        UseRecord::Unavailable { reason, until_ms } => {
            let available_at = until_ms
                .and_then(|ms| OffsetDateTime::from_unix_timestamp_nanos(ms * 1_000_000).ok());
            return Ok(UsedKey::Refused(Refusal::AllUnavailable {
                reason,
                available_at,
            }));
        }
    };
    let ctx = KeyContext::new(user_id, provider.as_str());
    let opened = match state.keys.open(&ctx, &sealed.envelope).await {
        Ok(opened) => opened,
        Err(e) => {
            // Nothing is handed out: the use is not one.
            let mark = sealed.use_mark.as_ref();
            withdraw_use(state, user_id, provider, mark, "").await;
            return Err(e.into());
        }
    };
    Ok(UsedKey::Active {
        key: opened.secret,
        stored: Box::new(sealed.item.into()),
        mark: sealed.use_mark,
    })
}

/// Takes back the use [`use_key`] recorded when its key was not sent after all (its
/// endpoint refused at this use, or not sendable): the key's `usageCount` counts
/// only keys handed on. A failure is logged and the use stays counted.
pub async fn withdraw_use(
    state: &SealingState,
    user_id: &str,
    provider: ProviderId,
    mark: Option<&UseMark>,
    request_id: &str,
) {
    let Some(mark) = mark else {
        return;
    };
    match state.base.repo.withdraw_use(user_id, provider, mark).await {
        Ok(true) => {}
        Ok(false) => tracing::info!(
            request_id,
            provider = provider.as_str(),
            "a use whose key was not sent stays counted (its token moved since)"
        ),
        Err(e) => tracing::warn!(
            request_id,
            provider = provider.as_str(),
            error = %e,
            "a use whose key was not sent could not be taken back"
        ),
    }
}
