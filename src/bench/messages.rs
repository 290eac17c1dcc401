//! The KMIP requests the load generator sends (shaped like vCenter's, KMIP 1.1 with a batch
//! item id) and the little it reads back from responses: per-item status and the UID.

use crate::kmip::tag;
use crate::ttlv::{self, Item, Limits, Value};

mod op {
    pub const CREATE: u32 = 0x01;
    pub const LOCATE: u32 = 0x08;
    pub const GET: u32 = 0x0A;
    pub const GET_ATTRIBUTES: u32 = 0x0B;
    pub const ADD_ATTRIBUTE: u32 = 0x0D;
    pub const ACTIVATE: u32 = 0x12;
    pub const DISCOVER_VERSIONS: u32 = 0x1E;
}

const OBJECT_SYMMETRIC_KEY: u32 = 2;
const ALG_AES: u32 = 3;
const NAME_TYPE_TEXT: u32 = 1;
/// Encrypt | Decrypt, as vCenter asks.
const USAGE_ENCRYPT_DECRYPT: i32 = 0x0C;

/// The attributes vCenter adds to a new key, three per Add Attribute batch.
pub const VCENTER_TAGS: [(&str, &str); 3] = [
    ("x-Product_Version", "7.0.3 build-19480866"),
    ("x-Vendor", "VMware, Inc."),
    ("x-Product", "VMware vSphere"),
];

fn text(tag: u32, s: &str) -> Item {
    Item::new(tag, Value::TextString(s.to_string()))
}

fn uid(id: &str) -> Item {
    text(tag::UNIQUE_IDENTIFIER, id)
}

fn attribute(name: &str, value: Value) -> Item {
    Item::structure(
        tag::ATTRIBUTE,
        vec![
            text(tag::ATTRIBUTE_NAME, name),
            Item::new(tag::ATTRIBUTE_VALUE, value),
        ],
    )
}

fn name_attribute(name: &str) -> Item {
    attribute(
        "Name",
        Value::Structure(vec![
            text(tag::NAME_VALUE, name),
            Item::new(tag::NAME_TYPE, Value::Enumeration(NAME_TYPE_TEXT)),
        ]),
    )
}

/// A KMIP 1.1 request message with one batch item per (operation, payload).
pub fn request(items: Vec<(u32, Vec<Item>)>) -> Vec<u8> {
    let header = Item::structure(
        tag::REQUEST_HEADER,
        vec![
            Item::structure(
                tag::PROTOCOL_VERSION,
                vec![
                    Item::new(tag::PROTOCOL_VERSION_MAJOR, Value::Integer(1)),
                    Item::new(tag::PROTOCOL_VERSION_MINOR, Value::Integer(1)),
                ],
            ),
            Item::new(tag::BATCH_COUNT, Value::Integer(items.len() as i32)),
        ],
    );
    let mut children = vec![header];
    for (n, (operation, payload)) in (1u32..).zip(items) {
        children.push(Item::structure(
            tag::BATCH_ITEM,
            vec![
                Item::new(tag::OPERATION, Value::Enumeration(operation)),
                Item::new(
                    tag::UNIQUE_BATCH_ITEM_ID,
                    Value::ByteString(format!("QLKC{n}").into_bytes()),
                ),
                Item::structure(tag::REQUEST_PAYLOAD, payload),
            ],
        ));
    }
    ttlv::encode(&Item::structure(tag::REQUEST_MESSAGE, children))
}

pub fn discover_versions() -> Vec<u8> {
    request(vec![(op::DISCOVER_VERSIONS, vec![])])
}

/// Create of an AES-256 key as vCenter sends it, with an optional Name.
pub fn create(name: Option<&str>) -> Vec<u8> {
    let mut attributes = vec![
        attribute("Cryptographic Algorithm", Value::Enumeration(ALG_AES)),
        attribute("Cryptographic Length", Value::Integer(256)),
        attribute(
            "Cryptographic Usage Mask",
            Value::Integer(USAGE_ENCRYPT_DECRYPT),
        ),
    ];
    if let Some(name) = name {
        attributes.push(name_attribute(name));
    }
    request(vec![(
        op::CREATE,
        vec![
            Item::new(tag::OBJECT_TYPE, Value::Enumeration(OBJECT_SYMMETRIC_KEY)),
            Item::structure(tag::TEMPLATE_ATTRIBUTE, attributes),
        ],
    )])
}

pub fn get(id: &str) -> Vec<u8> {
    request(vec![(op::GET, vec![uid(id)])])
}

pub fn activate(id: &str) -> Vec<u8> {
    request(vec![(op::ACTIVATE, vec![uid(id)])])
}

/// Get Attributes of one named attribute (vCenter probes one name per request).
pub fn get_attribute(id: &str, name: &str) -> Vec<u8> {
    request(vec![(
        op::GET_ATTRIBUTES,
        vec![uid(id), text(tag::ATTRIBUTE_NAME, name)],
    )])
}

/// vCenter's three-item Add Attribute batch.
pub fn add_attributes(id: &str, attributes: &[(&str, &str)]) -> Vec<u8> {
    request(
        attributes
            .iter()
            .map(|(name, value)| {
                (
                    op::ADD_ATTRIBUTE,
                    vec![
                        uid(id),
                        attribute(name, Value::TextString(value.to_string())),
                    ],
                )
            })
            .collect(),
    )
}

pub fn locate_by_name(name: &str) -> Vec<u8> {
    request(vec![(op::LOCATE, vec![name_attribute(name)])])
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
