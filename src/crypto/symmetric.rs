//! One-shot authenticated encryption (AES-GCM, ChaCha20-Poly1305) for KMIP Encrypt/Decrypt.
//! The unauthenticated AES modes (CBC, ECB, CTR) live in `stream.rs`, where a one-shot call is
//! a stream of one part.
//!
//! What aws-lc-rs's AEAD interface fixes, and so Keyward offers: a 96-bit nonce and, for
//! decryption, the full 16-byte tag. An encryption may return a shorter tag (a prefix of the
//! full one, as GCM defines truncation). Other nonce lengths and truncated tags on decryption
//! are refused as unsupported rather than computed by hand.

use aws_lc_rs::aead::{self, Aad, LessSafeKey, Nonce, UnboundKey};
use zeroize::Zeroizing;

use super::CryptoError;

/// An AEAD Keyward offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AeadAlgorithm {
    AesGcm,
    ChaCha20Poly1305,
}

/// Nonce length both AEADs take.
pub const NONCE_LEN: usize = 12;
/// Full tag length.
pub const TAG_LEN: usize = 16;
/// Shortest tag an encryption may be asked for (NIST SP 800-38D allows 96..128 bits, plus 32
/// and 64 for special uses Keyward does not serve).
pub const MIN_TAG_LEN: usize = 12;

fn key(algorithm: AeadAlgorithm, key: &[u8]) -> Result<LessSafeKey, CryptoError> {
    let (alg, name) = match (algorithm, key.len()) {
        (AeadAlgorithm::AesGcm, 16) => (&aead::AES_128_GCM, "AES-GCM"),
        (AeadAlgorithm::AesGcm, 24) => (&aead::AES_192_GCM, "AES-GCM"),
        (AeadAlgorithm::AesGcm, 32) => (&aead::AES_256_GCM, "AES-GCM"),
        (AeadAlgorithm::ChaCha20Poly1305, 32) => (&aead::CHACHA20_POLY1305, "ChaCha20-Poly1305"),
        (AeadAlgorithm::AesGcm, len) => {
            return Err(CryptoError::KeyLength {
                len,
                algorithm: "AES-GCM",
            });
        }
        (AeadAlgorithm::ChaCha20Poly1305, len) => {
            return Err(CryptoError::KeyLength {
                len,
                algorithm: "ChaCha20-Poly1305",
            });
        }
    };
    let unbound = UnboundKey::new(alg, key).map_err(|_| CryptoError::Library(name))?;
    Ok(LessSafeKey::new(unbound))
}

fn nonce(bytes: &[u8]) -> Result<Nonce, CryptoError> {
    if bytes.len() != NONCE_LEN {
        return Err(CryptoError::Unsupported(format!(
            "an AEAD nonce of {} bytes (only {NONCE_LEN})",
            bytes.len()
        )));
    }
    Nonce::try_assume_unique_for_key(bytes).map_err(|_| CryptoError::Library("nonce"))
}

/// Encrypts `plaintext`; returns the ciphertext and a tag of `tag_len` bytes.
pub fn seal(
    algorithm: AeadAlgorithm,
    key_bytes: &[u8],
    nonce_bytes: &[u8],
    aad: &[u8],
    plaintext: &[u8],
    tag_len: usize,
) -> Result<(Vec<u8>, Vec<u8>), CryptoError> {
    if !(MIN_TAG_LEN..=TAG_LEN).contains(&tag_len) {
        return Err(CryptoError::InvalidInput(format!(
            "tag length {tag_len} (must be {MIN_TAG_LEN} to {TAG_LEN} bytes)"
        )));
    }
    let k = key(algorithm, key_bytes)?;
    let mut data = plaintext.to_vec();
    let tag = k.seal_in_place_separate_tag(nonce(nonce_bytes)?, Aad::from(aad), &mut data)?;
    Ok((data, tag.as_ref()[..tag_len].to_vec()))
}

/// Decrypts and authenticates; a wrong key, nonce, AAD, ciphertext or tag is
/// [`CryptoError::IntegrityCheckFailed`].
pub fn open(
    algorithm: AeadAlgorithm,
    key_bytes: &[u8],
    nonce_bytes: &[u8],
    aad: &[u8],
    ciphertext: &[u8],
    tag: &[u8],
) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    if tag.len() != TAG_LEN {
        return Err(CryptoError::Unsupported(format!(
            "decryption with a {}-byte tag (only {TAG_LEN})",
            tag.len()
        )));
    }
    let k = key(algorithm, key_bytes)?;
    let n = nonce(nonce_bytes)?;
    let mut data = Zeroizing::new(Vec::with_capacity(ciphertext.len() + TAG_LEN));
    data.extend_from_slice(ciphertext);
    data.extend_from_slice(tag);
    let len = k
        .open_in_place(n, Aad::from(aad), &mut data[..])
        .map_err(|_| CryptoError::IntegrityCheckFailed)?
        .len();
    data.truncate(len);
    Ok(data)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        hex::decode(s).unwrap()
    }

    // The GCM specification (McGrew/Viega) test case 4: AES-128, 96-bit IV, with AAD.
    #[test]
    fn gcm_test_case_4_known_answer() {
        let key = hex("feffe9928665731c6d6a8f9467308308");
        let iv = hex("cafebabefacedbaddecaf888");
        let plain = hex(concat!(
            "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72",
            "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39"
        ));
        let aad = hex("feedfacedeadbeeffeedfacedeadbeefabaddad2");
        let (ct, tag) = seal(AeadAlgorithm::AesGcm, &key, &iv, &aad, &plain, 16).unwrap();
        assert_eq!(
            ct,
            hex(concat!(
                "42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e",
                "21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091"
            ))
        );
        assert_eq!(tag, hex("5bc94fbc3221a5db94fae95ae7121a47"));
        let back = open(AeadAlgorithm::AesGcm, &key, &iv, &aad, &ct, &tag).unwrap();
        assert_eq!(*back, plain);
        let (_, short) = seal(AeadAlgorithm::AesGcm, &key, &iv, &aad, &plain, 12).unwrap();
        assert_eq!(short, hex("5bc94fbc3221a5db94fae95a"));
    }

    // RFC 8439 section 2.8.2.
    #[test]
    fn rfc8439_chacha20_poly1305_known_answer() {
        let key = hex("808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f");
        let nonce = hex("070000004041424344454647");
        let aad = hex("50515253c0c1c2c3c4c5c6c7");
        let plain = b"Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would be it.";
        let (ct, tag) = seal(
            AeadAlgorithm::ChaCha20Poly1305,
            &key,
            &nonce,
            &aad,
            plain,
            16,
        )
        .unwrap();
        assert_eq!(&ct[..16], &hex("d31a8d34648e60db7b86afbc53ef7ec2")[..]);
        assert_eq!(tag, hex("1ae10b594f09e26a7e902ecbd0600691"));
        let back = open(
            AeadAlgorithm::ChaCha20Poly1305,
            &key,
            &nonce,
            &aad,
            &ct,
            &tag,
        )
        .unwrap();
        assert_eq!(&back[..], &plain[..]);
    }

    #[test]
    fn tampering_and_bad_shapes_are_refused() {
        let key = [1u8; 32];
        let iv = [2u8; 12];
        let (mut ct, tag) = seal(AeadAlgorithm::AesGcm, &key, &iv, b"a", b"secret", 16).unwrap();
        ct[0] ^= 1;
        assert_eq!(
            open(AeadAlgorithm::AesGcm, &key, &iv, b"a", &ct, &tag),
            Err(CryptoError::IntegrityCheckFailed)
        );
        assert!(matches!(
            seal(AeadAlgorithm::AesGcm, &key, &[0; 8], b"", b"x", 16),
            Err(CryptoError::Unsupported(_))
        ));
        assert!(seal(AeadAlgorithm::AesGcm, &key, &iv, b"", b"x", 1).is_err());
        assert!(seal(AeadAlgorithm::AesGcm, &key, &iv, b"", b"x", 32).is_err());
        assert!(matches!(
            seal(
                AeadAlgorithm::ChaCha20Poly1305,
                &[0; 16],
                &iv,
                b"",
                b"x",
                16
            ),
            Err(CryptoError::KeyLength { .. })
        ));
        assert!(open(AeadAlgorithm::AesGcm, &key, &iv, b"", b"x", &[0; 12]).is_err());
    }
}
