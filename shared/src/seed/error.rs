use crate::crypto::KeyId;

/// Why the key material could not be had. Every variant means "try again later"
/// to an API client (503); none carries a seed or a key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyMaterialError {
    /// No seed source is configured.
    #[error("no seed source is configured: set APIKEYS_SEED_SECRET_ID, APIKEYS_SEED_CIPHERTEXT or (local development) APIKEYS_SEED")]
    NotConfigured,
    /// The configured secret does not exist, or has no `AWSCURRENT` version.
    #[error("the seed secret {secret_id} was not found")]
    SecretNotFound {
        /// Name or ARN of the secret.
        secret_id: String,
    },
    /// The service did not answer in time, or answered with a failure.
    #[error("the seed could not be fetched from {service}: {reason}")]
    Unavailable {
        /// `secretsmanager` or `kms`.
        service: &'static str,
        /// The service's error code or the transport failure.
        reason: String,
    },
    /// The service answered, but what it gave cannot be used as a seed.
    #[error("the seed from {service} is unusable: {reason}")]
    Unusable {
        /// Where the seed came from.
        service: &'static str,
        /// Why, without the value.
        reason: String,
    },
    /// A stored value names a key that no loaded seed version holds, even after a
    /// reload: sealed under a seed this process has not seen (yet), or one that is
    /// no longer staged.
    #[error("no loaded seed version holds key {key_id}")]
    KeyNotLoaded {
        /// The key id the value names.
        key_id: KeyId,
    },
}
