//! Request and response messages: headers and batch items, for KMIP 1.0–1.4 and 2.0–2.1.
//!
//! Payloads stay `ttlv::Item` trees here; the engine reads them per operation.

use zeroize::Zeroizing;

use super::enums::{ResultReason, ResultStatus};
use super::tag;
use crate::ttlv::{Item, Value};

/// A protocol version. Ordered by (major, minor).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ProtocolVersion {
    pub major: i32,
    pub minor: i32,
}

impl ProtocolVersion {
    pub const fn new(major: i32, minor: i32) -> ProtocolVersion {
        ProtocolVersion { major, minor }
    }

    pub fn encode(self) -> Item {
        Item::structure(
            tag::PROTOCOL_VERSION,
            vec![
                Item::new(tag::PROTOCOL_VERSION_MAJOR, Value::Integer(self.major)),
                Item::new(tag::PROTOCOL_VERSION_MINOR, Value::Integer(self.minor)),
            ],
        )
    }

    pub fn parse(item: &Item) -> Option<ProtocolVersion> {
        let major = int_child(item, tag::PROTOCOL_VERSION_MAJOR)?;
        let minor = int_child(item, tag::PROTOCOL_VERSION_MINOR)?;
        Some(ProtocolVersion { major, minor })
    }
}

/// Every version this server speaks, highest first.
pub const SUPPORTED_VERSIONS: &[ProtocolVersion] = &[
    ProtocolVersion::new(2, 1),
    ProtocolVersion::new(2, 0),
    ProtocolVersion::new(1, 4),
    ProtocolVersion::new(1, 3),
    ProtocolVersion::new(1, 2),
    ProtocolVersion::new(1, 1),
    ProtocolVersion::new(1, 0),
];

/// Why a request message (or one of its batch items) could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason:?}: {message}")]
pub struct MessageError {
    pub reason: ResultReason,
    pub message: String,
}

impl MessageError {
    fn invalid(message: impl Into<String>) -> MessageError {
        MessageError {
            reason: ResultReason::InvalidMessage,
            message: message.into(),
        }
    }
}

/// A username/password credential. Parsed, not enforced (mutual TLS authenticates).
pub struct Credential {
    pub username: String,
    pub password: Option<Zeroizing<String>>,
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credential")
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Default)]
pub struct RequestHeader {
    pub version: Option<ProtocolVersion>,
    pub maximum_response_size: Option<i32>,
    pub client_correlation_value: Option<String>,
    pub server_correlation_value: Option<String>,
    pub asynchronous_indicator: Option<bool>,
    pub credentials: Vec<Credential>,
    pub batch_error_continuation: Option<u32>,
    pub batch_order: Option<bool>,
    pub time_stamp: Option<i64>,
    pub batch_count: i32,
}

/// A Message Extension on a batch item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageExtension {
    pub vendor_identification: String,
    pub critical: bool,
}

#[derive(Debug)]
pub struct RequestBatchItem {
    /// Raw Operation value (unknown operations are answered, not dropped).
    pub operation: u32,
    pub unique_batch_item_id: Option<Vec<u8>>,
    pub payload: Item,
    pub extension: Option<MessageExtension>,
    /// Set when the item's own structure is broken: the item fails with this error.
    pub defect: Option<MessageError>,
}

#[derive(Debug)]
pub struct RequestMessage {
    pub header: RequestHeader,
    pub version: ProtocolVersion,
    pub items: Vec<RequestBatchItem>,
}

/// Result of reading a request message.
pub enum Parsed {
    Ok(RequestMessage),
    /// The whole message is refused: answer one batch item without Operation in `version`.
    Refused {
        version: ProtocolVersion,
        error: MessageError,
    },
}

/// Reads a decoded Request Message. Unknown fields are ignored when the request's minor version
/// is newer than ours (same major); otherwise they make the message (header) or item invalid.
pub fn parse_request(message: &Item) -> Parsed {
    match read_request(message) {
        Ok(request) => Parsed::Ok(request),
        Err((version, error)) => Parsed::Refused { version, error },
    }
}

/// Why a request is refused, and the version to answer in.
type Refusal = (ProtocolVersion, MessageError);

fn read_request(message: &Item) -> Result<RequestMessage, Refusal> {
    let (header_item, version) = header_and_version(message)?;
    let (respond_in, lenient) = response_version(version)?;
    let header = parse_header(header_item, version, lenient).map_err(|e| (respond_in, e))?;
    let items = batch_items(message, lenient).map_err(|e| (respond_in, e))?;
    if header.batch_count < 0 || header.batch_count as usize != items.len() {
        return Err((
            respond_in,
            MessageError::invalid(format!(
                "Batch Count {} but {} batch items",
                header.batch_count,
                items.len()
            )),
        ));
    }
    Ok(RequestMessage {
        header,
        version: respond_in,
        items,
    })
}

/// The Request Header and the Protocol Version it carries; refused in 1.0 without them.
fn header_and_version(message: &Item) -> Result<(&Item, ProtocolVersion), Refusal> {
    let refuse = |why: &str| (ProtocolVersion::new(1, 0), MessageError::invalid(why));
    if message.tag != tag::REQUEST_MESSAGE || !matches!(message.value, Value::Structure(_)) {
        return Err(refuse("not a Request Message"));
    }
    let header_item = message
        .child(tag::REQUEST_HEADER)
        .ok_or_else(|| refuse("Request Header missing"))?;
    let version = header_item
        .child(tag::PROTOCOL_VERSION)
        .and_then(ProtocolVersion::parse)
        .ok_or_else(|| refuse("Protocol Version missing or malformed"))?;
    Ok((header_item, version))
}

/// The version to answer a request of `version` in, and whether its unknown fields are
/// ignored (a newer minor version of a major we speak).
fn response_version(version: ProtocolVersion) -> Result<(ProtocolVersion, bool), Refusal> {
    let highest = SUPPORTED_VERSIONS[0];
    let Some(best_same_major) = SUPPORTED_VERSIONS
        .iter()
        .find(|v| v.major == version.major)
        .copied()
    else {
        return Err((
            highest,
            MessageError::invalid(format!(
                "protocol version {}.{} is not supported",
                version.major, version.minor
            )),
        ));
    };
    // Respond in the request's version when we know it, else in our newest minor of that major.
    let respond_in = if SUPPORTED_VERSIONS.contains(&version) {
        version
    } else if version > best_same_major {
        best_same_major
    } else {
        version
    };
    Ok((respond_in, version > best_same_major))
}

/// The message's Batch Items, at least one.
fn batch_items(message: &Item, lenient: bool) -> Result<Vec<RequestBatchItem>, MessageError> {
    let mut items = Vec::new();
    for child in message.children() {
        match child.tag {
            tag::REQUEST_HEADER => {}
            tag::BATCH_ITEM => items.push(parse_batch_item(child, lenient)),
            _ if lenient => {}
            other => {
                return Err(MessageError::invalid(format!(
                    "unexpected tag {other:06X} in Request Message"
                )));
            }
        }
    }
    if items.is_empty() {
        return Err(MessageError::invalid("no Batch Item"));
    }
    Ok(items)
}

/// Best-effort read of the Protocol Version from a message that does not decode, assuming the
/// canonical layout (header first, Protocol Version first in it), so the error can be answered
/// in the client's version.
pub fn sniff_version(bytes: &[u8]) -> Option<ProtocolVersion> {
    const LAYOUT: [(usize, [u8; 4]); 5] = [
        (0, [0x42, 0x00, 0x78, 0x01]),
        (8, [0x42, 0x00, 0x77, 0x01]),
        (16, [0x42, 0x00, 0x69, 0x01]),
        (24, [0x42, 0x00, 0x6A, 0x02]),
        (40, [0x42, 0x00, 0x6B, 0x02]),
    ];
    for (offset, expected) in LAYOUT {
        if bytes.get(offset..offset + 4)? != expected {
            return None;
        }
    }
    let int_at = |offset: usize| -> Option<i32> {
        let len: [u8; 4] = bytes.get(offset + 4..offset + 8)?.try_into().ok()?;
        if u32::from_be_bytes(len) != 4 {
            return None;
        }
        Some(i32::from_be_bytes(
            bytes.get(offset + 8..offset + 12)?.try_into().ok()?,
        ))
    };
    Some(ProtocolVersion::new(int_at(24)?, int_at(40)?))
}

/// The version to answer a refused message in: the client's when we speak it (or a newer
/// minor of a major we speak, answered in our newest minor), else our highest.
pub fn answer_version(requested: Option<ProtocolVersion>) -> ProtocolVersion {
    let Some(requested) = requested else {
        return ProtocolVersion::new(1, 0);
    };
    match SUPPORTED_VERSIONS
        .iter()
        .find(|v| v.major == requested.major)
    {
        Some(best) if requested > *best => *best,
        Some(_) => requested,
        None => SUPPORTED_VERSIONS[0],
    }
}

fn parse_header(
    item: &Item,
    version: ProtocolVersion,
    lenient: bool,
) -> Result<RequestHeader, MessageError> {
    let mut header = RequestHeader {
        version: Some(version),
        ..RequestHeader::default()
    };
    let mut seen: Vec<u32> = Vec::new();
    for field in item.children() {
        if field.tag != tag::AUTHENTICATION && field.tag != tag::ATTESTATION_TYPE {
            if seen.contains(&field.tag) {
                return Err(MessageError::invalid(format!(
                    "duplicate header field {:06X}",
                    field.tag
                )));
            }
            seen.push(field.tag);
        }
        read_header_field(&mut header, field, lenient)?;
    }
    if !seen.contains(&tag::BATCH_COUNT) {
        return Err(MessageError::invalid("Batch Count missing"));
    }
    Ok(header)
}

/// Reads one Request Header field into `header`.
fn read_header_field(
    header: &mut RequestHeader,
    field: &Item,
    lenient: bool,
) -> Result<(), MessageError> {
    let bad =
        || MessageError::invalid(format!("header field {:06X} has the wrong type", field.tag));
    match (field.tag, &field.value) {
        (tag::PROTOCOL_VERSION, _) => {}
        (tag::MAXIMUM_RESPONSE_SIZE, Value::Integer(v)) => header.maximum_response_size = Some(*v),
        (tag::CLIENT_CORRELATION_VALUE, Value::TextString(v)) => {
            header.client_correlation_value = Some(v.clone())
        }
        (tag::SERVER_CORRELATION_VALUE, Value::TextString(v)) => {
            header.server_correlation_value = Some(v.clone())
        }
        (tag::ASYNCHRONOUS_INDICATOR, Value::Boolean(v)) => {
            header.asynchronous_indicator = Some(*v)
        }
        (tag::ATTESTATION_CAPABLE_INDICATOR, Value::Boolean(_))
        | (tag::ATTESTATION_TYPE, Value::Enumeration(_)) => {}
        (tag::AUTHENTICATION, Value::Structure(_)) => {
            header.credentials.extend(parse_authentication(field))
        }
        (tag::BATCH_ERROR_CONTINUATION_OPTION, Value::Enumeration(v)) => {
            header.batch_error_continuation = Some(*v)
        }
        (tag::BATCH_ORDER_OPTION, Value::Boolean(v)) => header.batch_order = Some(*v),
        (tag::TIME_STAMP, Value::DateTime(v)) => header.time_stamp = Some(*v),
        (tag::BATCH_COUNT, Value::Integer(v)) => header.batch_count = *v,
        (
            tag::MAXIMUM_RESPONSE_SIZE
            | tag::CLIENT_CORRELATION_VALUE
            | tag::SERVER_CORRELATION_VALUE
            | tag::ASYNCHRONOUS_INDICATOR
            | tag::ATTESTATION_CAPABLE_INDICATOR
            | tag::ATTESTATION_TYPE
            | tag::AUTHENTICATION
            | tag::BATCH_ERROR_CONTINUATION_OPTION
            | tag::BATCH_ORDER_OPTION
            | tag::TIME_STAMP
            | tag::BATCH_COUNT,
            _,
        ) => return Err(bad()),
        _ if lenient => {}
        (other, _) => {
            return Err(MessageError {
                reason: ResultReason::InvalidField,
                message: format!("unknown header field {other:06X}"),
            });
        }
    }
    Ok(())
}

fn parse_authentication(item: &Item) -> Vec<Credential> {
    item.children_with(tag::CREDENTIAL)
        .filter_map(|cred| {
            let value = cred.child(tag::CREDENTIAL_VALUE)?;
            let username = match value.child(tag::USERNAME) {
                Some(Item {
                    value: Value::TextString(u),
                    ..
                }) => u.clone(),
                _ => return None,
            };
            let password = match value.child(tag::PASSWORD) {
                Some(Item {
                    value: Value::TextString(p),
                    ..
                }) => Some(Zeroizing::new(p.clone())),
                _ => None,
            };
            Some(Credential { username, password })
        })
        .collect()
}

fn parse_batch_item(item: &Item, lenient: bool) -> RequestBatchItem {
    let mut out = RequestBatchItem {
        operation: 0,
        unique_batch_item_id: None,
        payload: Item::structure(tag::REQUEST_PAYLOAD, Vec::new()),
        extension: None,
        defect: None,
    };
    let mut saw_operation = false;
    let mut saw_payload = false;
    for field in item.children() {
        match (field.tag, &field.value) {
            (tag::OPERATION, Value::Enumeration(op)) if !saw_operation => {
                out.operation = *op;
                saw_operation = true;
            }
            (tag::EPHEMERAL, Value::Boolean(_)) => {}
            (tag::UNIQUE_BATCH_ITEM_ID, Value::ByteString(id))
                if out.unique_batch_item_id.is_none() =>
            {
                out.unique_batch_item_id = Some(id.clone());
            }
            (tag::REQUEST_PAYLOAD, Value::Structure(_)) if !saw_payload => {
                out.payload = field.clone();
                saw_payload = true;
            }
            (tag::MESSAGE_EXTENSION, Value::Structure(_)) => {
                out.extension = Some(message_extension(field));
            }
            (
                tag::OPERATION | tag::UNIQUE_BATCH_ITEM_ID | tag::REQUEST_PAYLOAD | tag::EPHEMERAL,
                _,
            ) => {
                let message = format!(
                    "batch item field {:06X} is malformed or repeated",
                    field.tag
                );
                out.note_defect(ResultReason::InvalidMessage, message);
            }
            _ if lenient => {}
            (other, _) => out.note_defect(
                ResultReason::InvalidField,
                format!("unknown batch item field {other:06X}"),
            ),
        }
    }
    for (seen, field) in [
        (saw_operation, "Operation"),
        (saw_payload, "Request Payload"),
    ] {
        if !seen {
            let message = format!("batch item has no {field}");
            out.note_defect(ResultReason::InvalidMessage, message);
        }
    }
    out
}

impl RequestBatchItem {
    /// Keeps the first defect found in the item.
    fn note_defect(&mut self, reason: ResultReason, message: String) {
        if self.defect.is_none() {
            self.defect = Some(MessageError { reason, message });
        }
    }
}

/// A batch item's Message Extension: its vendor and whether it is critical.
fn message_extension(field: &Item) -> MessageExtension {
    let vendor = match field.child(tag::VENDOR_IDENTIFICATION) {
        Some(Item {
            value: Value::TextString(v),
            ..
        }) => v.clone(),
        _ => String::new(),
    };
    let critical = matches!(
        field.child(tag::CRITICALITY_INDICATOR),
        Some(Item {
            value: Value::Boolean(true),
            ..
        })
    );
    MessageExtension {
        vendor_identification: vendor,
        critical,
    }
}

/// One response batch item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResponseBatchItem {
    pub operation: Option<u32>,
    pub unique_batch_item_id: Option<Vec<u8>>,
    pub status: ResultStatus,
    pub reason: Option<ResultReason>,
    pub message: Option<String>,
    /// Children of the Response Payload; `None` leaves the payload out.
    pub payload: Option<Vec<Item>>,
}

impl ResponseBatchItem {
    pub fn success(operation: u32, id: Option<Vec<u8>>, payload: Vec<Item>) -> ResponseBatchItem {
        ResponseBatchItem {
            operation: Some(operation),
            unique_batch_item_id: id,
            status: ResultStatus::Success,
            reason: None,
            message: None,
            payload: Some(payload),
        }
    }

    pub fn failure(
        operation: Option<u32>,
        id: Option<Vec<u8>>,
        reason: ResultReason,
        message: String,
    ) -> ResponseBatchItem {
        ResponseBatchItem {
            operation,
            unique_batch_item_id: id,
            status: ResultStatus::OperationFailed,
            reason: Some(reason),
            message: Some(message),
            payload: None,
        }
    }

    fn encode(&self) -> Item {
        let mut children = Vec::new();
        if let Some(op) = self.operation {
            children.push(Item::new(tag::OPERATION, Value::Enumeration(op)));
        }
        if let Some(id) = &self.unique_batch_item_id {
            children.push(Item::new(
                tag::UNIQUE_BATCH_ITEM_ID,
                Value::ByteString(id.clone()),
            ));
        }
        children.push(Item::new(
            tag::RESULT_STATUS,
            Value::Enumeration(self.status.value()),
        ));
        if let Some(reason) = self.reason {
            children.push(Item::new(
                tag::RESULT_REASON,
                Value::Enumeration(reason.value()),
            ));
        }
        if let Some(message) = &self.message {
            children.push(Item::new(
                tag::RESULT_MESSAGE,
                Value::TextString(message.clone()),
            ));
        }
        if let Some(payload) = &self.payload {
            children.push(Item::structure(tag::RESPONSE_PAYLOAD, payload.clone()));
        }
        Item::structure(tag::BATCH_ITEM, children)
    }
}

/// Builds a Response Message.
pub fn encode_response(
    version: ProtocolVersion,
    time_stamp: i64,
    client_correlation_value: Option<&str>,
    items: &[ResponseBatchItem],
) -> Item {
    let mut header = vec![
        version.encode(),
        Item::new(tag::TIME_STAMP, Value::DateTime(time_stamp)),
    ];
    if let Some(ccv) = client_correlation_value.filter(|_| version >= ProtocolVersion::new(1, 4)) {
        header.push(Item::new(
            tag::CLIENT_CORRELATION_VALUE,
            Value::TextString(ccv.to_string()),
        ));
    }
    header.push(Item::new(
        tag::BATCH_COUNT,
        Value::Integer(items.len() as i32),
    ));
    let mut children = vec![Item::structure(tag::RESPONSE_HEADER, header)];
    children.extend(items.iter().map(ResponseBatchItem::encode));
    Item::structure(tag::RESPONSE_MESSAGE, children)
}

fn int_child(item: &Item, t: u32) -> Option<i32> {
    match item.child(t) {
        Some(Item {
            value: Value::Integer(v),
            ..
        }) => Some(*v),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Parsing of whole requests is tested with the request encoder, in `request.rs`.

    #[test]
    fn version_is_sniffed_from_canonical_bytes_only() {
        let mut bytes = vec![
            0x42, 0x00, 0x78, 0x01, 0, 0, 0, 0x60, 0x42, 0x00, 0x77, 0x01, 0, 0, 0, 0x38,
        ];
        bytes.extend([0x42, 0x00, 0x69, 0x01, 0, 0, 0, 0x20]);
        bytes.extend([0x42, 0x00, 0x6A, 0x02, 0, 0, 0, 4, 0, 0, 0, 1, 0, 0, 0, 0]);
        bytes.extend([0x42, 0x00, 0x6B, 0x02, 0, 0, 0, 4, 0, 0, 0, 4, 0, 0, 0, 0]);
        assert_eq!(sniff_version(&bytes), Some(ProtocolVersion::new(1, 4)));
        assert_eq!(sniff_version(&bytes[..50]), None);
        bytes[27] = 0x05;
        assert_eq!(sniff_version(&bytes), None);
        assert_eq!(
            answer_version(Some(ProtocolVersion::new(1, 9))),
            ProtocolVersion::new(1, 4)
        );
        assert_eq!(
            answer_version(Some(ProtocolVersion::new(7, 0))),
            ProtocolVersion::new(2, 1)
        );
        assert_eq!(answer_version(None), ProtocolVersion::new(1, 0));
    }

    #[test]
    fn response_echoes_ids_and_omits_absent_fields() {
        let items = vec![
            ResponseBatchItem::success(0x1E, None, vec![]),
            ResponseBatchItem::failure(
                None,
                Some(vec![1, 2]),
                ResultReason::InvalidMessage,
                "bad".into(),
            ),
        ];
        let r = encode_response(ProtocolVersion::new(1, 1), 5, Some("c"), &items);
        let header = r.child(tag::RESPONSE_HEADER).unwrap();
        assert!(
            header.child(tag::CLIENT_CORRELATION_VALUE).is_none(),
            "1.1 has no correlation values"
        );
        assert_eq!(
            header.child(tag::BATCH_COUNT).unwrap().value,
            Value::Integer(2)
        );
        let second = r.children_with(tag::BATCH_ITEM).nth(1).unwrap();
        assert!(second.child(tag::OPERATION).is_none());
        assert_eq!(
            second.child(tag::UNIQUE_BATCH_ITEM_ID).unwrap().value,
            Value::ByteString(vec![1, 2])
        );
        assert!(second.child(tag::RESPONSE_PAYLOAD).is_none());
    }
}
