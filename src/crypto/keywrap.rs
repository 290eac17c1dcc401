//! AES Key Wrap (RFC 3394) and AES Key Wrap with Padding (RFC 5649), for Get with a Key Wrapping
//! Specification and Register of wrapped keys. aws-lc-rs implements both for AES-128 and
//! AES-256 key-encryption keys; AES-192 KEKs are refused as unsupported.
//!
//! Also RSA-OAEP key transport (RFC 8017 section 7.1): aws-lc-rs' OAEP API when the label hash
//! and the MGF1 hash are the same (the only pairs it offers), AWS-LC's EVP interface
//! (`aws_lc_ffi::rsa_oaep`) when the client asks for a different MGF1 hash.

use aws_lc_rs::key_wrap::{
    AES_128, AES_256, AesBlockCipher, KeyEncryptionKey, KeyWrap, KeyWrapPadded,
};
use zeroize::Zeroizing;

use super::CryptoError;
use super::asymmetric::{self, RsaPadding};
use super::digest::HashAlgorithm;
use super::{aws_lc_ffi, keypair};

/// RSA-OAEP encryption of `key` to `public_der` (PKCS#1 RSAPublicKey or SubjectPublicKeyInfo),
/// with `oaep_hash` for the label and `mgf1_hash` for MGF1. A key too long for the wrapping key
/// is [`CryptoError::InvalidInput`].
pub fn rsa_oaep_wrap(
    public_der: &[u8],
    oaep_hash: HashAlgorithm,
    mgf1_hash: HashAlgorithm,
    label: Option<&[u8]>,
    key: &[u8],
) -> Result<Vec<u8>, CryptoError> {
    if oaep_hash == mgf1_hash {
        return asymmetric::encrypt(RsaPadding::Oaep(oaep_hash), public_der, key, label);
    }
    let spki = keypair::rsa_public_to_spki(public_der)?;
    Ok(aws_lc_ffi::rsa_oaep(true, &spki, oaep_hash, mgf1_hash, label, key)?.to_vec())
}

fn kek(key: &[u8]) -> Result<KeyEncryptionKey<AesBlockCipher>, CryptoError> {
    let cipher = match key.len() {
        16 => &AES_128,
        32 => &AES_256,
        len => {
            return Err(CryptoError::KeyLength {
                len,
                algorithm: "AES key wrap (128 or 256-bit KEK)",
            });
        }
    };
    Ok(KeyEncryptionKey::new(cipher, key)?)
}

/// RFC 3394: `key` must be a multiple of 8 bytes, at least 16.
pub fn wrap(kek_bytes: &[u8], key: &[u8]) -> Result<Vec<u8>, CryptoError> {
    if key.len() < 16 || !key.len().is_multiple_of(8) {
        return Err(CryptoError::InvalidInput(
            "AES key wrap needs a multiple of 8 bytes, at least 16 (use wrap with padding)".into(),
        ));
    }
    let mut out = vec![0u8; key.len() + 8];
    let len = kek(kek_bytes)?.wrap(key, &mut out)?.len();
    out.truncate(len);
    Ok(out)
}

/// RFC 3394 unwrap; a wrong KEK or altered data is [`CryptoError::IntegrityCheckFailed`].
pub fn unwrap(kek_bytes: &[u8], wrapped: &[u8]) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    if wrapped.len() < 24 || !wrapped.len().is_multiple_of(8) {
        return Err(CryptoError::InvalidInput(
            "wrapped data must be a multiple of 8 bytes, at least 24".into(),
        ));
    }
    let mut out = Zeroizing::new(vec![0u8; wrapped.len()]);
    let len = kek(kek_bytes)?
        .unwrap(wrapped, &mut out)
        .map_err(|_| CryptoError::IntegrityCheckFailed)?
        .len();
    out.truncate(len);
    Ok(out)
}

/// RFC 5649: any non-empty key length.
pub fn wrap_with_padding(kek_bytes: &[u8], key: &[u8]) -> Result<Vec<u8>, CryptoError> {
    if key.is_empty() {
        return Err(CryptoError::InvalidInput("nothing to wrap".into()));
    }
    let mut out = vec![0u8; key.len() + 15];
    let len = kek(kek_bytes)?.wrap_with_padding(key, &mut out)?.len();
    out.truncate(len);
    Ok(out)
}

/// RFC 5649 unwrap; a wrong KEK or altered data is [`CryptoError::IntegrityCheckFailed`].
pub fn unwrap_with_padding(
    kek_bytes: &[u8],
    wrapped: &[u8],
) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    if wrapped.len() < 16 || !wrapped.len().is_multiple_of(8) {
        return Err(CryptoError::InvalidInput(
            "wrapped data must be a multiple of 8 bytes, at least 16".into(),
        ));
    }
    let mut out = Zeroizing::new(vec![0u8; wrapped.len()]);
    let len = kek(kek_bytes)?
        .unwrap_with_padding(wrapped, &mut out)
        .map_err(|_| CryptoError::IntegrityCheckFailed)?
        .len();
    out.truncate(len);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        hex::decode(s).unwrap()
    }

    // RFC 3394 sections 4.1 and 4.6.
    #[test]
    fn rfc3394_known_answers() {
        let kek = hex("000102030405060708090A0B0C0D0E0F");
        let key = hex("00112233445566778899AABBCCDDEEFF");
        let wrapped = wrap(&kek, &key).unwrap();
        assert_eq!(
            wrapped,
            hex("1FA68B0A8112B447AEF34BD8FB5A7B829D3E862371D2CFE5")
        );
        assert_eq!(*unwrap(&kek, &wrapped).unwrap(), key);

        let kek = hex("000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F");
        let key = hex("00112233445566778899AABBCCDDEEFF000102030405060708090A0B0C0D0E0F");
        assert_eq!(
            wrap(&kek, &key).unwrap(),
            hex("28C9F404C4B810F4CBCCB35CFB87F8263F5786E2D80ED326CBC7F0E71A99F43BFB988B9B7A02DD21")
        );
    }

    // RFC 5649 section 6 (192-bit KEK there; the same plaintexts under an AES-256 KEK are
    // checked by round trip, and the 192-bit KEK is refused).
    #[test]
    fn rfc5649_round_trips_and_refuses_192_bit_keks() {
        let kek192 = hex("5840df6e29b02af1ab493b705bf16ea1ae8338f4dcc176a8");
        assert!(matches!(
            wrap_with_padding(&kek192, &hex("466f7250617369")),
            Err(CryptoError::KeyLength { .. })
        ));
        let kek = [9u8; 32];
        for len in [1usize, 7, 8, 20, 33] {
            let key: Vec<u8> = (0..len as u8).collect();
            let w = wrap_with_padding(&kek, &key).unwrap();
            assert_eq!(w.len() % 8, 0);
            assert_eq!(*unwrap_with_padding(&kek, &w).unwrap(), key);
        }
        // A 7-byte key fits one semiblock: the wrap is a single AES block (RFC 5649 4.1).
        assert_eq!(wrap_with_padding(&kek, &[1; 7]).unwrap().len(), 16);
    }

    #[test]
    fn wrong_kek_or_tampering_is_an_integrity_failure() {
        let kek = [1u8; 16];
        let mut w = wrap(&kek, &[5u8; 32]).unwrap();
        assert_eq!(
            unwrap(&[2u8; 16], &w),
            Err(CryptoError::IntegrityCheckFailed)
        );
        w[3] ^= 1;
        assert_eq!(unwrap(&kek, &w), Err(CryptoError::IntegrityCheckFailed));
        let p = wrap_with_padding(&kek, &[5u8; 5]).unwrap();
        assert_eq!(
            unwrap_with_padding(&[3u8; 16], &p),
            Err(CryptoError::IntegrityCheckFailed)
        );
        assert!(wrap(&kek, &[0; 12]).is_err());
        assert!(unwrap(&kek, &[0; 12]).is_err());
    }
}
