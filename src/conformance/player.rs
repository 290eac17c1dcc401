//! Plays one vector file as a conversation through a caller-supplied transport.

use std::fmt::Display;

use super::compare::compare_response;
use super::placeholder::Bindings;
use super::vector::VectorFile;
use crate::kmip::names;
use crate::kmip::tag;
use crate::kmip::xml::{XmlNode, node_to_item};
use crate::ttlv::{Item, Limits, Value, decode, encode};

/// Result statuses and reasons that mean "the server lacks this feature", as opposed to a bug.
const RESULT_OPERATION_FAILED: u32 = 0x01;
const REASON_OPERATION_NOT_SUPPORTED: u32 = 0x05;
const REASON_FEATURE_NOT_SUPPORTED: u32 = 0x08;
/// An algorithm or parameter combination the server deliberately does not offer (2.x).
const REASON_UNSUPPORTED_CRYPTOGRAPHIC_PARAMETERS: u32 = 0x3E;

/// How one vector file went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Pass,
    /// `exchange` counts request/response pairs from 0.
    Fail {
        exchange: usize,
        reason: String,
    },
    /// The server answered that it does not support something the vector needs.
    Skip {
        exchange: usize,
        reason: String,
    },
}

impl Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Outcome::Pass => write!(f, "pass"),
            Outcome::Fail { exchange, reason } => {
                write!(f, "FAIL at exchange {exchange}: {reason}")
            }
            Outcome::Skip { exchange, reason } => {
                write!(f, "skip at exchange {exchange}: {reason}")
            }
        }
    }
}

/// Sends every request of `file` through `transport` (request TTLV in, response TTLV out) and
/// compares each response with the expected one. Stops at the first failure or skip.
pub fn play_file<E: Display>(
    file: &VectorFile,
    mut transport: impl FnMut(&[u8]) -> Result<Vec<u8>, E>,
) -> Outcome {
    let mut bindings = Bindings::default();
    for (index, exchange) in file.exchanges.iter().enumerate() {
        let fail = |reason: String| Outcome::Fail {
            exchange: index,
            reason,
        };
        let mut request = exchange.request.clone();
        if let Err(e) = bindings.resolve_request(&mut request) {
            return fail(e.to_string());
        }
        let request = match node_to_item(&request) {
            Ok(item) => item,
            Err(e) => return fail(format!("vector request does not encode: {e}")),
        };
        let response_bytes = match transport(&encode(&request)) {
            Ok(bytes) => bytes,
            Err(e) => return fail(format!("transport: {e}")),
        };
        let limits = Limits::default();
        let response = match decode(&response_bytes, &limits) {
            Ok(item) => item,
            Err(e) => return fail(format!("response is not valid TTLV: {e}")),
        };
        let Some(expected) = &exchange.expected else {
            continue;
        };
        bindings.unpredictable_data = unpredictable_data(&request, &bindings);
        let mut compared = compare_response(expected, &response, &mut bindings);
        if compared.is_err()
            && let Some(trimmed) = without_extra_offers(&response, expected)
        {
            compared = compare_response(expected, &trimmed, &mut bindings);
        }
        if compared.is_err() && rng_seed_answer_is_one_the_profile_allows(&request, &response) {
            compared = Ok(());
        }
        if compared.is_ok() {
            note_keys(&request, &response, &mut bindings);
        }
        if let Err(mismatch) = compared {
            if let Some(reason) = unsupported(&request, &response, expected)
                .or_else(|| unsupported_in_query(&response, expected))
            {
                return Outcome::Skip {
                    exchange: index,
                    reason,
                };
            }
            return fail(mismatch.to_string());
        }
    }
    Outcome::Pass
}

/// The CS-RNG optional vectors send the same RNG Seed four times and expect four different
/// answers (32, 16 or 0 bytes used, or Permission Denied): how much seed a server takes is its
/// own choice. Any of those shapes is conforming: Success with a Data Length from 0 to the bytes
/// offered, or Permission Denied.
fn rng_seed_answer_is_one_the_profile_allows(request: &Item, response: &Item) -> bool {
    let asked: Vec<_> = batch_items(request).collect();
    let answered: Vec<_> = response.children_with(tag::BATCH_ITEM).collect();
    if asked.is_empty() || asked.len() != answered.len() {
        return false;
    }
    asked.iter().zip(answered).all(|((op, payload), item)| {
        let offered = match payload.and_then(|p| p.child(tag::DATA)).map(|d| &d.value) {
            Some(Value::ByteString(b)) => b.len(),
            _ => return false,
        };
        if *op != OP_RNG_SEED {
            return false;
        }
        match item.child(tag::RESULT_STATUS).map(|s| &s.value) {
            Some(Value::Enumeration(RESULT_SUCCESS)) => {
                let used = item
                    .child(tag::RESPONSE_PAYLOAD)
                    .and_then(|p| p.child(tag::DATA_LENGTH))
                    .map(|l| &l.value);
                matches!(used, Some(Value::Integer(n)) if usize::try_from(*n).is_ok_and(|n| n <= offered))
            }
            Some(Value::Enumeration(RESULT_OPERATION_FAILED)) => matches!(
                item.child(tag::RESULT_REASON).map(|r| &r.value),
                Some(Value::Enumeration(REASON_PERMISSION_DENIED))
            ),
            _ => false,
        }
    })
}

/// Operation values the conformance player reasons about.
const OP_CREATE: u32 = 0x01;
const OP_CREATE_KEY_PAIR: u32 = 0x02;
const OP_REGISTER: u32 = 0x03;
const OP_ENCRYPT: u32 = 0x1F;
const OP_DECRYPT: u32 = 0x20;
const OP_RNG_RETRIEVE: u32 = 0x25;
const OP_RNG_SEED: u32 = 0x26;
const RESULT_SUCCESS: u32 = 0x00;
const REASON_PERMISSION_DENIED: u32 = 0x0C;
const OBJECT_TYPE_PUBLIC_KEY: u32 = 0x03;

/// The operation and payload of each batch item of a message.
fn batch_items(message: &Item) -> impl Iterator<Item = (u32, Option<&Item>)> {
    message.children_with(tag::BATCH_ITEM).map(|item| {
        let op = match item.child(tag::OPERATION).map(|o| &o.value) {
            Some(Value::Enumeration(op)) => *op,
            _ => 0,
        };
        let payload = item
            .child(tag::REQUEST_PAYLOAD)
            .or_else(|| item.child(tag::RESPONSE_PAYLOAD));
        (op, payload)
    })
}

fn uid_in(payload: Option<&Item>) -> Option<&str> {
    match payload?.child(tag::UNIQUE_IDENTIFIER).map(|u| &u.value) {
        Some(Value::TextString(uid)) => Some(uid),
        _ => None,
    }
}

/// Whether the response's Data cannot be predicted by the vector's author: random bytes (RNG
/// Retrieve), RSA encryption (randomized padding) under a registered public key, or anything
/// encrypted or decrypted under a key the server generated in this conversation.
fn unpredictable_data(request: &Item, bindings: &Bindings) -> bool {
    batch_items(request).any(|(op, payload)| match op {
        OP_RNG_RETRIEVE => true,
        OP_ENCRYPT | OP_DECRYPT => uid_in(payload).is_some_and(|uid| {
            bindings.generated_keys.contains(uid)
                || (op == OP_ENCRYPT && bindings.public_keys.contains(uid))
        }),
        _ => false,
    })
}

/// Response fields a later request may name by placeholder even where the vector wrote the
/// response's value literally (CS-AC-M-6 sends back `$MAC_DATA` after a literal MAC Data).
const ECHOED_FIELDS: &[(u32, &str)] = &[
    (tag::SIGNATURE_DATA, "SIGNATURE_DATA"),
    (tag::MAC_DATA, "MAC_DATA"),
    (tag::IV_COUNTER_NONCE, "IV_COUNTER_NONCE"),
    (tag::CORRELATION_VALUE, "CORRELATION_VALUE"),
    (
        tag::AUTHENTICATED_ENCRYPTION_TAG,
        "AUTHENTICATED_ENCRYPTION_TAG",
    ),
];

/// Remembers what a matched exchange tells later ones: the keys it created (server-generated)
/// or registered as public, and the server-produced byte strings it returned.
fn note_keys(request: &Item, response: &Item, bindings: &mut Bindings) {
    for (_, answered) in batch_items(response) {
        for (t, name) in ECHOED_FIELDS {
            if let Some(Value::ByteString(b)) = answered.and_then(|p| p.child(*t)).map(|i| &i.value)
                && bindings.named(name).is_none()
            {
                bindings.bind_echoed(name, &hex::encode(b));
            }
        }
    }
    for ((op, asked), (_, answered)) in batch_items(request).zip(batch_items(response)) {
        let created = match answered {
            Some(payload) => [
                tag::UNIQUE_IDENTIFIER,
                tag::PRIVATE_KEY_UNIQUE_IDENTIFIER,
                tag::PUBLIC_KEY_UNIQUE_IDENTIFIER,
            ]
            .iter()
            .filter_map(|t| match payload.child(*t).map(|u| &u.value) {
                Some(Value::TextString(uid)) => Some(uid.clone()),
                _ => None,
            })
            .collect::<Vec<_>>(),
            None => continue,
        };
        match op {
            OP_CREATE | OP_CREATE_KEY_PAIR => bindings.generated_keys.extend(created),
            OP_REGISTER => {
                let public = matches!(
                    asked
                        .and_then(|p| p.child(tag::OBJECT_TYPE))
                        .map(|t| &t.value),
                    Some(Value::Enumeration(OBJECT_TYPE_PUBLIC_KEY))
                );
                if public {
                    bindings.public_keys.extend(created);
                }
            }
            _ => {}
        }
    }
}

/// If the server declined a batch item as unsupported where the vector expected otherwise,
/// says what was unsupported.
fn unsupported(request: &Item, response: &Item, expected: &XmlNode) -> Option<String> {
    let expected_reasons: Vec<&str> = expected
        .children
        .iter()
        .filter(|c| c.tag == "BatchItem")
        .filter_map(|c| c.child("ResultReason").and_then(|r| r.value.as_deref()))
        .collect();
    let requested_ops: Vec<u32> = request
        .children_with(tag::BATCH_ITEM)
        .filter_map(|b| match b.child(tag::OPERATION)?.value {
            Value::Enumeration(op) => Some(op),
            _ => None,
        })
        .collect();
    for (position, item) in response.children_with(tag::BATCH_ITEM).enumerate() {
        let status = item.child(tag::RESULT_STATUS).map(|s| &s.value);
        let reason = match item.child(tag::RESULT_REASON).map(|r| &r.value) {
            Some(Value::Enumeration(r)) => *r,
            _ => continue,
        };
        if status != Some(&Value::Enumeration(RESULT_OPERATION_FAILED))
            || !matches!(
                reason,
                REASON_OPERATION_NOT_SUPPORTED
                    | REASON_FEATURE_NOT_SUPPORTED
                    | REASON_UNSUPPORTED_CRYPTOGRAPHIC_PARAMETERS
            )
        {
            continue;
        }
        let reason_name = names::enum_name(tag::RESULT_REASON, reason).unwrap_or("?");
        if expected_reasons.contains(&reason_name) {
            continue;
        }
        let op = requested_ops
            .get(position)
            .and_then(|op| names::enum_name(tag::OPERATION, *op))
            .unwrap_or("?");
        let message = match item.child(tag::RESULT_MESSAGE).map(|m| &m.value) {
            Some(Value::TextString(m)) => format!(": {m}"),
            _ => String::new(),
        };
        return Some(format!("{op} answered {reason_name}{message}"));
    }
    None
}

/// A Query answer lists the server's own operations and object types; the vectors list the
/// reference server's, which a profile requires, not forbids more. The response with the
/// operations and object types the vector does not list left out (where the vector lists any)
/// and the vector's Vendor Identification in place of ours, or `None` when nothing changed.
fn without_extra_offers(response: &Item, expected: &XmlNode) -> Option<Item> {
    let mut trimmed = response.clone();
    let mut changed = false;
    let Value::Structure(items) = &mut trimmed.value else {
        return None;
    };
    let expected_items = expected.children.iter().filter(|c| c.tag == "BatchItem");
    let actual_items = items.iter_mut().filter(|i| i.tag == tag::BATCH_ITEM);
    for (expected_item, item) in expected_items.zip(actual_items) {
        let Some(expected_payload) = expected_item.child("ResponsePayload") else {
            continue;
        };
        let Value::Structure(children) = &mut item.value else {
            continue;
        };
        let Some(payload) = children.iter_mut().find(|c| c.tag == tag::RESPONSE_PAYLOAD) else {
            continue;
        };
        let Value::Structure(offers) = &mut payload.value else {
            continue;
        };
        // The vendor is the reference server's own name, as in every answer from elsewhere.
        if let Some(vendor) = expected_payload
            .child("VendorIdentification")
            .and_then(|v| v.value.as_deref())
        {
            for o in offers.iter_mut() {
                if o.tag == tag::VENDOR_IDENTIFICATION
                    && o.value != Value::TextString(vendor.into())
                {
                    o.value = Value::TextString(vendor.into());
                    changed = true;
                }
            }
        }
        for (xml_tag, ttlv_tag) in [
            ("Operation", tag::OPERATION),
            ("ObjectType", tag::OBJECT_TYPE),
        ] {
            let listed: Vec<&str> = expected_payload
                .children
                .iter()
                .filter(|c| c.tag == xml_tag)
                .filter_map(|c| c.value.as_deref())
                .collect();
            if listed.is_empty() {
                continue;
            }
            let before = offers.len();
            offers.retain(|o| {
                o.tag != ttlv_tag
                    || matches!(o.value, Value::Enumeration(v)
                        if names::enum_name(ttlv_tag, v).is_some_and(|n| listed.contains(&n)))
            });
            changed |= offers.len() != before;
        }
    }
    changed.then_some(trimmed)
}

/// When the vector names operations or object types this server lacks, the vector needs
/// features the server does not have (a skip); any other difference stays a failure.
fn unsupported_in_query(response: &Item, expected: &XmlNode) -> Option<String> {
    let mut missing = Vec::new();
    let expected_items = expected.children.iter().filter(|c| c.tag == "BatchItem");
    for (expected_item, item) in expected_items.zip(response.children_with(tag::BATCH_ITEM)) {
        if expected_item
            .child("Operation")
            .and_then(|o| o.value.as_deref())
            != Some("Query")
        {
            continue;
        }
        let Some(expected_payload) = expected_item.child("ResponsePayload") else {
            continue;
        };
        let payload = item.child(tag::RESPONSE_PAYLOAD);
        for (xml_tag, ttlv_tag) in [
            ("Operation", tag::OPERATION),
            ("ObjectType", tag::OBJECT_TYPE),
        ] {
            let offered: Vec<&str> = payload
                .into_iter()
                .flat_map(|p| p.children_with(ttlv_tag))
                .filter_map(|i| match i.value {
                    Value::Enumeration(v) => names::enum_name(ttlv_tag, v),
                    _ => None,
                })
                .collect();
            for wanted in expected_payload
                .children
                .iter()
                .filter(|c| c.tag == xml_tag)
            {
                if let Some(name) = wanted.value.as_deref()
                    && !offered.contains(&name)
                {
                    missing.push(name.to_owned());
                }
            }
        }
    }
    (!missing.is_empty()).then(|| {
        format!(
            "Query: the vector expects support for {}, which this server lacks",
            missing.join(", ")
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conformance::parse_vector_text;
    use crate::kmip::xml::parse_document;

    const FILE: &str = r#"<KMIP>
<RequestMessage>
  <RequestHeader><ProtocolVersion><ProtocolVersionMajor type="Integer" value="2"/><ProtocolVersionMinor type="Integer" value="1"/></ProtocolVersion>
    <BatchCount type="Integer" value="1"/></RequestHeader>
  <BatchItem><Operation type="Enumeration" value="Create"/>
    <RequestPayload><ObjectType type="Enumeration" value="SymmetricKey"/></RequestPayload></BatchItem>
</RequestMessage>
<ResponseMessage>
  <ResponseHeader><TimeStamp type="DateTime" value="$NOW"/><BatchCount type="Integer" value="1"/></ResponseHeader>
  <BatchItem><Operation type="Enumeration" value="Create"/><ResultStatus type="Enumeration" value="Success"/>
    <ResponsePayload><UniqueIdentifier type="TextString" value="$UNIQUE_IDENTIFIER_0"/></ResponsePayload></BatchItem>
</ResponseMessage>
<RequestMessage>
  <RequestHeader><ProtocolVersion><ProtocolVersionMajor type="Integer" value="2"/><ProtocolVersionMinor type="Integer" value="1"/></ProtocolVersion>
    <BatchCount type="Integer" value="1"/></RequestHeader>
  <BatchItem><Operation type="Enumeration" value="Destroy"/>
    <RequestPayload><UniqueIdentifier type="TextString" value="$UNIQUE_IDENTIFIER_0"/></RequestPayload></BatchItem>
</RequestMessage>
<ResponseMessage>
  <ResponseHeader><TimeStamp type="DateTime" value="$NOW"/><BatchCount type="Integer" value="1"/></ResponseHeader>
  <BatchItem><Operation type="Enumeration" value="Destroy"/><ResultStatus type="Enumeration" value="Success"/>
    <ResponsePayload><UniqueIdentifier type="TextString" value="$UNIQUE_IDENTIFIER_0"/></ResponsePayload></BatchItem>
</ResponseMessage>
</KMIP>"#;

    fn text_of(item: &Item, t: u32) -> Option<String> {
        let payload = item.child(tag::BATCH_ITEM)?.child(tag::REQUEST_PAYLOAD)?;
        match &payload.child(t)?.value {
            Value::TextString(s) => Some(s.clone()),
            _ => None,
        }
    }

    fn answer(op: &str, status: &str, extra: &str) -> Vec<u8> {
        let xml = format!(
            r#"<ResponseMessage><ResponseHeader><TimeStamp type="DateTime" value="{now}"/><BatchCount type="Integer" value="1"/></ResponseHeader>
            <BatchItem><Operation type="Enumeration" value="{op}"/><ResultStatus type="Enumeration" value="{status}"/>{extra}</BatchItem></ResponseMessage>"#,
            now = crate::kmip::xml::format_datetime(Bindings::default().now(), None)
        );
        let nodes = parse_document(&xml).unwrap();
        encode(&node_to_item(&nodes[0]).unwrap())
    }

    /// A toy server: creates "key-1" and destroys whatever it is asked to.
    fn toy_server(
        request: &[u8],
        destroyed: &mut Vec<String>,
        honest: bool,
    ) -> Result<Vec<u8>, crate::ttlv::DecodeError> {
        let request = decode(request, &Limits::default())?;
        let op = request
            .child(tag::BATCH_ITEM)
            .and_then(|b| b.child(tag::OPERATION))
            .map(|o| o.value.clone());
        Ok(match op {
            Some(Value::Enumeration(1)) => answer(
                "Create",
                "Success",
                r#"<ResponsePayload><UniqueIdentifier type="TextString" value="key-1"/></ResponsePayload>"#,
            ),
            _ => {
                let uid = text_of(&request, tag::UNIQUE_IDENTIFIER).unwrap_or_default();
                destroyed.push(uid.clone());
                let uid = if honest { uid } else { "key-2".into() };
                answer(
                    "Destroy",
                    "Success",
                    &format!(
                        r#"<ResponsePayload><UniqueIdentifier type="TextString" value="{uid}"/></ResponsePayload>"#
                    ),
                )
            }
        })
    }

    #[test]
    fn plays_a_conversation_binding_identifiers() {
        let file = parse_vector_text("SKFF-M-1-21.xml", FILE).unwrap();
        let mut destroyed = Vec::new();
        let outcome = play_file(&file, |r: &[u8]| toy_server(r, &mut destroyed, true));
        assert_eq!(outcome, Outcome::Pass);
        assert_eq!(destroyed, vec!["key-1".to_string()]);
    }

    #[test]
    fn reports_a_wrong_answer_as_failure() {
        let file = parse_vector_text("SKFF-M-1-21.xml", FILE).unwrap();
        let mut destroyed = Vec::new();
        let outcome = play_file(&file, |r: &[u8]| toy_server(r, &mut destroyed, false));
        match outcome {
            Outcome::Fail {
                exchange: 1,
                reason,
            } => {
                assert!(
                    reason.contains("/ResponseMessage/BatchItem/ResponsePayload/UniqueIdentifier"),
                    "{reason}"
                );
                assert!(
                    reason.contains("key-1") && reason.contains("key-2"),
                    "{reason}"
                );
            }
            other => panic!("expected a failure at exchange 1, got {other}"),
        }
    }

    #[test]
    fn unsupported_operation_is_a_skip_and_transport_errors_fail() {
        let file = parse_vector_text("SKFF-M-1-21.xml", FILE).unwrap();
        let outcome = play_file(&file, |_: &[u8]| -> Result<Vec<u8>, String> {
            Ok(answer(
                "Create",
                "OperationFailed",
                r#"<ResultReason type="Enumeration" value="OperationNotSupported"/><ResultMessage type="TextString" value="no"/>"#,
            ))
        });
        assert_eq!(
            outcome,
            Outcome::Skip {
                exchange: 0,
                reason: "Create answered OperationNotSupported: no".into()
            }
        );
        let outcome = play_file(&file, |_: &[u8]| -> Result<Vec<u8>, String> {
            Err("connection reset".into())
        });
        assert_eq!(
            outcome,
            Outcome::Fail {
                exchange: 0,
                reason: "transport: connection reset".into()
            }
        );
    }

    #[test]
    fn query_lacking_what_the_vector_lists_is_a_skip_offering_more_passes() {
        let file = parse_vector_text(
            "QS-M-1-21.xml",
            r#"<KMIP><RequestMessage>
  <RequestHeader><ProtocolVersion><ProtocolVersionMajor type="Integer" value="2"/><ProtocolVersionMinor type="Integer" value="1"/></ProtocolVersion>
    <BatchCount type="Integer" value="1"/></RequestHeader>
  <BatchItem><Operation type="Enumeration" value="Query"/>
    <RequestPayload><QueryFunction type="Enumeration" value="QueryOperations"/></RequestPayload></BatchItem>
</RequestMessage>
<ResponseMessage>
  <ResponseHeader><TimeStamp type="DateTime" value="$NOW"/><BatchCount type="Integer" value="1"/></ResponseHeader>
  <BatchItem><Operation type="Enumeration" value="Query"/><ResultStatus type="Enumeration" value="Success"/>
    <ResponsePayload><Operation type="Enumeration" value="Get"/><Operation type="Enumeration" value="Export"/></ResponsePayload></BatchItem>
</ResponseMessage></KMIP>"#,
        )
        .unwrap();
        let server = |ops: String| {
            move |_: &[u8]| -> Result<Vec<u8>, String> {
                Ok(answer(
                    "Query",
                    "Success",
                    &format!("<ResponsePayload>{ops}</ResponsePayload>"),
                ))
            }
        };
        let get = r#"<Operation type="Enumeration" value="Get"/>"#;
        let export = r#"<Operation type="Enumeration" value="Export"/>"#;
        let create = r#"<Operation type="Enumeration" value="Create"/>"#;
        match play_file(&file, server(format!("{get}{create}"))) {
            Outcome::Skip { reason, .. } => assert!(reason.contains("Export"), "{reason}"),
            other => panic!("expected a skip, got {other}"),
        }
        assert_eq!(
            play_file(&file, server(format!("{export}{get}"))),
            Outcome::Pass
        );
        // A profile requires what its vector lists; offering more is no failure.
        assert_eq!(
            play_file(&file, server(format!("{get}{export}{create}"))),
            Outcome::Pass
        );
        // Anything else that differs still fails.
        let failing = move |_: &[u8]| -> Result<Vec<u8>, String> {
            Ok(answer(
                "Query",
                "OperationPending",
                &format!("<ResponsePayload>{get}{export}</ResponsePayload>"),
            ))
        };
        assert!(matches!(play_file(&file, failing), Outcome::Fail { .. }));
    }

    #[test]
    fn rng_seed_answers_the_profile_allows_pass_others_fail() {
        let file = parse_vector_text(
            "CS-RNG-O-2-21.xml",
            r#"<KMIP><RequestMessage>
  <RequestHeader><ProtocolVersion><ProtocolVersionMajor type="Integer" value="2"/><ProtocolVersionMinor type="Integer" value="1"/></ProtocolVersion>
    <BatchCount type="Integer" value="1"/></RequestHeader>
  <BatchItem><Operation type="Enumeration" value="RNGSeed"/>
    <RequestPayload><Data type="ByteString" value="00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"/></RequestPayload></BatchItem>
</RequestMessage>
<ResponseMessage>
  <ResponseHeader><TimeStamp type="DateTime" value="$NOW"/><BatchCount type="Integer" value="1"/></ResponseHeader>
  <BatchItem><Operation type="Enumeration" value="RNGSeed"/><ResultStatus type="Enumeration" value="Success"/>
    <ResponsePayload><DataLength type="Integer" value="16"/></ResponsePayload></BatchItem>
</ResponseMessage></KMIP>"#,
        )
        .unwrap();
        let server = |status: &'static str, extra: String| {
            move |_: &[u8]| -> Result<Vec<u8>, String> { Ok(answer("RNGSeed", status, &extra)) }
        };
        let used = |n: i32| {
            format!(
                r#"<ResponsePayload><DataLength type="Integer" value="{n}"/></ResponsePayload>"#
            )
        };
        assert_eq!(play_file(&file, server("Success", used(32))), Outcome::Pass);
        assert_eq!(play_file(&file, server("Success", used(0))), Outcome::Pass);
        let denied = r#"<ResultReason type="Enumeration" value="PermissionDenied"/>"#.to_string();
        assert_eq!(
            play_file(&file, server("OperationFailed", denied)),
            Outcome::Pass
        );
        // More than was offered, or another failure, is no answer the profile allows.
        assert!(matches!(
            play_file(&file, server("Success", used(33))),
            Outcome::Fail { .. }
        ));
        let invalid = r#"<ResultReason type="Enumeration" value="InvalidField"/>"#.to_string();
        assert!(matches!(
            play_file(&file, server("OperationFailed", invalid)),
            Outcome::Fail { .. }
        ));
    }
}
