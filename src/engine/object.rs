//! A managed object as the engine sees it, and its stored form.
//!
//! Metadata encoding (version 1) is one TTLV structure, encoded with the project codec:
//! `Keyward Object (0x54FF00) {
//!    Format Version (0x54FF01, Integer = 1),
//!    Object Type, State (their KMIP tags),
//!    Material Generation (0x54FF02, Long Integer),
//!    Key Format Type (of the stored material),
//!    Data Type (0x54FF03, Enumeration, optional: Secret Data Type / Opaque Data Type),
//!    Object Fields (0x54FF04, Structure, optional: what a Split Key or PGP Key carries beside
//!    its Key Block, and the Key Wrapping Data of a key registered wrapped),
//!    Attributes (0x420125) { every other attribute in KMIP 2.x form, custom ones as Vendor
//!    Attributes, instances in insertion order } }`.
//! Unique Identifier, Object Type and State are not repeated inside Attributes; key material is
//! never part of it (it lives sealed in `StoredObject::sealed_material`).

use crate::kmip::attribute::{self, AttrKey, Attribute};
use crate::kmip::enums::{ObjectType, State};
use crate::kmip::tag;
use crate::store::IndexTerm;
use crate::ttlv::{self, Item, Limits, Value};

const META_ROOT: u32 = 0x54FF00;
const META_FORMAT_VERSION: u32 = 0x54FF01;
const META_MATERIAL_GENERATION: u32 = 0x54FF02;
const META_DATA_TYPE: u32 = 0x54FF03;
const META_OBJECT_FIELDS: u32 = 0x54FF04;
const FORMAT_VERSION: i32 = 1;

/// Domain separation for the sealing AAD.
const AAD_CONTEXT: &[u8] = b"keyward/v1";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManagedObject {
    pub object_type: ObjectType,
    pub state: State,
    /// Bumped whenever the sealed material is replaced; part of the sealing AAD.
    pub material_generation: u64,
    pub key_format: u32,
    pub data_type: Option<u32>,
    /// Every attribute except Unique Identifier, Object Type and State.
    pub attributes: Vec<Attribute>,
    /// Wire items the object carries outside its material and attributes, kept as given:
    /// Split Key fields, PGP Key Version, Key Wrapping Data. Empty for most objects.
    pub object_fields: Vec<Item>,
}

impl ManagedObject {
    pub fn encode_metadata(&self) -> Vec<u8> {
        let mut children = vec![
            Item::new(META_FORMAT_VERSION, Value::Integer(FORMAT_VERSION)),
            Item::new(
                tag::OBJECT_TYPE,
                Value::Enumeration(self.object_type.value()),
            ),
            Item::new(tag::STATE, Value::Enumeration(self.state.value())),
            Item::new(
                META_MATERIAL_GENERATION,
                Value::LongInteger(self.material_generation as i64),
            ),
            Item::new(tag::KEY_FORMAT_TYPE, Value::Enumeration(self.key_format)),
        ];
        if let Some(dt) = self.data_type {
            children.push(Item::new(META_DATA_TYPE, Value::Enumeration(dt)));
        }
        if !self.object_fields.is_empty() {
            children.push(Item::structure(
                META_OBJECT_FIELDS,
                self.object_fields.clone(),
            ));
        }
        children.push(Item::structure(
            tag::ATTRIBUTES,
            self.attributes.iter().map(attribute::encode_v2).collect(),
        ));
        ttlv::encode(&Item::structure(META_ROOT, children))
    }

    /// Reads metadata written by [`encode_metadata`]; `None` if it is not ours or is damaged.
    pub fn decode_metadata(bytes: &[u8]) -> Option<ManagedObject> {
        let limits = Limits {
            max_message_bytes: bytes.len().max(8),
            ..Limits::default()
        };
        let root = ttlv::decode(bytes, &limits).ok()?;
        if root.tag != META_ROOT {
            return None;
        }
        if !matches!(
            root.child(META_FORMAT_VERSION)?.value,
            Value::Integer(FORMAT_VERSION)
        ) {
            return None;
        }
        let enum_of = |t| match root.child(t) {
            Some(Item {
                value: Value::Enumeration(v),
                ..
            }) => Some(*v),
            _ => None,
        };
        let object_type = ObjectType::from_u32(enum_of(tag::OBJECT_TYPE)?)?;
        let state = State::from_u32(enum_of(tag::STATE)?)?;
        let material_generation = match root.child(META_MATERIAL_GENERATION)?.value {
            Value::LongInteger(g) => u64::try_from(g).ok()?,
            _ => return None,
        };
        let key_format = enum_of(tag::KEY_FORMAT_TYPE)?;
        let data_type = enum_of(META_DATA_TYPE);
        let attributes = attribute::parse_v2_list(root.child(tag::ATTRIBUTES)?).ok()?;
        let object_fields = match root.child(META_OBJECT_FIELDS) {
            Some(fields) => fields.children().to_vec(),
            None => Vec::new(),
        };
        Some(ManagedObject {
            object_type,
            state,
            material_generation,
            key_format,
            data_type,
            attributes,
            object_fields,
        })
    }

    /// Associated data binding sealed material to this object and material generation.
    pub fn sealing_aad(uid: &str, generation: u64) -> Vec<u8> {
        let mut aad = Vec::with_capacity(AAD_CONTEXT.len() + uid.len() + 10);
        aad.extend_from_slice(AAD_CONTEXT);
        aad.push(0);
        aad.extend_from_slice(uid.as_bytes());
        aad.push(0);
        aad.extend_from_slice(&generation.to_be_bytes());
        aad
    }

    /// Terms the store indexes this object by: Name values and text-valued custom attributes.
    pub fn index_terms(&self) -> Vec<IndexTerm> {
        let mut terms: Vec<IndexTerm> = self
            .attributes
            .iter()
            .filter_map(|a| match (&a.key, &a.value) {
                (AttrKey::Standard(tag::NAME), value) => name_value(value).map(name_term),
                (AttrKey::Custom(name), Value::TextString(text)) => Some(custom_term(name, text)),
                _ => None,
            })
            .collect();
        terms.sort();
        terms.dedup();
        terms
    }

    pub fn instances<'a>(&'a self, key: &'a AttrKey) -> impl Iterator<Item = &'a Attribute> + 'a {
        self.attributes.iter().filter(move |a| &a.key == key)
    }

    pub fn first(&self, t: u32) -> Option<&Value> {
        self.attributes
            .iter()
            .find(|a| a.key == AttrKey::Standard(t))
            .map(|a| &a.value)
    }

    /// Replaces every instance of standard attribute `t` with one instance of `value`.
    pub fn set(&mut self, t: u32, value: Value) {
        let key = AttrKey::Standard(t);
        match self.attributes.iter().position(|a| a.key == key) {
            Some(pos) => {
                self.attributes[pos].value = value;
                let mut seen = 0;
                self.attributes.retain(|a| {
                    if a.key == key {
                        seen += 1;
                        seen == 1
                    } else {
                        true
                    }
                });
            }
            None => self.attributes.push(Attribute { key, value }),
        }
    }

    /// Applies the transitions a date reaching `now` causes: Pre-Active → Active at the
    /// Activation Date, Active → Deactivated at the Deactivation Date.
    pub fn advance_to(&mut self, now: i64) {
        let reached = |object: &ManagedObject, t| matches!(object.first(t), Some(Value::DateTime(d)) if *d <= now);
        if self.state == State::PreActive && reached(self, tag::ACTIVATION_DATE) {
            self.state = State::Active;
        }
        if self.state == State::Active && reached(self, tag::DEACTIVATION_DATE) {
            self.state = State::Deactivated;
        }
    }

    pub fn int(&self, t: u32) -> Option<i32> {
        match self.first(t) {
            Some(Value::Integer(v)) => Some(*v),
            _ => None,
        }
    }

    /// A field kept beside the material (see `object_fields`).
    pub fn object_field(&self, t: u32) -> Option<&Item> {
        self.object_fields.iter().find(|i| i.tag == t)
    }

    pub fn enumeration(&self, t: u32) -> Option<u32> {
        match self.first(t) {
            Some(Value::Enumeration(v)) => Some(*v),
            _ => None,
        }
    }
}

/// The Name Value text inside a Name attribute value.
pub fn name_value(value: &Value) -> Option<&str> {
    match value {
        Value::Structure(children) => {
            children
                .iter()
                .find(|c| c.tag == tag::NAME_VALUE)
                .and_then(|c| match &c.value {
                    Value::TextString(s) => Some(s.as_str()),
                    _ => None,
                })
        }
        _ => None,
    }
}

pub fn name_term(name: &str) -> IndexTerm {
    let mut bytes = b"N\0".to_vec();
    bytes.extend_from_slice(name.as_bytes());
    IndexTerm(bytes)
}

pub fn custom_term(name: &str, text: &str) -> IndexTerm {
    let mut bytes = b"C\0".to_vec();
    bytes.extend_from_slice(name.as_bytes());
    bytes.push(0);
    bytes.extend_from_slice(text.as_bytes());
    IndexTerm(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> ManagedObject {
        ManagedObject {
            object_type: ObjectType::SymmetricKey,
            state: State::PreActive,
            material_generation: 1,
            key_format: 1,
            data_type: None,
            attributes: vec![
                Attribute {
                    key: AttrKey::Standard(tag::CRYPTOGRAPHIC_LENGTH),
                    value: Value::Integer(256),
                },
                Attribute {
                    key: AttrKey::Standard(tag::NAME),
                    value: Value::Structure(vec![
                        Item::new(tag::NAME_VALUE, Value::TextString("k1".into())),
                        Item::new(tag::NAME_TYPE, Value::Enumeration(1)),
                    ]),
                },
                Attribute {
                    key: AttrKey::Custom("x-Vendor".into()),
                    value: Value::TextString("VMware, Inc.".into()),
                },
                Attribute {
                    key: AttrKey::Custom("x-Vendor".into()),
                    value: Value::TextString("Other".into()),
                },
            ],
            object_fields: vec![Item::new(tag::PGP_KEY_VERSION, Value::Integer(4))],
        }
    }

    #[test]
    fn metadata_round_trips_through_the_codec() {
        let object = sample();
        let bytes = object.encode_metadata();
        assert_eq!(ManagedObject::decode_metadata(&bytes), Some(object));
        assert_eq!(
            ManagedObject::decode_metadata(&bytes[..bytes.len() - 8]),
            None
        );
    }

    #[test]
    fn index_terms_cover_names_and_text_custom_attributes() {
        let terms = sample().index_terms();
        assert!(terms.contains(&name_term("k1")));
        assert!(terms.contains(&custom_term("x-Vendor", "VMware, Inc.")));
        assert!(terms.contains(&custom_term("x-Vendor", "Other")));
        assert_eq!(terms.len(), 3);
    }

    #[test]
    fn aad_differs_by_uid_and_generation() {
        assert_ne!(
            ManagedObject::sealing_aad("a", 1),
            ManagedObject::sealing_aad("a", 2)
        );
        assert_ne!(
            ManagedObject::sealing_aad("a", 1),
            ManagedObject::sealing_aad("b", 1)
        );
    }
}
