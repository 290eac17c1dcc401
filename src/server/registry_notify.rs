//! Tells the event loop that another thread (the HTTPS admin API) changed the client
//! registry, so it rebuilds the handshake trust and closes connections the new registry no
//! longer admits, exactly as after an admin-socket change. A flag and the loop's waker: the
//! loop does the work on its own thread, the caller never waits for it.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use mio::Waker;

#[derive(Clone)]
pub struct RegistryNotifier {
    pub(super) changed: Arc<AtomicBool>,
    pub(super) waker: Arc<Waker>,
}

impl RegistryNotifier {
    pub fn registry_changed(&self) {
        self.changed.store(true, Ordering::SeqCst);
        if let Err(e) = self.waker.wake() {
            log::error!("cannot wake the event loop for a registry change: {e}");
        }
    }

    /// Whether a change was signalled since the last call.
    pub(super) fn take(&self) -> bool {
        self.changed.swap(false, Ordering::SeqCst)
    }
}
