//! The key-pair generator thread ("keyward-keygen"): draws slow key pairs before a request
//! joins a group commit.
//!
//! Why a thread of its own: a group commit runs every change of a loop turn in one store
//! transaction on the committer thread, and with the audit log on every Get goes through it
//! too. An RSA-4096 pair takes a second or more to draw; drawn there, it would hold every
//! other client's requests for that long. The loop therefore sends a request that asks for
//! an RSA pair here first ([`crate::engine::ParsedRequest::needs_slow_generation`]); this
//! thread draws the pairs into the request and passes it on to the committer as a group of
//! one. Requests that need no drawing never come here, and the connection that sent one waits
//! for its answer as for any other change, so answers stay in order.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::thread::JoinHandle;

use std::sync::Arc;

use super::write_jobs::WriteJob;
use crate::store::Store;

pub(super) struct Keygen {
    pub jobs: Sender<WriteJob>,
    pub thread: JoinHandle<()>,
}

/// Starts the thread; it passes every job on to `committer` and ends when `jobs` is dropped.
/// `store` is read (never written) for the size of the pair a Re-key Key Pair replaces.
pub(super) fn spawn(
    committer: Sender<Vec<WriteJob>>,
    store: Arc<dyn Store>,
) -> std::io::Result<Keygen> {
    let (jobs, received) = channel::<WriteJob>();
    let thread = std::thread::Builder::new()
        .name("keyward-keygen".into())
        .spawn(move || run(&received, &committer, store.as_ref()))?;
    Ok(Keygen { jobs, thread })
}

fn run(received: &Receiver<WriteJob>, committer: &Sender<Vec<WriteJob>>, store: &dyn Store) {
    for mut job in received {
        let drawn = catch_unwind(AssertUnwindSafe(|| {
            // Without a view (a store error) a Re-key Key Pair of RSA draws inline instead.
            let view = store.read().ok();
            job.change.request.pregenerate(view.as_deref());
        }));
        if drawn.is_err() {
            // The operation draws inline instead and answers for itself.
            log::error!("key pair generation panicked; the request draws its pair inline");
        }
        if committer.send(vec![job]).is_err() {
            log::error!("the committer thread is gone; a key pair request stays unanswered");
            return;
        }
    }
}
