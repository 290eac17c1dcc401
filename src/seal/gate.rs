//! The master key slot the engine reads on every request. The Key Protect sync thread empties
//! it when the root key is revoked (the key is zeroized once the last in-flight request lets
//! go of it) and fills it again when the root key is back, without a restart.

use std::sync::{Arc, RwLock};

use super::MasterKey;

/// Holds the master key, or the reason there is none (the appliance is sealed).
pub struct KeyGate {
    slot: RwLock<Result<Arc<MasterKey>, String>>,
}

impl std::fmt::Debug for KeyGate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.current() {
            Ok(_) => f.write_str("KeyGate(unsealed)"),
            Err(reason) => write!(f, "KeyGate(sealed: {reason})"),
        }
    }
}

impl KeyGate {
    pub fn unsealed(master: Arc<MasterKey>) -> KeyGate {
        KeyGate {
            slot: RwLock::new(Ok(master)),
        }
    }

    /// A gate with no master key yet, e.g. when the root key was unavailable at start.
    pub fn sealed(reason: impl Into<String>) -> KeyGate {
        KeyGate {
            slot: RwLock::new(Err(reason.into())),
        }
    }

    /// The master key, or why it is unavailable. Requests hold the `Arc` only while they run.
    pub fn current(&self) -> Result<Arc<MasterKey>, String> {
        self.slot.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub fn is_sealed(&self) -> bool {
        self.current().is_err()
    }

    /// Drops the master key; every later request that needs it fails with `reason`.
    pub fn seal(&self, reason: impl Into<String>) {
        *self.slot.write().unwrap_or_else(|p| p.into_inner()) = Err(reason.into());
    }

    pub fn install(&self, master: MasterKey) {
        *self.slot.write().unwrap_or_else(|p| p.into_inner()) = Ok(Arc::new(master));
    }
}
