//! One-item KMIP 1.4 requests as bytes, and how their one-item responses came out, for the
//! tests that talk through `keyward::client::KmipClient` (which carries bytes, not `Item`s):
//! the Create and Get a vCenter-like client sends, written once instead of in each such test.

use keyward::kmip::message::ProtocolVersion;
use keyward::kmip::request::{Request, RequestItem};
use keyward::kmip::{names, tag};
use keyward::ttlv::{self, Item, Limits, Value};

use super::{create_aes_payload, uid};

/// A KMIP 1.4 request message with one batch item: `operation` (its specification name) and
/// `payload`.
pub fn request(operation: &str, payload: Vec<Item>) -> Vec<u8> {
    let op = names::enum_value(tag::OPERATION, operation).unwrap();
    Request::new(ProtocolVersion::new(1, 4))
        .item(RequestItem::raw(op, payload))
        .to_bytes()
}

/// Create an AES-256 key for Encrypt | Decrypt, as vCenter asks.
pub fn create_aes256() -> Vec<u8> {
    request("Create", create_aes_payload(256, 12, vec![]))
}

/// Get the object `id`.
pub fn get(id: &str) -> Vec<u8> {
    request("Get", vec![uid(id)])
}

/// (result status, batch item) of a one-item response.
pub fn outcome(response: &[u8]) -> (u32, Item) {
    let message = ttlv::decode(response, &Limits::default()).unwrap();
    assert_eq!(message.tag, tag::RESPONSE_MESSAGE);
    let item = message.child(tag::BATCH_ITEM).unwrap().clone();
    let status = match item.child(tag::RESULT_STATUS).unwrap().value {
        Value::Enumeration(s) => s,
        ref other => panic!("result status {other:?}"),
    };
    (status, item)
}

/// The first item tagged `wanted` in `item`, itself included, depth first.
pub fn find(item: &Item, wanted: u32) -> Option<&Item> {
    if item.tag == wanted {
        return Some(item);
    }
    item.children().iter().find_map(|c| find(c, wanted))
}
