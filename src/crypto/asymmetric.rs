//! RSA encryption and decryption for KMIP Encrypt/Decrypt with an RSA key: OAEP (RFC 8017
//! section 7.1; the MGF1 hash equals the label hash, as aws-lc-rs offers it) and PKCS#1 v1.5.
//!
//! Keys arrive as the client registered them: public keys as SubjectPublicKeyInfo or PKCS#1
//! RSAPublicKey, private keys as PKCS#8 or PKCS#1 RSAPrivateKey.

use aws_lc_rs::rsa::{
    OAEP_SHA1_MGF1SHA1, OAEP_SHA256_MGF1SHA256, OAEP_SHA384_MGF1SHA384, OAEP_SHA512_MGF1SHA512,
    OaepAlgorithm, OaepPrivateDecryptingKey, OaepPublicEncryptingKey, Pkcs1PrivateDecryptingKey,
    Pkcs1PublicEncryptingKey, PrivateDecryptingKey, PublicEncryptingKey,
};
use zeroize::Zeroizing;

use super::CryptoError;
use super::digest::HashAlgorithm;
use super::keypair;

/// RSA encryption padding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RsaPadding {
    /// OAEP with this hash for the label and for MGF1.
    Oaep(HashAlgorithm),
    Pkcs1v15,
}

fn oaep(hash: HashAlgorithm) -> Result<&'static OaepAlgorithm, CryptoError> {
    Ok(match hash {
        HashAlgorithm::Sha1 => &OAEP_SHA1_MGF1SHA1,
        HashAlgorithm::Sha256 => &OAEP_SHA256_MGF1SHA256,
        HashAlgorithm::Sha384 => &OAEP_SHA384_MGF1SHA384,
        HashAlgorithm::Sha512 => &OAEP_SHA512_MGF1SHA512,
        other => return Err(CryptoError::Unsupported(format!("OAEP with {other:?}"))),
    })
}

fn public_key(der: &[u8]) -> Result<PublicEncryptingKey, CryptoError> {
    let spki = keypair::rsa_public_to_spki(der)?;
    PublicEncryptingKey::from_der(&spki).map_err(|_| CryptoError::KeyRejected("RSA public key"))
}

fn private_key(der: &[u8]) -> Result<PrivateDecryptingKey, CryptoError> {
    let pkcs8 = keypair::rsa_private_to_pkcs8(der)?;
    PrivateDecryptingKey::from_pkcs8(&pkcs8)
        .map_err(|_| CryptoError::KeyRejected("RSA private key"))
}

/// Encrypts `plaintext` to the public key. `label` is OAEP's P Source (ignored for v1.5).
pub fn encrypt(
    padding: RsaPadding,
    public_der: &[u8],
    plaintext: &[u8],
    label: Option<&[u8]>,
) -> Result<Vec<u8>, CryptoError> {
    let key = public_key(public_der)?;
    let too_long = |max: usize| {
        CryptoError::InvalidInput(format!(
            "{} bytes exceed the {max} this key and padding can encrypt",
            plaintext.len()
        ))
    };
    match padding {
        RsaPadding::Oaep(hash) => {
            let alg = oaep(hash)?;
            let key = OaepPublicEncryptingKey::new(key)?;
            if plaintext.len() > key.max_plaintext_size(alg) {
                return Err(too_long(key.max_plaintext_size(alg)));
            }
            let mut out = vec![0u8; key.ciphertext_size()];
            let len = key.encrypt(alg, plaintext, &mut out, label)?.len();
            out.truncate(len);
            Ok(out)
        }
        RsaPadding::Pkcs1v15 => {
            let key = Pkcs1PublicEncryptingKey::new(key)?;
            if plaintext.len() > key.max_plaintext_size() {
                return Err(too_long(key.max_plaintext_size()));
            }
            let mut out = vec![0u8; key.ciphertext_size()];
            let len = key.encrypt(plaintext, &mut out)?.len();
            out.truncate(len);
            Ok(out)
        }
    }
}

/// Decrypts with the private key; any failure of the padding check is
/// [`CryptoError::IntegrityCheckFailed`] (one answer, so no padding oracle).
pub fn decrypt(
    padding: RsaPadding,
    private_der: &[u8],
    ciphertext: &[u8],
    label: Option<&[u8]>,
) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    let key = private_key(private_der)?;
    match padding {
        RsaPadding::Oaep(hash) => {
            let alg = oaep(hash)?;
            let key = OaepPrivateDecryptingKey::new(key)?;
            let mut out = Zeroizing::new(vec![0u8; key.min_output_size()]);
            let len = key
                .decrypt(alg, ciphertext, &mut out, label)
                .map_err(|_| CryptoError::IntegrityCheckFailed)?
                .len();
            out.truncate(len);
            Ok(out)
        }
        RsaPadding::Pkcs1v15 => {
            let key = Pkcs1PrivateDecryptingKey::new(key)?;
            let mut out = Zeroizing::new(vec![0u8; key.min_output_size()]);
            let len = key
                .decrypt(ciphertext, &mut out)
                .map_err(|_| CryptoError::IntegrityCheckFailed)?
                .len();
            out.truncate(len);
            Ok(out)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::keypair::{
        KeyPairSpec, generate, rsa_private_to_pkcs1, rsa_public_to_pkcs1,
    };

    #[test]
    fn oaep_and_pkcs1_round_trip_with_every_key_encoding() {
        let pair = generate(KeyPairSpec::Rsa(2048)).unwrap();
        let pub1 = rsa_public_to_pkcs1(&pair.public).unwrap();
        let priv1 = rsa_private_to_pkcs1(&pair.private).unwrap();
        for padding in [
            RsaPadding::Oaep(HashAlgorithm::Sha1),
            RsaPadding::Oaep(HashAlgorithm::Sha256),
            RsaPadding::Oaep(HashAlgorithm::Sha512),
            RsaPadding::Pkcs1v15,
        ] {
            let ct = encrypt(padding, &pair.public, b"a secret", None).unwrap();
            assert_eq!(ct.len(), 256);
            assert_eq!(&*decrypt(padding, &priv1, &ct, None).unwrap(), b"a secret");
            let ct = encrypt(padding, &pub1, b"", None).unwrap();
            assert!(
                decrypt(padding, &pair.private, &ct, None)
                    .unwrap()
                    .is_empty()
            );
        }
    }

    #[test]
    fn labels_must_match_and_failures_are_uniform() {
        let pair = generate(KeyPairSpec::Rsa(2048)).unwrap();
        let padding = RsaPadding::Oaep(HashAlgorithm::Sha256);
        let ct = encrypt(padding, &pair.public, b"x", Some(b"label")).unwrap();
        assert_eq!(
            decrypt(padding, &pair.private, &ct, Some(b"other")),
            Err(CryptoError::IntegrityCheckFailed)
        );
        assert_eq!(
            decrypt(RsaPadding::Pkcs1v15, &pair.private, &ct, None),
            Err(CryptoError::IntegrityCheckFailed)
        );
        assert!(matches!(
            encrypt(padding, &pair.public, &[0; 300], None),
            Err(CryptoError::InvalidInput(_))
        ));
        assert!(encrypt(padding, b"junk", b"x", None).is_err());
        assert!(decrypt(padding, b"junk", &ct, None).is_err());
    }
}
