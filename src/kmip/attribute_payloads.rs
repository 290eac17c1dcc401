//! Request and response payloads of the attribute operations: Get Attributes, Get Attribute
//! List, Add / Modify / Set / Delete Attribute, typed, for KMIP 1.0–2.1.
//!
//! Why its own file: these are the payloads whose shape changes most between generations. 1.x
//! names attributes by text (Attribute Name) and addresses instances by Attribute Index; 2.x
//! names them by Attribute Reference and addresses instances by value (Current Attribute), with
//! the new value in New Attribute. Each type here holds the version-neutral meaning; `read` and
//! `encode` translate.

use super::attribute::{self, AttrKey, Attribute};
use super::codec::{
    Codec, RequestPayload, ResponsePayload, is_v2, request_payload, response_payload,
};
use super::enums::Operation;
use super::message::ProtocolVersion;
use super::payload_fields::{self as field, PayloadError};
use super::tag;
use crate::ttlv::{Item, Value};

/// One attribute instance with the 1.x Attribute Index it is sent with (`None`: no index).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexedAttribute {
    pub attribute: Attribute,
    pub index: Option<u32>,
}

impl IndexedAttribute {
    pub fn new(attribute: Attribute, index: Option<u32>) -> IndexedAttribute {
        IndexedAttribute { attribute, index }
    }

    /// A 1.x `Attribute` structure; an index is written whenever it is given, 0 included.
    fn encode_v1(&self) -> Item {
        match self.index {
            Some(i) => attribute::encode_v1_indexed(&self.attribute, i),
            None => attribute::encode_v1(&self.attribute, None),
        }
    }

    fn read_v1(item: &Item) -> Result<IndexedAttribute, PayloadError> {
        let (attribute, index) = attribute::parse_v1(item)?;
        // A negative index names the first instance, as KMIP servers have always read it.
        let index = index.map(|i| i.max(0).unsigned_abs());
        Ok(IndexedAttribute { attribute, index })
    }
}

/// The one attribute inside a 2.x New Attribute / Current Attribute structure.
fn single_v2(container: Option<&Item>, what: &'static str) -> Result<Attribute, PayloadError> {
    let first = container
        .and_then(|c| c.children().first())
        .ok_or(PayloadError::Missing(what))?;
    Ok(attribute::parse_v2(first)?)
}

fn wrap_v2(t: u32, a: &Attribute) -> Item {
    Item::structure(t, vec![attribute::encode_v2(a)])
}

/// A 1.x Attribute Name read as a key; a name this server does not know becomes a custom key
/// under that very name, which no object carries (so it selects nothing) and which encodes
/// back to the same text.
fn key_of_v1_name(item: &Item) -> Result<AttrKey, PayloadError> {
    match &item.value {
        Value::TextString(name) => {
            Ok(AttrKey::from_v1_name(name).unwrap_or_else(|| AttrKey::Custom(name.clone())))
        }
        _ => Err(PayloadError::WrongType("Attribute Name")),
    }
}

fn read_keys(item: &Item, version: ProtocolVersion) -> Result<Vec<AttrKey>, PayloadError> {
    if is_v2(version) {
        item.children_with(tag::ATTRIBUTE_REFERENCE)
            .map(|r| attribute::parse_v2_reference(r).map_err(PayloadError::from))
            .collect()
    } else {
        item.children_with(tag::ATTRIBUTE_NAME)
            .map(key_of_v1_name)
            .collect()
    }
}

fn encode_keys(out: &mut Vec<Item>, keys: &[AttrKey], version: ProtocolVersion) {
    out.extend(keys.iter().map(|k| {
        if is_v2(version) {
            attribute::encode_v2_reference(k)
        } else {
            Item::new(tag::ATTRIBUTE_NAME, Value::TextString(k.v1_name()))
        }
    }));
}

fn uid_children(uid: &Option<String>) -> Vec<Item> {
    let mut out = Vec::new();
    field::push_uid(&mut out, uid);
    out
}

/// Get Attributes: which object, which attributes (none named: all of them).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GetAttributesRequest {
    pub unique_identifier: Option<String>,
    pub attributes: Vec<AttrKey>,
}

impl Codec for GetAttributesRequest {
    fn read(item: &Item, version: ProtocolVersion) -> Result<Self, PayloadError> {
        Ok(GetAttributesRequest {
            unique_identifier: field::uid(item),
            attributes: read_keys(item, version)?,
        })
    }
    fn encode(&self, version: ProtocolVersion) -> Item {
        let mut out = uid_children(&self.unique_identifier);
        encode_keys(&mut out, &self.attributes, version);
        request_payload(out)
    }
}
impl RequestPayload for GetAttributesRequest {
    const OPERATION: Operation = Operation::GetAttributes;
}

/// Get Attributes' answer: 1.x Attribute items with their indexes, 2.x one Attributes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GetAttributesResponse {
    pub unique_identifier: String,
    pub attributes: Vec<IndexedAttribute>,
}

impl Codec for GetAttributesResponse {
    fn read(item: &Item, version: ProtocolVersion) -> Result<Self, PayloadError> {
        let attributes = if is_v2(version) {
            match item.child(tag::ATTRIBUTES) {
                Some(c) => attribute::parse_v2_list(c)?
                    .into_iter()
                    .map(|a| IndexedAttribute::new(a, None))
                    .collect(),
                None => Vec::new(),
            }
        } else {
            item.children_with(tag::ATTRIBUTE)
                .map(IndexedAttribute::read_v1)
                .collect::<Result<_, _>>()?
        };
        Ok(GetAttributesResponse {
            unique_identifier: field::uid(item)
                .ok_or(PayloadError::Missing("Unique Identifier"))?,
            attributes,
        })
    }
    fn encode(&self, version: ProtocolVersion) -> Item {
        let mut out = uid_children(&Some(self.unique_identifier.clone()));
        if is_v2(version) {
            out.push(Item::structure(
                tag::ATTRIBUTES,
                self.attributes
                    .iter()
                    .map(|a| attribute::encode_v2(&a.attribute))
                    .collect(),
            ));
        } else {
            out.extend(self.attributes.iter().map(IndexedAttribute::encode_v1));
        }
        response_payload(out)
    }
}
impl ResponsePayload for GetAttributesResponse {
    const OPERATION: Operation = Operation::GetAttributes;
}

/// Get Attribute List: which object.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GetAttributeListRequest {
    pub unique_identifier: Option<String>,
}

impl Codec for GetAttributeListRequest {
    fn read(item: &Item, _: ProtocolVersion) -> Result<Self, PayloadError> {
        Ok(GetAttributeListRequest {
            unique_identifier: field::uid(item),
        })
    }
    fn encode(&self, _: ProtocolVersion) -> Item {
        request_payload(uid_children(&self.unique_identifier))
    }
}
impl RequestPayload for GetAttributeListRequest {
    const OPERATION: Operation = Operation::GetAttributeList;
}

/// Get Attribute List's answer: the names (1.x) or references (2.x) of the attributes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GetAttributeListResponse {
    pub unique_identifier: String,
    pub attributes: Vec<AttrKey>,
}

impl Codec for GetAttributeListResponse {
    fn read(item: &Item, version: ProtocolVersion) -> Result<Self, PayloadError> {
        Ok(GetAttributeListResponse {
            unique_identifier: field::uid(item)
                .ok_or(PayloadError::Missing("Unique Identifier"))?,
            attributes: read_keys(item, version)?,
        })
    }
    fn encode(&self, version: ProtocolVersion) -> Item {
        let mut out = uid_children(&Some(self.unique_identifier.clone()));
        encode_keys(&mut out, &self.attributes, version);
        response_payload(out)
    }
}
impl ResponsePayload for GetAttributeListResponse {
    const OPERATION: Operation = Operation::GetAttributeList;
}

/// Add Attribute: 1.x `Attribute` (an index, if sent, is refused by the engine), 2.x New
/// Attribute.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddAttributeRequest {
    pub unique_identifier: Option<String>,
    pub attribute: IndexedAttribute,
}

fn v1_attribute(item: &Item) -> Result<IndexedAttribute, PayloadError> {
    IndexedAttribute::read_v1(
        item.child(tag::ATTRIBUTE)
            .ok_or(PayloadError::Missing("Attribute"))?,
    )
}

impl Codec for AddAttributeRequest {
    fn read(item: &Item, version: ProtocolVersion) -> Result<Self, PayloadError> {
        let attribute = if is_v2(version) {
            IndexedAttribute::new(
                single_v2(item.child(tag::NEW_ATTRIBUTE), "New Attribute")?,
                None,
            )
        } else {
            v1_attribute(item)?
        };
        Ok(AddAttributeRequest {
            unique_identifier: field::uid(item),
            attribute,
        })
    }
    fn encode(&self, version: ProtocolVersion) -> Item {
        let mut out = uid_children(&self.unique_identifier);
        out.push(if is_v2(version) {
            wrap_v2(tag::NEW_ATTRIBUTE, &self.attribute.attribute)
        } else {
            self.attribute.encode_v1()
        });
        request_payload(out)
    }
}
impl RequestPayload for AddAttributeRequest {
    const OPERATION: Operation = Operation::AddAttribute;
}

/// The answer of Add, Modify and Delete Attribute: the UID and, in 1.x, the instance touched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttributeChangeResponse {
    pub unique_identifier: String,
    /// 1.x only (2.x answers with the UID alone).
    pub attribute: Option<IndexedAttribute>,
}

impl AttributeChangeResponse {
    fn read_any(item: &Item, version: ProtocolVersion) -> Result<Self, PayloadError> {
        let attribute = match item.child(tag::ATTRIBUTE) {
            Some(a) if !is_v2(version) => Some(IndexedAttribute::read_v1(a)?),
            _ => None,
        };
        Ok(AttributeChangeResponse {
            unique_identifier: field::uid(item)
                .ok_or(PayloadError::Missing("Unique Identifier"))?,
            attribute,
        })
    }

    fn encode_any(&self, version: ProtocolVersion) -> Item {
        let mut out = uid_children(&Some(self.unique_identifier.clone()));
        if let (false, Some(a)) = (is_v2(version), &self.attribute) {
            out.push(a.encode_v1());
        }
        response_payload(out)
    }
}

/// Add / Modify / Delete Attribute answers share one shape; each gets its own name so the
/// request encoder and the engine know the operation from the type.
macro_rules! change_response {
    ($($name:ident($op:ident);)*) => {$(
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub struct $name(pub AttributeChangeResponse);
        impl Codec for $name {
            fn read(item: &Item, version: ProtocolVersion) -> Result<Self, PayloadError> {
                AttributeChangeResponse::read_any(item, version).map($name)
            }
            fn encode(&self, version: ProtocolVersion) -> Item {
                self.0.encode_any(version)
            }
        }
        impl ResponsePayload for $name {
            const OPERATION: Operation = Operation::$op;
        }
    )*};
}

change_response! {
    AddAttributeResponse(AddAttribute);
    ModifyAttributeResponse(ModifyAttribute);
    DeleteAttributeResponse(DeleteAttribute);
}

/// Modify Attribute: 1.x the new value with the index of the instance it replaces; 2.x New
/// Attribute and optionally the Current Attribute it replaces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModifyAttributeRequest {
    pub unique_identifier: Option<String>,
    /// 2.x only.
    pub current: Option<Attribute>,
    pub new: IndexedAttribute,
}

impl Codec for ModifyAttributeRequest {
    fn read(item: &Item, version: ProtocolVersion) -> Result<Self, PayloadError> {
        let (current, new) = if is_v2(version) {
            let new = single_v2(item.child(tag::NEW_ATTRIBUTE), "New Attribute")?;
            let current = match item.child(tag::CURRENT_ATTRIBUTE) {
                Some(c) => Some(single_v2(Some(c), "Current Attribute")?),
                None => None,
            };
            (current, IndexedAttribute::new(new, None))
        } else {
            (None, v1_attribute(item)?)
        };
        Ok(ModifyAttributeRequest {
            unique_identifier: field::uid(item),
            current,
            new,
        })
    }
    fn encode(&self, version: ProtocolVersion) -> Item {
        let mut out = uid_children(&self.unique_identifier);
        if is_v2(version) {
            if let Some(current) = &self.current {
                out.push(wrap_v2(tag::CURRENT_ATTRIBUTE, current));
            }
            out.push(wrap_v2(tag::NEW_ATTRIBUTE, &self.new.attribute));
        } else {
            out.push(self.new.encode_v1());
        }
        request_payload(out)
    }
}
impl RequestPayload for ModifyAttributeRequest {
    const OPERATION: Operation = Operation::ModifyAttribute;
}

/// Set Attribute (2.x): the new value of a single-instance attribute.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetAttributeRequest {
    pub unique_identifier: Option<String>,
    pub new: Attribute,
}

impl Codec for SetAttributeRequest {
    fn read(item: &Item, _: ProtocolVersion) -> Result<Self, PayloadError> {
        Ok(SetAttributeRequest {
            unique_identifier: field::uid(item),
            new: single_v2(item.child(tag::NEW_ATTRIBUTE), "New Attribute")?,
        })
    }
    fn encode(&self, _: ProtocolVersion) -> Item {
        let mut out = uid_children(&self.unique_identifier);
        out.push(wrap_v2(tag::NEW_ATTRIBUTE, &self.new));
        request_payload(out)
    }
}
impl RequestPayload for SetAttributeRequest {
    const OPERATION: Operation = Operation::SetAttribute;
}

/// Set Attribute's answer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SetAttributeResponse {
    pub unique_identifier: Option<String>,
}

impl Codec for SetAttributeResponse {
    fn read(item: &Item, _: ProtocolVersion) -> Result<Self, PayloadError> {
        Ok(SetAttributeResponse {
            unique_identifier: field::uid(item),
        })
    }
    fn encode(&self, _: ProtocolVersion) -> Item {
        response_payload(uid_children(&self.unique_identifier))
    }
}
impl ResponsePayload for SetAttributeResponse {
    const OPERATION: Operation = Operation::SetAttribute;
}

/// Which instance Delete Attribute removes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeleteTarget {
    /// 1.x: Attribute Name and Attribute Index (absent: 0), straight in the payload.
    Named { key: AttrKey, index: Option<i32> },
    /// 2.x: the instance with this value.
    Current(Attribute),
    /// 2.x: the first instance of this attribute.
    Reference(AttrKey),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeleteAttributeRequest {
    pub unique_identifier: Option<String>,
    pub target: DeleteTarget,
}

impl Codec for DeleteAttributeRequest {
    fn read(item: &Item, version: ProtocolVersion) -> Result<Self, PayloadError> {
        let target = if is_v2(version) {
            if let Some(current) = item.child(tag::CURRENT_ATTRIBUTE) {
                DeleteTarget::Current(single_v2(Some(current), "Current Attribute")?)
            } else {
                let reference = item
                    .child(tag::ATTRIBUTE_REFERENCE)
                    .ok_or(PayloadError::Missing("Attribute Reference"))?;
                DeleteTarget::Reference(attribute::parse_v2_reference(reference)?)
            }
        } else {
            let (key, index) = attribute::parse_v1_reference(item)?;
            DeleteTarget::Named { key, index }
        };
        Ok(DeleteAttributeRequest {
            unique_identifier: field::uid(item),
            target,
        })
    }
    fn encode(&self, version: ProtocolVersion) -> Item {
        let mut out = uid_children(&self.unique_identifier);
        match (&self.target, is_v2(version)) {
            (DeleteTarget::Current(a), true) => out.push(wrap_v2(tag::CURRENT_ATTRIBUTE, a)),
            (DeleteTarget::Reference(k), true) => out.push(attribute::encode_v2_reference(k)),
            (DeleteTarget::Named { key, index }, _) => {
                out.push(Item::new(
                    tag::ATTRIBUTE_NAME,
                    Value::TextString(key.v1_name()),
                ));
                field::push(&mut out, tag::ATTRIBUTE_INDEX, index, |i| {
                    Value::Integer(*i)
                });
            }
            // 2.x targets asked for in 1.x: the instance by name, index 0.
            (
                DeleteTarget::Current(Attribute { key, .. }) | DeleteTarget::Reference(key),
                false,
            ) => {
                out.push(Item::new(
                    tag::ATTRIBUTE_NAME,
                    Value::TextString(key.v1_name()),
                ));
            }
        }
        request_payload(out)
    }
}
impl RequestPayload for DeleteAttributeRequest {
    const OPERATION: Operation = Operation::DeleteAttribute;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kmip::codec::testing::{ALL, V1_0, V1_4, V2_0, V2_1, round_trips};

    fn custom() -> Attribute {
        Attribute {
            key: AttrKey::Custom("x-Vendor".into()),
            value: Value::TextString("VMware, Inc.".into()),
        }
    }

    fn name() -> Attribute {
        Attribute {
            key: AttrKey::Standard(tag::NAME),
            value: Value::Structure(vec![
                Item::new(tag::NAME_VALUE, Value::TextString("k".into())),
                Item::new(tag::NAME_TYPE, Value::Enumeration(1)),
            ]),
        }
    }

    #[test]
    fn version_neutral_payloads_round_trip() {
        let keys = vec![
            AttrKey::Standard(tag::STATE),
            AttrKey::Custom("x-Vendor".into()),
        ];
        for v in ALL {
            round_trips(
                &GetAttributesRequest {
                    unique_identifier: Some("u".into()),
                    attributes: keys.clone(),
                },
                v,
            );
            round_trips(&GetAttributeListRequest::default(), v);
            round_trips(
                &GetAttributeListResponse {
                    unique_identifier: "u".into(),
                    attributes: keys.clone(),
                },
                v,
            );
        }
        // A 1.x name the server does not know survives the trip (and selects nothing).
        round_trips(
            &GetAttributesRequest {
                unique_identifier: None,
                attributes: vec![AttrKey::Custom("Colour".into())],
            },
            V1_0,
        );
    }

    #[test]
    fn one_x_shapes_round_trip_with_indexes() {
        for v in [V1_0, V1_4] {
            round_trips(
                &GetAttributesResponse {
                    unique_identifier: "u".into(),
                    attributes: vec![
                        IndexedAttribute::new(name(), Some(0)),
                        IndexedAttribute::new(custom(), Some(1)),
                        IndexedAttribute::new(
                            Attribute {
                                key: AttrKey::Standard(tag::STATE),
                                value: Value::Enumeration(1),
                            },
                            None,
                        ),
                    ],
                },
                v,
            );
            round_trips(
                &AddAttributeRequest {
                    unique_identifier: Some("u".into()),
                    attribute: IndexedAttribute::new(custom(), None),
                },
                v,
            );
            round_trips(
                &AddAttributeResponse(AttributeChangeResponse {
                    unique_identifier: "u".into(),
                    attribute: Some(IndexedAttribute::new(custom(), Some(2))),
                }),
                v,
            );
            round_trips(
                &ModifyAttributeRequest {
                    unique_identifier: Some("u".into()),
                    current: None,
                    new: IndexedAttribute::new(name(), Some(1)),
                },
                v,
            );
            round_trips(
                &DeleteAttributeRequest {
                    unique_identifier: Some("u".into()),
                    target: DeleteTarget::Named {
                        key: AttrKey::Standard(tag::NAME),
                        index: Some(1),
                    },
                },
                v,
            );
        }
    }

    #[test]
    fn two_x_shapes_round_trip() {
        for v in [V2_0, V2_1] {
            round_trips(
                &GetAttributesResponse {
                    unique_identifier: "u".into(),
                    attributes: vec![
                        IndexedAttribute::new(name(), None),
                        IndexedAttribute::new(custom(), None),
                    ],
                },
                v,
            );
            round_trips(
                &AddAttributeRequest {
                    unique_identifier: Some("u".into()),
                    attribute: IndexedAttribute::new(custom(), None),
                },
                v,
            );
            round_trips(
                &ModifyAttributeResponse(AttributeChangeResponse {
                    unique_identifier: "u".into(),
                    attribute: None,
                }),
                v,
            );
            round_trips(
                &ModifyAttributeRequest {
                    unique_identifier: Some("u".into()),
                    current: Some(name()),
                    new: IndexedAttribute::new(name(), None),
                },
                v,
            );
            round_trips(
                &SetAttributeRequest {
                    unique_identifier: Some("u".into()),
                    new: custom(),
                },
                v,
            );
            round_trips(&SetAttributeResponse::default(), v);
            for target in [
                DeleteTarget::Current(custom()),
                DeleteTarget::Reference(AttrKey::Standard(tag::NAME)),
            ] {
                round_trips(
                    &DeleteAttributeRequest {
                        unique_identifier: Some("u".into()),
                        target,
                    },
                    v,
                );
            }
            round_trips(
                &DeleteAttributeResponse(AttributeChangeResponse {
                    unique_identifier: "u".into(),
                    attribute: None,
                }),
                v,
            );
        }
    }

    #[test]
    fn missing_new_attribute_is_named() {
        assert_eq!(
            SetAttributeRequest::read(&request_payload(vec![]), V2_1),
            Err(PayloadError::Missing("New Attribute"))
        );
        assert_eq!(
            DeleteAttributeRequest::read(&request_payload(vec![]), V2_1),
            Err(PayloadError::Missing("Attribute Reference"))
        );
    }
}
