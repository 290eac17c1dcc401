//! The `[audit]` configuration table.

use std::time::Duration;

use serde::Deserialize;

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuditSettings {
    /// Records older than this many days are pruned (a checkpoint marks the cut); unset keeps
    /// everything.
    pub retain_days: Option<u32>,
    /// Seconds between chain-head lines in the system log (also written at shutdown).
    pub head_log_interval_secs: u64,
    /// Only for measuring the audit log's cost (`tests/audit_load.rs`). With `false` nothing is
    /// recorded; never turn it off in production.
    pub enabled: bool,
}

impl Default for AuditSettings {
    fn default() -> Self {
        AuditSettings {
            retain_days: None,
            head_log_interval_secs: 3600,
            enabled: true,
        }
    }
}

impl AuditSettings {
    pub fn head_log_interval(&self) -> Duration {
        Duration::from_secs(self.head_log_interval_secs.max(1))
    }
}
