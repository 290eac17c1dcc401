//! The one KMIP request encoder: a Request Message (header, optional credential, batch items)
//! from typed payloads or raw payload children, in any protocol version.
//!
//! Why it exists: the CLI client, `keyward bench`, the conformance runner and the tests each
//! built request messages by hand, each with its own idea of the header. They now describe a
//! request and this file writes it:
//!
//! ```
//! use keyward::kmip::enums::Operation;
//! use keyward::kmip::message::ProtocolVersion;
//! use keyward::kmip::object_payloads::{ActivateRequest, GetRequest};
//! use keyward::kmip::request::{Request, RequestItem};
//!
//! let bytes = Request::new(ProtocolVersion::new(1, 4))
//!     .credential("alice", Some("secret"))
//!     .payload(&ActivateRequest::new("uid-1"))
//!     .item(RequestItem::typed(&GetRequest::new("uid-1"), ProtocolVersion::new(1, 4)).with_id(*b"2"))
//!     .item(RequestItem::new(Operation::DiscoverVersions, vec![]))
//!     .to_bytes();
//! assert!(!bytes.is_empty());
//! ```
//!
//! Deliberately broken messages (wrong Batch Count, wrong types) stay hand-built by the hostile
//! tests; the only knob for those here is [`Request::batch_count`].

use zeroize::Zeroizing;

use super::codec::{Codec, RequestPayload};
use super::enums::Operation;
use super::message::ProtocolVersion;
use super::tag;
use crate::ttlv::{self, Item, Value};

/// One batch item to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestItem {
    /// Operation value (raw, so tests may send operations this server does not know).
    pub operation: u32,
    pub unique_batch_item_id: Option<Vec<u8>>,
    /// The Request Payload item.
    pub payload: Item,
}

impl RequestItem {
    /// A batch item from raw payload children.
    pub fn new(operation: Operation, children: Vec<Item>) -> RequestItem {
        RequestItem::raw(operation.value(), children)
    }

    /// A batch item with a raw operation value.
    pub fn raw(operation: u32, children: Vec<Item>) -> RequestItem {
        RequestItem {
            operation,
            unique_batch_item_id: None,
            payload: Item::structure(tag::REQUEST_PAYLOAD, children),
        }
    }

    /// A batch item from a typed payload of a one-operation type, shaped for `version`.
    pub fn typed<P: RequestPayload>(payload: &P, version: ProtocolVersion) -> RequestItem {
        RequestItem::of(P::OPERATION, payload, version)
    }

    /// A batch item from a typed payload shared by several operations (Encrypt, Sign, ...).
    pub fn of<P: Codec>(
        operation: Operation,
        payload: &P,
        version: ProtocolVersion,
    ) -> RequestItem {
        RequestItem {
            operation: operation.value(),
            unique_batch_item_id: None,
            payload: payload.encode(version),
        }
    }

    /// Sets the Unique Batch Item ID.
    pub fn with_id(mut self, id: impl Into<Vec<u8>>) -> RequestItem {
        self.unique_batch_item_id = Some(id.into());
        self
    }

    fn encode(&self) -> Item {
        let mut fields = vec![Item::new(
            tag::OPERATION,
            Value::Enumeration(self.operation),
        )];
        if let Some(id) = &self.unique_batch_item_id {
            fields.push(Item::new(
                tag::UNIQUE_BATCH_ITEM_ID,
                Value::ByteString(id.clone()),
            ));
        }
        let mut payload = self.payload.clone();
        payload.tag = tag::REQUEST_PAYLOAD;
        fields.push(payload);
        Item::structure(tag::BATCH_ITEM, fields)
    }
}

/// A username/password credential to put in the header.
struct Credential {
    username: String,
    password: Option<Zeroizing<String>>,
}

/// A Request Message to send.
pub struct Request {
    version: ProtocolVersion,
    credential: Option<Credential>,
    batch_count: Option<i32>,
    maximum_response_size: Option<i32>,
    client_correlation_value: Option<String>,
    items: Vec<RequestItem>,
}

impl std::fmt::Debug for Request {
    /// Without the password.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Request")
            .field("version", &self.version)
            .field("items", &self.items)
            .finish_non_exhaustive()
    }
}

impl Request {
    /// An empty request in `version`; the header carries Protocol Version and Batch Count.
    pub fn new(version: ProtocolVersion) -> Request {
        Request {
            version,
            credential: None,
            batch_count: None,
            maximum_response_size: None,
            client_correlation_value: None,
            items: Vec::new(),
        }
    }

    /// The version the request is written in (typed payloads take their shape from it).
    pub fn version(&self) -> ProtocolVersion {
        self.version
    }

    /// Adds a Username and Password credential to the header.
    pub fn credential(mut self, username: &str, password: Option<&str>) -> Request {
        self.credential = Some(Credential {
            username: username.to_string(),
            password: password.map(|p| Zeroizing::new(p.to_string())),
        });
        self
    }

    /// Overrides the Batch Count (tests of a header that lies; normally it is the item count).
    pub fn batch_count(mut self, count: i32) -> Request {
        self.batch_count = Some(count);
        self
    }

    pub fn maximum_response_size(mut self, size: i32) -> Request {
        self.maximum_response_size = Some(size);
        self
    }

    pub fn client_correlation_value(mut self, value: &str) -> Request {
        self.client_correlation_value = Some(value.to_string());
        self
    }

    /// Appends a batch item.
    pub fn item(mut self, item: RequestItem) -> Request {
        self.items.push(item);
        self
    }

    /// Appends a batch item from a typed payload, shaped for this request's version.
    pub fn payload<P: RequestPayload>(self, payload: &P) -> Request {
        let version = self.version;
        self.item(RequestItem::typed(payload, version))
    }

    /// Appends several batch items.
    pub fn items(mut self, items: impl IntoIterator<Item = RequestItem>) -> Request {
        self.items.extend(items);
        self
    }

    /// The Request Message item.
    pub fn encode(&self) -> Item {
        let mut header = vec![self.version.encode()];
        if let Some(size) = self.maximum_response_size {
            header.push(Item::new(tag::MAXIMUM_RESPONSE_SIZE, Value::Integer(size)));
        }
        if let Some(ccv) = &self.client_correlation_value {
            header.push(Item::new(
                tag::CLIENT_CORRELATION_VALUE,
                Value::TextString(ccv.clone()),
            ));
        }
        if let Some(credential) = &self.credential {
            header.push(authentication(
                &credential.username,
                credential.password.as_deref().map(String::as_str),
            ));
        }
        let count = self
            .batch_count
            .unwrap_or_else(|| i32::try_from(self.items.len()).unwrap_or(i32::MAX));
        header.push(Item::new(tag::BATCH_COUNT, Value::Integer(count)));
        let mut children = vec![Item::structure(tag::REQUEST_HEADER, header)];
        children.extend(self.items.iter().map(RequestItem::encode));
        Item::structure(tag::REQUEST_MESSAGE, children)
    }

    /// The Request Message in TTLV bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        ttlv::encode(&self.encode())
    }
}

/// Credential Type "Username and Password".
const CREDENTIAL_TYPE_USERNAME_PASSWORD: u32 = 0x01;

/// The header's Authentication: a Username and Password credential (the password optional,
/// as KMIP allows). Also written by `keyward import`'s own request messages.
pub fn authentication(username: &str, password: Option<&str>) -> Item {
    let mut value = vec![Item::new(
        tag::USERNAME,
        Value::TextString(username.to_string()),
    )];
    if let Some(password) = password {
        value.push(Item::new(
            tag::PASSWORD,
            Value::TextString(password.to_string()),
        ));
    }
    Item::structure(
        tag::AUTHENTICATION,
        vec![Item::structure(
            tag::CREDENTIAL,
            vec![
                Item::new(
                    tag::CREDENTIAL_TYPE,
                    Value::Enumeration(CREDENTIAL_TYPE_USERNAME_PASSWORD),
                ),
                Item::structure(tag::CREDENTIAL_VALUE, value),
            ],
        )],
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kmip::enums::ResultReason;
    use crate::kmip::message::{Parsed, SUPPORTED_VERSIONS, parse_request};

    fn discover() -> RequestItem {
        RequestItem::new(Operation::DiscoverVersions, vec![])
    }

    fn parsed(request: &Request) -> crate::kmip::message::RequestMessage {
        match parse_request(&request.encode()) {
            Parsed::Ok(m) => m,
            Parsed::Refused { error, .. } => panic!("refused: {error}"),
        }
    }

    #[test]
    fn reads_vcenter_shape_and_keeps_batch_ids() {
        let id = b"QLKC\x01\x00\x00\x00";
        let m = parsed(
            &Request::new(ProtocolVersion::new(1, 1))
                .item(discover())
                .item(RequestItem::raw(0x0D, vec![]).with_id(id.to_vec())),
        );
        assert_eq!(m.version, ProtocolVersion::new(1, 1));
        assert_eq!(m.items.len(), 2);
        assert_eq!(m.items[0].unique_batch_item_id, None);
        assert_eq!(m.items[1].unique_batch_item_id.as_deref(), Some(&id[..]));
    }

    #[test]
    fn every_version_and_the_credential_parse_back() {
        for &version in SUPPORTED_VERSIONS {
            let m = parsed(
                &Request::new(version)
                    .credential("alice", Some("pw"))
                    .maximum_response_size(4096)
                    .item(discover()),
            );
            assert_eq!(m.version, version);
            assert_eq!(m.header.credentials.len(), 1);
            assert_eq!(m.header.credentials[0].username, "alice");
            assert_eq!(
                m.header.credentials[0]
                    .password
                    .as_deref()
                    .map(String::as_str),
                Some("pw")
            );
            assert_eq!(m.header.maximum_response_size, Some(4096));
        }
    }

    #[test]
    fn batch_count_mismatch_is_invalid_message() {
        let request = Request::new(ProtocolVersion::new(1, 4))
            .batch_count(2)
            .item(discover());
        let Parsed::Refused { error, version } = parse_request(&request.encode()) else {
            panic!("accepted")
        };
        assert_eq!(error.reason, ResultReason::InvalidMessage);
        assert_eq!(version, ProtocolVersion::new(1, 4));
    }

    #[test]
    fn unsupported_major_answers_in_highest_version() {
        let request = Request::new(ProtocolVersion::new(3, 0)).item(discover());
        let Parsed::Refused { error, version } = parse_request(&request.encode()) else {
            panic!("accepted")
        };
        assert_eq!(error.reason, ResultReason::InvalidMessage);
        assert_eq!(version, SUPPORTED_VERSIONS[0]);
    }

    #[test]
    fn newer_minor_ignores_unknown_fields_but_known_minor_does_not() {
        let with_odd_field = |version| {
            let mut message = Request::new(version).item(discover()).encode();
            if let Value::Structure(children) = &mut message.value
                && let Some(Value::Structure(header)) = children.first_mut().map(|h| &mut h.value)
            {
                header.insert(1, Item::new(0x42FFF0, Value::Integer(7)));
            }
            parse_request(&message)
        };
        let Parsed::Ok(m) = with_odd_field(ProtocolVersion::new(1, 9)) else {
            panic!("refused")
        };
        assert_eq!(m.version, ProtocolVersion::new(1, 4));
        let Parsed::Refused { error, .. } = with_odd_field(ProtocolVersion::new(1, 4)) else {
            panic!("accepted")
        };
        assert_eq!(error.reason, ResultReason::InvalidField);
    }

    #[test]
    fn typed_payloads_come_back_as_sent_in_both_generations() {
        use crate::kmip::attribute::{AttrKey, Attribute};
        use crate::kmip::object_payloads::CreateRequest;
        use crate::kmip::request_attributes::RequestAttributes;
        let create = CreateRequest {
            object_type: 2,
            attributes: RequestAttributes::of(vec![Attribute {
                key: AttrKey::Standard(tag::CRYPTOGRAPHIC_LENGTH),
                value: Value::Integer(256),
            }]),
        };
        for version in [ProtocolVersion::new(1, 0), ProtocolVersion::new(2, 1)] {
            let m = parsed(&Request::new(version).payload(&create));
            assert_eq!(m.items[0].operation, Operation::Create.value());
            assert_eq!(
                CreateRequest::read(&m.items[0].payload, version),
                Ok(create.clone())
            );
        }
    }

    #[test]
    fn debug_leaves_the_password_out() {
        let request = Request::new(ProtocolVersion::new(2, 1)).credential("u", Some("hunter2"));
        assert!(!format!("{request:?}").contains("hunter2"));
    }
}
