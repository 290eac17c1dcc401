//! What the engine hands back for one request: the Response Message as a TTLV tree, not yet
//! encoded, and what each batch item did (operation, result, object UIDs).
//!
//! Why a type and not bytes: the server needs both the bytes for the wire and the facts for
//! metrics and the audit log. When the engine returned bytes, the server decoded its own
//! responses again to count them. Now the connection encodes the tree once when it sends it,
//! and metrics and audit read [`Response::outcomes`]. The tree may hold key material (a Get's
//! payload), so it is wiped when the response is dropped.

use std::fmt;

use super::{ItemOutcome, scrub};
use crate::kmip::enums::ResultStatus;
use crate::ttlv::{self, Item};

/// One encoded-to-be Response Message and the outcome of each of its batch items.
pub struct Response {
    message: Item,
    outcomes: Vec<ItemOutcome>,
}

impl Response {
    pub(super) fn new(message: Item, outcomes: Vec<ItemOutcome>) -> Response {
        Response { message, outcomes }
    }

    /// The message in TTLV, for the wire. The caller sends it once.
    pub fn encode(&self) -> Vec<u8> {
        ttlv::encode(&self.message)
    }

    /// The number of bytes [`Response::encode`] produces.
    pub fn encoded_len(&self) -> usize {
        ttlv::encoded_len(&self.message)
    }

    /// What each batch item of the response did, in order (one per item answered).
    pub fn outcomes(&self) -> &[ItemOutcome] {
        &self.outcomes
    }

    /// Whether every item succeeded.
    pub fn succeeded(&self) -> bool {
        self.outcomes
            .iter()
            .all(|o| o.status == ResultStatus::Success)
    }
}

impl Drop for Response {
    /// A Get's payload carries key material: wipe it with the response.
    fn drop(&mut self) {
        scrub(&mut self.message);
    }
}

impl fmt::Debug for Response {
    /// The outcomes only: the message may hold key material.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Response")
            .field("outcomes", &self.outcomes)
            .finish_non_exhaustive()
    }
}
