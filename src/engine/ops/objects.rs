//! Making and serving objects: Create, Register, Get, Re-key, Check, each a function from its
//! typed request to its typed response. Register reads and Get builds managed objects through
//! the one `kmip::managed_object::Object` codec.

use super::key_format;
use super::key_wrap::WrappingRequest;
use super::*;
use crate::kmip::key_objects::{PgpKeyFields, SplitKeyFields};
use crate::kmip::managed_object::{KeyBlock, Object};
use crate::kmip::object_payloads::{
    CheckRequest, CheckResponse, CreateRequest, CreateResponse, GetRequest, GetResponse,
    ReKeyRequest, ReKeyResponse, RegisterRequest, RegisterResponse,
};

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
    // owns it, draws again (in a cluster, the group runs again when its commit finds one).
    let mut uid = ctx.fresh_uid()?;
    while !ctx.overlay.uid_is_free(&uid)? {
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
        add_client_attribute(ctx, &uid, &mut managed, a)?;
    }
    set_server_attributes(&mut managed, ctx.now, origin);
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

/// Adds one of the client's attributes to a new object, unless the server manages it, it is
/// single-valued and already set, or it is a Name another object holds. Object Type is the
/// request's, not an attribute to keep.
fn add_client_attribute(
    ctx: &Ctx,
    uid: &str,
    managed: &mut ManagedObject,
    a: Attribute,
) -> Result<(), EngineError> {
    if a.key == AttrKey::Standard(tag::OBJECT_TYPE) {
        return Ok(());
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
    check_unique_name(ctx, uid, &a)?;
    managed.attributes.push(a);
    Ok(())
}

/// The attributes the server sets on every new object, at `now`.
fn set_server_attributes(managed: &mut ManagedObject, now: i64, origin: MaterialOrigin) {
    let now = Value::DateTime(now);
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
}

/// Stores a new object whose material the server generated.
pub(super) fn store_generated(
    ctx: &mut Ctx,
    object_type: ObjectType,
    key_format: u32,
    material: &[u8],
    attributes: Vec<Attribute>,
) -> Result<String, EngineError> {
    store_new(
        ctx,
        NewObject {
            object_type,
            key_format,
            data_type: None,
            material,
            origin: MaterialOrigin::Generated,
            object_fields: Vec::new(),
        },
        attributes,
    )
}

/// A Link attribute of `kind` to `to`.
pub(super) fn link(kind: LinkType, to: &str) -> Attribute {
    Attribute {
        key: AttrKey::Standard(tag::LINK),
        value: Value::Structure(vec![
            Item::new(tag::LINK_TYPE, Value::Enumeration(kind.value())),
            Item::new(
                tag::LINKED_OBJECT_IDENTIFIER,
                Value::TextString(to.to_string()),
            ),
        ]),
    }
}

/// Adds a Link of `kind` to `to` to the object `uid`.
pub(super) fn add_link(
    ctx: &mut Ctx,
    uid: &str,
    kind: LinkType,
    to: &str,
) -> Result<(), EngineError> {
    let (stored, mut managed) = ctx.load(uid)?;
    managed.attributes.push(link(kind, to));
    ctx.save(stored, &managed);
    Ok(())
}

/// Links a replacement to the object it replaces, both ways (Replaced Object / Replacement
/// Object); the replaced object's Last Change Date moves.
pub(super) fn link_replacement(
    ctx: &mut Ctx,
    old_uid: &str,
    new_uid: &str,
) -> Result<(), EngineError> {
    add_link(ctx, new_uid, LinkType::ReplacedObject, old_uid)?;
    let (stored, mut old) = ctx.load(old_uid)?;
    old.attributes
        .push(link(LinkType::ReplacementObject, new_uid));
    touch(ctx, &mut old);
    ctx.save(stored, &old);
    Ok(())
}

/// The attributes a replacement inherits from the object it replaces: the client's own (and
/// the algorithm and length), without dates, links or anything the server manages.
pub(super) fn inherited(old: &ManagedObject) -> Vec<Attribute> {
    old.attributes
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
        .collect()
}

/// Material length in bytes for a generated key, or why it cannot be generated.
pub(super) fn key_bytes(algorithm: Option<u32>, length: Option<i32>) -> Result<usize, EngineError> {
    key_lengths::symmetric_key_bytes(algorithm, length)
}

pub(super) fn create(ctx: &mut Ctx, request: CreateRequest) -> Result<CreateResponse, EngineError> {
    let object_type = request.object_type;
    if object_type != ObjectType::SymmetricKey.value() {
        return Err(EngineError::InvalidField(format!(
            "Create supports Symmetric Key only, not object type {object_type}"
        )));
    }
    let attributes = ctx.resolve_attributes(request.attributes)?;
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
    Ok(CreateResponse {
        object_type,
        unique_identifier: uid,
    })
}

/// Key material out of a Key Block in Raw or Opaque form (Transparent Symmetric Key: its Key).
fn key_block_material(block: &KeyBlock) -> Result<(u32, Zeroizing<Vec<u8>>), EngineError> {
    let format = block.key_format_type;
    let transparent = format == KeyFormatType::TransparentSymmetricKey.value();
    let material = match block.key_material() {
        Some(Item {
            value: Value::ByteString(b),
            ..
        }) => b.clone(),
        Some(
            m @ Item {
                value: Value::Structure(_),
                ..
            },
        ) if transparent => match m.child(tag::KEY) {
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
    let format = if transparent {
        KeyFormatType::Raw.value()
    } else {
        format
    };
    Ok((format, Zeroizing::new(material)))
}

/// A Key Block the client wrapped itself: its Key Value (a Byte String, or a structure whose
/// Key Material is wrapped) is kept as given, as its TTLV encoding, and so is its Key Wrapping
/// Data (in the object's fields); Keyward neither unwraps it nor needs the wrapping key. `None`
/// if the block is plain.
fn wrapped_material(block: &KeyBlock, object_fields: &mut Vec<Item>) -> Option<Zeroizing<Vec<u8>>> {
    let wrapping = block.key_wrapping_data.as_ref()?;
    object_fields.push(wrapping.clone());
    Some(Zeroizing::new(crate::ttlv::encode(&block.key_value)))
}

/// The Key Block of a key registered wrapped: format, Key Value and Key Wrapping Data as the
/// client sent them, algorithm and length from the attributes.
fn wrapped_key_block(
    uid: &str,
    managed: &ManagedObject,
    material: &[u8],
    wrapping: &Item,
) -> Result<KeyBlock, EngineError> {
    // Sealed by this server from an item that decoded once already.
    let key_value = crate::ttlv::decode(material, &crate::ttlv::Limits::default())
        .map_err(|_| EngineError::CorruptMetadata(uid.to_string()))?;
    Ok(KeyBlock {
        key_value,
        key_wrapping_data: Some(wrapping.clone()),
        ..key_block(
            managed.key_format,
            Item::structure(tag::KEY_MATERIAL, Vec::new()),
            managed,
        )
    })
}

/// Key Block algorithm and length become attributes when the template lacks them.
fn adopt_block_algorithm(block: &KeyBlock, attributes: &mut Vec<Attribute>) {
    let given = [
        (
            tag::CRYPTOGRAPHIC_ALGORITHM,
            block.cryptographic_algorithm.map(Value::Enumeration),
        ),
        (
            tag::CRYPTOGRAPHIC_LENGTH,
            block.cryptographic_length.map(Value::Integer),
        ),
    ];
    for (t, value) in given {
        if let Some(value) = value
            && !attributes.iter().any(|a| a.key == AttrKey::Standard(t))
        {
            attributes.push(Attribute {
                key: AttrKey::Standard(t),
                value,
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
fn asymmetric_block_material(block: &KeyBlock) -> Result<(u32, Zeroizing<Vec<u8>>), EngineError> {
    let format = block.key_format_type;
    let material = block
        .key_material()
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
fn key_block(format: u32, key_material: Item, managed: &ManagedObject) -> KeyBlock {
    KeyBlock {
        cryptographic_algorithm: managed.enumeration(tag::CRYPTOGRAPHIC_ALGORITHM),
        cryptographic_length: managed.int(tag::CRYPTOGRAPHIC_LENGTH),
        ..KeyBlock::plain(format, key_material)
    }
}

/// Raw bytes as a Key Material item.
fn raw_material(material: &[u8]) -> Item {
    Item::new(tag::KEY_MATERIAL, Value::ByteString(material.to_vec()))
}

pub(super) fn register(
    ctx: &mut Ctx,
    request: RegisterRequest,
) -> Result<RegisterResponse, EngineError> {
    let object_type = request.object_type;
    let mut attributes = ctx.resolve_attributes(request.attributes)?;
    refuse_derived_attributes(&attributes, object_type)?;
    let kind = registrable_kind(ctx, object_type)?;
    let object = request
        .object
        .filter(|o| o.object_type() == kind)
        .ok_or_else(|| EngineError::MissingData(kind.kmip_name().into()))?;
    let mut object_fields = Vec::new();
    let (format, data_type, material) =
        registered_material(kind, object, &mut attributes, &mut object_fields)?;
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
    Ok(RegisterResponse::new(&uid))
}

/// What the server derives from a certificate is not the client's to set; Certificate Type
/// may be repeated for a certificate (and is checked against it later).
fn refuse_derived_attributes(
    attributes: &[Attribute],
    object_type: u32,
) -> Result<(), EngineError> {
    let derived_only = |a: &Attribute| match a.key {
        AttrKey::Standard(tag::CERTIFICATE_LENGTH | tag::CERTIFICATE_SUBJECT_CN) => true,
        AttrKey::Standard(tag::CERTIFICATE_TYPE) => object_type != ObjectType::Certificate.value(),
        _ => false,
    };
    match attributes.iter().find(|a| derived_only(a)) {
        Some(a) => Err(EngineError::ReadOnly(a.key.v1_name())),
        None => Ok(()),
    }
}

/// The object type, if Register takes it (a Template only before KMIP 2.0).
fn registrable_kind(ctx: &Ctx, object_type: u32) -> Result<ObjectType, EngineError> {
    let kind = ObjectType::from_u32(object_type);
    let offered = match kind {
        Some(ObjectType::Template) => !ctx.v2(),
        Some(
            ObjectType::SymmetricKey
            | ObjectType::SplitKey
            | ObjectType::PgpKey
            | ObjectType::SecretData
            | ObjectType::PublicKey
            | ObjectType::PrivateKey
            | ObjectType::Certificate
            | ObjectType::OpaqueObject,
        ) => true,
        _ => false,
    };
    kind.filter(|_| offered).ok_or_else(|| {
        EngineError::FeatureNotSupported(format!("Register of object type {object_type}"))
    })
}

/// What Register stores of an object: its Key Format Type, its data type (Secret Data Type,
/// Certificate Type, Opaque Data Type) and its material.
type RegisteredMaterial = (u32, Option<u32>, Zeroizing<Vec<u8>>);

/// The registered object's material; `attributes` adopt the Key Block's algorithm and length,
/// `object_fields` keep what the object carries beside its material (wrapping data, Split Key
/// and PGP Key fields, a template's attributes).
fn registered_material(
    kind: ObjectType,
    object: Object,
    attributes: &mut Vec<Attribute>,
    object_fields: &mut Vec<Item>,
) -> Result<RegisteredMaterial, EngineError> {
    Ok(match object {
        Object::SymmetricKey(block) => {
            adopt_block_algorithm(&block, attributes);
            let material = wrapped_or(&block, object_fields, raw_symmetric_material)?;
            // Get without a requested format answers in the format registered.
            (block.key_format_type, None, material)
        }
        Object::SplitKey { fields, key_block } => {
            object_fields.extend(fields.encode());
            let plain = |b: &KeyBlock| Ok(key_block_material(b)?.1);
            block_beside_fields(&key_block, attributes, object_fields, plain)?
        }
        Object::PgpKey { fields, key_block } => {
            object_fields.extend(fields.encode());
            let plain = |b: &KeyBlock| Ok(asymmetric_block_material(b)?.1);
            block_beside_fields(&key_block, attributes, object_fields, plain)?
        }
        // A template's content is attributes for later requests, not its own.
        Object::Template {
            attributes: template,
        } => {
            *object_fields = template;
            let no_material = Zeroizing::new(Vec::new());
            (KeyFormatType::Opaque.value(), None, no_material)
        }
        Object::SecretData {
            secret_data_type,
            key_block,
        } => key_block_material(&key_block).map(|(f, m)| (f, secret_data_type, m))?,
        Object::PublicKey(block) | Object::PrivateKey(block) => {
            let (format, material) = match wrapped_material(&block, object_fields) {
                Some(material) => (block.key_format_type, material),
                None => key_format::registered_key_material(
                    kind,
                    &block,
                    attributes,
                    asymmetric_block_material,
                )?,
            };
            adopt_block_algorithm(&block, attributes);
            (format, None, material)
        }
        Object::Certificate {
            certificate_type,
            value,
        } => registered_certificate(certificate_type, value, attributes)?,
        Object::OpaqueObject { data_type, value } => (
            KeyFormatType::Opaque.value(),
            data_type,
            Zeroizing::new(value),
        ),
    })
}

/// A Split Key's or PGP Key's Key Block (its fields already kept in `object_fields`).
fn block_beside_fields(
    block: &KeyBlock,
    attributes: &mut Vec<Attribute>,
    object_fields: &mut Vec<Item>,
    plain: impl FnOnce(&KeyBlock) -> Result<Zeroizing<Vec<u8>>, EngineError>,
) -> Result<RegisteredMaterial, EngineError> {
    let material = wrapped_or(block, object_fields, plain)?;
    adopt_block_algorithm(block, attributes);
    Ok((block.key_format_type, None, material))
}

/// A certificate as registered, its derived attributes added to `attributes`.
fn registered_certificate(
    certificate_type: u32,
    value: Vec<u8>,
    attributes: &mut Vec<Attribute>,
) -> Result<RegisteredMaterial, EngineError> {
    let value = Zeroizing::new(value);
    certificate_attributes(certificate_type, &value, attributes)?;
    Ok((KeyFormatType::X509.value(), Some(certificate_type), value))
}

/// The material of a key registered wrapped (its wrapping kept in `object_fields`), else what
/// `plain` reads from its Key Block.
fn wrapped_or(
    block: &KeyBlock,
    object_fields: &mut Vec<Item>,
    plain: impl FnOnce(&KeyBlock) -> Result<Zeroizing<Vec<u8>>, EngineError>,
) -> Result<Zeroizing<Vec<u8>>, EngineError> {
    match wrapped_material(block, object_fields) {
        Some(material) => Ok(material),
        None => plain(block),
    }
}

/// A registered symmetric key's material, which must be Raw.
fn raw_symmetric_material(block: &KeyBlock) -> Result<Zeroizing<Vec<u8>>, EngineError> {
    let (format, material) = key_block_material(block)?;
    if format != KeyFormatType::Raw.value() {
        return Err(EngineError::KeyFormatNotSupported(format));
    }
    Ok(material)
}

pub(super) fn get(ctx: &mut Ctx, request: GetRequest) -> Result<GetResponse, EngineError> {
    let uid = ctx.uid_or_placeholder(request.unique_identifier)?;
    let (stored, managed) = ctx.load_live(&uid)?;
    let wrap_with = request
        .key_wrapping_specification
        .as_ref()
        .map(WrappingRequest::new)
        .transpose()?;
    if request.key_compression_type.is_some() {
        return Err(EngineError::FeatureNotSupported("key compression".into()));
    }
    // A Sensitive object never leaves in the clear; wrapped, it may.
    if wrap_with.is_none() && matches!(managed.first(tag::SENSITIVE), Some(Value::Boolean(true))) {
        return Err(EngineError::Sensitive(uid));
    }
    let requested = request.key_format_type;
    let material = ctx.unseal(&stored, &managed)?;
    let object = match &wrap_with {
        Some(wrapping) => wrapped_for_get(ctx, &uid, &managed, requested, &material, wrapping)?,
        None => stored_object(&uid, &managed, requested, &material)?,
    };
    served(ctx, stored, &managed, uid, object)
}

/// The object as Get serves it in the clear, in the requested format where one is offered.
fn stored_object(
    uid: &str,
    managed: &ManagedObject,
    requested: Option<u32>,
    material: &[u8],
) -> Result<Object, EngineError> {
    // Objects that carry fields beside their Key Block, and keys registered wrapped, come back
    // exactly as they were registered: no format conversion.
    let wrapping = managed.object_field(tag::KEY_WRAPPING_DATA);
    let fields_before_block: Vec<Item> = managed
        .object_fields
        .iter()
        .filter(|i| i.tag != tag::KEY_WRAPPING_DATA)
        .cloned()
        .collect();
    let has_block_wrapper = matches!(
        managed.object_type,
        ObjectType::SymmetricKey
            | ObjectType::PublicKey
            | ObjectType::PrivateKey
            | ObjectType::SplitKey
            | ObjectType::PgpKey
    );
    let kept_as_registered = wrapping.is_some()
        || matches!(
            managed.object_type,
            ObjectType::SplitKey | ObjectType::PgpKey | ObjectType::Template
        );
    if kept_as_registered && has_block_wrapper {
        same_format(managed, requested)?;
        let block = match wrapping {
            Some(w) => wrapped_key_block(uid, managed, material, w)?,
            None if managed.object_type == ObjectType::PgpKey => {
                let key_material = asymmetric_key_material(uid, managed.key_format, material)?;
                key_block(managed.key_format, key_material, managed)
            }
            None => key_block(managed.key_format, raw_material(material), managed),
        };
        return object_as_registered(uid, managed, fields_before_block, block);
    }
    object_in_format(uid, managed, requested, material, fields_before_block)
}

/// Refuses a requested format other than the stored one.
fn same_format(managed: &ManagedObject, requested: Option<u32>) -> Result<(), EngineError> {
    match requested.filter(|f| *f != managed.key_format) {
        Some(f) => Err(EngineError::KeyFormatNotSupported(f)),
        None => Ok(()),
    }
}

/// An object kept as registered, around its Key Block `block`.
fn object_as_registered(
    uid: &str,
    managed: &ManagedObject,
    fields_before_block: Vec<Item>,
    block: KeyBlock,
) -> Result<Object, EngineError> {
    let corrupt = |_| EngineError::CorruptMetadata(uid.to_string());
    Ok(match managed.object_type {
        ObjectType::SplitKey => Object::SplitKey {
            fields: SplitKeyFields::read(&Item::structure(tag::SPLIT_KEY, fields_before_block))
                .map_err(corrupt)?,
            key_block: block,
        },
        ObjectType::PgpKey => Object::PgpKey {
            fields: PgpKeyFields::read(&Item::structure(tag::PGP_KEY, fields_before_block))
                .map_err(corrupt)?,
            key_block: block,
        },
        ObjectType::PublicKey => Object::PublicKey(block),
        ObjectType::PrivateKey => Object::PrivateKey(block),
        _ => Object::SymmetricKey(block),
    })
}

/// An object served in the requested format (converted where Keyward converts), or as stored.
fn object_in_format(
    uid: &str,
    managed: &ManagedObject,
    requested: Option<u32>,
    material: &[u8],
    fields_before_block: Vec<Item>,
) -> Result<Object, EngineError> {
    let other_format = requested.filter(|f| *f != managed.key_format);
    Ok(match managed.object_type {
        ObjectType::Template => Object::Template {
            attributes: fields_before_block,
        },
        ObjectType::SymmetricKey => {
            let format = requested.unwrap_or(managed.key_format);
            let key_material = symmetric_key_material(format, material)?;
            Object::SymmetricKey(key_block(format, key_material, managed))
        }
        ObjectType::PublicKey | ObjectType::PrivateKey => {
            asymmetric_object(uid, managed, other_format, material)?
        }
        ObjectType::Certificate => {
            same_format(managed, requested)?;
            Object::Certificate {
                certificate_type: managed
                    .data_type
                    .ok_or_else(|| EngineError::CorruptMetadata(uid.to_string()))?,
                value: material.to_vec(),
            }
        }
        ObjectType::SecretData => {
            let (format, key_material) = match other_format {
                Some(f) => key_format::converted_secret_material(managed.key_format, f, material)?,
                None => (managed.key_format, raw_material(material)),
            };
            Object::SecretData {
                secret_data_type: managed.data_type,
                key_block: KeyBlock::plain(format, key_material),
            }
        }
        ObjectType::OpaqueObject => {
            if let Some(f) = requested {
                return Err(EngineError::KeyFormatNotSupported(f));
            }
            Object::OpaqueObject {
                data_type: managed.data_type,
                value: material.to_vec(),
            }
        }
        other => {
            return Err(EngineError::FeatureNotSupported(format!(
                "Get of object type {}",
                other.value()
            )));
        }
    })
}

/// A public or private key, converted to `other_format` if one is asked for.
fn asymmetric_object(
    uid: &str,
    managed: &ManagedObject,
    other_format: Option<u32>,
    material: &[u8],
) -> Result<Object, EngineError> {
    let (format, key_material) = match other_format {
        Some(f) => key_format::converted_key_material(uid, managed, material, f)?,
        None => (
            managed.key_format,
            asymmetric_key_material(uid, managed.key_format, material)?,
        ),
    };
    let block = key_block(format, key_material, managed);
    Ok(if managed.object_type == ObjectType::PublicKey {
        Object::PublicKey(block)
    } else {
        Object::PrivateKey(block)
    })
}

/// A symmetric key's Key Material in `format`: Raw or Transparent Symmetric Key.
fn symmetric_key_material(format: u32, material: &[u8]) -> Result<Item, EngineError> {
    if format == KeyFormatType::Raw.value() {
        Ok(raw_material(material))
    } else if format == KeyFormatType::TransparentSymmetricKey.value() {
        Ok(Item::structure(
            tag::KEY_MATERIAL,
            vec![Item::new(tag::KEY, Value::ByteString(material.to_vec()))],
        ))
    } else {
        Err(EngineError::KeyFormatNotSupported(format))
    }
}

/// The Get answer for `object`; the first Get clears Fresh.
fn served(
    ctx: &mut Ctx,
    stored: StoredObject,
    managed: &ManagedObject,
    uid: String,
    object: Object,
) -> Result<GetResponse, EngineError> {
    if crate::engine::fresh::is_fresh(managed) {
        let mut served = managed.clone();
        served.set(tag::FRESH, Value::Boolean(false));
        ctx.fresh_cleared.push(uid.clone());
        ctx.save(stored, &served);
    }
    Ok(GetResponse {
        unique_identifier: uid,
        object,
    })
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
) -> Result<Object, EngineError> {
    if !matches!(
        managed.object_type,
        ObjectType::SymmetricKey | ObjectType::SecretData
    ) {
        return Err(EngineError::FeatureNotSupported(format!(
            "key wrapping of object type {}",
            managed.object_type.kmip_name()
        )));
    }
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
    let key_block = KeyBlock {
        key_wrapping_data: Some(data),
        ..key_block(
            managed.key_format,
            Item::new(tag::KEY_MATERIAL, Value::ByteString(wrapped)),
            managed,
        )
    };
    Ok(if managed.object_type == ObjectType::SecretData {
        Object::SecretData {
            secret_data_type: managed.data_type,
            key_block,
        }
    } else {
        Object::SymmetricKey(key_block)
    })
}

pub(super) fn rekey(ctx: &mut Ctx, request: ReKeyRequest) -> Result<ReKeyResponse, EngineError> {
    // Offset and new attributes are not offered: the replacement takes the old key's.
    let uid = ctx.uid_or_placeholder(request.unique_identifier)?;
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
    let carried = inherited(&old);
    old.attributes
        .retain(|a| a.key != AttrKey::Standard(tag::NAME));
    // Stage the old key without its Name first so the new key may take it.
    ctx.save(old_stored.clone(), &old);
    let new_uid = store_generated(
        ctx,
        ObjectType::SymmetricKey,
        KeyFormatType::Raw.value(),
        &material,
        carried,
    )?;
    link_replacement(ctx, &uid, &new_uid)?;
    Ok(ReKeyResponse::new(&new_uid))
}

pub(super) fn check(ctx: &mut Ctx, request: CheckRequest) -> Result<CheckResponse, EngineError> {
    let uid = ctx.uid_or_placeholder(request.unique_identifier)?;
    let (_, managed) = ctx.load_live(&uid)?;
    if let Some(wanted) = request.cryptographic_usage_mask {
        let have = managed.int(tag::CRYPTOGRAPHIC_USAGE_MASK).unwrap_or(0);
        if have & wanted != wanted {
            return Err(EngineError::IncompatibleUsageMask(uid));
        }
    }
    Ok(CheckResponse::new(&uid))
}
