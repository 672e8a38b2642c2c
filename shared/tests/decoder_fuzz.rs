//! The decoder against hostile input: whatever is stored, `open` returns an error
//! (never a panic, never a plaintext) and `format_of` never panics.

use std::sync::LazyLock;

use apikeys::crypto::{
    CryptoError, KdfParams, KeyContext, Keyring, LegacyFormat, LegacyPolicy, Seed, StoredFormat,
    ENVELOPE_OVERHEAD, ENVELOPE_PREFIX, MIN_KDF_ITERATIONS,
};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use proptest::prelude::*;

const CASES: u32 = 512;

/// A ring with a current key, one legacy seed, and legacy reads allowed, so every
/// decoder path (akv1 and both legacy formats) is reachable.
static RING: LazyLock<Keyring> = LazyLock::new(|| {
    let params = KdfParams::new("fuzz-salt", MIN_KDF_ITERATIONS).unwrap();
    let seed = Seed::new(b"decoder fuzz seed, thirty-two bytes or more".to_vec()).unwrap();
    Keyring::derive(&seed, &[], &params).with_legacy(
        &[Seed::legacy(b"legacy fuzz seed".to_vec())],
        LegacyPolicy::Allow,
    )
});

fn ctx() -> KeyContext<'static> {
    KeyContext::new("fuzz-user", "openai")
}

/// Runs both entry points of the decoder on `stored` and returns the error of
/// `open`, failing the case if anything opened.
fn refused(stored: &str) -> Result<CryptoError, TestCaseError> {
    let _ = Keyring::format_of(stored);
    match RING.open(&ctx(), stored) {
        Ok(opened) => Err(TestCaseError::fail(format!(
            "{stored:?} opened as {:?}",
            opened.format
        ))),
        Err(err) => {
            // Every value here fails, so no legacy read may ever be counted.
            prop_assert_eq!(RING.legacy_reads(), 0);
            Ok(err)
        }
    }
}

/// The bytes of a header this ring accepts: version 1, suite 1, the current key id.
fn valid_header() -> Vec<u8> {
    let mut header = vec![1u8, 1u8];
    header.extend_from_slice(&RING.current_key_id().to_bytes());
    header
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(CASES))]

    #[test]
    fn arbitrary_text_is_refused(stored in any::<String>()) {
        // Given any text at all
        // When it is opened
        // Then it is refused without a panic
        refused(&stored)?;
    }

    #[test]
    fn arbitrary_text_after_the_prefix_is_refused(stored in "akv1\\..*") {
        // Given the envelope prefix followed by anything
        // When it is opened
        let err = refused(&stored)?;

        // Then it is refused as an akv1 value, never as a legacy one
        prop_assert!(
            !matches!(err, CryptoError::LegacyForbidden(_) | CryptoError::LegacyKeyUnavailable(_)),
            "{:?}", err
        );
    }

    #[test]
    fn arbitrary_bytes_in_base64url_are_refused(
        bytes in proptest::collection::vec(any::<u8>(), 0..300),
    ) {
        // Given well-formed base64url of arbitrary bytes after the prefix
        let stored = format!("{ENVELOPE_PREFIX}{}", URL_SAFE_NO_PAD.encode(&bytes));

        // When it is opened
        // Then it is refused without a panic
        refused(&stored)?;
    }

    #[test]
    fn arbitrary_bytes_after_a_valid_header_are_refused(
        rest in proptest::collection::vec(any::<u8>(), 0..300),
    ) {
        // Given a header naming the ring's own key, then arbitrary bytes
        let mut bytes = valid_header();
        bytes.extend_from_slice(&rest);
        let stored = format!("{ENVELOPE_PREFIX}{}", URL_SAFE_NO_PAD.encode(&bytes));

        // When it is opened and its format read
        let err = refused(&stored)?;
        let format = Keyring::format_of(&stored);

        // Then a too-short value is malformed; a long enough one fails the commitment
        if bytes.len() < ENVELOPE_OVERHEAD {
            prop_assert_eq!(err, CryptoError::Malformed);
            prop_assert_eq!(format, Err(CryptoError::Malformed));
        } else {
            prop_assert_eq!(err, CryptoError::CommitmentMismatch);
            prop_assert_eq!(format, Ok(StoredFormat::Akv1(RING.current_key_id())));
        }
    }

    #[test]
    fn arbitrary_v2gcm_lookalikes_are_refused(rest in any::<String>()) {
        // Given the v2:gcm prefix followed by anything
        let stored = format!("v2:gcm:{rest}");

        // When it is opened
        // Then it is refused without a panic
        refused(&stored)?;
        prop_assert_eq!(
            Keyring::format_of(&stored),
            Ok(StoredFormat::Legacy(LegacyFormat::Sha256V2Gcm))
        );
    }

    #[test]
    fn arbitrary_v2gcm_bytes_are_refused(
        bytes in proptest::collection::vec(any::<u8>(), 0..300),
    ) {
        // Given the v2:gcm prefix and well-formed base64 of arbitrary bytes
        let stored = format!("v2:gcm:{}", STANDARD.encode(&bytes));

        // When it is opened
        let err = refused(&stored)?;

        // Then short values are malformed and longer ones fail authentication
        let expected = if bytes.len() < 12 + 16 {
            CryptoError::Malformed
        } else {
            CryptoError::AuthenticationFailed
        };
        prop_assert_eq!(err, expected);
    }

    #[test]
    fn arbitrary_pbkdf2_json_lookalikes_are_refused(rest in any::<String>()) {
        // Given the base64 of `{"` followed by anything
        let stored = format!("eyJ{rest}");

        // When it is opened
        // Then it is refused without a panic
        refused(&stored)?;
        prop_assert_eq!(
            Keyring::format_of(&stored),
            Ok(StoredFormat::Legacy(LegacyFormat::Pbkdf2Json))
        );
    }

    #[test]
    fn arbitrary_pbkdf2_json_fields_are_refused(
        iv in proptest::collection::vec(any::<u8>(), 0..20),
        tag in proptest::collection::vec(any::<u8>(), 0..20),
        ciphertext in proptest::collection::vec(any::<u8>(), 0..200),
    ) {
        // Given a well-formed pbkdf2-json value with arbitrary field contents
        let json = format!(
            r#"{{"iv":"{}","authTag":"{}","ciphertext":"{}"}}"#,
            STANDARD.encode(&iv),
            STANDARD.encode(&tag),
            STANDARD.encode(&ciphertext),
        );
        let stored = STANDARD.encode(json);
        prop_assert!(stored.starts_with("eyJ"));

        // When it is opened
        let err = refused(&stored)?;

        // Then wrong iv or tag sizes are malformed; otherwise authentication fails
        let expected = if iv.len() != 12 || tag.len() != 16 {
            CryptoError::Malformed
        } else {
            CryptoError::AuthenticationFailed
        };
        prop_assert_eq!(err, expected);
    }
}
