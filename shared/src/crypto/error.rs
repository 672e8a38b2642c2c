use super::format::LegacyFormat;
use super::key_id::KeyId;

/// Why a value could not be sealed or opened.
///
/// No variant carries key, seed or plaintext bytes: the messages are safe to log
/// and the key id is a public fingerprint.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    /// Not a stored value of any known format, or wrong lengths or encoding.
    #[error("the stored value is malformed")]
    Malformed,
    /// An `akv1` envelope with a version byte this build does not know.
    #[error("unsupported envelope version {0}")]
    UnsupportedVersion(u8),
    /// An `akv1` envelope with a cipher suite this build does not know.
    #[error("unsupported cipher suite {0}")]
    UnsupportedSuite(u8),
    /// The envelope names a key the keyring does not hold.
    #[error("no key with id {0} in the keyring")]
    UnknownKeyId(KeyId),
    /// The key commitment does not match: the wrong key, or a forged envelope.
    #[error("the key commitment does not match")]
    CommitmentMismatch,
    /// The AEAD tag does not verify: wrong context, or tampered data.
    #[error("authentication failed")]
    AuthenticationFailed,
    /// A legacy value while the legacy policy forbids reading them.
    #[error("reading {0} values is forbidden by the legacy policy")]
    LegacyForbidden(LegacyFormat),
    /// A legacy value and no legacy seed to open it with.
    #[error("no legacy seed is configured to open a {0} value")]
    LegacyKeyUnavailable(LegacyFormat),
    /// A context field longer than 65,535 bytes.
    #[error("an encryption context field is too long")]
    ContextTooLong,
    /// A seed shorter than the minimum.
    #[error("the seed is too short: at least {min} characters are required")]
    SeedTooShort {
        /// The minimum length in bytes.
        min: usize,
    },
    /// KDF parameters below the floor.
    #[error("PBKDF2 iterations must be at least {min}")]
    TooFewIterations {
        /// The minimum iteration count.
        min: u32,
    },
}
