//! Multi-part AES-GCM and ChaCha20-Poly1305 (KMIP Encrypt/Decrypt with Init Indicator,
//! Correlation Value, Final Indicator): the streams in progress, held in this appliance's
//! memory.
//!
//! Why memory here, when the AES block modes seal their state into the Correlation Value
//! (`encrypt.rs`): an AEAD's running state (GHASH or Poly1305 accumulator, counter) lives inside
//! AWS-LC's context and cannot be exported, so it stays where it was made. Hence the bounds:
//! at most [`MAX_PER_CLIENT`] streams per client and [`MAX_TOTAL`] in all, each forgotten after
//! [`IDLE_EXPIRY`] without a part; the AWS-LC context is cleansed when an entry is dropped.
//! A stream is bound to the client that started it, its key (and that key's material
//! generation) and its direction; anything else presenting its Correlation Value is told the
//! value is invalid, exactly as for a value that never existed.
//!
//! Every part gets a fresh Correlation Value, and the state a part started from is kept until
//! its successor is used: a part is then a pure function of (state, input), so a request the
//! server runs twice (a write group retried after a store conflict) gives the same answer.

use std::collections::HashMap;
use std::sync::{LazyLock, Mutex};
use std::time::{Duration, Instant};

use super::EngineError;
use crate::crypto::aws_lc_ffi::AeadStream;
use crate::crypto::random;

/// Streams one client may have in progress.
pub const MAX_PER_CLIENT: usize = 16;
/// Streams in progress on this appliance.
pub const MAX_TOTAL: usize = 1024;
/// A stream without a part for this long is forgotten.
pub const IDLE_EXPIRY: Duration = Duration::from_secs(300);
/// A finished stream's last state is kept this long, for a retried final part only.
const FINISHED_GRACE: Duration = Duration::from_secs(30);

const ID_LEN: usize = 16;
type StreamId = [u8; ID_LEN];

/// Who may continue a stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Binding {
    pub owner: String,
    pub key_uid: String,
    pub material_generation: u64,
    pub encrypting: bool,
}

struct Entry {
    binding: Binding,
    stream: AeadStream,
    last_used: Instant,
    /// The state this one continued from, dropped once this one is used.
    predecessor: Option<StreamId>,
    /// Set when a final part used this state.
    finished: bool,
}

impl Entry {
    fn expired(&self, now: Instant) -> bool {
        let limit = if self.finished {
            FINISHED_GRACE
        } else {
            IDLE_EXPIRY
        };
        now.duration_since(self.last_used) > limit
    }
}

#[derive(Default)]
struct Table {
    entries: HashMap<StreamId, Entry>,
}

static STREAMS: LazyLock<Mutex<Table>> = LazyLock::new(|| Mutex::new(Table::default()));

fn table() -> std::sync::MutexGuard<'static, Table> {
    // A panic while holding the lock cannot leave the map half-changed (each change is one
    // insert or remove), so a poisoned lock is still usable.
    STREAMS
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn as_id(value: &[u8]) -> Option<StreamId> {
    value.try_into().ok()
}

/// Stores `stream` as the state after a part; returns its Correlation Value. `predecessor` is
/// the state the part started from (None for a first part).
pub(super) fn keep(
    binding: Binding,
    stream: AeadStream,
    predecessor: Option<Vec<u8>>,
) -> Result<Vec<u8>, EngineError> {
    let now = Instant::now();
    let mut t = table();
    t.entries.retain(|_, e| !e.expired(now));
    let live = |e: &&Entry| !e.finished;
    let mine = t
        .entries
        .values()
        .filter(live)
        .filter(|e| e.binding.owner == binding.owner)
        .count();
    let total = t.entries.values().filter(live).count();
    if mine >= MAX_PER_CLIENT || total >= MAX_TOTAL {
        return Err(EngineError::PermissionDenied(format!(
            "too many multi-part operations in progress (at most {MAX_PER_CLIENT} per client, \
             {MAX_TOTAL} in all; unfinished ones expire after {} s)",
            IDLE_EXPIRY.as_secs()
        )));
    }
    let mut id = [0u8; ID_LEN];
    id.copy_from_slice(&random::bytes(ID_LEN)?);
    t.entries.insert(
        id,
        Entry {
            binding,
            stream,
            last_used: now,
            predecessor: predecessor.as_deref().and_then(as_id),
            finished: false,
        },
    );
    Ok(id.to_vec())
}

/// A copy of the state `correlation` names, if `binding` may continue it. Its predecessor is
/// forgotten (the client has moved past it). `last` marks the state as finished.
pub(super) fn resume(
    binding: &Binding,
    correlation: &[u8],
    last: bool,
) -> Result<AeadStream, EngineError> {
    let now = Instant::now();
    let mut t = table();
    t.entries.retain(|_, e| !e.expired(now));
    let id = as_id(correlation).ok_or(EngineError::InvalidCorrelationValue)?;
    let entry = t
        .entries
        .get_mut(&id)
        .filter(|e| e.binding == *binding)
        .ok_or(EngineError::InvalidCorrelationValue)?;
    let copy = entry.stream.try_clone()?;
    entry.last_used = now;
    entry.finished |= last;
    if let Some(previous) = entry.predecessor.take() {
        t.entries.remove(&previous);
    }
    Ok(copy)
}
