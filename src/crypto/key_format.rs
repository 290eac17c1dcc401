//! Conversions between the encodings KMIP clients ask for public and private keys in: PKCS#1,
//! PKCS#8, X.509 SubjectPublicKeyInfo, SEC1 / RFC 5915 EC private keys, raw points and seeds,
//! and the integers of the Transparent formats. Pure functions over bytes: nothing here knows
//! KMIP items, the store or the engine (`crate::engine::ops::key_format` maps KMIP onto this).
//!
//! Why a file of its own beside `keypair.rs`: that file generates keys and hands the crypto
//! services the encodings aws-lc-rs reads; this one answers "the same key, in that encoding",
//! for any key a client registered, and says which conversions are impossible.
//!
//! Every key passes through one canonical form per kind ([`AsymmetricKey`]): PKCS#1 for RSA,
//! SEC1 plus curve for EC private keys, the uncompressed point for EC public keys, 32 raw bytes
//! for Ed25519 and X25519. What aws-lc-rs can do is done by aws-lc-rs: EC private keys (SEC1 ↔
//! PKCS#8 ↔ scalar, the public key computed from the scalar), EC and Ed25519 public keys (point
//! or SPKI, validated on the curve), Ed25519 seeds ↔ PKCS#8. What it cannot do is plain DER
//! re-wrapping of the same bytes, done with der-parser (reading; already in the tree through
//! x509-parser, bounded recursion) and yasna (writing; already in the tree through rcgen):
//! - RSA: aws-lc-rs exposes no key components and refuses keys under 2048 bits, which clients
//!   still register (the OASIS Baseline vectors register a 1024-bit key). PKCS#1 ↔ PKCS#8 ↔
//!   SubjectPublicKeyInfo is one fixed wrapper around the same RSAPrivateKey / RSAPublicKey; the
//!   unit tests check the output is byte-identical to aws-lc-rs's for the keys it accepts.
//! - X25519: aws-lc-rs writes no PKCS#8 or SubjectPublicKeyInfo for X25519 (RFC 8410 wrappers).
//!
//! Secrets: private material is returned in `Zeroizing` buffers; the DER writer's own growth
//! copies are not zeroized (yasna builds into a plain `Vec`), the same trade-off as aws-lc-rs's
//! `Document`s. Errors name the encoding at fault, never bytes.

use aws_lc_rs::agreement;
use aws_lc_rs::encoding::{AsBigEndian, AsDer, EcPrivateKeyBin, EcPrivateKeyRfc5915Der};
use aws_lc_rs::signature::{self, ParsedPublicKey};
use x509_parser::der_parser::ber::{BerObject, BerObjectContent};
use x509_parser::der_parser::parse_der;
use yasna::models::ObjectIdentifier;
use zeroize::Zeroizing;

use super::CryptoError;
use super::keypair::{self, Curve};

/// The kind of key a Cryptographic Algorithm names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyFamily {
    Rsa,
    /// NIST P-256, P-384 or P-521 (the curve comes from the key itself).
    Ec,
    Ed25519,
    X25519,
}

/// A byte encoding of a key (the Transparent formats are integers; see the `*_parts`
/// functions).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// RSAPrivateKey / RSAPublicKey (RFC 8017 appendix A.1).
    Pkcs1,
    /// PrivateKeyInfo (RFC 5208 / 5958).
    Pkcs8,
    /// SubjectPublicKeyInfo (RFC 5280).
    Spki,
    /// ECPrivateKey (SEC1, RFC 5915).
    Sec1,
    /// An uncompressed EC point, or the 32 bytes of an Ed25519 / X25519 key.
    Raw,
}

/// A public or private key in its canonical form. `Debug` shows the kind only.
pub enum AsymmetricKey {
    /// PKCS#1 RSAPrivateKey DER.
    RsaPrivate(Zeroizing<Vec<u8>>),
    /// PKCS#1 RSAPublicKey DER.
    RsaPublic(Vec<u8>),
    /// SEC1 ECPrivateKey DER (with curve parameters and public key).
    EcPrivate(Curve, Zeroizing<Vec<u8>>),
    /// Uncompressed point (0x04 || X || Y).
    EcPublic(Curve, Vec<u8>),
    /// 32-byte seed.
    Ed25519Private(Zeroizing<Vec<u8>>),
    Ed25519Public(Vec<u8>),
    /// 32-byte scalar.
    X25519Private(Zeroizing<Vec<u8>>),
    X25519Public(Vec<u8>),
}

impl std::fmt::Debug for AsymmetricKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match self {
            AsymmetricKey::RsaPrivate(_) => "RSA private key",
            AsymmetricKey::RsaPublic(_) => "RSA public key",
            AsymmetricKey::EcPrivate(..) => "EC private key",
            AsymmetricKey::EcPublic(..) => "EC public key",
            AsymmetricKey::Ed25519Private(_) => "Ed25519 private key",
            AsymmetricKey::Ed25519Public(_) => "Ed25519 public key",
            AsymmetricKey::X25519Private(_) => "X25519 private key",
            AsymmetricKey::X25519Public(_) => "X25519 public key",
        };
        f.write_str(kind)
    }
}

impl AsymmetricKey {
    pub fn is_private(&self) -> bool {
        matches!(
            self,
            AsymmetricKey::RsaPrivate(_)
                | AsymmetricKey::EcPrivate(..)
                | AsymmetricKey::Ed25519Private(_)
                | AsymmetricKey::X25519Private(_)
        )
    }

    pub fn family(&self) -> KeyFamily {
        match self {
            AsymmetricKey::RsaPrivate(_) | AsymmetricKey::RsaPublic(_) => KeyFamily::Rsa,
            AsymmetricKey::EcPrivate(..) | AsymmetricKey::EcPublic(..) => KeyFamily::Ec,
            AsymmetricKey::Ed25519Private(_) | AsymmetricKey::Ed25519Public(_) => {
                KeyFamily::Ed25519
            }
            AsymmetricKey::X25519Private(_) | AsymmetricKey::X25519Public(_) => KeyFamily::X25519,
        }
    }
}

/// The integers of an RSA private key (unsigned big-endian, no leading zeros).
pub struct RsaPrivateParts {
    pub modulus: Vec<u8>,
    pub public_exponent: Vec<u8>,
    pub private_exponent: Zeroizing<Vec<u8>>,
    pub p: Zeroizing<Vec<u8>>,
    pub q: Zeroizing<Vec<u8>>,
    pub prime_exponent_p: Zeroizing<Vec<u8>>,
    pub prime_exponent_q: Zeroizing<Vec<u8>>,
    pub crt_coefficient: Zeroizing<Vec<u8>>,
}

/// The integers of an RSA public key (unsigned big-endian, no leading zeros).
pub struct RsaPublicParts {
    pub modulus: Vec<u8>,
    pub public_exponent: Vec<u8>,
}

const OID_RSA: &[u64] = &[1, 2, 840, 113549, 1, 1, 1];
const OID_EC_PUBLIC_KEY: &str = "1.2.840.10045.2.1";
const OID_RSA_TEXT: &str = "1.2.840.113549.1.1.1";
const OID_ED25519: &str = "1.3.101.112";
const OID_X25519_TEXT: &str = "1.3.101.110";
const OID_X25519: &[u64] = &[1, 3, 101, 110];

fn malformed(what: &'static str) -> CryptoError {
    CryptoError::KeyRejected(what)
}

fn impossible(key: &AsymmetricKey, encoding: Encoding) -> CryptoError {
    CryptoError::Unsupported(format!("{key:?} in encoding {encoding:?}"))
}

// ---------------------------------------------------------------------------------------------
// Reading DER (der-parser: bounded recursion, no panics on hostile input)
// ---------------------------------------------------------------------------------------------

/// The one DER object `der` holds, nothing after it.
fn whole<'a>(der: &'a [u8], what: &'static str) -> Result<BerObject<'a>, CryptoError> {
    match parse_der(der) {
        Ok(([], obj)) => Ok(obj),
        _ => Err(malformed(what)),
    }
}

fn sequence<'a, 'b>(
    obj: &'b BerObject<'a>,
    what: &'static str,
) -> Result<&'b [BerObject<'a>], CryptoError> {
    obj.as_sequence()
        .map(|v| v.as_slice())
        .map_err(|_| malformed(what))
}

/// An INTEGER's magnitude: non-negative, leading zero bytes dropped.
fn unsigned(obj: &BerObject, what: &'static str) -> Result<Vec<u8>, CryptoError> {
    let BerObjectContent::Integer(bytes) = obj.content else {
        return Err(malformed(what));
    };
    if bytes.first().is_some_and(|b| b & 0x80 != 0) {
        return Err(malformed(what));
    }
    let start = bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len());
    Ok(bytes[start..].to_vec())
}

fn small_integer(obj: &BerObject, what: &'static str) -> Result<u32, CryptoError> {
    obj.as_u32().map_err(|_| malformed(what))
}

fn octets<'a>(obj: &BerObject<'a>, what: &'static str) -> Result<&'a [u8], CryptoError> {
    match obj.content {
        BerObjectContent::OctetString(bytes) => Ok(bytes),
        _ => Err(malformed(what)),
    }
}

fn bits<'a>(obj: &BerObject<'a>, what: &'static str) -> Result<&'a [u8], CryptoError> {
    match &obj.content {
        BerObjectContent::BitString(0, b) => Ok(b.data),
        _ => Err(malformed(what)),
    }
}

/// The algorithm OID (dotted) of an AlgorithmIdentifier.
fn algorithm_oid(obj: &BerObject, what: &'static str) -> Result<String, CryptoError> {
    let fields = sequence(obj, what)?;
    let oid = fields
        .first()
        .and_then(|o| o.as_oid().ok())
        .ok_or_else(|| malformed(what))?;
    Ok(oid.to_id_string())
}

/// PrivateKeyInfo: (algorithm OID, privateKey octets). Attributes and a v2 public key after
/// them are allowed and ignored.
fn read_pkcs8(der: &[u8]) -> Result<(String, Zeroizing<Vec<u8>>), CryptoError> {
    const WHAT: &str = "PKCS#8 PrivateKeyInfo";
    let obj = whole(der, WHAT)?;
    let fields = sequence(&obj, WHAT)?;
    let [version, algorithm, key, ..] = fields else {
        return Err(malformed(WHAT));
    };
    if small_integer(version, WHAT)? > 1 {
        return Err(malformed(WHAT));
    }
    Ok((
        algorithm_oid(algorithm, WHAT)?,
        Zeroizing::new(octets(key, WHAT)?.to_vec()),
    ))
}

/// SubjectPublicKeyInfo: (algorithm OID, subjectPublicKey bits).
fn read_spki(der: &[u8]) -> Result<(String, Vec<u8>), CryptoError> {
    const WHAT: &str = "SubjectPublicKeyInfo";
    let obj = whole(der, WHAT)?;
    let fields = sequence(&obj, WHAT)?;
    let [algorithm, key] = fields else {
        return Err(malformed(WHAT));
    };
    Ok((algorithm_oid(algorithm, WHAT)?, bits(key, WHAT)?.to_vec()))
}

// ---------------------------------------------------------------------------------------------
// Writing DER (yasna)
// ---------------------------------------------------------------------------------------------

/// PrivateKeyInfo v1 around `key`, with NULL parameters when `null_parameters` (RSA) and none
/// otherwise (RFC 8410 keys).
fn write_pkcs8(oid: &[u64], null_parameters: bool, key: &[u8]) -> Zeroizing<Vec<u8>> {
    Zeroizing::new(yasna::construct_der(|w| {
        w.write_sequence(|w| {
            w.next().write_u8(0);
            w.next().write_sequence(|w| {
                w.next().write_oid(&ObjectIdentifier::from_slice(oid));
                if null_parameters {
                    w.next().write_null();
                }
            });
            w.next().write_bytes(key);
        })
    }))
}

fn write_spki(oid: &[u64], null_parameters: bool, key: &[u8]) -> Vec<u8> {
    yasna::construct_der(|w| {
        w.write_sequence(|w| {
            w.next().write_sequence(|w| {
                w.next().write_oid(&ObjectIdentifier::from_slice(oid));
                if null_parameters {
                    w.next().write_null();
                }
            });
            w.next().write_bitvec_bytes(key, key.len() * 8);
        })
    })
}

// ---------------------------------------------------------------------------------------------
// RSA (structural: see the file header)
// ---------------------------------------------------------------------------------------------

/// The integers of a PKCS#1 RSAPrivateKey (two-prime, version 0).
pub fn rsa_private_parts(pkcs1: &[u8]) -> Result<RsaPrivateParts, CryptoError> {
    const WHAT: &str = "PKCS#1 RSAPrivateKey";
    let obj = whole(pkcs1, WHAT)?;
    let fields = sequence(&obj, WHAT)?;
    let [version, n, e, d, p, q, dp, dq, qinv] = fields else {
        return Err(malformed(WHAT));
    };
    if small_integer(version, WHAT)? != 0 {
        return Err(CryptoError::Unsupported("multi-prime RSA keys".into()));
    }
    let secret = |o: &BerObject| unsigned(o, WHAT).map(Zeroizing::new);
    let parts = RsaPrivateParts {
        modulus: unsigned(n, WHAT)?,
        public_exponent: unsigned(e, WHAT)?,
        private_exponent: secret(d)?,
        p: secret(p)?,
        q: secret(q)?,
        prime_exponent_p: secret(dp)?,
        prime_exponent_q: secret(dq)?,
        crt_coefficient: secret(qinv)?,
    };
    if parts.modulus.is_empty() || parts.public_exponent.is_empty() {
        return Err(malformed(WHAT));
    }
    Ok(parts)
}

/// A PKCS#1 RSAPrivateKey from its integers (unsigned big-endian; leading zeros allowed).
pub fn rsa_private_from_parts(parts: &RsaPrivateParts) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    let all: [&[u8]; 8] = [
        &parts.modulus,
        &parts.public_exponent,
        &parts.private_exponent,
        &parts.p,
        &parts.q,
        &parts.prime_exponent_p,
        &parts.prime_exponent_q,
        &parts.crt_coefficient,
    ];
    if all.iter().any(|v| v.iter().all(|b| *b == 0)) {
        return Err(CryptoError::InvalidInput(
            "an RSA private key needs every integer, none of them zero".into(),
        ));
    }
    Ok(Zeroizing::new(yasna::construct_der(|w| {
        w.write_sequence(|w| {
            w.next().write_u8(0);
            for v in all {
                w.next().write_bigint_bytes(v, true);
            }
        })
    })))
}

/// The integers of a PKCS#1 RSAPublicKey.
pub fn rsa_public_parts(pkcs1: &[u8]) -> Result<RsaPublicParts, CryptoError> {
    const WHAT: &str = "PKCS#1 RSAPublicKey";
    let obj = whole(pkcs1, WHAT)?;
    let [n, e] = sequence(&obj, WHAT)? else {
        return Err(malformed(WHAT));
    };
    let parts = RsaPublicParts {
        modulus: unsigned(n, WHAT)?,
        public_exponent: unsigned(e, WHAT)?,
    };
    if parts.modulus.is_empty() || parts.public_exponent.is_empty() {
        return Err(malformed(WHAT));
    }
    Ok(parts)
}

/// A PKCS#1 RSAPublicKey from its integers.
pub fn rsa_public_from_parts(parts: &RsaPublicParts) -> Result<Vec<u8>, CryptoError> {
    let zero = |v: &[u8]| v.iter().all(|b| *b == 0);
    if zero(&parts.modulus) || zero(&parts.public_exponent) {
        return Err(CryptoError::InvalidInput(
            "an RSA public key needs a modulus and a public exponent".into(),
        ));
    }
    Ok(yasna::construct_der(|w| {
        w.write_sequence(|w| {
            w.next().write_bigint_bytes(&parts.modulus, true);
            w.next().write_bigint_bytes(&parts.public_exponent, true);
        })
    }))
}

fn read_rsa_private(encoding: Encoding, der: &[u8]) -> Result<AsymmetricKey, CryptoError> {
    let pkcs1 = match encoding {
        Encoding::Pkcs1 => Zeroizing::new(der.to_vec()),
        Encoding::Pkcs8 => {
            let (oid, inner) = read_pkcs8(der)?;
            if oid != OID_RSA_TEXT {
                return Err(malformed("PKCS#8 RSA private key"));
            }
            inner
        }
        other => {
            return Err(CryptoError::Unsupported(format!(
                "RSA private keys in encoding {other:?}"
            )));
        }
    };
    rsa_private_parts(&pkcs1)?;
    Ok(AsymmetricKey::RsaPrivate(pkcs1))
}

fn read_rsa_public(encoding: Encoding, der: &[u8]) -> Result<AsymmetricKey, CryptoError> {
    let pkcs1 = match encoding {
        Encoding::Pkcs1 => der.to_vec(),
        Encoding::Spki => {
            let (oid, inner) = read_spki(der)?;
            if oid != OID_RSA_TEXT {
                return Err(malformed("SubjectPublicKeyInfo of an RSA key"));
            }
            inner
        }
        other => {
            return Err(CryptoError::Unsupported(format!(
                "RSA public keys in encoding {other:?}"
            )));
        }
    };
    rsa_public_parts(&pkcs1)?;
    Ok(AsymmetricKey::RsaPublic(pkcs1))
}

// ---------------------------------------------------------------------------------------------
// EC on NIST curves (aws-lc-rs)
// ---------------------------------------------------------------------------------------------

fn verification(curve: Curve) -> &'static signature::EcdsaVerificationAlgorithm {
    match curve {
        Curve::P256 => &signature::ECDSA_P256_SHA256_ASN1,
        Curve::P384 => &signature::ECDSA_P384_SHA384_ASN1,
        Curve::P521 => &signature::ECDSA_P521_SHA512_ASN1,
    }
}

fn agreement_of(curve: Curve) -> &'static agreement::Algorithm {
    match curve {
        Curve::P256 => &agreement::ECDH_P256,
        Curve::P384 => &agreement::ECDH_P384,
        Curve::P521 => &agreement::ECDH_P521,
    }
}

/// Private scalar length of a curve in bytes.
pub fn scalar_len(curve: Curve) -> usize {
    (curve.bits() as usize).div_ceil(8)
}

/// The private scalar of an EC private key (SEC1 or PKCS#8), big-endian, fixed length.
pub fn ec_private_scalar(der: &[u8]) -> Result<(Curve, Zeroizing<Vec<u8>>), CryptoError> {
    let (curve, pair) = keypair::ec_pair(der)?;
    let bin: EcPrivateKeyBin = pair.private_key().as_be_bytes()?;
    Ok((curve, Zeroizing::new(bin.as_ref().to_vec())))
}

/// A SEC1 ECPrivateKey (curve parameters and public key included) from the private scalar
/// `d`: big-endian, leading zeros optional.
pub fn ec_private_from_scalar(curve: Curve, d: &[u8]) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    let len = scalar_len(curve);
    let start = d.iter().position(|b| *b != 0).unwrap_or(d.len());
    let significant = &d[start..];
    if significant.is_empty() || significant.len() > len {
        return Err(CryptoError::KeyRejected("EC private scalar for the curve"));
    }
    let mut fixed = Zeroizing::new(vec![0u8; len]);
    fixed[len - significant.len()..].copy_from_slice(significant);
    let key = agreement::PrivateKey::from_private_key(agreement_of(curve), &fixed)
        .map_err(|_| CryptoError::KeyRejected("EC private scalar for the curve"))?;
    let sec1: EcPrivateKeyRfc5915Der = key.as_der()?;
    Ok(Zeroizing::new(sec1.as_ref().to_vec()))
}

/// The curve and canonical (uncompressed) point of an EC public key given as SPKI or as a
/// point (compressed or not), checked to lie on the curve.
fn ec_public(bytes: &[u8]) -> Result<(Curve, Vec<u8>), CryptoError> {
    for curve in Curve::ALL {
        if let Ok(parsed) = ParsedPublicKey::new(verification(curve), bytes) {
            let spki = parsed.as_der()?;
            let (_, point) = read_spki(spki.as_ref())?;
            return Ok((curve, point));
        }
    }
    Err(CryptoError::KeyRejected(
        "EC public key on P-256, P-384 or P-521",
    ))
}

fn read_ec_private(encoding: Encoding, der: &[u8]) -> Result<AsymmetricKey, CryptoError> {
    match encoding {
        Encoding::Sec1 | Encoding::Pkcs8 => {
            let (curve, pair) = keypair::ec_pair(der)?;
            let sec1: EcPrivateKeyRfc5915Der = pair.private_key().as_der()?;
            Ok(AsymmetricKey::EcPrivate(
                curve,
                Zeroizing::new(sec1.as_ref().to_vec()),
            ))
        }
        other => Err(CryptoError::Unsupported(format!(
            "EC private keys in encoding {other:?}"
        ))),
    }
}

fn read_ec_public(encoding: Encoding, bytes: &[u8]) -> Result<AsymmetricKey, CryptoError> {
    match encoding {
        Encoding::Spki => {
            let (oid, _) = read_spki(bytes)?;
            if oid != OID_EC_PUBLIC_KEY {
                return Err(malformed("SubjectPublicKeyInfo of an EC key"));
            }
        }
        Encoding::Raw if bytes.first().is_some_and(|b| matches!(b, 0x02..=0x04)) => {}
        Encoding::Raw => return Err(malformed("EC point")),
        other => {
            return Err(CryptoError::Unsupported(format!(
                "EC public keys in encoding {other:?}"
            )));
        }
    }
    let (curve, point) = ec_public(bytes)?;
    Ok(AsymmetricKey::EcPublic(curve, point))
}

// ---------------------------------------------------------------------------------------------
// Ed25519 (aws-lc-rs) and X25519 (aws-lc-rs checks, RFC 8410 wrappers by hand)
// ---------------------------------------------------------------------------------------------

fn read_ed25519_private(encoding: Encoding, bytes: &[u8]) -> Result<AsymmetricKey, CryptoError> {
    let seed = match encoding {
        Encoding::Pkcs8 => keypair::ed25519_pkcs8_to_seed(bytes)?,
        Encoding::Raw if bytes.len() == 32 => {
            keypair::ed25519_seed_to_pkcs8(bytes)?;
            Zeroizing::new(bytes.to_vec())
        }
        Encoding::Raw => return Err(malformed("Ed25519 seed (32 bytes)")),
        other => {
            return Err(CryptoError::Unsupported(format!(
                "Ed25519 private keys in encoding {other:?}"
            )));
        }
    };
    Ok(AsymmetricKey::Ed25519Private(seed))
}

fn read_ed25519_public(encoding: Encoding, bytes: &[u8]) -> Result<AsymmetricKey, CryptoError> {
    match encoding {
        Encoding::Spki => {
            let (oid, _) = read_spki(bytes)?;
            if oid != OID_ED25519 {
                return Err(malformed("SubjectPublicKeyInfo of an Ed25519 key"));
            }
        }
        Encoding::Raw if bytes.len() == 32 => {}
        Encoding::Raw => return Err(malformed("Ed25519 public key (32 bytes)")),
        other => {
            return Err(CryptoError::Unsupported(format!(
                "Ed25519 public keys in encoding {other:?}"
            )));
        }
    }
    let parsed = ParsedPublicKey::new(&signature::ED25519, bytes)
        .map_err(|_| malformed("Ed25519 public key"))?;
    let spki = parsed.as_der()?;
    let (_, raw) = read_spki(spki.as_ref())?;
    Ok(AsymmetricKey::Ed25519Public(raw))
}

fn x25519_private_checked(seed: &[u8]) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    agreement::PrivateKey::from_private_key(&agreement::X25519, seed)
        .map_err(|_| malformed("X25519 private key (32 bytes)"))?;
    Ok(Zeroizing::new(seed.to_vec()))
}

fn x25519_public_checked(raw: &[u8]) -> Result<Vec<u8>, CryptoError> {
    if raw.len() != 32 {
        return Err(malformed("X25519 public key (32 bytes)"));
    }
    agreement::ParsedPublicKey::try_from(agreement::UnparsedPublicKey::new(
        &agreement::X25519,
        raw,
    ))
    .map_err(|_| malformed("X25519 public key (32 bytes)"))?;
    Ok(raw.to_vec())
}

fn read_x25519_private(encoding: Encoding, bytes: &[u8]) -> Result<AsymmetricKey, CryptoError> {
    let seed = match encoding {
        Encoding::Raw => x25519_private_checked(bytes)?,
        Encoding::Pkcs8 => {
            let (oid, inner) = read_pkcs8(bytes)?;
            if oid != OID_X25519_TEXT {
                return Err(malformed("PKCS#8 X25519 private key"));
            }
            // CurvePrivateKey ::= OCTET STRING (RFC 8410 section 7).
            let obj = whole(&inner, "PKCS#8 X25519 private key")?;
            x25519_private_checked(octets(&obj, "PKCS#8 X25519 private key")?)?
        }
        other => {
            return Err(CryptoError::Unsupported(format!(
                "X25519 private keys in encoding {other:?}"
            )));
        }
    };
    Ok(AsymmetricKey::X25519Private(seed))
}

fn read_x25519_public(encoding: Encoding, bytes: &[u8]) -> Result<AsymmetricKey, CryptoError> {
    let raw = match encoding {
        Encoding::Raw => x25519_public_checked(bytes)?,
        Encoding::Spki => {
            let (oid, raw) = read_spki(bytes)?;
            if oid != OID_X25519_TEXT {
                return Err(malformed("SubjectPublicKeyInfo of an X25519 key"));
            }
            x25519_public_checked(&raw)?
        }
        other => {
            return Err(CryptoError::Unsupported(format!(
                "X25519 public keys in encoding {other:?}"
            )));
        }
    };
    Ok(AsymmetricKey::X25519Public(raw))
}

// ---------------------------------------------------------------------------------------------
// The two entry points
// ---------------------------------------------------------------------------------------------

/// The family a PKCS#8 or SubjectPublicKeyInfo names by its algorithm OID, for keys that come
/// without a Cryptographic Algorithm.
pub fn family_of(encoding: Encoding, der: &[u8]) -> Option<KeyFamily> {
    let oid = match encoding {
        Encoding::Pkcs1 => return Some(KeyFamily::Rsa),
        Encoding::Sec1 => return Some(KeyFamily::Ec),
        Encoding::Pkcs8 => read_pkcs8(der).ok()?.0,
        Encoding::Spki => read_spki(der).ok()?.0,
        Encoding::Raw => return None,
    };
    match oid.as_str() {
        OID_RSA_TEXT => Some(KeyFamily::Rsa),
        OID_EC_PUBLIC_KEY => Some(KeyFamily::Ec),
        OID_ED25519 => Some(KeyFamily::Ed25519),
        OID_X25519_TEXT => Some(KeyFamily::X25519),
        _ => None,
    }
}

/// Reads a key of `family` given in `encoding`. Malformed input is
/// [`CryptoError::KeyRejected`]; an encoding the family has no use for is
/// [`CryptoError::Unsupported`].
pub fn read(
    family: KeyFamily,
    private: bool,
    encoding: Encoding,
    bytes: &[u8],
) -> Result<AsymmetricKey, CryptoError> {
    match (family, private) {
        (KeyFamily::Rsa, true) => read_rsa_private(encoding, bytes),
        (KeyFamily::Rsa, false) => read_rsa_public(encoding, bytes),
        (KeyFamily::Ec, true) => read_ec_private(encoding, bytes),
        (KeyFamily::Ec, false) => read_ec_public(encoding, bytes),
        (KeyFamily::Ed25519, true) => read_ed25519_private(encoding, bytes),
        (KeyFamily::Ed25519, false) => read_ed25519_public(encoding, bytes),
        (KeyFamily::X25519, true) => read_x25519_private(encoding, bytes),
        (KeyFamily::X25519, false) => read_x25519_public(encoding, bytes),
    }
}

/// `key` in `encoding`, or [`CryptoError::Unsupported`] when that encoding does not exist for
/// the key (an RSA key has no Raw form, an EC public key no PKCS#8...).
pub fn write(key: &AsymmetricKey, encoding: Encoding) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    let public = |v: Vec<u8>| Ok(Zeroizing::new(v));
    match (key, encoding) {
        (AsymmetricKey::RsaPrivate(pkcs1), Encoding::Pkcs1) => Ok(pkcs1.clone()),
        (AsymmetricKey::RsaPrivate(pkcs1), Encoding::Pkcs8) => {
            Ok(write_pkcs8(OID_RSA, true, pkcs1))
        }
        (AsymmetricKey::RsaPublic(pkcs1), Encoding::Pkcs1) => public(pkcs1.clone()),
        (AsymmetricKey::RsaPublic(pkcs1), Encoding::Spki) => {
            public(write_spki(OID_RSA, true, pkcs1))
        }
        (AsymmetricKey::EcPrivate(_, sec1), Encoding::Sec1) => Ok(sec1.clone()),
        (AsymmetricKey::EcPrivate(_, sec1), Encoding::Pkcs8) => keypair::ec_private_to_pkcs8(sec1),
        (AsymmetricKey::EcPublic(_, point), Encoding::Raw) => public(point.clone()),
        (AsymmetricKey::EcPublic(curve, point), Encoding::Spki) => {
            let parsed = ParsedPublicKey::new(verification(*curve), point)
                .map_err(|_| malformed("EC point"))?;
            public(parsed.as_der()?.as_ref().to_vec())
        }
        (AsymmetricKey::Ed25519Private(seed), Encoding::Raw) => Ok(seed.clone()),
        (AsymmetricKey::Ed25519Private(seed), Encoding::Pkcs8) => {
            keypair::ed25519_seed_to_pkcs8(seed)
        }
        (AsymmetricKey::Ed25519Public(raw), Encoding::Raw) => public(raw.clone()),
        (AsymmetricKey::Ed25519Public(raw), Encoding::Spki) => {
            let parsed = ParsedPublicKey::new(&signature::ED25519, raw)
                .map_err(|_| malformed("Ed25519 public key"))?;
            public(parsed.as_der()?.as_ref().to_vec())
        }
        (AsymmetricKey::X25519Private(seed), Encoding::Raw) => Ok(seed.clone()),
        (AsymmetricKey::X25519Private(seed), Encoding::Pkcs8) => {
            let inner = Zeroizing::new(yasna::construct_der(|w| w.write_bytes(seed)));
            Ok(write_pkcs8(OID_X25519, false, &inner))
        }
        (AsymmetricKey::X25519Public(raw), Encoding::Raw) => public(raw.clone()),
        (AsymmetricKey::X25519Public(raw), Encoding::Spki) => {
            public(write_spki(OID_X25519, false, raw))
        }
        (key, encoding) => Err(impossible(key, encoding)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::keypair::{KeyPairSpec, generate};
    use aws_lc_rs::rsa;

    fn round_trip(key: &AsymmetricKey, encodings: &[Encoding]) {
        let canonical = write(key, encodings[0]).unwrap();
        for &encoding in encodings {
            let bytes = write(key, encoding).unwrap();
            let back = read(key.family(), key.is_private(), encoding, &bytes).unwrap();
            assert_eq!(
                *write(&back, encodings[0]).unwrap(),
                *canonical,
                "{key:?} via {encoding:?}"
            );
            if matches!(encoding, Encoding::Pkcs8 | Encoding::Spki) {
                assert_eq!(family_of(encoding, &bytes), Some(key.family()));
            }
        }
    }

    #[test]
    fn rsa_private_converts_like_aws_lc_rs_and_through_its_integers() {
        let pair = generate(KeyPairSpec::Rsa(2048)).unwrap();
        let key = read(KeyFamily::Rsa, true, Encoding::Pkcs8, &pair.private).unwrap();
        // Our PKCS#8 wrapper is byte-identical to aws-lc-rs's, and it reads it back.
        assert_eq!(*write(&key, Encoding::Pkcs8).unwrap(), *pair.private);
        let pkcs1 = write(&key, Encoding::Pkcs1).unwrap();
        assert_eq!(
            *pkcs1,
            *keypair::rsa_private_to_pkcs1(&pair.private).unwrap()
        );
        rsa::KeyPair::from_der(&pkcs1).unwrap();
        round_trip(&key, &[Encoding::Pkcs1, Encoding::Pkcs8]);
        let parts = rsa_private_parts(&pkcs1).unwrap();
        assert_eq!(parts.modulus.len(), 256);
        assert_eq!(parts.public_exponent, vec![1, 0, 1]);
        assert_eq!(*rsa_private_from_parts(&parts).unwrap(), *pkcs1);
        // Leading zeros (as TTLV Big Integers carry them) change nothing.
        let mut padded = rsa_private_parts(&pkcs1).unwrap();
        padded.modulus.splice(0..0, [0u8; 8]);
        assert_eq!(*rsa_private_from_parts(&padded).unwrap(), *pkcs1);
        assert!(matches!(
            write(&key, Encoding::Raw),
            Err(CryptoError::Unsupported(_))
        ));
        assert!(matches!(
            write(&key, Encoding::Spki),
            Err(CryptoError::Unsupported(_))
        ));
    }

    #[test]
    fn rsa_public_converts_like_aws_lc_rs_and_through_its_integers() {
        let pair = generate(KeyPairSpec::Rsa(2048)).unwrap();
        let key = read(KeyFamily::Rsa, false, Encoding::Spki, &pair.public).unwrap();
        assert_eq!(*write(&key, Encoding::Spki).unwrap(), pair.public);
        let pkcs1 = write(&key, Encoding::Pkcs1).unwrap();
        assert_eq!(*pkcs1, keypair::rsa_public_to_pkcs1(&pair.public).unwrap());
        round_trip(&key, &[Encoding::Pkcs1, Encoding::Spki]);
        let parts = rsa_public_parts(&pkcs1).unwrap();
        assert_eq!(rsa_public_from_parts(&parts).unwrap(), *pkcs1);
        assert!(write(&key, Encoding::Pkcs8).is_err());
    }

    #[test]
    fn ec_keys_convert_on_every_curve() {
        for curve in Curve::ALL {
            let pair = generate(KeyPairSpec::Ec(curve)).unwrap();
            let key = read(KeyFamily::Ec, true, Encoding::Pkcs8, &pair.private).unwrap();
            round_trip(&key, &[Encoding::Sec1, Encoding::Pkcs8]);
            let sec1 = write(&key, Encoding::Sec1).unwrap();
            let (found, d) = ec_private_scalar(&sec1).unwrap();
            assert_eq!((found, d.len()), (curve, scalar_len(curve)));
            // From the scalar alone (a Transparent EC Private Key), the same key comes back,
            // public half included.
            assert_eq!(*ec_private_from_scalar(curve, &d).unwrap(), *sec1);
            let mut padded = vec![0u8; 8];
            padded.extend_from_slice(&d);
            assert_eq!(*ec_private_from_scalar(curve, &padded).unwrap(), *sec1);
            assert_eq!(keypair::public_spki_of_private(&sec1).unwrap(), pair.public);

            let public = read(KeyFamily::Ec, false, Encoding::Spki, &pair.public).unwrap();
            round_trip(&public, &[Encoding::Spki, Encoding::Raw]);
            assert_eq!(*write(&public, Encoding::Spki).unwrap(), pair.public);
            let point = write(&public, Encoding::Raw).unwrap();
            assert_eq!(point.len(), 1 + 2 * scalar_len(curve));
            assert_eq!(point[0], 4);
            assert!(write(&public, Encoding::Pkcs8).is_err());
        }
    }

    #[test]
    fn ed25519_and_x25519_convert() {
        let pair = generate(KeyPairSpec::Ed25519).unwrap();
        let key = read(KeyFamily::Ed25519, true, Encoding::Pkcs8, &pair.private).unwrap();
        round_trip(&key, &[Encoding::Raw, Encoding::Pkcs8]);
        let public = read(KeyFamily::Ed25519, false, Encoding::Spki, &pair.public).unwrap();
        round_trip(&public, &[Encoding::Raw, Encoding::Spki]);
        assert_eq!(*write(&public, Encoding::Spki).unwrap(), pair.public);

        let x = generate(KeyPairSpec::X25519).unwrap();
        let key = read(KeyFamily::X25519, true, Encoding::Raw, &x.private).unwrap();
        round_trip(&key, &[Encoding::Raw, Encoding::Pkcs8]);
        // RFC 8410 section 10.3's layout: 302e020100300506032b656e04220420 || key.
        let pkcs8 = write(&key, Encoding::Pkcs8).unwrap();
        assert_eq!(
            hex::encode(&pkcs8[..16]),
            "302e020100300506032b656e04220420"
        );
        assert_eq!(&pkcs8[16..], &x.private[..]);
        let public = read(KeyFamily::X25519, false, Encoding::Raw, &x.public).unwrap();
        round_trip(&public, &[Encoding::Raw, Encoding::Spki]);
        let spki = write(&public, Encoding::Spki).unwrap();
        assert_eq!(hex::encode(&spki[..12]), "302a300506032b656e032100");
        assert!(write(&public, Encoding::Pkcs1).is_err());
    }

    #[test]
    fn malformed_and_mismatched_input_is_refused_without_panicking() {
        let rsa = generate(KeyPairSpec::Rsa(2048)).unwrap();
        let ec = generate(KeyPairSpec::Ec(Curve::P256)).unwrap();
        let cases: Vec<(KeyFamily, bool, Encoding, Vec<u8>)> = vec![
            (KeyFamily::Rsa, true, Encoding::Pkcs1, b"junk".to_vec()),
            (KeyFamily::Rsa, true, Encoding::Pkcs8, ec.private.to_vec()),
            (KeyFamily::Rsa, false, Encoding::Spki, ec.public.clone()),
            (
                KeyFamily::Rsa,
                true,
                Encoding::Pkcs1,
                rsa.private[..40].to_vec(),
            ),
            (KeyFamily::Ec, true, Encoding::Sec1, vec![0x30, 0x00]),
            (KeyFamily::Ec, false, Encoding::Raw, vec![4; 65]),
            (KeyFamily::Ec, false, Encoding::Spki, rsa.public.clone()),
            (KeyFamily::Ed25519, true, Encoding::Raw, vec![1; 31]),
            (KeyFamily::Ed25519, false, Encoding::Spki, ec.public.clone()),
            (
                KeyFamily::X25519,
                true,
                Encoding::Pkcs8,
                rsa.private.to_vec(),
            ),
            (KeyFamily::X25519, false, Encoding::Raw, vec![1; 33]),
            // A length field claiming more than the input holds, and deep nesting.
            (
                KeyFamily::Rsa,
                false,
                Encoding::Pkcs1,
                vec![
                    0x30, 0x89, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                ],
            ),
            (
                KeyFamily::Rsa,
                false,
                Encoding::Spki,
                [0x30u8, 0x80].repeat(5000),
            ),
        ];
        for (family, private, encoding, bytes) in cases {
            let result = read(family, private, encoding, &bytes);
            assert!(
                matches!(result, Err(CryptoError::KeyRejected(_))),
                "{family:?} {private} {encoding:?}: {result:?}"
            );
        }
        assert!(matches!(
            read(KeyFamily::Rsa, true, Encoding::Raw, &[1]),
            Err(CryptoError::Unsupported(_))
        ));
        assert!(
            rsa_private_from_parts(&RsaPrivateParts {
                modulus: vec![1],
                public_exponent: vec![3],
                private_exponent: Zeroizing::new(vec![]),
                p: Zeroizing::new(vec![1]),
                q: Zeroizing::new(vec![1]),
                prime_exponent_p: Zeroizing::new(vec![1]),
                prime_exponent_q: Zeroizing::new(vec![1]),
                crt_coefficient: Zeroizing::new(vec![1]),
            })
            .is_err()
        );
        assert!(ec_private_from_scalar(Curve::P256, &[0; 32]).is_err());
        assert!(ec_private_from_scalar(Curve::P256, &[1; 33]).is_err());
        assert!(
            !format!(
                "{:?}",
                read(KeyFamily::Rsa, true, Encoding::Pkcs8, &rsa.private).unwrap()
            )
            .contains("30")
        );
    }
}
