//! The trust service's store work, on a thread of its own so the event loop never waits for it.
//!
//! Why a thread: storing when clients were last seen is a store write transaction, which waits
//! for the committer's writer (redb has one) or, on a cluster node, for an etcd quorum; a cluster
//! node's re-read of the client registry every 2 s is two etcd round trips. On the loop thread
//! either stalled every connection for as long as it took (tens of milliseconds under load).
//! Here they run on timers; a registry that changed is turned into the handshake trust here
//! too, and handed to the loop, which only applies it (the open sessions are the loop's).
//!
//! Ordering with the loop's own reloads (after an admin change on this node): each fetch
//! carries the reload generation it started in. A fetch that started before the loop's latest
//! reload may have read an older registry than the one applied, so the loop drops it; one that
//! started after read a store at least that new (the read is linearizable).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender, channel};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use mio::Waker;

use super::identity::ClientTrust;
use super::{ServerError, Services};
use crate::admin::registry::{META_CLIENT_REGISTRY, Registry};

/// How often a cluster node re-reads the shared client registry from etcd.
const CLUSTER_TRUST_REFRESH: Duration = Duration::from_secs(2);

/// How often the last-seen times are stored (and once more at shutdown): often enough for
/// `client list` after a crash, rare enough to cost nothing next to the KMIP traffic.
const PERSIST_LAST_SEEN_EVERY: Duration = Duration::from_secs(60);

/// Owner → last successful handshake (seconds since the epoch), shown by `client list`;
/// shared with the admin thread, which adds it to its replies.
pub(super) type LastSeen = Arc<Mutex<std::collections::HashMap<String, i64>>>;

/// A registry read from the store that differs from the one read before it.
pub(super) struct Fetched {
    pub(super) trust: ClientTrust,
    pub(super) stored: Vec<u8>,
    /// The loop's reload generation when the read began.
    pub(super) generation: u64,
}

/// What the loop and this thread share.
#[derive(Clone, Default)]
pub(super) struct Shared {
    pub(super) last_seen: LastSeen,
    /// `last_seen` changed since it was last stored.
    pub(super) dirty: Arc<AtomicBool>,
    /// Counts the loop's own reloads (see the file comment).
    pub(super) generation: Arc<AtomicU64>,
}

pub(super) struct TrustRefresh {
    stop: Sender<()>,
    thread: JoinHandle<()>,
    pub(super) fetched: Receiver<Fetched>,
}

impl TrustRefresh {
    /// Starts the thread; a cluster node (`clustered`) also re-reads the registry.
    pub(super) fn spawn(
        services: &Services,
        clustered: bool,
        shared: Shared,
        waker: Arc<Waker>,
    ) -> std::io::Result<TrustRefresh> {
        let (stop, stopped) = channel();
        let (found, fetched) = channel();
        let services = services.clone();
        let thread = std::thread::Builder::new()
            .name("keyward-trust".into())
            .spawn(move || {
                let mut worker = Worker {
                    services,
                    shared,
                    found,
                    waker,
                    last_read: None,
                };
                worker.run(&stopped, clustered);
            })?;
        Ok(TrustRefresh {
            stop,
            thread,
            fetched,
        })
    }

    /// Stores the last-seen times one last time and ends the thread.
    pub(super) fn stop(self) {
        let _ = self.stop.send(());
        if self.thread.join().is_err() {
            log::error!("the trust refresh thread panicked");
        }
    }
}

struct Worker {
    services: Services,
    shared: Shared,
    found: Sender<Fetched>,
    waker: Arc<Waker>,
    /// The registry bytes of the last read, to hand over only what changed.
    last_read: Option<Vec<u8>>,
}

impl Worker {
    fn run(&mut self, stopped: &Receiver<()>, clustered: bool) {
        let start = Instant::now();
        let mut refresh_at = clustered.then_some(start + CLUSTER_TRUST_REFRESH);
        let mut persist_at = start + PERSIST_LAST_SEEN_EVERY;
        loop {
            let next = refresh_at.map_or(persist_at, |at| at.min(persist_at));
            match stopped.recv_timeout(next.saturating_duration_since(Instant::now())) {
                Err(RecvTimeoutError::Timeout) => {}
                Ok(()) | Err(RecvTimeoutError::Disconnected) => {
                    self.persist();
                    return;
                }
            }
            let now = Instant::now();
            if now >= persist_at {
                self.persist();
                persist_at = now + PERSIST_LAST_SEEN_EVERY;
            }
            if refresh_at.is_some_and(|at| now >= at) {
                refresh_at = Some(now + CLUSTER_TRUST_REFRESH);
                if let Some(fetched) = self.fetch() {
                    if self.found.send(fetched).is_err() {
                        self.persist();
                        return;
                    }
                    if let Err(e) = self.waker.wake() {
                        log::error!("cannot wake the event loop for a registry change: {e}");
                    }
                }
            }
        }
    }

    /// Stores the last-seen times when they changed; on failure they are tried again at the
    /// next interval.
    fn persist(&self) {
        if !self.shared.dirty.swap(false, Ordering::SeqCst) {
            return;
        }
        let seen = match self.shared.last_seen.lock() {
            Ok(seen) => seen.clone(),
            Err(_) => return,
        };
        if let Err(e) = crate::admin::ops::persist_last_seen(self.services.store.as_ref(), &seen) {
            self.shared.dirty.store(true, Ordering::SeqCst);
            log::error!("storing when clients were last seen failed: {e}");
        }
    }

    /// The registry as stored now, when it differs from the last read.
    fn fetch(&mut self) -> Option<Fetched> {
        let generation = self.shared.generation.load(Ordering::SeqCst);
        match read_registry(&self.services, self.last_read.as_deref()) {
            Ok(Some((trust, stored))) => {
                self.last_read = Some(stored.clone());
                Some(Fetched {
                    trust,
                    stored,
                    generation,
                })
            }
            Ok(None) => None,
            Err(e) => {
                log::error!("re-reading the client registry failed: {e}");
                None
            }
        }
    }
}

/// The stored registry and the trust built from it, or `None` when its bytes are `unchanged`.
pub(super) fn read_registry(
    services: &Services,
    unchanged: Option<&[u8]>,
) -> Result<Option<(ClientTrust, Vec<u8>)>, ServerError> {
    let view = services.store.read()?;
    let stored = view.get_meta(META_CLIENT_REGISTRY)?.unwrap_or_default();
    if unchanged == Some(stored.as_slice()) {
        return Ok(None);
    }
    let registry = Registry::load(&*view)?;
    Ok(Some((ClientTrust::from_registry(&registry)?, stored)))
}
