//! A cluster node's group commit: the shared state first, this node's audit records after
//! (issue 21, point 4: several groups in flight against etcd).
//!
//! Why apart from `pipeline.rs`: there a group's changes and its records commit in one
//! transaction, right for one database. A cluster node keeps them in two stores (etcd and its
//! local redb, `store/node.rs`), and the local one has a single writer: held open while the
//! group's etcd transaction waits for its quorum, it kept every other group of the node waiting
//! too, one group in flight. Here a group runs on an etcd transaction alone and commits it
//! (revision-guarded: when a guard fails nothing is written, and the group runs again on a
//! fresh read; nothing is answered before its transaction committed); only then are its
//! records (and the journalled reads) written in a short local transaction. Several committer
//! workers (`server/cluster_committer.rs`) thus keep several groups in flight against etcd,
//! while the local commits follow one another.
//!
//! The order is the one `store/node.rs` states: etcd first, the local record after. If the
//! local commit fails after etcd committed, the change exists, the client is answered with a
//! failure, and the local store stops taking changes (fail-stop), as before.

use super::{Answer, Change, GroupFailure, Pipeline, guarded, kept_conflicting, retry_conflicts};
use crate::audit::ChainTail;
use crate::engine::Response;
use crate::store::StoreError;

/// What running a group on the shared store alone gave.
enum SharedRun {
    /// Committed to etcd: the responses, to be recorded.
    Committed(Vec<Response>),
    /// The store keeps state and audit log together: the ordinary path applies.
    NotSplit,
}

impl Pipeline {
    /// Runs a group and commits it, shared state first, then its records; one answer per
    /// change, in order. Blocks for the etcd round trips: call it on a committer worker.
    pub fn commit_shared_first(&self, group: &[Change]) -> Vec<Answer> {
        if self.store.space_low() {
            return self.reads_only(group);
        }
        let run = retry_conflicts(group.len(), "a concurrent one", || self.run_shared(group));
        match run {
            Ok(SharedRun::Committed(responses)) => self.record_after(group, responses),
            Ok(SharedRun::NotSplit) => self.commit(group),
            Err(GroupFailure::Failed(cause)) => self.refuse_all(group, &cause),
            Err(GroupFailure::Unavailable) => self.degraded(group),
            Err(GroupFailure::Conflict) => self.refuse_all(group, &kept_conflicting()),
        }
    }

    /// One attempt: every request on one etcd transaction, then its guarded commit.
    fn run_shared(&self, group: &[Change]) -> Result<SharedRun, GroupFailure> {
        let Some(mut txn) = self.store.shared_write()? else {
            return Ok(SharedRun::NotSplit);
        };
        let mut responses = Vec::with_capacity(group.len());
        for change in group {
            let response = guarded("executing a request; its group is rolled back", || {
                self.engine.write(&change.request, txn.as_mut())
            })
            .unwrap_or_else(|| Err(StoreError::Io("the engine panicked".into())));
            match response {
                Ok(response) => responses.push(response),
                Err(e) => {
                    log::error!(
                        "store write failed; group of {} mutation(s) rolled back: {e}",
                        group.len()
                    );
                    return Err(e.into());
                }
            }
        }
        txn.commit().inspect_err(|e| {
            if !matches!(e, StoreError::Conflict(_) | StoreError::Unavailable(_)) {
                log::error!(
                    "commit of {} mutation(s) failed, all are answered with a failure: {e}",
                    group.len()
                );
            }
        })?;
        log::debug!("committed a group of {} mutation(s) to etcd", group.len());
        Ok(SharedRun::Committed(responses))
    }

    /// The committed group's records, with the journalled reads ahead of them, in one local
    /// commit; the answers once it is durable.
    fn record_after(&self, group: &[Change], responses: Vec<Response>) -> Vec<Answer> {
        if self.audit.is_none() {
            return responses.into_iter().map(Some).collect();
        }
        let recorded = (|| -> Result<(), StoreError> {
            let Some(mut txn) = self.store.audit_only_write()? else {
                return Err(StoreError::Io(
                    "this store keeps no audit log apart from the shared state".into(),
                ));
            };
            let journalled = self.take_journal(txn.as_mut())?;
            // The group's records follow each other: the chain's end is read once.
            let mut tail = ChainTail::default();
            let written = group
                .iter()
                .zip(&responses)
                .try_for_each(|(change, response)| {
                    self.record(txn.as_mut(), &mut tail, change, response.outcomes())
                })
                .and_then(|()| txn.commit());
            if let Some(journal) = self.journal() {
                match &written {
                    Ok(()) => journal.committed(journalled),
                    Err(_) => journal.restore(journalled),
                }
            }
            written
        })();
        match recorded {
            Ok(()) => responses.into_iter().map(Some).collect(),
            Err(e) => {
                log::error!(
                    "a group of {} committed to etcd, but this node could not record it in its \
                     audit log: {e}; its requests are answered with a failure",
                    group.len()
                );
                self.refuse_all(group, &e)
            }
        }
    }
}
