//! The `akv1` envelope: `akv1.` + base64url (no padding) of
//! `version | suite | key id | salt | commitment | nonce | ciphertext+tag`.

use base64_simd::{AsOut, URL_SAFE_NO_PAD};
use hkdf::Hkdf;
use sha2::Sha256;
use subtle::ConstantTimeEq;
use zeroize::{Zeroize, Zeroizing};

use super::aead::{aes256gcm_open, aes256gcm_seal, NONCE_LEN, TAG_LEN};
use super::context::KeyContext;
use super::error::CryptoError;
use super::format::ENVELOPE_PREFIX;
use super::key_id::KeyId;
use super::master::MasterKey;

const VERSION: u8 = 1;
/// AES-256-GCM, HKDF-SHA256 per-record key, 32-byte key commitment.
const SUITE_AES256GCM_HKDF_COMMIT: u8 = 1;

const HEADER_LEN: usize = 6;
const SALT_LEN: usize = 32;
const COMMIT_LEN: usize = 32;
const SALT_AT: usize = HEADER_LEN;
const COMMIT_AT: usize = SALT_AT + SALT_LEN;
const NONCE_AT: usize = COMMIT_AT + COMMIT_LEN;
/// Everything before the ciphertext; all of it is authenticated.
const PREAMBLE_LEN: usize = NONCE_AT + NONCE_LEN;

/// Bytes an envelope adds to the plaintext before base64.
pub const ENVELOPE_OVERHEAD: usize = PREAMBLE_LEN + TAG_LEN;

/// Longest envelope text the decoder looks at; stored keys are far shorter.
const MAX_ENCODED_LEN: usize = 64 * 1024;

const INFO_RECORD_KEY: &[u8] = b"apikeys/v1/key";
const INFO_COMMITMENT: &[u8] = b"apikeys/v1/commit";

/// The per-record key and its commitment, both from one HKDF PRK.
struct RecordKeys {
    key: Zeroizing<[u8; 32]>,
    commitment: [u8; COMMIT_LEN],
}

impl RecordKeys {
    fn derive(master: &MasterKey, salt: &[u8], header: &[u8]) -> Self {
        let hk = Hkdf::<Sha256>::new(Some(salt), master.expose());
        let mut key = Zeroizing::new([0u8; 32]);
        let mut commitment = [0u8; COMMIT_LEN];
        // 32 bytes is far below HKDF-SHA256's 8,160-byte limit: these cannot fail.
        hk.expand_multi_info(&[INFO_RECORD_KEY, header], key.as_mut())
            .expect("32-byte HKDF output");
        hk.expand(INFO_COMMITMENT, &mut commitment)
            .expect("32-byte HKDF output");
        Self { key, commitment }
    }
}

/// Envelopes of stored keys are a few hundred bytes: their binary form and the
/// associated data are built in a buffer on the stack up to this size, on the heap
/// beyond it.
const SCRATCH_LEN: usize = 512;

/// Runs `f` over a zeroed buffer of `len` bytes, on the stack when it fits.
fn with_scratch<R>(len: usize, f: impl FnOnce(&mut [u8]) -> R) -> R {
    if len <= SCRATCH_LEN {
        f(&mut [0u8; SCRATCH_LEN][..len])
    } else {
        f(&mut vec![0u8; len])
    }
}

/// Runs `f` over the associated data: the preamble, then the canonical context.
fn with_associated_data<R>(
    preamble: &[u8],
    ctx: &KeyContext<'_>,
    f: impl FnOnce(&[u8]) -> Result<R, CryptoError>,
) -> Result<R, CryptoError> {
    let len = preamble.len() + ctx.canonical_len()?;
    with_scratch(len, |aad| {
        aad[..preamble.len()].copy_from_slice(preamble);
        ctx.write_canonical_to(&mut aad[preamble.len()..]);
        f(aad)
    })
}

/// Constant-time equality of two 32-byte strings: eight bytes at a time, then one
/// constant-time comparison of the difference.
fn ct_eq_32(a: &[u8; 32], b: &[u8]) -> bool {
    let Ok(b) = <&[u8; 32]>::try_from(b) else {
        return false;
    };
    let word = |x: &[u8; 32], i: usize| {
        let mut w = [0u8; 8];
        w.copy_from_slice(&x[i * 8..i * 8 + 8]);
        u64::from_ne_bytes(w)
    };
    let diff = (0..4).fold(0u64, |acc, i| acc | (word(a, i) ^ word(b, i)));
    bool::from(diff.ct_eq(&0))
}

/// Seals `plaintext` for `ctx` under `master`.
pub(crate) fn seal(
    master: &MasterKey,
    ctx: &KeyContext<'_>,
    plaintext: &[u8],
) -> Result<String, CryptoError> {
    // The thread's CSPRNG (ChaCha12, seeded and periodically reseeded from the OS):
    // a system call per seal would cost more than the whole cipher.
    let mut random = [0u8; SALT_LEN + NONCE_LEN];
    rand::RngCore::fill_bytes(&mut rand::rng(), &mut random);
    let (salt, nonce) = random.split_at(SALT_LEN);

    let len = ENVELOPE_OVERHEAD + plaintext.len();
    with_scratch(len, |buf| {
        let (preamble, body) = buf.split_at_mut(PREAMBLE_LEN);
        preamble[0] = VERSION;
        preamble[1] = SUITE_AES256GCM_HKDF_COMMIT;
        preamble[2..HEADER_LEN].copy_from_slice(&master.id().to_bytes());
        let keys = RecordKeys::derive(master, salt, &preamble[..HEADER_LEN]);
        preamble[SALT_AT..COMMIT_AT].copy_from_slice(salt);
        preamble[COMMIT_AT..NONCE_AT].copy_from_slice(&keys.commitment);
        preamble[NONCE_AT..].copy_from_slice(nonce);

        let (sealed, tag_out) = body.split_at_mut(plaintext.len());
        sealed.copy_from_slice(plaintext);
        let tag = with_associated_data(preamble, ctx, |aad| {
            aes256gcm_seal(&keys.key, nonce, aad, sealed)
        })
        .inspect_err(|_| sealed.zeroize())?;
        tag_out.copy_from_slice(&tag);

        let mut text =
            String::with_capacity(ENVELOPE_PREFIX.len() + URL_SAFE_NO_PAD.encoded_length(len));
        text.push_str(ENVELOPE_PREFIX);
        URL_SAFE_NO_PAD.encode_append(&*buf, &mut text);
        Ok(text)
    })
}

/// Reads the key id of an envelope without opening it.
pub(crate) fn key_id_of(stored: &str) -> Result<KeyId, CryptoError> {
    with_decoded(stored, |bytes| {
        Ok(KeyId::from_bytes([bytes[2], bytes[3], bytes[4], bytes[5]]))
    })
}

/// Strictly decodes the envelope text, checks version, suite and lengths, and
/// runs `f` over the bytes (public: the ciphertext, never the plaintext).
fn with_decoded<R>(
    stored: &str,
    f: impl FnOnce(&[u8]) -> Result<R, CryptoError>,
) -> Result<R, CryptoError> {
    let body = stored
        .strip_prefix(ENVELOPE_PREFIX)
        .ok_or(CryptoError::Malformed)?;
    if body.len() > MAX_ENCODED_LEN {
        return Err(CryptoError::Malformed);
    }
    // The exact length first (it refuses impossible lengths): the decoder needs
    // that much room.
    let len = URL_SAFE_NO_PAD
        .decoded_length(body.as_bytes())
        .map_err(|_| CryptoError::Malformed)?;
    with_scratch(len, |buf| {
        let bytes = URL_SAFE_NO_PAD
            .decode(body.as_bytes(), buf.as_out())
            .map_err(|_| CryptoError::Malformed)?;
        let bytes = &*bytes;
        match bytes.first() {
            None => return Err(CryptoError::Malformed),
            Some(&VERSION) => {}
            Some(&v) => return Err(CryptoError::UnsupportedVersion(v)),
        }
        match bytes.get(1) {
            None => return Err(CryptoError::Malformed),
            Some(&SUITE_AES256GCM_HKDF_COMMIT) => {}
            Some(&s) => return Err(CryptoError::UnsupportedSuite(s)),
        }
        if bytes.len() < ENVELOPE_OVERHEAD {
            return Err(CryptoError::Malformed);
        }
        f(bytes)
    })
}

/// Opens an envelope for `ctx`, finding the master key by id through `find`.
///
/// The plaintext is decrypted in a buffer of its exact size (length equal to
/// capacity), so that it can become a `SecretString` without another copy.
pub(crate) fn open<'k>(
    find: impl Fn(KeyId) -> Option<&'k MasterKey>,
    ctx: &KeyContext<'_>,
    stored: &str,
) -> Result<(Zeroizing<Vec<u8>>, KeyId), CryptoError> {
    with_decoded(stored, |bytes| {
        let key_id = KeyId::from_bytes([bytes[2], bytes[3], bytes[4], bytes[5]]);
        let master = find(key_id).ok_or(CryptoError::UnknownKeyId(key_id))?;

        let keys = RecordKeys::derive(master, &bytes[SALT_AT..COMMIT_AT], &bytes[..HEADER_LEN]);
        // Checked before the AEAD is touched: a forged envelope that would open
        // under another key (GCM is not key-committing) fails here.
        if !ct_eq_32(&keys.commitment, &bytes[COMMIT_AT..NONCE_AT]) {
            return Err(CryptoError::CommitmentMismatch);
        }
        let (preamble, body) = bytes.split_at(PREAMBLE_LEN);
        let (ciphertext, tag) = body.split_at(body.len() - TAG_LEN);
        let mut plaintext = Zeroizing::new(ciphertext.to_vec());
        with_associated_data(preamble, ctx, |aad| {
            aes256gcm_open(&keys.key, &preamble[NONCE_AT..], aad, &mut plaintext, tag)
        })?;
        Ok((plaintext, key_id))
    })
}
