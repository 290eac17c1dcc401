//! Signatures for KMIP Sign and Signature Verify: RSA PKCS#1 v1.5 and PSS (salt length = hash
//! length), ECDSA on P-256/P-384/P-521 (DER-encoded signatures, as X.509 and KMIP use), and
//! Ed25519. Only the hash/curve pairs aws-lc-rs offers are accepted; the rest are refused as
//! unsupported, never approximated.

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa;
use aws_lc_rs::signature::{self as sig, EcdsaKeyPair, Ed25519KeyPair, VerificationAlgorithm};

use super::CryptoError;
use super::digest::HashAlgorithm;
use super::keypair::{self, Curve};

/// A signature scheme.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignatureAlgorithm {
    RsaPkcs1v15(HashAlgorithm),
    RsaPss(HashAlgorithm),
    /// The curve comes from the key.
    Ecdsa(HashAlgorithm),
    Ed25519,
}

fn unsupported(alg: SignatureAlgorithm) -> CryptoError {
    CryptoError::Unsupported(format!("{alg:?}"))
}

fn rsa_encoding(alg: SignatureAlgorithm) -> Result<&'static dyn sig::RsaEncoding, CryptoError> {
    Ok(match alg {
        SignatureAlgorithm::RsaPkcs1v15(HashAlgorithm::Sha256) => &sig::RSA_PKCS1_SHA256,
        SignatureAlgorithm::RsaPkcs1v15(HashAlgorithm::Sha384) => &sig::RSA_PKCS1_SHA384,
        SignatureAlgorithm::RsaPkcs1v15(HashAlgorithm::Sha512) => &sig::RSA_PKCS1_SHA512,
        SignatureAlgorithm::RsaPss(HashAlgorithm::Sha256) => &sig::RSA_PSS_SHA256,
        SignatureAlgorithm::RsaPss(HashAlgorithm::Sha384) => &sig::RSA_PSS_SHA384,
        SignatureAlgorithm::RsaPss(HashAlgorithm::Sha512) => &sig::RSA_PSS_SHA512,
        other => return Err(unsupported(other)),
    })
}

/// PSS verification with the largest salt the key allows, the other length signers commonly
/// use (OpenSSL's default for signing); tried after the digest-length salt.
const PSS_SHA256_MAX_SALT: sig::RsaParameters =
    sig::RSA_PSS_2048_8192_SHA256.with_pss_salt_length(sig::RsaPssSaltLength::Max);
const PSS_SHA384_MAX_SALT: sig::RsaParameters =
    sig::RSA_PSS_2048_8192_SHA384.with_pss_salt_length(sig::RsaPssSaltLength::Max);
const PSS_SHA512_MAX_SALT: sig::RsaParameters =
    sig::RSA_PSS_2048_8192_SHA512.with_pss_salt_length(sig::RsaPssSaltLength::Max);

/// The RSA verification parameters to try, in order. PSS signatures name no salt length, so a
/// verifier accepts the two in use: the digest length (what Keyward signs with) and the maximum.
fn rsa_verification(
    alg: SignatureAlgorithm,
) -> Result<&'static [&'static sig::RsaParameters], CryptoError> {
    Ok(match alg {
        SignatureAlgorithm::RsaPkcs1v15(HashAlgorithm::Sha1) => {
            &[&sig::RSA_PKCS1_2048_8192_SHA1_FOR_LEGACY_USE_ONLY]
        }
        SignatureAlgorithm::RsaPkcs1v15(HashAlgorithm::Sha256) => {
            &[&sig::RSA_PKCS1_2048_8192_SHA256]
        }
        SignatureAlgorithm::RsaPkcs1v15(HashAlgorithm::Sha384) => {
            &[&sig::RSA_PKCS1_2048_8192_SHA384]
        }
        SignatureAlgorithm::RsaPkcs1v15(HashAlgorithm::Sha512) => {
            &[&sig::RSA_PKCS1_2048_8192_SHA512]
        }
        SignatureAlgorithm::RsaPss(HashAlgorithm::Sha256) => {
            &[&sig::RSA_PSS_2048_8192_SHA256, &PSS_SHA256_MAX_SALT]
        }
        SignatureAlgorithm::RsaPss(HashAlgorithm::Sha384) => {
            &[&sig::RSA_PSS_2048_8192_SHA384, &PSS_SHA384_MAX_SALT]
        }
        SignatureAlgorithm::RsaPss(HashAlgorithm::Sha512) => {
            &[&sig::RSA_PSS_2048_8192_SHA512, &PSS_SHA512_MAX_SALT]
        }
        other => return Err(unsupported(other)),
    })
}

fn ecdsa_signing(curve: Curve, hash: HashAlgorithm) -> Option<&'static sig::EcdsaSigningAlgorithm> {
    Some(match (curve, hash) {
        (Curve::P256, HashAlgorithm::Sha256) => &sig::ECDSA_P256_SHA256_ASN1_SIGNING,
        (Curve::P384, HashAlgorithm::Sha384) => &sig::ECDSA_P384_SHA384_ASN1_SIGNING,
        (Curve::P384, HashAlgorithm::Sha3_384) => &sig::ECDSA_P384_SHA3_384_ASN1_SIGNING,
        (Curve::P521, HashAlgorithm::Sha224) => &sig::ECDSA_P521_SHA224_ASN1_SIGNING,
        (Curve::P521, HashAlgorithm::Sha256) => &sig::ECDSA_P521_SHA256_ASN1_SIGNING,
        (Curve::P521, HashAlgorithm::Sha384) => &sig::ECDSA_P521_SHA384_ASN1_SIGNING,
        (Curve::P521, HashAlgorithm::Sha512) => &sig::ECDSA_P521_SHA512_ASN1_SIGNING,
        _ => return None,
    })
}

/// ECDSA verification algorithms by hash, every curve (the key decides which one parses).
fn ecdsa_verification(hash: HashAlgorithm) -> &'static [&'static sig::EcdsaVerificationAlgorithm] {
    match hash {
        HashAlgorithm::Sha1 => &[&sig::ECDSA_P256_SHA1_ASN1, &sig::ECDSA_P521_SHA1_ASN1],
        HashAlgorithm::Sha224 => &[&sig::ECDSA_P521_SHA224_ASN1],
        HashAlgorithm::Sha256 => &[
            &sig::ECDSA_P256_SHA256_ASN1,
            &sig::ECDSA_P384_SHA256_ASN1,
            &sig::ECDSA_P521_SHA256_ASN1,
        ],
        HashAlgorithm::Sha384 => &[
            &sig::ECDSA_P256_SHA384_ASN1,
            &sig::ECDSA_P384_SHA384_ASN1,
            &sig::ECDSA_P521_SHA384_ASN1,
        ],
        HashAlgorithm::Sha512 => &[
            &sig::ECDSA_P256_SHA512_ASN1,
            &sig::ECDSA_P384_SHA512_ASN1,
            &sig::ECDSA_P521_SHA512_ASN1,
        ],
        _ => &[],
    }
}

/// What is signed: the message, or its digest computed by the client (KMIP Digested Data).
#[derive(Debug, Clone, Copy)]
pub enum Signed<'a> {
    Message(&'a [u8]),
    /// The digest under the scheme's hash; not offered for Ed25519 (which hashes internally).
    Digest(&'a [u8]),
}

fn hash_of(alg: SignatureAlgorithm) -> Option<HashAlgorithm> {
    match alg {
        SignatureAlgorithm::RsaPkcs1v15(h)
        | SignatureAlgorithm::RsaPss(h)
        | SignatureAlgorithm::Ecdsa(h) => Some(h),
        SignatureAlgorithm::Ed25519 => None,
    }
}

/// A client-supplied digest as aws-lc-rs's type, checked for the scheme's hash length.
fn imported_digest(
    alg: SignatureAlgorithm,
    digest: &[u8],
) -> Result<aws_lc_rs::digest::Digest, CryptoError> {
    let hash = hash_of(alg)
        .ok_or_else(|| CryptoError::Unsupported(format!("{alg:?} over a precomputed digest")))?;
    aws_lc_rs::digest::Digest::import_less_safe(digest, hash.lc()).map_err(|_| {
        CryptoError::InvalidInput(format!(
            "a {hash:?} digest is {} bytes, not {}",
            hash.output_len(),
            digest.len()
        ))
    })
}

/// The SHA-1 digest RSA-PSS-SHA1 signs: computed from the message, or the client's own.
fn pss_sha1_digest(input: Signed) -> Result<Vec<u8>, CryptoError> {
    match input {
        Signed::Message(m) => Ok(super::digest::digest(HashAlgorithm::Sha1, m)),
        Signed::Digest(d) if d.len() == HashAlgorithm::Sha1.output_len() => Ok(d.to_vec()),
        Signed::Digest(d) => Err(CryptoError::InvalidInput(format!(
            "a Sha1 digest is 20 bytes, not {}",
            d.len()
        ))),
    }
}

/// Signs `message` with a private key (RSA: PKCS#8 or PKCS#1; EC: PKCS#8 or SEC1; Ed25519:
/// PKCS#8 or the raw 32-byte seed).
pub fn sign(
    alg: SignatureAlgorithm,
    private_der: &[u8],
    message: &[u8],
) -> Result<Vec<u8>, CryptoError> {
    sign_input(alg, private_der, Signed::Message(message))
}

/// Signs a message or a client-computed digest of it.
pub fn sign_input(
    alg: SignatureAlgorithm,
    private_der: &[u8],
    input: Signed,
) -> Result<Vec<u8>, CryptoError> {
    if alg == SignatureAlgorithm::RsaPss(HashAlgorithm::Sha1) {
        // Not in aws-lc-rs's signing set: AWS-LC's EVP interface does it.
        let pkcs8 = keypair::rsa_private_to_pkcs8(private_der)?;
        let digest = pss_sha1_digest(input)?;
        return super::aws_lc_ffi::rsa_pss_sign(&pkcs8, HashAlgorithm::Sha1, &digest);
    }
    match alg {
        SignatureAlgorithm::RsaPkcs1v15(_) | SignatureAlgorithm::RsaPss(_) => {
            let encoding = rsa_encoding(alg)?;
            let pkcs8 = keypair::rsa_private_to_pkcs8(private_der)?;
            let pair = rsa::KeyPair::from_pkcs8(&pkcs8)
                .map_err(|_| CryptoError::KeyRejected("RSA private key"))?;
            let mut out = vec![0u8; pair.public_modulus_len()];
            match input {
                Signed::Message(message) => {
                    pair.sign(encoding, &SystemRandom::new(), message, &mut out)?
                }
                Signed::Digest(digest) => {
                    pair.sign_digest(encoding, &imported_digest(alg, digest)?, &mut out)?
                }
            }
            Ok(out)
        }
        SignatureAlgorithm::Ecdsa(hash) => {
            let (curve, _) = keypair::ec_pair(private_der)?;
            let signing = ecdsa_signing(curve, hash).ok_or_else(|| {
                CryptoError::Unsupported(format!("ECDSA on {curve:?} with {hash:?}"))
            })?;
            let pkcs8 = keypair::ec_private_to_pkcs8(private_der)?;
            let pair = EcdsaKeyPair::from_pkcs8(signing, &pkcs8)
                .map_err(|_| CryptoError::KeyRejected("EC private key"))?;
            let signature = match input {
                Signed::Message(message) => pair.sign(&SystemRandom::new(), message)?,
                Signed::Digest(digest) => pair.sign_digest(&imported_digest(alg, digest)?)?,
            };
            Ok(signature.as_ref().to_vec())
        }
        SignatureAlgorithm::Ed25519 => {
            let Signed::Message(message) = input else {
                return Err(CryptoError::Unsupported(
                    "Ed25519 over a precomputed digest".into(),
                ));
            };
            let pair = Ed25519KeyPair::from_pkcs8_maybe_unchecked(private_der)
                .or_else(|_| Ed25519KeyPair::from_seed_unchecked(private_der))
                .map_err(|_| CryptoError::KeyRejected("Ed25519 private key"))?;
            Ok(pair.sign(message).as_ref().to_vec())
        }
    }
}

/// Checks a signature with a public key (SubjectPublicKeyInfo; RSA also PKCS#1; Ed25519 also
/// raw). A signature that does not verify is [`CryptoError::IntegrityCheckFailed`].
pub fn verify(
    alg: SignatureAlgorithm,
    public_der: &[u8],
    message: &[u8],
    signature: &[u8],
) -> Result<(), CryptoError> {
    verify_input(alg, public_der, Signed::Message(message), signature)
}

/// Checks a signature over a message or over a client-computed digest of it.
pub fn verify_input(
    alg: SignatureAlgorithm,
    public_der: &[u8],
    input: Signed,
    signature: &[u8],
) -> Result<(), CryptoError> {
    if alg == SignatureAlgorithm::RsaPss(HashAlgorithm::Sha1) {
        let spki = keypair::rsa_public_to_spki(public_der)?;
        let digest = pss_sha1_digest(input)?;
        return super::aws_lc_ffi::rsa_pss_verify(&spki, HashAlgorithm::Sha1, &digest, signature);
    }
    let digest = match input {
        Signed::Digest(d) => Some(imported_digest(alg, d)?),
        Signed::Message(_) => None,
    };
    let check = |verification: &'static dyn VerificationAlgorithm, key: &[u8]| {
        let key = sig::UnparsedPublicKey::new(verification, key);
        match (&digest, input) {
            (Some(digest), _) => key.verify_digest(digest, signature),
            (None, Signed::Message(message)) => key.verify(message, signature),
            (None, Signed::Digest(_)) => Err(aws_lc_rs::error::Unspecified),
        }
        .map_err(|_| CryptoError::IntegrityCheckFailed)
    };
    match alg {
        SignatureAlgorithm::RsaPkcs1v15(_) | SignatureAlgorithm::RsaPss(_) => {
            let candidates = rsa_verification(alg)?;
            let pkcs1 = keypair::rsa_public_to_pkcs1(public_der)?;
            if candidates
                .iter()
                .any(|params| check(*params, &pkcs1).is_ok())
            {
                Ok(())
            } else {
                Err(CryptoError::IntegrityCheckFailed)
            }
        }
        SignatureAlgorithm::Ecdsa(hash) => {
            let candidates = ecdsa_verification(hash);
            if candidates.is_empty() {
                return Err(unsupported(alg));
            }
            let verification = candidates
                .iter()
                .copied()
                .find(|v| sig::ParsedPublicKey::new(*v, public_der).is_ok())
                .ok_or_else(|| {
                    CryptoError::Unsupported(format!("ECDSA with {hash:?} on this key's curve"))
                })?;
            check(verification, public_der)
        }
        SignatureAlgorithm::Ed25519 => {
            if sig::ParsedPublicKey::new(&sig::ED25519, public_der).is_err() {
                return Err(CryptoError::KeyRejected("Ed25519 public key"));
            }
            check(&sig::ED25519, public_der)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::keypair::{
        KeyPairSpec, ed25519_seed_to_pkcs8, generate, public_spki_of_private,
    };

    fn hex(s: &str) -> Vec<u8> {
        hex::decode(s).unwrap()
    }

    // RFC 8032 section 7.1, TEST 1 (empty message).
    #[test]
    fn rfc8032_ed25519_known_answer() {
        let seed = hex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60");
        let public = hex("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a");
        let expected = hex(concat!(
            "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e06522490155",
            "5fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"
        ));
        let pkcs8 = ed25519_seed_to_pkcs8(&seed).unwrap();
        assert_eq!(
            sign(SignatureAlgorithm::Ed25519, &pkcs8, b"").unwrap(),
            expected
        );
        assert_eq!(
            sign(SignatureAlgorithm::Ed25519, &seed, b"").unwrap(),
            expected
        );
        verify(SignatureAlgorithm::Ed25519, &public, b"", &expected).unwrap();
        let spki = public_spki_of_private(&pkcs8).unwrap();
        verify(SignatureAlgorithm::Ed25519, &spki, b"", &expected).unwrap();
        assert_eq!(
            verify(SignatureAlgorithm::Ed25519, &public, b"x", &expected),
            Err(CryptoError::IntegrityCheckFailed)
        );
    }

    #[test]
    fn rsa_pkcs1_and_pss_sign_and_verify() {
        let pair = generate(KeyPairSpec::Rsa(2048)).unwrap();
        for alg in [
            SignatureAlgorithm::RsaPkcs1v15(HashAlgorithm::Sha256),
            SignatureAlgorithm::RsaPkcs1v15(HashAlgorithm::Sha512),
            SignatureAlgorithm::RsaPss(HashAlgorithm::Sha256),
            SignatureAlgorithm::RsaPss(HashAlgorithm::Sha384),
        ] {
            let s = sign(alg, &pair.private, b"message").unwrap();
            assert_eq!(s.len(), 256);
            verify(alg, &pair.public, b"message", &s).unwrap();
            assert_eq!(
                verify(alg, &pair.public, b"messagf", &s),
                Err(CryptoError::IntegrityCheckFailed)
            );
        }
        // A PSS signature with the maximum salt length verifies too.
        const PSS_MAX: sig::RsaSignatureEncoding =
            sig::RSA_PSS_SHA256.with_pss_salt_length(sig::RsaPssSaltLength::Max);
        let signer = rsa::KeyPair::from_pkcs8(&pair.private).unwrap();
        let mut max_salted = vec![0u8; 256];
        signer
            .sign(&PSS_MAX, &SystemRandom::new(), b"message", &mut max_salted)
            .unwrap();
        verify(
            SignatureAlgorithm::RsaPss(HashAlgorithm::Sha256),
            &pair.public,
            b"message",
            &max_salted,
        )
        .unwrap();
        // PKCS#1 v1.5 is deterministic: the same signature twice.
        let alg = SignatureAlgorithm::RsaPkcs1v15(HashAlgorithm::Sha256);
        assert_eq!(
            sign(alg, &pair.private, b"m").unwrap(),
            sign(alg, &pair.private, b"m").unwrap()
        );
        // PSS with SHA-1 goes through AWS-LC directly (not in aws-lc-rs's signing set).
        let pss1 = SignatureAlgorithm::RsaPss(HashAlgorithm::Sha1);
        let s = sign(pss1, &pair.private, b"m").unwrap();
        assert_eq!(s.len(), 256);
        verify(pss1, &pair.public, b"m", &s).unwrap();
        assert_eq!(
            verify(pss1, &pair.public, b"n", &s),
            Err(CryptoError::IntegrityCheckFailed)
        );
        let digest = crate::crypto::digest::digest(HashAlgorithm::Sha1, b"m");
        verify_input(pss1, &pair.public, Signed::Digest(&digest), &s).unwrap();
        assert!(sign_input(pss1, &pair.private, Signed::Digest(&[0; 19])).is_err());
    }

    #[test]
    fn digests_sign_and_verify_like_their_messages() {
        let rsa_pair = generate(KeyPairSpec::Rsa(2048)).unwrap();
        let ec_pair = generate(KeyPairSpec::Ec(Curve::P384)).unwrap();
        for (alg, pair) in [
            (
                SignatureAlgorithm::RsaPkcs1v15(HashAlgorithm::Sha256),
                &rsa_pair,
            ),
            (SignatureAlgorithm::RsaPss(HashAlgorithm::Sha512), &rsa_pair),
            (SignatureAlgorithm::Ecdsa(HashAlgorithm::Sha384), &ec_pair),
        ] {
            let hash = hash_of(alg).unwrap();
            let digest = crate::crypto::digest::digest(hash, b"message");
            let s = sign_input(alg, &pair.private, Signed::Digest(&digest)).unwrap();
            verify(alg, &pair.public, b"message", &s).unwrap();
            let s = sign(alg, &pair.private, b"message").unwrap();
            verify_input(alg, &pair.public, Signed::Digest(&digest), &s).unwrap();
            assert_eq!(
                verify_input(alg, &pair.public, Signed::Digest(&[0; 4]), &s),
                Err(CryptoError::InvalidInput(format!(
                    "a {hash:?} digest is {} bytes, not 4",
                    hash.output_len()
                )))
            );
        }
        let ed = generate(KeyPairSpec::Ed25519).unwrap();
        assert!(matches!(
            sign_input(
                SignatureAlgorithm::Ed25519,
                &ed.private,
                Signed::Digest(&[0; 32])
            ),
            Err(CryptoError::Unsupported(_))
        ));
    }

    #[test]
    fn ecdsa_on_each_curve_with_its_hash() {
        for (curve, hash) in [
            (Curve::P256, HashAlgorithm::Sha256),
            (Curve::P384, HashAlgorithm::Sha384),
            (Curve::P521, HashAlgorithm::Sha512),
        ] {
            let pair = generate(KeyPairSpec::Ec(curve)).unwrap();
            let alg = SignatureAlgorithm::Ecdsa(hash);
            let s = sign(alg, &pair.private, b"data").unwrap();
            verify(alg, &pair.public, b"data", &s).unwrap();
            assert_eq!(
                verify(alg, &pair.public, b"datb", &s),
                Err(CryptoError::IntegrityCheckFailed)
            );
        }
        let p256 = generate(KeyPairSpec::Ec(Curve::P256)).unwrap();
        assert!(matches!(
            sign(
                SignatureAlgorithm::Ecdsa(HashAlgorithm::Sha512),
                &p256.private,
                b"d"
            ),
            Err(CryptoError::Unsupported(_))
        ));
        assert!(
            verify(
                SignatureAlgorithm::Ecdsa(HashAlgorithm::Sha256),
                b"junk",
                b"d",
                b"s"
            )
            .is_err()
        );
    }
}
