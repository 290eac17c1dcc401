//! The endpoints of the HTTPS admin API. Each turns an HTTP call into one of the admin
//! requests the CLI and the admin socket use (`admin::ops::execute_by`: one code path for all
//! three) and its reply into an IBM-shaped JSON collection. Changes are recorded in the audit
//! log as the calling account or token (`api:alice`, `api:token:ci`).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use serde::Deserialize;
use serde_json::Value;

use super::accounts::Role;
use super::approvals::{Action, ApprovalError, Approvals};
use super::auth::{self, AuthError, Caller, Gatekeeper};
use super::shape;
use super::views;
use crate::admin::keys::{KeyFilter, RevokeReason};
use crate::admin::ops::{self, AdminError, ClientView};
use crate::admin::protocol::{AuditQuery, Reply, Request};
use crate::admin::registry::{self, ClientEntry, ClientKind, RegistryError};
use crate::audit::{Actor, AuditEvent};
use crate::server::Services;
use crate::server::registry_notify::RegistryNotifier;

/// The OpenAPI document, checked in beside the code it describes.
pub const OPENAPI: &str = include_str!("openapi.json");
/// Most records or keys one call returns (`limit` is capped to this).
pub const MAX_PAGE: usize = 5000;

/// What every handler can reach.
pub struct App {
    pub services: Services,
    pub gatekeeper: Gatekeeper,
    pub data_dir: PathBuf,
    pub server_cert: PathBuf,
    /// Tells the KMIP event loop to reload the handshake trust; `None` in unit tests.
    pub notifier: Option<RegistryNotifier>,
    /// With `destroy_approval`: destruction waiting for a second admin.
    pub approvals: Option<super::approvals::Approvals>,
    /// `[backup]`: where scheduled backups go (`None`: not scheduled).
    pub backup: Option<crate::backup::schedule::BackupSettings>,
}

/// One HTTP call, already read and bounded.
pub struct Call {
    pub params: Vec<String>,
    pub query: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// The session or API token the call carried (header or cookie), for logout.
    pub token: Option<String>,
    pub caller: Option<Caller>,
    pub peer: SocketAddr,
    /// `X-Keyward-Backup-Passphrase` of a backup upload (zeroized when dropped).
    pub backup_passphrase: Option<zeroize::Zeroizing<String>>,
}

pub struct Answer {
    pub status: u16,
    pub body: Value,
    /// A `Set-Cookie` value (console login and logout).
    pub set_cookie: Option<String>,
    /// A file to send instead of `body` (backups, audit export).
    pub download: Option<Download>,
}

/// A file answer: sent as an attachment with this name and type.
pub struct Download {
    /// A plain file name (checked by the handler; never a path).
    pub filename: String,
    pub content_type: &'static str,
    pub body: DownloadBody,
}

pub enum DownloadBody {
    Bytes(Vec<u8>),
    /// Streamed from the file (open at its start; a scratch file already unlinked).
    File {
        file: std::fs::File,
        len: u64,
    },
}

impl DownloadBody {
    /// The file at `path`, opened for streaming.
    pub fn open(path: &std::path::Path) -> Result<DownloadBody, ApiError> {
        let file = std::fs::File::open(path)
            .map_err(|e| ApiError::new(500, "INTERNAL_SERVER_ERR", e.to_string()))?;
        let len = file
            .metadata()
            .map_err(|e| ApiError::new(500, "INTERNAL_SERVER_ERR", e.to_string()))?
            .len();
        Ok(DownloadBody::File { file, len })
    }
}

/// The console's session cookie.
pub const SESSION_COOKIE: &str = "kw_session";

#[derive(Debug)]
pub struct ApiError {
    pub status: u16,
    pub code: &'static str,
    pub message: String,
}

impl ApiError {
    pub fn new(status: u16, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
        }
    }

    pub(super) fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(400, "BAD_REQUEST_ERR", message)
    }
}

impl From<AuthError> for ApiError {
    fn from(e: AuthError) -> ApiError {
        ApiError::new(e.status(), e.code(), e.to_string())
    }
}

impl From<AdminError> for ApiError {
    fn from(e: AdminError) -> ApiError {
        let (status, code) = match &e {
            AdminError::KeyNotFound(_) => (404, "KEY_NOT_FOUND_ERR"),
            AdminError::Registry(RegistryError::UnknownClient(_)) => (404, "CLIENT_NOT_FOUND_ERR"),
            AdminError::Registry(RegistryError::Store(_)) => (500, "INTERNAL_SERVER_ERR"),
            AdminError::Registry(_) => (409, "CLIENT_CONFLICT_ERR"),
            AdminError::KeyState(_) => (409, "KEY_STATE_ERR"),
            AdminError::OwnsKeys { .. } => (409, "CLIENT_OWNS_KEYS_ERR"),
            AdminError::Credential(_) => (400, "BAD_REQUEST_ERR"),
            _ => (500, "INTERNAL_SERVER_ERR"),
        };
        if status == 500 {
            log::error!("admin API: {e}");
        }
        ApiError::new(status, code, e.to_string())
    }
}

pub type Handler = fn(&App, &Call) -> Result<Answer, ApiError>;

pub(super) fn ok(body: Value) -> Result<Answer, ApiError> {
    Ok(Answer {
        status: 200,
        body,
        set_cookie: None,
        download: None,
    })
}

pub(super) fn caller(call: &Call) -> Result<&Caller, ApiError> {
    call.caller
        .as_ref()
        .ok_or_else(|| AuthError::Missing.into())
}

pub(super) fn param(call: &Call, at: usize) -> Result<&str, ApiError> {
    call.params
        .get(at)
        .map(String::as_str)
        .ok_or_else(|| ApiError::bad_request("missing path parameter"))
}

pub(super) fn query<'a>(call: &'a Call, name: &str) -> Option<&'a str> {
    call.query
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

pub(super) fn query_number(call: &Call, name: &str, default: usize) -> Result<usize, ApiError> {
    match query(call, name) {
        None => Ok(default),
        Some(text) => text.parse().map_err(|_| {
            ApiError::bad_request(format!("query parameter {name}={text:?} is not a number"))
        }),
    }
}

pub(super) fn query_bool(call: &Call, name: &str) -> Result<bool, ApiError> {
    match query(call, name) {
        None | Some("false") => Ok(false),
        Some("true") => Ok(true),
        Some(other) => Err(ApiError::bad_request(format!(
            "query parameter {name}={other:?}: expected true or false"
        ))),
    }
}

/// The body as `T`; a clear 400 for anything else.
pub(super) fn json_body<'a, T: Deserialize<'a>>(call: &'a Call) -> Result<T, ApiError> {
    serde_json::from_slice(&call.body).map_err(|e| {
        ApiError::new(
            400,
            "BAD_JSON_ERR",
            format!("the request body is not the expected JSON: {e}"),
        )
    })
}

/// The audit actor of an API caller.
pub(super) fn actor(caller: &Caller) -> Actor {
    let uid = rustix::process::geteuid().as_raw();
    Actor::User {
        uid,
        name: format!("api:{}", caller.name),
    }
}

/// Runs `request` through the shared admin operations, as `caller`.
pub(super) fn execute(app: &App, caller: &Caller, request: Request) -> Result<Reply, ApiError> {
    let actor = actor(caller);
    let by = app.services.audit.as_deref().map(|ctx| (ctx, &actor));
    let node = app
        .services
        .cluster
        .as_deref()
        .map(|cluster| cluster.node_id());
    let reply = ops::execute_by(app.services.store.as_ref(), node, request, by)?;
    match reply {
        Reply::Refused { message, .. } => Err(ApiError::new(409, "CONFLICT_ERR", message)),
        Reply::Error { message } => Err(ApiError::new(500, "INTERNAL_SERVER_ERR", message)),
        other => Ok(other),
    }
}

pub(super) fn unexpected(reply: &Reply) -> ApiError {
    log::error!("admin API: unexpected reply {reply:?}");
    ApiError::new(
        500,
        "INTERNAL_SERVER_ERR",
        "unexpected reply from the admin operations",
    )
}

/// Records an API event that no admin operation records (logins).
pub(super) fn audit_event(app: &App, actor: Actor, event: AuditEvent) {
    let Some(ctx) = app.services.audit.as_deref() else {
        return;
    };
    let result = (|| -> Result<(), crate::store::StoreError> {
        let mut txn = app.services.store.write()?;
        crate::audit::record(txn.as_mut(), ctx, actor, event)?;
        txn.commit()
    })();
    if let Err(e) = result {
        log::error!("admin API: recording an audit event failed: {e}");
    }
}

fn registry_changed(app: &App) {
    if let Some(notifier) = &app.notifier {
        notifier.registry_changed();
    }
}

// --- public --------------------------------------------------------------------------------

pub fn openapi(_: &App, _: &Call) -> Result<Answer, ApiError> {
    let document: Value = serde_json::from_str(OPENAPI)
        .map_err(|e| ApiError::new(500, "INTERNAL_SERVER_ERR", e.to_string()))?;
    ok(document)
}

pub fn health(app: &App, _: &Call) -> Result<Answer, ApiError> {
    let (status, state, reason) = match app.services.engine.gate().current() {
        Ok(_) => (200, "serving", None),
        Err(reason) => (503, "sealed", Some(reason)),
    };
    Ok(Answer {
        set_cookie: None,
        download: None,
        status,
        body: shape::single("health", views::Health { state, reason }),
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Login {
    username: String,
    password: crate::backup::passphrase::SecretText,
    /// The web console: the session goes into an HttpOnly cookie, not the body, and the
    /// answer carries the CSRF token the console echoes on changes.
    #[serde(default)]
    cookie: bool,
    /// The current code of an account with TOTP.
    #[serde(default)]
    otp: Option<String>,
}

pub fn login(app: &App, call: &Call) -> Result<Answer, ApiError> {
    let login: Login = json_body(call)?;
    let peer = call.peer.ip();
    let user_actor = |name: &str| Actor::User {
        uid: rustix::process::geteuid().as_raw(),
        name: format!("api:{name}"),
    };
    match app.gatekeeper.login(
        &login.username,
        login.password.expose().as_bytes(),
        login.otp.as_deref(),
        peer,
    ) {
        Ok((token, csrf, caller)) => {
            audit_event(
                app,
                user_actor(&caller.name),
                AuditEvent::success("admin_http.login", vec![peer.to_string()]),
            );
            log::info!("admin API: {} logged in from {peer}", caller.name);
            let mut session = views::Session {
                username: &caller.name,
                role: caller.role.label(),
                expires_in: app.gatekeeper.session_secs(),
                csrf_token: None,
                token: None,
            };
            let set_cookie = if login.cookie {
                session.csrf_token = Some(&csrf);
                Some(format!(
                    "{SESSION_COOKIE}={}; Path=/; Max-Age={}; HttpOnly; Secure; SameSite=Strict",
                    token.as_str(),
                    app.gatekeeper.session_secs()
                ))
            } else {
                session.token = Some(token.as_str());
                None
            };
            Ok(Answer {
                status: 200,
                body: shape::single("session", session),
                set_cookie,
                download: None,
            })
        }
        Err(e) => {
            log::warn!(
                "admin API: failed login as {:?} from {peer}: {e}",
                login.username
            );
            audit_event(
                app,
                user_actor(&login.username),
                AuditEvent::failure("admin_http.login", vec![peer.to_string()], e.to_string()),
            );
            Err(e.into())
        }
    }
}

// --- any role ------------------------------------------------------------------------------

pub fn logout(app: &App, call: &Call) -> Result<Answer, ApiError> {
    if let Some(token) = &call.token {
        app.gatekeeper.logout(token);
    }
    Ok(Answer {
        status: 200,
        body: shape::collection("session", Vec::<Value>::new(), 0),
        set_cookie: Some(format!(
            "{SESSION_COOKIE}=; Path=/; Max-Age=0; HttpOnly; Secure; SameSite=Strict"
        )),
        download: None,
    })
}

pub fn whoami(_: &App, call: &Call) -> Result<Answer, ApiError> {
    let caller = caller(call)?;
    ok(shape::single(
        "caller",
        views::CallerView {
            name: &caller.name,
            role: caller.role.label(),
        },
    ))
}

pub fn status(app: &App, call: &Call) -> Result<Answer, ApiError> {
    match execute(app, caller(call)?, Request::Status)? {
        Reply::Status { status } => {
            let status = crate::server::admin_socket::with_live_state(*status, &app.services)
                .with_server_certificate(&app.server_cert);
            app.services
                .metrics
                .set_certificates_expiring(status.expiring.len());
            ok(shape::single("status", status))
        }
        other => Err(unexpected(&other)),
    }
}

pub fn list_clients(app: &App, call: &Call) -> Result<Answer, ApiError> {
    let offset = query_number(call, "offset", 0)?;
    let limit = query_number(call, "limit", MAX_PAGE)?.min(MAX_PAGE);
    match execute(app, caller(call)?, Request::ListClients)? {
        Reply::Clients { clients } => {
            let total = clients.len();
            let page = shape::page(clients, offset, limit);
            let resources = page.iter().map(|c| views::Client::new(c, false));
            ok(shape::collection("client", resources, total))
        }
        other => Err(unexpected(&other)),
    }
}

pub fn show_client(app: &App, call: &Call) -> Result<Answer, ApiError> {
    let name = param(call, 0)?.to_string();
    match execute(app, caller(call)?, Request::ShowClient { name })? {
        Reply::Client { client } => ok(shape::single("client", views::Client::new(&client, true))),
        other => Err(unexpected(&other)),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewClient {
    name: String,
    /// vCenter's own certificate (PEM): pinned by fingerprint.
    #[serde(default)]
    certificate: Option<String>,
    /// Or a CA (PEM) whose certificates are accepted, optionally only with `subject`.
    #[serde(default)]
    ca: Option<String>,
    #[serde(default)]
    subject: Option<String>,
}

pub(super) fn single_cert_der(pem: &str, what: &str) -> Result<Vec<u8>, ApiError> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let cert = CertificateDer::pem_slice_iter(pem.as_bytes())
        .next()
        .ok_or_else(|| ApiError::bad_request(format!("{what}: contains no PEM certificate")))?
        .map_err(|e| ApiError::bad_request(format!("{what}: not a PEM certificate: {e}")))?;
    x509_parser::parse_x509_certificate(&cert)
        .map_err(|e| ApiError::bad_request(format!("{what}: not an X.509 certificate: {e}")))?;
    Ok(cert.to_vec())
}

fn new_entry(
    name: &str,
    kind: ClientKind,
    owner: String,
    fingerprints: Vec<String>,
    cert_not_after: Option<i64>,
) -> ClientEntry {
    ClientEntry {
        cert_not_after,
        name: name.to_string(),
        kind,
        owner,
        fingerprints,
        created: registry::now(),
        last_seen: None,
        kmip_username: None,
        kmip_password_hash: None,
    }
}

fn add_entry(app: &App, caller: &Caller, entry: ClientEntry) -> Result<ClientEntry, ApiError> {
    match execute(app, caller, Request::AddClient { entry })? {
        Reply::Added { entry } => {
            registry_changed(app);
            log::info!(
                "admin API {}: added client {:?} ({}, owner {})",
                caller.name,
                entry.name,
                entry.kind.label(),
                entry.owner
            );
            Ok(entry)
        }
        other => Err(unexpected(&other)),
    }
}

pub fn add_client(app: &App, call: &Call) -> Result<Answer, ApiError> {
    let caller = caller(call)?;
    let new: NewClient = json_body(call)?;
    registry::check_name(&new.name).map_err(|e| ApiError::bad_request(e.to_string()))?;
    let entry = match (&new.certificate, &new.ca) {
        (Some(pem), None) => {
            let der = single_cert_der(pem, "certificate")?;
            let identity = crate::pki::client_identity(&der);
            new_entry(
                &new.name,
                ClientKind::PinnedCertificate,
                identity.owner,
                vec![hex::encode(identity.fingerprint)],
                crate::admin::expiry::der_not_after(&der),
            )
        }
        (None, Some(pem)) => {
            single_cert_der(pem, "ca")?;
            let owner = registry::trusted_ca_owner(&new.name, new.subject.as_deref());
            new_entry(
                &new.name,
                ClientKind::TrustedCa {
                    ca_pem: pem.clone(),
                    subject: new.subject.clone(),
                },
                owner,
                Vec::new(),
                None,
            )
        }
        _ => {
            return Err(ApiError::bad_request(
                "give exactly one of `certificate` (vCenter's certificate, PEM) or `ca` (a CA \
                 certificate, PEM)",
            ));
        }
    };
    let entry = add_entry(app, caller, entry)?;
    Ok(Answer {
        set_cookie: None,
        download: None,
        status: 201,
        body: shape::single(
            "client",
            views::Client::new(&ClientView::entry_only(entry), false),
        ),
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct IssueClient {
    name: String,
}

pub fn issue_client(app: &App, call: &Call) -> Result<Answer, ApiError> {
    let caller = caller(call)?;
    let issue: IssueClient = json_body(call)?;
    let name = issue.name;
    registry::check_name(&name).map_err(|e| ApiError::bad_request(e.to_string()))?;
    let owner = format!("cn:{name}");
    execute(
        app,
        caller,
        Request::CheckClient {
            entry: new_entry(&name, ClientKind::Issued, owner.clone(), Vec::new(), None),
        },
    )?;
    // The PKI writes files; a private directory in the data directory holds them until read.
    let scratch = tempfile_in(&app.data_dir)?;
    let issued = crate::pki::issue_client(&app.data_dir, &name, scratch.path())
        .map_err(|e| ApiError::new(500, "INTERNAL_SERVER_ERR", e.to_string()))?;
    let read = |path: &std::path::Path| {
        std::fs::read_to_string(path)
            .map(zeroize::Zeroizing::new)
            .map_err(|e| ApiError::new(500, "INTERNAL_SERVER_ERR", e.to_string()))
    };
    let (cert, key, ca) = (
        read(&issued.cert)?,
        read(&issued.key)?,
        read(&issued.ca_cert)?,
    );
    drop(scratch);
    let entry = add_entry(
        app,
        caller,
        new_entry(
            &name,
            ClientKind::Issued,
            owner,
            vec![hex::encode(issued.fingerprint)],
            crate::admin::expiry::pem_not_after(&cert),
        ),
    )?;
    Ok(Answer {
        set_cookie: None,
        download: None,
        status: 201,
        body: shape::single(
            "client.issued",
            views::IssuedClient {
                client: views::Client::new(&ClientView::entry_only(entry), false),
                certificate: cert.as_str(),
                private_key: key.as_str(),
                ca_certificate: ca.as_str(),
            },
        ),
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SignCsr {
    name: String,
    /// vCenter's certificate signing request (PEM).
    csr: String,
}

/// vCenter's "New Certificate Signing Request" method: the appliance CA signs the CSR and the
/// client is registered with the signed certificate, which the answer carries.
pub fn sign_csr(app: &App, call: &Call) -> Result<Answer, ApiError> {
    let caller = caller(call)?;
    let request: SignCsr = json_body(call)?;
    registry::check_name(&request.name).map_err(|e| ApiError::bad_request(e.to_string()))?;
    let scratch = tempfile_in(&app.data_dir)?;
    let csr_path = scratch.path().join("request.csr");
    std::fs::write(&csr_path, request.csr.as_bytes())
        .map_err(|e| ApiError::new(500, "INTERNAL_SERVER_ERR", e.to_string()))?;
    let signed = crate::pki::sign_csr(&app.data_dir, &csr_path)
        .map_err(|e| ApiError::bad_request(format!("csr: {e}")))?;
    drop(scratch);
    let identity = crate::pki::client_identity(&signed.der);
    let entry = add_entry(
        app,
        caller,
        new_entry(
            &request.name,
            ClientKind::SignedCsr,
            identity.owner,
            vec![hex::encode(signed.fingerprint)],
            crate::admin::expiry::der_not_after(&signed.der),
        ),
    )?;
    Ok(Answer {
        set_cookie: None,
        download: None,
        status: 201,
        body: shape::single(
            "client.signed",
            views::SignedClient {
                client: views::Client::new(&ClientView::entry_only(entry), false),
                certificate: &signed.pem,
            },
        ),
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SetCredential {
    username: String,
    password: crate::backup::passphrase::SecretText,
}

/// Sets (PUT) the KMIP username and password a client must send; only a hash is stored.
pub fn set_credential(app: &App, call: &Call) -> Result<Answer, ApiError> {
    let caller = caller(call)?;
    let name = param(call, 0)?.to_string();
    let body: SetCredential = json_body(call)?;
    let credential =
        crate::admin::credential::hash_password(&body.username, body.password.expose().as_bytes())
            .map_err(|e| ApiError::bad_request(e.to_string()))?;
    change_credential(app, caller, name, Some(credential))
}

/// Clears a client's KMIP credential.
pub fn clear_credential(app: &App, call: &Call) -> Result<Answer, ApiError> {
    let caller = caller(call)?;
    let name = param(call, 0)?.to_string();
    change_credential(app, caller, name, None)
}

fn change_credential(
    app: &App,
    caller: &Caller,
    name: String,
    credential: Option<crate::admin::credential::KmipCredential>,
) -> Result<Answer, ApiError> {
    let change = crate::admin::credential::CredentialChange {
        client: name,
        credential,
    };
    match execute(app, caller, Request::SetCredential { change })? {
        Reply::CredentialSet { entry } => {
            registry_changed(app);
            log::info!(
                "admin API {}: {} the KMIP credential of client {:?}",
                caller.name,
                if entry.kmip_username.is_some() {
                    "set"
                } else {
                    "cleared"
                },
                entry.name
            );
            ok(shape::single(
                "client",
                views::Client::new(&ClientView::entry_only(entry), false),
            ))
        }
        other => Err(unexpected(&other)),
    }
}

/// A 0700 directory under `dir`, removed when dropped.
pub(super) fn tempfile_in(dir: &std::path::Path) -> Result<ScratchDir, ApiError> {
    let mut random = [0u8; 8];
    getrandom::fill(&mut random)
        .map_err(|e| ApiError::new(500, "INTERNAL_SERVER_ERR", e.to_string()))?;
    let path = dir.join(format!(".admin-http-{}", hex::encode(random)));
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .mode(0o700)
        .create(&path)
        .map_err(|e| ApiError::new(500, "INTERNAL_SERVER_ERR", e.to_string()))?;
    Ok(ScratchDir(path))
}

pub(super) struct ScratchDir(PathBuf);

impl ScratchDir {
    pub(super) fn path(&self) -> &std::path::Path {
        &self.0
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub fn remove_client(app: &App, call: &Call) -> Result<Answer, ApiError> {
    let caller = caller(call)?;
    let name = param(call, 0)?.to_string();
    let destroy_keys = query_bool(call, "destroyKeys")?;
    if destroy_keys {
        auth::require(caller, Role::Admin)?;
        if app.approvals.is_some() {
            return request_approval(app, caller, Action::RemoveClientWithKeys { name });
        }
    }
    run_remove_client(app, caller, name, destroy_keys)
}

fn run_remove_client(
    app: &App,
    caller: &Caller,
    name: String,
    destroy_keys: bool,
) -> Result<Answer, ApiError> {
    match execute(app, caller, Request::RemoveClient { name, destroy_keys })? {
        Reply::Removed { removed } => {
            registry_changed(app);
            log::info!(
                "admin API {}: removed client {:?}, destroyed {} key(s)",
                caller.name,
                removed.entry.name,
                removed.destroyed_keys
            );
            ok(shape::single(
                "client.removed",
                views::RemovedClient {
                    name: &removed.entry.name,
                    owner: &removed.entry.owner,
                    destroyed_keys: removed.destroyed_keys,
                },
            ))
        }
        other => Err(unexpected(&other)),
    }
}

pub fn list_keys(app: &App, call: &Call) -> Result<Answer, ApiError> {
    let offset = query_number(call, "offset", 0)?;
    let limit = query_number(call, "limit", MAX_PAGE)?.min(MAX_PAGE);
    let mut filter = KeyFilter {
        client: query(call, "client").map(str::to_string),
        state: query(call, "state").map(str::to_string),
        attributes: Vec::new(),
    };
    // The VM or host a key protects: vCenter's x-Name (VM or host name), x-Component,
    // x-Identifier (VM or host id).
    for (param, attribute) in [
        ("xName", "x-Name"),
        ("xComponent", "x-Component"),
        ("xIdentifier", "x-Identifier"),
    ] {
        if let Some(value) = query(call, param) {
            filter.attributes.push((attribute.into(), value.into()));
        }
    }
    for (name, value) in &call.query {
        if name == "attribute" {
            let (a, v) = value.split_once('=').ok_or_else(|| {
                ApiError::bad_request(format!(
                    "attribute={value:?}: expected NAME=VALUE, e.g. x-Name=vm-01"
                ))
            })?;
            filter.attributes.push((a.into(), v.into()));
        }
    }
    match execute(app, caller(call)?, Request::ListKeys { filter })? {
        Reply::Keys { keys } => {
            let total = keys.len();
            let page = shape::page(keys, offset, limit);
            ok(shape::collection(
                "kmip.object",
                page.iter().map(views::Key::new),
                total,
            ))
        }
        other => Err(unexpected(&other)),
    }
}

pub fn show_key(app: &App, call: &Call) -> Result<Answer, ApiError> {
    let uid = param(call, 0)?.to_string();
    match execute(app, caller(call)?, Request::ShowKey { uid })? {
        Reply::Key { key } => ok(shape::single("kmip.object", views::Key::new(&key))),
        other => Err(unexpected(&other)),
    }
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct Revoke {
    #[serde(default)]
    reason: Option<RevokeReason>,
}

pub fn revoke_key(app: &App, call: &Call) -> Result<Answer, ApiError> {
    let caller = caller(call)?;
    let uid = param(call, 0)?.to_string();
    let revoke: Revoke = if call.body.is_empty() {
        Revoke::default()
    } else {
        json_body(call)?
    };
    let reason = revoke.reason.unwrap_or(RevokeReason::Unspecified);
    match execute(
        app,
        caller,
        Request::RevokeKey {
            uid: uid.clone(),
            reason,
        },
    )? {
        Reply::Key { key } => {
            log::info!("admin API {}: revoked key {uid} ({reason:?})", caller.name);
            ok(shape::single("kmip.object", views::Key::new(&key)))
        }
        other => Err(unexpected(&other)),
    }
}

pub fn destroy_key(app: &App, call: &Call) -> Result<Answer, ApiError> {
    let caller = caller(call)?;
    let uid = param(call, 0)?.to_string();
    if app.approvals.is_some() {
        // Refuse now what could never run, rather than after a second admin approved it.
        execute(app, caller, Request::ShowKey { uid: uid.clone() })?;
        return request_approval(app, caller, Action::DestroyKey { uid });
    }
    run_destroy_key(app, caller, uid)
}

fn run_destroy_key(app: &App, caller: &Caller, uid: String) -> Result<Answer, ApiError> {
    match execute(app, caller, Request::DestroyKey { uid: uid.clone() })? {
        Reply::Key { key } => {
            log::info!("admin API {}: destroyed key {uid}", caller.name);
            ok(shape::single("kmip.object", views::Key::new(&key)))
        }
        other => Err(unexpected(&other)),
    }
}

impl From<ApprovalError> for ApiError {
    fn from(e: ApprovalError) -> ApiError {
        let (status, code) = match &e {
            ApprovalError::Unknown(_) => (404, "APPROVAL_NOT_FOUND_ERR"),
            ApprovalError::Expired(_) => (410, "APPROVAL_EXPIRED_ERR"),
            ApprovalError::SamePerson(_) => (403, "SECOND_APPROVER_REQUIRED_ERR"),
            ApprovalError::Full => (429, "TOO_MANY_PENDING_ERR"),
            ApprovalError::Random(_) => (500, "INTERNAL_SERVER_ERR"),
        };
        ApiError::new(status, code, e.to_string())
    }
}

fn approvals(app: &App) -> Result<&Approvals, ApiError> {
    app.approvals.as_ref().ok_or_else(|| {
        ApiError::new(
            404,
            "APPROVALS_OFF_ERR",
            "the two-person rule is off ([admin_http] destroy_approval)",
        )
    })
}

/// 202: the destruction waits for a second admin.
fn request_approval(app: &App, caller: &Caller, action: Action) -> Result<Answer, ApiError> {
    let pending = approvals(app)?.request(action, &caller.name)?;
    let (operation, target) = pending.action.describe();
    audit_event(
        app,
        actor(caller),
        AuditEvent::success(
            "admin_http.approval.request",
            vec![
                pending.id.clone(),
                operation.to_string(),
                target.to_string(),
            ],
        ),
    );
    log::info!(
        "admin API {}: asked for approval of {operation} {target} (request {})",
        caller.name,
        pending.id
    );
    Ok(Answer {
        set_cookie: None,
        download: None,
        status: 202,
        body: shape::single("approval", pending.view(std::time::Instant::now())),
    })
}

pub fn list_approvals(app: &App, call: &Call) -> Result<Answer, ApiError> {
    caller(call)?;
    let list = approvals(app)?.list();
    let total = list.len();
    let now = std::time::Instant::now();
    ok(shape::collection(
        "approval",
        list.iter().map(|p| p.view(now)),
        total,
    ))
}

pub fn approve(app: &App, call: &Call) -> Result<Answer, ApiError> {
    let caller = caller(call)?;
    let id = param(call, 0)?;
    let pending = approvals(app)?.approve(id, &caller.name)?;
    let (operation, target) = pending.action.describe();
    audit_event(
        app,
        actor(caller),
        AuditEvent::success(
            "admin_http.approval.approve",
            vec![
                pending.id.clone(),
                operation.to_string(),
                target.to_string(),
                format!("requested by {}", pending.requested_by),
            ],
        ),
    );
    match pending.action {
        Action::DestroyKey { uid } => run_destroy_key(app, caller, uid),
        Action::RemoveClientWithKeys { name } => run_remove_client(app, caller, name, true),
    }
}

pub fn reject(app: &App, call: &Call) -> Result<Answer, ApiError> {
    let caller = caller(call)?;
    let pending = approvals(app)?.reject(param(call, 0)?)?;
    let (operation, target) = pending.action.describe();
    audit_event(
        app,
        actor(caller),
        AuditEvent::success(
            "admin_http.approval.reject",
            vec![
                pending.id.clone(),
                operation.to_string(),
                target.to_string(),
            ],
        ),
    );
    ok(shape::single(
        "approval",
        pending.view(std::time::Instant::now()),
    ))
}

fn audit_filter(call: &Call) -> Result<crate::audit::query::Filter, ApiError> {
    let number = |name: &str| -> Result<Option<i64>, ApiError> {
        query(call, name)
            .map(|t| {
                t.parse().map_err(|_| {
                    ApiError::bad_request(format!("query parameter {name}={t:?} is not a number"))
                })
            })
            .transpose()
    };
    let filter = crate::audit::query::Filter {
        since_ms: number("sinceMs")?,
        until_ms: number("untilMs")?,
        client: query(call, "actor").map(str::to_string),
        uid: query(call, "uid").map(str::to_string),
        op: query(call, "operation").map(str::to_string),
        failed: query_bool(call, "failed")?,
    };
    Ok(filter)
}

pub fn audit_query(app: &App, call: &Call) -> Result<Answer, ApiError> {
    let filter = audit_filter(call)?;
    let limit = query_number(call, "limit", 1000)?.min(MAX_PAGE);
    match execute(
        app,
        caller(call)?,
        Request::AuditShow(AuditQuery { filter, limit }),
    )? {
        Reply::AuditRecords(records) => {
            let total = records.records.len();
            ok(shape::collection("audit.record", &records.records, total))
        }
        other => Err(unexpected(&other)),
    }
}

/// Most records one audit export carries (the CLI's `audit export` has no such bound; a
/// download is held in memory, so the API caps it and says so in a header-free way: the
/// `limit` query parameter, at most this).
pub const MAX_AUDIT_EXPORT: usize = 200_000;

/// GET /api/v1/audit/export: the matching records as JSON lines, a download.
pub fn audit_export(app: &App, call: &Call) -> Result<Answer, ApiError> {
    let caller = caller(call)?;
    let filter = audit_filter(call)?;
    let limit = query_number(call, "limit", MAX_AUDIT_EXPORT)?.min(MAX_AUDIT_EXPORT);
    let records = match execute(
        app,
        caller,
        Request::AuditShow(AuditQuery { filter, limit }),
    )? {
        Reply::AuditRecords(records) => records.records,
        other => return Err(unexpected(&other)),
    };
    // Written to a private scratch file and streamed from it (unlinked once open).
    let scratch = tempfile_in(&app.data_dir)?;
    let path = scratch.path().join("audit.jsonl");
    let internal = |e: std::io::Error| ApiError::new(500, "INTERNAL_SERVER_ERR", e.to_string());
    {
        let mut out = std::io::BufWriter::new(std::fs::File::create(&path).map_err(internal)?);
        for record in &records {
            serde_json::to_writer(&mut out, record)
                .map_err(|e| ApiError::new(500, "INTERNAL_SERVER_ERR", e.to_string()))?;
            std::io::Write::write_all(&mut out, b"\n").map_err(internal)?;
        }
        std::io::Write::flush(&mut out).map_err(internal)?;
    }
    let body = DownloadBody::open(&path)?;
    drop(scratch);
    audit_event(
        app,
        actor(caller),
        AuditEvent::success(
            "admin_http.audit.export",
            vec![format!("{} record(s)", records.len())],
        ),
    );
    log::info!(
        "admin API {}: exported {} audit record(s)",
        caller.name,
        records.len()
    );
    Ok(Answer {
        status: 200,
        body: Value::Null,
        set_cookie: None,
        download: Some(Download {
            filename: format!("keyward-audit-{}.jsonl", crate::admin::registry::now()),
            content_type: "application/x-ndjson",
            body,
        }),
    })
}

pub fn audit_verify(app: &App, call: &Call) -> Result<Answer, ApiError> {
    match execute(app, caller(call)?, Request::AuditVerify)? {
        Reply::AuditVerified(verification) => ok(shape::single(
            "audit.verification",
            views::AuditVerification {
                intact: verification.broken.is_none(),
                verification: &verification,
            },
        )),
        other => Err(unexpected(&other)),
    }
}

pub fn server_certificate(app: &App, call: &Call) -> Result<Answer, ApiError> {
    answer_server_certificate(app, call, false)
}

/// The server certificate as GET /api/v1/server/certificate shows it; `renewed` after a
/// renewal adds `"renewed": true`.
pub(super) fn answer_server_certificate(
    app: &App,
    call: &Call,
    renewed: bool,
) -> Result<Answer, ApiError> {
    caller(call)?;
    let pem = std::fs::read_to_string(&app.server_cert)
        .map_err(|e| ApiError::new(500, "INTERNAL_SERVER_ERR", e.to_string()))?;
    let der = single_cert_der(&pem, "server certificate")?;
    let (_, cert) = x509_parser::parse_x509_certificate(&der)
        .map_err(|e| ApiError::new(500, "INTERNAL_SERVER_ERR", e.to_string()))?;
    ok(shape::single(
        "server.certificate",
        views::ServerCertificate {
            subject: cert.subject().to_string(),
            issuer: cert.issuer().to_string(),
            not_before: cert.validity().not_before.timestamp(),
            not_after: cert.validity().not_after.timestamp(),
            expires_in_days: (cert.validity().not_after.timestamp()
                - crate::admin::registry::now())
            .div_euclid(86_400),
            fingerprint: crate::pki::fingerprint_hex(&crate::pki::fingerprint(&der)),
            pem: &pem,
            renewed: renewed.then_some(true),
        },
    ))
}

/// Shared by the server and tests.
pub type SharedApp = Arc<App>;
