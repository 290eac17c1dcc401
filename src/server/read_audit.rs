//! Reads answered at CPU speed and audited all the same (issue 21, point 1; `docs/audit.md`).
//!
//! With the audit log on, a read used to go through the committer so that its record was
//! fsynced before the answer. Here the loop runs the read on a snapshot, appends its records
//! to the read journal (`crate::audit::read_journal`, one `write(2)`: safe from `kill -9`)
//! and answers; the committer makes the records durable within `read_sync_interval_ms`. When
//! the journal cannot be written the read falls back to the committer, as before: no answer
//! without its record.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use super::{ServerError, Services};
use crate::audit::AuditContext;
use crate::audit::read_journal::{self, JournalEntry, ReadJournal};
use crate::config::Config;
use crate::engine::pipeline::{audit_event, client_actor};
use crate::engine::{ParsedRequest, Response};
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
    let (folded, generation) =
        read_journal::recover(store, audit, data_dir).map_err(journal_error)?;
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

/// Runs a request that changes nothing (a read, or a Get of an object no longer Fresh) on a
/// fresh snapshot and journals its records before returning the answer. Anything that would
/// change a stored object goes to the committer.
pub(super) fn run_with_journal(
    services: &Services,
    request: &ParsedRequest,
    peer: std::net::SocketAddr,
) -> AuditedRead {
    if services
        .audit
        .as_ref()
        .and_then(|a| a.reads.as_ref())
        .is_none()
    {
        return AuditedRead::ThroughCommitter;
    }
    let view =
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| services.store.read().ok()));
    match view {
        Ok(Some(view)) => run_on_view(services, view.as_ref(), request, peer),
        // No snapshot: the committer's path handles it.
        Ok(None) => AuditedRead::ThroughCommitter,
        Err(_) => {
            log::error!("panicked while opening a read snapshot");
            AuditedRead::Answered(None)
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
    let journal = match services.audit.as_ref() {
        None => None,
        Some(audit) => match audit.reads.as_ref() {
            Some(journal) => Some(journal),
            None => return AuditedRead::ThroughCommitter,
        },
    };
    let engine = &services.engine;
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        engine.execute_if_unchanging(request, view)
    }));
    let response = match result {
        Ok(Some(answer)) => answer,
        // Not a pure read after all: the committer's path handles it.
        Ok(None) => return AuditedRead::ThroughCommitter,
        Err(_) => {
            log::error!("engine panicked on a read-only request");
            return AuditedRead::Answered(None);
        }
    };
    let Some(journal) = journal else {
        return AuditedRead::Answered(Some(response));
    };
    let time_ms = crate::audit::now_ms();
    let entries = response
        .outcomes()
        .iter()
        .map(|outcome| {
            JournalEntry::new(time_ms, client_actor(request, peer), audit_event(outcome))
        })
        .collect();
    match journal.append(entries) {
        Ok(()) => AuditedRead::Answered(Some(response)),
        Err(e) => {
            // At most one line a second: a failing disk must not also flood the log.
            let now = crate::audit::now_ms();
            let last = LAST_LOGGED_MS.load(Ordering::Relaxed);
            if now - last >= 1000 {
                LAST_LOGGED_MS.store(now, Ordering::Relaxed);
                log::error!("{e}; reads are recorded through the committer instead");
            }
            AuditedRead::ThroughCommitter
        }
    }
}
