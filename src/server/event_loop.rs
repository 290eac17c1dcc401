//! The event loop: accept, TLS, framing, dispatch, timeouts and graceful shutdown, all on one
//! thread driven by one mio `Poll`. Mutations go to the committer thread (see `committer.rs`).

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use mio::net::TcpListener;
use mio::{Events, Interest, Poll, Token, Waker};

use super::admin_socket::{self, AdminSocket};
use super::admission::{Admission, Budgets, Eviction, Promotion};
use super::committer::{self, WriteDone, WriteJob};
use super::connection::{Connection, Fatal, Inbound};
use super::http_conn::{self, HttpConn};
use super::identity::ClientTrust;
use super::identity::resolve_identity;
use super::kmip_auth;
use super::metrics::{EvictionCause, FailureCause, HandshakeKind};
use super::ratelimit::RateLimit;
use super::read_audit::{self, AuditedRead};
use super::signals::SignalPipe;
use super::{
    ADMIN, FIRST_CONNECTION, HTTP, LISTENER, SIGNALS, ServerError, ServerOptions, Services,
    ShutdownHandle, WAKER,
};
use crate::admin::registry::{META_CLIENT_REGISTRY, Registry};
use crate::engine::Prepared;
use crate::kmip::{names, tag};
use crate::pki;
use crate::ttlv::Value;
use crate::ttlv::frame::FrameStatus;

/// How often a cluster node re-reads the shared client registry from etcd.
const CLUSTER_TRUST_REFRESH: Duration = Duration::from_secs(2);

/// Connections accepted per loop turn at most. A burst larger than this is taken over the
/// next turns (each polls without waiting while a backlog remains), so accepting never
/// starves reading, answering and committing; 64 accepts cost well under a millisecond.
const ACCEPT_BATCH: usize = 64;

/// A bound listener, ready to [`run`](Server::run).
pub struct Server {
    poll: Poll,
    waker: Arc<Waker>,
    listener: TcpListener,
    local_addr: SocketAddr,
    options: ServerOptions,
    services: Services,
    shutdown: Arc<AtomicBool>,
    signals: Option<SignalPipe>,
    admin: Option<AdminSocket>,
    http: Option<TcpListener>,
    registry_notifier: super::registry_notify::RegistryNotifier,
}

impl Server {
    pub fn bind(options: ServerOptions, services: Services) -> Result<Server, ServerError> {
        let (poll, waker) = super::new_poll()?;
        super::fd_limit::raise_to(super::fd_limit::needed(
            options.max_connections,
            options.max_unauthenticated,
        ));
        let mut listener = super::listener::bind_listener(options.listen)
            .map_err(|e| ServerError::io(format!("cannot listen on {}", options.listen), e))?;
        let local_addr = listener
            .local_addr()
            .map_err(|e| ServerError::io("listener address", e))?;
        services.metrics.set_listen(&local_addr.to_string());
        poll.registry()
            .register(&mut listener, LISTENER, Interest::READABLE)
            .map_err(|e| ServerError::io("registering the listener", e))?;
        Ok(Server {
            poll,
            listener,
            local_addr,
            options,
            services,
            shutdown: Arc::new(AtomicBool::new(false)),
            signals: None,
            admin: None,
            http: None,
            registry_notifier: super::registry_notify::RegistryNotifier {
                changed: Arc::new(AtomicBool::new(false)),
                waker: waker.clone(),
            },
            waker,
        })
    }

    /// The address actually bound (differs from the option when it asked for port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// For threads that change the client registry outside the admin socket.
    pub fn registry_notifier(&self) -> super::registry_notify::RegistryNotifier {
        self.registry_notifier.clone()
    }

    pub fn shutdown_handle(&self) -> ShutdownHandle {
        ShutdownHandle {
            requested: self.shutdown.clone(),
            waker: self.waker.clone(),
        }
    }

    /// Makes SIGTERM and SIGINT start a graceful shutdown.
    pub fn handle_signals(&mut self) -> Result<(), ServerError> {
        let mut pipe =
            SignalPipe::install().map_err(|e| ServerError::io("installing signal handlers", e))?;
        pipe.register(self.poll.registry(), SIGNALS)
            .map_err(|e| ServerError::io("registering signals", e))?;
        self.signals = Some(pipe);
        Ok(())
    }

    /// Answers admin requests (the CLI while the server runs) on a Unix socket at `path`.
    pub fn serve_admin_socket(&mut self, path: &std::path::Path) -> Result<(), ServerError> {
        let mut admin = AdminSocket::bind(path)?;
        self.poll
            .registry()
            .register(&mut admin.listener, ADMIN, Interest::READABLE)
            .map_err(|e| ServerError::io("registering the admin socket", e))?;
        self.admin = Some(admin);
        Ok(())
    }

    /// Serves `/healthz` and `/metrics` on `addr` from this loop; returns the bound address.
    pub fn serve_http(&mut self, addr: SocketAddr) -> Result<SocketAddr, ServerError> {
        let mut listener = TcpListener::bind(addr)
            .map_err(|e| ServerError::io(format!("cannot listen for HTTP on {addr}"), e))?;
        let bound = listener
            .local_addr()
            .map_err(|e| ServerError::io("HTTP listener address", e))?;
        self.poll
            .registry()
            .register(&mut listener, HTTP, Interest::READABLE)
            .map_err(|e| ServerError::io("registering the HTTP listener", e))?;
        self.http = Some(listener);
        Ok(bound)
    }

    /// Serves until shutdown is requested; then stops accepting, answers every request
    /// already received (waiting for the committer), flushes, and returns.
    pub fn run(self) -> Result<(), ServerError> {
        let committer = committer::spawn(&self.services, self.waker.clone())
            .map_err(|e| ServerError::io("starting the committer thread", e))?;
        let keygen = super::keygen::spawn(committer.jobs.clone(), self.services.store.clone())
            .map_err(|e| ServerError::io("starting the key generator thread", e))?;
        let heartbeat = match self.listener.local_addr() {
            Ok(kmip) => super::node_report::spawn(&self.services, kmip),
            Err(e) => {
                log::error!("no KMIP address to report to the cluster: {e}");
                None
            }
        };
        let budgets = Budgets {
            max_authenticated: self.options.max_connections,
            max_per_identity: self.options.max_connections_per_client,
            max_unauthenticated: self.options.max_unauthenticated,
            max_unauthenticated_per_source: self.options.max_unauthenticated_per_ip,
            handshake_rate_per_source: f64::from(self.options.handshake_rate_per_ip),
            handshake_burst_per_source: f64::from(self.options.handshake_burst_per_ip),
        };
        let mut state = LoopState {
            poll: self.poll,
            listener: Some(self.listener),
            admission: Admission::new(budgets),
            resumption_only: super::resumption_only::resumption_only(&self.services.tls),
            accept_backlog: false,
            eviction_log: RateLimit::new(10, Duration::from_secs(60)),
            silent_log: RateLimit::new(10, Duration::from_secs(60)),
            throttle_log: RateLimit::new(10, Duration::from_secs(60)),
            options: self.options,
            services: self.services,
            connections: HashMap::new(),
            next_id: FIRST_CONNECTION as u64,
            group: Vec::new(),
            in_flight: 0,
            jobs: Some(committer.jobs),
            keygen: Some(keygen.jobs),
            handshake_log: RateLimit::new(20, Duration::from_secs(60)),
            refused_log: RateLimit::new(5, Duration::from_secs(60)),
            accept_retry_at: None,
            drain_deadline: None,
            admin: self.admin,
            last_seen: HashMap::new(),
            last_seen_dirty: false,
            persist_last_seen_at: Instant::now() + PERSIST_LAST_SEEN_EVERY,
            http: self.http,
            http_conns: HashMap::new(),
            registry_applied: None,
            registry_notifier: self.registry_notifier,
        };
        let result = state.serve(&committer.done, &self.shutdown, self.signals);
        if let Some(heartbeat) = heartbeat {
            heartbeat.stop();
        }
        state.persist_last_seen();
        // Dropping the senders lets the generator, then the committer, finish what they have
        // and end (the generator holds a sender of the committer's until it ends).
        state.keygen = None;
        if keygen.thread.join().is_err() {
            log::error!("the key generator thread panicked");
        }
        state.jobs = None;
        if committer.thread.join().is_err() {
            log::error!("the committer thread panicked");
        } else {
            committer::log_head(&state.services);
        }
        result
    }
}

struct LoopState {
    poll: Poll,
    listener: Option<TcpListener>,
    /// Which connections hold which budget's slots (`admission.rs`).
    admission: Admission<Token>,
    /// Served to addresses over their full-handshake rate (`resumption_only.rs`).
    resumption_only: Arc<rustls::ServerConfig>,
    /// The last accept batch stopped before the listener ran dry.
    accept_backlog: bool,
    /// What a flood repeats at will, each with its own log budget so one cannot hide
    /// another: evictions, first-byte timeouts, throttled full handshakes.
    eviction_log: RateLimit,
    silent_log: RateLimit,
    throttle_log: RateLimit,
    options: ServerOptions,
    services: Services,
    connections: HashMap<Token, Connection>,
    next_id: u64,
    /// Mutations that became ready during this loop turn: one group, one commit.
    group: Vec<WriteJob>,
    /// Mutations sent to the committer and not yet answered.
    in_flight: usize,
    jobs: Option<std::sync::mpsc::Sender<Vec<WriteJob>>>,
    /// Requests that draw a slow key pair go here first (see `keygen.rs`).
    keygen: Option<std::sync::mpsc::Sender<WriteJob>>,
    handshake_log: RateLimit,
    refused_log: RateLimit,
    accept_retry_at: Option<Instant>,
    drain_deadline: Option<Instant>,
    admin: Option<AdminSocket>,
    /// Owner → last successful handshake (seconds since the epoch), shown by `client list`.
    /// Kept in memory: a store write per handshake would cost more than the answer is worth.
    last_seen: HashMap<String, i64>,
    /// `last_seen` changed since it was last stored.
    last_seen_dirty: bool,
    persist_last_seen_at: Instant,
    http: Option<TcpListener>,
    http_conns: HashMap<Token, HttpConn>,
    /// The stored registry the current trust was built from. A cluster node re-reads it every
    /// 2 s; only a changed one is applied, so open connections are re-checked (a certificate
    /// verification each for CA-trusted clients) when there is something to check.
    registry_applied: Option<Vec<u8>>,
    /// Set by the HTTPS admin API after it changed the registry.
    registry_notifier: super::registry_notify::RegistryNotifier,
}

/// How often the last-seen times are stored (and once more at shutdown): often enough for
/// `client list` after a crash, rare enough to cost nothing next to the KMIP traffic.
const PERSIST_LAST_SEEN_EVERY: Duration = Duration::from_secs(60);

impl LoopState {
    fn serve(
        &mut self,
        done: &std::sync::mpsc::Receiver<WriteDone>,
        shutdown: &AtomicBool,
        mut signals: Option<SignalPipe>,
    ) -> Result<(), ServerError> {
        let mut events = Events::with_capacity(1024);
        let sweep_every = (self
            .options
            .handshake_timeout
            .min(self.options.first_byte_timeout)
            .min(self.options.idle_timeout)
            .min(self.options.request_timeout)
            / 4)
        .clamp(Duration::from_millis(50), Duration::from_secs(1));
        let mut next_sweep = Instant::now() + sweep_every;
        // In a cluster another node may change the client registry: re-read it now and then.
        let clustered = self.services.store.cluster_health().is_some();
        let mut next_trust_refresh = Instant::now() + CLUSTER_TRUST_REFRESH;
        let mut watchdog = super::sd_notify::Watchdog::from_env();
        loop {
            let now = Instant::now();
            let mut timeout = next_sweep.saturating_duration_since(now);
            if let Some(at) = self.accept_retry_at {
                timeout = timeout.min(at.saturating_duration_since(now));
            }
            if let Some(until_ping) = watchdog.until_next(now) {
                timeout = timeout.min(until_ping);
            }
            if self.accept_backlog {
                timeout = Duration::ZERO;
            }
            if let Err(e) = self.poll.poll(&mut events, Some(timeout))
                && e.kind() != io::ErrorKind::Interrupted
            {
                return Err(ServerError::io("waiting for events", e));
            }
            let backlog = std::mem::take(&mut self.accept_backlog);
            let mut accepted = false;
            for event in events.iter() {
                match event.token() {
                    LISTENER => {
                        accepted = true;
                        self.accept_all();
                    }
                    ADMIN => self.accept_admin(),
                    HTTP => self.accept_http(),
                    token if self.http_conns.contains_key(&token) => self.on_http_ready(token),
                    WAKER => {}
                    SIGNALS => {
                        if let Some(pipe) = signals.as_mut()
                            && pipe.drain()
                        {
                            log::info!("signal received: stopping");
                            shutdown.store(true, Ordering::SeqCst);
                        }
                    }
                    token => self.on_ready(token),
                }
            }
            // Edge-triggered: connections left queued by the last batch bring no new event.
            if backlog && !accepted {
                self.accept_all();
            }
            while let Ok(finished) = done.try_recv() {
                self.in_flight -= 1;
                self.deliver(finished);
            }
            if shutdown.load(Ordering::SeqCst) && self.drain_deadline.is_none() {
                super::sd_notify::stopping();
                self.begin_shutdown();
            }
            let now = Instant::now();
            watchdog.tick(now);
            if self.accept_retry_at.is_some_and(|at| now >= at) {
                self.accept_retry_at = None;
                self.accept_all();
            }
            if self.last_seen_dirty && now >= self.persist_last_seen_at {
                self.persist_last_seen();
            }
            if now >= next_sweep {
                self.sweep(now);
                next_sweep = now + sweep_every;
            }
            if self.registry_notifier.take() {
                self.reload_trust();
            }
            if clustered && now >= next_trust_refresh {
                self.reload_trust();
                next_trust_refresh = now + CLUSTER_TRUST_REFRESH;
            }
            self.send_group();
            if let Some(deadline) = self.drain_deadline {
                if self.connections.is_empty() && self.in_flight == 0 {
                    log::info!("all requests answered; stopped");
                    return Ok(());
                }
                if now >= deadline && self.in_flight == 0 {
                    log::warn!(
                        "{} connection(s) still open at the end of the shutdown grace period; closing them",
                        self.connections.len()
                    );
                    let tokens: Vec<Token> = self.connections.keys().copied().collect();
                    for token in tokens {
                        self.close(token);
                    }
                    return Ok(());
                }
            }
        }
    }

    fn accept_admin(&mut self) {
        loop {
            let Some(admin) = self.admin.as_ref() else {
                return;
            };
            let stream = match admin.listener.accept() {
                Ok((stream, _)) => stream,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    log::warn!("admin socket: accept failed: {e}");
                    return;
                }
            };
            let effects = admin_socket::handle(stream.into(), &self.services, &self.last_seen);
            // The removed owner's connections are cut first, with their own log line; the
            // reload after it then finds no other connection the new registry refuses, as
            // nothing else changed.
            if let Some(owner) = effects.cut_off_owner {
                let tokens: Vec<Token> = self
                    .connections
                    .iter()
                    .filter(|(_, c)| c.identity.as_ref().is_some_and(|i| i.owner == owner))
                    .map(|(t, _)| *t)
                    .collect();
                if !tokens.is_empty() {
                    log::info!(
                        "closing {} connection(s) of removed owner {owner}",
                        tokens.len()
                    );
                }
                self.cut_off(&tokens);
            }
            if effects.registry_changed {
                self.reload_trust();
            }
        }
    }

    /// Closes connections of a client that lost its trust. Mutations queued this turn but not
    /// yet sent to the committer would land after the removal (and outside a
    /// --destroy-keys): they are dropped with the client.
    fn cut_off(&mut self, tokens: &[Token]) {
        self.group.retain(|job| !tokens.contains(&job.token));
        for token in tokens {
            self.close(*token);
        }
    }

    /// Stores the last-seen times (one write transaction); on failure they are kept and tried
    /// again at the next interval.
    fn persist_last_seen(&mut self) {
        if !self.last_seen_dirty {
            return;
        }
        self.persist_last_seen_at = Instant::now() + PERSIST_LAST_SEEN_EVERY;
        match crate::admin::ops::persist_last_seen(self.services.store.as_ref(), &self.last_seen) {
            Ok(_) => self.last_seen_dirty = false,
            Err(e) => log::error!("storing when clients were last seen failed: {e}"),
        }
    }

    /// Rebuilds the handshake trust from the stored registry; on failure the previous trust
    /// stays (a registry the server cannot read must not open the door wider). Open
    /// connections the new registry would not let in as the same client are closed: in a
    /// cluster the removal may have happened on another node, which cannot reach them.
    fn reload_trust(&mut self) {
        let loaded = (|| -> Result<Option<(ClientTrust, Vec<u8>)>, ServerError> {
            let view = self.services.store.read()?;
            let stored = view.get_meta(META_CLIENT_REGISTRY)?.unwrap_or_default();
            if self.registry_applied.as_ref() == Some(&stored) {
                return Ok(None);
            }
            let registry = Registry::load(&*view)?;
            Ok(Some((ClientTrust::from_registry(&registry)?, stored)))
        })();
        let (trust, stored) = match loaded {
            Ok(Some(changed)) => changed,
            Ok(None) => return,
            Err(e) => {
                log::error!("reloading the client registry failed: {e}");
                return;
            }
        };
        let mut refused = Vec::new();
        match self.services.trust.write() {
            Ok(mut shared) => {
                for (token, conn) in self.connections.iter_mut() {
                    let Some(identity) = &conn.identity else {
                        // Still in its handshake: the verifier will use the new registry.
                        continue;
                    };
                    let kept = conn.peer_certificates().is_some_and(|chain| {
                        still_trusted(&shared, &trust, chain, &identity.owner)
                    });
                    if kept {
                        // A changed KMIP credential applies to open connections too.
                        conn.credential
                            .require(trust.credential_for(&identity.owner));
                    } else {
                        refused.push((*token, identity.owner.clone(), conn.peer));
                    }
                }
                *shared = trust;
                self.registry_applied = Some(stored);
            }
            Err(_) => {
                log::error!("client trust lock poisoned; registry change not applied");
                return;
            }
        }
        if refused.is_empty() {
            return;
        }
        for (_, owner, peer) in &refused {
            log::info!(
                "client {peer}: owner {owner} is no longer trusted by the client registry \
                 (removed, possibly on another node); closing its connection"
            );
        }
        let tokens: Vec<Token> = refused.iter().map(|(token, _, _)| *token).collect();
        self.cut_off(&tokens);
    }

    fn accept_http(&mut self) {
        loop {
            let Some(listener) = self.http.as_ref() else {
                return;
            };
            let (sock, peer) = match listener.accept() {
                Ok(accepted) => accepted,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    if self.refused_log.allow("accept failure") {
                        log::warn!("http: accepting a connection failed: {e}");
                    }
                    return;
                }
            };
            if self.http_conns.len() >= http_conn::MAX_HTTP_CONNECTIONS {
                if self.refused_log.allow("http connection refused") {
                    log::warn!(
                        "http: refused connection from {peer}: {} already open",
                        self.http_conns.len()
                    );
                }
                continue;
            }
            let token = Token(self.next_id as usize);
            self.next_id += 1;
            let mut conn = HttpConn::new(sock);
            if let Err(e) = conn.register(self.poll.registry(), token) {
                log::error!("http: cannot register connection from {peer}: {e}");
                continue;
            }
            self.http_conns.insert(token, conn);
        }
    }

    fn on_http_ready(&mut self, token: Token) {
        let Some(conn) = self.http_conns.get_mut(&token) else {
            return;
        };
        if conn.on_ready(&self.services) == http_conn::Next::Close {
            self.close_http(token);
        }
    }

    fn close_http(&mut self, token: Token) {
        if let Some(mut conn) = self.http_conns.remove(&token) {
            conn.deregister(self.poll.registry());
        }
    }

    /// Accepts at most [`ACCEPT_BATCH`] connections; `accept_backlog` asks the loop for
    /// another turn at once when the listener may hold more.
    fn accept_all(&mut self) {
        for _ in 0..ACCEPT_BATCH {
            let Some(listener) = self.listener.as_ref() else {
                return;
            };
            let (sock, peer) = match listener.accept() {
                Ok(accepted) => accepted,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    // Typically out of file descriptors. Edge-triggered readiness will not
                    // repeat for connections already queued, so retry on a timer.
                    if self.refused_log.allow("accept failure") {
                        log::warn!("accepting a connection failed: {e}");
                    }
                    self.accept_retry_at = Some(Instant::now() + Duration::from_millis(100));
                    return;
                }
            };
            self.admit(sock, peer);
        }
        self.accept_backlog = true;
    }

    /// Starts the TLS handshake of a new connection in the unauthenticated budget, closing
    /// whichever older connection the budget gives up for it.
    fn admit(&mut self, sock: mio::net::TcpStream, peer: SocketAddr) {
        // Only clients with certificates fill the authenticated budget; while it is full a
        // handshake could not be given a slot anyway.
        if self.admission.authenticated() >= self.options.max_connections {
            if self.refused_log.allow("connection refused") {
                log::warn!(
                    "refused connection from {peer}: already serving the maximum of {} authenticated connections",
                    self.options.max_connections
                );
            }
            self.services.metrics.failure(FailureCause::ConnectionLimit);
            return;
        }
        // KMIP is request/response with small messages: don't let Nagle delay answers.
        let _ = sock.set_nodelay(true);
        let now = Instant::now();
        let resumption_only = !self.admission.may_handshake_fully(peer.ip(), now);
        let config = if resumption_only {
            self.resumption_only.clone()
        } else {
            self.services.tls.clone()
        };
        let id = self.next_id;
        self.next_id += 1;
        let token = Token(id as usize);
        let mut connection = match Connection::new(id, sock, peer, config) {
            Ok(c) => c,
            Err(e) => {
                log::error!("cannot start TLS for {peer}: {e}");
                return;
            }
        };
        connection.resumption_only = resumption_only;
        if let Err(e) = connection.register(self.poll.registry(), token) {
            log::error!("cannot register connection from {peer}: {e}");
            return;
        }
        log::debug!("connection from {peer}");
        self.connections.insert(token, connection);
        if let Some((evicted, why)) = self.admission.admit(token, peer.ip(), now) {
            let (cause, limit) = match why {
                Eviction::SourceCap => (
                    EvictionCause::AddressCap,
                    format!(
                        "{} unauthenticated connections from this address",
                        self.options.max_unauthenticated_per_ip
                    ),
                ),
                Eviction::BudgetFull => (
                    EvictionCause::BudgetFull,
                    format!(
                        "{} unauthenticated connections in all",
                        self.options.max_unauthenticated
                    ),
                ),
            };
            self.services.metrics.eviction(cause);
            if let Some(old) = self.connections.get(&evicted)
                && self.eviction_log.allow("eviction")
            {
                log::warn!(
                    "client {}: closed without a completed handshake to make room for {peer} \
                     (limit of {limit} reached)",
                    old.peer
                );
            }
            self.close(evicted);
        }
        self.update_connection_gauges();
    }

    fn update_connection_gauges(&self) {
        let metrics = &self.services.metrics;
        metrics.set_open_connections(self.connections.len());
        metrics.set_unauthenticated_connections(self.admission.unauthenticated());
    }

    /// Socket readiness: read what arrived, run what is runnable, write what is ready.
    fn on_ready(&mut self, token: Token) {
        let limits = self.options.limits;
        loop {
            let Some(conn) = self.connections.get_mut(&token) else {
                return;
            };
            let result = conn.read(&limits);
            if conn.spoke() {
                self.admission.spoke(token);
            }
            let spent = conn.take_handshake_time();
            if !spent.is_zero() {
                self.services.metrics.handshake_time(spent);
            }
            if let Some(full) = conn.take_handshake_kind() {
                let kind = if full {
                    HandshakeKind::Full
                } else {
                    HandshakeKind::Resumed
                };
                self.services.metrics.handshake(kind);
                // Charged now, given back if it authenticates: only handshakes that end
                // without a client count against the address.
                if full && !conn.resumption_only {
                    self.admission
                        .charge_full_handshake(conn.peer.ip(), Instant::now());
                    conn.charged_full_handshake = true;
                }
            }
            match result {
                Ok(true) => self.authenticate(token),
                Ok(false) => {}
                Err(fatal) => {
                    self.fail(token, &fatal);
                    return;
                }
            }
            // Input left in the socket while over budget produces no new edge: go round again
            // once the queue has been worked off (a loop, not recursion: pipelines can be long).
            if !self.advance(token) {
                return;
            }
        }
    }

    fn authenticate(&mut self, token: Token) {
        let Some(conn) = self.connections.get_mut(&token) else {
            return;
        };
        let Some(chain) = conn.peer_certificates() else {
            // Mandatory client auth makes this unreachable; refuse rather than trust.
            self.services.metrics.failure(FailureCause::NoCertificate);
            log::warn!(
                "client {}: no client certificate after the handshake; closing",
                conn.peer
            );
            self.close(token);
            return;
        };
        let resolved = match self.services.trust.read() {
            Ok(trust) => resolve_identity(&trust, chain).map(|identity| {
                let required = trust.credential_for(&identity.owner);
                (identity, required)
            }),
            Err(_) => None,
        };
        let Some((identity, required)) = resolved else {
            self.services.metrics.failure(FailureCause::UnknownClient);
            log::warn!(
                "client {}: certificate no longer trusted (client removed); closing",
                conn.peer
            );
            self.close(token);
            return;
        };
        if conn.resumed
            && !x509_parser::parse_x509_certificate(&chain[0])
                .is_ok_and(|(_, cert)| cert.validity().is_valid())
        {
            // A ticket outlives nothing it vouched for: an expired certificate must run a
            // full handshake (and fail it) like any other.
            self.services.metrics.failure(FailureCause::UnknownClient);
            log::warn!(
                "client {}: resumed a session for an expired certificate; closing",
                conn.peer
            );
            conn.abort();
            self.close(token);
            return;
        }
        if conn.charged_full_handshake {
            // It authenticated: the address gets its allowance back.
            self.admission
                .refund_full_handshake(conn.peer.ip(), Instant::now());
        }
        let owner = identity.owner.clone();
        match self.admission.promote(token, &owner) {
            Promotion::Admitted => {}
            refused => {
                self.services.metrics.failure(FailureCause::ConnectionLimit);
                if self.refused_log.allow("connection refused") {
                    let why = match refused {
                        Promotion::IdentityCap => format!(
                            "{owner} already holds its maximum of {} connections",
                            self.options.max_connections_per_client.unwrap_or(0)
                        ),
                        _ => format!(
                            "already serving the maximum of {} authenticated connections",
                            self.options.max_connections
                        ),
                    };
                    log::warn!("refused connection from {} ({owner}): {why}", conn.peer);
                }
                // Nothing queued may leave: under TLS 1.2 that would be our Finished.
                conn.abort();
                self.close(token);
                return;
            }
        }
        log::debug!(
            "client {} authenticated as {} (certificate {}) over {}",
            conn.peer,
            identity.owner,
            pki::fingerprint_hex(&identity.fingerprint),
            conn.tls_summary()
        );
        self.last_seen
            .insert(identity.owner.clone(), crate::admin::registry::now());
        self.last_seen_dirty = true;
        conn.credential.require(required);
        conn.identity = Some(identity);
    }

    /// Runs queued requests in order until one needs the committer or output backs up,
    /// then flushes and decides whether the connection is finished. Returns true when input
    /// was left unread for lack of budget and can be read now.
    #[must_use]
    fn advance(&mut self, token: Token) -> bool {
        let Some(conn) = self.connections.get_mut(&token) else {
            return false;
        };
        let services = &self.services;
        loop {
            if conn.awaiting_commit {
                break;
            }
            // The next request starts only once the previous response has left; if the socket
            // takes it all now, carry on, otherwise the WRITABLE event brings us back.
            if conn.output_pending() {
                if let Err(e) = conn.flush() {
                    self.fail(token, &e);
                    return false;
                }
                if conn.output_pending() {
                    break;
                }
            }
            // Requests arrive only after the handshake, so the identity is always set here.
            let Some(identity) = conn.identity.clone() else {
                break;
            };
            let Some(inbound) = conn.next_inbound() else {
                break;
            };
            match inbound {
                Inbound::Request(message) => {
                    let started = Instant::now();
                    let prepared = catch_unwind(AssertUnwindSafe(|| {
                        services.engine.prepare(&identity, &message)
                    }))
                    .map(|p| {
                        kmip_auth::gate(p, &mut conn.credential, &services.engine, &identity.owner)
                    });
                    let response = match prepared {
                        Ok(Prepared::Respond(bytes)) => Some(bytes),
                        // With the audit log on, reads go through the committer too: their
                        // record must commit before the response is released.
                        Ok(Prepared::Read(request)) if services.audit.is_none() => {
                            let response = run_read(services, &request);
                            if response.is_none() {
                                conn.queue.clear();
                                conn.close_when_idle = true;
                            }
                            response
                        }
                        // With the read journal, a read's record is written before its
                        // answer without waiting for an fsync (`server/read_audit.rs`).
                        Ok(Prepared::Read(request) | Prepared::Write(request))
                            if services.audit.as_ref().is_some_and(|a| a.reads.is_some()) =>
                        {
                            match read_audit::run_with_journal(services, &request, conn.peer) {
                                AuditedRead::Answered(response) => {
                                    if response.is_none() {
                                        conn.queue.clear();
                                        conn.close_when_idle = true;
                                    }
                                    response
                                }
                                AuditedRead::ThroughCommitter => {
                                    let job = WriteJob {
                                        token,
                                        conn_id: conn.id,
                                        request,
                                        peer: conn.peer,
                                        started,
                                    };
                                    submit(
                                        job,
                                        &mut self.group,
                                        self.keygen.as_ref(),
                                        &mut self.in_flight,
                                    );
                                    conn.awaiting_commit = true;
                                    None
                                }
                            }
                        }
                        Ok(Prepared::Write(request) | Prepared::Read(request)) => {
                            let job = WriteJob {
                                token,
                                conn_id: conn.id,
                                request,
                                peer: conn.peer,
                                started,
                            };
                            submit(
                                job,
                                &mut self.group,
                                self.keygen.as_ref(),
                                &mut self.in_flight,
                            );
                            conn.awaiting_commit = true;
                            None
                        }
                        Err(_) => {
                            log::error!(
                                "client {}: engine panicked on a request; closing the connection",
                                conn.peer
                            );
                            conn.queue.clear();
                            conn.close_when_idle = true;
                            None
                        }
                    };
                    if let Some(bytes) = response {
                        record_response(services, &bytes, started);
                        if let Err(e) = conn.send(&bytes) {
                            self.fail(token, &e);
                            return false;
                        }
                    }
                }
                Inbound::BadFrame { header, status } => {
                    let why = match status {
                        FrameStatus::TooLarge(n) => {
                            services.metrics.failure(FailureCause::OversizedMessage);
                            format!(
                                "declares {n} bytes, over the limit of {}",
                                self.options.limits.max_message_bytes
                            )
                        }
                        _ => "does not start with a KMIP request message header".to_string(),
                    };
                    log::warn!(
                        "client {} ({}): connection failure: message {why}; closing after an error response",
                        conn.peer,
                        identity.owner
                    );
                    // The engine answers what it cannot decode with an Invalid Message error.
                    let prepared = catch_unwind(AssertUnwindSafe(|| {
                        services.engine.prepare(&identity, &header)
                    }));
                    if let Ok(Prepared::Respond(bytes)) = prepared
                        && let Err(e) = conn.send(&bytes)
                    {
                        self.fail(token, &e);
                        return false;
                    }
                    conn.queue.clear();
                    conn.close_when_idle = true;
                }
            }
        }
        if let Err(e) = conn.flush() {
            self.fail(token, &e);
            return false;
        }
        let finished = conn.is_quiet() && (conn.peer_closed || conn.close_when_idle);
        if finished {
            if conn.requests_answered == 0 && conn.identity.is_some() && conn.peer_closed {
                // vCenter's periodic certificate check: handshake, then close. Normal.
                log::info!(
                    "client {} ({}): closed after the TLS handshake without a request",
                    conn.peer,
                    conn.identity
                        .as_ref()
                        .map(|i| i.owner.as_str())
                        .unwrap_or("?")
                );
            }
            self.close(token);
            return false;
        }
        if conn.peer_closed && conn.is_handshaking() {
            log::info!("client {}: closed during the TLS handshake", conn.peer);
            self.close(token);
            return false;
        }
        if let Err(e) = conn.update_interest(self.poll.registry(), token) {
            log::error!(
                "client {}: cannot update readiness interest: {e}",
                conn.peer
            );
            self.close(token);
            return false;
        }
        conn.read_paused() && conn.queue.is_empty() && !conn.awaiting_commit
    }

    fn deliver(&mut self, finished: WriteDone) {
        let Some(conn) = self.connections.get_mut(&finished.token) else {
            log::debug!("a committed response found its connection closed");
            return;
        };
        if conn.id != finished.conn_id {
            return;
        }
        conn.awaiting_commit = false;
        match finished.response {
            Some(bytes) => {
                record_response(&self.services, &bytes, finished.started);
                if let Err(e) = conn.send(&bytes) {
                    self.fail(finished.token, &e);
                    return;
                }
            }
            None => {
                conn.queue.clear();
                conn.close_when_idle = true;
            }
        }
        if self.advance(finished.token) {
            self.on_ready(finished.token);
        }
    }

    fn send_group(&mut self) {
        if self.group.is_empty() {
            return;
        }
        let group = std::mem::take(&mut self.group);
        let count = group.len();
        let Some(jobs) = self.jobs.as_ref() else {
            return;
        };
        match jobs.send(group) {
            Ok(()) => self.in_flight += count,
            Err(std::sync::mpsc::SendError(group)) => {
                // Only if the committer thread died: nothing can be committed any more.
                log::error!(
                    "the committer thread is gone; {count} mutation(s) unanswered, closing their connections"
                );
                for job in group {
                    self.close(job.token);
                }
            }
        }
    }

    fn begin_shutdown(&mut self) {
        log::info!(
            "stopping: no new connections; answering {} open connection(s)",
            self.connections.len()
        );
        if let Some(mut listener) = self.listener.take() {
            let _ = self.poll.registry().deregister(&mut listener);
        }
        if let Some(mut listener) = self.http.take() {
            let _ = self.poll.registry().deregister(&mut listener);
        }
        let http: Vec<Token> = self.http_conns.keys().copied().collect();
        for token in http {
            self.close_http(token);
        }
        self.drain_deadline = Some(Instant::now() + self.options.drain_timeout);
        let tokens: Vec<Token> = self.connections.keys().copied().collect();
        for token in tokens {
            let Some(conn) = self.connections.get_mut(&token) else {
                continue;
            };
            if conn.is_handshaking() {
                self.close(token);
                continue;
            }
            conn.stop_reading();
            conn.close_when_idle = true;
            if self.advance(token) {
                self.on_ready(token);
            }
        }
    }

    fn sweep(&mut self, now: Instant) {
        let late: Vec<Token> = self
            .http_conns
            .iter()
            .filter(|(_, c)| now.duration_since(c.accepted_at) >= http_conn::REQUEST_TIMEOUT)
            .map(|(t, _)| *t)
            .collect();
        for token in late {
            if let Some(conn) = self.http_conns.get_mut(&token) {
                conn.time_out();
            }
            self.close_http(token);
        }
        for token in self.admission.silent(now, self.options.first_byte_timeout) {
            self.services
                .metrics
                .failure(FailureCause::FirstByteTimeout);
            if let Some(conn) = self.connections.get(&token)
                && self.silent_log.allow("first-byte timeout")
            {
                log::info!(
                    "client {}: {}; closing",
                    conn.peer,
                    FailureCause::FirstByteTimeout.describe()
                );
            }
            self.close(token);
        }
        self.admission.forget_full_buckets(now);
        let handshake_timeout = self.options.handshake_timeout;
        let idle_timeout = self.options.idle_timeout;
        let request_timeout = self.options.request_timeout;
        let expired: Vec<(Token, &'static str)> = self
            .connections
            .iter()
            .filter_map(|(token, conn)| {
                if conn.is_handshaking() {
                    (now.duration_since(conn.accepted_at) >= handshake_timeout)
                        .then_some((*token, "handshake timeout"))
                } else if let Some(since) = conn.partial_request_since() {
                    (now.duration_since(since) >= request_timeout)
                        .then_some((*token, "request not complete within request_timeout_secs"))
                } else {
                    (!conn.awaiting_commit
                        && now.duration_since(conn.last_activity) >= idle_timeout)
                        .then_some((*token, "idle timeout"))
                }
            })
            .collect();
        for (token, why) in expired {
            if let Some(conn) = self.connections.get(&token) {
                if why == "handshake timeout" {
                    self.services
                        .metrics
                        .failure(FailureCause::HandshakeTimeout);
                    if self.handshake_log.allow("handshake failure") {
                        log::warn!(
                            "client {}: connection failure: {}; closing",
                            conn.peer,
                            FailureCause::HandshakeTimeout.describe()
                        );
                    }
                    self.close(token);
                    continue;
                }
                log::info!("client {}: {why}; closing", conn.peer);
            }
            self.close(token);
        }
    }

    fn fail(&mut self, token: Token, fatal: &Fatal) {
        if let Some(conn) = self.connections.get(&token) {
            let who = conn
                .identity
                .as_ref()
                .map(|i| i.owner.clone())
                .unwrap_or_else(|| "unauthenticated".into());
            match fatal {
                Fatal::Handshake(_) if conn.resumption_only => {
                    self.services
                        .metrics
                        .failure(FailureCause::HandshakeThrottled);
                    if self.throttle_log.allow("throttled handshake") {
                        log::warn!(
                            "client {}: connection failure: {}: {fatal}",
                            conn.peer,
                            FailureCause::HandshakeThrottled.describe()
                        );
                    }
                }
                Fatal::Handshake(error) => {
                    let cause = FailureCause::of_handshake(error);
                    self.services.metrics.failure(cause);
                    if self.handshake_log.allow("handshake failure") {
                        log::warn!(
                            "client {}: connection failure: {}: {fatal}",
                            conn.peer,
                            cause.describe()
                        );
                    }
                }
                Fatal::Io(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::ConnectionReset | io::ErrorKind::BrokenPipe
                    ) =>
                {
                    log::info!("client {} ({who}): connection reset", conn.peer);
                }
                _ => log::warn!("client {} ({who}): {fatal}", conn.peer),
            }
        }
        self.close(token);
    }

    fn close(&mut self, token: Token) {
        self.admission.release(token);
        if let Some(mut conn) = self.connections.remove(&token) {
            conn.close_gracefully();
            conn.deregister(self.poll.registry());
            self.update_connection_gauges();
            log::debug!(
                "client {}: closed after {} response(s)",
                conn.peer,
                conn.requests_answered
            );
        }
    }
}

/// Whether a connection that authenticated as `owner` with `chain` under the registry `old`
/// would be let in as the same owner under `new`. An identity the registry gave must still
/// come from it (a removed client's CA may be trusted nowhere else); one the configuration
/// alone trusts stays unless the certificate was revoked since.
fn still_trusted(
    old: &ClientTrust,
    new: &ClientTrust,
    chain: &[rustls::pki_types::CertificateDer<'static>],
    owner: &str,
) -> bool {
    let Some((leaf, intermediates)) = chain.split_first() else {
        return false;
    };
    let now = rustls::pki_types::UnixTime::now();
    let from_registry = old.resolve(leaf, intermediates, now).is_some();
    match new.resolve(leaf, intermediates, now) {
        Some(current) => current == owner,
        None if from_registry => false,
        None => resolve_identity(new, chain).is_some_and(|identity| identity.owner == owner),
    }
}

/// Counts each batch item of a response by operation and result, and the request's latency.
/// Decoding the response again costs a little; it keeps the engine free of metrics.
fn record_response(services: &Services, response: &[u8], started: Instant) {
    let Ok(message) = crate::ttlv::decode(response, &crate::ttlv::Limits::default()) else {
        return;
    };
    let mut first = None;
    for item in message.children_with(tag::BATCH_ITEM) {
        let operation = match item.child(tag::OPERATION).map(|i| &i.value) {
            Some(Value::Enumeration(op)) => {
                names::enum_name(tag::OPERATION, *op).unwrap_or("Unknown")
            }
            _ => "Unknown",
        };
        let result = match item.child(tag::RESULT_STATUS).map(|i| &i.value) {
            Some(Value::Enumeration(0)) => "success",
            _ => match item.child(tag::RESULT_REASON).map(|i| &i.value) {
                Some(Value::Enumeration(reason)) => {
                    names::enum_name(tag::RESULT_REASON, *reason).unwrap_or("failure")
                }
                _ => "failure",
            },
        };
        services.metrics.operation(operation, result);
        first.get_or_insert(operation);
    }
    services
        .metrics
        .latency(first.unwrap_or("Unknown"), started.elapsed().as_secs_f64());
}

/// A read-only request on a fresh snapshot, in the loop thread.
fn run_read(services: &Services, request: &crate::engine::ParsedRequest) -> Option<Vec<u8>> {
    let engine = &services.engine;
    let result = catch_unwind(AssertUnwindSafe(|| match services.store.read() {
        Ok(view) => engine.execute_read(request, view.as_ref()),
        Err(e) => {
            log::error!("cannot open a read snapshot: {e}");
            engine.storage_failure_response(request, &e)
        }
    }));
    match result {
        Ok(bytes) => Some(bytes),
        Err(_) => {
            log::error!("engine panicked on a read-only request");
            None
        }
    }
}

/// Queues a change for this turn's group commit, or, when it asks for a slow key pair, hands
/// it to the key generator thread first (which passes it on to the committer itself, so it
/// counts as in flight from now on).
fn submit(
    job: WriteJob,
    group: &mut Vec<WriteJob>,
    keygen: Option<&std::sync::mpsc::Sender<WriteJob>>,
    in_flight: &mut usize,
) {
    match keygen {
        Some(keygen) if job.request.needs_slow_generation() => match keygen.send(job) {
            Ok(()) => *in_flight += 1,
            // Only if the generator died: the operation draws inline instead.
            Err(std::sync::mpsc::SendError(job)) => group.push(job),
        },
        _ => group.push(job),
    }
}
