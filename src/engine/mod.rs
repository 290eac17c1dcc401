//! Operation semantics: object lifecycle, ownership, Locate, batches. No sockets, no threads.
//!
//! Contract with the server (fixed): the server frames a message, calls [`Engine::prepare`],
//! runs read-only requests with [`Engine::execute_read`] on a read snapshot, and groups
//! mutating requests into one write transaction per loop turn with [`Engine::execute_write`].
//! A response produced by `execute_write` may be released only after that transaction commits;
//! if the commit fails, the server sends [`Engine::failure_response`] instead.

use std::sync::Arc;

use crate::seal::MasterKey;
use crate::store::{ReadView, WriteView};
use crate::ttlv::Limits;

/// Who is asking. Built by the server from the verified TLS client certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientIdentity {
    /// Stable owner id stored with every object this client creates (e.g. `cn:vcenter-01`).
    pub owner: String,
    /// SHA-256 of the client certificate (DER), for logs and audit.
    pub fingerprint: [u8; 32],
}

/// Settings the engine needs.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    pub limits: Limits,
    /// Most batch items accepted in one request.
    pub max_batch_items: usize,
    /// Query → Vendor Identification.
    pub vendor_identification: String,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            limits: Limits::default(),
            max_batch_items: 256,
            vendor_identification: format!("Keyward {}", env!("CARGO_PKG_VERSION")),
        }
    }
}

/// A decoded request ready to run (opaque to the server).
pub struct ParsedRequest {
    _private: (),
}

/// What [`Engine::prepare`] decided.
pub enum Prepared {
    /// Answer at once with these bytes (e.g. Invalid Message); nothing to execute.
    Respond(Vec<u8>),
    /// Touches no state: run on a read snapshot.
    Read(ParsedRequest),
    /// Changes state: run inside the group's write transaction.
    Write(ParsedRequest),
}

pub struct Engine {
    _config: EngineConfig,
    _master: Arc<MasterKey>,
}

impl Engine {
    pub fn new(config: EngineConfig, master: Arc<MasterKey>) -> Engine {
        Engine {
            _config: config,
            _master: master,
        }
    }

    /// Decodes one framed request message (header included) and classifies it.
    pub fn prepare(&self, client: &ClientIdentity, message: &[u8]) -> Prepared {
        let _ = (client, message);
        todo!("Engine::prepare")
    }

    /// Runs a read-only request; returns the encoded response message.
    pub fn execute_read(&self, request: &ParsedRequest, view: &dyn ReadView) -> Vec<u8> {
        let _ = (request, view);
        todo!("Engine::execute_read")
    }

    /// Runs a mutating request inside `txn`; returns the encoded response message, to be
    /// released only after `txn` commits.
    pub fn execute_write(&self, request: &ParsedRequest, txn: &mut dyn WriteView) -> Vec<u8> {
        let _ = (request, txn);
        todo!("Engine::execute_write")
    }

    /// The response for `request` when its transaction could not be committed: every batch
    /// item fails with General Failure.
    pub fn failure_response(&self, request: &ParsedRequest) -> Vec<u8> {
        let _ = request;
        todo!("Engine::failure_response")
    }
}
