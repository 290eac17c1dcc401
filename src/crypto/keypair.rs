//! Asymmetric key generation (KMIP Create Key Pair) and conversions between the encodings KMIP
//! clients ask for: PKCS#1, PKCS#8, X.509 SubjectPublicKeyInfo, SEC1 EC private key and raw.
//!
//! Generation and every conversion that involves key arithmetic or encoding rules is
//! aws-lc-rs's. The one thing it lacks is "give me the PKCS#1 RSAPrivateKey inside this
//! PKCS#8": that is reading the third element of a DER SEQUENCE, done with der-parser (already in
//! the tree through x509-parser), not by hand.

use aws_lc_rs::agreement;
use aws_lc_rs::encoding::{AsBigEndian, AsDer, Curve25519SeedBin, EcPrivateKeyRfc5915Der};
use aws_lc_rs::rsa::{self, KeySize};
use aws_lc_rs::signature::{
    self, ECDSA_P256_SHA256_ASN1_SIGNING, ECDSA_P384_SHA384_ASN1_SIGNING,
    ECDSA_P521_SHA512_ASN1_SIGNING, EcdsaKeyPair, EcdsaSigningAlgorithm, Ed25519KeyPair,
    KeyPair as _,
};
use zeroize::Zeroizing;

use super::CryptoError;

/// A NIST curve Keyward generates keys on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Curve {
    P256,
    P384,
    P521,
}

impl Curve {
    pub const ALL: [Curve; 3] = [Curve::P256, Curve::P384, Curve::P521];

    /// The signing algorithm aws-lc-rs binds the curve to (the hash is chosen per signature).
    pub(crate) fn signing(self) -> &'static EcdsaSigningAlgorithm {
        match self {
            Curve::P256 => &ECDSA_P256_SHA256_ASN1_SIGNING,
            Curve::P384 => &ECDSA_P384_SHA384_ASN1_SIGNING,
            Curve::P521 => &ECDSA_P521_SHA512_ASN1_SIGNING,
        }
    }

    pub fn bits(self) -> u32 {
        match self {
            Curve::P256 => 256,
            Curve::P384 => 384,
            Curve::P521 => 521,
        }
    }
}

/// What to generate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyPairSpec {
    /// 2048, 3072, 4096 or 8192 bits.
    Rsa(u32),
    /// One key serves ECDSA and ECDH; the usage mask tells them apart.
    Ec(Curve),
    Ed25519,
    X25519,
}

/// How a generated pair is encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PairEncoding {
    /// Private key PKCS#8, public key SubjectPublicKeyInfo.
    Pkcs8Spki,
    /// 32-byte private scalar and 32-byte public u-coordinate (X25519: aws-lc-rs writes no
    /// PKCS#8 for it).
    Raw,
}

/// A generated key pair. `Debug` shows the encoding and public key only.
pub struct KeyPairMaterial {
    pub encoding: PairEncoding,
    pub private: Zeroizing<Vec<u8>>,
    pub public: Vec<u8>,
}

impl std::fmt::Debug for KeyPairMaterial {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyPairMaterial")
            .field("encoding", &self.encoding)
            .field("private", &"<redacted>")
            .field("public_len", &self.public.len())
            .finish()
    }
}

fn rejected(what: &'static str) -> impl Fn(aws_lc_rs::error::KeyRejected) -> CryptoError {
    move |_| CryptoError::KeyRejected(what)
}

/// Generates a key pair. RSA-4096 takes a second or more: callers keep it off event loops.
pub fn generate(spec: KeyPairSpec) -> Result<KeyPairMaterial, CryptoError> {
    match spec {
        KeyPairSpec::Rsa(bits) => {
            let size = match bits {
                2048 => KeySize::Rsa2048,
                3072 => KeySize::Rsa3072,
                4096 => KeySize::Rsa4096,
                8192 => KeySize::Rsa8192,
                _ => return Err(CryptoError::Unsupported(format!("RSA-{bits}"))),
            };
            let pair = rsa::KeyPair::generate(size)?;
            Ok(KeyPairMaterial {
                encoding: PairEncoding::Pkcs8Spki,
                private: Zeroizing::new(pair.as_der()?.as_ref().to_vec()),
                public: pair.public_key().as_der()?.as_ref().to_vec(),
            })
        }
        KeyPairSpec::Ec(curve) => {
            let pair = EcdsaKeyPair::generate(curve.signing())?;
            Ok(KeyPairMaterial {
                encoding: PairEncoding::Pkcs8Spki,
                private: Zeroizing::new(pair.to_pkcs8v1()?.as_ref().to_vec()),
                public: pair.public_key().as_der()?.as_ref().to_vec(),
            })
        }
        KeyPairSpec::Ed25519 => {
            let pair = Ed25519KeyPair::generate()?;
            let pkcs8: aws_lc_rs::encoding::Pkcs8V1Der = pair.as_der()?;
            Ok(KeyPairMaterial {
                encoding: PairEncoding::Pkcs8Spki,
                private: Zeroizing::new(pkcs8.as_ref().to_vec()),
                public: pair.public_key().as_der()?.as_ref().to_vec(),
            })
        }
        KeyPairSpec::X25519 => {
            let private = agreement::PrivateKey::generate(&agreement::X25519)?;
            let seed: Curve25519SeedBin = private.as_be_bytes()?;
            Ok(KeyPairMaterial {
                encoding: PairEncoding::Raw,
                private: Zeroizing::new(seed.as_ref().to_vec()),
                public: private.compute_public_key()?.as_ref().to_vec(),
            })
        }
    }
}

/// An RSA private key (PKCS#1 RSAPrivateKey or PKCS#8) as PKCS#8.
pub fn rsa_private_to_pkcs8(der: &[u8]) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    let pair = rsa::KeyPair::from_pkcs8(der)
        .or_else(|_| rsa::KeyPair::from_der(der))
        .map_err(rejected("RSA private key"))?;
    Ok(Zeroizing::new(pair.as_der()?.as_ref().to_vec()))
}

/// An RSA private key (PKCS#8 or PKCS#1) as PKCS#1 RSAPrivateKey.
pub fn rsa_private_to_pkcs1(der: &[u8]) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    if rsa::KeyPair::from_der(der).is_ok() {
        return Ok(Zeroizing::new(der.to_vec()));
    }
    let pkcs8 = rsa_private_to_pkcs8(der)?;
    // PrivateKeyInfo ::= SEQUENCE { version, algorithm, privateKey OCTET STRING, ... }
    let bad = || CryptoError::KeyRejected("PKCS#8 private key");
    let (_, info) = x509_parser::der_parser::parse_der(&pkcs8).map_err(|_| bad())?;
    let fields = info.as_sequence().map_err(|_| bad())?;
    let inner = fields
        .get(2)
        .ok_or_else(bad)?
        .as_slice()
        .map_err(|_| bad())?;
    rsa::KeyPair::from_der(inner).map_err(rejected("RSA private key"))?;
    Ok(Zeroizing::new(inner.to_vec()))
}

/// An RSA public key (SubjectPublicKeyInfo or PKCS#1 RSAPublicKey) as PKCS#1 RSAPublicKey.
pub fn rsa_public_to_pkcs1(der: &[u8]) -> Result<Vec<u8>, CryptoError> {
    let key = rsa::PublicKey::from_der(der).map_err(rejected("RSA public key"))?;
    Ok(key.as_ref().to_vec())
}

/// An RSA public key (PKCS#1 or SubjectPublicKeyInfo) as SubjectPublicKeyInfo.
pub fn rsa_public_to_spki(der: &[u8]) -> Result<Vec<u8>, CryptoError> {
    let key = rsa::PublicKey::from_der(der).map_err(rejected("RSA public key"))?;
    Ok(key.as_der()?.as_ref().to_vec())
}

/// The curve and key pair of an EC private key in PKCS#8 or SEC1 (RFC 5915) form.
pub(crate) fn ec_pair(der: &[u8]) -> Result<(Curve, EcdsaKeyPair), CryptoError> {
    for curve in Curve::ALL {
        if let Ok(pair) = EcdsaKeyPair::from_pkcs8(curve.signing(), der)
            .or_else(|_| EcdsaKeyPair::from_private_key_der(curve.signing(), der))
        {
            return Ok((curve, pair));
        }
    }
    Err(CryptoError::KeyRejected(
        "EC private key on P-256, P-384 or P-521",
    ))
}

/// An EC private key (SEC1 or PKCS#8) as PKCS#8.
pub fn ec_private_to_pkcs8(der: &[u8]) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    let (_, pair) = ec_pair(der)?;
    Ok(Zeroizing::new(pair.to_pkcs8v1()?.as_ref().to_vec()))
}

/// An EC private key (PKCS#8 or SEC1) as SEC1 ECPrivateKey (RFC 5915).
pub fn ec_private_to_sec1(der: &[u8]) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    let (_, pair) = ec_pair(der)?;
    let sec1: EcPrivateKeyRfc5915Der = pair.private_key().as_der()?;
    Ok(Zeroizing::new(sec1.as_ref().to_vec()))
}

/// An Ed25519 private key from its 32-byte seed (KMIP Raw), as PKCS#8.
pub fn ed25519_seed_to_pkcs8(seed: &[u8]) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    let pair = Ed25519KeyPair::from_seed_unchecked(seed).map_err(rejected("Ed25519 seed"))?;
    let pkcs8: aws_lc_rs::encoding::Pkcs8V1Der = pair.as_der()?;
    Ok(Zeroizing::new(pkcs8.as_ref().to_vec()))
}

/// The 32-byte seed of an Ed25519 PKCS#8 private key.
pub fn ed25519_pkcs8_to_seed(pkcs8: &[u8]) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    let pair = Ed25519KeyPair::from_pkcs8_maybe_unchecked(pkcs8)
        .map_err(rejected("Ed25519 PKCS#8 key"))?;
    let seed: Curve25519SeedBin = pair.seed()?.as_be_bytes()?;
    Ok(Zeroizing::new(seed.as_ref().to_vec()))
}

/// The SubjectPublicKeyInfo of a PKCS#8 private key (RSA, EC or Ed25519), or of a PKCS#1 RSA /
/// SEC1 EC private key.
pub fn public_spki_of_private(der: &[u8]) -> Result<Vec<u8>, CryptoError> {
    if let Ok(pair) = rsa::KeyPair::from_pkcs8(der).or_else(|_| rsa::KeyPair::from_der(der)) {
        return Ok(pair.public_key().as_der()?.as_ref().to_vec());
    }
    if let Ok((_, pair)) = ec_pair(der) {
        return Ok(pair.public_key().as_der()?.as_ref().to_vec());
    }
    if let Ok(pair) = Ed25519KeyPair::from_pkcs8_maybe_unchecked(der) {
        return Ok(pair.public_key().as_der()?.as_ref().to_vec());
    }
    Err(CryptoError::KeyRejected("RSA, EC or Ed25519 private key"))
}

/// The raw X25519 public key of a 32-byte private scalar.
pub fn x25519_public_of_private(private: &[u8]) -> Result<Vec<u8>, CryptoError> {
    let key = agreement::PrivateKey::from_private_key(&agreement::X25519, private)
        .map_err(|_| CryptoError::KeyRejected("X25519 private key"))?;
    Ok(key.compute_public_key()?.as_ref().to_vec())
}

/// Re-exported so callers can check a public key parses for its algorithm without naming
/// aws-lc-rs.
pub fn ed25519_public_is_valid(spki_or_raw: &[u8]) -> bool {
    signature::ParsedPublicKey::new(&signature::ED25519, spki_or_raw).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rsa_2048_generates_and_converts_between_pkcs1_and_pkcs8() {
        let pair = generate(KeyPairSpec::Rsa(2048)).unwrap();
        assert_eq!(pair.encoding, PairEncoding::Pkcs8Spki);
        let pkcs1 = rsa_private_to_pkcs1(&pair.private).unwrap();
        assert_ne!(*pkcs1, *pair.private);
        let back = rsa_private_to_pkcs8(&pkcs1).unwrap();
        assert_eq!(*back, *pair.private);
        let pub1 = rsa_public_to_pkcs1(&pair.public).unwrap();
        assert_eq!(rsa_public_to_spki(&pub1).unwrap(), pair.public);
        assert_eq!(public_spki_of_private(&pkcs1).unwrap(), pair.public);
        assert!(!format!("{pair:?}").contains(&hex::encode(&pair.private[..8])));
    }

    #[test]
    fn ec_keys_on_every_curve_convert_between_sec1_and_pkcs8() {
        for curve in Curve::ALL {
            let pair = generate(KeyPairSpec::Ec(curve)).unwrap();
            let sec1 = ec_private_to_sec1(&pair.private).unwrap();
            let (found, _) = ec_pair(&sec1).unwrap();
            assert_eq!(found, curve);
            assert_eq!(
                public_spki_of_private(&ec_private_to_pkcs8(&sec1).unwrap()).unwrap(),
                pair.public
            );
        }
    }

    #[test]
    fn ed25519_and_x25519() {
        let pair = generate(KeyPairSpec::Ed25519).unwrap();
        let seed = ed25519_pkcs8_to_seed(&pair.private).unwrap();
        assert_eq!(seed.len(), 32);
        let again = ed25519_seed_to_pkcs8(&seed).unwrap();
        assert_eq!(public_spki_of_private(&again).unwrap(), pair.public);
        assert!(ed25519_public_is_valid(&pair.public));

        let x = generate(KeyPairSpec::X25519).unwrap();
        assert_eq!(x.encoding, PairEncoding::Raw);
        assert_eq!((x.private.len(), x.public.len()), (32, 32));
        assert_eq!(x25519_public_of_private(&x.private).unwrap(), x.public);
    }

    #[test]
    fn garbage_and_unsupported_sizes_are_refused() {
        assert!(matches!(
            generate(KeyPairSpec::Rsa(1000)),
            Err(CryptoError::Unsupported(_))
        ));
        assert!(rsa_private_to_pkcs1(b"not a key").is_err());
        assert!(rsa_public_to_spki(&[0x30, 0x00]).is_err());
        assert!(ec_private_to_sec1(&[]).is_err());
        assert!(public_spki_of_private(&[1, 2, 3]).is_err());
        assert!(ed25519_seed_to_pkcs8(&[0; 5]).is_err());
    }
}
