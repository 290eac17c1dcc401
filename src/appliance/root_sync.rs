//! Runs the Key Protect sync thread beside the server: its events seal and unseal the engine's
//! master key slot directly (the slot is thread-safe, so the event loop need not be woken) and
//! copy the thread's counters into the server's metrics after every poll, where `/metrics`
//! and the `status` admin request read them.

use std::sync::{Arc, OnceLock};

use super::error::ApplianceError;
use super::setup::{Appliance, keyprotect_config};
use crate::audit::{Actor, AuditContext, AuditEvent};
use crate::engine::KeyGate;
use crate::keyprotect::sync::{
    self, SealReason, StatusReader, SyncEvent, SyncHandle, SyncSettings,
};
use crate::server::metrics::Metrics;

/// The root key watch of a running server (a no-op with the local root).
pub struct RootSync {
    handle: Option<SyncHandle>,
}

#[derive(Clone)]
struct StatusCopy {
    metrics: Arc<Metrics>,
    reader: Arc<OnceLock<StatusReader>>,
}

impl StatusCopy {
    fn refresh(&self) {
        if let Some(reader) = self.reader.get() {
            self.metrics.set_sync_status(reader.status());
        }
    }
}

impl RootSync {
    /// Starts the sync thread when the appliance uses Key Protect.
    pub fn start(appliance: &Appliance) -> Result<RootSync, ApplianceError> {
        let Some(root) = &appliance.keyprotect else {
            return Ok(RootSync { handle: None });
        };
        let gate = Arc::clone(appliance.engine.gate());
        let copy = StatusCopy {
            metrics: Arc::clone(&appliance.metrics),
            reader: Arc::new(OnceLock::new()),
        };
        let settings = SyncSettings::from_config(keyprotect_config(&appliance.config)?);
        let sealed = appliance.sealed_at_start.clone().map(SealReason::AtStartup);
        let sink = copy.clone();
        let audit_sink = appliance
            .audit_log()
            .map(|audit| (Arc::clone(&appliance.store), audit));
        let handle = sync::spawn(
            Arc::clone(root),
            Arc::clone(&appliance.store),
            settings,
            sealed,
            move |event| {
                if let Some((store, audit)) = &audit_sink {
                    audit_event(store.as_ref(), audit, &event);
                }
                apply(&gate, event);
                sink.refresh();
            },
        )
        .map_err(|e| ApplianceError::io("starting the Key Protect sync thread", e))?;
        let _ = copy.reader.set(handle.status_reader());
        copy.refresh();
        log::info!(
            "Key Protect sync thread started (every {} s)",
            settings.interval.as_secs_f64()
        );
        Ok(RootSync {
            handle: Some(handle),
        })
    }

    /// Stops the sync thread (waiting for at most one Key Protect call).
    pub fn shutdown(self) {
        if let Some(handle) = self.handle {
            handle.shutdown();
        }
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
