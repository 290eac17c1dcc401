//! A cluster node's committer: several groups in flight against etcd (issue 21, point 4).
//!
//! Why not the single appliance's committer (`committer.rs`): there the limit is one disk
//! flush, which group commit and the releaser's pipelining share out. On a cluster node a
//! group waits mostly for etcd (a linearizable read, the key reads, the quorum transaction),
//! and one group at a time left etcd idle between groups and every request of the next turn
//! waiting behind them. Here the committer thread only schedules (audit head, retention, the
//! read journal's timed folds) and hands each turn's group to a pool of workers; a free worker
//! takes every group waiting as one and commits it with
//! [`Pipeline::commit_shared_first`](crate::engine::pipeline::Pipeline::commit_shared_first):
//! the etcd transaction, then the node's records. A group is answered once both committed;
//! groups of different workers are answered in the order they finish, which keeps every
//! connection's order (a connection has one request out at a time).

use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use mio::Waker;

use super::Services;
use super::write_jobs::{WriteDone, WriteJob, deliver, next_group, pipeline};
use crate::audit;
use crate::engine::pipeline::Pipeline;

/// Groups in flight against etcd at most. Beyond a few, groups only grow smaller: the
/// connections of one node have few requests out at once.
const WORKERS: usize = 4;

/// Runs until the loop hangs up, then lets the workers finish every group already taken.
pub(super) fn run(
    services: &Services,
    jobs: &Receiver<Vec<WriteJob>>,
    done: &Sender<WriteDone>,
    waker: &Arc<Waker>,
) {
    let pipeline = pipeline(services);
    let (work, taken) = channel::<Vec<WriteJob>>();
    let taken = Arc::new(Mutex::new(taken));
    let mut workers = Vec::with_capacity(WORKERS);
    for _ in 0..WORKERS {
        let (services, taken) = (services.clone(), taken.clone());
        let (done, waker) = (done.clone(), waker.clone());
        let worker = std::thread::Builder::new()
            .name("keyward-etcd-commit".into())
            .spawn(move || work_on(&services, &taken, &done, &waker));
        match worker {
            Ok(worker) => workers.push(worker),
            Err(e) => log::error!("cannot start a committer worker: {e}"),
        }
    }
    if workers.is_empty() {
        return;
    }
    let mut head_logged = Instant::now();
    let mut pruned = Instant::now();
    let mut folded = Instant::now();
    while let Some(group) = next_group(services, &pipeline, jobs) {
        // Groups fold the journalled reads when they commit; refused ones (no quorum) do not,
        // and a steady stream of them would keep `next_group` from ever timing out.
        if let Some(audit) = &services.audit
            && folded.elapsed() >= audit.read_sync_interval
        {
            pipeline.fold_journal();
            folded = Instant::now();
        }
        if let Some(audit) = &services.audit
            && head_logged.elapsed() >= audit.head_log_interval
        {
            pipeline.log_head();
            head_logged = Instant::now();
        }
        if pruned.elapsed() >= audit::prune::RUNNING_INTERVAL {
            pruned = Instant::now();
            pipeline.prune_bite();
        }
        if work.send(group).is_err() {
            break;
        }
    }
    drop(work);
    for worker in workers {
        if worker.join().is_err() {
            log::error!("a committer worker panicked");
        }
    }
}

/// Every group waiting, as one; `None` once the committer hung up.
fn take(taken: &Mutex<Receiver<Vec<WriteJob>>>) -> Option<Vec<WriteJob>> {
    let taken = taken.lock().unwrap_or_else(PoisonError::into_inner);
    let mut group = taken.recv().ok()?;
    while let Ok(more) = taken.try_recv() {
        group.extend(more);
    }
    Some(group)
}

fn work_on(
    services: &Services,
    taken: &Mutex<Receiver<Vec<WriteJob>>>,
    done: &Sender<WriteDone>,
    waker: &Waker,
) {
    let pipeline: Pipeline = pipeline(services);
    while let Some(group) = take(taken) {
        services.metrics.batch(group.len());
        let (routes, changes): (Vec<_>, Vec<_>) = group
            .into_iter()
            .map(|job| ((job.token, job.conn_id, job.started), job.change))
            .unzip();
        let answers = pipeline.commit_shared_first(&changes);
        if !deliver(routes, answers, done, waker, "a committer worker") {
            return;
        }
    }
}
