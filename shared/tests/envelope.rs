//! The `akv1` envelope seen from outside the crate: round trips, tampering, context
//! binding, key rotation, and conformance with DESIGN.md ("Key material",
//! "Envelope") through an independent implementation built from the crates directly.

use std::sync::LazyLock;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use apikeys::crypto::{
    CryptoError, KdfParams, KeyContext, KeyId, Keyring, Opened, Seed, StoredFormat,
    ENVELOPE_OVERHEAD, ENVELOPE_PREFIX, MIN_KDF_ITERATIONS, MIN_SEED_LEN, PURPOSE_PROVIDER_API_KEY,
};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use hkdf::Hkdf;
use hmac::{Hmac, Mac};
use proptest::prelude::*;
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;

// ---------------------------------------------------------------------------
// Fixtures
// ---------------------------------------------------------------------------

const KDF_SALT: &str = "test-salt";
/// Seed of the ring most tests use.
const SEED_A: &str = "seed A for the envelope tests -- 0123456789abcdef";
/// Seed of a ring unrelated to A.
const SEED_B: &str = "seed B, unrelated to seed A ---- fedcba9876543210";
/// Seeds of the rotation test: the old one, then the new one.
const SEED_OLD: &str = "rotation: the OLD seed, retired -- 000111222333444";
const SEED_NEW: &str = "rotation: the NEW seed, current -- 555666777888999";
/// Every seed of this file: no output may contain any of them.
const ALL_SEEDS: [&str; 4] = [SEED_A, SEED_B, SEED_OLD, SEED_NEW];

/// A provider key distinctive enough that finding it in output is never a fluke.
const PLAINTEXT: &str = "sk-proj-PLAINTEXT-9c1f3e7a5b2d4c6e8f0a1b3c5d7e9f";
const USER: &str = "user-7f8e9d";
const PROVIDER: &str = "openai";

/// Layout of the decoded envelope (DESIGN.md "Envelope").
const KEY_ID_AT: usize = 2;
const SALT_AT: usize = 6;
const COMMIT_AT: usize = SALT_AT + 32;
const NONCE_AT: usize = COMMIT_AT + 32;
const PREAMBLE_LEN: usize = NONCE_AT + 12;

fn params() -> KdfParams {
    KdfParams::new(KDF_SALT, MIN_KDF_ITERATIONS).expect("the minimum iterations are accepted")
}

fn seed(text: &str) -> Seed {
    Seed::new(text.as_bytes().to_vec()).expect("test seeds are long enough")
}

/// PBKDF2 is deliberately slow: each ring is derived once for the whole file.
static RING_A: LazyLock<Keyring> = LazyLock::new(|| Keyring::derive(&seed(SEED_A), &[], &params()));
static RING_B: LazyLock<Keyring> = LazyLock::new(|| Keyring::derive(&seed(SEED_B), &[], &params()));

fn ctx() -> KeyContext<'static> {
    KeyContext::new(USER, PROVIDER)
}

fn secret(text: &str) -> SecretString {
    SecretString::from(text.to_owned())
}

fn seal_a(plaintext: &str) -> String {
    RING_A
        .seal(&ctx(), &secret(plaintext))
        .expect("sealing succeeds")
}

fn decode(stored: &str) -> Vec<u8> {
    let body = stored
        .strip_prefix(ENVELOPE_PREFIX)
        .expect("an envelope starts with the prefix");
    URL_SAFE_NO_PAD
        .decode(body)
        .expect("an envelope body is base64url")
}

fn encode(bytes: &[u8]) -> String {
    format!("{ENVELOPE_PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes))
}

/// Asserts that an error says nothing about the plaintext or any seed, in both
/// its `Display` and its `Debug` form.
fn assert_no_leak(err: &CryptoError, plaintext: &str) {
    for shown in [err.to_string(), format!("{err:?}")] {
        assert!(!shown.contains(plaintext), "{shown:?} shows the plaintext");
        for seed in ALL_SEEDS {
            assert!(!shown.contains(seed), "{shown:?} shows a seed");
        }
    }
}

/// Opens `stored` expecting a failure; checks that the error leaks nothing.
fn open_err(ring: &Keyring, ctx: &KeyContext<'_>, stored: &str) -> CryptoError {
    match ring.open(ctx, stored) {
        Ok(opened) => panic!(
            "{stored:?} opened (as {:?}) but should not have",
            opened.format
        ),
        Err(err) => {
            assert_no_leak(&err, PLAINTEXT);
            err
        }
    }
}

// ---------------------------------------------------------------------------
// Round trips
// ---------------------------------------------------------------------------

/// Plaintexts up to 4,096 bytes: arbitrary Unicode (at most 4 bytes a char) or
/// printable ASCII up to the full length.
fn plaintexts() -> impl Strategy<Value = String> {
    prop_oneof![
        proptest::collection::vec(any::<char>(), 0..=1024).prop_map(|cs| cs.into_iter().collect()),
        "[ -~]{0,4096}",
    ]
    .prop_filter("at most 4096 bytes", |s: &String| s.len() <= 4096)
}

/// User ids and provider strings, empty and Unicode included.
fn context_field() -> impl Strategy<Value = String> {
    prop_oneof![Just(String::new()), ".{0,64}", "[a-z0-9#_-]{1,40}"]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn any_sealed_value_opens_to_its_plaintext_under_the_current_key(
        plaintext in plaintexts(),
        user in context_field(),
        provider in context_field(),
    ) {
        // Given a value sealed for some user and provider
        let ctx = KeyContext::new(&user, &provider);
        let stored = RING_A.seal(&ctx, &secret(&plaintext)).unwrap();

        // When it is opened for the same user and provider
        let opened = RING_A.open(&ctx, &stored).unwrap();

        // Then the plaintext comes back, found under the current key
        prop_assert_eq!(opened.secret.expose_secret(), plaintext.as_str());
        prop_assert_eq!(opened.format, StoredFormat::Akv1(RING_A.current_key_id()));
        prop_assert!(!RING_A.needs_rewrap(opened.format));
    }

    #[test]
    fn any_sealed_value_has_the_documented_length(plaintext in plaintexts()) {
        // Given any plaintext
        // When it is sealed
        let stored = seal_a(&plaintext);

        // Then the envelope is the prefix and base64url of overhead + plaintext bytes
        prop_assert!(stored.starts_with(ENVELOPE_PREFIX));
        prop_assert_eq!(decode(&stored).len(), ENVELOPE_OVERHEAD + plaintext.len());
    }

    #[test]
    fn any_sealed_value_does_not_open_for_another_user(
        plaintext in plaintexts(),
        user in context_field(),
        other in context_field(),
    ) {
        prop_assume!(user != other);
        // Given a value sealed for one user
        let stored = RING_A
            .seal(&KeyContext::new(&user, PROVIDER), &secret(&plaintext))
            .unwrap();

        // When another user's context opens it
        let result = RING_A.open(&KeyContext::new(&other, PROVIDER), &stored);

        // Then authentication fails
        prop_assert_eq!(result.unwrap_err(), CryptoError::AuthenticationFailed);
    }
}

#[test]
fn sealing_twice_gives_different_envelopes() {
    // Given one plaintext and one context
    // When it is sealed twice
    let first = seal_a(PLAINTEXT);
    let second = seal_a(PLAINTEXT);

    // Then salt, nonce and so the whole envelope differ, and both open
    assert_ne!(first, second);
    let (a, b) = (decode(&first), decode(&second));
    assert_ne!(
        a[SALT_AT..COMMIT_AT],
        b[SALT_AT..COMMIT_AT],
        "salt repeated"
    );
    assert_ne!(
        a[NONCE_AT..PREAMBLE_LEN],
        b[NONCE_AT..PREAMBLE_LEN],
        "nonce repeated"
    );
    for stored in [first, second] {
        let opened = RING_A.open(&ctx(), &stored).unwrap();
        assert_eq!(opened.secret.expose_secret(), PLAINTEXT);
    }
}

#[test]
fn sealed_header_carries_version_suite_and_current_key_id() {
    // Given a value sealed by ring A
    let bytes = decode(&seal_a(PLAINTEXT));

    // Then the header is version 1, suite 1 and A's key id, big-endian
    assert_eq!(bytes[0], 1, "version");
    assert_eq!(bytes[1], 1, "suite");
    assert_eq!(
        bytes[KEY_ID_AT..SALT_AT],
        RING_A.current_key_id().to_bytes(),
        "key id"
    );
    assert_eq!(
        Keyring::format_of(&encode(&bytes)),
        Ok(StoredFormat::Akv1(RING_A.current_key_id()))
    );
}

// ---------------------------------------------------------------------------
// Tampering
// ---------------------------------------------------------------------------

/// The error a single flipped bit at `at` must produce, by region of the layout.
fn expected_after_flip(ring: &Keyring, flipped: &[u8], at: usize) -> CryptoError {
    match at {
        0 => CryptoError::UnsupportedVersion(flipped[0]),
        1 => CryptoError::UnsupportedSuite(flipped[1]),
        KEY_ID_AT..SALT_AT => {
            let id = KeyId::from_bytes(flipped[KEY_ID_AT..SALT_AT].try_into().unwrap());
            if ring.key_ids().contains(&id) {
                CryptoError::CommitmentMismatch
            } else {
                CryptoError::UnknownKeyId(id)
            }
        }
        // Salt and commitment: the recomputed commitment no longer matches.
        SALT_AT..NONCE_AT => CryptoError::CommitmentMismatch,
        // Nonce, ciphertext and tag: only the AEAD can notice.
        _ => CryptoError::AuthenticationFailed,
    }
}

#[test]
fn every_flipped_bit_is_refused_with_the_error_of_its_region() {
    // Given a sealed value
    let original = decode(&seal_a(PLAINTEXT));
    let mut checked = 0;

    for at in 0..original.len() {
        for bit in 0..8 {
            // When one bit of the decoded envelope is flipped
            let mut flipped = original.clone();
            flipped[at] ^= 1 << bit;
            let err = open_err(&RING_A, &ctx(), &encode(&flipped));

            // Then it does not open, and the error names what was hit
            assert_eq!(
                err,
                expected_after_flip(&RING_A, &flipped, at),
                "byte {at}, bit {bit}"
            );
            checked += 1;
        }
    }
    assert_eq!(checked, 8 * (ENVELOPE_OVERHEAD + PLAINTEXT.len()));
}

#[test]
fn every_truncation_of_the_decoded_bytes_is_refused() {
    // Given a sealed value
    let original = decode(&seal_a(PLAINTEXT));

    for len in 0..original.len() {
        // When only a prefix of its bytes is stored
        let err = open_err(&RING_A, &ctx(), &encode(&original[..len]));

        // Then it does not open: too short to be an envelope, or the tag moved
        let expected = if len < ENVELOPE_OVERHEAD {
            CryptoError::Malformed
        } else {
            CryptoError::AuthenticationFailed
        };
        assert_eq!(err, expected, "prefix of {len} bytes");
    }
}

#[test]
fn every_truncation_of_the_text_is_refused() {
    // Given a sealed value
    let stored = seal_a(PLAINTEXT);

    for (end, _) in stored.char_indices() {
        // When only a prefix of its text is stored
        let prefix = &stored[..end];

        // Then it neither opens nor panics, and reading its format does not panic
        open_err(&RING_A, &ctx(), prefix);
        let _ = Keyring::format_of(prefix);
    }
}

#[test]
fn appended_bytes_are_refused() {
    // Given a sealed value with one more byte after the tag
    let mut bytes = decode(&seal_a(PLAINTEXT));
    bytes.push(0);

    // When it is opened
    let err = open_err(&RING_A, &ctx(), &encode(&bytes));

    // Then the tag no longer verifies
    assert_eq!(err, CryptoError::AuthenticationFailed);
}

#[test]
fn padded_base64_is_refused() {
    // Given the body of a sealed value re-encoded with padding
    let bytes = decode(&seal_a(PLAINTEXT));
    let padded = format!(
        "{ENVELOPE_PREFIX}{}",
        base64::engine::general_purpose::URL_SAFE.encode(&bytes)
    );
    assert!(padded.ends_with('='), "the fixture must need padding");

    // When it is opened
    let err = open_err(&RING_A, &ctx(), &padded);

    // Then the strict decoder refuses it as malformed
    assert_eq!(err, CryptoError::Malformed);
}

#[test]
fn standard_alphabet_base64_is_refused() {
    // Given a sealed value whose body uses `-` or `_`, re-encoded with `+` and `/`
    let bytes = std::iter::repeat_with(|| decode(&seal_a(PLAINTEXT)))
        .find(|bytes| encode(bytes).contains(['-', '_']))
        .unwrap();
    let standard = format!(
        "{ENVELOPE_PREFIX}{}",
        base64::engine::general_purpose::STANDARD_NO_PAD.encode(&bytes)
    );
    assert_ne!(standard, encode(&bytes));

    // When it is opened
    let err = open_err(&RING_A, &ctx(), &standard);

    // Then the strict decoder refuses it as malformed
    assert_eq!(err, CryptoError::Malformed);
}

// ---------------------------------------------------------------------------
// Context binding
// ---------------------------------------------------------------------------

#[test]
fn a_value_does_not_open_for_another_user() {
    // Given a value sealed for USER
    let stored = seal_a(PLAINTEXT);

    // When another user's context opens it
    let err = open_err(&RING_A, &KeyContext::new("user-other", PROVIDER), &stored);

    // Then authentication fails
    assert_eq!(err, CryptoError::AuthenticationFailed);
}

#[test]
fn a_value_does_not_open_for_another_provider() {
    // Given a value sealed for PROVIDER
    let stored = seal_a(PLAINTEXT);

    // When the context of another provider opens it
    let err = open_err(&RING_A, &KeyContext::new(USER, "claude"), &stored);

    // Then authentication fails
    assert_eq!(err, CryptoError::AuthenticationFailed);
}

#[test]
fn a_value_does_not_open_with_user_and_provider_swapped() {
    // Given a value sealed for (user "openai", provider "claude")
    let stored = RING_A
        .seal(&KeyContext::new("openai", "claude"), &secret(PLAINTEXT))
        .unwrap();

    // When it is opened with the two values swapped
    let err = open_err(&RING_A, &KeyContext::new("claude", "openai"), &stored);

    // Then authentication fails: each value is bound to its name
    assert_eq!(err, CryptoError::AuthenticationFailed);
}

#[test]
fn context_fields_do_not_run_into_each_other() {
    // Given a value sealed for provider "a" and user "bc"
    let stored = RING_A
        .seal(&KeyContext::new("bc", "a"), &secret(PLAINTEXT))
        .unwrap();

    // When it is opened for provider "ab" and user "c" (same bytes concatenated)
    let err = open_err(&RING_A, &KeyContext::new("c", "ab"), &stored);

    // Then authentication fails: the lengths are part of the context
    assert_eq!(err, CryptoError::AuthenticationFailed);
}

// ---------------------------------------------------------------------------
// Keys: unknown ids and rotation
// ---------------------------------------------------------------------------

#[test]
fn a_value_from_an_unrelated_keyring_names_its_unknown_key_id() {
    // Given a value sealed by ring A
    let stored = seal_a(PLAINTEXT);
    assert_ne!(RING_A.current_key_id(), RING_B.current_key_id());

    // When unrelated ring B opens it
    let err = open_err(&RING_B, &ctx(), &stored);

    // Then the error names A's key id
    assert_eq!(err, CryptoError::UnknownKeyId(RING_A.current_key_id()));
}

struct Rotation {
    old: Keyring,
    rotated: Keyring,
}

static ROTATION: LazyLock<Rotation> = LazyLock::new(|| Rotation {
    old: Keyring::derive(&seed(SEED_OLD), &[], &params()),
    rotated: Keyring::derive(&seed(SEED_NEW), &[seed(SEED_OLD)], &params()),
});

#[test]
fn after_rotation_old_values_still_open_and_need_rewrap() {
    // Given a value sealed under the old seed
    let Rotation { old, rotated } = &*ROTATION;
    let stored = old.seal(&ctx(), &secret(PLAINTEXT)).unwrap();

    // When the rotated ring (new seed current, old seed previous) opens it
    let opened = rotated.open(&ctx(), &stored).unwrap();

    // Then it opens, is reported under the old key id and asks to be sealed again
    assert_eq!(opened.secret.expose_secret(), PLAINTEXT);
    assert_eq!(opened.format, StoredFormat::Akv1(old.current_key_id()));
    assert!(rotated.needs_rewrap(opened.format));
    assert_eq!(
        rotated.key_ids(),
        vec![rotated.current_key_id(), old.current_key_id()]
    );
}

#[test]
fn after_rotation_new_values_are_sealed_under_the_new_key() {
    // Given the rotated ring
    let Rotation { old, rotated } = &*ROTATION;
    assert_ne!(rotated.current_key_id(), old.current_key_id());

    // When it seals a value
    let stored = rotated.seal(&ctx(), &secret(PLAINTEXT)).unwrap();

    // Then the value is under the new key, opens and needs no rewrap
    let opened = rotated.open(&ctx(), &stored).unwrap();
    assert_eq!(opened.secret.expose_secret(), PLAINTEXT);
    assert_eq!(opened.format, StoredFormat::Akv1(rotated.current_key_id()));
    assert!(!rotated.needs_rewrap(opened.format));
}

#[test]
fn after_rotation_new_values_do_not_open_with_the_old_ring() {
    // Given a value sealed by the rotated ring
    let Rotation { old, rotated } = &*ROTATION;
    let stored = rotated.seal(&ctx(), &secret(PLAINTEXT)).unwrap();

    // When the old ring alone opens it
    let err = open_err(old, &ctx(), &stored);

    // Then the new key id is unknown to it
    assert_eq!(err, CryptoError::UnknownKeyId(rotated.current_key_id()));
}

// ---------------------------------------------------------------------------
// Spec conformance: an independent implementation of DESIGN.md
// ---------------------------------------------------------------------------

/// The envelope of DESIGN.md, written from the spec with the crates directly.
mod spec {
    use super::*;

    pub const INFO_KEY: &[u8] = b"apikeys/v1/key";
    pub const INFO_COMMIT: &[u8] = b"apikeys/v1/commit";

    /// Master key = PBKDF2-HMAC-SHA256(seed, deployment salt, iterations).
    pub fn master(seed: &str, salt: &str, iterations: u32) -> [u8; 32] {
        let mut out = [0u8; 32];
        pbkdf2::pbkdf2_hmac::<Sha256>(seed.as_bytes(), salt.as_bytes(), iterations, &mut out);
        out
    }

    /// Key id = first 4 bytes of HMAC-SHA256(master, "apikeys key id").
    pub fn key_id(master: &[u8; 32]) -> [u8; 4] {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(master).unwrap();
        mac.update(b"apikeys key id");
        mac.finalize().into_bytes()[..4].try_into().unwrap()
    }

    /// (record key, commitment) from PRK = HKDF-Extract(salt, master).
    pub fn record_keys(master: &[u8; 32], salt: &[u8], header: &[u8]) -> ([u8; 32], [u8; 32]) {
        let prk = Hkdf::<Sha256>::new(Some(salt), master);
        let mut key = [0u8; 32];
        let mut commitment = [0u8; 32];
        let info: Vec<u8> = [INFO_KEY, header].concat();
        prk.expand(&info, &mut key).unwrap();
        prk.expand(INFO_COMMIT, &mut commitment).unwrap();
        (key, commitment)
    }

    /// u16 BE count, then (name, value) pairs sorted by name, each a u16 BE
    /// length and UTF-8 bytes.
    pub fn canonical_context(user_id: &str, provider: &str) -> Vec<u8> {
        let mut pairs = [
            ("user_id", user_id),
            ("purpose", "provider-api-key"),
            ("provider", provider),
        ];
        pairs.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
        let mut out = (pairs.len() as u16).to_be_bytes().to_vec();
        for (name, value) in pairs {
            for s in [name, value] {
                out.extend_from_slice(&(s.len() as u16).to_be_bytes());
                out.extend_from_slice(s.as_bytes());
            }
        }
        out
    }

    /// AAD = the 82 preamble bytes + the canonical context.
    pub fn aad(preamble: &[u8], user_id: &str, provider: &str) -> Vec<u8> {
        assert_eq!(preamble.len(), PREAMBLE_LEN);
        [preamble, &canonical_context(user_id, provider)].concat()
    }

    /// version | suite | key id | salt | commitment | nonce, with the commitment
    /// given explicitly so a test can forge it.
    pub fn preamble(
        key_id: [u8; 4],
        salt: &[u8; 32],
        commitment: &[u8; 32],
        nonce: &[u8; 12],
    ) -> Vec<u8> {
        let mut out = vec![1u8, 1u8];
        out.extend_from_slice(&key_id);
        out.extend_from_slice(salt);
        out.extend_from_slice(commitment);
        out.extend_from_slice(nonce);
        out
    }

    pub fn aead_seal(key: &[u8; 32], nonce: &[u8], aad: &[u8], plaintext: &[u8]) -> Vec<u8> {
        Aes256Gcm::new_from_slice(key)
            .unwrap()
            .encrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: plaintext,
                    aad,
                },
            )
            .unwrap()
    }

    pub fn aead_open(key: &[u8; 32], nonce: &[u8], aad: &[u8], sealed: &[u8]) -> Option<Vec<u8>> {
        Aes256Gcm::new_from_slice(key)
            .unwrap()
            .decrypt(Nonce::from_slice(nonce), Payload { msg: sealed, aad })
            .ok()
    }

    /// A complete envelope with a chosen salt and nonce.
    pub fn seal(
        master: &[u8; 32],
        ctx: (&str, &str),
        salt: &[u8; 32],
        nonce: &[u8; 12],
        plaintext: &[u8],
    ) -> String {
        let id = key_id(master);
        let header = [&[1u8, 1u8][..], &id].concat();
        let (key, commitment) = record_keys(master, salt, &header);
        let mut bytes = preamble(id, salt, &commitment, nonce);
        let aad = aad(&bytes, ctx.0, ctx.1);
        bytes.extend(aead_seal(&key, nonce, &aad, plaintext));
        encode(&bytes)
    }

    /// Opens an envelope, checking the commitment then the AEAD.
    pub fn open(master: &[u8; 32], ctx: (&str, &str), stored: &str) -> Option<Vec<u8>> {
        let bytes = decode(stored);
        if bytes.len() < ENVELOPE_OVERHEAD || bytes[..2] != [1, 1] {
            return None;
        }
        if bytes[KEY_ID_AT..SALT_AT] != key_id(master) {
            return None;
        }
        let (key, commitment) = record_keys(master, &bytes[SALT_AT..COMMIT_AT], &bytes[..SALT_AT]);
        if bytes[COMMIT_AT..NONCE_AT] != commitment {
            return None;
        }
        let aad = aad(&bytes[..PREAMBLE_LEN], ctx.0, ctx.1);
        aead_open(
            &key,
            &bytes[NONCE_AT..PREAMBLE_LEN],
            &aad,
            &bytes[PREAMBLE_LEN..],
        )
    }
}

static SPEC_MASTER_A: LazyLock<[u8; 32]> =
    LazyLock::new(|| spec::master(SEED_A, KDF_SALT, MIN_KDF_ITERATIONS));

const SPEC_SALT: [u8; 32] = [0x5a; 32];
const SPEC_NONCE: [u8; 12] = [0x0c; 12];

#[test]
fn spec_canonical_context_names_are_in_byte_order() {
    // Given the spec's context for a user and provider
    let encoded = spec::canonical_context("u", "p");

    // Then the pairs come as provider, purpose, user_id, with the fixed purpose
    let mut expected = vec![0, 3];
    for s in [
        "provider",
        "p",
        "purpose",
        PURPOSE_PROVIDER_API_KEY,
        "user_id",
        "u",
    ] {
        expected.extend_from_slice(&(s.len() as u16).to_be_bytes());
        expected.extend_from_slice(s.as_bytes());
    }
    assert_eq!(encoded, expected);
}

#[test]
fn keyring_key_id_matches_the_spec() {
    // Given the master key computed from the spec
    // When the keyring is derived from the same seed and parameters
    // Then its key id is the first 4 bytes of HMAC-SHA256(master, "apikeys key id")
    assert_eq!(
        RING_A.current_key_id(),
        KeyId::from_bytes(spec::key_id(&SPEC_MASTER_A))
    );
}

#[test]
fn an_envelope_built_from_the_spec_opens_with_the_library() {
    // Given an envelope built by the independent implementation
    let stored = spec::seal(
        &SPEC_MASTER_A,
        (USER, PROVIDER),
        &SPEC_SALT,
        &SPEC_NONCE,
        PLAINTEXT.as_bytes(),
    );

    // When the library opens it
    let opened = RING_A.open(&ctx(), &stored).unwrap();

    // Then it gives back the plaintext under the current key
    assert_eq!(opened.secret.expose_secret(), PLAINTEXT);
    assert_eq!(opened.format, StoredFormat::Akv1(RING_A.current_key_id()));
}

#[test]
fn an_envelope_sealed_by_the_library_opens_with_the_spec() {
    // Given an envelope sealed by the library
    let stored = seal_a(PLAINTEXT);

    // When the independent implementation opens it
    let opened = spec::open(&SPEC_MASTER_A, (USER, PROVIDER), &stored);

    // Then it gives back the plaintext (and only in the right context)
    assert_eq!(opened.as_deref(), Some(PLAINTEXT.as_bytes()));
    assert_eq!(
        spec::open(&SPEC_MASTER_A, ("someone", PROVIDER), &stored),
        None
    );
}

#[test]
fn an_envelope_with_a_wrong_commitment_is_refused_even_with_a_valid_tag() {
    // Given an envelope whose commitment is wrong but whose AEAD tag was computed
    // over exactly that header with the real record key
    let id = spec::key_id(&SPEC_MASTER_A);
    let header = [&[1u8, 1u8][..], &id].concat();
    let (key, commitment) = spec::record_keys(&SPEC_MASTER_A, &SPEC_SALT, &header);
    let forged_commitment = commitment.map(|b| !b);
    let mut forged = spec::preamble(id, &SPEC_SALT, &forged_commitment, &SPEC_NONCE);
    let aad = spec::aad(&forged, USER, PROVIDER);
    let sealed = spec::aead_seal(&key, &SPEC_NONCE, &aad, PLAINTEXT.as_bytes());
    forged.extend_from_slice(&sealed);
    // (the AEAD alone accepts it)
    assert_eq!(
        spec::aead_open(&key, &SPEC_NONCE, &aad, &sealed).as_deref(),
        Some(PLAINTEXT.as_bytes())
    );

    // When the library opens it
    let err = open_err(&RING_A, &ctx(), &encode(&forged));

    // Then the commitment check refuses it
    assert_eq!(err, CryptoError::CommitmentMismatch);
}

// ---------------------------------------------------------------------------
// Nothing secret is ever printed
// ---------------------------------------------------------------------------

#[test]
fn debug_output_never_shows_seed_master_key_or_plaintext() {
    // Given a keyring, an opened value and a seed
    let stored = seal_a(PLAINTEXT);
    let opened: Opened = RING_A.open(&ctx(), &stored).unwrap();
    let shown = [
        format!("{:?}", *RING_A),
        format!("{opened:?}"),
        format!("{:?}", opened.secret),
        format!("{:?}", seed(SEED_A)),
        format!("{:?}", Seed::legacy(SEED_A.as_bytes().to_vec())),
    ];
    let master_hex = hex::encode(*SPEC_MASTER_A);

    // Then none of their Debug forms shows the plaintext, a seed or the master key
    for text in &shown {
        assert!(!text.contains(PLAINTEXT), "{text} shows the plaintext");
        assert!(!text.contains(SEED_A), "{text} shows the seed");
        assert!(!text.contains(&master_hex), "{text} shows the master key");
    }
    // And the keyring still names its (public) key id
    assert!(shown[0].contains(&RING_A.current_key_id().to_string()));
}

#[test]
fn seed_shorter_than_the_minimum_is_refused() {
    // Given a seed one byte short of the minimum
    let short = vec![b'x'; MIN_SEED_LEN - 1];
    assert_eq!(short.len(), 31);

    // When it is made a keyring seed
    let err = Seed::new(short).unwrap_err();

    // Then it is refused, and one more byte is enough
    assert_eq!(err, CryptoError::SeedTooShort { min: 32 });
    assert!(Seed::new(vec![b'x'; MIN_SEED_LEN]).is_ok());
}

#[test]
fn kdf_iterations_below_the_floor_are_refused() {
    // Given an iteration count one below the floor
    // When KDF parameters are made with it
    let err = KdfParams::new(KDF_SALT, MIN_KDF_ITERATIONS - 1).unwrap_err();

    // Then they are refused, and the floor itself is accepted
    assert_eq!(
        err,
        CryptoError::TooFewIterations {
            min: MIN_KDF_ITERATIONS
        }
    );
    assert_eq!(
        KdfParams::new(KDF_SALT, MIN_KDF_ITERATIONS).map(|p| p.iterations()),
        Ok(MIN_KDF_ITERATIONS)
    );
}
