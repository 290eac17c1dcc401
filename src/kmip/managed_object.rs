//! The managed objects as they travel in Register requests and Get responses (Symmetric Key,
//! Public / Private Key, Split Key, Certificate, Secret Data, Opaque Object, PGP Key, Template),
//! with their Key Block: one `read` and one `encode` each.
//!
//! Why: Register read these shapes and Get built them in two separate pieces of code, which
//! drifted (field order, which fields each object has). Both now go through [`Object`]. The Key
//! Value stays an item: plain it is Key Material (bytes or a transparent structure) plus
//! attributes, wrapped it is bytes the server cannot look into, and both are kept as sent.

use super::codec::Codec;
use super::enums::ObjectType;
use super::key_objects::{PgpKeyFields, SplitKeyFields};
use super::message::ProtocolVersion;
use super::payload_fields::{self as field, PayloadError};
use super::tag;
use crate::ttlv::{Item, ItemType, Value};

/// A Key Block (KMIP 1.x / 2.x §2.1.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyBlock {
    pub key_format_type: u32,
    pub key_compression_type: Option<u32>,
    /// The Key Value item: a structure with Key Material, or (wrapped) a Byte String.
    pub key_value: Item,
    pub cryptographic_algorithm: Option<u32>,
    pub cryptographic_length: Option<i32>,
    pub key_wrapping_data: Option<Item>,
}

impl KeyBlock {
    /// A plain block holding `key_material` (a Key Material item).
    pub fn plain(key_format_type: u32, key_material: Item) -> KeyBlock {
        KeyBlock {
            key_format_type,
            key_compression_type: None,
            key_value: Item::structure(tag::KEY_VALUE, vec![key_material]),
            cryptographic_algorithm: None,
            cryptographic_length: None,
            key_wrapping_data: None,
        }
    }

    /// The Key Material item of a plain block.
    pub fn key_material(&self) -> Option<&Item> {
        self.key_value.child(tag::KEY_MATERIAL)
    }
}

impl Codec for KeyBlock {
    fn read(item: &Item, _: ProtocolVersion) -> Result<Self, PayloadError> {
        let key_wrapping_data = match item.child(tag::KEY_WRAPPING_DATA) {
            None => None,
            Some(w) if w.item_type() == ItemType::Structure => Some(w.clone()),
            Some(_) => return Err(PayloadError::WrongType("Key Wrapping Data")),
        };
        Ok(KeyBlock {
            key_format_type: field::enumeration(item, tag::KEY_FORMAT_TYPE)?
                .ok_or(PayloadError::Missing("Key Format Type"))?,
            key_compression_type: field::enumeration(item, tag::KEY_COMPRESSION_TYPE)?,
            key_value: item
                .child(tag::KEY_VALUE)
                .cloned()
                .ok_or(PayloadError::Missing("Key Value"))?,
            cryptographic_algorithm: field::enumeration(item, tag::CRYPTOGRAPHIC_ALGORITHM)?,
            cryptographic_length: field::integer(item, tag::CRYPTOGRAPHIC_LENGTH)?,
            key_wrapping_data,
        })
    }

    fn encode(&self, _: ProtocolVersion) -> Item {
        let mut out = vec![Item::new(
            tag::KEY_FORMAT_TYPE,
            Value::Enumeration(self.key_format_type),
        )];
        field::push(
            &mut out,
            tag::KEY_COMPRESSION_TYPE,
            &self.key_compression_type,
            |v| Value::Enumeration(*v),
        );
        out.push(self.key_value.clone());
        field::push(
            &mut out,
            tag::CRYPTOGRAPHIC_ALGORITHM,
            &self.cryptographic_algorithm,
            |v| Value::Enumeration(*v),
        );
        field::push(
            &mut out,
            tag::CRYPTOGRAPHIC_LENGTH,
            &self.cryptographic_length,
            |v| Value::Integer(*v),
        );
        if let Some(w) = &self.key_wrapping_data {
            out.push(w.clone());
        }
        Item::structure(tag::KEY_BLOCK, out)
    }
}

/// One managed object, as Register receives it and Get serves it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Object {
    SymmetricKey(KeyBlock),
    PublicKey(KeyBlock),
    PrivateKey(KeyBlock),
    SplitKey {
        fields: SplitKeyFields,
        key_block: KeyBlock,
    },
    Certificate {
        certificate_type: u32,
        value: Vec<u8>,
    },
    SecretData {
        secret_data_type: Option<u32>,
        key_block: KeyBlock,
    },
    OpaqueObject {
        data_type: Option<u32>,
        value: Vec<u8>,
    },
    PgpKey {
        fields: PgpKeyFields,
        key_block: KeyBlock,
    },
    /// A 1.x Template: its 1.x Attribute items, checked to be readable and kept as sent.
    Template {
        attributes: Vec<Item>,
    },
}

/// The tag of each object type's structure.
const OBJECT_TAGS: [(u32, ObjectType); 9] = [
    (tag::SYMMETRIC_KEY, ObjectType::SymmetricKey),
    (tag::PUBLIC_KEY, ObjectType::PublicKey),
    (tag::PRIVATE_KEY, ObjectType::PrivateKey),
    (tag::SPLIT_KEY, ObjectType::SplitKey),
    (tag::CERTIFICATE, ObjectType::Certificate),
    (tag::SECRET_DATA, ObjectType::SecretData),
    (tag::OPAQUE_OBJECT, ObjectType::OpaqueObject),
    (tag::PGP_KEY, ObjectType::PgpKey),
    (tag::TEMPLATE, ObjectType::Template),
];

/// The structure tag of an object type, if it is one KMIP carries in Register / Get.
pub fn object_tag(object_type: ObjectType) -> Option<u32> {
    OBJECT_TAGS
        .iter()
        .find(|(_, t)| *t == object_type)
        .map(|(tag, _)| *tag)
}

impl Object {
    pub fn object_type(&self) -> ObjectType {
        match self {
            Object::SymmetricKey(_) => ObjectType::SymmetricKey,
            Object::PublicKey(_) => ObjectType::PublicKey,
            Object::PrivateKey(_) => ObjectType::PrivateKey,
            Object::SplitKey { .. } => ObjectType::SplitKey,
            Object::Certificate { .. } => ObjectType::Certificate,
            Object::SecretData { .. } => ObjectType::SecretData,
            Object::OpaqueObject { .. } => ObjectType::OpaqueObject,
            Object::PgpKey { .. } => ObjectType::PgpKey,
            Object::Template { .. } => ObjectType::Template,
        }
    }

    /// The Key Block, for the objects that have one.
    pub fn key_block(&self) -> Option<&KeyBlock> {
        match self {
            Object::SymmetricKey(b) | Object::PublicKey(b) | Object::PrivateKey(b) => Some(b),
            Object::SplitKey { key_block, .. }
            | Object::SecretData { key_block, .. }
            | Object::PgpKey { key_block, .. } => Some(key_block),
            _ => None,
        }
    }

    /// The object structure among a payload's children (`None` when there is none).
    pub fn find_in(
        payload: &Item,
        version: ProtocolVersion,
    ) -> Result<Option<Object>, PayloadError> {
        payload
            .children()
            .iter()
            .find(|c| OBJECT_TAGS.iter().any(|(t, _)| *t == c.tag))
            .map(|c| Object::read(c, version))
            .transpose()
    }
}

fn key_block_in(item: &Item, version: ProtocolVersion) -> Result<KeyBlock, PayloadError> {
    let block = item
        .child(tag::KEY_BLOCK)
        .ok_or(PayloadError::Missing("Key Block"))?;
    KeyBlock::read(block, version)
}

impl Codec for Object {
    fn read(item: &Item, version: ProtocolVersion) -> Result<Self, PayloadError> {
        let Some((_, object_type)) = OBJECT_TAGS.iter().find(|(t, _)| *t == item.tag) else {
            return Err(PayloadError::WrongType("managed object"));
        };
        Ok(match object_type {
            ObjectType::SymmetricKey => Object::SymmetricKey(key_block_in(item, version)?),
            ObjectType::PublicKey => Object::PublicKey(key_block_in(item, version)?),
            ObjectType::PrivateKey => Object::PrivateKey(key_block_in(item, version)?),
            ObjectType::SplitKey => Object::SplitKey {
                fields: SplitKeyFields::read(item)?,
                key_block: key_block_in(item, version)?,
            },
            ObjectType::PgpKey => Object::PgpKey {
                fields: PgpKeyFields::read(item)?,
                key_block: key_block_in(item, version)?,
            },
            ObjectType::SecretData => Object::SecretData {
                secret_data_type: field::enumeration(item, tag::SECRET_DATA_TYPE)?,
                key_block: key_block_in(item, version)?,
            },
            ObjectType::Certificate => Object::Certificate {
                certificate_type: field::enumeration(item, tag::CERTIFICATE_TYPE)?
                    .ok_or(PayloadError::Missing("Certificate Type"))?,
                value: field::bytes(item, tag::CERTIFICATE_VALUE)
                    .ok()
                    .flatten()
                    .ok_or(PayloadError::Missing("Certificate Value"))?,
            },
            ObjectType::OpaqueObject => Object::OpaqueObject {
                data_type: field::enumeration(item, tag::OPAQUE_DATA_TYPE)?,
                value: field::bytes(item, tag::OPAQUE_DATA_VALUE)
                    .ok()
                    .flatten()
                    .ok_or(PayloadError::Missing("Opaque Data Value"))?,
            },
            _ => {
                let attributes: Vec<Item> = item.children_with(tag::ATTRIBUTE).cloned().collect();
                for a in &attributes {
                    super::attribute::parse_v1(a)?;
                }
                Object::Template { attributes }
            }
        })
    }

    fn encode(&self, version: ProtocolVersion) -> Item {
        let block = |b: &KeyBlock| b.encode(version);
        let (t, children) = match self {
            Object::SymmetricKey(b) => (tag::SYMMETRIC_KEY, vec![block(b)]),
            Object::PublicKey(b) => (tag::PUBLIC_KEY, vec![block(b)]),
            Object::PrivateKey(b) => (tag::PRIVATE_KEY, vec![block(b)]),
            Object::SplitKey { fields, key_block } => {
                let mut c = fields.encode();
                c.push(block(key_block));
                (tag::SPLIT_KEY, c)
            }
            Object::PgpKey { fields, key_block } => {
                let mut c = fields.encode();
                c.push(block(key_block));
                (tag::PGP_KEY, c)
            }
            Object::SecretData {
                secret_data_type,
                key_block,
            } => {
                let mut c = Vec::new();
                field::push(&mut c, tag::SECRET_DATA_TYPE, secret_data_type, |v| {
                    Value::Enumeration(*v)
                });
                c.push(block(key_block));
                (tag::SECRET_DATA, c)
            }
            Object::Certificate {
                certificate_type,
                value,
            } => (
                tag::CERTIFICATE,
                vec![
                    Item::new(tag::CERTIFICATE_TYPE, Value::Enumeration(*certificate_type)),
                    Item::new(tag::CERTIFICATE_VALUE, Value::ByteString(value.clone())),
                ],
            ),
            Object::OpaqueObject { data_type, value } => {
                let mut c = Vec::new();
                field::push(&mut c, tag::OPAQUE_DATA_TYPE, data_type, |v| {
                    Value::Enumeration(*v)
                });
                c.push(Item::new(
                    tag::OPAQUE_DATA_VALUE,
                    Value::ByteString(value.clone()),
                ));
                (tag::OPAQUE_OBJECT, c)
            }
            Object::Template { attributes } => (tag::TEMPLATE, attributes.clone()),
        };
        Item::structure(t, children)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kmip::codec::testing::{ALL, round_trips};

    fn raw_block() -> KeyBlock {
        KeyBlock {
            cryptographic_algorithm: Some(3),
            cryptographic_length: Some(128),
            ..KeyBlock::plain(
                1,
                Item::new(tag::KEY_MATERIAL, Value::ByteString(vec![7; 16])),
            )
        }
    }

    #[test]
    fn every_object_round_trips() {
        let wrapped = KeyBlock {
            key_value: Item::new(tag::KEY_VALUE, Value::ByteString(vec![1; 24])),
            key_wrapping_data: Some(Item::structure(
                tag::KEY_WRAPPING_DATA,
                vec![Item::new(tag::WRAPPING_METHOD, Value::Enumeration(1))],
            )),
            ..raw_block()
        };
        let objects = vec![
            Object::SymmetricKey(raw_block()),
            Object::SymmetricKey(wrapped.clone()),
            Object::PublicKey(raw_block()),
            Object::PrivateKey(wrapped),
            Object::SplitKey {
                fields: SplitKeyFields {
                    parts: 3,
                    key_part_identifier: 1,
                    threshold: 2,
                    method: 1,
                    prime_field_size: None,
                },
                key_block: raw_block(),
            },
            Object::Certificate {
                certificate_type: 1,
                value: vec![0x30, 0x00],
            },
            Object::SecretData {
                secret_data_type: Some(2),
                key_block: KeyBlock::plain(
                    2,
                    Item::new(tag::KEY_MATERIAL, Value::ByteString(b"pw".to_vec())),
                ),
            },
            Object::OpaqueObject {
                data_type: None,
                value: b"blob".to_vec(),
            },
            Object::PgpKey {
                fields: PgpKeyFields { version: 4 },
                key_block: raw_block(),
            },
            Object::Template {
                attributes: vec![crate::kmip::attribute::encode_v1(
                    &crate::kmip::attribute::Attribute {
                        key: crate::kmip::attribute::AttrKey::Standard(tag::CRYPTOGRAPHIC_LENGTH),
                        value: Value::Integer(256),
                    },
                    None,
                )],
            },
        ];
        for object in &objects {
            for v in ALL {
                round_trips(object, v);
            }
            let payload = Item::structure(tag::REQUEST_PAYLOAD, vec![object.encode(ALL[0])]);
            assert_eq!(
                Object::find_in(&payload, ALL[0]).unwrap().as_ref(),
                Some(object)
            );
        }
    }

    #[test]
    fn missing_parts_are_named() {
        let no_block = Item::structure(tag::SYMMETRIC_KEY, vec![]);
        assert_eq!(
            Object::read(&no_block, ALL[0]),
            Err(PayloadError::Missing("Key Block"))
        );
        let no_value = Item::structure(
            tag::SYMMETRIC_KEY,
            vec![Item::structure(
                tag::KEY_BLOCK,
                vec![Item::new(tag::KEY_FORMAT_TYPE, Value::Enumeration(1))],
            )],
        );
        assert_eq!(
            Object::read(&no_value, ALL[0]),
            Err(PayloadError::Missing("Key Value"))
        );
    }
}
