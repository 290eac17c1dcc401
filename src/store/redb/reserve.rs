//! A disk-space reserve beside the database, so reads stay audited on a full disk.
//!
//! Every read writes its audit record before it is answered, and nothing may happen without a
//! record (docs/audit.md). On a full disk that would turn "changes are refused" into "nothing
//! is answered". So the store keeps a file of allocated blocks next to the database; when a
//! commit meets a full disk the reserve is released, and the space it returns is kept for
//! reads and their audit records while changes are refused. redb reuses the pages of earlier
//! commits, so a few MiB carry a long stream of read audits.
//!
//! The reserve comes back, and changes are accepted again, once the file system has the
//! reserve's size more free than it had just after the reserve was released (and at least
//! twice the reserve). Free space right after a failed commit is no guide on its own: redb
//! gives back the file growth of the commit that failed, so the disk looks roomier than it is
//! for the change that did not fit. Asking for a reserve's worth beyond that point keeps the
//! store from flapping between the two modes when space is freed only just enough.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// How much of the reserve is held, and whether the store runs on it.
#[derive(Debug)]
enum State {
    /// The reserve is allocated: the store accepts changes.
    Held,
    /// The reserve was given back to the file system (full disk): only reads are written.
    /// `free_then` is what the file system had free just after that.
    Released { free_then: u64 },
}

/// The reserve file (mode 0600, no secrets in it: zeros).
#[derive(Debug)]
pub(crate) struct SpaceReserve {
    path: PathBuf,
    bytes: u64,
    state: Mutex<State>,
}

impl SpaceReserve {
    /// Allocates `bytes` at `path` now. When the disk is already too full for that, the store
    /// starts on its reserve (changes refused) and says so.
    pub(crate) fn hold(path: PathBuf, bytes: u64) -> SpaceReserve {
        let state = match allocate(&path, bytes) {
            Ok(()) => State::Held,
            Err(e) => {
                log::error!(
                    "store: cannot allocate the {} MiB disk reserve {}: {e}; changes are refused \
                     until that much space is free",
                    bytes >> 20,
                    path.display()
                );
                State::Released {
                    free_then: free_at(&path),
                }
            }
        };
        SpaceReserve {
            path,
            bytes,
            state: Mutex::new(state),
        }
    }

    /// The disk is full: give the reserve back so that reads can still be audited.
    pub(crate) fn release(&self) {
        let mut state = self.lock();
        if matches!(*state, State::Released { .. }) {
            return;
        }
        match File::options().write(true).open(&self.path) {
            Ok(file) => {
                if let Err(e) = file.set_len(0) {
                    log::error!(
                        "store: cannot release the disk reserve {}: {e}",
                        self.path.display()
                    );
                }
            }
            Err(e) => log::error!(
                "store: cannot open the disk reserve {} to release it: {e}",
                self.path.display()
            ),
        }
        let free_then = free_at(&self.path);
        *state = State::Released { free_then };
        log::warn!(
            "store: the disk is full; released the {} MiB reserve for reads and their audit \
             records, changes are refused until {} MiB are free",
            self.bytes >> 20,
            self.needed(free_then) >> 20
        );
    }

    /// True while the store runs on its reserve and must refuse changes. Takes the reserve
    /// back first when the file system has room again (twice the reserve free).
    pub(crate) fn in_use(&self) -> bool {
        let mut state = self.lock();
        let free_then = match *state {
            State::Held => return false,
            State::Released { free_then } => free_then,
        };
        let dir = self.path.parent().unwrap_or(Path::new("."));
        match free_bytes(dir) {
            Ok(free) if free >= self.needed(free_then) => {}
            Ok(_) => return true,
            Err(e) => {
                log::debug!("store: cannot read free space of {}: {e}", dir.display());
                return true;
            }
        }
        match allocate(&self.path, self.bytes) {
            Ok(()) => {
                *state = State::Held;
                log::info!(
                    "store: disk space is available again; the {} MiB reserve is held and \
                     changes are accepted",
                    self.bytes >> 20
                );
                false
            }
            Err(e) => {
                log::debug!("store: cannot take the disk reserve back yet: {e}");
                true
            }
        }
    }

    /// Free bytes at which the reserve is taken back, given what was free after releasing it.
    fn needed(&self, free_then: u64) -> u64 {
        free_then
            .saturating_add(self.bytes)
            .max(self.bytes.saturating_mul(2))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Makes `path` hold `bytes` of allocated blocks: fallocate where the file system has it,
/// written zeros where it does not. A failure leaves the file empty, not half reserved.
fn allocate(path: &Path, bytes: u64) -> std::io::Result<()> {
    let mut file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(0o600)
        .open(path)?;
    let result = match rustix::fs::fallocate(&file, rustix::fs::FallocateFlags::empty(), 0, bytes) {
        Ok(()) => Ok(()),
        Err(e) if e == rustix::io::Errno::OPNOTSUPP => write_zeros(&mut file, bytes),
        Err(e) => Err(std::io::Error::from(e)),
    };
    match result {
        Ok(()) => file.sync_all(),
        Err(e) => {
            let _ = file.set_len(0);
            Err(e)
        }
    }
}

fn write_zeros(file: &mut File, bytes: u64) -> std::io::Result<()> {
    file.set_len(0)?;
    let chunk = [0u8; 64 * 1024];
    let mut left = bytes;
    while left > 0 {
        let n = usize::try_from(left.min(chunk.len() as u64)).unwrap_or(chunk.len());
        file.write_all(&chunk[..n])?;
        left -= n as u64;
    }
    Ok(())
}

/// Free bytes on the file system holding `path` (0 when they cannot be read: the reserve then
/// waits for twice its size).
fn free_at(path: &Path) -> u64 {
    free_bytes(path.parent().unwrap_or(Path::new("."))).unwrap_or(0)
}

/// Bytes an unprivileged writer may still allocate on the file system holding `dir`.
fn free_bytes(dir: &Path) -> std::io::Result<u64> {
    let stat = rustix::fs::statvfs(dir).map_err(std::io::Error::from)?;
    Ok(stat.f_bavail.saturating_mul(stat.f_frsize))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    #[test]
    fn holds_releases_and_takes_back_when_space_is_free() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keyward.reserve");
        let reserve = SpaceReserve::hold(path.clone(), 1 << 20);
        let meta = std::fs::metadata(&path).unwrap();
        assert_eq!(meta.len(), 1 << 20);
        assert!(meta.blocks() * 512 >= 1 << 20, "blocks not allocated");
        assert_eq!(meta.mode() & 0o777, 0o600);
        assert!(!reserve.in_use());

        reserve.release();
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 0);
        // Less free than just after the release plus a reserve: it stays released. (Set by
        // hand: the free space of a shared temp folder moves while tests run.)
        *reserve.lock() = State::Released {
            free_then: u64::MAX / 4,
        };
        assert!(reserve.in_use());
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 0);
        // Pretend the disk was fuller when it was released: now there is room again.
        *reserve.lock() = State::Released { free_then: 0 };
        assert!(!reserve.in_use());
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 1 << 20);
    }

    #[test]
    fn takes_back_at_a_reserve_beyond_the_release_point_and_never_below_twice_the_reserve() {
        let reserve = SpaceReserve {
            path: PathBuf::from("unused"),
            bytes: 8 << 20,
            state: Mutex::new(State::Held),
        };
        assert_eq!(reserve.needed(0), 16 << 20);
        assert_eq!(reserve.needed(20 << 20), 28 << 20);
        assert_eq!(reserve.needed(u64::MAX), u64::MAX);
    }

    #[test]
    fn an_unallocatable_reserve_starts_in_use() {
        let dir = tempfile::tempdir().unwrap();
        // A path below a regular file cannot be created.
        std::fs::write(dir.path().join("file"), b"x").unwrap();
        let reserve = SpaceReserve::hold(dir.path().join("file").join("keyward.reserve"), 4096);
        assert!(reserve.in_use());
    }

    #[test]
    fn zeros_are_written_where_fallocate_is_missing() {
        let dir = tempfile::tempdir().unwrap();
        let mut file = File::create(dir.path().join("z")).unwrap();
        write_zeros(&mut file, 100_000).unwrap();
        assert_eq!(file.metadata().unwrap().len(), 100_000);
    }
}
