//! The admin operations on a store, shared by the offline CLI (database opened directly) and
//! the admin socket of a running server (the same calls, made in the server process).

use serde::{Deserialize, Serialize};

use super::protocol::{AuditRecords, Reply, Request};
use super::registry::{self, ClientEntry, Registry, RegistryError};
use crate::audit::{self, Actor, AuditContext, AuditEvent};
use crate::engine::EngineError;
use crate::engine::admin::{ObjectSummary, destroy_owned, owned_objects};
use crate::store::{Store, StoreError, WriteView};

#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error(transparent)]
    Registry(#[from] RegistryError),
    #[error("store: {0}")]
    Store(#[from] StoreError),
    #[error("reading keys: {0}")]
    Engine(#[from] EngineError),
    #[error(
        "client {name:?} owns {live} key(s) that are not destroyed; nothing changed. Pass \
         --destroy-keys to destroy them with the client (see `keyward client show {name}`)"
    )]
    OwnsKeys { name: String, live: usize },
}

/// A client with its keys (all of them, destroyed ones included).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientView {
    pub entry: ClientEntry,
    pub keys: Vec<ObjectSummary>,
}

impl ClientView {
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

/// Who performs an admin action and the audit log it goes to; `None` records nothing (tests,
/// and the offline CLI until it holds the master key).
pub type AuditBy<'a> = Option<(&'a AuditContext, &'a Actor)>;

/// Appends the audit record of an admin action inside its transaction.
fn audit_admin(
    txn: &mut dyn WriteView,
    by: AuditBy<'_>,
    event: AuditEvent,
) -> Result<(), AdminError> {
    if let Some((ctx, actor)) = by {
        audit::record(txn, ctx, actor.clone(), event).map_err(StoreError::from)?;
    }
    Ok(())
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

/// Runs one admin request on `store`: what the admin socket does in a running server, and
/// what the CLI does itself when the server is stopped.
pub fn execute(store: &dyn Store, request: Request) -> Result<Reply, AdminError> {
    execute_by(store, request, None)
}

/// [`execute`], recording admin actions in the audit log as `by`.
pub fn execute_by(
    store: &dyn Store,
    request: Request,
    by: AuditBy<'_>,
) -> Result<Reply, AdminError> {
    Ok(match request {
        Request::CheckClient { entry } => {
            check_client(store, &entry)?;
            Reply::Done
        }
        Request::AddClient { entry } => Reply::Added {
            entry: add_client_by(store, entry, by)?,
        },
        Request::ListClients => Reply::Clients {
            clients: list_clients(store)?,
        },
        Request::ShowClient { name } => Reply::Client {
            client: show_client(store, &name)?,
        },
        Request::RemoveClient { name, destroy_keys } => Reply::Removed {
            removed: remove_client_by(store, &name, destroy_keys, by)?,
        },
        Request::AuditVerify => match by {
            Some((ctx, _)) => Reply::AuditVerified(
                crate::audit::verify::verify(&*store.read()?, ctx.key().map_err(StoreError::from)?)
                    .map_err(StoreError::from)?,
            ),
            None => Reply::Error {
                message: "the audit log is off on this server".into(),
            },
        },
        Request::AuditShow(query) => Reply::AuditRecords(AuditRecords {
            records: crate::audit::query::select(&*store.read()?, &query.filter, query.limit)
                .map_err(StoreError::from)?,
        }),
    })
}
