//! The admin socket's wire format: one JSON request line, one JSON response line, then the
//! server closes. Versioned so an older CLI gets a clear refusal, not a misread answer.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::clients::{ClientView, Removed};
use super::credential::CredentialChange;
use super::keys::{KeyFilter, KeyView, RevokeReason};
use super::registry::ClientEntry;
use super::status::StatusReport;
use crate::audit::verify::Verification;
use crate::backup::passphrase::SecretText;

pub const PROTOCOL_VERSION: u32 = 1;
/// File name of the socket in the data directory.
pub const SOCKET_FILE: &str = "admin.sock";
/// Largest request line accepted (a CA bundle fits easily).
pub const MAX_REQUEST_BYTES: u64 = 1 << 20;

/// `keyward unseal` ([`Request::Unseal`]) carries the operator's passphrase for a `[root]
/// seal_at_start` appliance; only a running server answers it, on a thread of its own (Argon2id
/// takes a while). `keyward audit note` ([`Request::ConsoleEvent`]) records an administrator's
/// action outside Keyward (the appliance console: network, SSH, restart, a shell) as
/// `console.<action>`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Request {
    CheckClient {
        entry: ClientEntry,
    },
    AddClient {
        entry: ClientEntry,
    },
    ListClients,
    ShowClient {
        name: String,
    },
    RemoveClient {
        name: String,
        destroy_keys: bool,
    },
    ListKeys {
        filter: KeyFilter,
    },
    ShowKey {
        uid: String,
    },
    RevokeKey {
        uid: String,
        reason: RevokeReason,
    },
    DestroyKey {
        uid: String,
    },
    SetCredential {
        change: CredentialChange,
    },
    ServerCertRenewed {
        fingerprint: String,
    },
    AuditVerify,
    AuditShow(AuditQuery),
    AuditCheck(AuditCheck),
    BackupExport(BackupExportRequest),
    BackupStatus,
    Status,
    Unseal {
        passphrase: SecretText,
    },
    ConsoleEvent(super::console_event::ConsoleEvent),
    /// `keyward admin-user …` / `api-token …` changed the accounts file: its audit record.
    AccountEvent(super::account_event::AccountEvent),
    Import(super::import::ImportRequest),
    ImportFacts(super::import::FactsRequest),
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum Reply {
    Done,
    Added { entry: ClientEntry },
    Clients { clients: Vec<ClientView> },
    Client { client: ClientView },
    Removed { removed: Removed },
    Error { message: String },
    Keys { keys: Vec<KeyView> },
    Key { key: KeyView },
    Refused { kind: Refusal, message: String },
    CredentialSet { entry: ClientEntry },
    AuditVerified(Verification),
    AuditRecords(AuditRecords),
    AuditChecked(AuditChecked),
    BackupExported(crate::backup::export::ExportSummary),
    BackupStatus(crate::backup::changes::BackupStatus),
    Status { status: Box<StatusReport> },
    Imported(super::import::ImportResults),
    ImportFacts(super::import::FactsReply),
}

/// `keyward audit show/export`: the records matching `filter`, oldest first, at most `limit`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AuditQuery {
    pub filter: crate::audit::query::Filter,
    pub limit: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AuditRecords {
    pub records: Vec<crate::audit::StoredRecord>,
    /// The cluster node whose log this is; absent on a single appliance.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
}

/// `keyward audit merge`: one piece of a node's exported log, checked with this server's chain
/// key (every node of a cluster derives the same one from the shared master key). `after` is
/// where the previous piece of the same export ended.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AuditCheck {
    pub records: Vec<crate::audit::StoredRecord>,
    pub after: Option<crate::audit::verify::ChainPoint>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AuditChecked {
    /// Where this piece ends, for the next one.
    pub next: Option<crate::audit::verify::ChainPoint>,
    pub broken: Option<crate::audit::verify::Break>,
}

/// `Request::Import` / `Reply::Imported`: `keyward import`, objects from another KMIP server
/// stored under their own UIDs; `Request::ImportFacts`: what Keyward holds for these UIDs, for
/// `keyward import verify` without a KMIP certificate (both in `super::import`).
///
/// Why a request was refused (`Reply::Refused`), for the CLI's exit code. The other new
/// variants: `SetCredential` with `credential: None` clears it; `ServerCertRenewed` records
/// that `server cert renew` replaced the files (hex SHA-256 of the new certificate).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Refusal {
    NotFound,
    WrongState,
}

/// What [`Request::BackupExport`] carries: export an encrypted backup on a thread of its own
/// while the server keeps serving. [`Request::BackupStatus`] asks for the last backup and the
/// changes since, for `keyward status`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BackupExportRequest {
    /// Absolute path on the server's host; the server writes the file.
    pub out: std::path::PathBuf,
    pub passphrase: crate::backup::passphrase::SecretText,
    /// Argon2id parameters; `None` = the defaults. Tests pass reduced ones explicitly.
    #[serde(default)]
    pub kdf: Option<crate::backup::header::KdfSettings>,
    #[serde(default)]
    pub with_audit: bool,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct Envelope<T> {
    pub version: u32,
    #[serde(flatten)]
    pub body: T,
}

/// Why a request over the admin socket got no reply the command can read.
#[derive(Debug, thiserror::Error)]
pub enum ExchangeError {
    #[error("admin socket {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}")]
    Encode(#[source] serde_json::Error),
    #[error("admin socket {}: unreadable reply: {source}", path.display())]
    Unreadable {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("the server speaks admin protocol {found}, this command {PROTOCOL_VERSION}")]
    Version { found: u32 },
}

/// Sends one request over `stream` (connected to the socket at `path`) and waits (bounded)
/// for the reply.
pub fn exchange(
    stream: UnixStream,
    path: &Path,
    request: &Request,
) -> Result<Reply, ExchangeError> {
    exchange_waiting(stream, path, request, Duration::from_secs(60))
}

/// [`exchange`] with a reply timeout of the caller's choosing (a backup export takes longer).
pub fn exchange_waiting(
    mut stream: UnixStream,
    path: &Path,
    request: &Request,
    timeout: Duration,
) -> Result<Reply, ExchangeError> {
    let who = |source: std::io::Error| ExchangeError::Io {
        path: path.to_path_buf(),
        source,
    };
    stream.set_read_timeout(Some(timeout)).map_err(who)?;
    // Zeroized when dropped: an unseal or backup request carries a passphrase, an import
    // request key material.
    let mut line = zeroize::Zeroizing::new(
        serde_json::to_vec(&Envelope {
            version: PROTOCOL_VERSION,
            body: request,
        })
        .map_err(ExchangeError::Encode)?,
    );
    line.push(b'\n');
    stream.write_all(&line).map_err(who)?;
    let mut answer = String::new();
    BufReader::new(stream).read_line(&mut answer).map_err(who)?;
    let envelope: Envelope<Reply> =
        serde_json::from_str(&answer).map_err(|source| ExchangeError::Unreadable {
            path: path.to_path_buf(),
            source,
        })?;
    if envelope.version != PROTOCOL_VERSION {
        return Err(ExchangeError::Version {
            found: envelope.version,
        });
    }
    Ok(envelope.body)
}
