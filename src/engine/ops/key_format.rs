//! Key Format Types on the KMIP side: which format a Get may ask a public or private key in,
//! how Transparent key structures map onto key integers, and which form a registered key is
//! stored in. The byte-level conversions are `crate::crypto::key_format`'s.
//!
//! Why a file of its own: Get and Register both need the same table (KMIP format ↔ encoding,
//! Cryptographic Algorithm ↔ key family, Transparent structure ↔ integers), and keeping it here
//! leaves `objects.rs` a one-line hook in each.
//!
//! Stored forms (what Create Key Pair stores and the cryptographic services read): RSA halves
//! PKCS#1, EC private keys EC Private Key (RFC 5915), EC and Ed25519 public keys X.509
//! SubjectPublicKeyInfo, Ed25519 private keys PKCS#8, X25519 keys Raw. Register keeps a key in
//! the encoded format it came in (PKCS#1, PKCS#8, X.509, EC Private Key; checked to parse) and
//! turns the Transparent and Raw forms into the stored form, since the services read no
//! Transparent structure. Keys of algorithms Keyward does not convert (DSA, DH, ...) are kept
//! exactly as registered. A Get without Key Format Type answers in the stored format.

use crate::crypto::CryptoError;
use crate::crypto::key_format::{
    self as convert, AsymmetricKey, Encoding, KeyFamily, RsaPrivateParts, RsaPublicParts,
};
use crate::crypto::keypair::Curve;
use crate::kmip::managed_object::KeyBlock;

use super::*;

/// Recommended Curve values of the NIST curves.
const P_256: u32 = 0x07;
const P_384: u32 = 0x0A;
const P_521: u32 = 0x0D;

fn curve_value(curve: Curve) -> u32 {
    match curve {
        Curve::P256 => P_256,
        Curve::P384 => P_384,
        Curve::P521 => P_521,
    }
}

fn curve_of(value: u32) -> Option<Curve> {
    match value {
        P_256 => Some(Curve::P256),
        P_384 => Some(Curve::P384),
        P_521 => Some(Curve::P521),
        _ => None,
    }
}

/// The fields of a Transparent RSA Private Key that PKCS#1 needs, all of them.
const RSA_PRIVATE_TAGS: [u32; 8] = [
    tag::MODULUS,
    tag::PRIVATE_EXPONENT,
    tag::PUBLIC_EXPONENT,
    tag::P,
    tag::Q,
    tag::PRIME_EXPONENT_P,
    tag::PRIME_EXPONENT_Q,
    tag::CRT_COEFFICIENT,
];

/// The byte encoding a Key Format Type names, if it is one.
fn encoding_of(format: KeyFormatType) -> Option<Encoding> {
    match format {
        KeyFormatType::Pkcs1 => Some(Encoding::Pkcs1),
        KeyFormatType::Pkcs8 => Some(Encoding::Pkcs8),
        KeyFormatType::X509 => Some(Encoding::Spki),
        KeyFormatType::EcPrivateKey => Some(Encoding::Sec1),
        KeyFormatType::Raw => Some(Encoding::Raw),
        _ => None,
    }
}

fn format_of(encoding: Encoding) -> KeyFormatType {
    match encoding {
        Encoding::Pkcs1 => KeyFormatType::Pkcs1,
        Encoding::Pkcs8 => KeyFormatType::Pkcs8,
        Encoding::Spki => KeyFormatType::X509,
        Encoding::Sec1 => KeyFormatType::EcPrivateKey,
        Encoding::Raw => KeyFormatType::Raw,
    }
}

/// Transparent formats this file reads and writes, by what they hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Transparent {
    RsaPrivate,
    RsaPublic,
    /// Recommended Curve + D (Transparent EC / ECDSA / ECDH Private Key).
    EcPrivate,
    /// Recommended Curve + Q String (Transparent EC / ECDSA / ECDH Public Key).
    EcPublic,
}

fn transparent_of(format: KeyFormatType) -> Option<Transparent> {
    match format {
        KeyFormatType::TransparentRsaPrivateKey => Some(Transparent::RsaPrivate),
        KeyFormatType::TransparentRsaPublicKey => Some(Transparent::RsaPublic),
        KeyFormatType::TransparentEcPrivateKey
        | KeyFormatType::TransparentEcdsaPrivateKey
        | KeyFormatType::TransparentEcdhPrivateKey => Some(Transparent::EcPrivate),
        KeyFormatType::TransparentEcPublicKey
        | KeyFormatType::TransparentEcdsaPublicKey
        | KeyFormatType::TransparentEcdhPublicKey => Some(Transparent::EcPublic),
        _ => None,
    }
}

/// The family a Cryptographic Algorithm names; X25519 keys are EC keys that Keyward stores
/// Raw (32 bytes) or whose PKCS#8 / SubjectPublicKeyInfo names X25519.
fn family(algorithm: Option<u32>, stored: KeyFormatType, material: &[u8]) -> Option<KeyFamily> {
    let named = encoding_of(stored).and_then(|e| convert::family_of(e, material));
    match (algorithm.and_then(CryptographicAlgorithm::from_u32), named) {
        (_, Some(KeyFamily::X25519)) => Some(KeyFamily::X25519),
        (Some(CryptographicAlgorithm::Rsa), _) => Some(KeyFamily::Rsa),
        (
            Some(
                CryptographicAlgorithm::Ecdsa
                | CryptographicAlgorithm::Ecdh
                | CryptographicAlgorithm::Ec,
            ),
            _,
        ) if stored == KeyFormatType::Raw && material.len() == 32 => Some(KeyFamily::X25519),
        (
            Some(
                CryptographicAlgorithm::Ecdsa
                | CryptographicAlgorithm::Ecdh
                | CryptographicAlgorithm::Ec,
            ),
            _,
        ) => Some(KeyFamily::Ec),
        (Some(CryptographicAlgorithm::Ed25519), _) => Some(KeyFamily::Ed25519),
        (Some(_), _) => None,
        (None, named) => named.or(match transparent_of(stored) {
            Some(Transparent::RsaPrivate | Transparent::RsaPublic) => Some(KeyFamily::Rsa),
            Some(Transparent::EcPrivate | Transparent::EcPublic) => Some(KeyFamily::Ec),
            None => None,
        }),
    }
}

/// Reads `bytes` as labelled, else as any other encoding of the family: clients mislabel
/// (PyKMIP's suite registers a PKCS#1 RSAPrivateKey as PKCS#8). The flag says whether the label
/// was right. The label's own error comes back when no encoding reads.
fn read_labelled(
    family: KeyFamily,
    private: bool,
    encoding: Encoding,
    bytes: &[u8],
) -> Result<(AsymmetricKey, bool), CryptoError> {
    let first = match convert::read(family, private, encoding, bytes) {
        Ok(key) => return Ok((key, true)),
        Err(e) => e,
    };
    [
        Encoding::Pkcs1,
        Encoding::Pkcs8,
        Encoding::Spki,
        Encoding::Sec1,
        Encoding::Raw,
    ]
    .into_iter()
    .filter(|e| *e != encoding)
    .find_map(|e| convert::read(family, private, e, bytes).ok())
    .map(|key| (key, false))
    .ok_or(first)
}

/// A key error as the client should see it: malformed material is Invalid Field (and logged),
/// a conversion that does not exist is Key Format Type Not Supported.
fn refused(e: CryptoError, format: u32, whose: &str) -> EngineError {
    match e {
        CryptoError::Unsupported(_) => EngineError::KeyFormatNotSupported(format),
        CryptoError::Random | CryptoError::Library(_) => EngineError::Crypto(e),
        other => {
            log::info!("key format: {whose}: {other}");
            EngineError::InvalidField(format!("Key Material: {other}"))
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Transparent structures
// ---------------------------------------------------------------------------------------------

/// A Big Integer's magnitude (two's complement, padded to 8 bytes on the wire).
fn magnitude(item: &Item, name: &str) -> Result<Vec<u8>, EngineError> {
    let Value::BigInteger(bytes) = &item.value else {
        return Err(EngineError::InvalidField(format!(
            "{name} must be a Big Integer"
        )));
    };
    if bytes.first().is_some_and(|b| b & 0x80 != 0) {
        return Err(EngineError::InvalidField(format!("{name} is negative")));
    }
    let start = bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len());
    Ok(bytes[start..].to_vec())
}

/// A non-negative Big Integer item from a magnitude (a leading zero keeps it positive).
fn big_integer(t: u32, magnitude: &[u8]) -> Item {
    let mut bytes = Vec::with_capacity(magnitude.len() + 1);
    if magnitude.first().is_none_or(|b| b & 0x80 != 0) {
        bytes.push(0);
    }
    bytes.extend_from_slice(magnitude);
    Item::new(t, Value::BigInteger(bytes))
}

fn field<'a>(material: &'a Item, t: u32, name: &str) -> Result<&'a Item, EngineError> {
    material
        .child(t)
        .ok_or_else(|| EngineError::MissingData(format!("{name} in the Key Material")))
}

fn big(material: &Item, t: u32, name: &str) -> Result<Vec<u8>, EngineError> {
    magnitude(field(material, t, name)?, name)
}

fn secret(material: &Item, t: u32, name: &str) -> Result<Zeroizing<Vec<u8>>, EngineError> {
    big(material, t, name).map(Zeroizing::new)
}

fn curve_field(material: &Item) -> Result<Curve, EngineError> {
    match field(material, tag::RECOMMENDED_CURVE, "Recommended Curve")?.value {
        Value::Enumeration(v) => curve_of(v).ok_or_else(|| {
            EngineError::InvalidField(format!(
                "Recommended Curve {v:#x}: EC keys are converted on P-256, P-384 and P-521"
            ))
        }),
        _ => Err(EngineError::InvalidField("Recommended Curve".into())),
    }
}

/// The key a Transparent Key Material structure holds.
fn read_transparent(
    kind: Transparent,
    material: &Item,
    format: u32,
) -> Result<AsymmetricKey, EngineError> {
    let whose = "Transparent Key Material";
    match kind {
        Transparent::RsaPrivate => {
            let parts = RsaPrivateParts {
                modulus: big(material, tag::MODULUS, "Modulus")?,
                public_exponent: big(material, tag::PUBLIC_EXPONENT, "Public Exponent")?,
                private_exponent: secret(material, tag::PRIVATE_EXPONENT, "Private Exponent")?,
                p: secret(material, tag::P, "P")?,
                q: secret(material, tag::Q, "Q")?,
                prime_exponent_p: secret(material, tag::PRIME_EXPONENT_P, "Prime Exponent P")?,
                prime_exponent_q: secret(material, tag::PRIME_EXPONENT_Q, "Prime Exponent Q")?,
                crt_coefficient: secret(material, tag::CRT_COEFFICIENT, "CRT Coefficient")?,
            };
            let pkcs1 =
                convert::rsa_private_from_parts(&parts).map_err(|e| refused(e, format, whose))?;
            Ok(AsymmetricKey::RsaPrivate(pkcs1))
        }
        Transparent::RsaPublic => {
            let parts = RsaPublicParts {
                modulus: big(material, tag::MODULUS, "Modulus")?,
                public_exponent: big(material, tag::PUBLIC_EXPONENT, "Public Exponent")?,
            };
            let pkcs1 =
                convert::rsa_public_from_parts(&parts).map_err(|e| refused(e, format, whose))?;
            Ok(AsymmetricKey::RsaPublic(pkcs1))
        }
        Transparent::EcPrivate => {
            let curve = curve_field(material)?;
            let d = secret(material, tag::D, "D")?;
            let sec1 = convert::ec_private_from_scalar(curve, &d)
                .map_err(|e| refused(e, format, whose))?;
            Ok(AsymmetricKey::EcPrivate(curve, sec1))
        }
        Transparent::EcPublic => {
            let curve = curve_field(material)?;
            let point = match &field(material, tag::Q_STRING, "Q String")?.value {
                Value::ByteString(b) => b.clone(),
                _ => return Err(EngineError::InvalidField("Q String".into())),
            };
            match convert::read(KeyFamily::Ec, false, Encoding::Raw, &point) {
                Ok(key @ AsymmetricKey::EcPublic(found, _)) if found == curve => Ok(key),
                Ok(_) => Err(EngineError::InvalidField(
                    "Q String is a point of another curve than the Recommended Curve".into(),
                )),
                Err(e) => Err(refused(e, format, whose)),
            }
        }
    }
}

/// `key` as the Key Material structure of `kind`.
fn write_transparent(
    kind: Transparent,
    key: &AsymmetricKey,
    format: u32,
) -> Result<Item, EngineError> {
    let whose = "Transparent Key Material";
    let fields = match (kind, key) {
        (Transparent::RsaPrivate, AsymmetricKey::RsaPrivate(pkcs1)) => {
            let p = convert::rsa_private_parts(pkcs1).map_err(|e| refused(e, format, whose))?;
            vec![
                big_integer(tag::MODULUS, &p.modulus),
                big_integer(tag::PRIVATE_EXPONENT, &p.private_exponent),
                big_integer(tag::PUBLIC_EXPONENT, &p.public_exponent),
                big_integer(tag::P, &p.p),
                big_integer(tag::Q, &p.q),
                big_integer(tag::PRIME_EXPONENT_P, &p.prime_exponent_p),
                big_integer(tag::PRIME_EXPONENT_Q, &p.prime_exponent_q),
                big_integer(tag::CRT_COEFFICIENT, &p.crt_coefficient),
            ]
        }
        (Transparent::RsaPublic, AsymmetricKey::RsaPublic(pkcs1)) => {
            let p = convert::rsa_public_parts(pkcs1).map_err(|e| refused(e, format, whose))?;
            vec![
                big_integer(tag::MODULUS, &p.modulus),
                big_integer(tag::PUBLIC_EXPONENT, &p.public_exponent),
            ]
        }
        (Transparent::EcPrivate, AsymmetricKey::EcPrivate(curve, sec1)) => {
            let (_, d) = convert::ec_private_scalar(sec1).map_err(|e| refused(e, format, whose))?;
            vec![
                Item::new(
                    tag::RECOMMENDED_CURVE,
                    Value::Enumeration(curve_value(*curve)),
                ),
                big_integer(tag::D, &d),
            ]
        }
        (Transparent::EcPublic, AsymmetricKey::EcPublic(curve, point)) => vec![
            Item::new(
                tag::RECOMMENDED_CURVE,
                Value::Enumeration(curve_value(*curve)),
            ),
            Item::new(tag::Q_STRING, Value::ByteString(point.clone())),
        ],
        _ => return Err(EngineError::KeyFormatNotSupported(format)),
    };
    Ok(Item::structure(tag::KEY_MATERIAL, fields))
}

// ---------------------------------------------------------------------------------------------
// Get and Register
// ---------------------------------------------------------------------------------------------

/// The key a stored public or private key holds, in its canonical form.
fn stored_key(
    uid: &str,
    managed: &ManagedObject,
    material: &[u8],
    requested: u32,
) -> Result<AsymmetricKey, EngineError> {
    let stored = KeyFormatType::from_u32(managed.key_format)
        .ok_or(EngineError::KeyFormatNotSupported(requested))?;
    let private = managed.object_type == ObjectType::PrivateKey;
    let family = family(
        managed.enumeration(tag::CRYPTOGRAPHIC_ALGORITHM),
        stored,
        material,
    )
    .ok_or(EngineError::KeyFormatNotSupported(requested))?;
    if let Some(encoding) = encoding_of(stored) {
        return read_labelled(family, private, encoding, material)
            .map(|(key, _)| key)
            .map_err(|e| refused(e, requested, uid));
    }
    let kind = transparent_of(stored).ok_or(EngineError::KeyFormatNotSupported(requested))?;
    // Sealed by this server from a structure that decoded once already.
    let structure = crate::ttlv::decode(material, &crate::ttlv::Limits::default())
        .map_err(|_| EngineError::CorruptMetadata(uid.to_string()))?;
    read_transparent(kind, &structure, requested)
}

/// Get of a public or private key in `requested`, a format other than the stored one: the
/// Key Format Type and Key Material to serve, or Key Format Type Not Supported.
pub(super) fn converted_key_material(
    uid: &str,
    managed: &ManagedObject,
    material: &[u8],
    requested: u32,
) -> Result<(u32, Item), EngineError> {
    let wanted =
        KeyFormatType::from_u32(requested).ok_or(EngineError::KeyFormatNotSupported(requested))?;
    if encoding_of(wanted).is_none() && transparent_of(wanted).is_none() {
        return Err(EngineError::KeyFormatNotSupported(requested));
    }
    let key = stored_key(uid, managed, material, requested)?;
    let item = match (encoding_of(wanted), transparent_of(wanted)) {
        (Some(encoding), _) => {
            let bytes = convert::write(&key, encoding).map_err(|e| refused(e, requested, uid))?;
            Item::new(tag::KEY_MATERIAL, Value::ByteString(bytes.to_vec()))
        }
        (None, Some(kind)) => write_transparent(kind, &key, requested)?,
        (None, None) => return Err(EngineError::KeyFormatNotSupported(requested)),
    };
    Ok((requested, item))
}

/// The stored form of a key family's private or public half.
fn stored_encoding(family: KeyFamily, private: bool) -> Encoding {
    match (family, private) {
        (KeyFamily::Rsa, _) => Encoding::Pkcs1,
        (KeyFamily::Ec, true) => Encoding::Sec1,
        (KeyFamily::Ec | KeyFamily::Ed25519, false) => Encoding::Spki,
        (KeyFamily::Ed25519, true) => Encoding::Pkcs8,
        (KeyFamily::X25519, _) => Encoding::Raw,
    }
}

/// Register of a plain (not wrapped) public or private key: the format and material to store.
/// Encoded formats stay as sent once they parse; Transparent and Raw keys of the families
/// Keyward converts become the stored form; anything else (other algorithms, a format the
/// algorithm has no such encoding in) is kept as registered by `as_registered` (the caller's
/// reading of the Key Block).
pub(super) fn registered_key_material(
    kind: ObjectType,
    block: &KeyBlock,
    attributes: &[Attribute],
    as_registered: impl FnOnce(&KeyBlock) -> Result<(u32, Zeroizing<Vec<u8>>), EngineError>,
) -> Result<(u32, Zeroizing<Vec<u8>>), EngineError> {
    let format = block.key_format_type;
    let material_item = block
        .key_material()
        .ok_or_else(|| EngineError::MissingData("Key Material".into()))?;
    let private = kind == ObjectType::PrivateKey;
    let algorithm = attributes
        .iter()
        .find(|a| a.key == AttrKey::Standard(tag::CRYPTOGRAPHIC_ALGORITHM))
        .map(|a| &a.value)
        .and_then(|v| match v {
            Value::Enumeration(v) => Some(*v),
            _ => None,
        })
        .or(block.cryptographic_algorithm);
    let Some(wanted) = KeyFormatType::from_u32(format) else {
        return as_registered(block);
    };
    let stored = match (
        &material_item.value,
        encoding_of(wanted),
        transparent_of(wanted),
    ) {
        (Value::ByteString(bytes), Some(encoding), _) => {
            let family = family(algorithm, wanted, bytes);
            match family {
                Some(family) => registered_encoded(family, private, encoding, format, bytes)?,
                None => None,
            }
        }
        (Value::Structure(_), None, Some(transparent)) => {
            registered_transparent(transparent, private, material_item, format)?
        }
        _ => None,
    };
    match stored {
        Some(stored) => Ok(stored),
        None => as_registered(block),
    }
}

/// The Key Format Type and the material a registered key is stored as.
type StoredKey = (u32, Zeroizing<Vec<u8>>);

/// A registered key in an encoding (PKCS#1, PKCS#8, SPKI, SEC1, Raw): the format and material
/// to store, or None to keep it exactly as registered.
fn registered_encoded(
    family: KeyFamily,
    private: bool,
    encoding: Encoding,
    format: u32,
    bytes: &[u8],
) -> Result<Option<StoredKey>, EngineError> {
    let key = match read_labelled(family, private, encoding, bytes) {
        Ok((key, true)) => key,
        // A valid key under another label (PyKMIP registers RSA keys as Raw, and a PKCS#1 key
        // as PKCS#8), or a format that means nothing for the algorithm: the client's label
        // stands, the key is kept and served exactly as registered.
        Ok((_, false)) | Err(CryptoError::Unsupported(_)) => {
            log::info!(
                "key format: registered key labelled Key Format Type {format:#x} is encoded \
                 otherwise; kept as registered"
            );
            return Ok(None);
        }
        Err(e) => return Err(refused(e, format, "registered key")),
    };
    if key.is_private() != private {
        return Err(EngineError::InvalidField(
            "Key Material is not a key of the registered object type".into(),
        ));
    }
    if encoding != Encoding::Raw || family == KeyFamily::X25519 {
        return Ok(Some((format, Zeroizing::new(bytes.to_vec()))));
    }
    store(&key, family, private, format).map(Some)
}

/// A registered Transparent key: the format and material to store, or None to keep it
/// exactly as registered.
fn registered_transparent(
    transparent: Transparent,
    private: bool,
    material_item: &Item,
    format: u32,
) -> Result<Option<StoredKey>, EngineError> {
    let holds_private = matches!(
        transparent,
        Transparent::RsaPrivate | Transparent::EcPrivate
    );
    if holds_private != private {
        return Err(EngineError::KeyFormatNotSupported(format));
    }
    // KMIP lets an RSA private key omit its CRT values; such a key cannot become PKCS#1, so it
    // is kept as registered (served back as it came, used by nothing).
    if transparent == Transparent::RsaPrivate
        && !RSA_PRIVATE_TAGS
            .iter()
            .all(|t| material_item.child(*t).is_some())
    {
        return Ok(None);
    }
    let key = read_transparent(transparent, material_item, format)?;
    store(&key, key.family(), private, format).map(Some)
}

fn store(
    key: &AsymmetricKey,
    family: KeyFamily,
    private: bool,
    format: u32,
) -> Result<(u32, Zeroizing<Vec<u8>>), EngineError> {
    let encoding = stored_encoding(family, private);
    let bytes = convert::write(key, encoding).map_err(|e| refused(e, format, "registered key"))?;
    Ok((format_of(encoding).value(), bytes))
}

/// Get of Secret Data in another format than the stored one: Raw and Transparent Symmetric Key
/// hold the same bytes; nothing else converts.
pub(super) fn converted_secret_material(
    stored: u32,
    requested: u32,
    material: &[u8],
) -> Result<(u32, Item), EngineError> {
    let plain = |f: u32| {
        f == KeyFormatType::Raw.value() || f == KeyFormatType::TransparentSymmetricKey.value()
    };
    if !plain(stored) || !plain(requested) {
        return Err(EngineError::KeyFormatNotSupported(requested));
    }
    let item = if requested == KeyFormatType::Raw.value() {
        Item::new(tag::KEY_MATERIAL, Value::ByteString(material.to_vec()))
    } else {
        Item::structure(
            tag::KEY_MATERIAL,
            vec![Item::new(tag::KEY, Value::ByteString(material.to_vec()))],
        )
    };
    Ok((requested, item))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::keypair::{KeyPairSpec, generate};

    #[test]
    fn transparent_structures_round_trip() {
        let rsa = generate(KeyPairSpec::Rsa(2048)).expect("RSA");
        let key = convert::read(KeyFamily::Rsa, true, Encoding::Pkcs8, &rsa.private).expect("read");
        let f = KeyFormatType::TransparentRsaPrivateKey.value();
        let item = write_transparent(Transparent::RsaPrivate, &key, f).expect("write");
        // Every integer is a non-negative Big Integer.
        for c in item
            .children_with(tag::MODULUS)
            .chain(item.children_with(tag::P))
        {
            assert!(matches!(&c.value, Value::BigInteger(b) if b[0] & 0x80 == 0));
        }
        let back = read_transparent(Transparent::RsaPrivate, &item, f).expect("read back");
        assert_eq!(
            *convert::write(&back, Encoding::Pkcs8).expect("pkcs8"),
            *rsa.private
        );

        let ec = generate(KeyPairSpec::Ec(Curve::P521)).expect("EC");
        let key = convert::read(KeyFamily::Ec, true, Encoding::Pkcs8, &ec.private).expect("read");
        let f = KeyFormatType::TransparentEcPrivateKey.value();
        let item = write_transparent(Transparent::EcPrivate, &key, f).expect("write");
        assert_eq!(
            item.child(tag::RECOMMENDED_CURVE).map(|c| &c.value),
            Some(&Value::Enumeration(P_521))
        );
        let back = read_transparent(Transparent::EcPrivate, &item, f).expect("read back");
        assert_eq!(
            *convert::write(&back, Encoding::Pkcs8).expect("pkcs8"),
            *convert::write(&key, Encoding::Pkcs8).expect("pkcs8")
        );
        // A key of one kind is not served in another kind's structure.
        assert!(matches!(
            write_transparent(Transparent::RsaPublic, &key, 0x0B),
            Err(EngineError::KeyFormatNotSupported(0x0B))
        ));
        // A point of P-521 announced as P-256 is refused.
        let public = convert::read(KeyFamily::Ec, false, Encoding::Spki, &ec.public).expect("pub");
        let mut item = write_transparent(Transparent::EcPublic, &public, 0x15).expect("write");
        if let Value::Structure(fields) = &mut item.value {
            fields[0] = Item::new(tag::RECOMMENDED_CURVE, Value::Enumeration(P_256));
        }
        assert!(matches!(
            read_transparent(Transparent::EcPublic, &item, 0x15),
            Err(EngineError::InvalidField(_))
        ));
    }

    #[test]
    fn big_integers_are_read_as_magnitudes() {
        let item = big_integer(tag::MODULUS, &[0x80, 1]);
        assert_eq!(item.value, Value::BigInteger(vec![0, 0x80, 1]));
        assert_eq!(magnitude(&item, "m").expect("magnitude"), vec![0x80, 1]);
        let negative = Item::new(tag::MODULUS, Value::BigInteger(vec![0xFF, 1]));
        assert!(matches!(
            magnitude(&negative, "m"),
            Err(EngineError::InvalidField(_))
        ));
        let padded = Item::new(
            tag::MODULUS,
            Value::BigInteger(vec![0, 0, 0, 0, 0, 0, 0, 7]),
        );
        assert_eq!(magnitude(&padded, "m").expect("magnitude"), vec![7]);
    }
}
