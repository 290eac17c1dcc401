//! Disk blocks allocated ahead of redb's writes, so a commit's `fdatasync` flushes data only.
//!
//! Why: redb grows its file with `set_len`, which leaves a hole, and a growing store (every
//! Create adds records) puts some of nearly every commit's pages in that hole: 977 of 1,091
//! commits of a create-get run wrote at least one page never written before (strace, 8
//! connections). On ext4 (and XFS) the first write to a hole allocates a block, and the
//! `fdatasync` that follows must then also commit the allocation: on a journaled ext4, the
//! default of a Debian install and of our appliance image, a journal commit and a second cache
//! flush on every commit. Measured on this VM's disk through a journaled ext4: 16 pages and
//! `fdatasync` 0.71-0.90 ms when some land in a hole, 0.26-0.41 ms when all overwrite written
//! blocks. (`fallocate` does not help: its blocks are "unwritten" and the first write converts
//! them, another metadata change, 0.62-0.69 ms.)
//!
//! What: this backend (under [`super::deferred_sync`], over redb's `FileBackend`) keeps a map
//! of the file's holes: found with `SEEK_HOLE`/`SEEK_DATA` when the file is opened, grown by
//! `set_len`, shrunk by every write. When one of redb's writes lands in a hole, it also writes
//! zeros over the holes in the [`AHEAD`] bytes after that write, so the pages redb allocates
//! next (mostly just above: its allocator prefers low free pages) are written blocks already:
//! one allocating flush per about [`AHEAD`] bytes of growth instead of one per commit (traced:
//! 17 of 1,322 flushes instead of 977 of 1,091; `docs/storage.md`).
//!
//! Why that is safe: a hole reads as zeros, so writing zeros over it changes no byte that any
//! read can return, at any moment, whether or not those writes reach the disk before a power
//! loss. And only holes are filled: every write goes through this backend and takes its range
//! out of the map first, under one lock, so a fill never covers a page redb wrote. A fill that
//! fails (a full disk) is not redb's failure: it is logged once and the range left as it is.

use std::collections::BTreeMap;
use std::fs::File;
use std::ops::Bound;
use std::sync::{Mutex, MutexGuard, PoisonError};

use ::redb::backends::FileBackend;
use ::redb::{BackendError, StorageBackend};

type BackendIoError = std::io::Error;

/// How far beyond an allocating write the holes are filled: 128 pages of 4 KiB. Large enough
/// that a steadily growing store allocates once per many commits (a lone Create adds one or
/// two new pages), small enough that the one flush carrying it stays short.
pub const AHEAD: u64 = 512 * 1024;

/// What one fill writes per call.
static ZEROS: [u8; 64 * 1024] = [0; 64 * 1024];

/// The byte ranges of a file that are holes: `start -> end` (end exclusive), disjoint.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Holes(BTreeMap<u64, u64>);

impl Holes {
    /// The holes of `file` as its file system reports them (`SEEK_DATA`/`SEEK_HOLE`). A file
    /// system without them reports the whole file as data: no holes, nothing filled.
    pub fn scan(file: &File) -> std::io::Result<Holes> {
        use rustix::fs::{SeekFrom, seek};
        let len = file.metadata()?.len();
        let mut holes = Holes::default();
        let mut at = 0;
        while at < len {
            let data = match seek(file, SeekFrom::Data(at)) {
                Ok(data) => data.min(len),
                // No data from `at` on: the rest is one hole.
                Err(rustix::io::Errno::NXIO) => len,
                Err(err) => return Err(err.into()),
            };
            holes.insert(at, data);
            if data >= len {
                break;
            }
            at = match seek(file, SeekFrom::Hole(data)) {
                Ok(hole) => hole.min(len),
                Err(rustix::io::Errno::NXIO) => len,
                Err(err) => return Err(err.into()),
            };
        }
        Ok(holes)
    }

    /// Adds the hole `start..end` (a file grown by `set_len`); an empty range adds nothing.
    pub fn insert(&mut self, start: u64, end: u64) {
        if start < end {
            self.take(start, end);
            self.0.insert(start, end);
        }
    }

    /// Forgets everything at or beyond `len` (a file shrunk by `set_len`).
    pub fn truncate(&mut self, len: u64) {
        self.take(len, u64::MAX);
    }

    /// Takes `start..end` out of the holes (it was written); `true` when any of it was a hole.
    pub fn take(&mut self, start: u64, end: u64) -> bool {
        if start >= end {
            return false;
        }
        let overlapping: Vec<(u64, u64)> = self.overlapping(start, end).collect();
        for &(hole_start, hole_end) in &overlapping {
            self.0.remove(&hole_start);
            if hole_start < start {
                self.0.insert(hole_start, start);
            }
            if hole_end > end {
                self.0.insert(end, hole_end);
            }
        }
        !overlapping.is_empty()
    }

    /// The parts of `start..end` that are holes, in order.
    pub fn within(&self, start: u64, end: u64) -> Vec<(u64, u64)> {
        if start >= end {
            return Vec::new();
        }
        let mut parts: Vec<(u64, u64)> = self
            .overlapping(start, end)
            .map(|(s, e)| (s.max(start), e.min(end)))
            .collect();
        parts.reverse();
        parts
    }

    /// The whole holes that overlap `start..end`, last first (holes are disjoint, so their
    /// ends fall in the order of their starts: walking back from `end`, the first hole ending
    /// at or before `start` ends the overlap).
    fn overlapping(&self, start: u64, end: u64) -> impl Iterator<Item = (u64, u64)> + '_ {
        self.0
            .range(..end)
            .rev()
            .take_while(move |&(_, &hole_end)| hole_end > start)
            .map(|(&s, &e)| (s, e))
    }

    /// Bytes in holes.
    #[cfg(test)]
    pub fn total(&self) -> u64 {
        self.0.iter().map(|(s, e)| e - s).sum()
    }
}

struct State {
    holes: Holes,
    /// A fill failed once (logged); later failures are not logged again.
    fill_failed: bool,
}

/// redb's `FileBackend` with the holes ahead of its writes filled (see the module comment).
pub struct ZeroAheadBackend {
    inner: FileBackend,
    state: Mutex<State>,
}

impl std::fmt::Debug for ZeroAheadBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ZeroAheadBackend")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

impl ZeroAheadBackend {
    /// `holes` are those of the file `inner` was made from ([`Holes::scan`], before redb's
    /// `FileBackend::new` took the file).
    pub fn new(inner: FileBackend, holes: Holes) -> ZeroAheadBackend {
        ZeroAheadBackend {
            inner,
            state: Mutex::new(State {
                holes,
                fill_failed: false,
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // The state is a map updated in single steps; a panic elsewhere leaves it consistent.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Writes zeros over the holes in `start..end`. A failure stops the fill; the holes not
    /// filled are forgotten all the same (they still read as zeros, and are not tried again).
    fn fill(&self, state: &mut State, start: u64, end: u64) {
        'fill: for (hole_start, hole_end) in state.holes.within(start, end) {
            let mut at = hole_start;
            while at < hole_end {
                let n =
                    usize::try_from((hole_end - at).min(ZEROS.len() as u64)).unwrap_or(ZEROS.len());
                if let Err(err) = self.inner.write(at, &ZEROS[..n]) {
                    if !state.fill_failed {
                        state.fill_failed = true;
                        log::warn!(
                            "store: could not allocate disk blocks ahead of the database's \
                             writes ({err}); commits go on, each allocating its own"
                        );
                    }
                    break 'fill;
                }
                at += n as u64;
            }
        }
        state.holes.take(start, end);
    }
}

impl StorageBackend for ZeroAheadBackend {
    fn len(&self) -> Result<u64, BackendIoError> {
        self.inner.len()
    }

    fn read(&self, offset: u64, out: &mut [u8]) -> Result<(), BackendIoError> {
        self.inner.read(offset, out)
    }

    fn set_len(&self, len: u64) -> Result<(), BackendIoError> {
        let mut state = self.lock();
        let old = self.inner.len()?;
        self.inner.set_len(len)?;
        if len > old {
            state.holes.insert(old, len);
        } else {
            state.holes.truncate(len);
        }
        Ok(())
    }

    fn sync_data(&self) -> Result<(), BackendIoError> {
        self.inner.sync_data()
    }

    fn write(&self, offset: u64, data: &[u8]) -> Result<(), BackendIoError> {
        let mut state = self.lock();
        let end = offset.saturating_add(data.len() as u64);
        let allocating = state.holes.take(offset, end);
        self.inner.write(offset, data)?;
        if allocating {
            let len = self.inner.len()?;
            self.fill(&mut state, end, end.saturating_add(AHEAD).min(len));
        }
        Ok(())
    }

    fn close(&self) -> Result<(), BackendIoError> {
        self.inner.close()
    }

    fn try_lock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<bool, BackendError> {
        self.inner.try_lock_range(start, end)
    }

    fn try_lock_shared_range(
        &self,
        start: Bound<u64>,
        end: Bound<u64>,
    ) -> Result<bool, BackendError> {
        self.inner.try_lock_shared_range(start, end)
    }

    fn lock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<(), BackendError> {
        self.inner.lock_range(start, end)
    }

    fn lock_shared_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<(), BackendError> {
        self.inner.lock_shared_range(start, end)
    }

    fn unlock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<(), BackendError> {
        self.inner.unlock_range(start, end)
    }

    fn query_lock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<bool, BackendError> {
        self.inner.query_lock_range(start, end)
    }
}

#[cfg(test)]
#[path = "zero_ahead_tests.rs"]
mod tests;
