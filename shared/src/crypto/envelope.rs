//! The `akv1` envelope: `akv1.` + base64url (no padding) of
//! `version | suite | key id | salt | commitment | nonce | ciphertext+tag`.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use hkdf::Hkdf;
use sha2::Sha256;
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

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

fn associated_data(preamble: &[u8], ctx: &KeyContext<'_>) -> Result<Vec<u8>, CryptoError> {
    let mut aad = Vec::with_capacity(preamble.len() + 64);
    aad.extend_from_slice(preamble);
    ctx.write_canonical(&mut aad)?;
    Ok(aad)
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

    let mut buf = Vec::with_capacity(ENVELOPE_OVERHEAD + plaintext.len());
    buf.push(VERSION);
    buf.push(SUITE_AES256GCM_HKDF_COMMIT);
    buf.extend_from_slice(&master.id().to_bytes());
    let keys = RecordKeys::derive(master, salt, &buf[..HEADER_LEN]);
    buf.extend_from_slice(salt);
    buf.extend_from_slice(&keys.commitment);
    buf.extend_from_slice(nonce);
    let aad = associated_data(&buf, ctx)?;

    buf.extend_from_slice(plaintext);
    let tag = aes256gcm_seal(&keys.key, nonce, &aad, &mut buf[PREAMBLE_LEN..])?;
    buf.extend_from_slice(&tag);
    let mut text = String::with_capacity(ENVELOPE_PREFIX.len() + buf.len().div_ceil(3) * 4);
    text.push_str(ENVELOPE_PREFIX);
    URL_SAFE_NO_PAD.encode_string(&buf, &mut text);
    Ok(text)
}

/// Reads the key id of an envelope without opening it.
pub(crate) fn key_id_of(stored: &str) -> Result<KeyId, CryptoError> {
    let bytes = decode(stored)?;
    Ok(KeyId::from_bytes([bytes[2], bytes[3], bytes[4], bytes[5]]))
}

/// Strictly decodes the envelope text and checks version, suite and lengths.
fn decode(stored: &str) -> Result<Vec<u8>, CryptoError> {
    let body = stored
        .strip_prefix(ENVELOPE_PREFIX)
        .ok_or(CryptoError::Malformed)?;
    if body.len() > MAX_ENCODED_LEN {
        return Err(CryptoError::Malformed);
    }
    let bytes = URL_SAFE_NO_PAD
        .decode(body)
        .map_err(|_| CryptoError::Malformed)?;
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
    Ok(bytes)
}

/// Opens an envelope for `ctx`, finding the master key by id through `find`.
pub(crate) fn open<'k>(
    find: impl Fn(KeyId) -> Option<&'k MasterKey>,
    ctx: &KeyContext<'_>,
    stored: &str,
) -> Result<(Zeroizing<Vec<u8>>, KeyId), CryptoError> {
    let mut bytes = Zeroizing::new(decode(stored)?);
    let key_id = KeyId::from_bytes([bytes[2], bytes[3], bytes[4], bytes[5]]);
    let master = find(key_id).ok_or(CryptoError::UnknownKeyId(key_id))?;

    let keys = RecordKeys::derive(master, &bytes[SALT_AT..COMMIT_AT], &bytes[..HEADER_LEN]);
    // Checked before the AEAD is touched: a forged envelope that would open under
    // another key (GCM is not key-committing) fails here.
    if !bool::from(keys.commitment.ct_eq(&bytes[COMMIT_AT..NONCE_AT])) {
        return Err(CryptoError::CommitmentMismatch);
    }
    let aad = associated_data(&bytes[..PREAMBLE_LEN], ctx)?;

    let (preamble, body) = bytes.split_at_mut(PREAMBLE_LEN);
    let (ciphertext, tag) = body.split_at_mut(body.len() - TAG_LEN);
    aes256gcm_open(&keys.key, &preamble[NONCE_AT..], &aad, ciphertext, tag)?;
    // The plaintext is moved to the front of the same (zeroized) buffer: no copy.
    let end = bytes.len() - TAG_LEN;
    bytes.truncate(end);
    bytes.drain(..PREAMBLE_LEN);
    Ok((bytes, key_id))
}
