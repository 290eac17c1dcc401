//! What becomes of one KMIP request once its session hands it over: answered at once (a
//! refusal, a read on a snapshot, a read journalled before its answer), or sent to the
//! committer, through the key generator first when it draws a slow key pair.
//!
//! Why apart from the loop: the decision is about requests, the engine and the audit log; the
//! loop only needs its verdict ([`Routed`]) and hands changes on with
//! [`CommitQueue::submit`], once for every path that leads to the committer.

use std::net::SocketAddr;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::mpsc::Sender;

use mio::Token;

use super::Services;
use super::pending_clears::PendingClears;
use super::read_audit::{self, Executed};
use super::write_jobs::WriteJob;
use crate::audit::read_journal::JournalEntry;
use crate::engine::{Client, ParsedRequest, Prepared, Refusal, Response};

/// What the loop does with one request.
pub(super) enum Routed {
    /// Send this now.
    Answer(Response),
    /// Send this once these records of it are in the read journal; should they not get
    /// there, the request goes to the committer instead (`read_audit.rs`).
    Journal(ParsedRequest, Response, Vec<JournalEntry>),
    /// Hand it to the committer (or the key generator first); its answer comes back later.
    ToCommit(ParsedRequest),
    /// A cluster node's read: hand it to the reader threads (`cluster_reader.rs`); its answer
    /// comes back later, through the same channel as the committer's.
    ToRead(ParsedRequest),
    /// The engine panicked: answer nothing more on this connection.
    Close,
}

/// Has the engine decode a request and check `client`'s credential (one call: nothing comes
/// back here to be authenticated), then runs it at once when it may be: a refusal,
/// a read without the audit log on a fresh snapshot, or a read journalled before its answer
/// (`read_audit.rs`; a first Get too, its clear of Fresh journalled with it: `pending` holds
/// the clears not folded yet). Everything else, reads whose record must commit first
/// included, goes to the committer.
pub(super) fn route(
    services: &Services,
    client: &mut Client,
    message: &[u8],
    peer: SocketAddr,
    pending: &PendingClears,
) -> Routed {
    let engine = &services.engine;
    let prepared = catch_unwind(AssertUnwindSafe(|| engine.prepare_for(client, message)));
    let journalled = services.audit.as_ref().is_some_and(|a| a.reads.is_some());
    // On a cluster node every read is etcd round trips: never on the loop, and not behind the
    // committer's write groups either, unless its record must commit durably.
    let to_readers = services.store.replicated() && (services.audit.is_none() || journalled);
    match prepared {
        Ok(Prepared::Respond(response)) => Routed::Answer(response),
        Ok(Prepared::Read(request) | Prepared::Write(request))
            if to_readers && !request.changes_keys() =>
        {
            Routed::ToRead(request)
        }
        // A cluster node's changes: straight to the committer. Trying them on a snapshot
        // first, as below, would block the loop on a linearizable read from etcd.
        Ok(Prepared::Read(request) | Prepared::Write(request)) if services.store.replicated() => {
            Routed::ToCommit(request)
        }
        // With the audit log on, reads go through the committer too: their record must commit
        // before the response is released.
        Ok(Prepared::Read(request)) if services.audit.is_none() => {
            run_read(services, &request).map_or(Routed::Close, Routed::Answer)
        }
        // With the read journal, a read's record is written before its answer without waiting
        // for an fsync; a Write that turns out to change nothing is answered the same way.
        Ok(Prepared::Read(request) | Prepared::Write(request)) if journalled => {
            let waiting = |uid: &str| pending.contains(uid);
            match read_audit::run_with_journal(services, &request, peer, &waiting) {
                Executed::Answered(Some(response)) => Routed::Answer(response),
                Executed::Answered(None) => Routed::Close,
                Executed::Unwritten(response, records) => {
                    Routed::Journal(request, response, records)
                }
                Executed::ThroughCommitter => Routed::ToCommit(request),
            }
        }
        Ok(Prepared::Read(request) | Prepared::Write(request)) => Routed::ToCommit(request),
        Err(_) => {
            log::error!("client {peer}: engine panicked on a request; closing the connection");
            Routed::Close
        }
    }
}

/// A read-only request on a fresh snapshot, in the loop thread.
fn run_read(services: &Services, request: &ParsedRequest) -> Option<Response> {
    let engine = &services.engine;
    let result = catch_unwind(AssertUnwindSafe(|| match services.store.read() {
        Ok(view) => engine.read(request, view.as_ref()),
        Err(e) => {
            log::error!("cannot open a read snapshot: {e}");
            engine.refuse(request, Refusal::Store(&e))
        }
    }));
    match result {
        Ok(response) => Some(response),
        Err(_) => {
            log::error!("engine panicked on a read-only request");
            None
        }
    }
}

/// Where changes wait for the committer: this loop turn's group, the committer's and the key
/// generator's channels, and how many changes are out and not yet answered. A cluster node's
/// reads wait here too, for its reader threads, and count as out like changes.
pub(super) struct CommitQueue {
    /// Changes that became ready during this loop turn: one group, one commit.
    group: Vec<WriteJob>,
    /// A cluster node's reads that became ready during this loop turn: one read index.
    reads: Vec<WriteJob>,
    /// The reader threads of a cluster node (`cluster_reader.rs`); `None` elsewhere.
    readers: Option<Sender<Vec<WriteJob>>>,
    /// Changes sent on and not yet answered.
    in_flight: usize,
    committer: Option<Sender<Vec<WriteJob>>>,
    /// Requests that draw a slow key pair go here first (see `keygen.rs`).
    keygen: Option<Sender<WriteJob>>,
}

impl CommitQueue {
    pub(super) fn new(
        committer: Sender<Vec<WriteJob>>,
        keygen: Sender<WriteJob>,
        readers: Option<Sender<Vec<WriteJob>>>,
    ) -> CommitQueue {
        CommitQueue {
            group: Vec::new(),
            reads: Vec::new(),
            readers,
            in_flight: 0,
            committer: Some(committer),
            keygen: Some(keygen),
        }
    }

    /// Queues a change for this turn's group commit, or, when it asks for a slow key pair,
    /// hands it to the key generator thread first (which passes it on to the committer
    /// itself, so it counts as in flight from now on). The one way to the committer.
    pub(super) fn submit(&mut self, job: WriteJob) {
        match &self.keygen {
            Some(keygen) if job.change.request.needs_slow_generation() => {
                match keygen.send(job) {
                    Ok(()) => self.in_flight += 1,
                    // Only if the generator died: the operation draws inline instead.
                    Err(std::sync::mpsc::SendError(job)) => self.group.push(job),
                }
            }
            _ => self.group.push(job),
        }
    }

    /// Queues a cluster node's read for this turn's batch to the readers (to the committer
    /// when there are no readers).
    pub(super) fn submit_read(&mut self, job: WriteJob) {
        match self.readers {
            Some(_) => self.reads.push(job),
            None => self.group.push(job),
        }
    }

    /// Sends this turn's reads to the readers and its group to the committer. Returns the
    /// connections whose requests can no longer be answered (only if the committer died).
    pub(super) fn send_group(&mut self) -> Vec<Token> {
        if !self.reads.is_empty() {
            let reads = std::mem::take(&mut self.reads);
            let count = reads.len();
            match self.readers.as_ref().map(|readers| readers.send(reads)) {
                Some(Ok(())) => self.in_flight += count,
                // Only if the readers died: the committer answers them on its path.
                Some(Err(std::sync::mpsc::SendError(reads))) => {
                    log::error!("the reader threads are gone; reads go to the committer");
                    self.readers = None;
                    self.group.extend(reads);
                }
                None => {}
            }
        }
        if self.group.is_empty() {
            return Vec::new();
        }
        let group = std::mem::take(&mut self.group);
        let count = group.len();
        let Some(committer) = self.committer.as_ref() else {
            return Vec::new();
        };
        match committer.send(group) {
            Ok(()) => {
                self.in_flight += count;
                Vec::new()
            }
            Err(std::sync::mpsc::SendError(group)) => {
                log::error!(
                    "the committer thread is gone; {count} mutation(s) unanswered, closing their connections"
                );
                group.into_iter().map(|job| job.token).collect()
            }
        }
    }

    /// Drops the changes of these connections that were not sent on yet.
    pub(super) fn forget(&mut self, tokens: &[Token]) {
        self.group.retain(|job| !tokens.contains(&job.token));
        self.reads.retain(|job| !tokens.contains(&job.token));
    }

    /// One change came back from the committer.
    pub(super) fn answered(&mut self) {
        self.in_flight -= 1;
    }

    /// How many changes (and a cluster node's reads) this turn has gathered so far.
    pub(super) fn gathered(&self) -> usize {
        self.group.len() + self.reads.len()
    }

    /// No change is out.
    pub(super) fn is_idle(&self) -> bool {
        self.in_flight == 0
    }

    /// Hangs up on the key generator (it finishes what it holds, then ends).
    pub(super) fn close_keygen(&mut self) {
        self.keygen = None;
    }

    /// Hangs up on the readers (they answer or pass on what they hold, then end).
    pub(super) fn close_readers(&mut self) {
        self.readers = None;
    }

    /// Hangs up on the committer (it finishes every group already sent, then ends).
    pub(super) fn close_committer(&mut self) {
        self.committer = None;
    }
}
