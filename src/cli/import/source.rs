//! The old KMIP server, as `keyward import` and `keyward import verify` talk to it: one mutual
//! TLS connection (re-opened once if the server drops it), the protocol version both sides
//! speak, and the three operations an import needs — Locate (paged), Get Attributes and Get.
//! Any KMIP server works: PyKMIP, IBM KMIP for VMware, Keyward itself.

use std::sync::Arc;
use std::time::Duration;

use keyward::client::{KmipClient, tls_config};
use keyward::kmip::enums::Operation;
use keyward::kmip::message::ProtocolVersion;
use keyward::kmip::{names, request, tag};
use keyward::ttlv::{self, Item, Limits, Value};
use rustls::ClientConfig;
use zeroize::{Zeroize, Zeroizing};

use super::error::ImportError;
pub use super::refusal::Refusal;

/// Where a KMIP server is and the files that let this command in.
#[derive(Debug, Clone)]
pub struct Endpoint {
    /// HOST:PORT; the host is the name checked against the server certificate.
    pub addr: String,
    pub ca: std::path::PathBuf,
    pub cert: std::path::PathBuf,
    pub key: std::path::PathBuf,
    /// A KMIP username and password the server requires on top of the certificate.
    pub credential: Option<Credential>,
}

/// KMIP Authentication (Credential Type Username and Password), sent in every request header.
#[derive(Clone)]
pub struct Credential {
    pub username: String,
    pub password: Zeroizing<String>,
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credential")
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

impl Credential {
    fn encode(&self) -> Item {
        request::authentication(&self.username, Some(self.password.as_str()))
    }
}

/// The answer to one batch item: its Response Payload, or why the server refused it.
pub type Answer = Result<Item, Refusal>;

/// Highest first: the 1.x versions whose attribute model this client reads.
const WANTED_VERSIONS: [ProtocolVersion; 5] = [
    ProtocolVersion::new(1, 4),
    ProtocolVersion::new(1, 3),
    ProtocolVersion::new(1, 2),
    ProtocolVersion::new(1, 1),
    ProtocolVersion::new(1, 0),
];

/// Bounds on the old server's answers: larger than Keyward's own request bound, because a
/// server without Offset Items (KMIP before 1.3) answers Locate with every UID at once
/// (about 50 bytes each), yet bounded, so a broken server cannot exhaust memory.
const RESPONSE_LIMITS: Limits = Limits {
    max_message_bytes: 64 << 20,
    max_depth: 32,
    max_items: 2_000_000,
};

/// vCenter's version: every server vCenter works with speaks it.
const FALLBACK_VERSION: ProtocolVersion = ProtocolVersion::new(1, 1);

pub struct SourceServer {
    endpoint: Endpoint,
    tls: Arc<ClientConfig>,
    timeout: Duration,
    connection: Option<KmipClient>,
    version: ProtocolVersion,
}

impl SourceServer {
    /// Connects and agrees on a protocol version (Discover Versions; 1.1 when the server
    /// does not answer it).
    pub fn connect(endpoint: &Endpoint, timeout: Duration) -> Result<SourceServer, ImportError> {
        let tls = tls_config(&endpoint.ca, &endpoint.cert, &endpoint.key).map_err(|e| {
            ImportError::Connect {
                server: endpoint.addr.clone(),
                source: e,
            }
        })?;
        let mut server = SourceServer {
            endpoint: endpoint.clone(),
            tls,
            timeout,
            connection: None,
            version: FALLBACK_VERSION,
        };
        server.reconnect()?;
        let offered: Vec<Item> = WANTED_VERSIONS.iter().map(|v| v.encode()).collect();
        let answer = server.call(vec![(Operation::DiscoverVersions, offered)])?;
        if let Some(Ok(payload)) = answer.into_iter().next() {
            let agreed = payload
                .children_with(tag::PROTOCOL_VERSION)
                .filter_map(ProtocolVersion::parse)
                .find(|v| WANTED_VERSIONS.contains(v));
            server.version = agreed.unwrap_or(FALLBACK_VERSION);
        }
        Ok(server)
    }

    pub fn addr(&self) -> &str {
        &self.endpoint.addr
    }

    pub fn version(&self) -> ProtocolVersion {
        self.version
    }

    fn reconnect(&mut self) -> Result<(), ImportError> {
        if let Some(old) = self.connection.take() {
            old.close_without_reading();
        }
        let mut connection =
            KmipClient::connect(&self.endpoint.addr, self.tls.clone(), self.timeout).map_err(
                |e| ImportError::Connect {
                    server: self.endpoint.addr.clone(),
                    source: e,
                },
            )?;
        connection.set_limits(RESPONSE_LIMITS);
        self.connection = Some(connection);
        Ok(())
    }

    /// Sends one message with these batch items and returns each item's answer, in order.
    /// A dropped connection is opened again once and the message resent (every operation
    /// used here only reads).
    pub fn call(&mut self, items: Vec<(Operation, Vec<Item>)>) -> Result<Vec<Answer>, ImportError> {
        let mut message = request_message(self.version, self.endpoint.credential.as_ref(), items);
        let request = Zeroizing::new(ttlv::encode(&message));
        scrub_text(&mut message);
        let mut retried = false;
        loop {
            if self.connection.is_none() {
                self.reconnect()?;
            }
            let Some(connection) = self.connection.as_mut() else {
                continue;
            };
            match connection.roundtrip(&request) {
                Ok(response) => {
                    // Get responses carry key material: the raw bytes are wiped once decoded.
                    let response = Zeroizing::new(response);
                    return parse_response(&response, &self.endpoint.addr);
                }
                Err(e) if !retried => {
                    log::debug!("{}: {e}; connecting again", self.endpoint.addr);
                    self.connection = None;
                    retried = true;
                }
                Err(e) => {
                    self.connection = None;
                    return Err(ImportError::Connect {
                        server: self.endpoint.addr.clone(),
                        source: e,
                    });
                }
            }
        }
    }

    /// One Locate page: at most `max` UIDs from `offset` on (Offset Items needs KMIP 1.3; an
    /// older server gets one Locate without paging).
    pub fn locate_page(&mut self, offset: usize, max: usize) -> Result<Vec<String>, ImportError> {
        let mut payload = Vec::new();
        let paged = self.supports_paging();
        if paged {
            payload.push(Item::new(
                tag::MAXIMUM_ITEMS,
                Value::Integer(i32::try_from(max).unwrap_or(i32::MAX)),
            ));
            payload.push(Item::new(
                tag::OFFSET_ITEMS,
                Value::Integer(i32::try_from(offset).unwrap_or(i32::MAX)),
            ));
        }
        let answer = self
            .call(vec![(Operation::Locate, payload)])?
            .into_iter()
            .next()
            .ok_or_else(|| ImportError::BadResponse {
                server: self.endpoint.addr.clone(),
                what: "no answer to Locate".into(),
            })?;
        let payload = answer.map_err(|refusal| ImportError::LocateRefused {
            server: self.endpoint.addr.clone(),
            refusal,
        })?;
        Ok(payload
            .children_with(tag::UNIQUE_IDENTIFIER)
            .filter_map(|i| match &i.value {
                Value::TextString(uid) => Some(uid.clone()),
                _ => None,
            })
            .collect())
    }

    pub fn supports_paging(&self) -> bool {
        self.version >= ProtocolVersion::new(1, 3)
    }

    /// Get Attributes (all of them) and Get for `uid`, in one message.
    pub fn fetch(&mut self, uid: &str) -> Result<(Answer, Answer), ImportError> {
        let uid_item = || Item::new(tag::UNIQUE_IDENTIFIER, Value::TextString(uid.to_string()));
        let mut answers = self
            .call(vec![
                (Operation::GetAttributes, vec![uid_item()]),
                (Operation::Get, vec![uid_item()]),
            ])?
            .into_iter();
        let attributes = answers.next().ok_or_else(|| ImportError::BadResponse {
            server: self.endpoint.addr.clone(),
            what: format!("no answer to Get Attributes of {uid}"),
        })?;
        // With the default Batch Error Continuation (Stop) a failed first item leaves the
        // second unanswered.
        let get = answers.next().unwrap_or_else(|| match &attributes {
            Err(refusal) => Err(refusal.clone()),
            Ok(_) => Err(Refusal {
                reason: "no answer".into(),
                message: "the server did not answer the Get".into(),
            }),
        });
        Ok((attributes, get))
    }

    pub fn close(mut self) {
        if let Some(connection) = self.connection.take() {
            connection.close();
        }
    }
}

/// Wipes every byte string in `item` (key material of a Get answer) once it was used.
pub fn scrub(item: &mut Item) {
    match &mut item.value {
        Value::Structure(children) => children.iter_mut().for_each(scrub),
        Value::ByteString(bytes) | Value::BigInteger(bytes) => bytes.zeroize(),
        _ => {}
    }
}

/// Wipes the text strings of a request (the password of its Authentication) once encoded.
fn scrub_text(item: &mut Item) {
    match &mut item.value {
        Value::Structure(children) => children.iter_mut().for_each(scrub_text),
        Value::TextString(text) => text.zeroize(),
        _ => {}
    }
}

fn request_message(
    version: ProtocolVersion,
    credential: Option<&Credential>,
    items: Vec<(Operation, Vec<Item>)>,
) -> Item {
    let mut header = vec![version.encode()];
    header.extend(credential.map(Credential::encode));
    header.push(Item::new(
        tag::BATCH_COUNT,
        Value::Integer(i32::try_from(items.len()).unwrap_or(i32::MAX)),
    ));
    let header = Item::structure(tag::REQUEST_HEADER, header);
    // KMIP requires a Unique Batch Item ID when a message carries several items (PyKMIP
    // refuses the batch without); the answers are matched by order all the same.
    let numbered = items.len() > 1;
    let mut children = vec![header];
    for (n, (operation, payload)) in (1u32..).zip(items) {
        let mut item = vec![Item::new(
            tag::OPERATION,
            Value::Enumeration(operation.value()),
        )];
        if numbered {
            item.push(Item::new(
                tag::UNIQUE_BATCH_ITEM_ID,
                Value::ByteString(n.to_be_bytes().to_vec()),
            ));
        }
        item.push(Item::structure(tag::REQUEST_PAYLOAD, payload));
        children.push(Item::structure(tag::BATCH_ITEM, item));
    }
    Item::structure(tag::REQUEST_MESSAGE, children)
}

fn parse_response(bytes: &[u8], server: &str) -> Result<Vec<Answer>, ImportError> {
    let bad = |what: String| ImportError::BadResponse {
        server: server.to_string(),
        what,
    };
    let message = ttlv::decode(bytes, &RESPONSE_LIMITS).map_err(|e| bad(e.to_string()))?;
    if message.tag != tag::RESPONSE_MESSAGE {
        return Err(bad("not a Response Message".into()));
    }
    Ok(message
        .children_with(tag::BATCH_ITEM)
        .map(|item| {
            let status = match item.child(tag::RESULT_STATUS).map(|i| &i.value) {
                Some(Value::Enumeration(status)) => *status,
                _ => u32::MAX,
            };
            if status == 0 {
                return Ok(item
                    .child(tag::RESPONSE_PAYLOAD)
                    .cloned()
                    .unwrap_or_else(|| Item::structure(tag::RESPONSE_PAYLOAD, vec![])));
            }
            let reason = match item.child(tag::RESULT_REASON).map(|i| &i.value) {
                Some(Value::Enumeration(r)) => names::enum_name(tag::RESULT_REASON, *r)
                    .map(str::to_string)
                    .unwrap_or_else(|| format!("Result Reason {r}")),
                _ => "no Result Reason".to_string(),
            };
            let message = match item.child(tag::RESULT_MESSAGE).map(|i| &i.value) {
                Some(Value::TextString(text)) => text.clone(),
                _ => String::new(),
            };
            Err(Refusal { reason, message })
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use keyward::kmip::enums::{ResultReason, ResultStatus};
    use keyward::kmip::message::{ResponseBatchItem, encode_response};

    #[test]
    fn answers_keep_their_order_and_refusals_their_reason() {
        let mut refused = ResponseBatchItem::failure(
            Some(Operation::Get.value()),
            None,
            ResultReason::PermissionDenied,
            "Could not locate object: 3".into(),
        );
        refused.status = ResultStatus::OperationFailed;
        let items = vec![
            ResponseBatchItem::success(
                Operation::GetAttributes.value(),
                None,
                vec![Item::new(
                    tag::UNIQUE_IDENTIFIER,
                    Value::TextString("3".into()),
                )],
            ),
            refused,
        ];
        let bytes = ttlv::encode(&encode_response(
            ProtocolVersion::new(1, 1),
            0,
            None,
            &items,
        ));
        let answers = parse_response(&bytes, "old:5696").unwrap();
        assert!(answers[0].is_ok());
        let refusal = answers[1].clone().unwrap_err();
        assert_eq!(refusal.message, "Could not locate object: 3");
        assert!(refusal.reason.contains("Permission"), "{}", refusal.reason);
    }
}
