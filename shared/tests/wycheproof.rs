//! Known-answer tests of the primitives the envelope is built from, with the
//! Wycheproof vectors: AES-256-GCM (96-bit nonce, 128-bit tag) and HKDF-SHA256.

use apikeys::crypto::primitives::{aes256gcm_open, aes256gcm_seal, hkdf_sha256};
use wycheproof::TestResult;

/// The only AES-GCM shape the envelope uses.
const KEY_BITS: usize = 256;
const NONCE_BITS: usize = 96;
const TAG_BITS: usize = 128;

fn aes_gcm_groups() -> Vec<wycheproof::aead::TestGroup> {
    wycheproof::aead::TestSet::load(wycheproof::aead::TestName::AesGcm)
        .expect("the AES-GCM vectors load")
        .test_groups
}

fn key_of(test: &wycheproof::aead::Test) -> [u8; 32] {
    test.key.as_slice().try_into().expect("a 256-bit key")
}

#[test]
fn aes256gcm_seal_matches_every_valid_wycheproof_vector() {
    let mut valid = 0;
    for group in aes_gcm_groups() {
        if (group.key_size, group.nonce_size, group.tag_size) != (KEY_BITS, NONCE_BITS, TAG_BITS) {
            continue;
        }
        for test in group.tests.iter().filter(|t| !t.result.must_fail()) {
            // Given a valid vector's key, nonce, aad and plaintext
            let mut buffer = test.pt.to_vec();

            // When the primitive seals it
            let tag = aes256gcm_seal(&key_of(test), &test.nonce, &test.aad, &mut buffer)
                .unwrap_or_else(|e| panic!("tcId {}: {e}", test.tc_id));

            // Then ciphertext and tag are the expected ones
            assert_eq!(buffer, test.ct.as_slice(), "tcId {} ciphertext", test.tc_id);
            assert_eq!(
                tag.as_slice(),
                test.tag.as_slice(),
                "tcId {} tag",
                test.tc_id
            );
            valid += 1;
        }
    }
    assert!(valid > 0, "no valid AES-256-GCM vector was run");
}

#[test]
fn aes256gcm_open_agrees_with_every_wycheproof_vector() {
    let (mut valid, mut invalid) = (0, 0);
    for group in aes_gcm_groups() {
        if (group.key_size, group.nonce_size, group.tag_size) != (KEY_BITS, NONCE_BITS, TAG_BITS) {
            continue;
        }
        for test in &group.tests {
            // Given a vector's key, nonce, aad, ciphertext and tag
            let mut buffer = test.ct.to_vec();

            // When the primitive opens it
            let result = aes256gcm_open(
                &key_of(test),
                &test.nonce,
                &test.aad,
                &mut buffer,
                &test.tag,
            );

            // Then valid vectors give the plaintext and invalid ones are refused
            match test.result {
                TestResult::Invalid => {
                    assert!(
                        result.is_err(),
                        "tcId {} ({}) opened",
                        test.tc_id,
                        test.comment
                    );
                    invalid += 1;
                }
                TestResult::Valid | TestResult::Acceptable => {
                    result.unwrap_or_else(|e| panic!("tcId {}: {e}", test.tc_id));
                    assert_eq!(buffer, test.pt.as_slice(), "tcId {} plaintext", test.tc_id);
                    valid += 1;
                }
            }
        }
    }
    assert!(valid > 0, "no valid AES-256-GCM vector was run");
    assert!(invalid > 0, "no invalid AES-256-GCM vector was run");
}

#[test]
fn aes256gcm_refuses_every_other_nonce_size() {
    let mut refused = 0;
    for group in aes_gcm_groups() {
        if group.key_size != KEY_BITS
            || group.tag_size != TAG_BITS
            || group.nonce_size == NONCE_BITS
        {
            continue;
        }
        for test in &group.tests {
            // Given a vector with a nonce that is not 96 bits
            let key = key_of(test);

            // When the primitives are used with it
            let mut buffer = test.pt.to_vec();
            let sealed = aes256gcm_seal(&key, &test.nonce, &test.aad, &mut buffer);
            let mut buffer = test.ct.to_vec();
            let opened = aes256gcm_open(&key, &test.nonce, &test.aad, &mut buffer, &test.tag);

            // Then both refuse rather than use some other nonce handling
            assert!(sealed.is_err(), "tcId {} sealed", test.tc_id);
            assert!(opened.is_err(), "tcId {} opened", test.tc_id);
            refused += 1;
        }
    }
    assert!(
        refused > 0,
        "no AES-256-GCM vector with another nonce size was run"
    );
}

#[test]
fn hkdf_sha256_agrees_with_every_wycheproof_vector() {
    let set = wycheproof::hkdf::TestSet::load(wycheproof::hkdf::TestName::HkdfSha256)
        .expect("the HKDF-SHA256 vectors load");
    let (mut valid, mut invalid) = (0, 0);
    for test in set.test_groups.iter().flat_map(|g| &g.tests) {
        // Given a vector's ikm, salt, info and output size
        let mut okm = vec![0u8; test.size];

        // When the primitive derives that many bytes
        let result = hkdf_sha256(&test.salt, &test.ikm, &test.info, &mut okm);

        // Then valid vectors give the expected output and invalid ones are refused
        if test.result.must_fail() {
            assert!(
                result.is_err(),
                "tcId {} ({}) derived",
                test.tc_id,
                test.comment
            );
            invalid += 1;
        } else {
            result.unwrap_or_else(|e| panic!("tcId {}: {e}", test.tc_id));
            assert_eq!(okm, test.okm.as_slice(), "tcId {} okm", test.tc_id);
            valid += 1;
        }
    }
    assert!(valid > 0, "no valid HKDF-SHA256 vector was run");
    assert!(invalid > 0, "no invalid HKDF-SHA256 vector was run");
}
