//! The write pipeline: how a group of changes reaches the store, and what each request is
//! answered when it cannot.
//!
//! Why it lives in the engine: the policy for a group is about requests and their results,
//! not about threads or sockets. One store transaction per group; the records of journalled
//! reads ride on it; each request runs with its audit records in that transaction; the
//! "changed since the last backup" counter counts it; one commit. When that is not possible:
//! a full disk answers reads and refuses changes, a replicated store without quorum answers
//! reads from a read view, a conflict with another node runs the group again, and anything else
//! refuses every request with [`Engine::refuse`] (the one failure builder) and records the
//! refusals. The committer thread (`server/committer.rs`) only feeds groups in and sends the
//! responses back; a panic anywhere in here costs the group, never the thread.

use std::net::SocketAddr;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;

use super::{Engine, ItemOutcome, ParsedRequest, Refusal, Response};
use crate::audit::read_journal::{JournalBatch, ReadJournal};
use crate::audit::{self, Actor, AuditContext, AuditEvent, ChainTail, Outcome};
use crate::kmip::enums::ResultStatus;
use crate::kmip::{names, tag};
use crate::store::{PendingCommit, Store, StoreError, WriteView};

mod shared_first;

/// One change as the pipeline needs it: the request and where it came from (for its record).
pub struct Change {
    pub request: ParsedRequest,
    pub peer: SocketAddr,
}

/// `None` in a group's answers: the engine panicked on that request and could not even
/// produce a refusal; the server closes its connection.
pub type Answer = Option<Response>;

/// A group run and committed, whose answers may wait for the commit's flush to disk
/// (pipelined group commit: the next group runs meanwhile). [`Pipeline::finish`] turns it
/// into the answers, once they may be released.
pub enum Staged {
    /// The answers may go now (a refusal, a degraded or full-disk answer, a durable commit).
    Ready(Vec<Answer>),
    /// The answers may go once `pending` is durable.
    Flushing {
        answers: Vec<Answer>,
        pending: Box<dyn PendingCommit>,
        journalled: Vec<JournalBatch>,
    },
}

/// How often a group is run again after the replicated store reported a conflicting
/// concurrent update (another node changed what the group read). Each retry reads afresh.
const CONFLICT_RETRIES: u32 = 16;

/// Why a group could not be committed.
enum GroupFailure {
    /// Every request is refused.
    Failed(StoreError),
    /// The replicated store refuses changes (no quorum): answer reads from a read view and
    /// refuse the rest with a clear error.
    Unavailable,
    /// Another node changed what this group read: run it again.
    Conflict,
}

impl From<StoreError> for GroupFailure {
    fn from(e: StoreError) -> GroupFailure {
        match e {
            StoreError::Unavailable(_) => GroupFailure::Unavailable,
            StoreError::Conflict(_) => GroupFailure::Conflict,
            other => GroupFailure::Failed(other),
        }
    }
}

/// Runs `f`, turning a panic into `None` (the one place the pipeline catches them).
fn guarded<T>(what: &str, f: impl FnOnce() -> T) -> Option<T> {
    catch_unwind(AssertUnwindSafe(f))
        .map_err(|_| log::error!("the engine panicked while {what}"))
        .ok()
}

/// The engine, the store and the audit log, as the committer thread drives them.
pub struct Pipeline {
    engine: Arc<Engine>,
    store: Arc<dyn Store>,
    audit: Option<Arc<AuditContext>>,
}

impl Pipeline {
    pub fn new(
        engine: Arc<Engine>,
        store: Arc<dyn Store>,
        audit: Option<Arc<AuditContext>>,
    ) -> Pipeline {
        Pipeline {
            engine,
            store,
            audit,
        }
    }

    fn journal(&self) -> Option<&ReadJournal> {
        self.audit.as_ref().and_then(|a| a.reads.as_deref())
    }

    /// Runs a group and commits it once; one answer per change, in order. No answer is
    /// meant to leave before this returns: it returns after the commit (or the refusal).
    pub fn commit(&self, group: &[Change]) -> Vec<Answer> {
        let staged = self.stage(group);
        self.finish(group, staged)
    }

    /// The answers of a staged group, once they may leave: waits for its commit's flush.
    /// If the flush fails (fail-stop: the store refuses everything after it), every request
    /// of the group is refused instead; its journalled reads go back to the journal.
    pub fn finish(&self, group: &[Change], staged: Staged) -> Vec<Answer> {
        let (answers, pending, journalled) = match staged {
            Staged::Ready(answers) => return answers,
            Staged::Flushing {
                answers,
                pending,
                journalled,
            } => (answers, pending, journalled),
        };
        match pending.wait() {
            Ok(()) => {
                if let Some(journal) = self.journal() {
                    journal.committed(journalled);
                }
                answers
            }
            Err(e) => {
                if let Some(journal) = self.journal() {
                    journal.restore(journalled);
                }
                log::error!(
                    "flush of {} mutation(s) failed, all are answered with a failure: {e}",
                    group.len()
                );
                self.refuse_all(group, &e)
            }
        }
    }

    /// Runs a group and commits it, without waiting for the commit's flush: the caller
    /// releases the answers through [`Pipeline::finish`] (on any thread, in group order).
    pub fn stage(&self, group: &[Change]) -> Staged {
        if self.store.space_low() {
            return Staged::Ready(self.reads_only(group));
        }
        let committed = retry_conflicts(group.len(), "another node", || self.try_commit(group));
        match committed {
            Ok(staged) => staged,
            // The store has just released its disk reserve: run the group again, reads only.
            Err(GroupFailure::Failed(StoreError::Full(_))) if self.store.space_low() => {
                Staged::Ready(self.reads_only(group))
            }
            Err(GroupFailure::Failed(cause)) => Staged::Ready(self.refuse_all(group, &cause)),
            Err(GroupFailure::Unavailable) => Staged::Ready(self.degraded(group)),
            Err(GroupFailure::Conflict) => {
                Staged::Ready(self.refuse_all(group, &kept_conflicting()))
            }
        }
    }

    fn try_commit(&self, group: &[Change]) -> Result<Staged, GroupFailure> {
        let rolled_back = |e: &StoreError| {
            log::error!(
                "store write failed; group of {} mutation(s) rolled back: {e}",
                group.len()
            );
        };
        let mut txn = self.store.write().inspect_err(|e| {
            if !matches!(e, StoreError::Unavailable(_)) {
                log::error!(
                    "cannot open a write transaction for {} request(s): {e}",
                    group.len()
                );
            }
        })?;
        // Journalled reads ride on this durable commit, ahead of the group's own records.
        let journalled = self.take_journal(txn.as_mut()).inspect_err(rolled_back)?;
        let give_back = |batches: Vec<JournalBatch>| {
            if let Some(journal) = self.journal() {
                journal.restore(batches);
            }
        };
        let mut answers = Vec::with_capacity(group.len());
        // The group's records follow each other in this transaction: the chain's end is read once.
        let mut tail = ChainTail::default();
        for change in group {
            match self.run(txn.as_mut(), &mut tail, change) {
                Ok(response) => answers.push(Some(response)),
                Err(e) => {
                    // The transaction may hold part of that request's writes: abandon the group.
                    rolled_back(&e);
                    drop(txn);
                    give_back(journalled);
                    return Err(e.into());
                }
            }
        }
        // Counts committed changes for "changed since the last backup"; failure fails the group
        // like any store write would. Only groups that change keys count (reads pass through
        // here when the audit log is on). A cluster keeps no counter: one shared key written by
        // every group would make every two concurrent groups of different nodes conflict.
        let counts =
            !self.store.replicated() && group.iter().any(|change| change.request.changes_keys());
        if counts && let Err(e) = crate::store::change_sequence::bump(txn.as_mut()) {
            rolled_back(&e);
            drop(txn);
            give_back(journalled);
            return Err(e.into());
        }
        match txn.commit_pipelined() {
            Ok(pending) => {
                log::debug!("committed a group of {} mutation(s)", group.len());
                Ok(Staged::Flushing {
                    answers,
                    pending,
                    journalled,
                })
            }
            Err(e) => {
                give_back(journalled);
                if !matches!(e, StoreError::Conflict(_)) {
                    log::error!(
                        "commit of {} mutation(s) failed, all are answered with a failure: {e}",
                        group.len()
                    );
                }
                Err(e.into())
            }
        }
    }

    /// Takes the journalled reads and appends their records to `txn`. If taking fails (a new
    /// journal file cannot be created) they stay in the journal for the next fold.
    fn take_journal(&self, txn: &mut dyn WriteView) -> Result<Vec<JournalBatch>, StoreError> {
        let (Some(audit), Some(journal)) = (&self.audit, self.journal()) else {
            return Ok(Vec::new());
        };
        let batches = match journal.take() {
            Ok(batches) => batches,
            Err(e) => {
                log::warn!("read journal: {e}; its records are folded later");
                return Ok(Vec::new());
            }
        };
        let effects = super::fold_effects(self.store.as_ref());
        let folded = batches
            .iter()
            .try_for_each(|batch| batch.fold(&mut *txn, audit, effects));
        match folded {
            Ok(()) => Ok(batches),
            Err(e) => {
                journal.restore(batches);
                Err(e.into())
            }
        }
    }

    /// Runs one request in the group's transaction and writes its audit records there. A
    /// panic in the engine is an error like any other: the caller abandons the transaction.
    fn run(
        &self,
        txn: &mut dyn WriteView,
        tail: &mut ChainTail,
        change: &Change,
    ) -> Result<Response, StoreError> {
        guarded("executing a request; its group is rolled back", || {
            let response = self.engine.write(&change.request, &mut *txn)?;
            // Reads come through here too: their record commits before they are answered.
            // Only the attempt that commits leaves records (a conflicting one is dropped).
            self.record(&mut *txn, tail, change, response.outcomes())?;
            Ok(response)
        })
        .unwrap_or_else(|| Err(StoreError::Io("the engine panicked".into())))
    }

    /// Full-disk mode: the store runs on the space it kept in reserve. Reads are answered
    /// (their audit records need that space); changes are refused with a clear error, and each
    /// refusal is recorded in the same transaction. If even that cannot commit, every request
    /// is refused.
    fn reads_only(&self, group: &[Change]) -> Vec<Answer> {
        let full = StoreError::Full("changes are refused until disk space is freed".into());
        let answered = (|| -> Result<Vec<Answer>, StoreError> {
            let mut txn = self.store.write()?;
            let mut tail = ChainTail::default();
            let mut answers = Vec::with_capacity(group.len());
            let mut refused = 0;
            for change in group {
                if change.request.changes_keys() {
                    refused += 1;
                    let refusal = self.refusal(change, Refusal::Store(&full));
                    if let Some(response) = &refusal {
                        self.record(txn.as_mut(), &mut tail, change, response.outcomes())?;
                    }
                    answers.push(refusal);
                } else {
                    answers.push(Some(self.run(txn.as_mut(), &mut tail, change)?));
                }
            }
            txn.commit()?;
            if refused > 0 {
                log::warn!("refused {refused} change request(s): the disk is full");
            }
            Ok(answers)
        })();
        answered.unwrap_or_else(|e| {
            log::error!(
                "cannot commit the reads of a group of {} on a full disk: {e}",
                group.len()
            );
            self.refuse_all(group, &e)
        })
    }

    /// Degraded mode: requests that only read (Get included, without clearing Fresh) are
    /// answered from a read view of the local member; changes are refused with a clear error.
    /// With the audit log on, every answer and refusal is first recorded in this node's local
    /// log (a cluster node keeps recording without quorum); if that cannot commit, every
    /// request of the group is refused, as anywhere else: nothing is answered without its
    /// record.
    fn degraded(&self, group: &[Change]) -> Vec<Answer> {
        let view = self.store.read();
        let mut refused = 0;
        let answers: Vec<Answer> = group
            .iter()
            .map(|change| {
                let read = view.as_ref().ok().and_then(|view| {
                    guarded("answering a request from a read view", || {
                        self.engine.degraded_read(&change.request, view.as_ref())
                    })
                    .flatten()
                });
                read.or_else(|| {
                    refused += 1;
                    self.refusal(change, Refusal::Unavailable)
                })
            })
            .collect();
        drop(view);
        if refused > 0 {
            log::warn!("refused {refused} change request(s): the cluster has no quorum (degraded)");
        }
        if self.audit.is_none() {
            return answers;
        }
        match self.record_locally(group, &answers) {
            Ok(()) => answers,
            Err(e) => {
                log::error!(
                    "cannot record a group of {} in the audit log without quorum; all are \
                     answered with a failure: {e}",
                    group.len()
                );
                let cause =
                    StoreError::Io(format!("the audit log could not be written: {e}").into());
                group
                    .iter()
                    .map(|change| self.refusal(change, Refusal::Store(&cause)))
                    .collect()
            }
        }
    }

    /// The degraded group's records, in this node's local audit log.
    fn record_locally(&self, group: &[Change], answers: &[Answer]) -> Result<(), StoreError> {
        let Some(mut txn) = self.store.audit_only_write()? else {
            return Err(StoreError::Unavailable(
                "this store keeps no audit log apart from the shared state".into(),
            ));
        };
        let mut tail = ChainTail::default();
        for (change, answer) in group.iter().zip(answers) {
            match answer {
                Some(response) => {
                    self.record(txn.as_mut(), &mut tail, change, response.outcomes())?
                }
                None => self.record(txn.as_mut(), &mut tail, change, &failed(&change.request))?,
            }
        }
        txn.commit()
    }

    /// The refusal of one change (`None` only if building it panicked).
    fn refusal(&self, change: &Change, why: Refusal<'_>) -> Answer {
        guarded("refusing a request", || {
            self.engine.refuse(&change.request, why)
        })
    }

    /// Every request of a group that could not commit is refused, and the refusals are
    /// recorded in a transaction of their own, so a failed attempt leaves a trace (best
    /// effort: the store may be what failed).
    fn refuse_all(&self, group: &[Change], cause: &StoreError) -> Vec<Answer> {
        let answers: Vec<Answer> = group
            .iter()
            .map(|change| self.refusal(change, Refusal::Store(cause)))
            .collect();
        if self.audit.is_some() {
            // A cluster node whose etcd refuses even to start a transaction still has its
            // local log.
            let txn = match self.store.write() {
                Ok(txn) => Ok(txn),
                Err(e) => match self.store.audit_only_write() {
                    Ok(Some(txn)) => Ok(txn),
                    Ok(None) => Err(e),
                    Err(local) => Err(local),
                },
            };
            let recorded = txn.and_then(|mut txn| {
                let mut tail = ChainTail::default();
                for change in group {
                    self.record(txn.as_mut(), &mut tail, change, &failed(&change.request))?;
                }
                txn.commit()
            });
            if let Err(e) = recorded {
                log::error!("cannot record the failed group in the audit log either: {e}");
            }
        }
        answers
    }

    /// One audit record per batch item, in `txn`, after `tail` (the transaction's chain end).
    fn record(
        &self,
        txn: &mut dyn WriteView,
        tail: &mut ChainTail,
        change: &Change,
        outcomes: &[ItemOutcome],
    ) -> Result<(), StoreError> {
        let Some(audit) = &self.audit else {
            return Ok(());
        };
        let time_ms = audit::now_ms();
        for outcome in outcomes {
            let actor = client_actor(&change.request, change.peer);
            tail.append(txn, audit, actor, audit_event(outcome), time_ms)?;
        }
        Ok(())
    }

    /// Folds the journalled reads in a commit of their own (no group came to carry them).
    pub fn fold_journal(&self) {
        let (Some(audit), Some(journal)) = (&self.audit, self.journal()) else {
            return;
        };
        if !journal.has_pending() {
            return;
        }
        match journal.fold_now(
            self.store.as_ref(),
            audit,
            super::fold_effects(self.store.as_ref()),
        ) {
            Ok(count) => log::debug!("folded {count} journalled read record(s)"),
            Err(e) => log::error!("cannot fold the read journal into the audit log: {e}"),
        }
    }

    /// At shutdown, once nothing more is answered: the last fold, then the journal's file goes
    /// when everything in it is folded.
    pub fn close_journal(&self) {
        self.fold_journal();
        if let Some(journal) = self.journal() {
            journal.close();
        }
    }

    /// Continuous retention (`[audit] retain_days`): one bounded bite of records past the
    /// retention goes, behind a checkpoint, in a commit of its own.
    pub fn prune_bite(&self) {
        let Some(audit) = &self.audit else { return };
        if audit.retain_days.is_none() {
            return;
        }
        let Ok(key) = audit.key() else { return };
        // A cluster node's log is local: prune it without touching etcd.
        let txn = match self.store.audit_only_write() {
            Ok(Some(txn)) => Ok(txn),
            Ok(None) => self.store.write(),
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

    /// Writes the audit chain head to the system log, so a truncated log can be detected later
    /// by comparing with a copy of these lines kept elsewhere.
    pub fn log_head(&self) {
        if self.audit.is_none() {
            return;
        }
        match self.store.read().map(|view| audit::head(view.as_ref())) {
            Ok(Ok(Some((seq, mac)))) => {
                log::info!(target: "keyward::audit", "audit chain head: seq {seq} mac {mac}")
            }
            Ok(Ok(None)) => log::info!(target: "keyward::audit", "audit chain head: empty log"),
            Ok(Err(e)) => log::error!("cannot read the audit chain head: {e}"),
            Err(e) => log::error!("cannot read the audit chain head: {e}"),
        }
    }
}

/// The outcomes of a request that failed without a response: every item, General Failure.
fn failed(request: &ParsedRequest) -> Vec<ItemOutcome> {
    request
        .message
        .items
        .iter()
        .map(|item| ItemOutcome {
            operation: item.operation,
            uids: super::request_uids(&item.payload),
            status: ResultStatus::OperationFailed,
            reason: Some(crate::kmip::enums::ResultReason::GeneralFailure),
        })
        .collect()
}

/// Runs a group's `attempt` again while it conflicts with a concurrent update (`rival` names
/// with whom, for the log), at most [`CONFLICT_RETRIES`] times, pausing before each retry
/// ([`conflict_backoff`]); any other outcome is returned at once. `Err(GroupFailure::Conflict)`
/// only when the last retry conflicted too (logged here): every request is then refused with
/// [`kept_conflicting`]. The one retry policy of both ways a group commits (`stage` here,
/// `commit_shared_first` in `pipeline/shared_first.rs`).
fn retry_conflicts<T>(
    group_len: usize,
    rival: &str,
    mut attempt: impl FnMut() -> Result<T, GroupFailure>,
) -> Result<T, GroupFailure> {
    for retry in 0..CONFLICT_RETRIES {
        match attempt() {
            Err(GroupFailure::Conflict) => {
                log::debug!(
                    "group of {group_len} mutation(s) conflicted with {rival}; running it again"
                );
                conflict_backoff(retry);
            }
            outcome => return outcome,
        }
    }
    let last = attempt();
    if matches!(last, Err(GroupFailure::Conflict)) {
        log::error!(
            "group of {group_len} mutation(s) still conflicted after {CONFLICT_RETRIES} retries; \
             all are answered with a failure"
        );
    }
    last
}

/// Why every request of a group that kept conflicting is refused.
fn kept_conflicting() -> StoreError {
    StoreError::Io("concurrent updates kept conflicting".into())
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

/// Who sent a request, as the audit log names a client.
pub fn client_actor(request: &ParsedRequest, peer: SocketAddr) -> Actor {
    let client = request.client();
    Actor::Client {
        owner: client.owner.clone(),
        fingerprint: hex::encode(client.fingerprint),
        peer: peer.to_string(),
    }
}

/// The audit event of one batch item's outcome.
pub fn audit_event(outcome: &ItemOutcome) -> AuditEvent {
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
