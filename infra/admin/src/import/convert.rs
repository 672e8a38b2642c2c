//! One stored value of the export into an `akv1` envelope for its owner.

use apikeys::config::ApiKey;
use apikeys::crypto::{CryptoError, KeyContext, Keyring, StoredFormat};
use apikeys::provider::ProviderId;
use secrecy::ExposeSecret;

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
        Err(_) => (secrecy::SecretString::from(stored.to_owned()), false),
    };
    let key = match ApiKey::parse(plaintext.expose_secret()) {
        Ok(key) => key,
        Err(reason) => {
            return Converted::Failed(format!("the key is not a valid API key: it {reason}"))
        }
    };
    match keyring.seal(&ctx, key.secret()) {
        Ok(envelope) => Converted::Sealed {
            envelope,
            hint: key.hint(provider).as_str().to_owned(),
            legacy,
        },
        Err(e) => Converted::Failed(format!("sealing failed: {e}")),
    }
}
