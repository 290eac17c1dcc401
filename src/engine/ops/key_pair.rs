//! Create Key Pair: RSA (2048, 3072, 4096 bits), EC (P-256, P-384, P-521), X25519 (EC/ECDH with
//! Recommended Curve CURVE25519) and Ed25519 pairs,
//! drawn by aws-lc-rs, stored as a Private Key and a Public Key object that link to each other.
//!
//! Why a file of its own beside `objects.rs`: a pair is two objects made from one request whose
//! attributes come in three groups (common, private, public), and its key material comes from
//! a generator with its own encodings. Formats are the ones the OASIS AKLC vectors and PyKMIP's
//! server use: RSA halves in PKCS#1, an EC private key in RFC 5915 (EC Private Key), an EC
//! public key as X.509 SubjectPublicKeyInfo. Nothing here converts formats on Get.

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rsa::{KeyPair as RsaKeyPair, KeySize};
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_ASN1_SIGNING, ECDSA_P384_SHA384_ASN1_SIGNING, ECDSA_P521_SHA512_ASN1_SIGNING,
    EcdsaKeyPair, KeyPair as _,
};
use x509_parser::der_parser::der::parse_der;

use super::*;
use crate::kmip::create_key_pair::{
    CreateKeyPairRequest, CreateKeyPairResponse, ReKeyKeyPairRequest,
};

/// Cryptographic Algorithm values this file generates pairs for.
const RSA: u32 = 0x04;
const ECDSA: u32 = 0x06;
const ECDH: u32 = 0x0E;
const EC: u32 = 0x1A;
const ED25519: u32 = 0x37;

/// Recommended Curve values.
const P_256: u32 = 0x07;
const P_384: u32 = 0x0A;
const P_521: u32 = 0x0D;
const CURVE25519: u32 = 0x45;

/// A generated pair: (format, material) of each half, and the key length in bits.
struct Pair {
    private: (KeyFormatType, Zeroizing<Vec<u8>>),
    public: (KeyFormatType, Vec<u8>),
    length: i32,
}

fn crypto_failure(what: &str) -> EngineError {
    EngineError::InvalidField(format!("key pair generation failed: {what}"))
}

/// Draws an RSA pair of `bits` and returns its private key as PKCS#8 DER.
pub(in crate::engine) fn draw_rsa_pkcs8(bits: i32) -> Result<Zeroizing<Vec<u8>>, EngineError> {
    let size = match bits {
        2048 => KeySize::Rsa2048,
        3072 => KeySize::Rsa3072,
        4096 => KeySize::Rsa4096,
        _ => {
            return Err(EngineError::InvalidField(format!(
                "RSA key pairs are 2048, 3072 or 4096 bits, not {bits}"
            )));
        }
    };
    let pair = RsaKeyPair::generate(size).map_err(|_| crypto_failure("RSA"))?;
    Ok(Zeroizing::new(
        pair.as_der()
            .map_err(|_| crypto_failure("RSA PKCS#8"))?
            .as_ref()
            .to_vec(),
    ))
}

/// The RSA size a Create Key Pair payload asks for, when it asks for RSA with a length.
pub(in crate::engine) fn rsa_pair_size(payload: &Item, v2: bool) -> Option<i32> {
    let request = CreateKeyPairRequest::read(payload, v2).ok()?;
    let all = || {
        request
            .common
            .iter()
            .chain(&request.private)
            .chain(&request.public)
    };
    let value = |t: u32| {
        all()
            .find(|a| a.key == AttrKey::Standard(t))
            .map(|a| &a.value)
    };
    match (
        value(tag::CRYPTOGRAPHIC_ALGORITHM),
        value(tag::CRYPTOGRAPHIC_LENGTH),
    ) {
        (Some(Value::Enumeration(RSA)), Some(Value::Integer(bits))) => Some(*bits),
        _ => None,
    }
}

/// An RSA pair of `bits`: one drawn ahead for this request if there is one, else drawn now.
fn generate_rsa(ctx: &mut Ctx, bits: i32) -> Result<Pair, EngineError> {
    let ahead = ctx.pregenerated.iter().position(|p| p.bits == bits);
    let pkcs8 = match ahead {
        Some(i) => ctx.pregenerated.swap_remove(i).pkcs8,
        None => draw_rsa_pkcs8(bits)?,
    };
    rsa_pair_of(&pkcs8, bits)
}

/// Both halves, as PKCS#1, of the RSA private key `pkcs8`.
fn rsa_pair_of(pkcs8: &[u8], bits: i32) -> Result<Pair, EngineError> {
    let pair = RsaKeyPair::from_pkcs8(pkcs8).map_err(|_| crypto_failure("RSA PKCS#8"))?;
    Ok(Pair {
        private: (KeyFormatType::Pkcs1, pkcs1_of_pkcs8(pkcs8)?),
        public: (KeyFormatType::Pkcs1, pair.public_key().as_ref().to_vec()),
        length: bits,
    })
}

/// An Ed25519 pair: the private key as PKCS#8, the public key as SubjectPublicKeyInfo.
fn generate_ed25519() -> Result<Pair, EngineError> {
    let pair = crate::crypto::keypair::generate(crate::crypto::keypair::KeyPairSpec::Ed25519)
        .map_err(|_| crypto_failure("Ed25519"))?;
    Ok(Pair {
        private: (KeyFormatType::Pkcs8, pair.private),
        public: (KeyFormatType::X509, pair.public),
        length: 256,
    })
}

/// The RSAPrivateKey (PKCS#1) inside a PrivateKeyInfo (PKCS#8): its third field's octets.
fn pkcs1_of_pkcs8(pkcs8: &[u8]) -> Result<Zeroizing<Vec<u8>>, EngineError> {
    let (_, info) = parse_der(pkcs8).map_err(|_| crypto_failure("PKCS#8 layout"))?;
    let fields = info
        .as_sequence()
        .map_err(|_| crypto_failure("PKCS#8 layout"))?;
    let inner = fields
        .get(2)
        .and_then(|f| f.as_slice().ok())
        .ok_or_else(|| crypto_failure("PKCS#8 layout"))?;
    Ok(Zeroizing::new(inner.to_vec()))
}

/// An X25519 pair (ECDH on Curve25519): both halves Raw, the 32-byte scalar and the 32-byte
/// u-coordinate (aws-lc-rs writes no PKCS#8 for X25519).
fn generate_x25519() -> Result<Pair, EngineError> {
    let pair = crate::crypto::keypair::generate(crate::crypto::keypair::KeyPairSpec::X25519)
        .map_err(|_| crypto_failure("X25519"))?;
    Ok(Pair {
        private: (KeyFormatType::Raw, pair.private),
        public: (KeyFormatType::Raw, pair.public),
        length: 256,
    })
}

fn generate_ec(curve: u32) -> Result<Pair, EngineError> {
    if curve == CURVE25519 {
        return generate_x25519();
    }
    let (signing, length) = match curve {
        P_256 => (&ECDSA_P256_SHA256_ASN1_SIGNING, 256),
        P_384 => (&ECDSA_P384_SHA384_ASN1_SIGNING, 384),
        P_521 => (&ECDSA_P521_SHA512_ASN1_SIGNING, 521),
        _ => {
            return Err(EngineError::InvalidField(format!(
                "EC key pairs are on P-256, P-384, P-521 or Curve25519 (X25519), not curve {curve}"
            )));
        }
    };
    let pair = EcdsaKeyPair::generate(signing).map_err(|_| crypto_failure("EC"))?;
    let private = Zeroizing::new(
        pair.private_key()
            .as_der()
            .map_err(|_| crypto_failure("EC private key"))?
            .as_ref()
            .to_vec(),
    );
    let public = pair
        .public_key()
        .as_der()
        .map_err(|_| crypto_failure("EC public key"))?
        .as_ref()
        .to_vec();
    Ok(Pair {
        private: (KeyFormatType::EcPrivateKey, private),
        public: (KeyFormatType::X509, public),
        length,
    })
}

/// The curve of an EC request: Recommended Curve (in Cryptographic Domain Parameters), else
/// the Cryptographic Length.
fn requested_curve(attributes: &[Attribute], length: Option<i32>) -> Result<u32, EngineError> {
    let in_domain = attributes
        .iter()
        .filter(|a| a.key == AttrKey::Standard(tag::CRYPTOGRAPHIC_DOMAIN_PARAMETERS))
        .find_map(|a| match &a.value {
            Value::Structure(fields) => fields.iter().find_map(|f| match f {
                Item {
                    tag: tag::RECOMMENDED_CURVE,
                    value: Value::Enumeration(c),
                } => Some(*c),
                _ => None,
            }),
            _ => None,
        });
    match (in_domain, length) {
        (Some(curve), _) => Ok(curve),
        (None, Some(256)) => Ok(P_256),
        (None, Some(384)) => Ok(P_384),
        (None, Some(521)) => Ok(P_521),
        (None, other) => Err(EngineError::InvalidField(format!(
            "EC key pair needs a Recommended Curve or a length of 256, 384 or 521 (got {other:?})"
        ))),
    }
}

/// One half's attributes: its own group, then the common ones it does not override. Domain
/// parameters only choose the curve; they are not kept.
fn half(common: &[Attribute], own: Vec<Attribute>, algorithm: u32, length: i32) -> Vec<Attribute> {
    let mut out: Vec<Attribute> = own;
    for a in common {
        if !out.iter().any(|o| o.key == a.key) {
            out.push(a.clone());
        }
    }
    out.retain(|a| {
        !matches!(
            a.key,
            AttrKey::Standard(
                tag::CRYPTOGRAPHIC_DOMAIN_PARAMETERS
                    | tag::CRYPTOGRAPHIC_ALGORITHM
                    | tag::CRYPTOGRAPHIC_LENGTH
            )
        )
    });
    out.push(Attribute {
        key: AttrKey::Standard(tag::CRYPTOGRAPHIC_ALGORITHM),
        value: Value::Enumeration(algorithm),
    });
    out.push(Attribute {
        key: AttrKey::Standard(tag::CRYPTOGRAPHIC_LENGTH),
        value: Value::Integer(length),
    });
    out
}

/// The algorithm the request's attributes ask for, and a new pair of it.
fn requested_pair(ctx: &mut Ctx, all: &[Attribute]) -> Result<(u32, Pair), EngineError> {
    let first = |t: u32| all.iter().find(|a| a.key == AttrKey::Standard(t));
    let algorithm = match first(tag::CRYPTOGRAPHIC_ALGORITHM).map(|a| &a.value) {
        Some(Value::Enumeration(v)) => *v,
        Some(_) => return Err(EngineError::InvalidField("Cryptographic Algorithm".into())),
        None => return Err(EngineError::MissingData("Cryptographic Algorithm".into())),
    };
    let length = match first(tag::CRYPTOGRAPHIC_LENGTH).map(|a| &a.value) {
        Some(Value::Integer(v)) => Some(*v),
        Some(_) => return Err(EngineError::InvalidField("Cryptographic Length".into())),
        None => None,
    };
    let pair = match algorithm {
        RSA => generate_rsa(
            ctx,
            length.ok_or_else(|| EngineError::MissingData("Cryptographic Length".into()))?,
        )?,
        ECDSA | ECDH | EC => generate_ec(requested_curve(all, length)?)?,
        ED25519 => generate_ed25519()?,
        other => {
            return Err(EngineError::InvalidField(format!(
                "Create Key Pair supports RSA, EC and Ed25519, not Cryptographic Algorithm {other}"
            )));
        }
    };
    Ok((algorithm, pair))
}

pub(super) fn create_key_pair(
    ctx: &mut Ctx,
    request: CreateKeyPairRequest,
) -> Result<CreateKeyPairResponse, EngineError> {
    let CreateKeyPairRequest {
        common,
        private: private_own,
        public: public_own,
    } = request;
    let all: Vec<Attribute> = common
        .iter()
        .chain(&private_own)
        .chain(&public_own)
        .cloned()
        .collect();
    let (algorithm, pair) = requested_pair(ctx, &all)?;
    let private_attributes = half(&common, private_own, algorithm, pair.length);
    let public_attributes = half(&common, public_own, algorithm, pair.length);
    let (private_format, private_material) = pair.private;
    let private_uid = store_generated(
        ctx,
        ObjectType::PrivateKey,
        private_format.value(),
        &private_material,
        private_attributes,
    )?;
    let (public_format, public_material) = pair.public;
    let public_uid = store_generated(
        ctx,
        ObjectType::PublicKey,
        public_format.value(),
        &public_material,
        public_attributes,
    )?;
    link_halves(ctx, &private_uid, &public_uid)?;
    // The ID Placeholder of a Create Key Pair is its private key.
    ctx.placeholder = Some(private_uid.clone());
    Ok(CreateKeyPairResponse {
        private_key_uid: private_uid,
        public_key_uid: public_uid,
    })
}

/// Links the two halves of a key pair to each other.
fn link_halves(ctx: &mut Ctx, private_uid: &str, public_uid: &str) -> Result<(), EngineError> {
    add_link(ctx, private_uid, LinkType::PublicKey, public_uid)?;
    add_link(ctx, public_uid, LinkType::PrivateKey, private_uid)
}

/// The object a half links to with `kind`.
fn linked(managed: &ManagedObject, kind: LinkType) -> Option<String> {
    managed
        .attributes
        .iter()
        .filter(|a| a.key == AttrKey::Standard(tag::LINK))
        .find_map(|a| match &a.value {
            Value::Structure(fields) => {
                let is_kind = fields.iter().any(|f| {
                    f.tag == tag::LINK_TYPE && f.value == Value::Enumeration(kind.value())
                });
                fields.iter().find_map(|f| match &f.value {
                    Value::TextString(uid) if is_kind && f.tag == tag::LINKED_OBJECT_IDENTIFIER => {
                        Some(uid.clone())
                    }
                    _ => None,
                })
            }
            _ => None,
        })
}

/// Re-key Key Pair (KMIP 1.1+): a new pair of the old pair's algorithm and length, carrying
/// the old halves' client attributes (the Names move to the new halves), linked to each other
/// and, both halves, to the halves they replace (Replaced Object / Replacement Object). With an
/// Offset, the new halves become active that long after now. An RSA pair is drawn by the key
/// generator thread before the request reaches the write path, as for Create Key Pair.
pub(super) fn rekey_key_pair(
    ctx: &mut Ctx,
    request: ReKeyKeyPairRequest,
) -> Result<CreateKeyPairResponse, EngineError> {
    let old_private_uid = request
        .private_key_unique_identifier
        .or_else(|| ctx.placeholder.clone())
        .ok_or_else(|| EngineError::MissingData("Private Key Unique Identifier".into()))?;
    let offset = request.offset.map(i64::from);
    let (_, old_private) = ctx.load_live(&old_private_uid)?;
    if old_private.object_type != ObjectType::PrivateKey {
        return Err(EngineError::Illegal(
            "Re-key Key Pair needs the pair's Private Key".into(),
        ));
    }
    let old_public_uid = linked(&old_private, LinkType::PublicKey).ok_or_else(|| {
        EngineError::Illegal(format!("{old_private_uid} has no linked Public Key"))
    })?;
    // The public half must still exist (a destroyed one cannot be replaced).
    ctx.load_live(&old_public_uid)?;
    let pair = pair_like(ctx, &old_private_uid, &old_private)?;
    let activation = offset.map(|o| Attribute {
        key: AttrKey::Standard(tag::ACTIVATION_DATE),
        value: Value::DateTime(ctx.now.saturating_add(o)),
    });
    let mut new_uids = Vec::new();
    let halves = [
        (
            old_private_uid.clone(),
            ObjectType::PrivateKey,
            pair.private.0,
            pair.private.1,
        ),
        (
            old_public_uid.clone(),
            ObjectType::PublicKey,
            pair.public.0,
            Zeroizing::new(pair.public.1),
        ),
    ];
    for (old_uid, object_type, format, material) in halves {
        // The old half gives up its Names first, so the new half may take them.
        let (stored, mut old) = ctx.load(&old_uid)?;
        let mut attributes = inherited(&old);
        attributes.extend(activation.clone());
        old.attributes
            .retain(|a| a.key != AttrKey::Standard(tag::NAME));
        ctx.save(stored, &old);
        let new_uid = store_generated(ctx, object_type, format.value(), &material, attributes)?;
        link_replacement(ctx, &old_uid, &new_uid)?;
        new_uids.push(new_uid);
    }
    let (new_private_uid, new_public_uid) = (new_uids[0].clone(), new_uids[1].clone());
    link_halves(ctx, &new_private_uid, &new_public_uid)?;
    ctx.placeholder = Some(new_private_uid.clone());
    Ok(CreateKeyPairResponse {
        private_key_uid: new_private_uid,
        public_key_uid: new_public_uid,
    })
}

/// A new pair of the algorithm and length of the private key `old_private`.
fn pair_like(
    ctx: &mut Ctx,
    old_private_uid: &str,
    old_private: &ManagedObject,
) -> Result<Pair, EngineError> {
    let algorithm = old_private
        .enumeration(tag::CRYPTOGRAPHIC_ALGORITHM)
        .ok_or_else(|| EngineError::CorruptMetadata(old_private_uid.to_string()))?;
    let length = old_private.int(tag::CRYPTOGRAPHIC_LENGTH);
    match (algorithm, length) {
        (RSA, Some(bits)) => generate_rsa(ctx, bits),
        (ECDSA | ECDH | EC, _) if old_private.key_format == KeyFormatType::Raw.value() => {
            generate_x25519()
        }
        (ECDSA | ECDH | EC, Some(256)) => generate_ec(P_256),
        (ECDSA | ECDH | EC, Some(384)) => generate_ec(P_384),
        (ECDSA | ECDH | EC, Some(521)) => generate_ec(P_521),
        (ED25519, _) => generate_ed25519(),
        (other, bits) => Err(EngineError::Illegal(format!(
            "Re-key Key Pair of Cryptographic Algorithm {other} with length {bits:?}"
        ))),
    }
}

/// The RSA size a Re-key Key Pair payload will draw: the length of the RSA private key it
/// names, read from `view` (the key generator thread draws it before the write path runs).
pub(in crate::engine) fn rekey_rsa_size(
    payload: &Item,
    owner: &str,
    view: &dyn crate::store::ReadView,
) -> Option<i32> {
    let uid = ReKeyKeyPairRequest::read(payload)
        .ok()?
        .private_key_unique_identifier?;
    let stored = view.get(&uid).ok()??;
    if stored.owner != owner {
        return None;
    }
    let managed = ManagedObject::decode_metadata(&stored.metadata)?;
    match managed.enumeration(tag::CRYPTOGRAPHIC_ALGORITHM) {
        Some(RSA) => managed.int(tag::CRYPTOGRAPHIC_LENGTH),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rsa_halves_are_pkcs1_and_ec_halves_rfc5915_and_spki() {
        let rsa = rsa_pair_of(&draw_rsa_pkcs8(2048).expect("RSA-2048"), 2048).expect("PKCS#1");
        assert_eq!(rsa.private.0, KeyFormatType::Pkcs1);
        // RSAPrivateKey ::= SEQUENCE { version 0, modulus, ... }
        let (_, parsed) = parse_der(&rsa.private.1).expect("DER");
        assert!(parsed.as_sequence().expect("sequence").len() >= 9);
        assert!(matches!(
            draw_rsa_pkcs8(1024),
            Err(EngineError::InvalidField(_))
        ));
        let ec = generate_ec(P_384).expect("P-384");
        assert_eq!(ec.length, 384);
        assert_eq!(ec.public.0, KeyFormatType::X509);
        assert!(matches!(
            generate_ec(0x44),
            Err(EngineError::InvalidField(_))
        ));
        let x = generate_ec(CURVE25519).expect("X25519");
        assert_eq!(
            (x.private.0, x.public.0),
            (KeyFormatType::Raw, KeyFormatType::Raw)
        );
        assert_eq!(
            (x.private.1.len(), x.public.1.len(), x.length),
            (32, 32, 256)
        );
    }
}
