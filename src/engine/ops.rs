//! Operation semantics, one function per KMIP operation. Each reads its payload `Item`, works on
//! the message's overlay, and returns the children of its Response Payload.

use sha2::{Digest as _, Sha256};
use zeroize::Zeroizing;

use super::ClientIdentity;
use super::error::EngineError;
use super::object::{self, ManagedObject};
use super::overlay::Overlay;
use crate::kmip::attribute::{self, AttrKey, Attribute};
use crate::kmip::enums::{
    CryptographicAlgorithm, HashingAlgorithm, KeyFormatType, LinkType, ObjectType, Operation,
    QueryFunction, RevocationReasonCode, State, profile_name, storage_status,
};
use crate::kmip::message::{ProtocolVersion, SUPPORTED_VERSIONS};
use crate::kmip::tag;
use crate::seal::MasterKey;
use crate::store::StoredObject;
use crate::ttlv::{Item, Value};

/// Protection Storage Mask bit "Software".
const PROTECTION_STORAGE_SOFTWARE: i32 = 0x1;

/// Operations this server implements, in Query order.
pub const SUPPORTED_OPERATIONS: &[Operation] = &[
    Operation::Create,
    Operation::Register,
    Operation::ReKey,
    Operation::Locate,
    Operation::Check,
    Operation::Get,
    Operation::GetAttributes,
    Operation::GetAttributeList,
    Operation::AddAttribute,
    Operation::ModifyAttribute,
    Operation::DeleteAttribute,
    Operation::Activate,
    Operation::Revoke,
    Operation::Destroy,
    Operation::Query,
    Operation::DiscoverVersions,
    Operation::SetAttribute,
];

/// Whether an operation can change stored state.
pub fn mutates(operation: u32) -> bool {
    matches!(
        Operation::from_u32(operation),
        Some(
            Operation::Create
                | Operation::Register
                | Operation::ReKey
                | Operation::AddAttribute
                | Operation::ModifyAttribute
                | Operation::DeleteAttribute
                | Operation::SetAttribute
                | Operation::Activate
                | Operation::Revoke
                | Operation::Destroy
        )
    )
}

/// Everything an operation needs while one message runs.
pub struct Ctx<'a> {
    pub client: &'a ClientIdentity,
    pub version: ProtocolVersion,
    pub overlay: Overlay<'a>,
    pub master: &'a MasterKey,
    pub vendor_identification: &'a str,
    /// The ID Placeholder: the last UID an operation of this batch produced or located.
    pub placeholder: Option<String>,
    pub now: i64,
}

impl Ctx<'_> {
    fn v2(&self) -> bool {
        self.version.major >= 2
    }

    /// The Unique Identifier of the payload, or the ID Placeholder when it is omitted.
    fn uid(&self, payload: &Item) -> Result<String, EngineError> {
        match payload.child(tag::UNIQUE_IDENTIFIER) {
            Some(Item {
                value: Value::TextString(uid),
                ..
            }) => Ok(uid.clone()),
            // 2.x placeholders by enumeration / batch index: this server keeps one placeholder.
            Some(_) | None => self
                .placeholder
                .clone()
                .ok_or_else(|| EngineError::MissingData("Unique Identifier".into())),
        }
    }

    /// The caller's object; other owners' objects do not exist for this caller.
    fn load(&self, uid: &str) -> Result<(StoredObject, ManagedObject), EngineError> {
        let stored = match self.overlay.get(uid)? {
            Some(s) if s.owner == self.client.owner => s,
            _ => return Err(EngineError::NotFound(uid.to_string())),
        };
        let managed = ManagedObject::decode_metadata(&stored.metadata)
            .ok_or_else(|| EngineError::CorruptMetadata(uid.to_string()))?;
        Ok((stored, managed))
    }

    fn load_live(&self, uid: &str) -> Result<(StoredObject, ManagedObject), EngineError> {
        let (stored, managed) = self.load(uid)?;
        if managed.state.is_destroyed() {
            return Err(EngineError::Destroyed(uid.to_string()));
        }
        Ok((stored, managed))
    }

    fn save(&mut self, mut stored: StoredObject, managed: &ManagedObject) {
        stored.metadata = managed.encode_metadata();
        stored.index_terms = managed.index_terms();
        stored.version += 1;
        self.overlay.stage(stored);
    }

    /// Request attributes: 1.x Template-Attribute (or bare Attribute items), 2.x Attributes.
    fn request_attributes(&self, payload: &Item) -> Result<Vec<Attribute>, EngineError> {
        let bad = |e: attribute::AttributeError| EngineError::InvalidField(e.to_string());
        if self.v2() {
            match payload.child(tag::ATTRIBUTES) {
                Some(container) => attribute::parse_v2_list(container).map_err(bad),
                None => Ok(Vec::new()),
            }
        } else {
            let mut out = Vec::new();
            for container in payload.children_with(tag::TEMPLATE_ATTRIBUTE) {
                if container.child(tag::NAME).is_some() {
                    return Err(EngineError::FeatureNotSupported("Templates".into()));
                }
                out.extend(attribute::parse_v1_list(container).map_err(bad)?);
            }
            out.extend(attribute::parse_v1_list(payload).map_err(bad)?);
            Ok(out)
        }
    }

    fn fresh_uid(&self) -> Result<String, EngineError> {
        let mut b = [0u8; 16];
        getrandom::fill(&mut b).map_err(|_| EngineError::Random)?;
        b[6] = (b[6] & 0x0f) | 0x40;
        b[8] = (b[8] & 0x3f) | 0x80;
        let h = hex::encode(b);
        Ok(format!(
            "{}-{}-{}-{}-{}",
            &h[0..8],
            &h[8..12],
            &h[12..16],
            &h[16..20],
            &h[20..32]
        ))
    }

    fn seal(&self, uid: &str, generation: u64, material: &[u8]) -> Result<Vec<u8>, EngineError> {
        Ok(self
            .master
            .seal(&ManagedObject::sealing_aad(uid, generation), material)?)
    }

    fn unseal(
        &self,
        stored: &StoredObject,
        managed: &ManagedObject,
    ) -> Result<Zeroizing<Vec<u8>>, EngineError> {
        let sealed = stored
            .sealed_material
            .as_ref()
            .ok_or_else(|| EngineError::Destroyed(stored.uid.clone()))?;
        Ok(self.master.unseal(
            &ManagedObject::sealing_aad(&stored.uid, managed.material_generation),
            sealed,
        )?)
    }
}

fn enum_field(payload: &Item, t: u32) -> Result<Option<u32>, EngineError> {
    match payload.child(t) {
        None => Ok(None),
        Some(Item {
            value: Value::Enumeration(v),
            ..
        }) => Ok(Some(*v)),
        Some(_) => Err(EngineError::InvalidField(format!(
            "field {t:06X} must be an Enumeration"
        ))),
    }
}

fn int_field(payload: &Item, t: u32) -> Result<Option<i32>, EngineError> {
    match payload.child(t) {
        None => Ok(None),
        Some(Item {
            value: Value::Integer(v),
            ..
        }) => Ok(Some(*v)),
        Some(_) => Err(EngineError::InvalidField(format!(
            "field {t:06X} must be an Integer"
        ))),
    }
}

fn uid_item(uid: &str) -> Item {
    Item::new(tag::UNIQUE_IDENTIFIER, Value::TextString(uid.to_string()))
}

/// Attributes only the server sets.
fn server_managed(key: &AttrKey) -> bool {
    match key {
        AttrKey::Custom(name) => name.starts_with("y-"),
        AttrKey::Standard(t) => !matches!(
            *t,
            tag::NAME
                | tag::CRYPTOGRAPHIC_USAGE_MASK
                | tag::CRYPTOGRAPHIC_PARAMETERS
                | tag::ACTIVATION_DATE
                | tag::DEACTIVATION_DATE
                | tag::PROCESS_START_DATE
                | tag::PROTECT_STOP_DATE
                | tag::OBJECT_GROUP
                | tag::LINK
                | tag::APPLICATION_SPECIFIC_INFORMATION
                | tag::CONTACT_INFORMATION
                | tag::DESCRIPTION
                | tag::COMMENT
                | tag::SENSITIVE
                | tag::EXTRACTABLE
                | tag::PROTECTION_LEVEL
                | tag::PROTECTION_PERIOD
                | tag::QUANTUM_SAFE
        ),
    }
}

/// Attributes that may carry several instances.
fn multi_instance(key: &AttrKey) -> bool {
    match key {
        AttrKey::Custom(_) => true,
        AttrKey::Standard(t) => matches!(
            *t,
            tag::NAME | tag::OBJECT_GROUP | tag::LINK | tag::APPLICATION_SPECIFIC_INFORMATION
        ),
    }
}

/// The object's full attribute list, with the synthesized Unique Identifier, Object Type, State.
fn all_attributes(uid: &str, managed: &ManagedObject) -> Vec<Attribute> {
    let mut out = vec![
        Attribute {
            key: AttrKey::Standard(tag::UNIQUE_IDENTIFIER),
            value: Value::TextString(uid.to_string()),
        },
        Attribute {
            key: AttrKey::Standard(tag::OBJECT_TYPE),
            value: Value::Enumeration(managed.object_type.value()),
        },
        Attribute {
            key: AttrKey::Standard(tag::STATE),
            value: Value::Enumeration(managed.state.value()),
        },
    ];
    // KMIP 2.1's short form of the UID, derived rather than stored.
    out.push(Attribute {
        key: AttrKey::Standard(tag::SHORT_UNIQUE_IDENTIFIER),
        value: Value::ByteString(Sha256::digest(uid.as_bytes()).to_vec()),
    });
    if matches!(
        managed.object_type,
        ObjectType::SymmetricKey | ObjectType::SecretData
    ) {
        // In 2.x the format of the stored key is an attribute of its own.
        out.push(Attribute {
            key: AttrKey::Standard(tag::KEY_FORMAT_TYPE),
            value: Value::Enumeration(managed.key_format),
        });
    }
    // Material is held by software (sealed under the master key), never by an HSM.
    out.push(Attribute {
        key: AttrKey::Standard(tag::PROTECTION_STORAGE_MASK),
        value: Value::Integer(PROTECTION_STORAGE_SOFTWARE),
    });
    out.extend(managed.attributes.iter().cloned());
    // The order the profile vectors list them in: identity and key size first, then the rest
    // by name, custom attributes last; instances keep their order.
    out.sort_by_cached_key(|a| match &a.key {
        AttrKey::Standard(tag::UNIQUE_IDENTIFIER) => (0, String::new()),
        AttrKey::Standard(tag::SHORT_UNIQUE_IDENTIFIER) => (1, String::new()),
        AttrKey::Standard(tag::OBJECT_TYPE) => (2, String::new()),
        AttrKey::Standard(tag::CRYPTOGRAPHIC_ALGORITHM) => (3, String::new()),
        AttrKey::Standard(tag::CRYPTOGRAPHIC_LENGTH) => (4, String::new()),
        // The 2.1 vectors list Key Format Type right after Digest.
        AttrKey::Standard(tag::KEY_FORMAT_TYPE) => (5, "Digest\u{1}".to_string()),
        AttrKey::Standard(_) => (5, a.key.v1_name()),
        AttrKey::Custom(name) => (6, name.clone()),
    });
    out
}

/// The first protocol version that defines a standard attribute (1.0 when not listed).
fn attribute_since(key: &AttrKey) -> ProtocolVersion {
    let AttrKey::Standard(t) = key else {
        return ProtocolVersion::new(1, 0);
    };
    match *t {
        tag::FRESH => ProtocolVersion::new(1, 1),
        tag::ORIGINAL_CREATION_DATE | tag::ALTERNATIVE_NAME | tag::KEY_VALUE_PRESENT => {
            ProtocolVersion::new(1, 2)
        }
        tag::RANDOM_NUMBER_GENERATOR => ProtocolVersion::new(1, 3),
        tag::DESCRIPTION
        | tag::COMMENT
        | tag::SENSITIVE
        | tag::ALWAYS_SENSITIVE
        | tag::EXTRACTABLE
        | tag::NEVER_EXTRACTABLE => ProtocolVersion::new(1, 4),
        tag::PROTECTION_LEVEL
        | tag::PROTECTION_PERIOD
        | tag::QUANTUM_SAFE
        | tag::PROTECTION_STORAGE_MASK
        | tag::KEY_FORMAT_TYPE => ProtocolVersion::new(2, 0),
        tag::SHORT_UNIQUE_IDENTIFIER => ProtocolVersion::new(2, 1),
        _ => ProtocolVersion::new(1, 0),
    }
}

/// The attributes a client of `version` can see: ones its protocol version defines.
fn visible_attributes(ctx: &Ctx, uid: &str, managed: &ManagedObject) -> Vec<Attribute> {
    all_attributes(uid, managed)
        .into_iter()
        .filter(|a| attribute_since(&a.key) <= ctx.version)
        .collect()
}

/// Attributes in the response's version: 1.x Attribute items with indexes, 2.x one Attributes.
fn encode_attributes(ctx: &Ctx, attributes: &[Attribute]) -> Vec<Item> {
    if ctx.v2() {
        vec![Item::structure(
            tag::ATTRIBUTES,
            attributes.iter().map(attribute::encode_v2).collect(),
        )]
    } else {
        let mut out = Vec::new();
        for (i, a) in attributes.iter().enumerate() {
            let index = attributes[..i].iter().filter(|b| b.key == a.key).count() as u32;
            out.push(attribute::encode_v1(a, Some(index)));
        }
        out
    }
}

fn check_unique_name(ctx: &Ctx, uid: &str, attribute: &Attribute) -> Result<(), EngineError> {
    if attribute.key != AttrKey::Standard(tag::NAME) {
        return Ok(());
    }
    let Some(name) = object::name_value(&attribute.value) else {
        return Err(EngineError::InvalidField("Name lacks a Name Value".into()));
    };
    let holders = ctx
        .overlay
        .find(&ctx.client.owner, Some(&object::name_term(name)))?;
    if holders.iter().any(|h| h != uid) {
        return Err(EngineError::NonUniqueName(name.to_string()));
    }
    Ok(())
}

fn digest_attribute(material: &[u8], key_format: u32) -> Attribute {
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

/// Builds, seals and stages a new object from client attributes and material.
fn store_new(
    ctx: &mut Ctx,
    object_type: ObjectType,
    key_format: u32,
    data_type: Option<u32>,
    client_attributes: Vec<Attribute>,
    material: &[u8],
) -> Result<String, EngineError> {
    let uid = ctx.fresh_uid()?;
    let mut managed = ManagedObject {
        object_type,
        state: State::PreActive,
        material_generation: 1,
        key_format,
        data_type,
        attributes: Vec::new(),
    };
    for a in client_attributes {
        if a.key == AttrKey::Standard(tag::OBJECT_TYPE) {
            continue;
        }
        if server_managed(&a.key)
            && !matches!(
                a.key,
                AttrKey::Standard(tag::CRYPTOGRAPHIC_ALGORITHM | tag::CRYPTOGRAPHIC_LENGTH)
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
    if matches!(
        object_type,
        ObjectType::SymmetricKey | ObjectType::SecretData
    ) {
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
fn key_bytes(algorithm: Option<u32>, length: Option<i32>) -> Result<usize, EngineError> {
    let algorithm =
        algorithm.ok_or_else(|| EngineError::MissingData("Cryptographic Algorithm".into()))?;
    let length = length.ok_or_else(|| EngineError::MissingData("Cryptographic Length".into()))?;
    match (CryptographicAlgorithm::from_u32(algorithm), length) {
        (Some(CryptographicAlgorithm::Aes), 128 | 192 | 256) => Ok(length as usize / 8),
        (Some(CryptographicAlgorithm::TripleDes), 112 | 168 | 192) => {
            Ok(if length == 112 { 16 } else { 24 })
        }
        // Only for the optional SKFF vectors: the material is just random bytes.
        (Some(CryptographicAlgorithm::Skipjack), 80) => Ok(10),
        (
            Some(
                CryptographicAlgorithm::HmacSha256
                | CryptographicAlgorithm::HmacSha384
                | CryptographicAlgorithm::HmacSha512,
            ),
            128..=1024,
        ) if length % 8 == 0 => Ok(length as usize / 8),
        (Some(_), _) => Err(EngineError::InvalidField(format!(
            "Cryptographic Length {length} for algorithm {algorithm}"
        ))),
        (None, _) => Err(EngineError::InvalidField(format!(
            "Cryptographic Algorithm {algorithm}"
        ))),
    }
}

pub fn create(ctx: &mut Ctx, payload: &Item) -> Result<Vec<Item>, EngineError> {
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
        ObjectType::SymmetricKey,
        KeyFormatType::Raw.value(),
        None,
        attributes,
        &material,
    )?;
    Ok(vec![
        Item::new(tag::OBJECT_TYPE, Value::Enumeration(object_type)),
        uid_item(&uid),
    ])
}

/// Key material out of a Key Block in Raw or Opaque form (Transparent Symmetric Key: its Key).
fn key_block_material(block: &Item) -> Result<(u32, Zeroizing<Vec<u8>>), EngineError> {
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

pub fn register(ctx: &mut Ctx, payload: &Item) -> Result<Vec<Item>, EngineError> {
    let object_type = enum_field(payload, tag::OBJECT_TYPE)?
        .ok_or_else(|| EngineError::MissingData("Object Type".into()))?;
    let mut attributes = ctx.request_attributes(payload)?;
    let (kind, format, data_type, material) = match ObjectType::from_u32(object_type) {
        Some(ObjectType::SymmetricKey) => {
            let block = payload
                .child(tag::SYMMETRIC_KEY)
                .and_then(|k| k.child(tag::KEY_BLOCK))
                .ok_or_else(|| EngineError::MissingData("Symmetric Key".into()))?;
            let (format, material) = key_block_material(block)?;
            if format != KeyFormatType::Raw.value() {
                return Err(EngineError::KeyFormatNotSupported(format));
            }
            // Key Block algorithm/length become attributes when the template lacks them.
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
            (ObjectType::SymmetricKey, format, None, material)
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
    let uid = store_new(ctx, kind, format, data_type, attributes, &material)?;
    Ok(vec![uid_item(&uid)])
}

pub fn get(ctx: &mut Ctx, payload: &Item) -> Result<Vec<Item>, EngineError> {
    let uid = ctx.uid(payload)?;
    let (stored, managed) = ctx.load_live(&uid)?;
    if payload.child(tag::KEY_WRAPPING_SPECIFICATION).is_some() {
        return Err(EngineError::FeatureNotSupported("key wrapping".into()));
    }
    if payload.child(tag::KEY_COMPRESSION_TYPE).is_some() {
        return Err(EngineError::FeatureNotSupported("key compression".into()));
    }
    if matches!(managed.first(tag::SENSITIVE), Some(Value::Boolean(true))) {
        return Err(EngineError::Sensitive(uid));
    }
    let requested = enum_field(payload, tag::KEY_FORMAT_TYPE)?;
    let material = ctx.unseal(&stored, &managed)?;
    let object_item = match managed.object_type {
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
            Item::structure(
                tag::SYMMETRIC_KEY,
                vec![Item::structure(tag::KEY_BLOCK, block)],
            )
        }
        ObjectType::SecretData => {
            if let Some(f) = requested.filter(|f| *f != managed.key_format) {
                return Err(EngineError::KeyFormatNotSupported(f));
            }
            let mut children = Vec::new();
            if let Some(dt) = managed.data_type {
                children.push(Item::new(tag::SECRET_DATA_TYPE, Value::Enumeration(dt)));
            }
            children.push(Item::structure(
                tag::KEY_BLOCK,
                vec![
                    Item::new(tag::KEY_FORMAT_TYPE, Value::Enumeration(managed.key_format)),
                    Item::structure(
                        tag::KEY_VALUE,
                        vec![Item::new(
                            tag::KEY_MATERIAL,
                            Value::ByteString(material.to_vec()),
                        )],
                    ),
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
    };
    Ok(vec![
        Item::new(
            tag::OBJECT_TYPE,
            Value::Enumeration(managed.object_type.value()),
        ),
        uid_item(&uid),
        object_item,
    ])
}

/// Attribute names/references of a Get Attributes / Get Attribute List style request.
fn requested_keys(ctx: &Ctx, payload: &Item) -> Result<Vec<AttrKey>, EngineError> {
    let mut keys = Vec::new();
    if ctx.v2() {
        for r in payload.children_with(tag::ATTRIBUTE_REFERENCE) {
            keys.push(
                attribute::parse_v2_reference(r)
                    .map_err(|e| EngineError::InvalidField(e.to_string()))?,
            );
        }
    } else {
        for n in payload.children_with(tag::ATTRIBUTE_NAME) {
            let Value::TextString(name) = &n.value else {
                return Err(EngineError::InvalidField(
                    "Attribute Name must be a Text String".into(),
                ));
            };
            // An unknown standard name has no value on any object: nothing to return for it.
            if let Some(key) = AttrKey::from_v1_name(name) {
                keys.push(key);
            }
        }
    }
    Ok(keys)
}

pub fn get_attributes(ctx: &mut Ctx, payload: &Item) -> Result<Vec<Item>, EngineError> {
    let uid = ctx.uid(payload)?;
    let (_, managed) = ctx.load(&uid)?;
    let keys = requested_keys(ctx, payload)?;
    let all = visible_attributes(ctx, &uid, &managed);
    let selected: Vec<Attribute> = if keys.is_empty() {
        all
    } else {
        keys.iter()
            .flat_map(|k| all.iter().filter(move |a| &a.key == k).cloned())
            .collect()
    };
    let mut out = vec![uid_item(&uid)];
    out.extend(encode_attributes(ctx, &selected));
    Ok(out)
}

pub fn get_attribute_list(ctx: &mut Ctx, payload: &Item) -> Result<Vec<Item>, EngineError> {
    let uid = ctx.uid(payload)?;
    let (_, managed) = ctx.load(&uid)?;
    let mut keys: Vec<AttrKey> = Vec::new();
    for a in visible_attributes(ctx, &uid, &managed) {
        if !keys.contains(&a.key) {
            keys.push(a.key);
        }
    }
    let mut out = vec![uid_item(&uid)];
    for k in keys {
        out.push(if ctx.v2() {
            attribute::encode_v2_reference(&k)
        } else {
            Item::new(tag::ATTRIBUTE_NAME, Value::TextString(k.v1_name()))
        });
    }
    Ok(out)
}

/// Applies the lifecycle side effects of a client-set date attribute.
fn apply_date_rules(
    ctx: &Ctx,
    uid: &str,
    managed: &mut ManagedObject,
    attribute: &Attribute,
) -> Result<(), EngineError> {
    match (&attribute.key, &attribute.value) {
        (AttrKey::Standard(tag::ACTIVATION_DATE), Value::DateTime(when)) => {
            if managed.state != State::PreActive {
                return Err(EngineError::WrongState {
                    uid: uid.to_string(),
                    operation: "setting Activation Date",
                });
            }
            if *when <= ctx.now {
                managed.state = State::Active;
            }
        }
        (AttrKey::Standard(tag::DEACTIVATION_DATE), Value::DateTime(when)) => {
            if !matches!(managed.state, State::PreActive | State::Active) {
                return Err(EngineError::WrongState {
                    uid: uid.to_string(),
                    operation: "setting Deactivation Date",
                });
            }
            if *when <= ctx.now && managed.state == State::Active {
                managed.state = State::Deactivated;
            }
        }
        _ => {}
    }
    Ok(())
}

fn touch(ctx: &Ctx, managed: &mut ManagedObject) {
    managed.set(tag::LAST_CHANGE_DATE, Value::DateTime(ctx.now));
    // Always Sensitive / Never Extractable record history: once lost, never regained.
    if matches!(managed.first(tag::SENSITIVE), Some(Value::Boolean(false))) {
        managed.set(tag::ALWAYS_SENSITIVE, Value::Boolean(false));
    }
    if matches!(managed.first(tag::EXTRACTABLE), Some(Value::Boolean(true))) {
        managed.set(tag::NEVER_EXTRACTABLE, Value::Boolean(false));
    }
}

fn single_attribute_v2(
    container: Option<&Item>,
    what: &'static str,
) -> Result<Attribute, EngineError> {
    let container = container.ok_or_else(|| EngineError::MissingData(what.into()))?;
    let first = container
        .children()
        .first()
        .ok_or_else(|| EngineError::MissingData(what.into()))?;
    attribute::parse_v2(first).map_err(|e| EngineError::InvalidField(e.to_string()))
}

fn single_attribute_v1(payload: &Item) -> Result<(Attribute, Option<i32>), EngineError> {
    let item = payload
        .child(tag::ATTRIBUTE)
        .ok_or_else(|| EngineError::MissingData("Attribute".into()))?;
    attribute::parse_v1(item).map_err(|e| EngineError::InvalidField(e.to_string()))
}

pub fn add_attribute(ctx: &mut Ctx, payload: &Item) -> Result<Vec<Item>, EngineError> {
    let uid = ctx.uid(payload)?;
    let attribute = if ctx.v2() {
        single_attribute_v2(payload.child(tag::NEW_ATTRIBUTE), "New Attribute")?
    } else {
        let (a, index) = single_attribute_v1(payload)?;
        if index.is_some() {
            return Err(EngineError::InvalidField(
                "Attribute Index is not allowed in Add Attribute".into(),
            ));
        }
        a
    };
    let (stored, mut managed) = ctx.load_live(&uid)?;
    if server_managed(&attribute.key) {
        return Err(EngineError::ReadOnly(attribute.key.v1_name()));
    }
    let existing = managed.instances(&attribute.key).count();
    if existing > 0 && !multi_instance(&attribute.key) {
        return Err(EngineError::SingleValued(attribute.key.v1_name()));
    }
    check_unique_name(ctx, &uid, &attribute)?;
    apply_date_rules(ctx, &uid, &mut managed, &attribute)?;
    managed.attributes.push(attribute.clone());
    touch(ctx, &mut managed);
    ctx.save(stored, &managed);
    let mut out = vec![uid_item(&uid)];
    if !ctx.v2() {
        out.push(attribute::encode_v1(&attribute, Some(existing as u32)));
    }
    Ok(out)
}

/// Position in `managed.attributes` of the `index`-th instance of `key`.
fn instance_position(managed: &ManagedObject, key: &AttrKey, index: usize) -> Option<usize> {
    managed
        .attributes
        .iter()
        .enumerate()
        .filter(|(_, a)| &a.key == key)
        .nth(index)
        .map(|(p, _)| p)
}

pub fn modify_attribute(ctx: &mut Ctx, payload: &Item) -> Result<Vec<Item>, EngineError> {
    let uid = ctx.uid(payload)?;
    let (stored, mut managed) = ctx.load_live(&uid)?;
    let (new, position, index) = if ctx.v2() {
        let new = single_attribute_v2(payload.child(tag::NEW_ATTRIBUTE), "New Attribute")?;
        let position = match payload.child(tag::CURRENT_ATTRIBUTE) {
            Some(current) => {
                let current = single_attribute_v2(Some(current), "Current Attribute")?;
                managed.attributes.iter().position(|a| *a == current)
            }
            None => instance_position(&managed, &new.key, 0),
        };
        (new, position, 0)
    } else {
        let (new, index) = single_attribute_v1(payload)?;
        let index = index.unwrap_or(0).max(0) as usize;
        let position = instance_position(&managed, &new.key, index);
        (new, position, index)
    };
    // Lifecycle dates are checked against the state before the generic read-only rule so the
    // vectors' Activation-Date-on-Active case reports the state problem.
    apply_date_rules(ctx, &uid, &mut managed, &new)?;
    if server_managed(&new.key) {
        return Err(EngineError::ReadOnly(new.key.v1_name()));
    }
    let position = position.ok_or_else(|| EngineError::AttributeNotFound(new.key.v1_name()))?;
    check_unique_name(ctx, &uid, &new)?;
    managed.attributes[position] = new.clone();
    touch(ctx, &mut managed);
    ctx.save(stored, &managed);
    let mut out = vec![uid_item(&uid)];
    if !ctx.v2() {
        out.push(attribute::encode_v1(&new, Some(index as u32)));
    }
    Ok(out)
}

pub fn set_attribute(ctx: &mut Ctx, payload: &Item) -> Result<Vec<Item>, EngineError> {
    let uid = ctx.uid(payload)?;
    let new = single_attribute_v2(payload.child(tag::NEW_ATTRIBUTE), "New Attribute")?;
    let (stored, mut managed) = ctx.load_live(&uid)?;
    if server_managed(&new.key) {
        return Err(EngineError::ReadOnly(new.key.v1_name()));
    }
    if multi_instance(&new.key) {
        return Err(EngineError::Illegal(format!(
            "Set Attribute on multi-instance attribute {}",
            new.key.v1_name()
        )));
    }
    apply_date_rules(ctx, &uid, &mut managed, &new)?;
    managed.attributes.retain(|a| a.key != new.key);
    managed.attributes.push(new);
    touch(ctx, &mut managed);
    ctx.save(stored, &managed);
    Ok(vec![uid_item(&uid)])
}

pub fn delete_attribute(ctx: &mut Ctx, payload: &Item) -> Result<Vec<Item>, EngineError> {
    let uid = ctx.uid(payload)?;
    let (stored, mut managed) = ctx.load_live(&uid)?;
    let (key, position, index) = if ctx.v2() {
        if let Some(current) = payload.child(tag::CURRENT_ATTRIBUTE) {
            let current = single_attribute_v2(Some(current), "Current Attribute")?;
            let pos = managed.attributes.iter().position(|a| *a == current);
            (current.key, pos, 0)
        } else {
            let reference = payload
                .child(tag::ATTRIBUTE_REFERENCE)
                .ok_or_else(|| EngineError::MissingData("Attribute Reference".into()))?;
            let key = attribute::parse_v2_reference(reference)
                .map_err(|e| EngineError::InvalidField(e.to_string()))?;
            let pos = instance_position(&managed, &key, 0);
            (key, pos, 0)
        }
    } else {
        let (key, index) = attribute::parse_v1_reference(payload)
            .map_err(|e| EngineError::InvalidField(e.to_string()))?;
        let index = index.unwrap_or(0).max(0) as usize;
        let pos = instance_position(&managed, &key, index);
        (key, pos, index)
    };
    if server_managed(&key)
        || matches!(
            key,
            AttrKey::Standard(tag::ACTIVATION_DATE | tag::DEACTIVATION_DATE)
        ) && managed.state != State::PreActive
    {
        return Err(EngineError::ReadOnly(key.v1_name()));
    }
    let position = position.ok_or_else(|| EngineError::AttributeNotFound(key.v1_name()))?;
    let removed = managed.attributes.remove(position);
    touch(ctx, &mut managed);
    ctx.save(stored, &managed);
    let mut out = vec![uid_item(&uid)];
    if !ctx.v2() {
        out.push(attribute::encode_v1(&removed, Some(index as u32)));
    }
    Ok(out)
}

pub fn activate(ctx: &mut Ctx, payload: &Item) -> Result<Vec<Item>, EngineError> {
    let uid = ctx.uid(payload)?;
    let (stored, mut managed) = ctx.load_live(&uid)?;
    if managed.state != State::PreActive {
        return Err(EngineError::WrongState {
            uid,
            operation: "Activate",
        });
    }
    managed.state = State::Active;
    managed.set(tag::ACTIVATION_DATE, Value::DateTime(ctx.now));
    touch(ctx, &mut managed);
    ctx.save(stored, &managed);
    Ok(vec![uid_item(&uid)])
}

pub fn revoke(ctx: &mut Ctx, payload: &Item) -> Result<Vec<Item>, EngineError> {
    let uid = ctx.uid(payload)?;
    let reason = payload
        .child(tag::REVOCATION_REASON)
        .ok_or_else(|| EngineError::MissingData("Revocation Reason".into()))?;
    let code = enum_field(reason, tag::REVOCATION_REASON_CODE)?
        .ok_or_else(|| EngineError::MissingData("Revocation Reason Code".into()))?;
    let code = RevocationReasonCode::from_u32(code)
        .ok_or_else(|| EngineError::InvalidField(format!("Revocation Reason Code {code}")))?;
    let occurrence = match payload.child(tag::COMPROMISE_OCCURRENCE_DATE) {
        None => None,
        Some(Item {
            value: Value::DateTime(d),
            ..
        }) => Some(*d),
        Some(_) => {
            return Err(EngineError::InvalidField(
                "Compromise Occurrence Date".into(),
            ));
        }
    };
    let (stored, mut managed) = ctx.load(&uid)?;
    let compromise = matches!(
        code,
        RevocationReasonCode::KeyCompromise | RevocationReasonCode::CaCompromise
    );
    if compromise {
        managed.state = match managed.state {
            State::PreActive | State::Active | State::Deactivated | State::Compromised => {
                State::Compromised
            }
            State::Destroyed | State::DestroyedCompromised => State::DestroyedCompromised,
        };
        managed.set(tag::COMPROMISE_DATE, Value::DateTime(ctx.now));
        let occurred = occurrence.or(match managed.first(tag::INITIAL_DATE) {
            Some(Value::DateTime(d)) => Some(*d),
            _ => None,
        });
        if let Some(d) = occurred {
            managed.set(tag::COMPROMISE_OCCURRENCE_DATE, Value::DateTime(d));
        }
    } else {
        if occurrence.is_some() {
            return Err(EngineError::InvalidField(
                "Compromise Occurrence Date is only for compromise reasons".into(),
            ));
        }
        if managed.state.is_destroyed() {
            return Err(EngineError::Destroyed(uid));
        }
        if managed.state != State::Active {
            return Err(EngineError::WrongState {
                uid,
                operation: "Revoke",
            });
        }
        managed.state = State::Deactivated;
        managed.set(tag::DEACTIVATION_DATE, Value::DateTime(ctx.now));
    }
    managed.set(tag::REVOCATION_REASON, reason.value.clone());
    touch(ctx, &mut managed);
    ctx.save(stored, &managed);
    Ok(vec![uid_item(&uid)])
}

pub fn destroy(ctx: &mut Ctx, payload: &Item) -> Result<Vec<Item>, EngineError> {
    let uid = ctx.uid(payload)?;
    let (mut stored, mut managed) = ctx.load_live(&uid)?;
    managed.state = match managed.state {
        State::PreActive | State::Deactivated => State::Destroyed,
        State::Compromised => State::DestroyedCompromised,
        _ => {
            return Err(EngineError::WrongState {
                uid,
                operation: "Destroy",
            });
        }
    };
    stored.sealed_material = None;
    managed.set(tag::DESTROY_DATE, Value::DateTime(ctx.now));
    touch(ctx, &mut managed);
    ctx.save(stored, &managed);
    Ok(vec![uid_item(&uid)])
}

pub fn rekey(ctx: &mut Ctx, payload: &Item) -> Result<Vec<Item>, EngineError> {
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
        ObjectType::SymmetricKey,
        KeyFormatType::Raw.value(),
        None,
        carried,
        &material,
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

pub fn check(ctx: &mut Ctx, payload: &Item) -> Result<Vec<Item>, EngineError> {
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

/// Whether one candidate matches one Locate filter attribute.
fn matches_filter(uid: &str, managed: &ManagedObject, filter: &Attribute) -> bool {
    let all = all_attributes(uid, managed);
    let mut instances = all.iter().filter(|a| a.key == filter.key);
    match (&filter.key, &filter.value) {
        (AttrKey::Standard(tag::CRYPTOGRAPHIC_USAGE_MASK), Value::Integer(wanted)) => {
            instances.any(|a| matches!(a.value, Value::Integer(have) if have & wanted == *wanted))
        }
        (AttrKey::Standard(tag::NAME), value) => {
            let wanted = object::name_value(value);
            instances.any(|a| object::name_value(&a.value) == wanted)
        }
        // Structured filters match on the fields they give.
        (_, Value::Structure(fields)) => {
            instances.any(|a| fields.iter().all(|f| a.value_child_eq(f)))
        }
        (_, value) => instances.any(|a| &a.value == value),
    }
}

trait StructureField {
    fn value_child_eq(&self, field: &Item) -> bool;
}

impl StructureField for Attribute {
    fn value_child_eq(&self, field: &Item) -> bool {
        match &self.value {
            Value::Structure(children) => children.iter().any(|c| c == field),
            _ => false,
        }
    }
}

pub fn locate(ctx: &mut Ctx, payload: &Item) -> Result<Vec<Item>, EngineError> {
    let filters = ctx.request_attributes(payload)?;
    let maximum = int_field(payload, tag::MAXIMUM_ITEMS)?;
    let offset = int_field(payload, tag::OFFSET_ITEMS)?;
    let mask = int_field(payload, tag::STORAGE_STATUS_MASK)?.unwrap_or(storage_status::ON_LINE);
    // Date attributes given twice form an inclusive range; every other filter is exact.
    let mut ranges: Vec<(AttrKey, i64, i64)> = Vec::new();
    let mut exact: Vec<Attribute> = Vec::new();
    for f in &filters {
        if let Value::DateTime(d) = f.value {
            if let Some(r) = ranges.iter_mut().find(|r| r.0 == f.key) {
                r.1 = r.1.min(d);
                r.2 = r.2.max(d);
                continue;
            }
            if filters.iter().filter(|g| g.key == f.key).count() == 2 {
                ranges.push((f.key.clone(), d, d));
                continue;
            }
        }
        exact.push(f.clone());
    }
    // Start from the narrowest index the filters allow.
    let term = exact.iter().find_map(|f| match (&f.key, &f.value) {
        (AttrKey::Standard(tag::NAME), v) => object::name_value(v).map(object::name_term),
        (AttrKey::Custom(n), Value::TextString(t)) => Some(object::custom_term(n, t)),
        _ => None,
    });
    let candidates = ctx.overlay.find(&ctx.client.owner, term.as_ref())?;
    let mut found = Vec::new();
    for uid in candidates {
        let (_, managed) = match ctx.load(&uid) {
            Ok(x) => x,
            Err(EngineError::NotFound(_)) => continue,
            Err(e) => return Err(e),
        };
        let visible = if managed.state.is_destroyed() {
            mask & storage_status::DESTROYED != 0
        } else {
            mask & storage_status::ON_LINE != 0
        };
        if !visible {
            continue;
        }
        let in_ranges = ranges.iter().all(|(key, lo, hi)| {
            managed
                .instances(key)
                .any(|a| matches!(a.value, Value::DateTime(d) if d >= *lo && d <= *hi))
        });
        if in_ranges && exact.iter().all(|f| matches_filter(&uid, &managed, f)) {
            found.push(uid);
        }
    }
    let total = found.len();
    let skip = offset.unwrap_or(0).max(0) as usize;
    let page: Vec<String> = found
        .into_iter()
        .skip(skip)
        .take(
            maximum
                .filter(|m| *m > 0)
                .map(|m| m as usize)
                .unwrap_or(usize::MAX),
        )
        .collect();
    ctx.placeholder = if page.len() == 1 {
        page.first().cloned()
    } else {
        None
    };
    let mut out = Vec::new();
    if (maximum.is_some() || offset.is_some()) && ctx.version >= ProtocolVersion::new(1, 3) {
        out.push(Item::new(tag::LOCATED_ITEMS, Value::Integer(total as i32)));
    }
    out.extend(page.iter().map(|u| uid_item(u)));
    Ok(out)
}

pub fn discover_versions(_ctx: &mut Ctx, payload: &Item) -> Result<Vec<Item>, EngineError> {
    let offered: Vec<ProtocolVersion> = payload
        .children_with(tag::PROTOCOL_VERSION)
        .filter_map(ProtocolVersion::parse)
        .collect();
    let answer: Vec<ProtocolVersion> = if offered.is_empty() {
        SUPPORTED_VERSIONS.to_vec()
    } else {
        offered
            .into_iter()
            .filter(|v| SUPPORTED_VERSIONS.contains(v))
            .collect()
    };
    Ok(answer.into_iter().map(ProtocolVersion::encode).collect())
}

pub fn query(ctx: &mut Ctx, payload: &Item) -> Result<Vec<Item>, EngineError> {
    let functions: Vec<u32> = payload
        .children_with(tag::QUERY_FUNCTION)
        .filter_map(|i| match i.value {
            Value::Enumeration(v) => Some(v),
            _ => None,
        })
        .collect();
    let wants = |f: QueryFunction| functions.contains(&f.value());
    let mut out = Vec::new();
    if wants(QueryFunction::Operations) {
        let mut ops: Vec<&Operation> = SUPPORTED_OPERATIONS
            .iter()
            .filter(|o| ctx.v2() || **o != Operation::SetAttribute)
            .collect();
        ops.sort();
        out.extend(
            ops.into_iter()
                .map(|o| Item::new(tag::OPERATION, Value::Enumeration(o.value()))),
        );
    }
    if wants(QueryFunction::Objects) {
        for t in [
            ObjectType::SymmetricKey,
            ObjectType::SecretData,
            ObjectType::OpaqueObject,
        ] {
            out.push(Item::new(tag::OBJECT_TYPE, Value::Enumeration(t.value())));
        }
    }
    if wants(QueryFunction::ServerInformation) {
        out.push(Item::new(
            tag::VENDOR_IDENTIFICATION,
            Value::TextString(ctx.vendor_identification.to_string()),
        ));
    }
    if wants(QueryFunction::Profiles) && ctx.version >= ProtocolVersion::new(1, 3) {
        let profiles: &[u32] = if ctx.v2() {
            &[profile_name::SYMMETRIC_KEY_LIFECYCLE_SERVER_V2]
        } else {
            &[
                profile_name::SYMMETRIC_KEY_LIFECYCLE_SERVER_V1,
                profile_name::SYMMETRIC_KEY_FOUNDRY_SERVER_V1,
            ]
        };
        for p in profiles {
            let mut info = vec![Item::new(tag::PROFILE_NAME, Value::Enumeration(*p))];
            if ctx.v2() {
                info.push(Item::structure(
                    tag::PROFILE_VERSION,
                    vec![
                        Item::new(
                            tag::PROFILE_VERSION_MAJOR,
                            Value::Integer(ctx.version.major),
                        ),
                        Item::new(
                            tag::PROFILE_VERSION_MINOR,
                            Value::Integer(ctx.version.minor),
                        ),
                    ],
                ));
            }
            out.push(Item::structure(tag::PROFILE_INFORMATION, info));
        }
    }
    Ok(out)
}

/// Runs one operation.
pub fn dispatch(ctx: &mut Ctx, operation: u32, payload: &Item) -> Result<Vec<Item>, EngineError> {
    let Some(op) = Operation::from_u32(operation) else {
        return Err(EngineError::OperationNotSupported(operation));
    };
    match op {
        Operation::Create => create(ctx, payload),
        Operation::Register => register(ctx, payload),
        Operation::ReKey => rekey(ctx, payload),
        Operation::Locate => locate(ctx, payload),
        Operation::Check => check(ctx, payload),
        Operation::Get => get(ctx, payload),
        Operation::GetAttributes => get_attributes(ctx, payload),
        Operation::GetAttributeList => get_attribute_list(ctx, payload),
        Operation::AddAttribute => add_attribute(ctx, payload),
        Operation::ModifyAttribute => modify_attribute(ctx, payload),
        Operation::DeleteAttribute => delete_attribute(ctx, payload),
        Operation::SetAttribute if ctx.v2() => set_attribute(ctx, payload),
        Operation::Activate => activate(ctx, payload),
        Operation::Revoke => revoke(ctx, payload),
        Operation::Destroy => destroy(ctx, payload),
        Operation::Query => query(ctx, payload),
        Operation::DiscoverVersions => discover_versions(ctx, payload),
        _ => Err(EngineError::OperationNotSupported(operation)),
    }
}
