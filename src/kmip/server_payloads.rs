//! Request and response payloads of the operations about the server and the session: Discover
//! Versions, Query, Log and Interop, typed.
//!
//! Why its own file: none of them touches a managed object; they share nothing with the object
//! and attribute payloads but the `Codec` shape.

use super::codec::{Codec, RequestPayload, ResponsePayload, request_payload, response_payload};
use super::enums::Operation;
use super::message::ProtocolVersion;
use super::payload_fields::{self as field, PayloadError};
use super::tag;
use crate::ttlv::{Item, Value};

/// Discover Versions: the versions the client offers (none: "tell me yours").
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DiscoverVersionsRequest {
    pub versions: Vec<ProtocolVersion>,
}

/// Discover Versions' answer: the versions both sides speak, the server's preference first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DiscoverVersionsResponse {
    pub versions: Vec<ProtocolVersion>,
}

fn read_versions(item: &Item) -> Result<Vec<ProtocolVersion>, PayloadError> {
    item.children_with(tag::PROTOCOL_VERSION)
        .map(|v| ProtocolVersion::parse(v).ok_or(PayloadError::WrongType("Protocol Version")))
        .collect()
}

fn encode_versions(versions: &[ProtocolVersion]) -> Vec<Item> {
    versions.iter().map(|v| v.encode()).collect()
}

impl Codec for DiscoverVersionsRequest {
    /// A malformed Protocol Version among the offered ones is passed over, not refused: the
    /// answer is the versions both sides understand.
    fn read(item: &Item, _: ProtocolVersion) -> Result<Self, PayloadError> {
        Ok(DiscoverVersionsRequest {
            versions: item
                .children_with(tag::PROTOCOL_VERSION)
                .filter_map(ProtocolVersion::parse)
                .collect(),
        })
    }
    fn encode(&self, _: ProtocolVersion) -> Item {
        request_payload(encode_versions(&self.versions))
    }
}
impl RequestPayload for DiscoverVersionsRequest {
    const OPERATION: Operation = Operation::DiscoverVersions;
}

impl Codec for DiscoverVersionsResponse {
    fn read(item: &Item, _: ProtocolVersion) -> Result<Self, PayloadError> {
        Ok(DiscoverVersionsResponse {
            versions: read_versions(item)?,
        })
    }
    fn encode(&self, _: ProtocolVersion) -> Item {
        response_payload(encode_versions(&self.versions))
    }
}
impl ResponsePayload for DiscoverVersionsResponse {
    const OPERATION: Operation = Operation::DiscoverVersions;
}

/// Query: the Query Functions asked (raw values: unknown ones are ignored, not refused).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QueryRequest {
    pub functions: Vec<u32>,
}

impl Codec for QueryRequest {
    fn read(item: &Item, _: ProtocolVersion) -> Result<Self, PayloadError> {
        Ok(QueryRequest {
            functions: item
                .children_with(tag::QUERY_FUNCTION)
                .filter_map(|i| match i.value {
                    Value::Enumeration(v) => Some(v),
                    _ => None,
                })
                .collect(),
        })
    }
    fn encode(&self, _: ProtocolVersion) -> Item {
        request_payload(
            self.functions
                .iter()
                .map(|f| Item::new(tag::QUERY_FUNCTION, Value::Enumeration(*f)))
                .collect(),
        )
    }
}
impl RequestPayload for QueryRequest {
    const OPERATION: Operation = Operation::Query;
}

/// Query's answer, in the order KMIP lists its fields. The structured answers (Server
/// Information, Profile Information, Extension Information, ...) stay items: each is written by
/// the part of the engine that knows it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QueryResponse {
    pub operations: Vec<u32>,
    pub object_types: Vec<u32>,
    pub vendor_identification: Option<String>,
    /// Server Information and every later field, as written.
    pub rest: Vec<Item>,
}

impl Codec for QueryResponse {
    fn read(item: &Item, _: ProtocolVersion) -> Result<Self, PayloadError> {
        let mut out = QueryResponse::default();
        for child in item.children() {
            match (child.tag, &child.value) {
                (tag::OPERATION, Value::Enumeration(v)) => out.operations.push(*v),
                (tag::OBJECT_TYPE, Value::Enumeration(v)) => out.object_types.push(*v),
                (tag::VENDOR_IDENTIFICATION, Value::TextString(v)) => {
                    out.vendor_identification = Some(v.clone())
                }
                (tag::OPERATION | tag::OBJECT_TYPE | tag::VENDOR_IDENTIFICATION, _) => {
                    return Err(PayloadError::WrongType(
                        crate::kmip::tag::name(child.tag).unwrap_or("field"),
                    ));
                }
                _ => out.rest.push(child.clone()),
            }
        }
        Ok(out)
    }
    fn encode(&self, _: ProtocolVersion) -> Item {
        let mut out: Vec<Item> = self
            .operations
            .iter()
            .map(|o| Item::new(tag::OPERATION, Value::Enumeration(*o)))
            .collect();
        out.extend(
            self.object_types
                .iter()
                .map(|t| Item::new(tag::OBJECT_TYPE, Value::Enumeration(*t))),
        );
        field::push(
            &mut out,
            tag::VENDOR_IDENTIFICATION,
            &self.vendor_identification,
            |v| Value::TextString(v.clone()),
        );
        out.extend(self.rest.iter().cloned());
        response_payload(out)
    }
}
impl ResponsePayload for QueryResponse {
    const OPERATION: Operation = Operation::Query;
}

/// Log (2.x): a line for the server's log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogRequest {
    pub message: String,
}

impl Codec for LogRequest {
    fn read(item: &Item, _: ProtocolVersion) -> Result<Self, PayloadError> {
        Ok(LogRequest {
            message: field::text(item, tag::LOG_MESSAGE)?
                .ok_or(PayloadError::Missing("Log Message"))?,
        })
    }
    fn encode(&self, _: ProtocolVersion) -> Item {
        request_payload(vec![Item::new(
            tag::LOG_MESSAGE,
            Value::TextString(self.message.clone()),
        )])
    }
}
impl RequestPayload for LogRequest {
    const OPERATION: Operation = Operation::Log;
}

/// Interop (2.x): a test harness marks a test case's begin, end or reset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InteropRequest {
    /// Interop Function (raw: the engine checks the range).
    pub function: u32,
    pub identifier: Option<String>,
}

impl Codec for InteropRequest {
    fn read(item: &Item, _: ProtocolVersion) -> Result<Self, PayloadError> {
        Ok(InteropRequest {
            function: field::enumeration(item, tag::INTEROP_FUNCTION)?
                .ok_or(PayloadError::Missing("Interop Function"))?,
            identifier: field::text(item, tag::INTEROP_IDENTIFIER)?,
        })
    }
    fn encode(&self, _: ProtocolVersion) -> Item {
        let mut out = vec![Item::new(
            tag::INTEROP_FUNCTION,
            Value::Enumeration(self.function),
        )];
        field::push(&mut out, tag::INTEROP_IDENTIFIER, &self.identifier, |v| {
            Value::TextString(v.clone())
        });
        request_payload(out)
    }
}
impl RequestPayload for InteropRequest {
    const OPERATION: Operation = Operation::Interop;
}

/// The empty answer of Log and Interop.
macro_rules! empty_response {
    ($($name:ident($op:ident);)*) => {$(
        #[derive(Debug, Clone, Default, PartialEq, Eq)]
        pub struct $name;
        impl Codec for $name {
            fn read(_: &Item, _: ProtocolVersion) -> Result<Self, PayloadError> {
                Ok($name)
            }
            fn encode(&self, _: ProtocolVersion) -> Item {
                response_payload(Vec::new())
            }
        }
        impl ResponsePayload for $name {
            const OPERATION: Operation = Operation::$op;
        }
    )*};
}

empty_response! {
    LogResponse(Log);
    InteropResponse(Interop);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kmip::codec::testing::{ALL, round_trips};

    #[test]
    fn every_payload_round_trips() {
        for v in ALL {
            round_trips(&DiscoverVersionsRequest::default(), v);
            round_trips(
                &DiscoverVersionsResponse {
                    versions: vec![ProtocolVersion::new(2, 1), ProtocolVersion::new(1, 0)],
                },
                v,
            );
            round_trips(
                &QueryRequest {
                    functions: vec![1, 3],
                },
                v,
            );
            round_trips(
                &QueryResponse {
                    operations: vec![1, 10],
                    object_types: vec![2],
                    vendor_identification: Some("Keyward".into()),
                    rest: vec![Item::structure(tag::SERVER_INFORMATION, vec![])],
                },
                v,
            );
            round_trips(
                &LogRequest {
                    message: "hello".into(),
                },
                v,
            );
            round_trips(&LogResponse, v);
            round_trips(
                &InteropRequest {
                    function: 1,
                    identifier: Some("TC-1".into()),
                },
                v,
            );
            round_trips(&InteropResponse, v);
        }
    }
}
