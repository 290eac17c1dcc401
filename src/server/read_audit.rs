//! Reads answered at CPU speed and audited all the same (issue 21, point 1; `docs/audit.md`).
//!
//! With the audit log on, a read used to go through the committer so that its record was
//! fsynced before the answer. Here the loop runs the read on a snapshot, appends its records
//! to the read journal (`crate::audit::read_journal`, one `write(2)`: safe from `kill -9`)
//! and answers; the committer makes the records durable within `read_sync_interval_ms`. When
//! the journal cannot be written the read falls back to the committer, as before: no answer
//! without its record.
//!
//! The loop writes the records of all the reads it ran in one turn with one `write(2)`
//! ([`run_with_journal`] leaves them unwritten, [`ReadBatch`] holds them, [`write_records`]
//! writes them) and only then sends their answers; a cluster node's reader threads write
//! each read's records as they go ([`run_on_view`]).
//!
//! The first Get of an object is answered the same way on the loop: its clear of the object's
//! Fresh flag is written with its record and folded with it (`engine/fresh.rs`); until then
//! the loop keeps the object in its [`PendingClears`](super::pending_clears::PendingClears).
//! A cluster node's first Gets still commit.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use super::write_jobs::WriteJob;
use super::{ServerError, Services};
use crate::audit::AuditContext;
use crate::audit::read_journal::{self, JournalEntry, ReadJournal};
use crate::config::Config;
use crate::engine::pipeline::{audit_event, client_actor};
use crate::engine::{FreshClears, ParsedRequest, Response, Unchanging, fold_effects};
use crate::store::{ReadView, Store};

/// At start-up: folds what a crash left in the journal, then opens a new one. `None` when
/// reads are to commit durably (`durable_reads = true`). A cluster node journals its reads too:
/// the fold marker is an `audit.` meta key, kept in the node's local redb with its chain
/// (`crate::store::node`).
pub fn open_journal(
    store: &dyn Store,
    audit: &AuditContext,
    data_dir: &Path,
    config: &Config,
) -> Result<Option<Arc<ReadJournal>>, ServerError> {
    let journal_error = |e: read_journal::JournalError| ServerError::Io {
        what: "the audit read journal".into(),
        message: e.to_string(),
    };
    let (folded, generation) = read_journal::recover(store, audit, fold_effects(store), data_dir)
        .map_err(journal_error)?;
    if folded > 0 {
        log::info!(
            target: "keyward::audit",
            "audit log: {folded} read record(s) recovered from the read journal"
        );
    }
    if config.audit.durable_reads {
        return Ok(None);
    }
    let journal = ReadJournal::open(data_dir, generation).map_err(journal_error)?;
    Ok(Some(Arc::new(journal)))
}

/// When a journal failure was last logged (ms since the epoch).
static LAST_LOGGED_MS: AtomicI64 = AtomicI64::new(0);

/// What became of a read.
pub(super) enum AuditedRead {
    /// Answered (`None`: the engine panicked, close the connection).
    Answered(Option<Response>),
    /// Not journalled: send it to the committer, which records it durably.
    ThroughCommitter,
}

/// What became of a read whose records are the caller's to write.
pub(super) enum Executed {
    /// Answered, nothing to record (`None`: the engine panicked, close the connection).
    Answered(Option<Response>),
    /// Answered, but its records are not written yet: the answer must wait for them.
    Unwritten(Response, Vec<JournalEntry>),
    /// Not journalled: send it to the committer, which records it durably.
    ThroughCommitter,
}

/// Runs a read or a Get on a fresh snapshot; returns its answer with its records,
/// [`Unwritten`](Executed::Unwritten) for the caller to write before it sends the answer. A
/// Get's clear of Fresh is in those records; `pending` says which objects' clears wait in the
/// journal already (they are no longer Fresh). Anything else that would change a stored
/// object goes to the committer. Not for a cluster node (its objects are in etcd).
pub(super) fn run_with_journal(
    services: &Services,
    request: &ParsedRequest,
    peer: std::net::SocketAddr,
    pending: &dyn Fn(&str) -> bool,
) -> Executed {
    if services
        .audit
        .as_ref()
        .and_then(|a| a.reads.as_ref())
        .is_none()
    {
        return Executed::ThroughCommitter;
    }
    let view =
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| services.store.read().ok()));
    match view {
        Ok(Some(view)) => execute_on_view(
            services,
            view.as_ref(),
            request,
            peer,
            FreshClears::Journalled(pending),
        ),
        // No snapshot: the committer's path handles it.
        Ok(None) => Executed::ThroughCommitter,
        Err(_) => {
            log::error!("panicked while opening a read snapshot");
            Executed::Answered(None)
        }
    }
}

/// Runs a request that changes nothing on `view` (which the caller opened after the request
/// arrived) and, with the audit log on, journals its records before returning the answer.
/// `ThroughCommitter` when it would change something, or when its record must commit durably
/// (the audit log on without a journal) or cannot be journalled.
pub(super) fn run_on_view(
    services: &Services,
    view: &dyn ReadView,
    request: &ParsedRequest,
    peer: std::net::SocketAddr,
) -> AuditedRead {
    // The first Get of a cluster node's object commits its clear of Fresh through etcd.
    match execute_on_view(services, view, request, peer, FreshClears::Committed) {
        Executed::Unwritten(response, records) => {
            if write_records(services, records).is_some() {
                AuditedRead::Answered(Some(response))
            } else {
                AuditedRead::ThroughCommitter
            }
        }
        Executed::ThroughCommitter => AuditedRead::ThroughCommitter,
        Executed::Answered(response) => AuditedRead::Answered(response),
    }
}

/// [`run_on_view`] without the journal's write: the records come back with the answer.
fn execute_on_view(
    services: &Services,
    view: &dyn ReadView,
    request: &ParsedRequest,
    peer: std::net::SocketAddr,
    clears: FreshClears<'_>,
) -> Executed {
    let journal = match services.audit.as_ref() {
        None => None,
        Some(audit) => match audit.reads.as_ref() {
            Some(journal) => Some(journal),
            None => return Executed::ThroughCommitter,
        },
    };
    let engine = &services.engine;
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        engine.execute_if_unchanging(request, view, clears)
    }));
    let Unchanging {
        response,
        fresh_cleared,
    } = match result {
        Ok(Some(answer)) => answer,
        // Not a pure read after all: the committer's path handles it.
        Ok(None) => return Executed::ThroughCommitter,
        Err(_) => {
            log::error!("engine panicked on a read-only request");
            return Executed::Answered(None);
        }
    };
    if journal.is_none() {
        return Executed::Answered(Some(response));
    }
    let time_ms = crate::audit::now_ms();
    let mut entries: Vec<JournalEntry> = response
        .outcomes()
        .iter()
        .map(|outcome| {
            JournalEntry::new(time_ms, client_actor(request, peer), audit_event(outcome))
        })
        .collect();
    // The request's clears go in the same line as its first record: written, and lost, together.
    match entries.first_mut() {
        Some(first) => first.fresh_cleared = fresh_cleared,
        // No record to carry them (never seen: every item has its outcome): commit instead.
        None if !fresh_cleared.is_empty() => return Executed::ThroughCommitter,
        None => {}
    }
    Executed::Unwritten(response, entries)
}

/// Appends `records` to the read journal with one `write(2)`; `Some` holds the journal's
/// count of records appended, these included ([`ReadJournal::append`]). `None` when they
/// could not be written (logged, at most once a second): the reads they record must then go
/// through the committer. `Some(0)` without a journal (nothing to write).
pub(super) fn write_records(services: &Services, records: Vec<JournalEntry>) -> Option<u64> {
    let Some(journal) = services.audit.as_ref().and_then(|a| a.reads.as_ref()) else {
        return Some(0);
    };
    match journal.append(records) {
        Ok(appended) => Some(appended),
        Err(e) => {
            // At most one line a second: a failing disk must not also flood the log.
            let now = crate::audit::now_ms();
            let last = LAST_LOGGED_MS.load(Ordering::Relaxed);
            if now - last >= 1000 {
                LAST_LOGGED_MS.store(now, Ordering::Relaxed);
                log::error!("{e}; reads are recorded through the committer instead");
            }
            None
        }
    }
}

/// A read the loop ran, waiting for its records to be written before its answer leaves.
pub(super) struct HeldRead {
    /// The request as the committer would take it, should the records not be written.
    pub job: WriteJob,
    pub response: Response,
}

/// The reads of one loop turn whose records are not written yet, and those records: the
/// loop writes them all with one `write(2)` (eight reads of eight connections, one system
/// call instead of eight) before it sends any of their answers.
#[derive(Default)]
pub(super) struct ReadBatch {
    held: Vec<HeldRead>,
    records: Vec<JournalEntry>,
}

impl ReadBatch {
    pub(super) fn hold(&mut self, read: HeldRead, records: Vec<JournalEntry>) {
        self.held.push(read);
        self.records.extend(records);
    }

    pub(super) fn is_empty(&self) -> bool {
        self.held.is_empty()
    }

    /// How many reads are held.
    pub(super) fn len(&self) -> usize {
        self.held.len()
    }

    /// The held reads, oldest first, and all their records.
    pub(super) fn take(&mut self) -> (Vec<HeldRead>, Vec<JournalEntry>) {
        (
            std::mem::take(&mut self.held),
            std::mem::take(&mut self.records),
        )
    }
}
