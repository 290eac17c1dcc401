//! A 32-byte secret on a page of its own, locked in RAM (`mlock`: never written to swap) and
//! excluded from core dumps (`MADV_DONTDUMP`). Used for the master key, the one secret every
//! sealed object depends on.
//!
//! Locking can fail (`RLIMIT_MEMLOCK` exhausted, a seccomp filter): then the key still lives on
//! its private page, unlocked, and one warning says so. The page is zeroized before it is
//! unlocked and unmapped, so its contents never reach swap or a reused page.

use std::ptr::NonNull;
use std::sync::atomic::{AtomicBool, Ordering};

use zeroize::Zeroize;

pub const KEY_LEN: usize = 32;

/// Only the first failure is worth a warning; one per process.
static WARNED: AtomicBool = AtomicBool::new(false);

pub struct LockedKey {
    storage: Storage,
}

enum Storage {
    /// A private anonymous mapping of `len` bytes; the key is its first `KEY_LEN` bytes.
    Page {
        ptr: NonNull<u8>,
        len: usize,
        locked: bool,
    },
    /// mmap itself failed (address space exhausted): an ordinary zeroizing heap buffer.
    Heap(Box<[u8; KEY_LEN]>),
}

// SAFETY: `LockedKey` owns its mapping exclusively (it is never aliased or cloned; the pointer
// comes from our own mmap and is unmapped only in `drop`). Shared access (`&self`) only reads
// the bytes, and mutation needs `&mut self`, so moving it to or sharing it between threads is
// as safe as for a `Box<[u8; 32]>`.
unsafe impl Send for LockedKey {}
// SAFETY: see `Send` above: `&LockedKey` gives read-only access to memory no one else writes.
unsafe impl Sync for LockedKey {}

impl LockedKey {
    /// Copies `key` onto a fresh locked page. The caller keeps (and should zeroize) its copy.
    pub fn new(key: &[u8; KEY_LEN]) -> LockedKey {
        let mut locked = LockedKey::zeroed();
        locked.bytes_mut().copy_from_slice(key);
        locked
    }

    fn zeroed() -> LockedKey {
        let page = rustix::param::page_size();
        let len = if page >= KEY_LEN { page } else { 4096 };
        // SAFETY: an anonymous private mapping with a null hint asks the kernel for fresh,
        // zero-filled memory that aliases nothing in this process; the result is checked
        // against MAP_FAILED before use.
        let raw = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if raw == libc::MAP_FAILED {
            warn_once(&format!(
                "cannot map a private page for the master key ({}); keeping it on the heap",
                std::io::Error::last_os_error()
            ));
            return LockedKey {
                storage: Storage::Heap(Box::new([0u8; KEY_LEN])),
            };
        }
        let Some(ptr) = NonNull::new(raw.cast::<u8>()) else {
            // mmap never returns null without MAP_FIXED; treated as a failure all the same.
            return LockedKey {
                storage: Storage::Heap(Box::new([0u8; KEY_LEN])),
            };
        };
        // SAFETY: [raw, raw+len) is the mapping just created and owned by us. madvise and
        // mlock only change how the kernel treats those pages; failures leave memory intact.
        let locked = unsafe {
            libc::madvise(raw, len, libc::MADV_DONTDUMP);
            libc::mlock(raw, len) == 0
        };
        if !locked {
            warn_once(&format!(
                "cannot lock the master key's page in RAM ({}); it may be swapped out. \
                 Raise RLIMIT_MEMLOCK (LimitMEMLOCK= in the systemd unit) to allow it",
                std::io::Error::last_os_error()
            ));
        }
        LockedKey {
            storage: Storage::Page { ptr, len, locked },
        }
    }

    pub fn bytes(&self) -> &[u8; KEY_LEN] {
        match &self.storage {
            // SAFETY: `ptr` is the start of a live, readable mapping of `len >= KEY_LEN` bytes
            // owned by `self`, page-aligned (so aligned for u8 arrays), initialised (mmap
            // zero-fills it); the returned borrow is tied to `&self`, and writes need `&mut`.
            Storage::Page { ptr, .. } => unsafe { &*ptr.as_ptr().cast::<[u8; KEY_LEN]>() },
            Storage::Heap(bytes) => bytes,
        }
    }

    fn bytes_mut(&mut self) -> &mut [u8; KEY_LEN] {
        match &mut self.storage {
            // SAFETY: as in `bytes`, and the mapping is writable; `&mut self` guarantees this
            // is the only reference to it for the borrow's lifetime.
            Storage::Page { ptr, .. } => unsafe { &mut *ptr.as_ptr().cast::<[u8; KEY_LEN]>() },
            Storage::Heap(bytes) => bytes,
        }
    }

    /// Whether the key's page is locked in RAM.
    pub fn is_locked(&self) -> bool {
        matches!(self.storage, Storage::Page { locked: true, .. })
    }
}

impl Drop for LockedKey {
    fn drop(&mut self) {
        // Zeroized while still locked, so the secret never leaves RAM on its way out.
        self.bytes_mut().zeroize();
        if let Storage::Page { ptr, len, locked } = self.storage {
            let raw = ptr.as_ptr().cast::<libc::c_void>();
            // SAFETY: [raw, raw+len) is our mapping, no reference into it outlives this call
            // (we hold `&mut self` and are being dropped); after munmap it is never touched.
            unsafe {
                if locked {
                    libc::munlock(raw, len);
                }
                libc::munmap(raw, len);
            }
        }
    }
}

fn warn_once(message: &str) {
    if !WARNED.swap(true, Ordering::Relaxed) {
        log::warn!("{message}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holds_the_key_and_locks_within_the_default_limit() {
        let key = [0x5au8; KEY_LEN];
        let locked = LockedKey::new(&key);
        assert_eq!(locked.bytes(), &key);
        // One page is far below the 8 MiB default RLIMIT_MEMLOCK (64 KiB on old kernels); if
        // this fails, the environment forbids mlock and the warning path is what runs.
        if !locked.is_locked() {
            eprintln!("mlock refused in this environment; the unlocked fallback was used");
        }
        let other = LockedKey::new(&[1u8; KEY_LEN]);
        assert_ne!(other.bytes(), locked.bytes());
    }

    #[test]
    fn moves_between_threads() {
        let locked = std::sync::Arc::new(LockedKey::new(&[7u8; KEY_LEN]));
        let l2 = locked.clone();
        let seen = std::thread::spawn(move || l2.bytes()[0]).join().unwrap();
        assert_eq!(seen, 7);
    }
}
