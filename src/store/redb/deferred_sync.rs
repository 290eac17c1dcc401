//! Pipelined group commit (issue 21, point 2): redb's `fdatasync` runs while the next group is
//! already being executed.
//!
//! Why a storage backend: redb has one writer, and its `commit()` returns only after the
//! file's `fdatasync`, so the next group's write transaction cannot even start while the disk
//! flushes. This backend wraps the real file: `sync_data` only *records* that a flush is due
//! and returns, so redb finishes the commit (the changes become visible to new transactions)
//! and the committer can run the next group's requests, audit records and B-tree changes in
//! memory. The flush itself runs when somebody needs it: the thread that releases the group's
//! answers ([`SyncGate::make_durable`]), or the next `write`/`set_len`/`sync_data`/`close`
//! of redb, which first waits for every flush already due.
//!
//! Why that keeps every durability promise: nothing reaches the file between a deferred flush
//! and its completion, so the file sees exactly the sequence of writes and flushes it saw with
//! a synchronous `fdatasync` (what power loss can leave behind is unchanged, see
//! `power_loss_tests.rs`); and an answer is released only after [`SyncGate::make_durable`]
//! for its commit returned. A failed flush is latched: every later write, flush and wait fails
//! with it (fail-stop, as `docs/storage.md` says for a failed fsync).

use std::fmt;
use std::ops::Bound;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};

use ::redb::{BackendError, StorageBackend};

type BackendIoError = std::io::Error;

/// A failed flush, kept to be told to everyone after it (io::Error is not Clone).
struct Failure {
    raw: Option<i32>,
    kind: std::io::ErrorKind,
    message: String,
}

impl Failure {
    fn error(&self) -> std::io::Error {
        match self.raw {
            Some(code) => std::io::Error::from_raw_os_error(code),
            None => std::io::Error::new(self.kind, self.message.clone()),
        }
    }
}

#[derive(Default)]
struct State {
    /// Number of flushes redb asked for so far.
    requested: u64,
    /// All flushes up to this number are done.
    completed: u64,
    /// A flush is running (outside the lock).
    flushing: bool,
    /// The first failed flush: latched, everything after it fails too.
    failed: Option<Failure>,
}

/// The flushes redb asked for and how far they are done; shared by the backend (owned by
/// redb) and whoever waits for a commit to be durable.
pub struct SyncGate {
    inner: Box<dyn StorageBackend>,
    state: Mutex<State>,
    flushed: Condvar,
}

impl fmt::Debug for SyncGate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SyncGate")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

impl SyncGate {
    /// Wraps `inner`; the returned backend goes to redb, the gate to the store.
    pub fn wrap(inner: impl StorageBackend) -> (Arc<SyncGate>, DeferredSyncBackend) {
        let gate = Arc::new(SyncGate {
            inner: Box::new(inner),
            state: Mutex::new(State::default()),
            flushed: Condvar::new(),
        });
        (gate.clone(), DeferredSyncBackend(gate))
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The number of the newest flush asked for: a commit that returned before this call is
    /// durable once [`SyncGate::make_durable`] of this number returned.
    pub fn requested(&self) -> u64 {
        self.lock().requested
    }

    /// True when every flush asked for is done.
    pub fn all_durable(&self) -> bool {
        let state = self.lock();
        state.completed >= state.requested && state.failed.is_none()
    }

    /// Returns once flush `number` (and every one before it) is done, running it on this
    /// thread when nobody else is; or the error of the flush that failed.
    pub fn make_durable(&self, number: u64) -> std::io::Result<()> {
        let mut state = self.lock();
        loop {
            if let Some(failure) = &state.failed {
                return Err(failure.error());
            }
            if state.completed >= number {
                return Ok(());
            }
            if state.flushing {
                state = self
                    .flushed
                    .wait(state)
                    .unwrap_or_else(PoisonError::into_inner);
                continue;
            }
            // Everything asked for up to now is covered by one flush.
            let covers = state.requested;
            state.flushing = true;
            drop(state);
            let result = self.inner.sync_data();
            state = self.lock();
            state.flushing = false;
            match result {
                Ok(()) => state.completed = state.completed.max(covers),
                Err(e) => {
                    state.failed = Some(Failure {
                        raw: e.raw_os_error(),
                        kind: e.kind(),
                        message: e.to_string(),
                    });
                }
            }
            self.flushed.notify_all();
        }
    }

    /// Why a flush failed, once one has (latched).
    pub fn failure(&self) -> Option<std::io::Error> {
        self.lock().failed.as_ref().map(Failure::error)
    }

    /// Before redb touches the file again: every flush already due is done.
    fn settle(&self) -> Result<(), BackendIoError> {
        let due = self.requested();
        self.make_durable(due)
    }
}

/// The backend redb writes through (see the module comment).
#[derive(Debug)]
pub struct DeferredSyncBackend(Arc<SyncGate>);

impl StorageBackend for DeferredSyncBackend {
    fn len(&self) -> Result<u64, BackendIoError> {
        self.0.inner.len()
    }

    fn read(&self, offset: u64, out: &mut [u8]) -> Result<(), BackendIoError> {
        // Reads change nothing on disk: they may run during a flush.
        self.0.inner.read(offset, out)
    }

    fn set_len(&self, len: u64) -> Result<(), BackendIoError> {
        self.0.settle()?;
        self.0.inner.set_len(len)
    }

    fn sync_data(&self) -> Result<(), BackendIoError> {
        let mut state = self.0.lock();
        if let Some(failure) = &state.failed {
            return Err(failure.error());
        }
        state.requested += 1;
        Ok(())
    }

    fn write(&self, offset: u64, data: &[u8]) -> Result<(), BackendIoError> {
        self.0.settle()?;
        self.0.inner.write(offset, data)
    }

    fn close(&self) -> Result<(), BackendIoError> {
        // A clean close leaves nothing unflushed.
        let settled = self.0.settle();
        let closed = self.0.inner.close();
        settled.and(closed)
    }

    fn try_lock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<bool, BackendError> {
        self.0.inner.try_lock_range(start, end)
    }

    fn try_lock_shared_range(
        &self,
        start: Bound<u64>,
        end: Bound<u64>,
    ) -> Result<bool, BackendError> {
        self.0.inner.try_lock_shared_range(start, end)
    }

    fn lock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<(), BackendError> {
        self.0.inner.lock_range(start, end)
    }

    fn lock_shared_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<(), BackendError> {
        self.0.inner.lock_shared_range(start, end)
    }

    fn unlock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<(), BackendError> {
        self.0.inner.unlock_range(start, end)
    }

    fn query_lock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<bool, BackendError> {
        self.0.inner.query_lock_range(start, end)
    }
}
