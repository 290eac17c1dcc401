//! The `[audit]` configuration table.

use std::path::PathBuf;
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
    /// `true`: a read's audit record commits (fsync) before its answer, like a change's, and
    /// so does a first Get's clear of Fresh. `false` (default): the record, with that clear, is
    /// written to the read journal before the answer (survives a crash of the process) and
    /// made durable within `read_sync_interval_ms`.
    pub durable_reads: bool,
    /// The longest time a read's record waits for a durable commit (only power loss can
    /// lose it meanwhile). At most 1000.
    pub read_sync_interval_ms: u64,
    /// `host:port` of a SIEM collector to forward every record to over TCP (unset: none).
    pub forward_address: Option<String>,
    /// `"syslog"` (RFC 5424, octet-counted) or `"jsonl"` (the export format).
    pub forward_format: super::forward::ForwardFormat,
    /// Set: forward over TLS (RFC 5425 for syslog), the collector verified against this PEM CA.
    pub forward_ca_file: Option<PathBuf>,
    /// Client certificate (PEM chain) and key presented to the collector over TLS.
    pub forward_cert_file: Option<PathBuf>,
    pub forward_key_file: Option<PathBuf>,
    /// The name the collector's certificate must carry (default: the host of forward_address).
    pub forward_server_name: Option<String>,
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
            forward_ca_file: None,
            forward_cert_file: None,
            forward_key_file: None,
            forward_server_name: None,
        }
    }
}

impl AuditSettings {
    pub fn head_log_interval(&self) -> Duration {
        Duration::from_secs(self.head_log_interval_secs.max(1))
    }

    /// The TLS settings of forwarding; `None` (plain TCP) unless `forward_ca_file` is set.
    pub fn forward_tls(&self) -> Option<super::forward::ForwardTls> {
        self.forward_ca_file
            .clone()
            .map(|ca_file| super::forward::ForwardTls {
                ca_file,
                cert_file: self.forward_cert_file.clone(),
                key_file: self.forward_key_file.clone(),
                server_name: self.forward_server_name.clone(),
            })
    }

    pub fn read_sync_interval(&self) -> Duration {
        Duration::from_millis(self.read_sync_interval_ms.clamp(1, 1000))
    }
}
