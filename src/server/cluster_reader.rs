//! The cluster reader threads ("keyward-reader"): answer a cluster node's reads off both the
//! event loop and the committer (issue 21, point 4).
//!
//! Why: on etcd every read view starts from a linearizable read (a round trip through the
//! leader) and every key read is an HTTP request. Run on the loop they would stall every
//! connection; run on the committer (as every read with the audit log on used to) they queued
//! behind write groups and their quorum transactions. Here the loop sends, once per turn, every
//! read that became ready; a reader takes every batch waiting, opens ONE read view for all of
//! them and answers each on it, journalling its audit records (`read_audit.rs`) before the
//! answer leaves, as the single appliance's loop does.
//!
//! Linearizable: the view is opened after the batch was received, and its first read (a
//! linearizable read of every object the batch names, in one round trip:
//! `store/etcd/first_read.rs`) is sent later still, so after every read of it arrived. A read
//! that turns out to change something (the first Get of a Fresh key) or whose record cannot
//! be journalled is passed on to the committer, which answers it on its path; the connection
//! waits for it as for any change, so answers stay in order.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;

use mio::Waker;

use super::Services;
use super::read_audit::{AuditedRead, run_on_view};
use super::write_jobs::{WriteDone, WriteJob};

/// Readers per node: while one waits for etcd, the other takes the next batch.
const READERS: usize = 2;

pub(super) struct Readers {
    pub jobs: Sender<Vec<WriteJob>>,
    pub threads: Vec<JoinHandle<()>>,
}

/// Where a reader sends what it answers and what it passes on.
struct Outlets {
    committer: Sender<Vec<WriteJob>>,
    done: Sender<WriteDone>,
    waker: Arc<Waker>,
}

/// Starts the readers; they end when `jobs` is dropped, after answering (or passing on) every
/// read already sent.
pub(super) fn spawn(
    services: &Services,
    committer: Sender<Vec<WriteJob>>,
    done: Sender<WriteDone>,
    waker: Arc<Waker>,
) -> std::io::Result<Readers> {
    let (jobs, received) = channel::<Vec<WriteJob>>();
    let received = Arc::new(Mutex::new(received));
    let mut threads = Vec::with_capacity(READERS);
    for _ in 0..READERS {
        let (services, received) = (services.clone(), received.clone());
        let outlets = Outlets {
            committer: committer.clone(),
            done: done.clone(),
            waker: waker.clone(),
        };
        threads.push(
            std::thread::Builder::new()
                .name("keyward-reader".into())
                .spawn(move || run(&services, &received, &outlets))?,
        );
    }
    Ok(Readers { jobs, threads })
}

/// Every batch waiting, or `None` once the loop hung up.
fn next_batch(received: &Mutex<Receiver<Vec<WriteJob>>>) -> Option<Vec<WriteJob>> {
    let received = received.lock().unwrap_or_else(PoisonError::into_inner);
    let mut batch = received.recv().ok()?;
    while let Ok(more) = received.try_recv() {
        batch.extend(more);
    }
    Some(batch)
}

fn run(services: &Services, received: &Mutex<Receiver<Vec<WriteJob>>>, outlets: &Outlets) {
    while let Some(batch) = next_batch(received) {
        let mut passed_on = Vec::new();
        let mut answered = 0usize;
        // Opened now, after every read of the batch arrived: its first read, sent later still,
        // is the linearizable read for all of them, and fetches every object they name.
        let objects: Vec<String> = batch
            .iter()
            .flat_map(|job| job.change.request.named_objects())
            .collect();
        let view = catch_unwind(AssertUnwindSafe(|| services.store.read_expecting(&objects)));
        for job in batch {
            let outcome = match &view {
                Ok(Ok(view)) => run_on_view(
                    services,
                    view.as_ref(),
                    &job.change.request,
                    job.change.peer,
                ),
                // No view (etcd unreachable, a panic): the committer's path answers it, with
                // degraded mode's read view or a refusal, and records it.
                _ => AuditedRead::ThroughCommitter,
            };
            match outcome {
                AuditedRead::Answered(response) => {
                    answered += 1;
                    let finished = WriteDone {
                        token: job.token,
                        conn_id: job.conn_id,
                        response,
                        started: job.started,
                    };
                    if outlets.done.send(finished).is_err() {
                        return;
                    }
                }
                AuditedRead::ThroughCommitter => passed_on.push(job),
            }
        }
        drop(view);
        if !passed_on.is_empty() && outlets.committer.send(passed_on).is_err() {
            log::error!("the committer thread is gone; reads passed on to it stay unanswered");
            return;
        }
        if answered > 0
            && let Err(e) = outlets.waker.wake()
        {
            log::error!("a reader cannot wake the event loop: {e}");
        }
    }
}
