//! The committer thread ("keyward-committer"): group commit for mutating requests.
//!
//! The event loop sends one group per loop turn (every mutation that became ready in that
//! turn). The committer takes every group waiting in the channel, runs them all inside ONE
//! store write transaction, commits once (fsync inside the store), and only then hands the
//! responses back and wakes the loop. While it commits, the loop keeps serving reads and
//! collecting the next group. If the commit fails, every request of the group gets the
//! engine's failure response instead of its own.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender, channel};
use std::thread::JoinHandle;
use std::time::Instant;

use mio::{Token, Waker};

use super::Services;
use crate::audit::read_journal::{JournalBatch, ReadJournal};
use crate::audit::{self, Actor, AuditContext, AuditEvent, Outcome};
use crate::engine::{Engine, ItemOutcome, ParsedRequest};
use crate::kmip::enums::ResultStatus;
use crate::kmip::{names, tag};
use crate::store::StoreError;

pub(super) struct WriteJob {
    pub token: Token,
    pub conn_id: u64,
    pub request: ParsedRequest,
    /// The client's address, for the audit record.
    pub peer: std::net::SocketAddr,
    /// When the loop began on the request, for the latency histogram.
    pub started: std::time::Instant,
}

pub(super) struct WriteDone {
    pub token: Token,
    pub conn_id: u64,
    /// `None` when the engine could not even produce a failure response (it panicked):
    /// the loop then closes the connection.
    pub response: Option<Vec<u8>>,
    pub started: std::time::Instant,
}

pub(super) struct Committer {
    pub jobs: Sender<Vec<WriteJob>>,
    pub done: Receiver<WriteDone>,
    pub thread: JoinHandle<()>,
}

pub(super) fn spawn(services: &Services, waker: Arc<Waker>) -> std::io::Result<Committer> {
    let (jobs_tx, jobs_rx) = channel::<Vec<WriteJob>>();
    let (done_tx, done_rx) = channel::<WriteDone>();
    let services = services.clone();
    let thread = std::thread::Builder::new()
        .name("keyward-committer".into())
        .spawn(move || run(&services, &jobs_rx, &done_tx, &waker))?;
    Ok(Committer {
        jobs: jobs_tx,
        done: done_rx,
        thread,
    })
}

/// Ends when the loop drops its sender, after finishing every group already sent.
fn run(
    services: &Services,
    jobs: &Receiver<Vec<WriteJob>>,
    done: &Sender<WriteDone>,
    waker: &Waker,
) {
    let mut head_logged = Instant::now();
    let mut pruned = Instant::now();
    // Forwarding to a SIEM runs beside the committer and stops with it (`audit/forward.rs`).
    let _forwarder = services
        .audit
        .as_ref()
        .and_then(|a| a.forward.clone())
        .and_then(|target| {
            audit::forward::Forwarder::spawn(services.store.clone(), target)
                .map_err(|e| log::error!("cannot start audit forwarding: {e}"))
                .ok()
        });
    let journal = services.audit.as_ref().and_then(|a| a.reads.clone());
    loop {
        let Some(mut group) = next_group(services, jobs, journal.as_deref()) else {
            break;
        };
        while let Ok(more) = jobs.try_recv() {
            group.extend(more);
        }
        if let Some(audit) = &services.audit
            && head_logged.elapsed() >= audit.head_log_interval
        {
            log_head(services);
            head_logged = Instant::now();
        }
        services.metrics.batch(group.len());
        prune_while_running(services, &mut pruned);
        let results = commit_group(services, &group);
        for (job, response) in group.into_iter().zip(results) {
            if done
                .send(WriteDone {
                    token: job.token,
                    conn_id: job.conn_id,
                    response,
                    started: job.started,
                })
                .is_err()
            {
                return;
            }
        }
        if let Err(e) = waker.wake() {
            log::error!("committer cannot wake the event loop: {e}");
        }
    }
    // The loop is gone: make the last reads' records durable before the process exits.
    if let Some(journal) = &journal {
        fold_journal(services, journal);
    }
}

/// Waits for the next group. With the read journal on, waits at most the read sync interval
/// at a time and folds the journalled reads into the audit table whenever it times out, so
/// no read record waits longer than that for a durable commit. `None`: the loop hung up.
fn next_group(
    services: &Services,
    jobs: &Receiver<Vec<WriteJob>>,
    journal: Option<&ReadJournal>,
) -> Option<Vec<WriteJob>> {
    let (Some(journal), Some(audit)) = (journal, &services.audit) else {
        return jobs.recv().ok();
    };
    loop {
        match jobs.recv_timeout(audit.read_sync_interval) {
            Ok(group) => return Some(group),
            Err(RecvTimeoutError::Disconnected) => return None,
            Err(RecvTimeoutError::Timeout) => fold_journal(services, journal),
        }
    }
}

/// Continuous retention (`[audit] retain_days`): every few seconds while requests arrive, one
/// bounded bite of records past the retention goes, behind a checkpoint, in a commit of its
/// own; so the log of an appliance that is never restarted stops growing.
fn prune_while_running(services: &Services, last: &mut Instant) {
    let Some(audit) = &services.audit else { return };
    if audit.retain_days.is_none() || last.elapsed() < audit::prune::RUNNING_INTERVAL {
        return;
    }
    *last = Instant::now();
    let Ok(key) = audit.key() else { return };
    // A cluster node's log is local: prune it without touching etcd.
    let txn = match services.store.audit_only_write() {
        Ok(Some(txn)) => Ok(txn),
        Ok(None) => services.store.write(),
        Err(e) => Err(e),
    };
    let result = txn.and_then(|mut txn| {
        let removed = audit::prune::apply_retention_bite(txn.as_mut(), key, audit.retain_days)
            .map_err(StoreError::from)?;
        if removed > 0 {
            txn.commit()?;
        }
        Ok(removed)
    });
    match result {
        Ok(0) => {}
        Ok(removed) => log::info!(
            target: "keyward::audit",
            "audit log: pruned {removed} record(s) past retain_days"
        ),
        Err(e) => log::warn!("audit log: pruning failed, retried later: {e}"),
    }
}

/// Folds the journalled reads in a commit of their own (no group came to carry them).
fn fold_journal(services: &Services, journal: &ReadJournal) {
    let Some(audit) = &services.audit else { return };
    if !journal.has_pending() {
        return;
    }
    match journal.fold_now(services.store.as_ref(), audit) {
        Ok(count) => log::debug!("folded {count} journalled read record(s)"),
        Err(e) => log::error!("cannot fold the read journal into the audit log: {e}"),
    }
}

/// How often a group is run again after the replicated store reported a conflicting
/// concurrent update (another node changed what the group read). Each retry reads afresh.
const CONFLICT_RETRIES: u32 = 16;

/// Why a group could not be committed.
enum GroupFailure {
    /// Every request gets the engine's failure response.
    Failed(StoreError),
    /// The replicated store refuses changes (no quorum): answer reads from a read view and
    /// refuse the rest with a clear error.
    Unavailable,
    /// Another node changed what this group read: run it again.
    Conflict,
}

fn commit_group(services: &Services, group: &[WriteJob]) -> Vec<Option<Vec<u8>>> {
    let engine = &services.engine;
    if services.store.space_low() {
        return reads_only(services, group);
    }
    for attempt in 0..=CONFLICT_RETRIES {
        match try_commit_group(services, group) {
            Ok(responses) => return responses,
            // The store has just released its disk reserve: run the group again, reads only.
            Err(GroupFailure::Failed(StoreError::Full(_))) if services.store.space_low() => {
                return reads_only(services, group);
            }
            Err(GroupFailure::Failed(cause)) => {
                audit_failures(services, group);
                return failures(engine, group, &cause);
            }
            Err(GroupFailure::Unavailable) => return degraded(services, group),
            Err(GroupFailure::Conflict) if attempt < CONFLICT_RETRIES => {
                log::debug!(
                    "group of {} mutation(s) conflicted with another node; running it again",
                    group.len()
                );
                conflict_backoff(attempt);
            }
            Err(GroupFailure::Conflict) => {}
        }
    }
    log::error!(
        "group of {} mutation(s) still conflicted after {CONFLICT_RETRIES} retries; all are \
         answered with a failure",
        group.len()
    );
    audit_failures(services, group);
    let cause = StoreError::Io("concurrent updates kept conflicting".into());
    failures(engine, group, &cause)
}

/// A short random pause before running a conflicting group again, growing with each attempt,
/// so that two nodes hammering one object do not keep colliding in lockstep.
fn conflict_backoff(attempt: u32) {
    let mut random = [0u8; 2];
    if getrandom::fill(&mut random).is_err() {
        return;
    }
    let cap_ms = 2u64 << attempt.min(5);
    let pause = u64::from(u16::from_le_bytes(random)) % cap_ms;
    std::thread::sleep(std::time::Duration::from_millis(pause));
}

fn classify(e: StoreError) -> GroupFailure {
    match e {
        StoreError::Unavailable(_) => GroupFailure::Unavailable,
        StoreError::Conflict(_) => GroupFailure::Conflict,
        other => GroupFailure::Failed(other),
    }
}

fn try_commit_group(
    services: &Services,
    group: &[WriteJob],
) -> Result<Vec<Option<Vec<u8>>>, GroupFailure> {
    let mut txn = match services.store.write() {
        Ok(txn) => txn,
        Err(e) => {
            if !matches!(e, StoreError::Unavailable(_)) {
                log::error!(
                    "cannot open a write transaction for {} request(s): {e}",
                    group.len()
                );
            }
            return Err(classify(e));
        }
    };
    // Journalled reads ride on this durable commit, ahead of the group's own records.
    let journalled = match take_journal(services, txn.as_mut()) {
        Ok(batches) => batches,
        Err(e) => {
            log::error!(
                "store write failed; group of {} mutation(s) rolled back: {e}",
                group.len()
            );
            drop(txn);
            return Err(classify(e));
        }
    };
    let give_back = |batches: Vec<JournalBatch>| {
        if let Some(journal) = services.audit.as_ref().and_then(|a| a.reads.as_ref()) {
            journal.restore(batches);
        }
    };
    let mut responses = Vec::with_capacity(group.len());
    for job in group {
        match run_job(services, txn.as_mut(), job) {
            Ok(response) => responses.push(Some(response)),
            Err(e) => {
                // The transaction may hold part of that request's writes: abandon the group.
                log::error!(
                    "store write failed; group of {} mutation(s) rolled back: {e}",
                    group.len()
                );
                drop(txn);
                give_back(journalled);
                return Err(classify(e));
            }
        }
    }
    // Counts committed changes for "changed since the last backup"; failure fails the group
    // like any store write would. Only groups that change keys count (reads pass through here
    // when the audit log is on). A cluster keeps no counter: one shared key written by every
    // group would make every two concurrent groups of different nodes conflict.
    let counts = services.store.cluster_health().is_none()
        && group.iter().any(|job| job.request.changes_keys());
    if counts && let Err(e) = crate::backup::changes::bump(txn.as_mut()) {
        log::error!(
            "store write failed; group of {} mutation(s) rolled back: {e}",
            group.len()
        );
        drop(txn);
        give_back(journalled);
        return Err(classify(e));
    }
    match txn.commit() {
        Ok(()) => {
            log::debug!("committed a group of {} mutation(s)", group.len());
            if let Some(journal) = services.audit.as_ref().and_then(|a| a.reads.as_ref()) {
                journal.committed(journalled);
            }
            Ok(responses)
        }
        Err(e) => {
            give_back(journalled);
            if !matches!(e, StoreError::Conflict(_)) {
                log::error!(
                    "commit of {} mutation(s) failed, all are answered with a failure: {e}",
                    group.len()
                );
            }
            Err(classify(e))
        }
    }
}

/// Takes the journalled reads and appends their records to `txn`. If taking fails (a new
/// journal file cannot be created) they stay in the journal for the next fold.
fn take_journal(
    services: &Services,
    txn: &mut dyn crate::store::WriteView,
) -> Result<Vec<JournalBatch>, StoreError> {
    let Some(audit) = &services.audit else {
        return Ok(Vec::new());
    };
    let Some(journal) = &audit.reads else {
        return Ok(Vec::new());
    };
    let batches = match journal.take() {
        Ok(batches) => batches,
        Err(e) => {
            log::warn!("read journal: {e}; its records are folded later");
            return Ok(Vec::new());
        }
    };
    let folded = batches
        .iter()
        .try_for_each(|batch| batch.fold(&mut *txn, audit));
    match folded {
        Ok(()) => Ok(batches),
        Err(e) => {
            journal.restore(batches);
            Err(e.into())
        }
    }
}

/// Runs one request in the group's transaction and writes its audit records there. A panic
/// in the engine is an error like any other: the caller abandons the transaction.
fn run_job(
    services: &Services,
    txn: &mut dyn crate::store::WriteView,
    job: &WriteJob,
) -> Result<Vec<u8>, StoreError> {
    catch_unwind(AssertUnwindSafe(|| {
        let (response, outcomes) = services
            .engine
            .execute_write_outcomes(&job.request, &mut *txn)?;
        if let Some(audit) = &services.audit {
            // Reads come through here too: their record commits before they are answered.
            // Only the attempt that commits leaves records (a conflicting one is dropped).
            audit_outcomes(&mut *txn, audit, job, &outcomes)?;
        }
        Ok(response)
    }))
    .unwrap_or_else(|_| {
        log::error!("engine panicked while executing a request; its group is rolled back");
        Err(StoreError::Io("the engine panicked".into()))
    })
}

/// Full-disk mode: the store runs on the space it kept in reserve. Reads are answered (their
/// audit records need that space); changes are refused with a clear error, and each refusal is
/// recorded in the same transaction. If even that cannot commit, every request fails.
fn reads_only(services: &Services, group: &[WriteJob]) -> Vec<Option<Vec<u8>>> {
    let full = StoreError::Full("changes are refused until disk space is freed".into());
    match try_reads_only(services, group, &full) {
        Ok(responses) => responses,
        Err(e) => {
            log::error!(
                "cannot commit the reads of a group of {} on a full disk: {e}",
                group.len()
            );
            audit_failures(services, group);
            failures(&services.engine, group, &e)
        }
    }
}

fn try_reads_only(
    services: &Services,
    group: &[WriteJob],
    full: &StoreError,
) -> Result<Vec<Option<Vec<u8>>>, StoreError> {
    let engine = &services.engine;
    let mut txn = services.store.write()?;
    let mut responses = Vec::with_capacity(group.len());
    let mut refused = 0;
    for job in group {
        if job.request.changes_keys() {
            refused += 1;
            if let Some(audit) = &services.audit {
                let outcomes = engine.failure_outcomes(&job.request);
                audit_outcomes(txn.as_mut(), audit, job, &outcomes)?;
            }
            let response = catch_unwind(AssertUnwindSafe(|| {
                engine.storage_failure_response(&job.request, full)
            }));
            responses.push(response.ok());
        } else {
            responses.push(Some(run_job(services, txn.as_mut(), job)?));
        }
    }
    txn.commit()?;
    if refused > 0 {
        log::warn!("refused {refused} change request(s): the disk is full");
    }
    Ok(responses)
}

/// Degraded mode: requests that only read (Get included, without clearing Fresh) are
/// answered from a read view of the local member; changes are refused with a clear error.
/// With the audit log on, every answer and refusal is first recorded in this node's local log
/// (a cluster node keeps recording without quorum); if that cannot commit, every request of
/// the group fails, as anywhere else: nothing is answered without its record.
fn degraded(services: &Services, group: &[WriteJob]) -> Vec<Option<Vec<u8>>> {
    let engine = &services.engine;
    let view = services.store.read();
    let mut refused = 0;
    let mut answers: Vec<(Option<Vec<u8>>, Vec<ItemOutcome>)> = group
        .iter()
        .map(|job| {
            catch_unwind(AssertUnwindSafe(|| {
                let read = match &view {
                    Ok(view) => engine.execute_degraded_read(&job.request, view.as_ref()),
                    Err(_) => None,
                };
                read.unwrap_or_else(|| {
                    refused += 1;
                    (
                        engine.unavailable_response(&job.request),
                        engine.failure_outcomes(&job.request),
                    )
                })
            }))
            .map_or_else(
                |_| (None, engine.failure_outcomes(&job.request)),
                |(response, outcomes)| (Some(response), outcomes),
            )
        })
        .collect();
    drop(view);
    if refused > 0 {
        log::warn!("refused {refused} change request(s): the cluster has no quorum (degraded)");
    }
    if let Some(audit) = &services.audit
        && let Err(e) = record_degraded(services, audit, group, &answers)
    {
        log::error!(
            "cannot record a group of {} in the audit log without quorum; all are answered \
             with a failure: {e}",
            group.len()
        );
        let cause = StoreError::Io(format!("the audit log could not be written: {e}").into());
        answers = group
            .iter()
            .map(|job| {
                let response = catch_unwind(AssertUnwindSafe(|| {
                    engine.storage_failure_response(&job.request, &cause)
                }));
                (response.ok(), Vec::new())
            })
            .collect();
    }
    answers.into_iter().map(|(response, _)| response).collect()
}

fn record_degraded(
    services: &Services,
    audit: &AuditContext,
    group: &[WriteJob],
    answers: &[(Option<Vec<u8>>, Vec<ItemOutcome>)],
) -> Result<(), StoreError> {
    let Some(mut txn) = services.store.audit_only_write()? else {
        return Err(StoreError::Unavailable(
            "this store keeps no audit log apart from the shared state".into(),
        ));
    };
    for (job, (_, outcomes)) in group.iter().zip(answers) {
        audit_outcomes(txn.as_mut(), audit, job, outcomes)?;
    }
    txn.commit()
}

fn failures(engine: &Engine, group: &[WriteJob], cause: &StoreError) -> Vec<Option<Vec<u8>>> {
    group
        .iter()
        .map(|job| {
            catch_unwind(AssertUnwindSafe(|| {
                engine.storage_failure_response(&job.request, cause)
            }))
            .ok()
        })
        .collect()
}

/// Writes the audit chain head to the system log, so a truncated log can be detected later by
/// comparing with a copy of these lines kept elsewhere.
pub(super) fn log_head(services: &Services) {
    if services.audit.is_none() {
        return;
    }
    match services.store.read().map(|view| audit::head(view.as_ref())) {
        Ok(Ok(Some((seq, mac)))) => {
            log::info!(target: "keyward::audit", "audit chain head: seq {seq} mac {mac}")
        }
        Ok(Ok(None)) => log::info!(target: "keyward::audit", "audit chain head: empty log"),
        Ok(Err(e)) => log::error!("cannot read the audit chain head: {e}"),
        Err(e) => log::error!("cannot read the audit chain head: {e}"),
    }
}

/// One audit record per executed batch item, in the request's transaction.
fn audit_outcomes(
    txn: &mut dyn crate::store::WriteView,
    audit: &AuditContext,
    job: &WriteJob,
    outcomes: &[ItemOutcome],
) -> Result<(), crate::store::StoreError> {
    let client = job.request.client();
    for outcome in outcomes {
        let actor = Actor::Client {
            owner: client.owner.clone(),
            fingerprint: hex::encode(client.fingerprint),
            peer: job.peer.to_string(),
        };
        audit::record(txn, audit, actor, item_event(outcome))?;
    }
    Ok(())
}

pub(super) fn item_event(outcome: &ItemOutcome) -> AuditEvent {
    let operation = names::enum_name(tag::OPERATION, outcome.operation)
        .map(str::to_string)
        .unwrap_or_else(|| format!("{:#x}", outcome.operation));
    AuditEvent {
        operation,
        uids: outcome.uids.clone(),
        outcome: match outcome.status {
            ResultStatus::Success => Outcome::Success,
            ResultStatus::OperationUndone => Outcome::Undone,
            _ => Outcome::Failure,
        },
        reason: outcome.reason.map(|r| format!("{r:?}")),
    }
}

/// Records the failures of a group that could not commit, in a transaction of their own, so a
/// failed attempt leaves a trace (best effort: the store may be what failed).
fn audit_failures(services: &Services, group: &[WriteJob]) {
    let Some(audit) = &services.audit else { return };
    // A cluster node whose etcd refuses even to start a transaction still has its local log.
    let txn = match services.store.write() {
        Ok(txn) => Ok(txn),
        Err(e) => match services.store.audit_only_write() {
            Ok(Some(txn)) => Ok(txn),
            Ok(None) => Err(e),
            Err(local) => Err(local),
        },
    };
    let result = txn.and_then(|mut txn| {
        for job in group {
            let outcomes = services.engine.failure_outcomes(&job.request);
            audit_outcomes(txn.as_mut(), audit, job, &outcomes)?;
        }
        txn.commit()
    });
    if let Err(e) = result {
        log::error!("cannot record the failed group in the audit log either: {e}");
    }
}
