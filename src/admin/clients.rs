//! The client registry's operations with the keys each client owns: add, list, show and remove
//! a client. In a file of their own (`ops.rs` re-exports them) because the admin protocol
//! (`protocol.rs`, whose replies carry a `ClientView`) and the status screen (`status.rs`,
//! which counts clients) need them, while `ops.rs` dispatches protocol requests and builds the
//! status: kept in `ops.rs` they made it and those two files import each other.

use serde::{Deserialize, Serialize};

use super::audit_record::audit_admin;
use super::error::AdminError;
use super::registry::{self, ClientEntry, Registry, RegistryError};
use crate::audit::{AuditBy, AuditEvent};
use crate::engine::admin::{ObjectSummary, destroy_owned, owned_objects};
use crate::store::Store;

/// A client with its keys (all of them, destroyed ones included).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientView {
    pub entry: ClientEntry,
    pub keys: Vec<ObjectSummary>,
}

impl ClientView {
    /// The entry alone, its keys not looked up: for answers about the entry itself (just
    /// added, issued or changed), which list no keys.
    pub fn entry_only(entry: ClientEntry) -> ClientView {
        ClientView {
            entry,
            keys: Vec::new(),
        }
    }

    /// Keys that still hold material.
    pub fn live_keys(&self) -> usize {
        self.keys
            .iter()
            .filter(|k| !k.state.starts_with("Destroyed"))
            .count()
    }
}

/// What `remove_client` did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Removed {
    pub entry: ClientEntry,
    pub destroyed_keys: usize,
}

/// Whether `entry` could be added now (name, owner and certificates free).
pub fn check_client(store: &dyn Store, entry: &ClientEntry) -> Result<(), AdminError> {
    let mut registry = Registry::load(&*store.read()?)?;
    registry.add(entry.clone())?;
    Ok(())
}

pub fn add_client(store: &dyn Store, entry: ClientEntry) -> Result<ClientEntry, AdminError> {
    add_client_by(store, entry, None)
}

pub fn add_client_by(
    store: &dyn Store,
    entry: ClientEntry,
    by: AuditBy<'_>,
) -> Result<ClientEntry, AdminError> {
    let mut txn = store.write()?;
    let mut registry = Registry::load(&*txn)?;
    registry.add(entry.clone())?;
    registry.save(&mut *txn)?;
    audit_admin(
        &mut *txn,
        by,
        AuditEvent::success("client.add", vec![entry.name.clone(), entry.owner.clone()]),
    )?;
    txn.commit()?;
    Ok(entry)
}

pub fn list_clients(store: &dyn Store) -> Result<Vec<ClientView>, AdminError> {
    let view = store.read()?;
    let registry = Registry::load(&*view)?;
    let mut out = Vec::new();
    for entry in registry.clients() {
        out.push(ClientView {
            keys: owned_objects(&*view, &entry.owner)?,
            entry: entry.clone(),
        });
    }
    Ok(out)
}

pub fn show_client(store: &dyn Store, name: &str) -> Result<ClientView, AdminError> {
    let view = store.read()?;
    let registry = Registry::load(&*view)?;
    let entry = registry
        .get(name)
        .cloned()
        .ok_or_else(|| RegistryError::UnknownClient(name.to_string()))?;
    Ok(ClientView {
        keys: owned_objects(&*view, &entry.owner)?,
        entry,
    })
}

/// Removes `name`; refused while it owns live keys unless `destroy_keys`, which destroys them
/// in the same transaction.
pub fn remove_client(
    store: &dyn Store,
    name: &str,
    destroy_keys: bool,
) -> Result<Removed, AdminError> {
    remove_client_by(store, name, destroy_keys, None)
}

pub fn remove_client_by(
    store: &dyn Store,
    name: &str,
    destroy_keys: bool,
    by: AuditBy<'_>,
) -> Result<Removed, AdminError> {
    let mut txn = store.write()?;
    let mut registry = Registry::load(&*txn)?;
    let entry = registry
        .get(name)
        .cloned()
        .ok_or_else(|| RegistryError::UnknownClient(name.to_string()))?;
    let live = owned_objects(&*txn, &entry.owner)?
        .iter()
        .filter(|k| !k.state.starts_with("Destroyed"))
        .count();
    if live > 0 && !destroy_keys {
        return Err(AdminError::OwnsKeys {
            name: name.to_string(),
            live,
        });
    }
    let entry = registry.remove(name)?;
    let destroyed_keys = if destroy_keys {
        destroy_owned(&mut *txn, &entry.owner, registry::now())?
    } else {
        0
    };
    registry.save(&mut *txn)?;
    audit_admin(
        &mut *txn,
        by,
        AuditEvent {
            reason: Some(format!("destroyed {destroyed_keys} key(s)")),
            ..AuditEvent::success(
                "client.remove",
                vec![entry.name.clone(), entry.owner.clone()],
            )
        },
    )?;
    txn.commit()?;
    Ok(Removed {
        entry,
        destroyed_keys,
    })
}
