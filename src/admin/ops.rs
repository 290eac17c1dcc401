//! The admin operations on a store, shared by the offline CLI (database opened directly) and
//! the admin socket of a running server (the same calls, made in the server process).
use super::credential::KmipCredential;
use super::keys;
use super::protocol::{
    AuditCheck, AuditChecked, AuditQuery, AuditRecords, Refusal, Reply, Request,
};
use super::registry::{ClientEntry, Registry, RegistryError};
use crate::audit::AuditEvent;
use crate::store::{Store, StoreError};

pub use super::clients::{
    ClientView, Removed, add_client, add_client_by, check_client, list_clients, remove_client,
    remove_client_by, show_client,
};
pub use super::error::AdminError;
pub use crate::audit::AuditBy;

pub(crate) use super::audit_record::audit_admin;

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
        Request::ListKeys { filter } => {
            reads_recorded(by);
            Reply::Keys {
                keys: keys::list_keys(store, &filter)?,
            }
        }
        Request::ShowKey { uid } => {
            reads_recorded(by);
            Reply::Key {
                key: keys::show_key(store, &uid)?,
            }
        }
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
        Request::AuditVerify => audit_verify(store, by)?,
        Request::AuditShow(query) => audit_show(store, node, &query, by)?,
        Request::AuditCheck(piece) => audit_check(&piece, by)?,
        Request::Import(_) | Request::ImportFacts(_) => needs_running_server(
            "an import through the admin socket needs the running server's master \
             key; without a server, `keyward import` opens the data directory",
        ),
        Request::BackupExport(_) => needs_running_server(
            "an online backup export needs the running server's master key; \
             without a server, `keyward backup export` opens the data directory",
        ),
        Request::BackupStatus => {
            Reply::BackupStatus(crate::backup::changes::status(&*store.read()?)?)
        }
        Request::Status => Reply::Status {
            status: Box::new(super::status::from_store(store)?),
        },
        Request::Unseal { .. } => needs_running_server(
            "unsealing fills the running server's master key slot: start the server \
             (`systemctl start keyward`), then run `keyward unseal` again",
        ),
        Request::ConsoleEvent(event) => match by {
            Some(by) => {
                super::console_event::record(store, &event, Some(by))?;
                Reply::Done
            }
            None => audit_off(),
        },
        Request::AccountEvent(event) => match by {
            Some(by) => {
                super::account_event::record(store, &event, Some(by))?;
                Reply::Done
            }
            None => audit_off(),
        },
    })
}

/// What a request that only the running server can serve gets without one.
fn needs_running_server(message: &str) -> Reply {
    Reply::Error {
        message: message.into(),
    }
}

/// Before keys are shown from the store: waits until the reads answered so far are folded in
/// from the read journal, with the first Gets' clears of Fresh they carry, so a key a client
/// has been served is shown as no longer Fresh (`engine/fresh.rs`).
fn reads_recorded(by: AuditBy<'_>) {
    if let Some((ctx, _)) = by {
        ctx.wait_reads_recorded();
    }
}

/// What an audit request gets from a server whose audit log is off.
fn audit_off() -> Reply {
    Reply::Error {
        message: "the audit log is off on this server".into(),
    }
}

/// Verifies the whole chain, after the reads still being recorded are in.
fn audit_verify(store: &dyn Store, by: AuditBy<'_>) -> Result<Reply, AdminError> {
    let Some((ctx, _)) = by else {
        return Ok(audit_off());
    };
    ctx.wait_reads_recorded();
    let view = store.read()?;
    let key = ctx.key().map_err(StoreError::from)?;
    Ok(Reply::AuditVerified(
        crate::audit::verify::verify(&*view, key).map_err(StoreError::from)?,
    ))
}

/// The records `query` selects, labelled with this node's id in a cluster.
fn audit_show(
    store: &dyn Store,
    node: Option<&str>,
    query: &AuditQuery,
    by: AuditBy<'_>,
) -> Result<Reply, AdminError> {
    if let Some((ctx, _)) = by {
        ctx.wait_reads_recorded();
    }
    let records = crate::audit::query::select(&*store.read()?, &query.filter, query.limit)
        .map_err(StoreError::from)?;
    Ok(Reply::AuditRecords(AuditRecords {
        records,
        node: node.map(str::to_string),
    }))
}

/// Checks a piece of another node's chain against this server's chain key.
fn audit_check(piece: &AuditCheck, by: AuditBy<'_>) -> Result<Reply, AdminError> {
    let Some((ctx, _)) = by else {
        return Ok(audit_off());
    };
    let key = ctx.key().map_err(StoreError::from)?;
    let checked = crate::audit::verify::verify_records(key, &piece.records, piece.after.as_ref());
    Ok(Reply::AuditChecked(match checked {
        Ok(next) => AuditChecked { next, broken: None },
        Err(broken) => AuditChecked {
            next: None,
            broken: Some(broken),
        },
    }))
}
