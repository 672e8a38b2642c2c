//! One stored value of the export into an `akv1` envelope for its owner.
//!
//! A value that opens is always sealed, even when it breaks today's key rules
//! (too short, characters no provider issues): the user's stored value must reach
//! the vault, marked, so that the user sees it and can replace it.

use apikeys::crypto::{CryptoError, KeyContext, Keyring, StoredFormat};
use apikeys::domain::ApiKey;
use apikeys::provider::ProviderId;
use secrecy::{ExposeSecret, SecretString};

use super::ExportRow;

/// What became of a row's stored value.
pub(super) enum Converted {
    /// Sealed under the current key.
    Sealed {
        /// The envelope.
        envelope: String,
        /// The masked key.
        hint: String,
        /// It was a legacy value.
        legacy: bool,
        /// Why the key breaks today's key rules, when it does (never the key).
        format_invalid: Option<String>,
    },
    /// Not sealed; why (never the key).
    Failed(String),
}

/// Opens (or takes) the row's key and seals it for its owner.
pub(super) fn convert(
    keyring: &Keyring,
    row: &ExportRow,
    provider: ProviderId,
    stored: &str,
) -> Converted {
    let ctx = KeyContext::new(&row.user_id, provider.as_str());
    let (plaintext, legacy) = match Keyring::format_of(stored) {
        Ok(StoredFormat::Legacy(format)) => match keyring.open(&ctx, stored) {
            Ok(opened) => (opened.secret, true),
            Err(CryptoError::AuthenticationFailed) => {
                return Converted::Failed(format!(
                    "the {format} value does not open with the configured legacy seed"
                ))
            }
            Err(e) => return Converted::Failed(format!("the {format} value does not open: {e}")),
        },
        Ok(StoredFormat::Akv1(_)) => match keyring.open(&ctx, stored) {
            Ok(opened) => (opened.secret, false),
            Err(e) => return Converted::Failed(format!("the akv1 value does not open: {e}")),
        },
        // Neither format: the original app stored it in plaintext.
        Err(_) => (SecretString::from(stored.to_owned()), false),
    };
    let (sealed, hint, format_invalid) = match ApiKey::parse(plaintext.expose_secret()) {
        Ok(key) => {
            let hint = key.hint(provider).as_str().to_owned();
            (keyring.seal(&ctx, key.secret()), hint, None)
        }
        // Sealed exactly as it was held. The hint shows none of it: its last
        // characters may be most of a short key, or characters that mislead a reader.
        Err(reason) => (
            keyring.seal(&ctx, &plaintext),
            FORMAT_INVALID_HINT.to_owned(),
            Some(format!("the key {reason}")),
        ),
    };
    match sealed {
        Ok(envelope) => Converted::Sealed {
            envelope,
            hint,
            legacy,
            format_invalid,
        },
        Err(e) => Converted::Failed(format!("sealing failed: {e}")),
    }
}

/// The `keyHint` of a key that breaks the key rules: the mask alone.
const FORMAT_INVALID_HINT: &str = "…";
