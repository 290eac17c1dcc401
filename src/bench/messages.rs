//! The KMIP requests the load generator sends (shaped like vCenter's, KMIP 1.1 with a batch
//! item id), built with the typed payloads and the one request encoder (`kmip::request`), and
//! the little it reads back from responses: per-item status and the UID.

use crate::kmip::attribute::{AttrKey, Attribute};
use crate::kmip::attribute_payloads::{
    AddAttributeRequest, GetAttributesRequest, IndexedAttribute,
};
use crate::kmip::enums::{CryptographicAlgorithm, ObjectType};
use crate::kmip::message::ProtocolVersion;
use crate::kmip::object_payloads::{ActivateRequest, CreateRequest, GetRequest, LocateRequest};
use crate::kmip::request::{Request, RequestItem};
use crate::kmip::request_attributes::RequestAttributes;
use crate::kmip::server_payloads::DiscoverVersionsRequest;
use crate::kmip::tag;
use crate::ttlv::{self, Item, Limits, Value};

/// vCenter speaks KMIP 1.1.
const VERSION: ProtocolVersion = ProtocolVersion::new(1, 1);
const NAME_TYPE_TEXT: u32 = 1;
/// Encrypt | Decrypt, as vCenter asks.
const USAGE_ENCRYPT_DECRYPT: i32 = 0x0C;

/// The attributes vCenter adds to a new key, three per Add Attribute batch.
pub const VCENTER_TAGS: [(&str, &str); 3] = [
    ("x-Product_Version", "7.0.3 build-19480866"),
    ("x-Vendor", "VMware, Inc."),
    ("x-Product", "VMware vSphere"),
];

fn standard(t: u32, value: Value) -> Attribute {
    Attribute {
        key: AttrKey::Standard(t),
        value,
    }
}

fn name_attribute(name: &str) -> Attribute {
    standard(
        tag::NAME,
        Value::Structure(vec![
            Item::new(tag::NAME_VALUE, Value::TextString(name.to_string())),
            Item::new(tag::NAME_TYPE, Value::Enumeration(NAME_TYPE_TEXT)),
        ]),
    )
}

/// A KMIP 1.1 request message, each batch item with vCenter's kind of batch item id.
pub fn request(items: Vec<RequestItem>) -> Vec<u8> {
    Request::new(VERSION)
        .items(
            (1u32..)
                .zip(items)
                .map(|(n, item)| item.with_id(format!("QLKC{n}").into_bytes())),
        )
        .to_bytes()
}

fn one<P: crate::kmip::codec::RequestPayload>(payload: &P) -> Vec<u8> {
    request(vec![RequestItem::typed(payload, VERSION)])
}

pub fn discover_versions() -> Vec<u8> {
    one(&DiscoverVersionsRequest::default())
}

/// Create of an AES-256 key as vCenter sends it, with an optional Name.
pub fn create(name: Option<&str>) -> Vec<u8> {
    let mut attributes = vec![
        standard(
            tag::CRYPTOGRAPHIC_ALGORITHM,
            Value::Enumeration(CryptographicAlgorithm::Aes.value()),
        ),
        standard(tag::CRYPTOGRAPHIC_LENGTH, Value::Integer(256)),
        standard(
            tag::CRYPTOGRAPHIC_USAGE_MASK,
            Value::Integer(USAGE_ENCRYPT_DECRYPT),
        ),
    ];
    if let Some(name) = name {
        attributes.push(name_attribute(name));
    }
    one(&CreateRequest {
        object_type: ObjectType::SymmetricKey.value(),
        attributes: RequestAttributes::of(attributes),
    })
}

pub fn get(id: &str) -> Vec<u8> {
    one(&GetRequest::new(id))
}

pub fn activate(id: &str) -> Vec<u8> {
    one(&ActivateRequest::new(id))
}

/// Get Attributes of one named attribute (vCenter probes one name per request).
pub fn get_attribute(id: &str, name: &str) -> Vec<u8> {
    let key = AttrKey::from_v1_name(name).unwrap_or_else(|| AttrKey::Custom(name.to_string()));
    one(&GetAttributesRequest {
        unique_identifier: Some(id.to_string()),
        attributes: vec![key],
    })
}

/// vCenter's three-item Add Attribute batch.
pub fn add_attributes(id: &str, attributes: &[(&str, &str)]) -> Vec<u8> {
    request(
        attributes
            .iter()
            .map(|(name, value)| {
                let attribute = Attribute {
                    key: AttrKey::Custom(name.to_string()),
                    value: Value::TextString(value.to_string()),
                };
                RequestItem::typed(
                    &AddAttributeRequest {
                        unique_identifier: Some(id.to_string()),
                        attribute: IndexedAttribute::new(attribute, None),
                    },
                    VERSION,
                )
            })
            .collect(),
    )
}

pub fn locate_by_name(name: &str) -> Vec<u8> {
    one(&LocateRequest {
        attributes: RequestAttributes {
            templates: Vec::new(),
            loose: vec![name_attribute(name)],
        },
        ..LocateRequest::default()
    })
}

/// What the load generator needs to know of a response.
#[derive(Debug)]
pub struct Outcome {
    /// Every batch item succeeded.
    pub success: bool,
    /// The first Unique Identifier in the first payload, if any.
    pub uid: Option<String>,
    /// How many Unique Identifiers the first payload holds (Locate results).
    pub uids: usize,
}

/// Reads the status of every batch item; `None` when the bytes are not a response message.
pub fn outcome(response: &[u8]) -> Option<Outcome> {
    let message = ttlv::decode(response, &Limits::default()).ok()?;
    if message.tag != tag::RESPONSE_MESSAGE {
        return None;
    }
    let items: Vec<&Item> = message.children_with(tag::BATCH_ITEM).collect();
    let first = items.first()?;
    let success = items.iter().all(|item| {
        matches!(
            item.child(tag::RESULT_STATUS).map(|s| &s.value),
            Some(Value::Enumeration(0))
        )
    });
    let payload = first.child(tag::RESPONSE_PAYLOAD);
    let uid = payload
        .and_then(|p| p.child(tag::UNIQUE_IDENTIFIER))
        .and_then(|u| match &u.value {
            Value::TextString(t) => Some(t.clone()),
            _ => None,
        });
    let uids = payload
        .map(|p| p.children_with(tag::UNIQUE_IDENTIFIER).count())
        .unwrap_or(0);
    Some(Outcome { success, uid, uids })
}
