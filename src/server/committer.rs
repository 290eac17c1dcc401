//! The committer thread ("keyward-committer"): runs the engine's write pipeline
//! (`engine/pipeline.rs`) on the groups the event loop sends.
//!
//! The event loop sends one group per loop turn (every mutation that became ready in that
//! turn). The committer takes every group waiting in the channel, hands them to the pipeline
//! as one group (one store transaction, one commit), and only then sends the responses back
//! and wakes the loop. While it commits, the loop keeps serving reads and collecting the next
//! group. What a request is answered when its group cannot commit is the pipeline's business;
//! this file only schedules: the read journal's timed folds, retention bites, the chain head.
//!
//! Pipelined: a committed group goes to the releaser thread ("keyward-release"), which waits
//! for its commit's flush to disk and only then sends its answers, groups in order; the
//! committer meanwhile runs the next group (its writes reach the file only after that flush,
//! see `store/redb/deferred_sync.rs`). A small group with nothing in flight is flushed and
//! answered here: the next group would wait for its flush anyway.
//!
//! A cluster node schedules here the same way but commits on a pool of workers instead, several
//! groups in flight against etcd (`cluster_committer.rs`).

use std::sync::Arc;
use std::sync::mpsc::{Receiver, Sender, channel};
use std::thread::JoinHandle;
use std::time::Instant;

use mio::Waker;

use super::Services;
use super::write_jobs::{Route, WriteDone, WriteJob, deliver, next_group, pipeline};
use crate::audit;
use crate::engine::pipeline::{Change, Pipeline, Staged};

/// Below this many requests, a group waits for the previous group's flush before it is run,
/// and takes in everything that arrived meanwhile: with few clients the disk is the limit, and
/// one flush for all of them beats two half-full ones. From this size up, running the group
/// beside the previous flush is the gain (measured: create-get at 8 connections lost a fifth
/// of its rate when every group was run at once; at 64 connections pipelining gained 1.2×).
pub(super) const PIPELINE_MIN_GROUP: usize = 16;

/// A committed group waiting for its flush (on the releaser, or here for a small one): where
/// each answer goes, the requests (for refusals if the flush fails) and the staged answers.
struct Release {
    routes: Vec<Route>,
    changes: Vec<Change>,
    staged: Staged,
}

impl Release {
    /// Waits until the group's commit is durable (timed in `keyward_commit_flush_seconds`),
    /// then sends its answers and wakes the loop; false when the loop is gone.
    fn answer_when_durable(
        self,
        pipeline: &Pipeline,
        metrics: &super::metrics::Metrics,
        done: &Sender<WriteDone>,
        waker: &Waker,
    ) -> bool {
        let started = Instant::now();
        let answers = pipeline.finish(&self.changes, self.staged);
        metrics.flush(started.elapsed());
        deliver(self.routes, answers, done, waker, "committer")
    }
}

pub(super) struct Committer {
    pub jobs: Sender<Vec<WriteJob>>,
    pub done: Receiver<WriteDone>,
    /// Where a cluster node's readers send their answers: the loop takes them with the
    /// committer's (`cluster_reader.rs`).
    pub answers: Sender<WriteDone>,
    pub thread: JoinHandle<()>,
}

pub(super) fn spawn(services: &Services, waker: Arc<Waker>) -> std::io::Result<Committer> {
    let (jobs_tx, jobs_rx) = channel::<Vec<WriteJob>>();
    let (done_tx, done_rx) = channel::<WriteDone>();
    let services = services.clone();
    let answers = done_tx.clone();
    let thread = std::thread::Builder::new()
        .name("keyward-committer".into())
        .spawn(move || run(&services, &jobs_rx, &done_tx, &waker))?;
    Ok(Committer {
        jobs: jobs_tx,
        done: done_rx,
        answers,
        thread,
    })
}

/// Ends when the loop drops its sender, after finishing every group already sent.
fn run(
    services: &Services,
    jobs: &Receiver<Vec<WriteJob>>,
    done: &Sender<WriteDone>,
    waker: &Arc<Waker>,
) {
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
    let pipeline = pipeline(services);
    if services.store.replicated() {
        // A cluster node: several groups in flight against etcd.
        super::cluster_committer::run(services, jobs, done, waker);
        pipeline.close_journal();
        return;
    }
    let (release_tx, release_rx) = channel::<Release>();
    let (flushed_tx, flushed_rx) = channel::<()>();
    let releaser = {
        let (pipeline, done, waker) = (self::pipeline(services), done.clone(), waker.clone());
        let metrics = services.metrics.clone();
        std::thread::Builder::new()
            .name("keyward-release".into())
            .spawn(move || release(&pipeline, &metrics, &release_rx, &done, &waker, &flushed_tx))
    };
    // Groups handed to the releaser whose flush has not been reported back yet.
    let mut in_flight = 0usize;
    let releaser = match releaser {
        Ok(thread) => thread,
        Err(e) => {
            log::error!("cannot start the answer releaser thread: {e}");
            return;
        }
    };
    let mut head_logged = Instant::now();
    let mut pruned = Instant::now();
    while let Some(mut group) = next_group(services, &pipeline, jobs) {
        while let Ok(more) = jobs.try_recv() {
            group.extend(more);
        }
        while in_flight > 0 && flushed_rx.try_recv().is_ok() {
            in_flight -= 1;
        }
        if group.len() < PIPELINE_MIN_GROUP && in_flight > 0 {
            // A small group: wait for the flush in flight, then take every newcomer with it.
            while in_flight > 0 && flushed_rx.recv().is_ok() {
                in_flight -= 1;
            }
            while let Ok(more) = jobs.try_recv() {
                group.extend(more);
            }
        }
        if let Some(audit) = &services.audit
            && head_logged.elapsed() >= audit.head_log_interval
        {
            pipeline.log_head();
            head_logged = Instant::now();
        }
        services.metrics.batch(group.len());
        // Continuous retention: every few seconds while requests arrive, one bounded bite, so
        // the log of an appliance that is never restarted stops growing.
        if pruned.elapsed() >= audit::prune::RUNNING_INTERVAL {
            pruned = Instant::now();
            pipeline.prune_bite();
        }
        let (routes, changes): (Vec<_>, Vec<_>) = group
            .into_iter()
            .map(|job| ((job.token, job.conn_id, job.started), job.change))
            .unzip();
        let staged = pipeline.stage(&changes);
        let release = Release {
            routes,
            changes,
            staged,
        };
        if in_flight == 0 && release.routes.len() < PIPELINE_MIN_GROUP {
            // A small group with nothing in flight: the next group waits for this flush
            // anyway (above), so flushing here and answering costs two thread switches less
            // than handing it to the releaser (its wake-up, then its report back).
            if !release.answer_when_durable(&pipeline, &services.metrics, done, waker) {
                break;
            }
            continue;
        }
        if release_tx.send(release).is_err() {
            break;
        }
        in_flight += 1;
    }
    // Every answer is out (or the loop is gone) before the thread ends.
    drop(release_tx);
    if releaser.join().is_err() {
        log::error!("the answer releaser thread panicked");
    }
    // The loop is gone: make the last reads' records durable before the process exits.
    pipeline.close_journal();
}

/// The releaser: for each group in order, waits until its commit is durable, then sends its
/// answers and wakes the loop. Ends when the committer hangs up, after the last group.
fn release(
    pipeline: &Pipeline,
    metrics: &super::metrics::Metrics,
    groups: &Receiver<Release>,
    done: &Sender<WriteDone>,
    waker: &Waker,
    flushed: &Sender<()>,
) {
    for group in groups {
        if !group.answer_when_durable(pipeline, metrics, done, waker) {
            return;
        }
        // The committer may be holding a small group until this flush is done; it may also
        // be gone already, which is fine.
        let _ = flushed.send(());
    }
}
