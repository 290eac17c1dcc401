//! The KMIP listener: one mio event loop that routes readiness to KMIP sessions (TLS, TTLV
//! framing, pipelining and close policy in `session.rs`), listeners and timers; the engine's
//! write pipeline on one committer thread for group commit; admin requests on a thread of
//! their own.
//! How it fits together: `docs/event-loop.md`.

mod admin_import;
pub mod admin_socket;
mod admin_thread;
pub mod admin_tls;
mod admission;
mod backup_export;
mod cert_reload;
mod cluster_committer;
mod cluster_reader;
pub mod cluster_trust;
mod committer;
mod connection;
mod dispatch;
mod event_loop;
mod fd_limit;
mod handshake_queue;
pub mod http;
mod http_conn;
mod http_listener;
pub mod identity;
mod keygen;
mod listener;
pub mod metrics;
pub mod node_report;
mod pem_certs;
mod pending_clears;
mod ratelimit;
pub mod read_audit;
pub mod registry_notify;
mod resumption_only;
pub mod sd_notify;
mod session;
pub mod signals;
pub mod tls;
pub mod tls_provider;
mod trust_refresh;
mod trust_service;
pub mod unseal;
mod write_jobs;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use mio::{Poll, Token, Waker};

use crate::config::ServerSettings;
use crate::engine::Engine;
use crate::store::Store;
use crate::ttlv::Limits;

pub use event_loop::Server;

/// Errors of the server layer: start-up (files, sockets, TLS material) and fatal loop errors.
/// Per-connection problems are logged and never surface here. Configuration, certificates and
/// Key Protect are the appliance's set-up (`ApplianceError`), not the server's.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("{what}: {message}")]
    Io { what: String, message: String },
    #[error("TLS configuration: {0}")]
    Tls(String),
    #[error("TLS file {path}: {message}")]
    TlsFile { path: String, message: String },
    #[error("key hierarchy: {0}")]
    Seal(#[from] crate::seal::SealError),
    #[error("store: {0}")]
    Store(#[from] crate::store::StoreError),
    #[error("client registry: {0}")]
    Registry(#[from] crate::admin::registry::RegistryError),
}

impl ServerError {
    pub(crate) fn io(what: impl Into<String>, e: std::io::Error) -> ServerError {
        ServerError::Io {
            what: what.into(),
            message: e.to_string(),
        }
    }
}

/// Listener settings, resolved from [`ServerSettings`].
#[derive(Debug, Clone)]
pub struct ServerOptions {
    pub listen: SocketAddr,
    /// Authenticated connections.
    pub max_connections: usize,
    pub max_connections_per_client: Option<usize>,
    /// Connections still without a trusted certificate, in all and per source address.
    pub max_unauthenticated: usize,
    pub max_unauthenticated_per_ip: usize,
    /// A connection silent this long after it was accepted is closed.
    pub first_byte_timeout: Duration,
    /// Accepted connections that have sent nothing yet (the silent pool, `admission.rs`).
    pub max_silent_connections: usize,
    /// Per source address: full handshakes per second that may end unauthenticated, and
    /// how many in a burst.
    pub handshake_rate_per_ip: u32,
    pub handshake_burst_per_ip: u32,
    pub handshake_timeout: Duration,
    pub idle_timeout: Duration,
    /// Framing bounds; must match the engine's limits.
    pub limits: Limits,
    /// How long a shutdown waits for slow clients to take their last responses.
    pub drain_timeout: Duration,
    /// The health and metrics listener (`[http] listen`), off when None.
    pub http_listen: Option<SocketAddr>,
    /// How long a request may take to arrive once its first byte has.
    pub request_timeout: Duration,
}

impl ServerOptions {
    pub fn from_settings(settings: &ServerSettings) -> ServerOptions {
        ServerOptions {
            listen: settings.listen,
            max_connections: settings.max_connections,
            max_connections_per_client: settings.max_connections_per_client,
            max_unauthenticated: settings.max_unauthenticated,
            max_unauthenticated_per_ip: settings.max_unauthenticated_per_ip,
            first_byte_timeout: settings.first_byte_timeout(),
            max_silent_connections: settings.max_silent_connections,
            handshake_rate_per_ip: settings.handshake_rate_per_ip,
            handshake_burst_per_ip: settings.handshake_burst_per_ip,
            handshake_timeout: settings.handshake_timeout(),
            idle_timeout: settings.idle_timeout(),
            limits: Limits {
                max_message_bytes: settings.max_message_bytes,
                max_depth: settings.max_nesting_depth,
                ..Limits::default()
            },
            drain_timeout: Duration::from_secs(10),
            http_listen: None,
            request_timeout: settings.request_timeout(),
        }
    }
}

/// What the event loop drives.
#[derive(Clone)]
pub struct Services {
    pub engine: Arc<Engine>,
    pub store: Arc<dyn Store>,
    pub tls: Arc<rustls::ServerConfig>,
    /// The client registry as the handshake sees it; replace its contents to apply a change.
    pub trust: identity::SharedTrust,
    /// The audit log's chain key and settings; `None` only in benchmark runs with
    /// `audit.enabled = false`.
    pub audit: Option<Arc<crate::audit::AuditContext>>,
    /// Counters for `/metrics` and `keyward status`, shared with the committer and root sync.
    pub metrics: Arc<metrics::Metrics>,
    /// With `[root] seal_at_start`: the Argon2 parameters of the operator's passphrase, which
    /// the admin socket's unseal request derives the root key with. `None`: no such unseal.
    pub passphrase_params: Option<std::path::PathBuf>,
    /// A cluster node's cluster service (node id, etcd health, node reports, audit gather),
    /// built beside the store; `None` for a single appliance.
    pub cluster: Option<Arc<crate::cluster::Cluster>>,
}

/// Asks a running server to stop gracefully, from any thread (tests, an admin socket later).
#[derive(Clone)]
pub struct ShutdownHandle {
    requested: Arc<AtomicBool>,
    waker: Arc<Waker>,
}

impl ShutdownHandle {
    pub fn shutdown(&self) {
        self.requested.store(true, Ordering::SeqCst);
        if let Err(e) = self.waker.wake() {
            log::error!("cannot wake the event loop for shutdown: {e}");
        }
    }
}

const LISTENER: Token = Token(0);
const WAKER: Token = Token(1);
const SIGNALS: Token = Token(2);
const HTTP: Token = Token(3);
const FIRST_CONNECTION: usize = 4;

fn new_poll() -> Result<(Poll, Arc<Waker>), ServerError> {
    let poll = Poll::new().map_err(|e| ServerError::io("creating the event loop", e))?;
    let waker = Waker::new(poll.registry(), WAKER)
        .map_err(|e| ServerError::io("creating the loop waker", e))?;
    Ok((poll, Arc::new(waker)))
}
