//! What the event loop, the key generator and the readers hand the committer, what they get
//! back, and the pieces both committers share (the single appliance's, `committer.rs`, and a
//! cluster node's workers, `cluster_committer.rs`): how a pipeline is built from the services,
//! how the next group is awaited while the read journal's folds stay on time, and how a
//! group's answers go back to the loop.
//!
//! Why a file of its own: the committer starts the cluster's committer on a cluster node, and
//! the cluster's committer needs these pieces; kept in `committer.rs` the two files would
//! import each other.

use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::time::Instant;

use mio::{Token, Waker};

use super::Services;
use crate::engine::Response;
use crate::engine::pipeline::{Answer, Change, Pipeline};

/// A change on its way to the committer, and the connection its answer goes back to.
pub(super) struct WriteJob {
    pub token: Token,
    pub conn_id: u64,
    pub change: Change,
    /// When the loop began on the request, for the latency histogram.
    pub started: Instant,
}

pub(super) struct WriteDone {
    pub token: Token,
    pub conn_id: u64,
    /// `None` when the engine could not even produce a failure response (it panicked):
    /// the loop then closes the connection.
    pub response: Option<Response>,
    pub started: Instant,
}

/// Where a job's answer goes: its connection, and when the loop began on the request.
pub(super) type Route = (Token, u64, Instant);

/// Sends a group's answers, in order, each to the connection of its route, then wakes the loop
/// (`who` names the waking thread in the log line if that fails). `false`: the loop hung up,
/// and the caller stops.
pub(super) fn deliver(
    routes: Vec<Route>,
    answers: Vec<Answer>,
    done: &Sender<WriteDone>,
    waker: &Waker,
    who: &str,
) -> bool {
    for ((token, conn_id, started), response) in routes.into_iter().zip(answers) {
        let finished = WriteDone {
            token,
            conn_id,
            response,
            started,
        };
        if done.send(finished).is_err() {
            return false;
        }
    }
    if let Err(e) = waker.wake() {
        log::error!("{who} cannot wake the event loop: {e}");
    }
    true
}

pub(super) fn pipeline(services: &Services) -> Pipeline {
    Pipeline::new(
        services.engine.clone(),
        services.store.clone(),
        services.audit.clone(),
    )
}

/// Waits for the next group. With the read journal on, waits at most the read sync interval
/// at a time and folds the journalled reads into the audit table whenever it times out, so
/// no read record waits longer than that for a durable commit. `None`: the loop hung up.
pub(super) fn next_group(
    services: &Services,
    pipeline: &Pipeline,
    jobs: &Receiver<Vec<WriteJob>>,
) -> Option<Vec<WriteJob>> {
    let Some(audit) = services.audit.as_ref().filter(|a| a.reads.is_some()) else {
        return jobs.recv().ok();
    };
    loop {
        match jobs.recv_timeout(audit.read_sync_interval) {
            Ok(group) => return Some(group),
            Err(RecvTimeoutError::Disconnected) => return None,
            Err(RecvTimeoutError::Timeout) => pipeline.fold_journal(),
        }
    }
}
