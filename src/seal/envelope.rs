//! The one sealed-blob format shared by the master key (sealing key material) and the local
//! root key (wrapping the master key): `version ‖ nonce ‖ ciphertext ‖ tag`, AES-256-GCM-SIV.
//!
//! The version byte is authenticated too (it is prefixed to the caller's associated data), so a
//! later format cannot be confused with this one by editing one byte.

use aes_gcm_siv::aead::{Aead, KeyInit, Payload};
use aes_gcm_siv::{Aes256GcmSiv, Nonce};
use zeroize::Zeroizing;

use super::SealError;

/// Format version of blobs written by this build.
pub(crate) const ENVELOPE_VERSION: u8 = 1;
pub(crate) const NONCE_LEN: usize = 12;
pub(crate) const TAG_LEN: usize = 16;
/// Bytes a sealed blob adds to its plaintext.
pub(crate) const OVERHEAD: usize = 1 + NONCE_LEN + TAG_LEN;

fn cipher(key: &[u8; 32]) -> Result<Aes256GcmSiv, SealError> {
    // The length is fixed by the type, so this cannot fail; mapped anyway rather than unwrapped.
    Aes256GcmSiv::new_from_slice(key)
        .map_err(|_| SealError::Malformed("AES-256-GCM-SIV key is not 32 bytes".into()))
}

fn associated_data(aad: &[u8]) -> Vec<u8> {
    let mut full = Vec::with_capacity(1 + aad.len());
    full.push(ENVELOPE_VERSION);
    full.extend_from_slice(aad);
    full
}

/// Fills `buf` from the OS CSPRNG.
pub(crate) fn random_bytes(buf: &mut [u8]) -> Result<(), SealError> {
    getrandom::fill(buf).map_err(|err| SealError::Io {
        path: "<OS random source>".into(),
        message: err.to_string(),
    })
}

/// Seals `plaintext` under `key` with a fresh random 96-bit nonce.
pub(crate) fn seal(key: &[u8; 32], aad: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, SealError> {
    let mut nonce_bytes = [0u8; NONCE_LEN];
    random_bytes(&mut nonce_bytes)?;
    let nonce = Nonce::from(nonce_bytes);
    let full_aad = associated_data(aad);
    let ciphertext = cipher(key)?
        .encrypt(
            &nonce,
            Payload {
                msg: plaintext,
                aad: &full_aad,
            },
        )
        .map_err(|_| SealError::Malformed("plaintext too long to seal".into()))?;
    let mut out = Vec::with_capacity(1 + NONCE_LEN + ciphertext.len());
    out.push(ENVELOPE_VERSION);
    out.extend_from_slice(&nonce_bytes);
    out.extend_from_slice(&ciphertext);
    Ok(out)
}

/// Opens a blob made by [`seal`] with the same key and `aad`.
pub(crate) fn open(
    key: &[u8; 32],
    aad: &[u8],
    sealed: &[u8],
) -> Result<Zeroizing<Vec<u8>>, SealError> {
    if sealed.len() < OVERHEAD {
        return Err(SealError::Malformed(format!(
            "sealed blob is {} bytes, shorter than the {OVERHEAD}-byte minimum",
            sealed.len()
        )));
    }
    let (version, rest) = sealed.split_at(1);
    if version[0] != ENVELOPE_VERSION {
        return Err(SealError::Malformed(format!(
            "sealed blob has format version {}, this build reads {ENVELOPE_VERSION}",
            version[0]
        )));
    }
    let (nonce_bytes, ciphertext) = rest.split_at(NONCE_LEN);
    let nonce = Nonce::try_from(nonce_bytes)
        .map_err(|_| SealError::Malformed("sealed blob nonce is not 12 bytes".into()))?;
    let full_aad = associated_data(aad);
    cipher(key)?
        .decrypt(
            &nonce,
            Payload {
                msg: ciphertext,
                aad: &full_aad,
            },
        )
        .map(Zeroizing::new)
        .map_err(|_| SealError::Authentication)
}
