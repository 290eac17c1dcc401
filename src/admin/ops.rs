//! The admin operations on a store, shared by the offline CLI (database opened directly) and
//! the admin socket of a running server (the same calls, made in the server process).

use serde::{Deserialize, Serialize};

use super::protocol::{Reply, Request};
use super::registry::{self, ClientEntry, Registry, RegistryError};
use crate::engine::EngineError;
use crate::engine::admin::{ObjectSummary, destroy_owned, owned_objects};
use crate::store::{Store, StoreError};

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
    let mut txn = store.write()?;
    let mut registry = Registry::load(&*txn)?;
    registry.add(entry.clone())?;
    registry.save(&mut *txn)?;
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
    txn.commit()?;
    Ok(Removed {
        entry,
        destroyed_keys,
    })
}

/// Runs one admin request on `store`: what the admin socket does in a running server, and
/// what the CLI does itself when the server is stopped.
pub fn execute(store: &dyn Store, request: Request) -> Result<Reply, AdminError> {
    Ok(match request {
        Request::CheckClient { entry } => {
            check_client(store, &entry)?;
            Reply::Done
        }
        Request::AddClient { entry } => Reply::Added {
            entry: add_client(store, entry)?,
        },
        Request::ListClients => Reply::Clients {
            clients: list_clients(store)?,
        },
        Request::ShowClient { name } => Reply::Client {
            client: show_client(store, &name)?,
        },
        Request::RemoveClient { name, destroy_keys } => Reply::Removed {
            removed: remove_client(store, &name, destroy_keys)?,
        },
        Request::Status => Reply::Status {
            status: Box::new(super::status::from_store(store)?),
        },
    })
}
