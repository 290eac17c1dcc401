//! The trust service's store work, on a thread of its own so the event loop never waits for it.
//!
//! Why a thread: storing when clients were last seen is a store write transaction, which waits
//! for the committer's writer (redb has one) or, on a cluster node, for an etcd quorum; a cluster
//! node's read of the client registry is two etcd round trips. On the loop thread either
//! stalled every connection for as long as it took (tens of milliseconds under load). Here
//! they run on timers, and on a cluster node also when its watch on the registry (a thread of
//! its own, blocked on etcd's stream) reports a change; a registry that changed is turned into
//! the handshake trust here too, and handed to the loop, which only applies it (the open
//! sessions are the loop's).
//!
//! Ordering with the loop's own reloads (after an admin change on this node): each fetch
//! carries the reload generation it started in. A fetch that started before the loop's latest
//! reload may have read an older registry than the one applied, so the loop drops it; one that
//! started after read a store at least that new (the read is linearizable).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender, channel};
use std::sync::{Arc, Mutex, Weak};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use mio::Waker;

use super::identity::ClientTrust;
use super::{ServerError, Services};
use crate::admin::registry::{META_CLIENT_REGISTRY, Registry};
use crate::store::Store;

/// How often a cluster node re-reads the shared client registry from etcd. Beside the watch
/// (`watch_registry`), which reports a change when it is made: the re-read bounds how long a
/// change can stay unseen when the watch cannot (its member stopped answering without closing
/// the connection, or no watch could be opened).
const CLUSTER_TRUST_REFRESH: Duration = Duration::from_secs(2);

/// How long one watch on the registry is held before it is opened again.
const WATCH_HOLD: Duration = Duration::from_secs(30);

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

/// What wakes the worker.
enum Wake {
    Stop,
    /// Read the registry now: the watch saw a change (`true`), or a new watch was opened
    /// (`false`), after which a read misses nothing.
    Read {
        changed: bool,
    },
}

pub(super) struct TrustRefresh {
    stop: Sender<Wake>,
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
        let (stop, wakes) = channel();
        let (found, fetched) = channel();
        let ended = Arc::new(AtomicBool::new(false));
        if clustered {
            // Ends by itself once the worker has ended, at the latest one hold after it. Not
            // joined, so it keeps no hold on the store while it waits for etcd (only while it
            // opens a watch): the store closes at shutdown as before.
            let (store, ended, wake) =
                (Arc::downgrade(&services.store), ended.clone(), stop.clone());
            std::thread::Builder::new()
                .name("keyward-trust-watch".into())
                .spawn(move || watch_registry(&store, &ended, &wake))?;
        }
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
                worker.run(&wakes, clustered);
                ended.store(true, Ordering::SeqCst);
            })?;
        Ok(TrustRefresh {
            stop,
            thread,
            fetched,
        })
    }

    /// Stores the last-seen times one last time and ends the thread.
    pub(super) fn stop(self) {
        let _ = self.stop.send(Wake::Stop);
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
    fn run(&mut self, wakes: &Receiver<Wake>, clustered: bool) {
        let start = Instant::now();
        let mut refresh_at = clustered.then_some(start + CLUSTER_TRUST_REFRESH);
        let mut persist_at = start + PERSIST_LAST_SEEN_EVERY;
        loop {
            let next = refresh_at.map_or(persist_at, |at| at.min(persist_at));
            let mut seen_by_watch = None;
            match wakes.recv_timeout(next.saturating_duration_since(Instant::now())) {
                Err(RecvTimeoutError::Timeout) => {}
                Ok(Wake::Read { changed }) => seen_by_watch = Some(changed),
                Ok(Wake::Stop) | Err(RecvTimeoutError::Disconnected) => {
                    self.persist();
                    return;
                }
            }
            let now = Instant::now();
            if now >= persist_at {
                self.persist();
                persist_at = now + PERSIST_LAST_SEEN_EVERY;
            }
            let due = refresh_at.is_some_and(|at| now >= at);
            if due {
                refresh_at = Some(now + CLUSTER_TRUST_REFRESH);
            }
            if due || seen_by_watch.is_some() {
                let had_read = self.last_read.is_some();
                if let Some(fetched) = self.fetch() {
                    if had_read {
                        let how = match seen_by_watch {
                            Some(true) => "seen by the etcd watch",
                            Some(false) => "read as a new etcd watch opened",
                            None => "found by the periodic re-read",
                        };
                        // Debug, not info: the registry also holds when each client was
                        // last seen, which every node (this one included) stores every 60 s,
                        // so most of these are not a change of who may connect.
                        log::debug!("the client registry changed in etcd ({how})");
                    }
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

/// The cluster's watch on the registry: asks the worker to read it whenever it may have
/// changed. Ends once the worker has `ended`.
fn watch_registry(store: &Weak<dyn Store>, ended: &AtomicBool, wake: &Sender<Wake>) {
    let mut failing = false;
    while !ended.load(Ordering::SeqCst) {
        let Some(store) = store.upgrade() else {
            return;
        };
        let opened = store.watch_meta(META_CLIENT_REGISTRY, WATCH_HOLD);
        drop(store);
        let mut watch = match opened {
            None => return,
            Some(Ok(watch)) => watch,
            Some(Err(e)) => {
                if !failing {
                    log::warn!(
                        "cannot watch the client registry ({e}); it is still re-read every {} s",
                        CLUSTER_TRUST_REFRESH.as_secs()
                    );
                    failing = true;
                }
                std::thread::sleep(CLUSTER_TRUST_REFRESH);
                continue;
            }
        };
        if failing {
            log::info!("watching the client registry again");
            failing = false;
        }
        // A change may have fallen between the last watch and this one.
        if wake.send(Wake::Read { changed: false }).is_err() {
            return;
        }
        while watch.changed() {
            if wake.send(Wake::Read { changed: true }).is_err() {
                return;
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
