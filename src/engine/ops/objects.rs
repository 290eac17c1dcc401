//! Making and serving objects: Create, Register, Get, Re-key, Check.

use super::key_format;
use super::key_wrap::WrappingRequest;
use super::*;
use crate::kmip::key_objects::{PgpKeyFields, SplitKeyFields};

pub(super) fn digest_attribute(material: &[u8], key_format: u32) -> Attribute {
    Attribute {
        key: AttrKey::Standard(tag::DIGEST),
        value: Value::Structure(vec![
            Item::new(
                tag::HASHING_ALGORITHM,
                Value::Enumeration(HashingAlgorithm::Sha256.value()),
            ),
            Item::new(
                tag::DIGEST_VALUE,
                Value::ByteString(Sha256::digest(material).to_vec()),
            ),
            Item::new(tag::KEY_FORMAT_TYPE, Value::Enumeration(key_format)),
        ]),
    }
}

/// Object types whose material sits in a Key Block (and so has a Key Format Type and Digest).
pub(super) fn has_key_block(object_type: ObjectType) -> bool {
    matches!(
        object_type,
        ObjectType::SymmetricKey
            | ObjectType::SecretData
            | ObjectType::PrivateKey
            | ObjectType::PublicKey
            | ObjectType::SplitKey
    )
}

/// Where an object's material came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum MaterialOrigin {
    /// Drawn by this server (Create, Re-key): it carries a Random Number Generator attribute.
    Generated,
    /// Sent by the client (Register).
    Client,
}

/// Random Number Generator of keys this server draws: the operating system's CSPRNG
/// (getrandom), whose algorithm KMIP has no name for, hence Unspecified.
pub(super) fn keyward_rng() -> Value {
    Value::Structure(vec![Item::new(
        tag::RNG_ALGORITHM,
        Value::Enumeration(RNG_ALGORITHM_UNSPECIFIED),
    )])
}

/// Lease Time of every object, in seconds.
const LEASE_TIME_SECS: u32 = 3600;

/// RNG Algorithm "Unspecified".
const RNG_ALGORITHM_UNSPECIFIED: u32 = 0x01;

/// Builds, seals and stages a new object from client attributes and material.
/// What a new object is made of, beside the client's attributes.
pub(super) struct NewObject<'m> {
    pub object_type: ObjectType,
    /// Key Format Type of `material`.
    pub key_format: u32,
    /// Secret Data Type, Opaque Data Type or Certificate Type.
    pub data_type: Option<u32>,
    pub material: &'m [u8],
    pub origin: MaterialOrigin,
    /// Fields kept beside the material (see `ManagedObject::object_fields`).
    pub object_fields: Vec<Item>,
}

pub(super) fn store_new(
    ctx: &mut Ctx,
    new: NewObject,
    client_attributes: Vec<Attribute>,
) -> Result<String, EngineError> {
    let NewObject {
        object_type,
        key_format,
        data_type,
        material,
        origin,
        object_fields,
    } = new;
    // UIDs are never reused: a (vanishingly unlikely) collision with any object, whoever
    // owns it, draws again.
    let mut uid = ctx.fresh_uid()?;
    while ctx.overlay.get(&uid)?.is_some() {
        uid = ctx.fresh_uid()?;
    }
    let mut managed = ManagedObject {
        object_type,
        state: State::PreActive,
        material_generation: 1,
        key_format,
        data_type,
        attributes: Vec::new(),
        object_fields,
        instance_indexes: Vec::new(),
    };
    for a in client_attributes {
        if a.key == AttrKey::Standard(tag::OBJECT_TYPE) {
            continue;
        }
        if server_managed(&a.key)
            && !matches!(
                a.key,
                AttrKey::Standard(
                    tag::CRYPTOGRAPHIC_ALGORITHM
                        | tag::CRYPTOGRAPHIC_LENGTH
                        | tag::FRESH
                        | tag::CERTIFICATE_TYPE
                        | tag::CERTIFICATE_LENGTH
                        | tag::CERTIFICATE_SUBJECT_CN
                )
            )
        {
            return Err(EngineError::ReadOnly(a.key.v1_name()));
        }
        if !multi_instance(&a.key) && managed.instances(&a.key).next().is_some() {
            return Err(EngineError::SingleValued(a.key.v1_name()));
        }
        check_unique_name(ctx, &uid, &a)?;
        managed.attributes.push(a);
    }
    let now = Value::DateTime(ctx.now);
    managed.set(tag::INITIAL_DATE, now.clone());
    managed.set(tag::LAST_CHANGE_DATE, now.clone());
    managed.set(tag::ORIGINAL_CREATION_DATE, now);
    // No client has been served the object yet (a registering client may say otherwise).
    if managed.first(tag::FRESH).is_none() {
        managed.set(tag::FRESH, Value::Boolean(true));
    }
    // Advisory to clients: how long they may keep a served object before asking again.
    managed.set(tag::LEASE_TIME, Value::Interval(LEASE_TIME_SECS));
    if origin == MaterialOrigin::Generated {
        managed.set(tag::RANDOM_NUMBER_GENERATOR, keyward_rng());
    }
    if managed.first(tag::SENSITIVE).is_none() {
        managed.set(tag::SENSITIVE, Value::Boolean(false));
    }
    if managed.first(tag::EXTRACTABLE).is_none() {
        managed.set(tag::EXTRACTABLE, Value::Boolean(true));
    }
    let sensitive = matches!(managed.first(tag::SENSITIVE), Some(Value::Boolean(true)));
    let extractable = !matches!(managed.first(tag::EXTRACTABLE), Some(Value::Boolean(false)));
    managed.set(tag::ALWAYS_SENSITIVE, Value::Boolean(sensitive));
    managed.set(tag::NEVER_EXTRACTABLE, Value::Boolean(!extractable));
    // Keys registered wrapped are digested as the wrapped value they are stored as.
    if has_key_block(object_type) {
        managed
            .attributes
            .push(digest_attribute(material, key_format));
    }
    managed.advance_to(ctx.now);
    let stored = StoredObject {
        uid: uid.clone(),
        owner: ctx.client.owner.clone(),
        version: 0,
        metadata: Vec::new(),
        sealed_material: Some(ctx.seal(&uid, 1, material)?),
        index_terms: Vec::new(),
    };
    ctx.save(stored, &managed);
    ctx.placeholder = Some(uid.clone());
    Ok(uid)
}

/// Material length in bytes for a generated key, or why it cannot be generated.
pub(super) fn key_bytes(algorithm: Option<u32>, length: Option<i32>) -> Result<usize, EngineError> {
    key_lengths::symmetric_key_bytes(algorithm, length)
}

pub(super) fn create(ctx: &mut Ctx, payload: &Item) -> Result<Vec<Item>, EngineError> {
    let object_type = enum_field(payload, tag::OBJECT_TYPE)?
        .ok_or_else(|| EngineError::MissingData("Object Type".into()))?;
    if object_type != ObjectType::SymmetricKey.value() {
        return Err(EngineError::InvalidField(format!(
            "Create supports Symmetric Key only, not object type {object_type}"
        )));
    }
    let attributes = ctx.request_attributes(payload)?;
    let find = |t| {
        attributes
            .iter()
            .find(|a| a.key == AttrKey::Standard(t))
            .map(|a| a.value.clone())
    };
    let algorithm = match find(tag::CRYPTOGRAPHIC_ALGORITHM) {
        Some(Value::Enumeration(v)) => Some(v),
        Some(_) => return Err(EngineError::InvalidField("Cryptographic Algorithm".into())),
        None => None,
    };
    let length = match find(tag::CRYPTOGRAPHIC_LENGTH) {
        Some(Value::Integer(v)) => Some(v),
        Some(_) => return Err(EngineError::InvalidField("Cryptographic Length".into())),
        None => None,
    };
    let bytes = key_bytes(algorithm, length)?;
    // Quantum safety of a symmetric key: only AES-256 keeps a 128-bit margin against Grover.
    if matches!(find(tag::QUANTUM_SAFE), Some(Value::Boolean(true)))
        && !(algorithm == Some(CryptographicAlgorithm::Aes.value()) && bytes == 32)
    {
        return Err(EngineError::NotQuantumSafe);
    }
    let mut material = Zeroizing::new(vec![0u8; bytes]);
    getrandom::fill(&mut material).map_err(|_| EngineError::Random)?;
    let uid = store_new(
        ctx,
        NewObject {
            object_type: ObjectType::SymmetricKey,
            key_format: KeyFormatType::Raw.value(),
            data_type: None,
            material: &material,
            origin: MaterialOrigin::Generated,
            object_fields: Vec::new(),
        },
        attributes,
    )?;
    Ok(vec![
        Item::new(tag::OBJECT_TYPE, Value::Enumeration(object_type)),
        uid_item(&uid),
    ])
}

/// Key material out of a Key Block in Raw or Opaque form (Transparent Symmetric Key: its Key).
pub(super) fn key_block_material(block: &Item) -> Result<(u32, Zeroizing<Vec<u8>>), EngineError> {
    let format = enum_field(block, tag::KEY_FORMAT_TYPE)?
        .ok_or_else(|| EngineError::MissingData("Key Format Type".into()))?;
    let value = block
        .child(tag::KEY_VALUE)
        .ok_or_else(|| EngineError::MissingData("Key Value".into()))?;
    let material = match value.child(tag::KEY_MATERIAL) {
        Some(Item {
            value: Value::ByteString(b),
            ..
        }) => b.clone(),
        Some(
            m @ Item {
                value: Value::Structure(_),
                ..
            },
        ) if format == KeyFormatType::TransparentSymmetricKey.value() => match m.child(tag::KEY) {
            Some(Item {
                value: Value::ByteString(b),
                ..
            }) => b.clone(),
            _ => {
                return Err(EngineError::InvalidField(
                    "Transparent Symmetric Key lacks Key".into(),
                ));
            }
        },
        _ => return Err(EngineError::InvalidField("Key Material".into())),
    };
    let format = if format == KeyFormatType::TransparentSymmetricKey.value() {
        KeyFormatType::Raw.value()
    } else {
        format
    };
    Ok((format, Zeroizing::new(material)))
}

/// A Key Block the client wrapped itself: its Key Value (a Byte String, or a structure whose
/// Key Material is wrapped) is kept as given, as its TTLV encoding, and so is its Key Wrapping
/// Data; Keyward neither unwraps it nor needs the wrapping key. `None` if the block is plain.
/// A wrapped Key Block's parts: Key Format Type, the Key Value's encoding, Key Wrapping Data.
type WrappedBlock = (u32, Zeroizing<Vec<u8>>, Item);

fn wrapped_block(block: &Item) -> Result<Option<WrappedBlock>, EngineError> {
    let Some(wrapping) = block.child(tag::KEY_WRAPPING_DATA) else {
        return Ok(None);
    };
    if wrapping.item_type() != crate::ttlv::ItemType::Structure {
        return Err(EngineError::InvalidField(
            "Key Wrapping Data must be a Structure".into(),
        ));
    }
    let format = enum_field(block, tag::KEY_FORMAT_TYPE)?
        .ok_or_else(|| EngineError::MissingData("Key Format Type".into()))?;
    let value = block
        .child(tag::KEY_VALUE)
        .ok_or_else(|| EngineError::MissingData("Key Value".into()))?;
    Ok(Some((
        format,
        Zeroizing::new(crate::ttlv::encode(value)),
        wrapping.clone(),
    )))
}

/// The Key Block of a key registered wrapped: format, Key Value and Key Wrapping Data as the
/// client sent them, algorithm and length from the attributes.
fn wrapped_key_block(
    uid: &str,
    managed: &ManagedObject,
    material: &[u8],
    wrapping: &Item,
) -> Result<Item, EngineError> {
    // Sealed by this server from an item that decoded once already.
    let value = crate::ttlv::decode(material, &crate::ttlv::Limits::default())
        .map_err(|_| EngineError::CorruptMetadata(uid.to_string()))?;
    let mut block = vec![
        Item::new(tag::KEY_FORMAT_TYPE, Value::Enumeration(managed.key_format)),
        value,
    ];
    if let Some(alg) = managed.enumeration(tag::CRYPTOGRAPHIC_ALGORITHM) {
        block.push(Item::new(
            tag::CRYPTOGRAPHIC_ALGORITHM,
            Value::Enumeration(alg),
        ));
    }
    if let Some(len) = managed.int(tag::CRYPTOGRAPHIC_LENGTH) {
        block.push(Item::new(tag::CRYPTOGRAPHIC_LENGTH, Value::Integer(len)));
    }
    block.push(wrapping.clone());
    Ok(Item::structure(tag::KEY_BLOCK, block))
}

/// Key Block algorithm and length become attributes when the template lacks them.
fn adopt_block_algorithm(block: &Item, attributes: &mut Vec<Attribute>) {
    for t in [tag::CRYPTOGRAPHIC_ALGORITHM, tag::CRYPTOGRAPHIC_LENGTH] {
        if let Some(v) = block.child(t)
            && !attributes.iter().any(|a| a.key == AttrKey::Standard(t))
        {
            attributes.push(Attribute {
                key: AttrKey::Standard(t),
                value: v.value.clone(),
            });
        }
    }
}

/// Certificate Type X.509.
const CERTIFICATE_TYPE_X509: u32 = 0x01;

/// The attributes a server derives from a registered certificate: its type and length, and for
/// X.509 the subject's common name. A Certificate Type the client also sent as an attribute must
/// agree with the certificate's own.
fn certificate_attributes(
    certificate_type: u32,
    value: &[u8],
    attributes: &mut Vec<Attribute>,
) -> Result<(), EngineError> {
    let type_key = AttrKey::Standard(tag::CERTIFICATE_TYPE);
    if let Some(sent) = attributes.iter().find(|a| a.key == type_key)
        && sent.value != Value::Enumeration(certificate_type)
    {
        return Err(EngineError::InvalidField(
            "Certificate Type attribute differs from the certificate's".into(),
        ));
    }
    attributes.retain(|a| a.key != type_key);
    attributes.push(Attribute {
        key: type_key,
        value: Value::Enumeration(certificate_type),
    });
    let length = i32::try_from(value.len())
        .map_err(|_| EngineError::InvalidField("Certificate Value is too long".into()))?;
    attributes.push(Attribute {
        key: AttrKey::Standard(tag::CERTIFICATE_LENGTH),
        value: Value::Integer(length),
    });
    if certificate_type == CERTIFICATE_TYPE_X509 {
        let (_, parsed) = x509_parser::parse_x509_certificate(value).map_err(|e| {
            EngineError::InvalidField(format!("Certificate Value is not DER X.509: {e}"))
        })?;
        if let Some(cn) = parsed
            .subject()
            .iter_common_name()
            .next()
            .and_then(|cn| cn.as_str().ok())
        {
            attributes.push(Attribute {
                key: AttrKey::Standard(tag::CERTIFICATE_SUBJECT_CN),
                value: Value::TextString(cn.to_string()),
            });
        }
    }
    Ok(())
}

/// Transparent formats of public and private keys (DSA through EC): their Key Material is a
/// structure of big integers, kept sealed as its TTLV encoding and served back as registered.
fn is_transparent_asymmetric(format: u32) -> bool {
    (0x08..=0x15).contains(&format)
}

/// A public or private key's format and material as the client registered it: bytes for the
/// encoded formats (PKCS#1, PKCS#8, X.509, EC Private Key), the TTLV encoding of the Key
/// Material structure for the transparent ones. Keyward stores and serves such keys; it does
/// not convert between their formats.
fn asymmetric_block_material(block: &Item) -> Result<(u32, Zeroizing<Vec<u8>>), EngineError> {
    let format = enum_field(block, tag::KEY_FORMAT_TYPE)?
        .ok_or_else(|| EngineError::MissingData("Key Format Type".into()))?;
    let material = block
        .child(tag::KEY_VALUE)
        .and_then(|v| v.child(tag::KEY_MATERIAL))
        .ok_or_else(|| EngineError::MissingData("Key Material".into()))?;
    match (&material.value, is_transparent_asymmetric(format)) {
        (Value::ByteString(b), false) => Ok((format, Zeroizing::new(b.clone()))),
        (Value::Structure(_), true) => Ok((format, Zeroizing::new(crate::ttlv::encode(material)))),
        _ => Err(EngineError::InvalidField(format!(
            "Key Material does not fit Key Format Type {format}"
        ))),
    }
}

/// The Key Material item of a stored public or private key.
fn asymmetric_key_material(uid: &str, format: u32, material: &[u8]) -> Result<Item, EngineError> {
    if !is_transparent_asymmetric(format) {
        return Ok(Item::new(
            tag::KEY_MATERIAL,
            Value::ByteString(material.to_vec()),
        ));
    }
    // Sealed by this server from a structure that decoded once already; failing here means
    // the stored record is damaged, not that the client erred.
    crate::ttlv::decode(material, &crate::ttlv::Limits::default())
        .map_err(|_| EngineError::CorruptMetadata(uid.to_string()))
}

/// A Key Block in `format`, with the object's algorithm and length.
fn key_block(format: u32, key_material: Item, managed: &ManagedObject) -> Item {
    let mut block = vec![
        Item::new(tag::KEY_FORMAT_TYPE, Value::Enumeration(format)),
        Item::structure(tag::KEY_VALUE, vec![key_material]),
    ];
    if let Some(alg) = managed.enumeration(tag::CRYPTOGRAPHIC_ALGORITHM) {
        block.push(Item::new(
            tag::CRYPTOGRAPHIC_ALGORITHM,
            Value::Enumeration(alg),
        ));
    }
    if let Some(len) = managed.int(tag::CRYPTOGRAPHIC_LENGTH) {
        block.push(Item::new(tag::CRYPTOGRAPHIC_LENGTH, Value::Integer(len)));
    }
    Item::structure(tag::KEY_BLOCK, block)
}

pub(super) fn register(ctx: &mut Ctx, payload: &Item) -> Result<Vec<Item>, EngineError> {
    let object_type = enum_field(payload, tag::OBJECT_TYPE)?
        .ok_or_else(|| EngineError::MissingData("Object Type".into()))?;
    let mut attributes = ctx.request_attributes(payload)?;
    // What the server derives from a certificate is not the client's to set; Certificate Type
    // may be repeated for a certificate and is checked against it below.
    let derived_only = |a: &Attribute| match a.key {
        AttrKey::Standard(tag::CERTIFICATE_LENGTH | tag::CERTIFICATE_SUBJECT_CN) => true,
        AttrKey::Standard(tag::CERTIFICATE_TYPE) => object_type != ObjectType::Certificate.value(),
        _ => false,
    };
    if let Some(a) = attributes.iter().find(|a| derived_only(a)) {
        return Err(EngineError::ReadOnly(a.key.v1_name()));
    }
    let mut object_fields = Vec::new();
    let (kind, format, data_type, material) = match ObjectType::from_u32(object_type) {
        Some(ObjectType::SymmetricKey) => {
            let block = payload
                .child(tag::SYMMETRIC_KEY)
                .and_then(|k| k.child(tag::KEY_BLOCK))
                .ok_or_else(|| EngineError::MissingData("Symmetric Key".into()))?;
            if let Some((format, material, wrapping)) = wrapped_block(block)? {
                adopt_block_algorithm(block, &mut attributes);
                object_fields.push(wrapping);
                (ObjectType::SymmetricKey, format, None, material)
            } else {
                let (format, material) = key_block_material(block)?;
                if format != KeyFormatType::Raw.value() {
                    return Err(EngineError::KeyFormatNotSupported(format));
                }
                // Get without a requested format answers in the format the client registered.
                let format = enum_field(block, tag::KEY_FORMAT_TYPE)?.unwrap_or(format);
                adopt_block_algorithm(block, &mut attributes);
                (ObjectType::SymmetricKey, format, None, material)
            }
        }
        Some(ObjectType::SplitKey) => {
            let split = payload
                .child(tag::SPLIT_KEY)
                .ok_or_else(|| EngineError::MissingData("Split Key".into()))?;
            let fields = SplitKeyFields::read(split)
                .map_err(|e| EngineError::InvalidField(format!("Split Key: {e}")))?;
            let block = split
                .child(tag::KEY_BLOCK)
                .ok_or_else(|| EngineError::MissingData("Key Block of the Split Key".into()))?;
            object_fields.extend(fields.encode());
            let (format, material) = match wrapped_block(block)? {
                Some((format, material, wrapping)) => {
                    object_fields.push(wrapping);
                    (format, material)
                }
                None => key_block_material(block)?,
            };
            adopt_block_algorithm(block, &mut attributes);
            (ObjectType::SplitKey, format, None, material)
        }
        Some(ObjectType::PgpKey) => {
            let pgp = payload
                .child(tag::PGP_KEY)
                .ok_or_else(|| EngineError::MissingData("PGP Key".into()))?;
            let fields = PgpKeyFields::read(pgp)
                .map_err(|e| EngineError::InvalidField(format!("PGP Key: {e}")))?;
            let block = pgp
                .child(tag::KEY_BLOCK)
                .ok_or_else(|| EngineError::MissingData("Key Block of the PGP Key".into()))?;
            object_fields.extend(fields.encode());
            let (format, material) = match wrapped_block(block)? {
                Some((format, material, wrapping)) => {
                    object_fields.push(wrapping);
                    (format, material)
                }
                None => asymmetric_block_material(block)?,
            };
            adopt_block_algorithm(block, &mut attributes);
            (ObjectType::PgpKey, format, None, material)
        }
        Some(ObjectType::Template) if !ctx.v2() => {
            let template = payload
                .child(tag::TEMPLATE)
                .ok_or_else(|| EngineError::MissingData("Template".into()))?;
            // A template's content is attributes for later requests, not its own.
            for a in template.children_with(tag::ATTRIBUTE) {
                attribute::parse_v1(a).map_err(|e| EngineError::InvalidField(e.to_string()))?;
                object_fields.push(a.clone());
            }
            (
                ObjectType::Template,
                KeyFormatType::Opaque.value(),
                None,
                Zeroizing::new(Vec::new()),
            )
        }
        Some(ObjectType::SecretData) => {
            let secret = payload
                .child(tag::SECRET_DATA)
                .ok_or_else(|| EngineError::MissingData("Secret Data".into()))?;
            let data_type = enum_field(secret, tag::SECRET_DATA_TYPE)?;
            let block = secret
                .child(tag::KEY_BLOCK)
                .ok_or_else(|| EngineError::MissingData("Key Block".into()))?;
            let (format, material) = key_block_material(block)?;
            (ObjectType::SecretData, format, data_type, material)
        }
        Some(kind @ (ObjectType::PublicKey | ObjectType::PrivateKey)) => {
            let wrapper = if kind == ObjectType::PublicKey {
                tag::PUBLIC_KEY
            } else {
                tag::PRIVATE_KEY
            };
            let block = payload
                .child(wrapper)
                .and_then(|k| k.child(tag::KEY_BLOCK))
                .ok_or_else(|| EngineError::MissingData("Key Block of the key".into()))?;
            let (format, material) = match wrapped_block(block)? {
                Some((format, material, wrapping)) => {
                    object_fields.push(wrapping);
                    (format, material)
                }
                None => key_format::registered_key_material(
                    kind,
                    block,
                    &attributes,
                    asymmetric_block_material,
                )?,
            };
            adopt_block_algorithm(block, &mut attributes);
            (kind, format, None, material)
        }
        Some(ObjectType::Certificate) => {
            let certificate = payload
                .child(tag::CERTIFICATE)
                .ok_or_else(|| EngineError::MissingData("Certificate".into()))?;
            let certificate_type = enum_field(certificate, tag::CERTIFICATE_TYPE)?
                .ok_or_else(|| EngineError::MissingData("Certificate Type".into()))?;
            let value = match certificate.child(tag::CERTIFICATE_VALUE) {
                Some(Item {
                    value: Value::ByteString(b),
                    ..
                }) => Zeroizing::new(b.clone()),
                _ => return Err(EngineError::MissingData("Certificate Value".into())),
            };
            certificate_attributes(certificate_type, &value, &mut attributes)?;
            (
                ObjectType::Certificate,
                KeyFormatType::X509.value(),
                Some(certificate_type),
                value,
            )
        }
        Some(ObjectType::OpaqueObject) => {
            let opaque = payload
                .child(tag::OPAQUE_OBJECT)
                .ok_or_else(|| EngineError::MissingData("Opaque Object".into()))?;
            let data_type = enum_field(opaque, tag::OPAQUE_DATA_TYPE)?;
            let material = match opaque.child(tag::OPAQUE_DATA_VALUE) {
                Some(Item {
                    value: Value::ByteString(b),
                    ..
                }) => Zeroizing::new(b.clone()),
                _ => return Err(EngineError::MissingData("Opaque Data Value".into())),
            };
            (
                ObjectType::OpaqueObject,
                KeyFormatType::Opaque.value(),
                data_type,
                material,
            )
        }
        _ => {
            return Err(EngineError::FeatureNotSupported(format!(
                "Register of object type {object_type}"
            )));
        }
    };
    let uid = store_new(
        ctx,
        NewObject {
            object_type: kind,
            key_format: format,
            data_type,
            material: &material,
            origin: MaterialOrigin::Client,
            object_fields,
        },
        attributes,
    )?;
    Ok(vec![uid_item(&uid)])
}

pub(super) fn get(ctx: &mut Ctx, payload: &Item) -> Result<Vec<Item>, EngineError> {
    let uid = ctx.uid(payload)?;
    let (stored, managed) = ctx.load_live(&uid)?;
    let wrap_with = payload
        .child(tag::KEY_WRAPPING_SPECIFICATION)
        .map(WrappingRequest::read)
        .transpose()?;
    if payload.child(tag::KEY_COMPRESSION_TYPE).is_some() {
        return Err(EngineError::FeatureNotSupported("key compression".into()));
    }
    // A Sensitive object never leaves in the clear; wrapped, it may.
    if wrap_with.is_none() && matches!(managed.first(tag::SENSITIVE), Some(Value::Boolean(true))) {
        return Err(EngineError::Sensitive(uid));
    }
    let requested = enum_field(payload, tag::KEY_FORMAT_TYPE)?;
    let material = ctx.unseal(&stored, &managed)?;
    if let Some(wrapping) = wrap_with {
        let object_item = wrapped_for_get(ctx, &uid, &managed, requested, &material, &wrapping)?;
        return served(ctx, stored, &managed, &uid, object_item);
    }
    let wrapper_tag = match managed.object_type {
        ObjectType::SymmetricKey => Some(tag::SYMMETRIC_KEY),
        ObjectType::PublicKey => Some(tag::PUBLIC_KEY),
        ObjectType::PrivateKey => Some(tag::PRIVATE_KEY),
        ObjectType::SplitKey => Some(tag::SPLIT_KEY),
        ObjectType::PgpKey => Some(tag::PGP_KEY),
        _ => None,
    };
    // Objects that carry fields beside their Key Block, and keys registered wrapped, come back
    // exactly as they were registered: no format conversion.
    let wrapping = managed.object_field(tag::KEY_WRAPPING_DATA);
    let fields_before_block: Vec<Item> = managed
        .object_fields
        .iter()
        .filter(|i| i.tag != tag::KEY_WRAPPING_DATA)
        .cloned()
        .collect();
    let kept_as_registered = wrapping.is_some()
        || matches!(
            managed.object_type,
            ObjectType::SplitKey | ObjectType::PgpKey | ObjectType::Template
        );
    let object_item = if let (true, Some(wrapper_tag)) = (kept_as_registered, wrapper_tag) {
        if let Some(f) = requested.filter(|f| *f != managed.key_format) {
            return Err(EngineError::KeyFormatNotSupported(f));
        }
        let block = match wrapping {
            Some(w) => wrapped_key_block(&uid, &managed, &material, w)?,
            None if managed.object_type == ObjectType::PgpKey => {
                let key_material = asymmetric_key_material(&uid, managed.key_format, &material)?;
                key_block(managed.key_format, key_material, &managed)
            }
            None => key_block(
                managed.key_format,
                Item::new(tag::KEY_MATERIAL, Value::ByteString(material.to_vec())),
                &managed,
            ),
        };
        let mut children = fields_before_block;
        children.push(block);
        Item::structure(wrapper_tag, children)
    } else if managed.object_type == ObjectType::Template {
        Item::structure(tag::TEMPLATE, fields_before_block)
    } else {
        match managed.object_type {
            ObjectType::SymmetricKey => {
                let format = requested.unwrap_or(managed.key_format);
                let key_material = if format == KeyFormatType::Raw.value() {
                    Item::new(tag::KEY_MATERIAL, Value::ByteString(material.to_vec()))
                } else if format == KeyFormatType::TransparentSymmetricKey.value() {
                    Item::structure(
                        tag::KEY_MATERIAL,
                        vec![Item::new(tag::KEY, Value::ByteString(material.to_vec()))],
                    )
                } else {
                    return Err(EngineError::KeyFormatNotSupported(format));
                };
                Item::structure(
                    tag::SYMMETRIC_KEY,
                    vec![key_block(format, key_material, &managed)],
                )
            }
            kind @ (ObjectType::PublicKey | ObjectType::PrivateKey) => {
                let (format, key_material) = match requested.filter(|f| *f != managed.key_format) {
                    Some(f) => key_format::converted_key_material(&uid, &managed, &material, f)?,
                    None => (
                        managed.key_format,
                        asymmetric_key_material(&uid, managed.key_format, &material)?,
                    ),
                };
                let wrapper = if kind == ObjectType::PublicKey {
                    tag::PUBLIC_KEY
                } else {
                    tag::PRIVATE_KEY
                };
                Item::structure(wrapper, vec![key_block(format, key_material, &managed)])
            }
            ObjectType::Certificate => {
                if let Some(f) = requested.filter(|f| *f != managed.key_format) {
                    return Err(EngineError::KeyFormatNotSupported(f));
                }
                let certificate_type = managed
                    .data_type
                    .ok_or_else(|| EngineError::CorruptMetadata(uid.clone()))?;
                Item::structure(
                    tag::CERTIFICATE,
                    vec![
                        Item::new(tag::CERTIFICATE_TYPE, Value::Enumeration(certificate_type)),
                        Item::new(tag::CERTIFICATE_VALUE, Value::ByteString(material.to_vec())),
                    ],
                )
            }
            ObjectType::SecretData => {
                let (format, key_material) = match requested.filter(|f| *f != managed.key_format) {
                    Some(f) => {
                        key_format::converted_secret_material(managed.key_format, f, &material)?
                    }
                    None => (
                        managed.key_format,
                        Item::new(tag::KEY_MATERIAL, Value::ByteString(material.to_vec())),
                    ),
                };
                let mut children = Vec::new();
                if let Some(dt) = managed.data_type {
                    children.push(Item::new(tag::SECRET_DATA_TYPE, Value::Enumeration(dt)));
                }
                children.push(Item::structure(
                    tag::KEY_BLOCK,
                    vec![
                        Item::new(tag::KEY_FORMAT_TYPE, Value::Enumeration(format)),
                        Item::structure(tag::KEY_VALUE, vec![key_material]),
                    ],
                ));
                Item::structure(tag::SECRET_DATA, children)
            }
            ObjectType::OpaqueObject => {
                if let Some(f) = requested {
                    return Err(EngineError::KeyFormatNotSupported(f));
                }
                let mut children = Vec::new();
                if let Some(dt) = managed.data_type {
                    children.push(Item::new(tag::OPAQUE_DATA_TYPE, Value::Enumeration(dt)));
                }
                children.push(Item::new(
                    tag::OPAQUE_DATA_VALUE,
                    Value::ByteString(material.to_vec()),
                ));
                Item::structure(tag::OPAQUE_OBJECT, children)
            }
            other => {
                return Err(EngineError::FeatureNotSupported(format!(
                    "Get of object type {}",
                    other.value()
                )));
            }
        }
    };
    served(ctx, stored, &managed, &uid, object_item)
}

/// The Get answer for `object_item`; the first Get clears Fresh.
fn served(
    ctx: &mut Ctx,
    stored: StoredObject,
    managed: &ManagedObject,
    uid: &str,
    object_item: Item,
) -> Result<Vec<Item>, EngineError> {
    if matches!(managed.first(tag::FRESH), Some(Value::Boolean(true))) {
        let mut served = managed.clone();
        served.set(tag::FRESH, Value::Boolean(false));
        ctx.save(stored, &served);
    }
    Ok(vec![
        Item::new(
            tag::OBJECT_TYPE,
            Value::Enumeration(managed.object_type.value()),
        ),
        uid_item(uid),
        object_item,
    ])
}

/// A symmetric key or secret data wrapped for Get: Raw material wrapped, Key Wrapping Data
/// beside it in the Key Block.
fn wrapped_for_get(
    ctx: &Ctx,
    uid: &str,
    managed: &ManagedObject,
    requested: Option<u32>,
    material: &[u8],
    wrapping: &WrappingRequest,
) -> Result<Item, EngineError> {
    let wrapper_tag = match managed.object_type {
        ObjectType::SymmetricKey => tag::SYMMETRIC_KEY,
        ObjectType::SecretData => tag::SECRET_DATA,
        other => {
            return Err(EngineError::FeatureNotSupported(format!(
                "key wrapping of object type {}",
                other.kmip_name()
            )));
        }
    };
    if managed.object_field(tag::KEY_WRAPPING_DATA).is_some() {
        return Err(EngineError::FeatureNotSupported(
            "wrapping a key that was registered wrapped".into(),
        ));
    }
    if let Some(f) = requested.filter(|f| *f != managed.key_format) {
        return Err(EngineError::KeyFormatNotSupported(f));
    }
    if wrapping.wraps_itself(uid) {
        return Err(EngineError::Illegal("a key cannot wrap itself".into()));
    }
    let (wrapped, data) = wrapping.wrap(ctx, material)?;
    let mut block = key_block(
        managed.key_format,
        Item::new(tag::KEY_MATERIAL, Value::ByteString(wrapped)),
        managed,
    );
    if let Value::Structure(children) = &mut block.value {
        children.push(data);
    }
    let mut children = Vec::new();
    if let (ObjectType::SecretData, Some(dt)) = (managed.object_type, managed.data_type) {
        children.push(Item::new(tag::SECRET_DATA_TYPE, Value::Enumeration(dt)));
    }
    children.push(block);
    Ok(Item::structure(wrapper_tag, children))
}

pub(super) fn rekey(ctx: &mut Ctx, payload: &Item) -> Result<Vec<Item>, EngineError> {
    let uid = ctx.uid(payload)?;
    let (old_stored, mut old) = ctx.load_live(&uid)?;
    if old.object_type != ObjectType::SymmetricKey {
        return Err(EngineError::Illegal(
            "Re-key applies to symmetric keys".into(),
        ));
    }
    let bytes = key_bytes(
        old.enumeration(tag::CRYPTOGRAPHIC_ALGORITHM),
        old.int(tag::CRYPTOGRAPHIC_LENGTH),
    )?;
    let mut material = Zeroizing::new(vec![0u8; bytes]);
    getrandom::fill(&mut material).map_err(|_| EngineError::Random)?;
    // The replacement inherits the client's attributes; the Name moves to it.
    let carried: Vec<Attribute> = old
        .attributes
        .iter()
        .filter(|a| {
            !server_managed(&a.key)
                || matches!(
                    a.key,
                    AttrKey::Standard(tag::CRYPTOGRAPHIC_ALGORITHM | tag::CRYPTOGRAPHIC_LENGTH)
                )
        })
        .filter(|a| {
            !matches!(
                a.key,
                AttrKey::Standard(tag::ACTIVATION_DATE | tag::DEACTIVATION_DATE | tag::LINK)
            )
        })
        .cloned()
        .collect();
    old.attributes
        .retain(|a| a.key != AttrKey::Standard(tag::NAME));
    let link = |kind: LinkType, to: &str| Attribute {
        key: AttrKey::Standard(tag::LINK),
        value: Value::Structure(vec![
            Item::new(tag::LINK_TYPE, Value::Enumeration(kind.value())),
            Item::new(
                tag::LINKED_OBJECT_IDENTIFIER,
                Value::TextString(to.to_string()),
            ),
        ]),
    };
    // Stage the old key without its Name first so the new key may take it.
    ctx.save(old_stored.clone(), &old);
    let new_uid = store_new(
        ctx,
        NewObject {
            object_type: ObjectType::SymmetricKey,
            key_format: KeyFormatType::Raw.value(),
            data_type: None,
            material: &material,
            origin: MaterialOrigin::Generated,
            object_fields: Vec::new(),
        },
        carried,
    )?;
    let (new_stored, mut new) = ctx.load(&new_uid)?;
    new.attributes.push(link(LinkType::ReplacedObject, &uid));
    ctx.save(new_stored, &new);
    let (old_stored, mut old) = ctx.load(&uid)?;
    old.attributes
        .push(link(LinkType::ReplacementObject, &new_uid));
    touch(ctx, &mut old);
    ctx.save(old_stored, &old);
    Ok(vec![uid_item(&new_uid)])
}

pub(super) fn check(ctx: &mut Ctx, payload: &Item) -> Result<Vec<Item>, EngineError> {
    let uid = ctx.uid(payload)?;
    let (_, managed) = ctx.load_live(&uid)?;
    if let Some(wanted) = int_field(payload, tag::CRYPTOGRAPHIC_USAGE_MASK)? {
        let have = managed.int(tag::CRYPTOGRAPHIC_USAGE_MASK).unwrap_or(0);
        if have & wanted != wanted {
            return Err(EngineError::IncompatibleUsageMask(uid));
        }
    }
    Ok(vec![uid_item(&uid)])
}
