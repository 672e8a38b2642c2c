//! The app's other services take a user's key through here: the key opens and its
//! use is recorded (`lastUsedAt`, `usageCount`) in one DynamoDB round trip.

use secrecy::SecretString;
use time::OffsetDateTime;

use crate::config::{timestamp, ConfigItem};
use crate::crypto::{CryptoError, KeyContext};
use crate::provider::ProviderId;
use crate::repo::RepoError;
use crate::sealing_state::SealingState;
use crate::seed::{KeyMaterialError, KeyUseError};

/// A user's key for a provider, or why there is none to use.
pub enum UsedKey {
    /// The active key, opened, and the item after this use was recorded.
    Active {
        /// The plaintext key.
        key: SecretString,
        /// The configuration, with this use counted.
        config: Box<ConfigItem>,
    },
    /// No active key for that user and provider.
    None,
}

impl std::fmt::Debug for UsedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Active { config, .. } => f
                .debug_struct("Active")
                .field("key", &"[REDACTED]")
                .field("config", config)
                .finish(),
            Self::None => f.write_str("None"),
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

impl From<KeyUseError> for UsageError {
    fn from(err: KeyUseError) -> Self {
        match err {
            KeyUseError::Unavailable(cause) => Self::KeyMaterial(cause),
            KeyUseError::Crypto(cause) => Self::Crypto(cause),
        }
    }
}

/// Opens the user's active key for `provider` and records the use.
pub async fn use_key(
    state: &SealingState,
    user_id: &str,
    provider: ProviderId,
) -> Result<UsedKey, UsageError> {
    // Unavailable key material fails before the use is recorded.
    state.keys.keyring().await?;
    let now = timestamp(OffsetDateTime::now_utc());
    let Some(sealed) = state.base.repo.record_use(user_id, provider, &now).await? else {
        return Ok(UsedKey::None);
    };
    let ctx = KeyContext::new(user_id, provider.as_str());
    let opened = state.keys.open(&ctx, &sealed.envelope).await?;
    Ok(UsedKey::Active {
        key: opened.secret,
        config: Box::new(sealed.item),
    })
}
