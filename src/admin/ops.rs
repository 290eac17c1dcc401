//! The admin operations on a store, shared by the offline CLI (database opened directly) and
//! the admin socket of a running server (the same calls, made in the server process).

use serde::{Deserialize, Serialize};

use super::credential::KmipCredential;
use super::keys;
use super::protocol::{AuditChecked, AuditRecords, Refusal, Reply, Request};
use super::registry::{self, ClientEntry, Registry, RegistryError};
use crate::audit::AuditEvent;
use crate::engine::admin::{ObjectSummary, destroy_owned, owned_objects};
use crate::store::{Store, StoreError};

pub use super::error::AdminError;

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

pub use crate::audit::AuditBy;

pub(crate) use super::audit_record::audit_admin;

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

/// Sets (or with `None` clears) the KMIP username and password `name` must present.
pub fn set_credential(
    store: &dyn Store,
    name: &str,
    credential: Option<KmipCredential>,
    by: AuditBy<'_>,
) -> Result<ClientEntry, AdminError> {
    let mut txn = store.write()?;
    let mut registry = Registry::load(&*txn)?;
    let entry = registry
        .get_mut(name)
        .ok_or_else(|| RegistryError::UnknownClient(name.to_string()))?;
    let operation = if credential.is_some() {
        "client.credential.set"
    } else {
        "client.credential.clear"
    };
    match credential {
        Some(credential) => {
            entry.kmip_username = Some(credential.username);
            entry.kmip_password_hash = Some(credential.password_hash);
        }
        None => {
            entry.kmip_username = None;
            entry.kmip_password_hash = None;
        }
    }
    let entry = entry.clone();
    registry.save(&mut *txn)?;
    audit_admin(
        &mut *txn,
        by,
        AuditEvent::success(operation, vec![entry.name.clone(), entry.owner.clone()]),
    )?;
    txn.commit()?;
    Ok(entry)
}

/// Meta key of the SHA-256 (hex) of the server certificate last installed by `server cert
/// renew`.
pub const META_SERVER_CERT_FINGERPRINT: &str = "server.cert.fingerprint";

/// Records that the server certificate was renewed (the files are already in place).
pub fn record_server_cert(
    store: &dyn Store,
    fingerprint: &str,
    by: AuditBy<'_>,
) -> Result<(), AdminError> {
    let mut txn = store.write()?;
    txn.put_meta(META_SERVER_CERT_FINGERPRINT, fingerprint.as_bytes())?;
    audit_admin(
        &mut *txn,
        by,
        AuditEvent::success("server.cert.renew", vec![fingerprint.to_string()]),
    )?;
    txn.commit()?;
    Ok(())
}

/// Stores when each owner was last seen (seconds since the epoch), keeping the later of the
/// stored and the given time. Returns how many clients changed.
pub fn persist_last_seen(
    store: &dyn Store,
    seen: &std::collections::HashMap<String, i64>,
) -> Result<usize, AdminError> {
    let mut txn = store.write()?;
    let mut registry = Registry::load(&*txn)?;
    let changed = seen
        .iter()
        .filter(|(owner, at)| registry.note_last_seen(owner, **at))
        .count();
    if changed > 0 {
        registry.save(&mut *txn)?;
        txn.commit()?;
    }
    Ok(changed)
}

/// The reply for a failed request: a refusal a script can tell apart (not found, wrong
/// state), or a plain error.
pub fn error_reply(error: AdminError) -> Reply {
    let kind = match &error {
        AdminError::KeyNotFound(_) | AdminError::Registry(RegistryError::UnknownClient(_)) => {
            Some(Refusal::NotFound)
        }
        AdminError::KeyState(_) => Some(Refusal::WrongState),
        _ => None,
    };
    match kind {
        Some(kind) => Reply::Refused {
            kind,
            message: error.to_string(),
        },
        None => Reply::Error {
            message: error.to_string(),
        },
    }
}

/// Runs one admin request on `store`: what the admin socket does in a running server, and
/// what the CLI does itself when the server is stopped.
pub fn execute(store: &dyn Store, request: Request) -> Result<Reply, AdminError> {
    execute_by(store, None, request, None)
}

/// [`execute`], recording admin actions in the audit log as `by`. `node` is a cluster node's
/// id (`crate::cluster::Cluster::node_id`), which labels the audit records it shows; `None`
/// for a single appliance.
pub fn execute_by(
    store: &dyn Store,
    node: Option<&str>,
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
        Request::ListKeys { filter } => Reply::Keys {
            keys: keys::list_keys(store, &filter)?,
        },
        Request::ShowKey { uid } => Reply::Key {
            key: keys::show_key(store, &uid)?,
        },
        Request::RevokeKey { uid, reason } => Reply::Key {
            key: keys::revoke_key(store, &uid, reason, by)?,
        },
        Request::DestroyKey { uid } => Reply::Key {
            key: keys::destroy_key(store, &uid, by)?,
        },
        Request::SetCredential { change } => Reply::CredentialSet {
            entry: set_credential(store, &change.client, change.credential, by)?,
        },
        Request::ServerCertRenewed { fingerprint } => {
            record_server_cert(store, &fingerprint, by)?;
            Reply::Done
        }
        Request::AuditVerify => match by {
            Some((ctx, _)) => Reply::AuditVerified({
                ctx.wait_reads_recorded();
                crate::audit::verify::verify(&*store.read()?, ctx.key().map_err(StoreError::from)?)
                    .map_err(StoreError::from)?
            }),
            None => Reply::Error {
                message: "the audit log is off on this server".into(),
            },
        },
        Request::AuditShow(query) => Reply::AuditRecords(AuditRecords {
            records: {
                if let Some((ctx, _)) = by {
                    ctx.wait_reads_recorded();
                }
                crate::audit::query::select(&*store.read()?, &query.filter, query.limit)
                    .map_err(StoreError::from)?
            },
            node: node.map(str::to_string),
        }),
        Request::AuditCheck(piece) => match by {
            Some((ctx, _)) => {
                let key = ctx.key().map_err(StoreError::from)?;
                let checked =
                    crate::audit::verify::verify_records(key, &piece.records, piece.after.as_ref());
                Reply::AuditChecked(match checked {
                    Ok(next) => AuditChecked { next, broken: None },
                    Err(broken) => AuditChecked {
                        next: None,
                        broken: Some(broken),
                    },
                })
            }
            None => Reply::Error {
                message: "the audit log is off on this server".into(),
            },
        },
        Request::Import(_) | Request::ImportFacts(_) => Reply::Error {
            message: "an import through the admin socket needs the running server's master \
                      key; without a server, `keyward import` opens the data directory"
                .into(),
        },
        Request::BackupExport(_) => Reply::Error {
            message: "an online backup export needs the running server's master key; \
                      without a server, `keyward backup export` opens the data directory"
                .into(),
        },
        Request::BackupStatus => {
            Reply::BackupStatus(crate::backup::changes::status(&*store.read()?)?)
        }
        Request::Status => Reply::Status {
            status: Box::new(super::status::from_store(store)?),
        },
        Request::Unseal { .. } => Reply::Error {
            message: "unsealing fills the running server's master key slot: start the server \
                      (`systemctl start keyward`), then run `keyward unseal` again"
                .into(),
        },
        Request::ConsoleEvent(event) => match by {
            Some(by) => {
                super::console_event::record(store, &event, Some(by))?;
                Reply::Done
            }
            None => Reply::Error {
                message: "the audit log is off on this server".into(),
            },
        },
        Request::AccountEvent(event) => match by {
            Some(by) => {
                super::account_event::record(store, &event, Some(by))?;
                Reply::Done
            }
            None => Reply::Error {
                message: "the audit log is off on this server".into(),
            },
        },
    })
}
