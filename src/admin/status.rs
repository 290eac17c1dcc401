//! `keyward status`: what an administrator needs on one screen. The running server answers
//! it on the admin socket (its live root key state, sync times, uptime); with the server
//! stopped the CLI builds what the database alone can tell.

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use super::clients::list_clients;
use super::error::AdminError;
use crate::seal::META_MASTER_KEY_PROVIDER;
use crate::store::Store;

/// Every field the screen shows. Fields a source cannot know stay None and print as
/// "unknown" (or "never" for a backup that was never made).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusReport {
    /// True when a running server answered; false when read from the database offline.
    pub running: bool,
    pub version: String,
    pub uptime_secs: Option<u64>,
    /// KMIP listener address.
    pub listen: Option<String>,
    /// Root key provider that wraps the stored master key ("local" or "keyprotect").
    pub root_provider: Option<String>,
    /// "unsealed" or "sealed"; None when no server is running to say.
    pub root_state: Option<String>,
    pub sealed_reason: Option<String>,
    /// Unix time of the last Key Protect poll that got an answer.
    pub keyprotect_last_sync_unix: Option<u64>,
    pub keyprotect_unreachable_secs: Option<u64>,
    pub keyprotect_last_error: Option<String>,
    pub wrapped_key_version: Option<String>,
    pub clients: usize,
    /// Objects that still hold key material.
    pub live_keys: usize,
    /// Every object, destroyed ones included.
    pub total_objects: usize,
    /// Unix time of the last backup; None = never or unknown.
    pub last_backup_unix: Option<u64>,
    pub keys_changed_since_backup: Option<u64>,
    /// Hash of the newest audit record (filled once the audit log exists).
    pub audit_chain_head: Option<String>,
    /// Client and server certificates that expire within 30 days (`super::expiry`).
    #[serde(default)]
    pub expiring: Vec<super::expiry::ExpiryWarning>,
    /// The registered clients' objects by KMIP state name (`Active`, `Deactivated`, …).
    #[serde(default)]
    pub keys_by_state: std::collections::BTreeMap<String, usize>,
}

impl StatusReport {
    /// Adds the server certificate's warning (read from its file, which only the server's
    /// host has) unless one is there already.
    pub fn with_server_certificate(mut self, cert_path: &std::path::Path) -> StatusReport {
        if !self.expiring.iter().any(|w| w.kind == "server")
            && let Some(warning) = super::expiry::server(cert_path, super::registry::now())
        {
            self.expiring.push(warning);
        }
        self
    }
}

/// The parts of the status the database holds.
pub fn from_store(store: &dyn Store) -> Result<StatusReport, AdminError> {
    let clients = list_clients(store)?;
    let view = store.read()?;
    let provider = view
        .get_meta(META_MASTER_KEY_PROVIDER)?
        .map(|p| String::from_utf8_lossy(&p).into_owned());
    let backup = crate::backup::changes::status(&*view)?;
    // A log that cannot be read is reported as unknown here; `keyward audit verify` says why.
    let audit_chain_head = crate::audit::head(&*view)
        .ok()
        .flatten()
        .map(|(seq, mac)| format!("seq {seq}, MAC {mac}"));
    let expiring = super::expiry::clients(clients.iter().map(|c| &c.entry), super::registry::now());
    let mut keys_by_state = std::collections::BTreeMap::new();
    for key in clients.iter().flat_map(|c| &c.keys) {
        *keys_by_state.entry(key.state.clone()).or_insert(0) += 1;
    }
    Ok(StatusReport {
        keys_by_state,
        expiring,
        last_backup_unix: backup.last_backup.as_ref().map(|last| last.unix),
        // Groups committed since on a single appliance; objects changed since on a cluster.
        keys_changed_since_backup: Some(backup.changes_since),
        audit_chain_head,
        running: false,
        version: env!("CARGO_PKG_VERSION").to_string(),
        root_provider: provider,
        clients: clients.len(),
        live_keys: clients.iter().map(|c| c.live_keys()).sum(),
        total_objects: clients.iter().map(|c| c.keys.len()).sum(),
        ..StatusReport::default()
    })
}

fn ago(now: u64, then: u64) -> String {
    let secs = now.saturating_sub(then);
    match secs {
        0..=119 => format!("{secs} s ago"),
        120..=7199 => format!("{} min ago", secs / 60),
        7200..=172_799 => format!("{} h ago", secs / 3600),
        _ => format!("{} days ago", secs / 86_400),
    }
}

/// The one screen, for a person; `now` is the current Unix time.
pub fn render(status: &StatusReport, now: u64) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "keyward {}", status.version);
    render_server(&mut out, status);
    render_root(&mut out, status, now);
    render_keys(&mut out, status);
    render_backup(&mut out, status, now);
    let _ = writeln!(
        out,
        "audit chain head: {}",
        status.audit_chain_head.clone().unwrap_or_else(unknown)
    );
    for warning in &status.expiring {
        let _ = writeln!(out, "WARNING:          certificate: {}", warning.describe());
    }
    out
}

fn unknown() -> String {
    "unknown".to_string()
}

/// Whether the server runs, since when and where.
fn render_server(out: &mut String, status: &StatusReport) {
    if status.running {
        let _ = writeln!(
            out,
            "server:           running, up {}",
            status
                .uptime_secs
                .map(|s| format!("{} s", s))
                .unwrap_or_else(unknown)
        );
        let _ = writeln!(
            out,
            "listening on:     {}",
            status.listen.clone().unwrap_or_else(unknown)
        );
    } else {
        let _ = writeln!(
            out,
            "server:           not running (read from the database; live state unknown)"
        );
    }
}

/// The root key provider and its state; with Key Protect, how its sync goes.
fn render_root(out: &mut String, status: &StatusReport, now: u64) {
    let _ = writeln!(
        out,
        "root key:         {}, {}",
        status.root_provider.clone().unwrap_or_else(unknown),
        match (&status.root_state, &status.sealed_reason) {
            (Some(state), Some(reason)) if state == "sealed" => format!("SEALED: {reason}"),
            (Some(state), _) => state.clone(),
            (None, _) => "state unknown".into(),
        }
    );
    if status.root_provider.as_deref() == Some("keyprotect") || status.wrapped_key_version.is_some()
    {
        let _ = writeln!(
            out,
            "Key Protect sync: {}",
            status
                .keyprotect_last_sync_unix
                .map(|t| format!("last answer {}", ago(now, t)))
                .unwrap_or_else(|| "no answer yet".into())
        );
        if let Some(secs) = status.keyprotect_unreachable_secs {
            let _ = writeln!(
                out,
                "                  UNREACHABLE for {secs} s (still serving with the key it holds)"
            );
        }
        if let Some(error) = &status.keyprotect_last_error {
            let _ = writeln!(out, "                  last error: {error}");
        }
        if let Some(version) = &status.wrapped_key_version {
            let _ = writeln!(
                out,
                "                  master key wrapped under version {version}"
            );
        }
    }
}

/// Clients, keys and keys by state.
fn render_keys(out: &mut String, status: &StatusReport) {
    let _ = writeln!(
        out,
        "clients:          {} registered; {} live key(s) ({} object(s) in all)",
        status.clients, status.live_keys, status.total_objects
    );
    if !status.keys_by_state.is_empty() {
        let states: Vec<String> = status
            .keys_by_state
            .iter()
            .map(|(state, count)| format!("{state} {count}"))
            .collect();
        let _ = writeln!(out, "keys by state:    {}", states.join(", "));
    }
}

/// The newest backup and whether keys changed after it, warning when a new one is due.
fn render_backup(out: &mut String, status: &StatusReport, now: u64) {
    let _ = writeln!(
        out,
        "last backup:      {}; keys changed since: {}",
        status
            .last_backup_unix
            .map(|t| ago(now, t))
            .unwrap_or_else(|| "never".into()),
        status
            .keys_changed_since_backup
            .map(|n| n.to_string())
            .unwrap_or_else(unknown)
    );
    match (status.last_backup_unix, status.keys_changed_since_backup) {
        (None, _) => {
            let _ = writeln!(
                out,
                "WARNING:          no backup has been taken (`keyward backup export`)"
            );
        }
        (Some(_), Some(changed)) if changed > 0 => {
            let _ = writeln!(
                out,
                "WARNING:          keys were created or changed after the newest backup; take \
                 a new one"
            );
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offline_screen_says_not_running_and_never() {
        let store = crate::store::memory::MemoryStore::new();
        let status = from_store(&store).unwrap();
        assert!(!status.running);
        assert_eq!(status.clients, 0);
        let text = render(&status, 100);
        assert!(text.contains("server:           not running"), "{text}");
        assert!(text.contains("last backup:      never"), "{text}");
        assert!(text.contains("audit chain head: unknown"), "{text}");
    }

    #[test]
    fn sealed_running_screen_says_why() {
        let status = StatusReport {
            running: true,
            version: "1".into(),
            root_provider: Some("keyprotect".into()),
            root_state: Some("sealed".into()),
            sealed_reason: Some("the root key is disabled".into()),
            keyprotect_last_sync_unix: Some(40),
            ..StatusReport::default()
        };
        let text = render(&status, 100);
        assert!(text.contains("SEALED: the root key is disabled"), "{text}");
        let expiring = StatusReport {
            expiring: vec![super::super::expiry::ExpiryWarning {
                kind: "client".into(),
                name: "vc".into(),
                not_after: 0,
                days_left: 3,
            }],
            ..status
        };
        let text = render(&expiring, 100);
        assert!(
            text.contains("WARNING:          certificate: client \"vc\" expires in 3 day(s)"),
            "{text}"
        );
        assert!(text.contains("last answer 60 s ago"), "{text}");
    }
}
