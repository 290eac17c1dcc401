//! The admin socket: the CLI's way into a running server, which holds the database. A Unix
//! socket in the data directory, mode 0600, answered only for the server's own user (or root)
//! as the kernel reports the peer. One request per connection, handled on the admin thread
//! (`admin_thread.rs`), never on the event loop: admin requests are rare and small, and the
//! peer is the trusted local admin, so a short blocking exchange is simpler than another
//! state machine, and the loop must not wait for it.

use std::io::{BufRead, BufReader, Read, Write};
use std::os::fd::OwnedFd;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use mio::net::UnixListener;

use super::metrics::unix_secs;
use super::trust_refresh::LastSeen;
use super::{ServerError, Services};
use crate::admin::ops;
use crate::admin::protocol::{Envelope, MAX_REQUEST_BYTES, PROTOCOL_VERSION, Reply, Request};
use crate::admin::status::StatusReport;

/// How long a connected admin peer may take to send its request.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(2);

pub struct AdminSocket {
    pub(super) listener: UnixListener,
    path: PathBuf,
}

impl AdminSocket {
    /// The data directory the socket lives in (its server certificate beside it).
    pub(super) fn data_dir(&self) -> &Path {
        self.path.parent().unwrap_or(Path::new("."))
    }

    /// Binds `path`, replacing a stale socket left by a server that did not stop cleanly.
    pub fn bind(path: &Path) -> Result<AdminSocket, ServerError> {
        if let Ok(meta) = std::fs::symlink_metadata(path) {
            if !meta.file_type().is_socket() {
                return Err(ServerError::Io {
                    what: format!("admin socket {}", path.display()),
                    message: "exists and is not a socket; remove it".into(),
                });
            }
            std::fs::remove_file(path)
                .map_err(|e| ServerError::io(format!("removing stale {}", path.display()), e))?;
        }
        let listener = UnixListener::bind(path)
            .map_err(|e| ServerError::io(format!("binding admin socket {}", path.display()), e))?;
        // The data directory is 0700 already; the socket is restricted as well in case the
        // operator loosened the directory.
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
            .map_err(|e| ServerError::io(format!("restricting {}", path.display()), e))?;
        Ok(AdminSocket {
            listener,
            path: path.to_path_buf(),
        })
    }
}

impl Drop for AdminSocket {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// What the event loop must do after a handled request, before the reply is sent.
#[derive(Debug, Default)]
pub(super) struct Effects {
    /// The registry changed: reload the handshake trust.
    pub registry_changed: bool,
    /// Close open connections of this owner (a removed client).
    pub cut_off_owner: Option<String>,
}

/// The peer's uid as the kernel saw it at connect time.
fn peer_uid(stream: &UnixStream) -> Option<u32> {
    rustix::net::sockopt::socket_peercred(stream)
        .ok()
        .map(|cred| cred.uid.as_raw())
}

impl Effects {
    pub(super) fn any(&self) -> bool {
        self.registry_changed || self.cut_off_owner.is_some()
    }
}

/// Answers one admin connection. `apply` carries the request's effects to the event loop
/// and returns once they are applied, before the reply leaves: a CLI told "removed" must find
/// the removed client's connections already closed.
pub(super) fn handle(
    stream: OwnedFd,
    services: &Services,
    last_seen: &LastSeen,
    apply: impl FnOnce(Effects),
) {
    let stream = UnixStream::from(stream);
    let own_uid = rustix::process::geteuid().as_raw();
    let uid = match peer_uid(&stream) {
        Some(uid) if uid == own_uid || uid == 0 => uid,
        other => {
            log::warn!("admin socket: refused a peer running as uid {other:?}");
            return;
        }
    };
    if stream.set_nonblocking(false).is_err()
        || stream.set_read_timeout(Some(REQUEST_TIMEOUT)).is_err()
        || stream.set_write_timeout(Some(REQUEST_TIMEOUT)).is_err()
    {
        return;
    }
    // Zeroized when dropped: an unseal or backup request carries a passphrase, an import
    // request key material.
    let mut line = zeroize::Zeroizing::new(String::new());
    let read = BufReader::new((&stream).take(MAX_REQUEST_BYTES)).read_line(&mut line);
    let (reply, effects) = match read {
        Err(e) => {
            log::warn!("admin socket: reading the request of uid {uid}: {e}");
            return;
        }
        Ok(_) => match serde_json::from_str::<Envelope<Request>>(&line) {
            Err(e) => (
                Reply::Error {
                    message: format!("unreadable request: {e}"),
                },
                Effects::default(),
            ),
            Ok(envelope) if envelope.version != PROTOCOL_VERSION => (
                Reply::Error {
                    message: format!(
                        "admin protocol {} is not supported; this server speaks {PROTOCOL_VERSION}",
                        envelope.version
                    ),
                },
                Effects::default(),
            ),
            Ok(envelope) if matches!(envelope.body, Request::BackupExport(_)) => {
                super::backup_export::spawn(stream, envelope.body, services, uid);
                return;
            }
            Ok(envelope) if matches!(envelope.body, Request::Unseal { .. }) => {
                super::unseal::spawn(stream, envelope.body, services, uid);
                return;
            }
            Ok(envelope) if super::admin_import::handles(&envelope.body) => {
                super::admin_import::spawn(stream, envelope.body, services, uid);
                return;
            }
            Ok(envelope) => execute(envelope.body, services, uid),
        },
    };
    if effects.any() {
        apply(effects);
    }
    let reply = match last_seen.lock() {
        Ok(seen) => with_last_seen(reply, &seen),
        Err(_) => reply,
    };
    let mut answer = match serde_json::to_vec(&Envelope {
        version: PROTOCOL_VERSION,
        body: reply,
    }) {
        Ok(answer) => answer,
        Err(e) => {
            log::error!("admin socket: cannot encode a reply: {e}");
            return;
        }
    };
    answer.push(b'\n');
    if let Err(e) = (&stream).write_all(&answer) {
        log::warn!("admin socket: uid {uid} left before its reply: {e}");
    }
}

/// Fills in when each client last connected to this server process.
fn with_last_seen(mut reply: Reply, last_seen: &std::collections::HashMap<String, i64>) -> Reply {
    let update = |entry: &mut crate::admin::registry::ClientEntry| {
        if let Some(&seen) = last_seen.get(&entry.owner) {
            entry.last_seen = Some(entry.last_seen.map_or(seen, |stored| stored.max(seen)));
        }
    };
    match &mut reply {
        Reply::Clients { clients } => clients.iter_mut().for_each(|c| update(&mut c.entry)),
        Reply::Client { client } => update(&mut client.entry),
        _ => {}
    }
    reply
}

fn execute(request: Request, services: &Services, uid: u32) -> (Reply, Effects) {
    let action = match &request {
        Request::RevokeKey { uid, reason } => Some(format!("revoked key {uid} ({reason:?})")),
        Request::DestroyKey { uid } => Some(format!("destroyed key {uid}")),
        Request::ServerCertRenewed { fingerprint } => Some(format!(
            "renewed the server certificate (SHA-256 {fingerprint})"
        )),
        _ => None,
    };
    let actor = crate::audit::user_actor(uid);
    let by = services.audit.as_deref().map(|ctx| (ctx, &actor));
    let node = services.cluster.as_deref().map(|cluster| cluster.node_id());
    let reply = match ops::execute_by(services.store.as_ref(), node, request, by) {
        Ok(reply) => reply,
        Err(e) => return (ops::error_reply(e), Effects::default()),
    };
    if let Some(action) = action {
        log::info!("admin uid {uid}: {action}");
    }
    let reply = match reply {
        Reply::Status { status } => Reply::Status {
            status: Box::new(with_live_state(*status, services)),
        },
        other => other,
    };
    let effects = match &reply {
        Reply::Added { entry } => {
            log::info!(
                "admin uid {uid}: added client {:?} ({}, owner {})",
                entry.name,
                entry.kind.label(),
                entry.owner
            );
            Effects {
                registry_changed: true,
                cut_off_owner: None,
            }
        }
        Reply::Removed { removed } => {
            log::info!(
                "admin uid {uid}: removed client {:?} (owner {}), destroyed {} key(s)",
                removed.entry.name,
                removed.entry.owner,
                removed.destroyed_keys
            );
            Effects {
                registry_changed: true,
                cut_off_owner: Some(removed.entry.owner.clone()),
            }
        }
        Reply::CredentialSet { entry } => {
            log::info!(
                "admin uid {uid}: {} the KMIP credential of client {:?}",
                if entry.kmip_username.is_some() {
                    "set"
                } else {
                    "cleared"
                },
                entry.name
            );
            Effects {
                registry_changed: true,
                cut_off_owner: None,
            }
        }
        _ => Effects::default(),
    };
    (reply, effects)
}

/// Adds to the database's view what only the running process knows.
pub(crate) fn with_live_state(mut status: StatusReport, services: &Services) -> StatusReport {
    let metrics = &services.metrics;
    status.running = true;
    status.uptime_secs = Some(metrics.uptime_secs());
    status.listen = metrics.listen();
    if status.root_provider.is_none() {
        status.root_provider = Some(metrics.provider());
    }
    match services.engine.gate().current() {
        Ok(_) => status.root_state = Some("unsealed".into()),
        Err(reason) => {
            status.root_state = Some("sealed".into());
            status.sealed_reason = Some(reason);
        }
    }
    if let Some(sync) = metrics.sync_status() {
        status.keyprotect_last_sync_unix = sync.last_success.map(unix_secs);
        status.keyprotect_unreachable_secs = sync.unreachable_for.map(|d| d.as_secs());
        status.keyprotect_last_error = sync.last_error;
        status.wrapped_key_version = sync.wrapped_key_version;
    }
    // The store already answered the backup fields (`from_store`); the metrics only fill in
    // what it could not, e.g. on a cluster node, which keeps no counter.
    let (last_backup, changes) = metrics.backup();
    status.last_backup_unix = status.last_backup_unix.or(last_backup);
    status.keys_changed_since_backup = status.keys_changed_since_backup.or(changes);
    status
}
