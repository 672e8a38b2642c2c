//! The two RealMultiLLM formats (DESIGN.md "Legacy formats"), against the vectors
//! produced by Node.js crypto. `tests/data/legacy-realmultillm.json` is a
//! byte-identical copy of `../shared/vectors/legacy-realmultillm.json`.

use std::sync::LazyLock;

use apikeys::crypto::{
    CryptoError, KdfParams, KeyContext, Keyring, LegacyFormat, LegacyPolicy, Seed, StoredFormat,
    MIN_KDF_ITERATIONS,
};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

const VECTORS_JSON: &str = include_str!("data/legacy-realmultillm.json");

#[derive(Deserialize)]
struct VectorFile {
    #[serde(rename = "pbkdf2-json")]
    pbkdf2_json: Vec<Vector>,
    #[serde(rename = "sha256-v2gcm")]
    sha256_v2gcm: Vec<Vector>,
}

#[derive(Deserialize)]
struct Vector {
    id: String,
    seed: String,
    plaintext: String,
    stored: String,
}

static VECTORS: LazyLock<VectorFile> =
    LazyLock::new(|| serde_json::from_str(VECTORS_JSON).expect("the vector file parses"));

/// Every vector with the format it is written in.
fn all_vectors() -> impl Iterator<Item = (LegacyFormat, &'static Vector)> {
    let v = &*VECTORS;
    v.pbkdf2_json
        .iter()
        .map(|t| (LegacyFormat::Pbkdf2Json, t))
        .chain(
            v.sha256_v2gcm
                .iter()
                .map(|t| (LegacyFormat::Sha256V2Gcm, t)),
        )
}

/// Legacy values carry no associated data: any context must do.
fn ctx() -> KeyContext<'static> {
    KeyContext::new("any-user", "any-provider")
}

fn params() -> KdfParams {
    KdfParams::new("legacy-test-salt", MIN_KDF_ITERATIONS).unwrap()
}

/// A keyring whose current key has nothing to do with the legacy values.
fn base_ring() -> Keyring {
    let current = Seed::new(b"current akv1 seed, not a legacy one -- 0123".to_vec()).unwrap();
    Keyring::derive(&current, &[], &params())
}

fn legacy_seed(text: &str) -> Seed {
    Seed::legacy(text.as_bytes().to_vec())
}

fn ring_with_legacy(seeds: &[&str], policy: LegacyPolicy) -> Keyring {
    let seeds: Vec<Seed> = seeds.iter().map(|s| legacy_seed(s)).collect();
    base_ring().with_legacy(&seeds, policy)
}

/// For each vector, in `all_vectors` order, a ring with only that vector's seed and
/// legacy reads allowed. Each legacy seed costs 100,000 PBKDF2 iterations, so these
/// are derived once, in parallel, and shared by the tests that do not count reads.
static RING_PER_VECTOR: LazyLock<Vec<Keyring>> = LazyLock::new(|| {
    std::thread::scope(|s| {
        let rings: Vec<_> = all_vectors()
            .map(|(_, v)| s.spawn(move || ring_with_legacy(&[&v.seed], LegacyPolicy::Allow)))
            .collect();
        rings.into_iter().map(|r| r.join().unwrap()).collect()
    })
});

#[test]
fn the_vector_file_holds_six_pbkdf2_and_four_v2gcm_vectors() {
    // Given the copied vector file
    // Then it holds every vector, with distinct ids
    assert_eq!(VECTORS.pbkdf2_json.len(), 6);
    assert_eq!(VECTORS.sha256_v2gcm.len(), 4);
    let mut ids: Vec<&str> = all_vectors().map(|(_, v)| v.id.as_str()).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 10);
}

#[test]
fn every_vector_is_recognised_by_its_shape() {
    for (format, v) in all_vectors() {
        // Given a legacy value
        // When its format is read without opening it
        // Then the right legacy format is named
        assert_eq!(
            Keyring::format_of(&v.stored),
            Ok(StoredFormat::Legacy(format)),
            "{}",
            v.id
        );
    }
}

#[test]
fn every_vector_opens_to_its_plaintext_with_its_seed() {
    for ((format, v), ring) in all_vectors().zip(RING_PER_VECTOR.iter()) {
        // Given a keyring with the vector's seed and legacy reads allowed

        // When the stored value is opened
        let opened = ring
            .open(&ctx(), &v.stored)
            .unwrap_or_else(|e| panic!("{}: {e}", v.id));

        // Then it gives the plaintext, names the legacy format and asks for a rewrap
        assert_eq!(opened.secret.expose_secret(), v.plaintext, "{}", v.id);
        assert_eq!(opened.format, StoredFormat::Legacy(format), "{}", v.id);
        assert!(ring.needs_rewrap(opened.format), "{}", v.id);
    }
}

#[test]
fn a_rewrapped_vector_opens_as_akv1_and_needs_no_more_rewrap() {
    // Given a legacy value opened with its seed
    let v = &VECTORS.pbkdf2_json[0];
    let ring = &RING_PER_VECTOR[0];
    let opened = ring.open(&ctx(), &v.stored).unwrap();

    // When it is sealed again under the current key
    let rewrapped = ring.seal(&ctx(), &opened.secret).unwrap();

    // Then it opens as akv1 to the same plaintext and needs no further rewrap
    let again = ring.open(&ctx(), &rewrapped).unwrap();
    assert_eq!(again.secret.expose_secret(), v.plaintext);
    assert_eq!(again.format, StoredFormat::Akv1(ring.current_key_id()));
    assert!(!ring.needs_rewrap(again.format));
}

#[test]
fn every_vector_is_refused_when_the_policy_forbids_legacy() {
    // Given a keyring that holds the seeds of one vector of each format, but a
    // policy that forbids legacy reads
    let ring = ring_with_legacy(
        &[&VECTORS.pbkdf2_json[0].seed, &VECTORS.sha256_v2gcm[0].seed],
        LegacyPolicy::Forbid,
    );

    for (format, v) in all_vectors() {
        // When a legacy value is opened
        let err = ring.open(&ctx(), &v.stored).unwrap_err();

        // Then it is refused by policy, naming its format, and nothing is counted
        assert_eq!(err, CryptoError::LegacyForbidden(format), "{}", v.id);
    }
    assert_eq!(ring.legacy_reads(), 0);
}

#[test]
fn the_default_policy_forbids_legacy() {
    // Given a keyring built without any legacy configuration
    let ring = base_ring();

    for (format, v) in all_vectors() {
        // When a legacy value is opened
        // Then it is refused by policy
        assert_eq!(
            ring.open(&ctx(), &v.stored).unwrap_err(),
            CryptoError::LegacyForbidden(format),
            "{}",
            v.id
        );
    }
}

#[test]
fn every_vector_is_refused_when_no_legacy_seed_is_configured() {
    // Given legacy reads allowed but no legacy seed
    let ring = base_ring().with_legacy(&[], LegacyPolicy::Allow);

    for (format, v) in all_vectors() {
        // When a legacy value is opened
        let err = ring.open(&ctx(), &v.stored).unwrap_err();

        // Then the missing key is named, with the format
        assert_eq!(err, CryptoError::LegacyKeyUnavailable(format), "{}", v.id);
    }
}

#[test]
fn every_vector_is_refused_with_a_wrong_legacy_seed() {
    // Given legacy reads allowed with a seed that wrote none of the vectors
    let ring = ring_with_legacy(&["not the seed of any vector"], LegacyPolicy::Allow);

    for (_, v) in all_vectors() {
        // When a legacy value is opened
        let err = ring.open(&ctx(), &v.stored).unwrap_err();

        // Then authentication fails, and the error shows neither plaintext nor seed
        assert_eq!(err, CryptoError::AuthenticationFailed, "{}", v.id);
        for shown in [err.to_string(), format!("{err:?}")] {
            if !v.plaintext.is_empty() {
                assert!(!shown.contains(&v.plaintext), "{}", v.id);
            }
            assert!(!shown.contains(&v.seed), "{}", v.id);
        }
    }
    assert_eq!(ring.legacy_reads(), 0);
}

#[test]
fn a_keyring_with_several_legacy_seeds_finds_the_right_one() {
    // Given a keyring holding a wrong seed first, then the seeds of two vectors of
    // each format (each legacy seed costs 100,000 PBKDF2 iterations, so not all ten)
    let v = &*VECTORS;
    let chosen = [
        &v.sha256_v2gcm[3],
        &v.pbkdf2_json[2],
        &v.sha256_v2gcm[0],
        &v.pbkdf2_json[1],
    ];
    let mut seeds = vec!["a wrong seed tried first"];
    seeds.extend(chosen.iter().map(|t| t.seed.as_str()));
    let ring = ring_with_legacy(&seeds, LegacyPolicy::Allow);

    for (format, t) in all_vectors() {
        // When each legacy value is opened
        let result = ring.open(&ctx(), &t.stored);

        // Then a value whose seed is held opens with it; any other fails to authenticate
        if chosen.iter().any(|c| c.id == t.id) {
            let opened = result.unwrap_or_else(|e| panic!("{}: {e}", t.id));
            assert_eq!(opened.secret.expose_secret(), t.plaintext, "{}", t.id);
            assert_eq!(opened.format, StoredFormat::Legacy(format), "{}", t.id);
        } else {
            assert_eq!(
                result.unwrap_err(),
                CryptoError::AuthenticationFailed,
                "{}",
                t.id
            );
        }
    }
    assert_eq!(ring.legacy_reads(), chosen.len() as u64);
}

#[test]
fn legacy_reads_count_only_successful_legacy_opens() {
    // Given a keyring with one vector's seed, legacy reads allowed
    let v = &VECTORS.sha256_v2gcm[0];
    let ring = ring_with_legacy(&[&v.seed], LegacyPolicy::Allow);
    assert_eq!(ring.legacy_reads(), 0);

    // When the value is opened three times, a value of another seed fails once,
    // and an akv1 value is opened once
    for _ in 0..3 {
        ring.open(&ctx(), &v.stored).unwrap();
    }
    let other = &VECTORS.sha256_v2gcm[1];
    assert!(ring.open(&ctx(), &other.stored).is_err());
    let sealed = ring
        .seal(&ctx(), &SecretString::from("sk-akv1".to_owned()))
        .unwrap();
    ring.open(&ctx(), &sealed).unwrap();

    // Then exactly the three legacy opens are counted
    assert_eq!(ring.legacy_reads(), 3);
}

#[test]
fn a_tampered_vector_is_refused() {
    // Given a v2:gcm value with one character of its base64 changed
    let v = &VECTORS.sha256_v2gcm[0];
    let ring = &RING_PER_VECTOR[VECTORS.pbkdf2_json.len()];
    let mut chars: Vec<char> = v.stored.chars().collect();
    let at = "v2:gcm:".len() + 20;
    chars[at] = if chars[at] == 'A' { 'B' } else { 'A' };
    let tampered: String = chars.into_iter().collect();

    // When it is opened
    let err = ring.open(&ctx(), &tampered).unwrap_err();

    // Then authentication fails
    assert_eq!(err, CryptoError::AuthenticationFailed);
}
