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
    /// `true`: a read's audit record commits (fsync) before its answer, like a change's.
    /// `false` (default): it is written to the read journal before the answer (survives a
    /// crash of the process) and made durable within `read_sync_interval_ms`.
    pub durable_reads: bool,
    /// The longest time a read's record waits for a durable commit (only power loss can
    /// lose it meanwhile). At most 1000.
    pub read_sync_interval_ms: u64,
    /// `host:port` of a SIEM collector to forward every record to over TCP (unset: none).
    pub forward_address: Option<String>,
    /// `"syslog"` (RFC 5424, octet-counted) or `"jsonl"` (the export format).
    pub forward_format: super::forward::ForwardFormat,
}

impl Default for AuditSettings {
    fn default() -> Self {
        AuditSettings {
            retain_days: None,
            head_log_interval_secs: 3600,
            enabled: true,
            durable_reads: false,
            read_sync_interval_ms: 50,
            forward_address: None,
            forward_format: super::forward::ForwardFormat::Syslog,
        }
    }
}

impl AuditSettings {
    pub fn head_log_interval(&self) -> Duration {
        Duration::from_secs(self.head_log_interval_secs.max(1))
    }

    pub fn read_sync_interval(&self) -> Duration {
        Duration::from_millis(self.read_sync_interval_ms.clamp(1, 1000))
    }
}
