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
use std::sync::mpsc::{Receiver, Sender, channel};
use std::thread::JoinHandle;

use mio::{Token, Waker};

use super::Services;
use crate::engine::{Engine, ParsedRequest};
use crate::store::StoreError;

pub(super) struct WriteJob {
    pub token: Token,
    pub conn_id: u64,
    pub request: ParsedRequest,
}

pub(super) struct WriteDone {
    pub token: Token,
    pub conn_id: u64,
    /// `None` when the engine could not even produce a failure response (it panicked):
    /// the loop then closes the connection.
    pub response: Option<Vec<u8>>,
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
    while let Ok(mut group) = jobs.recv() {
        while let Ok(more) = jobs.try_recv() {
            group.extend(more);
        }
        let results = commit_group(services, &group);
        for (job, response) in group.into_iter().zip(results) {
            if done
                .send(WriteDone {
                    token: job.token,
                    conn_id: job.conn_id,
                    response,
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
}

fn commit_group(services: &Services, group: &[WriteJob]) -> Vec<Option<Vec<u8>>> {
    let engine = &services.engine;
    let mut txn = match services.store.write() {
        Ok(txn) => txn,
        Err(e) => {
            log::error!(
                "cannot open a write transaction for {} request(s): {e}",
                group.len()
            );
            return failures(engine, group, &e);
        }
    };
    let mut responses = Vec::with_capacity(group.len());
    for job in group {
        match catch_unwind(AssertUnwindSafe(|| {
            engine.execute_write(&job.request, txn.as_mut())
        })) {
            Ok(Ok(response)) => responses.push(Some(response)),
            Ok(Err(e)) => {
                // The transaction may hold part of that request's writes: abandon the group.
                log::error!(
                    "store write failed; group of {} mutation(s) rolled back: {e}",
                    group.len()
                );
                drop(txn);
                return failures(engine, group, &e);
            }
            Err(_) => {
                log::error!(
                    "engine panicked while executing a mutation; group of {} rolled back",
                    group.len()
                );
                drop(txn);
                let panicked = StoreError::Io("the engine panicked".into());
                return failures(engine, group, &panicked);
            }
        }
    }
    match txn.commit() {
        Ok(()) => {
            log::debug!("committed a group of {} mutation(s)", group.len());
            responses
        }
        Err(e) => {
            log::error!(
                "commit of {} mutation(s) failed, all are answered with a failure: {e}",
                group.len()
            );
            failures(engine, group, &e)
        }
    }
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
