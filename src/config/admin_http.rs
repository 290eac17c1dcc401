//! The `[admin_http]` table: where the HTTPS admin API listens and the bounds it enforces.
//! Its own file beside the configuration that names it (not in `admin_http`, which the
//! configuration sits below): the listener reads its knobs from here.

use std::net::SocketAddr;
use std::time::Duration;

use serde::Deserialize;

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AdminHttpSettings {
    /// Address of the HTTPS admin API; no listener when absent (the default).
    pub listen: Option<SocketAddr>,
    /// Largest request body accepted, in KiB.
    pub max_body_kib: usize,
    /// Largest uploaded file (a backup to verify), in MiB.
    pub max_upload_mib: usize,
    /// Failed logins of one account (within `lockout_secs`) before it is locked.
    pub max_failed_logins: u32,
    /// Failed logins from one source address (within `lockout_secs`) before it is refused.
    pub max_failed_logins_per_address: u32,
    pub lockout_secs: u64,
    /// Lifetime of a login session.
    pub session_secs: u64,
    /// How long a request's head (and, separately, its body) may take to arrive.
    pub request_timeout_secs: u64,
    /// The two-person rule: destroying keys (and removing a client with its keys) waits
    /// for a second admin's approval.
    pub destroy_approval: bool,
    /// How long such a request waits for its approval.
    pub approval_ttl_secs: u64,
}

impl Default for AdminHttpSettings {
    fn default() -> Self {
        AdminHttpSettings {
            listen: None,
            max_body_kib: 256,
            max_upload_mib: 64,
            max_failed_logins: 5,
            max_failed_logins_per_address: 20,
            lockout_secs: 900,
            session_secs: 3600,
            request_timeout_secs: 10,
            destroy_approval: false,
            approval_ttl_secs: 3600,
        }
    }
}

impl AdminHttpSettings {
    pub fn max_body_bytes(&self) -> usize {
        self.max_body_kib.saturating_mul(1024)
    }

    pub fn max_upload_bytes(&self) -> usize {
        self.max_upload_mib.saturating_mul(1024 * 1024)
    }

    pub fn lockout(&self) -> Duration {
        Duration::from_secs(self.lockout_secs)
    }

    pub fn request_timeout(&self) -> Duration {
        Duration::from_secs(self.request_timeout_secs.max(1))
    }

    pub fn session(&self) -> Duration {
        Duration::from_secs(self.session_secs)
    }
}
