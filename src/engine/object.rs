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
//!    Instance Indexes (0x54FF05, Structure, optional: per multi-instance attribute whose
//!    instances no longer sit at indexes 0, 1, 2, ... — because one was deleted — an
//!    Attribute Reference followed by one Integer per instance),
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
const META_INSTANCE_INDEXES: u32 = 0x54FF05;
const META_INDEX_ENTRY: u32 = 0x54FF06;
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
    /// KMIP 1.x Attribute Index of each instance of a multi-instance attribute, for the
    /// attributes whose indexes are not simply their positions (see [`Self::indexes`]).
    pub instance_indexes: Vec<(AttrKey, Vec<u32>)>,
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
        if !self.instance_indexes.is_empty() {
            let entries = self
                .instance_indexes
                .iter()
                .map(|(key, indexes)| {
                    let mut entry = vec![attribute::encode_v2_reference(key)];
                    entry.extend(
                        indexes
                            .iter()
                            .map(|i| Item::new(tag::ATTRIBUTE_INDEX, Value::Integer(*i as i32))),
                    );
                    Item::structure(META_INDEX_ENTRY, entry)
                })
                .collect();
            children.push(Item::structure(META_INSTANCE_INDEXES, entries));
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
        let mut instance_indexes = Vec::new();
        if let Some(entries) = root.child(META_INSTANCE_INDEXES) {
            for entry in entries.children() {
                let (reference, indexes) = entry.children().split_first()?;
                let key = attribute::parse_v2_reference(reference).ok()?;
                let indexes = indexes
                    .iter()
                    .map(|i| match i.value {
                        Value::Integer(v) => u32::try_from(v).ok(),
                        _ => None,
                    })
                    .collect::<Option<Vec<u32>>>()?;
                instance_indexes.push((key, indexes));
            }
        }
        Some(ManagedObject {
            object_type,
            state,
            material_generation,
            key_format,
            data_type,
            attributes,
            object_fields,
            instance_indexes,
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

    /// The 1.x Attribute Index of each instance of `key`, in instance order. KMIP: indexes
    /// start at 0 and an instance keeps its index when others are added or deleted, so after
    /// a deletion they are no longer the positions; a record that disagrees with the instance
    /// count (an operation replaced the instances wholesale) counts as positions again.
    pub fn indexes(&self, key: &AttrKey) -> Vec<u32> {
        let count = self.instances(key).count();
        match self.instance_indexes.iter().find(|(k, _)| k == key) {
            Some((_, indexes)) if indexes.len() == count => indexes.clone(),
            _ => (0..count as u32).collect(),
        }
    }

    fn keep_indexes(&mut self, key: &AttrKey, indexes: Vec<u32>) {
        self.instance_indexes.retain(|(k, _)| k != key);
        let positional = indexes.iter().enumerate().all(|(n, i)| *i == n as u32);
        if !positional {
            self.instance_indexes.push((key.clone(), indexes));
        }
    }

    /// Appends an instance of `attribute`'s key; returns the index it gets (one past the
    /// highest in use, so a deleted instance's index is never reused).
    pub fn push_instance(&mut self, attribute: Attribute) -> u32 {
        let mut indexes = self.indexes(&attribute.key);
        let next = indexes.iter().max().map_or(0, |m| m + 1);
        indexes.push(next);
        let key = attribute.key.clone();
        self.attributes.push(attribute);
        self.keep_indexes(&key, indexes);
        next
    }

    /// Position in `attributes` of the instance of `key` with Attribute Index `index`.
    pub fn position_of_index(&self, key: &AttrKey, index: u32) -> Option<usize> {
        let nth = self.indexes(key).iter().position(|i| *i == index)?;
        self.attributes
            .iter()
            .enumerate()
            .filter(|(_, a)| &a.key == key)
            .nth(nth)
            .map(|(p, _)| p)
    }

    /// Removes the attribute at `position`; the other instances keep their indexes.
    pub fn remove_instance(&mut self, position: usize) -> Attribute {
        let key = self.attributes[position].key.clone();
        let nth = self.attributes[..position]
            .iter()
            .filter(|a| a.key == key)
            .count();
        let mut indexes = self.indexes(&key);
        let removed = self.attributes.remove(position);
        if nth < indexes.len() {
            indexes.remove(nth);
        }
        self.keep_indexes(&key, indexes);
        removed
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
            instance_indexes: vec![(AttrKey::Custom("x-Vendor".into()), vec![0, 2])],
        }
    }

    #[test]
    fn instance_indexes_survive_deletions_and_are_never_reused() {
        let mut object = sample();
        object.instance_indexes.clear();
        let vendor = AttrKey::Custom("x-Vendor".into());
        assert_eq!(object.indexes(&vendor), vec![0, 1]);
        let third = object.push_instance(Attribute {
            key: vendor.clone(),
            value: Value::TextString("Third".into()),
        });
        assert_eq!(third, 2);
        let first = object.position_of_index(&vendor, 0).expect("index 0");
        object.remove_instance(first);
        assert_eq!(object.indexes(&vendor), vec![1, 2]);
        assert_eq!(object.position_of_index(&vendor, 0), None);
        let fourth = object.push_instance(Attribute {
            key: vendor.clone(),
            value: Value::TextString("Fourth".into()),
        });
        assert_eq!(fourth, 3);
        let bytes = object.encode_metadata();
        assert_eq!(
            ManagedObject::decode_metadata(&bytes).map(|o| o.indexes(&vendor)),
            Some(vec![1, 2, 3])
        );
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
