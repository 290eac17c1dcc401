//! Runs the Key Protect sync thread beside the server: its events seal and unseal the engine's
//! master key slot directly (the slot is thread-safe, so the event loop need not be woken) and
//! refresh `status.json` (after every poll, so its last-success time stays current).

use crate::audit::{Actor, AuditContext, AuditEvent};
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::SystemTime;

use super::ServerError;
use super::setup::{Appliance, keyprotect_config};
use super::status_file::{self, ApplianceStatus, unix_secs};
use crate::engine::KeyGate;
use crate::keyprotect::sync::{
    self, SealReason, StatusReader, SyncEvent, SyncHandle, SyncSettings,
};

/// The root key watch of a running server (a no-op with the local root).
pub struct RootSync {
    handle: Option<SyncHandle>,
    status: StatusWriter,
}

#[derive(Clone)]
struct StatusWriter {
    data_dir: PathBuf,
    provider: String,
    gate: Arc<KeyGate>,
    reader: Arc<OnceLock<StatusReader>>,
}

impl StatusWriter {
    fn write(&self, serving: bool) {
        let sync = self.reader.get().map(StatusReader::status);
        let sealed_reason = self.gate.current().err();
        let status = ApplianceStatus {
            provider: self.provider.clone(),
            serving,
            sealed: sealed_reason.is_some(),
            sealed_reason,
            unreachable_for_secs: sync
                .as_ref()
                .and_then(|s| s.unreachable_for)
                .map(|d| d.as_secs()),
            last_error: sync.as_ref().and_then(|s| s.last_error.clone()),
            last_success_unix: sync.as_ref().and_then(|s| s.last_success).map(unix_secs),
            wrapped_key_version: sync.and_then(|s| s.wrapped_key_version),
            written_unix: unix_secs(SystemTime::now()),
        };
        if let Err(e) = status_file::write(&self.data_dir, &status) {
            log::error!("cannot update the status file: {e}");
        }
    }
}

impl RootSync {
    /// Starts the sync thread when the appliance uses Key Protect, and writes the status file.
    pub fn start(appliance: &Appliance) -> Result<RootSync, ServerError> {
        let status = StatusWriter {
            data_dir: appliance.config.data_dir.clone(),
            provider: appliance.config.root.provider.name().to_string(),
            gate: Arc::clone(appliance.engine.gate()),
            reader: Arc::new(OnceLock::new()),
        };
        let Some(root) = &appliance.keyprotect else {
            status.write(true);
            return Ok(RootSync {
                handle: None,
                status,
            });
        };
        let settings = SyncSettings::from_config(keyprotect_config(&appliance.config)?);
        let sealed = appliance.sealed_at_start.clone().map(SealReason::AtStartup);
        let sink_status = status.clone();
        let audit_sink = appliance
            .config
            .audit
            .enabled
            .then(|| (Arc::clone(&appliance.store), Arc::clone(&appliance.audit)));
        let handle = sync::spawn(
            Arc::clone(root),
            Arc::clone(&appliance.store),
            settings,
            sealed,
            move |event| {
                if let Some((store, audit)) = &audit_sink {
                    audit_event(store.as_ref(), audit, &event);
                }
                apply(&sink_status.gate, event);
                sink_status.write(true);
            },
        )
        .map_err(|e| ServerError::io("starting the Key Protect sync thread", e))?;
        // An event sent before this point wrote a status without the thread's counters; this
        // write completes it.
        let _ = status.reader.set(handle.status_reader());
        status.write(true);
        log::info!(
            "Key Protect sync thread started (every {} s)",
            settings.interval.as_secs_f64()
        );
        Ok(RootSync {
            handle: Some(handle),
            status,
        })
    }

    /// Stops the sync thread (waiting for at most one Key Protect call) and records the stop.
    pub fn shutdown(self) {
        if let Some(handle) = self.handle {
            handle.shutdown();
        }
        self.status.write(false);
    }
}

/// Records a root-key event. A seal or unseal changes no stored state, so it gets a transaction
/// of its own; the rewrap was committed by the sync thread just before this event.
fn audit_event(store: &dyn crate::store::Store, audit: &AuditContext, event: &SyncEvent) {
    let event = match event {
        SyncEvent::Sealed(reason) => {
            AuditEvent::failure("root.seal", vec!["keyprotect".into()], reason.to_string())
        }
        SyncEvent::Unsealed(_) => AuditEvent::success("root.unseal", vec!["keyprotect".into()]),
        SyncEvent::Rewrapped { key_version } => AuditEvent {
            reason: Some(format!("root key version {key_version}")),
            ..AuditEvent::success("root.rewrap", vec!["keyprotect".into()])
        },
        _ => return,
    };
    let result = store.write().and_then(|mut txn| {
        crate::audit::record(txn.as_mut(), audit, Actor::System, event)?;
        txn.commit()
    });
    if let Err(e) = result {
        log::error!("cannot write the audit record of a root key event: {e}");
    }
}

fn apply(gate: &KeyGate, event: SyncEvent) {
    match event {
        SyncEvent::Sealed(reason) => {
            gate.seal(reason.to_string());
            log::error!(
                target: "keyward::audit",
                "appliance SEALED: {reason}; master key dropped, key material refused"
            );
        }
        SyncEvent::Unsealed(master) => {
            gate.install(master);
            log::warn!(target: "keyward::audit", "appliance UNSEALED: root key available again");
        }
        SyncEvent::Rewrapped { key_version } => {
            log::info!("master key rewrapped under root key version {key_version}");
        }
        SyncEvent::Unreachable {
            unreachable_for, ..
        } => log::debug!(
            "Key Protect unreachable for {} s (status updated)",
            unreachable_for.as_secs()
        ),
        SyncEvent::Reachable { after } => {
            log::debug!("Key Protect reachable after {} s", after.as_secs())
        }
        SyncEvent::Alarm(text) => log::debug!("Key Protect alarm recorded: {text}"),
        SyncEvent::Polled => {}
    }
}
