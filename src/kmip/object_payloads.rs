//! Request and response payloads of the object operations: Create, Register, Get, Check,
//! Re-key, Activate, Revoke, Destroy and Locate, typed, for KMIP 1.0–2.1.
//!
//! Why one file for them: they share the pieces that differ between versions (the attribute
//! groups of `request_attributes.rs`, the objects of `managed_object.rs`) and, for most, are
//! a Unique Identifier and little else. A Unique Identifier is `Option<String>`: absent, or a 2.x
//! ID Placeholder reference, means "the ID Placeholder", which the engine resolves.

use super::codec::{Codec, RequestPayload, ResponsePayload, request_payload, response_payload};
use super::enums::Operation;
use super::key_wrapping::KeyWrappingSpecification;
use super::managed_object::Object;
use super::message::ProtocolVersion;
use super::payload_fields::{self as field, PayloadError};
use super::request_attributes::RequestAttributes;
use super::tag;
use crate::ttlv::{Item, Value};

/// Payloads that are a Unique Identifier and nothing else.
macro_rules! uid_only {
    ($($(#[$doc:meta])* $name:ident: $role:ident($op:ident) in $wrap:ident;)*) => {$(
        $(#[$doc])*
        #[derive(Debug, Clone, Default, PartialEq, Eq)]
        pub struct $name {
            pub unique_identifier: Option<String>,
        }

        impl $name {
            pub fn new(uid: &str) -> $name {
                $name { unique_identifier: Some(uid.to_string()) }
            }
        }

        impl Codec for $name {
            fn read(item: &Item, _: ProtocolVersion) -> Result<Self, PayloadError> {
                Ok($name { unique_identifier: field::uid(item) })
            }
            fn encode(&self, _: ProtocolVersion) -> Item {
                let mut out = Vec::new();
                field::push_uid(&mut out, &self.unique_identifier);
                $wrap(out)
            }
        }

        impl $role for $name {
            const OPERATION: Operation = Operation::$op;
        }
    )*};
}

uid_only! {
    ActivateRequest: RequestPayload(Activate) in request_payload;
    ActivateResponse: ResponsePayload(Activate) in response_payload;
    DestroyRequest: RequestPayload(Destroy) in request_payload;
    DestroyResponse: ResponsePayload(Destroy) in response_payload;
    RevokeResponse: ResponsePayload(Revoke) in response_payload;
    RegisterResponse: ResponsePayload(Register) in response_payload;
    ReKeyResponse: ResponsePayload(ReKey) in response_payload;
    CheckResponse: ResponsePayload(Check) in response_payload;
}

fn object_type(item: &Item) -> Result<u32, PayloadError> {
    field::enumeration(item, tag::OBJECT_TYPE)?.ok_or(PayloadError::Missing("Object Type"))
}

/// Create: an object type and the new object's attributes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateRequest {
    pub object_type: u32,
    pub attributes: RequestAttributes,
}

impl Codec for CreateRequest {
    fn read(item: &Item, version: ProtocolVersion) -> Result<Self, PayloadError> {
        Ok(CreateRequest {
            object_type: object_type(item)?,
            attributes: RequestAttributes::read(item, version)?,
        })
    }
    fn encode(&self, version: ProtocolVersion) -> Item {
        let mut out = vec![Item::new(
            tag::OBJECT_TYPE,
            Value::Enumeration(self.object_type),
        )];
        out.extend(self.attributes.encode(version));
        request_payload(out)
    }
}
impl RequestPayload for CreateRequest {
    const OPERATION: Operation = Operation::Create;
}

/// Create's answer: the type and UID of the new object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateResponse {
    pub object_type: u32,
    pub unique_identifier: String,
}

impl Codec for CreateResponse {
    fn read(item: &Item, _: ProtocolVersion) -> Result<Self, PayloadError> {
        Ok(CreateResponse {
            object_type: object_type(item)?,
            unique_identifier: field::uid(item)
                .ok_or(PayloadError::Missing("Unique Identifier"))?,
        })
    }
    fn encode(&self, _: ProtocolVersion) -> Item {
        response_payload(vec![
            Item::new(tag::OBJECT_TYPE, Value::Enumeration(self.object_type)),
            Item::new(
                tag::UNIQUE_IDENTIFIER,
                Value::TextString(self.unique_identifier.clone()),
            ),
        ])
    }
}
impl ResponsePayload for CreateResponse {
    const OPERATION: Operation = Operation::Create;
}

/// Register: an object type, its attributes and the object itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegisterRequest {
    pub object_type: u32,
    pub attributes: RequestAttributes,
    /// `None` when the payload carries no object structure (the engine says which is missing).
    pub object: Option<Object>,
}

impl Codec for RegisterRequest {
    fn read(item: &Item, version: ProtocolVersion) -> Result<Self, PayloadError> {
        Ok(RegisterRequest {
            object_type: object_type(item)?,
            attributes: RequestAttributes::read(item, version)?,
            object: Object::find_in(item, version)?,
        })
    }
    fn encode(&self, version: ProtocolVersion) -> Item {
        let mut out = vec![Item::new(
            tag::OBJECT_TYPE,
            Value::Enumeration(self.object_type),
        )];
        out.extend(self.attributes.encode(version));
        if let Some(object) = &self.object {
            out.push(object.encode(version));
        }
        request_payload(out)
    }
}
impl RequestPayload for RegisterRequest {
    const OPERATION: Operation = Operation::Register;
}

/// Get: which object, in which format, wrapped how.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GetRequest {
    pub unique_identifier: Option<String>,
    pub key_format_type: Option<u32>,
    pub key_compression_type: Option<u32>,
    pub key_wrapping_specification: Option<KeyWrappingSpecification>,
}

impl GetRequest {
    pub fn new(uid: &str) -> GetRequest {
        GetRequest {
            unique_identifier: Some(uid.to_string()),
            ..GetRequest::default()
        }
    }
}

impl Codec for GetRequest {
    fn read(item: &Item, version: ProtocolVersion) -> Result<Self, PayloadError> {
        Ok(GetRequest {
            unique_identifier: field::uid(item),
            key_format_type: field::enumeration(item, tag::KEY_FORMAT_TYPE)?,
            key_compression_type: field::enumeration(item, tag::KEY_COMPRESSION_TYPE)?,
            key_wrapping_specification: item
                .child(tag::KEY_WRAPPING_SPECIFICATION)
                .map(|spec| KeyWrappingSpecification::read(spec, version))
                .transpose()?,
        })
    }
    fn encode(&self, version: ProtocolVersion) -> Item {
        let mut out = Vec::new();
        field::push_uid(&mut out, &self.unique_identifier);
        field::push(&mut out, tag::KEY_FORMAT_TYPE, &self.key_format_type, |v| {
            Value::Enumeration(*v)
        });
        field::push(
            &mut out,
            tag::KEY_COMPRESSION_TYPE,
            &self.key_compression_type,
            |v| Value::Enumeration(*v),
        );
        if let Some(spec) = &self.key_wrapping_specification {
            out.push(spec.encode(version));
        }
        request_payload(out)
    }
}
impl RequestPayload for GetRequest {
    const OPERATION: Operation = Operation::Get;
}

/// Get's answer: the object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GetResponse {
    pub unique_identifier: String,
    pub object: Object,
}

impl Codec for GetResponse {
    fn read(item: &Item, version: ProtocolVersion) -> Result<Self, PayloadError> {
        let object =
            Object::find_in(item, version)?.ok_or(PayloadError::Missing("managed object"))?;
        if object_type(item)? != object.object_type().value() {
            return Err(PayloadError::OutOfRange("Object Type"));
        }
        Ok(GetResponse {
            unique_identifier: field::uid(item)
                .ok_or(PayloadError::Missing("Unique Identifier"))?,
            object,
        })
    }
    fn encode(&self, version: ProtocolVersion) -> Item {
        response_payload(vec![
            Item::new(
                tag::OBJECT_TYPE,
                Value::Enumeration(self.object.object_type().value()),
            ),
            Item::new(
                tag::UNIQUE_IDENTIFIER,
                Value::TextString(self.unique_identifier.clone()),
            ),
            self.object.encode(version),
        ])
    }
}
impl ResponsePayload for GetResponse {
    const OPERATION: Operation = Operation::Get;
}

/// Check: may the object be used this way?
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CheckRequest {
    pub unique_identifier: Option<String>,
    pub usage_limits_count: Option<i64>,
    pub cryptographic_usage_mask: Option<i32>,
    pub lease_time: Option<u32>,
}

impl Codec for CheckRequest {
    fn read(item: &Item, _: ProtocolVersion) -> Result<Self, PayloadError> {
        let usage_limits_count = match item.child(tag::USAGE_LIMITS_COUNT).map(|i| &i.value) {
            None => None,
            Some(Value::LongInteger(v)) => Some(*v),
            Some(_) => return Err(PayloadError::WrongType("Usage Limits Count")),
        };
        Ok(CheckRequest {
            unique_identifier: field::uid(item),
            usage_limits_count,
            cryptographic_usage_mask: field::integer(item, tag::CRYPTOGRAPHIC_USAGE_MASK)?,
            lease_time: field::interval(item, tag::LEASE_TIME)?,
        })
    }
    fn encode(&self, _: ProtocolVersion) -> Item {
        let mut out = Vec::new();
        field::push_uid(&mut out, &self.unique_identifier);
        field::push(
            &mut out,
            tag::USAGE_LIMITS_COUNT,
            &self.usage_limits_count,
            |v| Value::LongInteger(*v),
        );
        field::push(
            &mut out,
            tag::CRYPTOGRAPHIC_USAGE_MASK,
            &self.cryptographic_usage_mask,
            |v| Value::Integer(*v),
        );
        field::push(&mut out, tag::LEASE_TIME, &self.lease_time, |v| {
            Value::Interval(*v)
        });
        request_payload(out)
    }
}
impl RequestPayload for CheckRequest {
    const OPERATION: Operation = Operation::Check;
}

/// Re-key: which key, an optional offset and attributes for the replacement.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReKeyRequest {
    pub unique_identifier: Option<String>,
    pub offset: Option<u32>,
    pub attributes: RequestAttributes,
}

impl Codec for ReKeyRequest {
    fn read(item: &Item, version: ProtocolVersion) -> Result<Self, PayloadError> {
        Ok(ReKeyRequest {
            unique_identifier: field::uid(item),
            offset: field::interval(item, tag::OFFSET)?,
            attributes: RequestAttributes::read(item, version)?,
        })
    }
    fn encode(&self, version: ProtocolVersion) -> Item {
        let mut out = Vec::new();
        field::push_uid(&mut out, &self.unique_identifier);
        field::push(&mut out, tag::OFFSET, &self.offset, |v| Value::Interval(*v));
        out.extend(self.attributes.encode(version));
        request_payload(out)
    }
}
impl RequestPayload for ReKeyRequest {
    const OPERATION: Operation = Operation::ReKey;
}

/// Revoke: why, and for compromise since when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevokeRequest {
    pub unique_identifier: Option<String>,
    /// Revocation Reason Code (raw: the engine says which codes it knows).
    pub reason_code: u32,
    pub reason_message: Option<String>,
    pub compromise_occurrence_date: Option<i64>,
}

impl RevokeRequest {
    /// The Revocation Reason structure's value, as the attribute stores it.
    pub fn reason_value(&self) -> Value {
        let mut out = vec![Item::new(
            tag::REVOCATION_REASON_CODE,
            Value::Enumeration(self.reason_code),
        )];
        field::push(
            &mut out,
            tag::REVOCATION_MESSAGE,
            &self.reason_message,
            |m| Value::TextString(m.clone()),
        );
        Value::Structure(out)
    }
}

impl Codec for RevokeRequest {
    fn read(item: &Item, _: ProtocolVersion) -> Result<Self, PayloadError> {
        let reason = item
            .child(tag::REVOCATION_REASON)
            .ok_or(PayloadError::Missing("Revocation Reason"))?;
        Ok(RevokeRequest {
            unique_identifier: field::uid(item),
            reason_code: field::enumeration(reason, tag::REVOCATION_REASON_CODE)?
                .ok_or(PayloadError::Missing("Revocation Reason Code"))?,
            reason_message: field::text(reason, tag::REVOCATION_MESSAGE)?,
            compromise_occurrence_date: field::date_time(item, tag::COMPROMISE_OCCURRENCE_DATE)?,
        })
    }
    fn encode(&self, _: ProtocolVersion) -> Item {
        let mut out = Vec::new();
        field::push_uid(&mut out, &self.unique_identifier);
        out.push(Item::new(tag::REVOCATION_REASON, self.reason_value()));
        field::push(
            &mut out,
            tag::COMPROMISE_OCCURRENCE_DATE,
            &self.compromise_occurrence_date,
            |v| Value::DateTime(*v),
        );
        request_payload(out)
    }
}
impl RequestPayload for RevokeRequest {
    const OPERATION: Operation = Operation::Revoke;
}

/// Locate: filters and paging.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LocateRequest {
    pub maximum_items: Option<i32>,
    pub offset_items: Option<i32>,
    pub storage_status_mask: Option<i32>,
    pub object_group_member: Option<u32>,
    pub attributes: RequestAttributes,
}

impl Codec for LocateRequest {
    fn read(item: &Item, version: ProtocolVersion) -> Result<Self, PayloadError> {
        Ok(LocateRequest {
            maximum_items: field::integer(item, tag::MAXIMUM_ITEMS)?,
            offset_items: field::integer(item, tag::OFFSET_ITEMS)?,
            storage_status_mask: field::integer(item, tag::STORAGE_STATUS_MASK)?,
            object_group_member: field::enumeration(item, tag::OBJECT_GROUP_MEMBER)?,
            attributes: RequestAttributes::read(item, version)?,
        })
    }
    fn encode(&self, version: ProtocolVersion) -> Item {
        let mut out = Vec::new();
        let int = |v: &i32| Value::Integer(*v);
        field::push(&mut out, tag::MAXIMUM_ITEMS, &self.maximum_items, int);
        field::push(&mut out, tag::OFFSET_ITEMS, &self.offset_items, int);
        field::push(
            &mut out,
            tag::STORAGE_STATUS_MASK,
            &self.storage_status_mask,
            int,
        );
        field::push(
            &mut out,
            tag::OBJECT_GROUP_MEMBER,
            &self.object_group_member,
            |v| Value::Enumeration(*v),
        );
        out.extend(self.attributes.encode(version));
        request_payload(out)
    }
}
impl RequestPayload for LocateRequest {
    const OPERATION: Operation = Operation::Locate;
}

/// Locate's answer: how many matched (1.3+, when paging) and the page of UIDs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LocateResponse {
    pub located_items: Option<i32>,
    pub unique_identifiers: Vec<String>,
}

impl Codec for LocateResponse {
    fn read(item: &Item, _: ProtocolVersion) -> Result<Self, PayloadError> {
        let unique_identifiers = item
            .children_with(tag::UNIQUE_IDENTIFIER)
            .map(|u| match &u.value {
                Value::TextString(s) => Ok(s.clone()),
                _ => Err(PayloadError::WrongType("Unique Identifier")),
            })
            .collect::<Result<_, _>>()?;
        Ok(LocateResponse {
            located_items: field::integer(item, tag::LOCATED_ITEMS)?,
            unique_identifiers,
        })
    }
    fn encode(&self, _: ProtocolVersion) -> Item {
        let mut out = Vec::new();
        field::push(&mut out, tag::LOCATED_ITEMS, &self.located_items, |v| {
            Value::Integer(*v)
        });
        out.extend(
            self.unique_identifiers
                .iter()
                .map(|u| Item::new(tag::UNIQUE_IDENTIFIER, Value::TextString(u.clone()))),
        );
        response_payload(out)
    }
}
impl ResponsePayload for LocateResponse {
    const OPERATION: Operation = Operation::Locate;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kmip::attribute::{AttrKey, Attribute};
    use crate::kmip::codec::testing::{ALL, round_trips};
    use crate::kmip::managed_object::KeyBlock;

    fn attributes() -> RequestAttributes {
        RequestAttributes::of(vec![
            Attribute {
                key: AttrKey::Standard(tag::CRYPTOGRAPHIC_ALGORITHM),
                value: Value::Enumeration(3),
            },
            Attribute {
                key: AttrKey::Standard(tag::CRYPTOGRAPHIC_LENGTH),
                value: Value::Integer(256),
            },
        ])
    }

    #[test]
    fn every_payload_round_trips_in_every_generation() {
        let key = Object::SymmetricKey(KeyBlock::plain(
            1,
            Item::new(tag::KEY_MATERIAL, Value::ByteString(vec![9; 32])),
        ));
        for v in ALL {
            round_trips(&ActivateRequest::new("a"), v);
            round_trips(&ActivateRequest::default(), v);
            round_trips(&ActivateResponse::new("a"), v);
            round_trips(&DestroyRequest::new("a"), v);
            round_trips(&DestroyResponse::new("a"), v);
            round_trips(&RevokeResponse::new("a"), v);
            round_trips(&RegisterResponse::new("a"), v);
            round_trips(&ReKeyResponse::new("a"), v);
            round_trips(&CheckResponse::new("a"), v);
            round_trips(
                &CreateRequest {
                    object_type: 2,
                    attributes: attributes(),
                },
                v,
            );
            round_trips(
                &CreateResponse {
                    object_type: 2,
                    unique_identifier: "u".into(),
                },
                v,
            );
            round_trips(
                &RegisterRequest {
                    object_type: 2,
                    attributes: attributes(),
                    object: Some(key.clone()),
                },
                v,
            );
            round_trips(
                &GetRequest {
                    key_format_type: Some(1),
                    key_wrapping_specification: Some(KeyWrappingSpecification {
                        wrapping_method: 1,
                        ..Default::default()
                    }),
                    ..GetRequest::new("u")
                },
                v,
            );
            round_trips(
                &GetResponse {
                    unique_identifier: "u".into(),
                    object: key.clone(),
                },
                v,
            );
            round_trips(
                &CheckRequest {
                    unique_identifier: Some("u".into()),
                    usage_limits_count: Some(5),
                    cryptographic_usage_mask: Some(4),
                    lease_time: Some(60),
                },
                v,
            );
            round_trips(
                &ReKeyRequest {
                    unique_identifier: Some("u".into()),
                    offset: Some(10),
                    attributes: attributes(),
                },
                v,
            );
            round_trips(
                &RevokeRequest {
                    unique_identifier: Some("u".into()),
                    reason_code: 1,
                    reason_message: Some("lost".into()),
                    compromise_occurrence_date: Some(1_000),
                },
                v,
            );
            round_trips(
                &LocateRequest {
                    maximum_items: Some(1),
                    offset_items: Some(2),
                    storage_status_mask: Some(3),
                    object_group_member: Some(1),
                    attributes: attributes(),
                },
                v,
            );
            round_trips(
                &LocateResponse {
                    located_items: Some(2),
                    unique_identifiers: vec!["a".into(), "b".into()],
                },
                v,
            );
        }
    }

    #[test]
    fn placeholder_references_read_as_absent_and_required_fields_are_named() {
        let payload = request_payload(vec![Item::new(
            tag::UNIQUE_IDENTIFIER,
            Value::Enumeration(1),
        )]);
        assert_eq!(
            ActivateRequest::read(&payload, ALL[3]),
            Ok(ActivateRequest::default())
        );
        assert_eq!(
            CreateRequest::read(&request_payload(vec![]), ALL[0]),
            Err(PayloadError::Missing("Object Type"))
        );
        assert_eq!(
            RevokeRequest::read(&request_payload(vec![]), ALL[0]),
            Err(PayloadError::Missing("Revocation Reason"))
        );
    }
}
