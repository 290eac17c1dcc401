//! Operation semantics: object lifecycle, ownership, Locate, batches. No sockets, no threads.
//!
//! Contract with the server: the server frames a message and calls [`Engine::prepare_for`]
//! with the connection's [`Client`] (the identity its handshake proved, the KMIP credential it
//! must present), which decodes, authenticates and classifies the request in one call; it
//! runs read-only requests with [`Engine::read`] on a read snapshot and hands mutating ones to
//! the write pipeline ([`pipeline::Pipeline`]), which runs a group of them in one write
//! transaction with [`Engine::write`] and owns what happens when that cannot commit. Every
//! answer is a typed [`Response`]; the server encodes it once, when it sends it. A response
//! produced by `write` may be released only after its transaction commits.

pub mod admin;
mod client;
pub mod credential;
mod error;
mod fresh;

pub mod import;
pub(crate) mod object;
mod ops;
mod overlay;
pub mod pipeline;
mod pregenerate;
mod pregenerated_rsa;
mod response;

#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

pub use crate::seal::KeyGate;
pub use client::{Client, ClientIdentity};
pub use error::EngineError;
pub use fresh::{FreshClears, JournalledClears, Unchanging, fold_effects};
pub use response::Response;

use crate::kmip::enums::{BatchErrorContinuationOption, ResultReason, ResultStatus};
use crate::kmip::message::{self, Parsed, ProtocolVersion, RequestMessage, ResponseBatchItem};
use crate::seal::MasterKey;
use crate::store::{ReadView, StoreError, WriteView};
use crate::ttlv::{self, Item, Limits, Value};
use overlay::Overlay;
use zeroize::Zeroize;

/// Settings the engine needs.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    pub limits: Limits,
    /// Most batch items accepted in one request.
    pub max_batch_items: usize,
    /// Query → Vendor Identification.
    pub vendor_identification: String,
    /// `[kmip] unique_names`: a Name may be held by one live object of a client only.
    pub unique_names: bool,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            limits: Limits::default(),
            max_batch_items: 256,
            vendor_identification: format!("Keyward {}", env!("CARGO_PKG_VERSION")),
            unique_names: false,
        }
    }
}

/// A decoded request ready to run (opaque to the server).
pub struct ParsedRequest {
    client: ClientIdentity,
    message: RequestMessage,
    continuation: BatchErrorContinuationOption,
    /// RSA pairs drawn ahead for its Create Key Pair items (see `pregenerate.rs`).
    pregenerated: Vec<pregenerated_rsa::PregeneratedRsa>,
}

impl Drop for ParsedRequest {
    /// Registered key material arrives in request payloads: wipe it with the request.
    fn drop(&mut self) {
        for item in &mut self.message.items {
            scrub(&mut item.payload);
        }
    }
}

/// Zeroizes every byte string (and big integer) in `item`, recursively.
fn scrub(item: &mut Item) {
    match &mut item.value {
        Value::Structure(children) => children.iter_mut().for_each(scrub),
        Value::ByteString(bytes) | Value::BigInteger(bytes) => bytes.zeroize(),
        _ => {}
    }
}

/// Wipes the payloads of response items once they are in the message (Get puts material there).
fn scrub_items(items: &mut [ResponseBatchItem]) {
    for payload in items.iter_mut().filter_map(|i| i.payload.as_mut()) {
        payload.iter_mut().for_each(scrub);
    }
}

/// Result Message of a change refused because the replicated store has no quorum.
pub const UNAVAILABLE_TEXT: &str = "the Keyward cluster has lost its quorum: changes are \
     refused until it returns; existing keys can still be read";

impl ParsedRequest {
    /// Whether an item may create or change a key (a Get only clears Fresh, which a backup
    /// does not need to follow).
    pub fn changes_keys(&self) -> bool {
        self.message.items.iter().any(|i| {
            i.defect.is_none() && ops::mutates(i.operation) && !ops::is_audited_read(i.operation)
        })
    }

    /// The username/password credentials in the request header (KMIP Authentication).
    pub fn credentials(&self) -> &[message::Credential] {
        &self.message.header.credentials
    }
}

/// What one batch item did, for the audit log: never payload contents beyond object UIDs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemOutcome {
    /// Raw Operation value (0 when the request did not name one).
    pub operation: u32,
    /// Unique Identifiers the item named or produced, request's first.
    pub uids: Vec<String>,
    pub status: ResultStatus,
    pub reason: Option<ResultReason>,
}

impl ParsedRequest {
    /// The UIDs its batch items name directly: the objects a read of it looks up first, which
    /// a store may fetch together (`Store::read_expecting`).
    pub fn named_objects(&self) -> Vec<String> {
        let mut uids = Vec::new();
        for item in &self.message.items {
            for uid in request_uids(&item.payload) {
                if !uids.contains(&uid) {
                    uids.push(uid);
                }
            }
        }
        uids
    }

    /// The client that sent the request.
    pub fn client(&self) -> &ClientIdentity {
        &self.client
    }
}

/// Text UIDs directly under a payload (Unique Identifier and the key-pair variants).
fn request_uids(payload: &Item) -> Vec<String> {
    let mut uids = Vec::new();
    if let Value::Structure(children) = &payload.value {
        collect_uids(children, &mut uids);
    }
    uids
}

fn collect_uids(children: &[Item], uids: &mut Vec<String>) {
    use crate::kmip::tag;
    for child in children {
        let is_uid = matches!(
            child.tag,
            tag::UNIQUE_IDENTIFIER
                | tag::PRIVATE_KEY_UNIQUE_IDENTIFIER
                | tag::PUBLIC_KEY_UNIQUE_IDENTIFIER
                | tag::REPLACED_UNIQUE_IDENTIFIER
        );
        if let (true, Value::TextString(uid)) = (is_uid, &child.value)
            && !uids.contains(uid)
        {
            uids.push(uid.clone());
        }
    }
}

fn outcomes(request: &ParsedRequest, items: &[ResponseBatchItem]) -> Vec<ItemOutcome> {
    request
        .message
        .items
        .iter()
        .zip(items)
        .map(|(asked, answered)| {
            let mut uids = request_uids(&asked.payload);
            if let Some(payload) = &answered.payload {
                collect_uids(payload, &mut uids);
            }
            ItemOutcome {
                operation: asked.operation,
                uids,
                status: answered.status,
                reason: answered.reason,
            }
        })
        .collect()
}

/// What [`Engine::prepare`] decided.
pub enum Prepared {
    /// Answer at once with this (e.g. Invalid Message); nothing to execute.
    Respond(Response),
    /// Touches no state: run on a read snapshot.
    Read(ParsedRequest),
    /// Changes state: run inside the group's write transaction.
    Write(ParsedRequest),
}

pub struct Engine {
    config: EngineConfig,
    master: Arc<KeyGate>,
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// One batch item without Operation: the answer to a message that cannot be processed.
fn refusal(version: ProtocolVersion, reason: ResultReason, text: String) -> Response {
    let item = ResponseBatchItem::failure(None, None, reason, text);
    let outcome = ItemOutcome {
        operation: 0,
        uids: Vec::new(),
        status: ResultStatus::OperationFailed,
        reason: Some(reason),
    };
    Response::new(
        message::encode_response(version, now(), None, &[item]),
        vec![outcome],
    )
}

/// Why every batch item of a request fails without effect: the one failure the engine
/// builds for requests it cannot run or whose results it cannot keep.
#[derive(Debug, Clone, Copy)]
pub enum Refusal<'a> {
    /// The store failed (the transaction could not open, a write or the commit failed).
    Store(&'a StoreError),
    /// The replicated store has no quorum: changes are refused, reads still served.
    Unavailable,
    /// The request's KMIP credential is missing or wrong.
    Authentication,
    /// The response would exceed the request's Maximum Response Size.
    TooLarge,
}

impl Refusal<'_> {
    fn reason_and_text(self) -> (ResultReason, &'static str) {
        match self {
            Refusal::Store(StoreError::Full(_)) => (
                ResultReason::GeneralFailure,
                "the server's disk is full: the change was not made; retry once space is freed",
            ),
            Refusal::Store(StoreError::Failed(_)) => (
                ResultReason::GeneralFailure,
                "the server's key store failed and refuses changes until the server is restarted",
            ),
            Refusal::Store(_) => (
                ResultReason::GeneralFailure,
                "the server could not store the result",
            ),
            Refusal::Unavailable => (ResultReason::GeneralFailure, UNAVAILABLE_TEXT),
            Refusal::Authentication => (
                ResultReason::AuthenticationNotSuccessful,
                "the request's Username and Password credential is missing or wrong",
            ),
            Refusal::TooLarge => (
                ResultReason::ResponseTooLarge,
                "response exceeds Maximum Response Size",
            ),
        }
    }
}

impl Engine {
    pub fn new(config: EngineConfig, master: Arc<MasterKey>) -> Engine {
        Engine::with_gate(config, Arc::new(KeyGate::unsealed(master)))
    }

    /// An engine whose master key can be withdrawn and restored while it runs (Key Protect).
    pub fn with_gate(config: EngineConfig, master: Arc<KeyGate>) -> Engine {
        Engine { config, master }
    }

    /// The master key slot, for whoever seals and unseals the appliance.
    pub fn gate(&self) -> &Arc<KeyGate> {
        &self.master
    }

    /// [`Engine::prepare_for`] a client that must present no KMIP credential (tests, fuzzing,
    /// tools that drive the engine directly).
    pub fn prepare(&self, client: &ClientIdentity, message: &[u8]) -> Prepared {
        self.prepare_for(&mut Client::new(client.clone()), message)
    }

    /// Decodes one framed request message (header included), checks the KMIP credential
    /// `client` must present, and classifies it. A request whose credential does not pass is
    /// answered with Authentication Not Successful and nothing of it runs.
    pub fn prepare_for(&self, client: &mut Client, message: &[u8]) -> Prepared {
        let item = match ttlv::decode(message, &self.config.limits) {
            Ok(item) => item,
            Err(e) => {
                log::debug!(
                    "client {}: undecodable request: {e}",
                    client.identity().owner
                );
                let version = message::answer_version(message::sniff_version(message));
                return Prepared::Respond(refusal(
                    version,
                    ResultReason::InvalidMessage,
                    format!("undecodable message: {e}"),
                ));
            }
        };
        let request = match message::parse_request(&item) {
            Parsed::Ok(request) => request,
            Parsed::Refused { version, error } => {
                log::debug!(
                    "client {}: refused request: {error}",
                    client.identity().owner
                );
                return Prepared::Respond(refusal(
                    version,
                    ResultReason::InvalidMessage,
                    error.message,
                ));
            }
        };
        if request.items.len() > self.config.max_batch_items {
            return Prepared::Respond(refusal(
                request.version,
                ResultReason::InvalidMessage,
                format!(
                    "{} batch items exceed the limit of {}",
                    request.items.len(),
                    self.config.max_batch_items
                ),
            ));
        }
        let continuation = match request.header.batch_error_continuation {
            None => BatchErrorContinuationOption::Stop,
            Some(v) => match BatchErrorContinuationOption::from_u32(v) {
                Some(option) => option,
                None => {
                    return Prepared::Respond(refusal(
                        request.version,
                        ResultReason::InvalidField,
                        format!("Batch Error Continuation Option {v}"),
                    ));
                }
            },
        };
        let parsed = ParsedRequest {
            client: client.identity().clone(),
            message: request,
            continuation,
            pregenerated: Vec::new(),
        };
        if !client.admits(parsed.credentials()) {
            log::warn!(
                "client {}: KMIP credential missing or wrong; request refused",
                client.identity().owner
            );
            return Prepared::Respond(self.refuse(&parsed, Refusal::Authentication));
        }
        let writes = parsed
            .message
            .items
            .iter()
            .any(|i| i.defect.is_none() && ops::mutates(i.operation));
        if writes {
            Prepared::Write(parsed)
        } else {
            Prepared::Read(parsed)
        }
    }

    /// Runs a read-only request.
    pub fn read(&self, request: &ParsedRequest, view: &dyn ReadView) -> Response {
        let Ran { items, overlay, .. } = self.run(request, view, FreshClears::Committed);
        if !overlay.is_empty() {
            // prepare() routes every mutating operation to the write pipeline.
            log::error!("read-only request staged writes; they are discarded");
        }
        self.respond(request, items)
    }

    /// Runs a mutating request inside `txn`; the response may be released only after `txn`
    /// commits.
    ///
    /// An `Err` means a store write failed part-way: `txn` may hold part of this request's
    /// writes, so the caller must abandon the whole transaction and refuse every request of
    /// the group ([`Engine::refuse`]).
    pub fn write(
        &self,
        request: &ParsedRequest,
        txn: &mut dyn WriteView,
    ) -> Result<Response, StoreError> {
        let (response, staged) = {
            let Ran { items, overlay, .. } = self.run(request, &*txn, FreshClears::Committed);
            (self.within_limit(request, items), overlay.into_staged())
        };
        // A response the client cannot take is an error, and its writes must not happen.
        let Some(response) = response else {
            return Ok(self.refuse(request, Refusal::TooLarge));
        };
        for object in staged {
            txn.put(&object).inspect_err(|e| {
                log::error!("store write of {} failed: {e}", object.uid);
            })?;
        }
        Ok(response)
    }

    /// Runs a request routed as a write on a read view, for degraded mode: when every item
    /// only reads, or is a Get (whose one write is clearing Fresh, skipped here: the object
    /// stays Fresh until a Get runs with quorum), returns its response; otherwise `None`.
    pub fn degraded_read(&self, request: &ParsedRequest, view: &dyn ReadView) -> Option<Response> {
        let only_reads = request.message.items.iter().all(|i| {
            i.defect.is_some() || !ops::mutates(i.operation) || ops::is_audited_read(i.operation)
        });
        if !only_reads {
            return None;
        }
        let Ran { items, .. } = self.run(request, view, FreshClears::Committed);
        Some(self.respond(request, items))
    }

    /// Runs a request on a read view when it changes nothing a commit must hold before its
    /// answer: every item only reads, or is a Get. The first Get of an object clears its Fresh
    /// flag: with [`FreshClears::Journalled`] that clear comes back for the caller to journal
    /// (`fresh.rs`), with [`FreshClears::Committed`] it is a change. `None` when the request
    /// changes something (then it must run in the committer's transaction).
    pub fn execute_if_unchanging(
        &self,
        request: &ParsedRequest,
        view: &dyn ReadView,
        clears: FreshClears<'_>,
    ) -> Option<Unchanging> {
        let only_reads =
            request.message.items.iter().all(|i| {
                i.defect.is_some() || !ops::mutates(i.operation) || ops::is_get(i.operation)
            });
        if !only_reads {
            return None;
        }
        let Ran {
            mut items,
            overlay,
            fresh_cleared,
        } = self.run(request, view, clears);
        let staged = overlay.staged_uids();
        // Only what the Gets staged to clear Fresh may be journalled; anything else commits.
        let journalled = matches!(clears, FreshClears::Journalled(_))
            && staged.iter().all(|uid| fresh_cleared.contains(uid));
        if !staged.is_empty() && !journalled {
            scrub_items(&mut items);
            return None;
        }
        // A response the client cannot take is a refusal, and its clears must not happen.
        Some(match self.within_limit(request, items) {
            Some(response) => Unchanging {
                response,
                fresh_cleared: staged,
            },
            None => Unchanging {
                response: self.refuse(request, Refusal::TooLarge),
                fresh_cleared: Vec::new(),
            },
        })
    }

    /// The one failure response: every batch item of `request` fails for `why`, nothing of it
    /// runs or is kept. Its outcomes say so, for the audit log.
    pub fn refuse(&self, request: &ParsedRequest, why: Refusal<'_>) -> Response {
        let (reason, text) = why.reason_and_text();
        let (items, outcomes): (Vec<ResponseBatchItem>, Vec<ItemOutcome>) = request
            .message
            .items
            .iter()
            .map(|i| {
                let item = ResponseBatchItem::failure(
                    Some(i.operation).filter(|op| *op != 0),
                    i.unique_batch_item_id.clone(),
                    reason,
                    text.to_string(),
                );
                let outcome = ItemOutcome {
                    operation: i.operation,
                    uids: request_uids(&i.payload),
                    status: ResultStatus::OperationFailed,
                    reason: Some(reason),
                };
                (item, outcome)
            })
            .unzip();
        self.message(request, &items, outcomes)
    }

    /// The response to the items that ran, or the Response Too Large refusal when it exceeds
    /// the request's Maximum Response Size.
    fn respond(&self, request: &ParsedRequest, items: Vec<ResponseBatchItem>) -> Response {
        self.within_limit(request, items)
            .unwrap_or_else(|| self.refuse(request, Refusal::TooLarge))
    }

    /// The response to the items that ran; `None` when it exceeds the request's Maximum
    /// Response Size.
    fn within_limit(
        &self,
        request: &ParsedRequest,
        mut items: Vec<ResponseBatchItem>,
    ) -> Option<Response> {
        let outcomes = outcomes(request, &items);
        let response = self.message(request, &items, outcomes);
        scrub_items(&mut items);
        match request.message.header.maximum_response_size {
            Some(max) if max >= 0 && response.encoded_len() > max as usize => None,
            _ => Some(response),
        }
    }

    /// Runs every batch item over an overlay of `view`; returns the items and the staged writes
    /// (already emptied when Undo applies).
    fn run<'a>(
        &'a self,
        request: &'a ParsedRequest,
        view: &'a dyn ReadView,
        clears: FreshClears<'a>,
    ) -> Ran<'a> {
        let version = request.message.version;
        let mut ctx = ops::Ctx {
            client: &request.client,
            version,
            overlay: Overlay::new(view),
            master: self.master.current(),
            vendor_identification: &self.config.vendor_identification,
            unique_names: self.config.unique_names,
            placeholder: None,
            now: now(),
            pregenerated: request.pregenerated.clone(),
            fresh_clears: clears,
            fresh_cleared: Vec::new(),
        };
        let mut results = Vec::new();
        let mut failed = false;
        for item in &request.message.items {
            let operation = Some(item.operation).filter(|op| *op != 0);
            let id = item.unique_batch_item_id.clone();
            let outcome = if let Some(defect) = &item.defect {
                Err((defect.reason, defect.message.clone()))
            } else if item.extension.as_ref().is_some_and(|e| e.critical) {
                Err((
                    ResultReason::FeatureNotSupported,
                    "critical Message Extension not understood".to_string(),
                ))
            } else {
                ops::dispatch(&mut ctx, item.operation, &item.payload).map_err(|e| {
                    if e.is_server_fault() {
                        log::error!(
                            "client {}: operation {:#x} failed: {e}",
                            request.client.owner,
                            item.operation
                        );
                    }
                    (e.reason(version.major), e.wire_message())
                })
            };
            match outcome {
                Ok(payload) => {
                    results.push(ResponseBatchItem::success(item.operation, id, payload))
                }
                Err((reason, text)) => {
                    results.push(ResponseBatchItem::failure(operation, id, reason, text));
                    failed = true;
                    if request.continuation != BatchErrorContinuationOption::Continue {
                        break;
                    }
                }
            }
        }
        let fresh_cleared = std::mem::take(&mut ctx.fresh_cleared);
        let mut overlay = ctx.overlay;
        if failed && request.continuation == BatchErrorContinuationOption::Undo {
            overlay = Overlay::new(view);
            for r in results
                .iter_mut()
                .filter(|r| r.status == ResultStatus::Success)
            {
                // The payload stays: it tells the client what the undone item had done.
                r.status = ResultStatus::OperationUndone;
            }
        }
        Ran {
            items: results,
            overlay,
            fresh_cleared,
        }
    }

    fn message(
        &self,
        request: &ParsedRequest,
        items: &[ResponseBatchItem],
        outcomes: Vec<ItemOutcome>,
    ) -> Response {
        let header = &request.message.header;
        let message = message::encode_response(
            request.message.version,
            now(),
            header.client_correlation_value.as_deref(),
            items,
        );
        Response::new(message, outcomes)
    }
}

/// One message run by [`Engine::run`].
struct Ran<'a> {
    items: Vec<ResponseBatchItem>,
    /// The writes it staged (none when Undo applied).
    overlay: Overlay<'a>,
    /// Objects whose Fresh flag a Get of it cleared (staged in `overlay` unless undone).
    fresh_cleared: Vec<String>,
}

/// Byte-level conveniences for tests, fuzzing and tools that drive the engine directly; the
/// server uses the typed calls above and encodes once.
impl Engine {
    /// [`Engine::read`], encoded.
    pub fn execute_read(&self, request: &ParsedRequest, view: &dyn ReadView) -> Vec<u8> {
        self.read(request, view).encode()
    }

    /// [`Engine::write`], encoded.
    pub fn execute_write(
        &self,
        request: &ParsedRequest,
        txn: &mut dyn WriteView,
    ) -> Result<Vec<u8>, StoreError> {
        self.write(request, txn).map(|r| r.encode())
    }

    /// [`Engine::write`], encoded, with what each batch item did.
    pub fn execute_write_outcomes(
        &self,
        request: &ParsedRequest,
        txn: &mut dyn WriteView,
    ) -> Result<(Vec<u8>, Vec<ItemOutcome>), StoreError> {
        self.write(request, txn)
            .map(|r| (r.encode(), r.outcomes().to_vec()))
    }

    /// [`Engine::degraded_read`], encoded, with what each batch item did.
    pub fn execute_degraded_read(
        &self,
        request: &ParsedRequest,
        view: &dyn ReadView,
    ) -> Option<(Vec<u8>, Vec<ItemOutcome>)> {
        self.degraded_read(request, view)
            .map(|r| (r.encode(), r.outcomes().to_vec()))
    }

    /// The refusal sent when a request's transaction could not commit, encoded.
    pub fn failure_response(&self, request: &ParsedRequest) -> Vec<u8> {
        let cause = StoreError::Io("commit failed".into());
        self.refuse(request, Refusal::Store(&cause)).encode()
    }

    /// The refusal sent when the replicated store has no quorum, encoded.
    pub fn unavailable_response(&self, request: &ParsedRequest) -> Vec<u8> {
        self.refuse(request, Refusal::Unavailable).encode()
    }
}
