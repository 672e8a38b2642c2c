//! The primitives the envelope and the legacy readers are built from:
//! AES-256-GCM with a 96-bit nonce, and HKDF-SHA256.

use aes_gcm::aead::consts::U12;
use aes_gcm::aead::generic_array::GenericArray;
use aes_gcm::aead::{AeadInPlace, KeyInit};
use aes_gcm::AesGcm;
use hkdf::Hkdf;
use sha2::Sha256;
use zeroize::Zeroize;

use super::error::CryptoError;

/// AES-256-GCM with a 96-bit nonce over the encrypt-only AES key schedule: GCM
/// never runs AES backwards, and every record has its own key, so skipping the
/// decryption round keys saves work on every seal and open.
type Aes256Gcm = AesGcm<aes::Aes256Enc, U12>;

/// The AES-GCM nonce length this code uses.
pub(crate) const NONCE_LEN: usize = 12;
/// The AES-GCM tag length.
pub(crate) const TAG_LEN: usize = 16;

/// AES-256-GCM encryption in place with a 96-bit nonce; returns the 16-byte tag.
pub fn aes256gcm_seal(
    key: &[u8; 32],
    nonce: &[u8],
    aad: &[u8],
    buffer: &mut [u8],
) -> Result<[u8; TAG_LEN], CryptoError> {
    if nonce.len() != NONCE_LEN {
        return Err(CryptoError::Malformed);
    }
    let cipher = Aes256Gcm::new(GenericArray::from_slice(key));
    let tag = cipher
        .encrypt_in_place_detached(GenericArray::from_slice(nonce), aad, buffer)
        .map_err(|_| CryptoError::Malformed)?;
    Ok(tag.into())
}

/// AES-256-GCM decryption in place with a 96-bit nonce and a 16-byte tag.
///
/// On failure the buffer is wiped, so no unauthenticated plaintext survives.
pub fn aes256gcm_open(
    key: &[u8; 32],
    nonce: &[u8],
    aad: &[u8],
    buffer: &mut [u8],
    tag: &[u8],
) -> Result<(), CryptoError> {
    if nonce.len() != NONCE_LEN || tag.len() != TAG_LEN {
        return Err(CryptoError::AuthenticationFailed);
    }
    let cipher = Aes256Gcm::new(GenericArray::from_slice(key));
    cipher
        .decrypt_in_place_detached(
            GenericArray::from_slice(nonce),
            aad,
            buffer,
            GenericArray::from_slice(tag),
        )
        .map_err(|_| {
            buffer.zeroize();
            CryptoError::AuthenticationFailed
        })
}

/// HKDF-SHA256 (extract then expand) into `okm`; fails only when `okm` is longer
/// than 255 hash lengths.
pub fn hkdf_sha256(
    salt: &[u8],
    ikm: &[u8],
    info: &[u8],
    okm: &mut [u8],
) -> Result<(), hkdf::InvalidLength> {
    Hkdf::<Sha256>::new(Some(salt), ikm).expand(info, okm)
}
