//! The event loop: accept, TLS, framing, dispatch, timeouts and graceful shutdown, all on one
//! thread driven by one mio `Poll`. Mutations go to the committer thread (see `committer.rs`).

use std::collections::{HashMap, VecDeque};
use std::io;
use std::net::SocketAddr;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use mio::net::TcpListener;
use mio::{Events, Interest, Poll, Token, Waker};

use super::admin_socket::AdminSocket;
use super::admin_thread::{self, EffectsRequest};
use super::admission::{Admission, Budgets, Eviction, Promotion};
use super::committer;
use super::connection::Connection;
use super::dispatch::{CommitQueue, Routed, route};
use super::handshake_queue::{Class, HandshakeQueue, Slice};
use super::http_listener::HttpListener;
use super::identity::resolve_identity;
use super::metrics::{EvictionCause, FailureCause, HandshakeKind};
use super::pending_clears::PendingClears;
use super::ratelimit::ConnectionLogs;
use super::read_audit::{self, HeldRead, ReadBatch};
use super::session::{Expired, Fatal, Finished, Inbound, Timeouts};
use super::signals::SignalPipe;
use super::trust_service::TrustService;
use super::write_jobs::{WriteDone, WriteJob, pipeline};
use super::{
    FIRST_CONNECTION, HTTP, LISTENER, SIGNALS, ServerError, ServerOptions, Services,
    ShutdownHandle, WAKER,
};
use crate::engine::Prepared;
use crate::engine::pipeline::Change;
use crate::pki;
use crate::ttlv::frame::FrameStatus;

/// Connections accepted per loop turn at most. A burst larger than this is taken over the
/// next turns (each polls without waiting while a backlog remains), so accepting never
/// starves reading, answering and committing.
const ACCEPT_BATCH: usize = 64;

/// The three budgets below bound the loop's work per turn for peers without a client yet:
/// accepting, handshakes, closing the silent. Each always allows one piece of work, so the
/// strangers' work moves however long one piece takes; past the budget the rest waits for
/// the next turn, which starts without waiting (a turn with nothing to wait for costs a few
/// microseconds: one `epoll_wait`, the channels). An authenticated client's request arriving
/// in the middle of a turn waits for what is left of it, so the budgets are small: under the
/// full-size flood of `tests/unauth_flood.rs`, budgets of 1, 2 and 1 ms left the registered
/// client's p99 within 2× of its baseline in 9 of 12 runs; these, in 78 of 103 (every run
/// is in `docs/event-loop.md`), with less server CPU for the same flood. Not settings: they
/// trade nothing an operator knows better.
///
/// Accepting: an accept usually costs microseconds, but the kernel hands the caller the
/// handshakes that arrived for the listener while it held it (SYN-cookie ACKs, each a new
/// socket), and under a flood a batch of 64 took up to 12 ms.
const ACCEPT_SLICE: Duration = Duration::from_micros(250);

/// Connections without a client yet (handshakes, `handshake_queue.rs`). A full handshake's
/// signature takes 1-2 ms, so a slice is one of them, or a few hundred microseconds of the
/// cheap steps (a trickled byte, a client's certificate and Finished).
const STRANGER_SLICE: Duration = Duration::from_micros(500);

/// A turn hands over what it has gathered once this many changes, or this many reads, are
/// waiting, instead of only at its end: with many clients ready at once (64 connections:
/// 30-60 requests a turn, a millisecond or more of parsing and running) the committer then
/// writes the first changes, and the journal takes the first reads' records and their
/// answers leave, while the loop is still reading the rest, where the committer sat idle for
/// the whole turn and every client of the turn waited for its end. The size is the
/// committer's from which a group is run beside the previous flush, so a hand-over of changes
/// is not held back for a flush; with fewer clients than that, nothing changes.
/// Measured (create-get, 64 connections, fresh servers, 8 s, alternated): 1.19-1.25× the
/// rate with hand-over at the turn's end, for twice the commits (mean group 24 against 41)
/// and 1.45 cores of the machine's 2 against 1.1.
const HAND_OVER_AT: usize = committer::PIPELINE_MIN_GROUP;

/// Closing connections past their first-byte deadline. A flood re-opening thousands of
/// silent connections has about as many expire between two sweeps: closed in one go they
/// were one turn of 30-60 ms of CPU (measured: 1,000-2,500 closes, 25 µs each), which a
/// loaded machine stretched to 300-900 ms. A quarter of a millisecond is about ten closes,
/// several thousand a second over the turns, more than a flood re-opens.
const SILENT_CLOSE_SLICE: Duration = Duration::from_micros(250);

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
        let mut options = options;
        let needed = super::fd_limit::needed(
            options.max_connections,
            options.max_unauthenticated,
            options.max_silent_connections,
        );
        let soft = super::fd_limit::raise_to(needed);
        super::fd_limit::presize_table(needed, soft);
        let silent_pool = super::fd_limit::silent_pool_within(
            soft,
            options.max_connections,
            options.max_unauthenticated,
            options.max_silent_connections,
        );
        if silent_pool < options.max_silent_connections {
            log::warn!(
                "the open file limit leaves room for {silent_pool} silent connections, not the \
                 {} of max_silent_connections",
                options.max_silent_connections
            );
            options.max_silent_connections = silent_pool;
        }
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

    /// Answers admin requests (the CLI while the server runs) on a Unix socket at `path`,
    /// on the admin thread once the server runs.
    pub fn serve_admin_socket(&mut self, path: &std::path::Path) -> Result<(), ServerError> {
        self.admin = Some(AdminSocket::bind(path)?);
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
        let readers = if self.services.store.replicated() {
            Some(
                super::cluster_reader::spawn(
                    &self.services,
                    committer.jobs.clone(),
                    committer.answers.clone(),
                    self.waker.clone(),
                )
                .map_err(|e| ServerError::io("starting the reader threads", e))?,
            )
        } else {
            None
        };
        let (reader_jobs, reader_threads) = match readers {
            Some(readers) => (Some(readers.jobs), readers.threads),
            None => (None, Vec::new()),
        };
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
            max_silent: self.options.max_silent_connections,
        };
        let trust = TrustService::start(
            &self.services,
            self.services.cluster.is_some(),
            self.registry_notifier,
            self.waker.clone(),
        )
        .map_err(|e| ServerError::io("starting the trust refresh thread", e))?;
        let (admin_effects, effects_from_admin) = std::sync::mpsc::channel();
        let admin = match self.admin {
            Some(socket) => Some(
                admin_thread::spawn(
                    socket,
                    &self.services,
                    trust.last_seen(),
                    admin_effects,
                    self.waker.clone(),
                )
                .map_err(|e| ServerError::io("starting the admin thread", e))?,
            ),
            None => None,
        };
        let mut state = LoopState {
            poll: self.poll,
            listener: Some(self.listener),
            admission: Admission::new(budgets),
            resumption_only: super::resumption_only::resumption_only(&self.services.tls),
            accept_backlog: false,
            handshakes: HandshakeQueue::new(),
            expired_silent: VecDeque::new(),
            logs: ConnectionLogs::new(),
            options: self.options,
            services: self.services,
            connections: HashMap::new(),
            next_id: FIRST_CONNECTION as u64,
            commits: CommitQueue::new(committer.jobs, keygen.jobs, reader_jobs),
            reads: ReadBatch::default(),
            pending_clears: PendingClears::default(),
            accept_retry_at: None,
            drain_deadline: None,
            admin_effects: Some(effects_from_admin),
            trust,
            http: HttpListener::new(self.http),
        };
        let result = state.serve(&committer.done, &self.shutdown, self.signals);
        if let Some(heartbeat) = heartbeat {
            heartbeat.stop();
        }
        // Queued effects go unapplied (their acknowledgements drop), so the admin thread
        // finishes the request it is answering and stops.
        state.admin_effects = None;
        if let Some(admin) = admin {
            admin.stop();
        }
        state.trust.stop();
        // Dropping the senders lets the readers, the generator, then the committer, finish
        // what they have and end (readers and generator hold senders of the committer's until
        // they end).
        state.commits.close_readers();
        for reader in reader_threads {
            if reader.join().is_err() {
                log::error!("a reader thread panicked");
            }
        }
        state.commits.close_keygen();
        if keygen.thread.join().is_err() {
            log::error!("the key generator thread panicked");
        }
        state.commits.close_committer();
        if committer.thread.join().is_err() {
            log::error!("the committer thread panicked");
        } else {
            pipeline(&state.services).log_head();
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
    /// Readiness of connections without a client yet, served after the authenticated
    /// clients' in slices of [`STRANGER_SLICE`], real clients' first (`handshake_queue.rs`).
    handshakes: HandshakeQueue<Token>,
    /// Connections the last sweep found past their first-byte deadline, closed in slices of
    /// [`SILENT_CLOSE_SLICE`] (each sweep names every one still open again).
    expired_silent: VecDeque<Token>,
    /// What a peer repeats at will, each with its own log budget (`ratelimit.rs`).
    logs: ConnectionLogs,
    options: ServerOptions,
    services: Services,
    connections: HashMap<Token, Connection>,
    next_id: u64,
    /// This turn's group and the channels to the committer (`dispatch.rs`).
    commits: CommitQueue,
    /// This turn's reads waiting for their records' write (`read_audit.rs`).
    reads: ReadBatch,
    /// Objects whose first Get was answered, their clear of Fresh not folded yet
    /// (`pending_clears.rs`).
    pending_clears: PendingClears,
    accept_retry_at: Option<Instant>,
    drain_deadline: Option<Instant>,
    /// What admin requests ask of open connections (`admin_thread.rs`).
    admin_effects: Option<std::sync::mpsc::Receiver<EffectsRequest>>,
    /// The handshake trust and last-seen times (`trust_service.rs`).
    trust: TrustService,
    /// The health and metrics listener and its connections (`http_listener.rs`).
    http: HttpListener,
}

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
            // Work left for this loop without a new event (edge-triggered readiness does not
            // repeat): the rest of an accept batch, queued handshakes, silent connections left
            // to close.
            if self.accept_backlog || !self.handshakes.is_empty() || !self.expired_silent.is_empty()
            {
                timeout = Duration::ZERO;
            }
            if let Err(e) = self.poll.poll(&mut events, Some(timeout))
                && e.kind() != io::ErrorKind::Interrupted
            {
                return Err(ServerError::io("waiting for events", e));
            }
            let mut accept = std::mem::take(&mut self.accept_backlog);
            // Authenticated clients first: their requests are read, run and handed to the
            // committer before this turn spends time on accepting and on handshakes (a full
            // handshake costs milliseconds), which a flood of strangers can multiply.
            for event in events.iter() {
                match event.token() {
                    LISTENER => accept = true,
                    HTTP => self.http.accept(self.poll.registry(), &mut self.next_id),
                    token if self.http.owns(token) => {
                        self.http
                            .on_ready(token, self.poll.registry(), &self.services)
                    }
                    WAKER => {}
                    SIGNALS => {
                        if let Some(pipe) = signals.as_mut()
                            && pipe.drain()
                        {
                            log::info!("signal received: stopping");
                            shutdown.store(true, Ordering::SeqCst);
                        }
                    }
                    token
                        if self
                            .connections
                            .get(&token)
                            .is_some_and(|c| c.session().identity().is_some()) =>
                    {
                        self.on_ready(token);
                        if self.commits.gathered() >= HAND_OVER_AT
                            || self.reads.len() >= HAND_OVER_AT
                        {
                            self.send_group();
                        }
                    }
                    token => self.queue_handshake(token),
                }
            }
            self.answer_committed(done);
            // Edge-triggered: connections left queued by the last batch bring no new event.
            if accept {
                self.accept_all(done);
            }
            self.serve_handshakes(done);
            self.close_expired_silent(done);
            if shutdown.load(Ordering::SeqCst) && self.drain_deadline.is_none() {
                super::sd_notify::stopping();
                self.begin_shutdown();
            }
            let now = Instant::now();
            watchdog.tick(now);
            if self.accept_retry_at.is_some_and(|at| now >= at) {
                self.accept_retry_at = None;
                self.accept_all(done);
            }
            if now >= next_sweep {
                self.sweep(now);
                next_sweep = now + sweep_every;
            }
            self.apply_admin_effects();
            if self.trust.changed_elsewhere() {
                self.reload_trust();
            }
            if let Some(fetched) = self.trust.fetched() {
                let sessions = self
                    .connections
                    .iter_mut()
                    .map(|(token, conn)| (*token, conn.session_mut()));
                let refused = self.trust.apply_fetched(&self.services, fetched, sessions);
                if !refused.is_empty() {
                    self.cut_off(&refused);
                }
            }
            self.send_group();
            if let Some(deadline) = self.drain_deadline {
                if self.connections.is_empty() && self.commits.is_idle() {
                    log::info!("all requests answered; stopped");
                    return Ok(());
                }
                if now >= deadline && self.commits.is_idle() {
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

    /// Applies what admin requests asked of open connections, and tells each request so (its
    /// reply waits for that).
    fn apply_admin_effects(&mut self) {
        let requests: Vec<EffectsRequest> = match &self.admin_effects {
            Some(from_admin) => from_admin.try_iter().collect(),
            None => return,
        };
        for EffectsRequest { effects, applied } in requests {
            // The removed owner's connections are cut first, with their own log line; the
            // reload after it then finds no other connection the new registry refuses, as
            // nothing else changed.
            if let Some(owner) = effects.cut_off_owner {
                let tokens: Vec<Token> = self
                    .connections
                    .iter()
                    .filter(|(_, c)| c.session().identity().is_some_and(|i| i.owner == owner))
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
            let _ = applied.send(());
        }
    }

    /// Closes connections of a client that lost its trust. Mutations queued this turn but not
    /// yet sent to the committer would land after the removal (and outside a
    /// --destroy-keys): they are dropped with the client.
    fn cut_off(&mut self, tokens: &[Token]) {
        self.commits.forget(tokens);
        for token in tokens {
            self.close(*token);
        }
    }

    /// Applies a changed client registry (`trust_service.rs`) and closes the sessions it no
    /// longer admits.
    fn reload_trust(&mut self) {
        let sessions = self
            .connections
            .iter_mut()
            .map(|(token, conn)| (*token, conn.session_mut()));
        let refused = self.trust.reload(&self.services, sessions);
        if !refused.is_empty() {
            self.cut_off(&refused);
        }
    }

    /// Queues the readiness of a connection without a client yet, in its class: past the
    /// server's signature, else by its address's standing (`admission.rs`).
    fn queue_handshake(&mut self, token: Token) {
        let Some(conn) = self.connections.get(&token) else {
            return;
        };
        let session = conn.session();
        // The ClientHello decided the kind (charged: a full handshake, signed in the same
        // read; resumed: no signature at all): the client's flight is next.
        let class = if session.is_handshaking() && (session.was_charged() || session.resumed()) {
            Class::PastSignature
        } else if self
            .admission
            .in_good_standing(session.peer().ip(), Instant::now())
        {
            Class::GoodStanding
        } else {
            Class::RecentlyFailed
        };
        self.handshakes.push(token, class);
    }

    /// Sends the answers the committer has finished, then the group of changes read so far
    /// (this turn's, and those the answered connections' next requests started). Called
    /// after the authenticated clients' events and between any two pieces of work for
    /// strangers (an accept, a handshake's step, a close): a change goes to the committer
    /// before the strangers are served, and its answer waits for at most one such piece, not
    /// for the rest of the turn. Both are a channel check when there is nothing to do.
    fn answer_committed(&mut self, done: &std::sync::mpsc::Receiver<WriteDone>) {
        while let Ok(finished) = done.try_recv() {
            self.commits.answered();
            self.deliver(finished);
        }
        self.send_group();
    }

    /// Serves queued connections without a client until this turn's [`STRANGER_SLICE`] is
    /// spent; the rest wait for the next turn, which starts without waiting.
    fn serve_handshakes(&mut self, done: &std::sync::mpsc::Receiver<WriteDone>) {
        if self.handshakes.is_empty() {
            return;
        }
        let mut slice = Slice::begin(Instant::now(), STRANGER_SLICE);
        while let Some(token) = self.handshakes.next(&mut slice, Instant::now()) {
            self.on_ready(token);
            self.answer_committed(done);
        }
        if !self.handshakes.is_empty() {
            self.services
                .metrics
                .handshake_slice_spent(self.handshakes.len());
        }
    }

    /// Accepts at most [`ACCEPT_BATCH`] connections, for at most [`ACCEPT_SLICE`];
    /// `accept_backlog` asks the loop for another turn at once when the listener may hold
    /// more.
    fn accept_all(&mut self, done: &std::sync::mpsc::Receiver<WriteDone>) {
        let mut slice = Slice::begin(Instant::now(), ACCEPT_SLICE);
        for _ in 0..ACCEPT_BATCH {
            if !slice.take(Instant::now()) {
                break;
            }
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
                    if self.logs.refused.allow("accept failure") {
                        log::warn!("accepting a connection failed: {e}");
                    }
                    self.accept_retry_at = Some(Instant::now() + Duration::from_millis(100));
                    return;
                }
            };
            self.admit(sock, peer);
            self.answer_committed(done);
        }
        self.accept_backlog = true;
    }

    /// Starts the TLS handshake of a new connection in the unauthenticated budget, closing
    /// whichever older connection the budget gives up for it.
    fn admit(&mut self, sock: mio::net::TcpStream, peer: SocketAddr) {
        // Only clients with certificates fill the authenticated budget; while it is full a
        // handshake could not be given a slot anyway.
        if self.admission.authenticated() >= self.options.max_connections {
            if self.logs.refused.allow("connection refused") {
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
        let limits = self.options.limits;
        let mut connection = match Connection::new(id, sock, peer, config, resumption_only, limits)
        {
            Ok(c) => c,
            Err(e) => {
                log::error!("cannot start TLS for {peer}: {e}");
                return;
            }
        };
        if let Err(e) = connection.register(self.poll.registry(), token) {
            log::error!("cannot register connection from {peer}: {e}");
            return;
        }
        log::debug!("connection from {peer}");
        self.connections.insert(token, connection);
        // Without a silent pool (max_silent_connections = 0) a connection takes its
        // unauthenticated slot at once.
        let evicted = if self.options.max_silent_connections == 0 {
            self.admission.admit(token, peer.ip(), now)
        } else {
            self.admission.park(token, peer.ip(), now)
        };
        self.evict(evicted, peer);
        self.update_connection_gauges();
    }

    /// Closes the connection the admission gave up to make room for one from `newcomer`,
    /// with its metric and (rate-limited) log line.
    fn evict(&mut self, evicted: Option<(Token, Eviction)>, newcomer: SocketAddr) {
        let Some((evicted, why)) = evicted else {
            return;
        };
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
            Eviction::SilentSourceCap => (
                EvictionCause::AddressCap,
                format!(
                    "{} silent connections from this address",
                    (self.options.max_silent_connections / 4).max(1)
                ),
            ),
            Eviction::SilentPoolFull => (
                EvictionCause::BudgetFull,
                format!(
                    "{} silent connections in all",
                    self.options.max_silent_connections
                ),
            ),
        };
        self.services.metrics.eviction(cause);
        if let Some(old) = self.connections.get(&evicted)
            && self.logs.eviction.allow("eviction")
        {
            log::warn!(
                "client {}: closed without a completed handshake to make room for {newcomer} \
                 (limit of {limit} reached)",
                old.session().peer()
            );
        }
        self.close(evicted);
    }

    fn update_connection_gauges(&self) {
        let metrics = &self.services.metrics;
        metrics.set_open_connections(self.connections.len());
        metrics.set_unauthenticated_connections(
            self.admission.unauthenticated() + self.admission.parked(),
        );
    }

    /// Socket readiness: read what arrived, run what is runnable, write what is ready.
    fn on_ready(&mut self, token: Token) {
        // Served now, whatever queued it: it reads until the socket is empty.
        self.handshakes.remove(token);
        loop {
            let Some(conn) = self.connections.get_mut(&token) else {
                return;
            };
            let result = conn.read();
            let spent = conn.take_handshake_time();
            if !spent.is_zero() {
                self.services.metrics.handshake_time(spent);
            }
            let session = conn.session_mut();
            let evicted = if session.spoke() {
                self.admission.spoke(token)
            } else {
                None
            };
            let peer = session.peer();
            if let Some(full) = session.take_handshake_kind() {
                let kind = if full {
                    HandshakeKind::Full
                } else {
                    HandshakeKind::Resumed
                };
                self.services.metrics.handshake(kind);
                // Charged now, given back if it authenticates: only handshakes that end
                // without a client count against the address.
                if full && !session.resumption_only() {
                    self.admission
                        .charge_full_handshake(session.peer().ip(), Instant::now());
                    session.charged_full_handshake();
                }
            }
            // Leaving the silent pool for the unauthenticated budget may cost an older
            // connection its slot.
            self.evict(evicted, peer);
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
        let session = conn.session();
        let peer = session.peer();
        let Some(chain) = session.peer_certificates() else {
            // Mandatory client auth makes this unreachable; refuse rather than trust.
            self.services.metrics.failure(FailureCause::NoCertificate);
            log::warn!("client {peer}: no client certificate after the handshake; closing");
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
            log::warn!("client {peer}: certificate no longer trusted (client removed); closing");
            self.close(token);
            return;
        };
        if session.resumed()
            && !x509_parser::parse_x509_certificate(&chain[0])
                .is_ok_and(|(_, cert)| cert.validity().is_valid())
        {
            // A ticket outlives nothing it vouched for: an expired certificate must run a
            // full handshake (and fail it) like any other.
            self.services.metrics.failure(FailureCause::UnknownClient);
            log::warn!("client {peer}: resumed a session for an expired certificate; closing");
            conn.abort();
            self.close(token);
            return;
        }
        if session.was_charged() {
            // It authenticated: the address gets its allowance back.
            self.admission
                .refund_full_handshake(peer.ip(), Instant::now());
        }
        let owner = identity.owner.clone();
        match self.admission.promote(token, &owner) {
            Promotion::Admitted => {}
            refused => {
                self.services.metrics.failure(FailureCause::ConnectionLimit);
                if self.logs.refused.allow("connection refused") {
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
                    log::warn!("refused connection from {peer} ({owner}): {why}");
                }
                // Nothing queued may leave: under TLS 1.2 that would be our Finished.
                conn.abort();
                self.close(token);
                return;
            }
        }
        log::debug!(
            "client {peer} authenticated as {} (certificate {}) over {}",
            identity.owner,
            pki::fingerprint_hex(&identity.fingerprint),
            session.tls_summary()
        );
        self.trust.seen(&identity.owner);
        conn.session_mut().authenticated(identity, required);
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
            if conn.session().awaiting_commit() {
                break;
            }
            // The next request starts only once the previous response has left; if the socket
            // takes it all now, carry on, otherwise the WRITABLE event brings us back.
            if conn.session().wants_write() {
                if let Err(e) = conn.flush() {
                    self.fail(token, &e);
                    return false;
                }
                if conn.session().wants_write() {
                    break;
                }
            }
            let session = conn.session_mut();
            // Requests run only after the handshake, so the identity is always set then.
            let Some(inbound) = session.next_inbound() else {
                break;
            };
            let peer = session.peer();
            let Some(client) = session.client_mut() else {
                break;
            };
            match inbound {
                Inbound::Request(message) => {
                    let started = Instant::now();
                    match route(services, client, &message, peer, &self.pending_clears) {
                        Routed::Answer(response) => {
                            services.metrics.response(&response, started);
                            if let Err(e) = session.send(&response) {
                                self.fail(token, &e);
                                return false;
                            }
                        }
                        Routed::ToCommit(request) => {
                            let job = WriteJob {
                                token,
                                conn_id: session.id(),
                                change: Change { request, peer },
                                started,
                            };
                            self.commits.submit(job);
                            session.await_commit();
                        }
                        Routed::Journal(request, response, records) => {
                            let job = WriteJob {
                                token,
                                conn_id: session.id(),
                                change: Change { request, peer },
                                started,
                            };
                            self.reads.hold(HeldRead { job, response }, records);
                            session.await_commit();
                        }
                        Routed::ToRead(request) => {
                            let job = WriteJob {
                                token,
                                conn_id: session.id(),
                                change: Change { request, peer },
                                started,
                            };
                            self.commits.submit_read(job);
                            session.await_commit();
                        }
                        Routed::Close => session.close_after_output(),
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
                        "client {peer} ({}): connection failure: message {why}; closing after an error response",
                        client.identity().owner
                    );
                    // The engine answers what it cannot decode with an Invalid Message error.
                    let prepared = catch_unwind(AssertUnwindSafe(|| {
                        services.engine.prepare(client.identity(), &header)
                    }));
                    if let Ok(Prepared::Respond(response)) = prepared
                        && let Err(e) = session.send(&response)
                    {
                        self.fail(token, &e);
                        return false;
                    }
                    session.close_after_output();
                }
            }
        }
        if let Err(e) = conn.flush() {
            self.fail(token, &e);
            return false;
        }
        let session = conn.session();
        match session.finished() {
            Some(Finished::Done { probe }) => {
                if probe {
                    // vCenter's periodic certificate check: handshake, then close. Normal.
                    log::info!(
                        "client {} ({}): closed after the TLS handshake without a request",
                        session.peer(),
                        session.who()
                    );
                }
                self.close(token);
                return false;
            }
            Some(Finished::DuringHandshake) => {
                log::info!("client {}: closed during the TLS handshake", session.peer());
                self.close(token);
                return false;
            }
            None => {}
        }
        if let Err(e) = conn.update_interest(self.poll.registry(), token) {
            log::error!(
                "client {}: cannot update readiness interest: {e}",
                conn.session().peer()
            );
            self.close(token);
            return false;
        }
        conn.session().may_read_again()
    }

    fn deliver(&mut self, finished: WriteDone) {
        let Some(conn) = self.connections.get_mut(&finished.token) else {
            log::debug!("a committed response found its connection closed");
            return;
        };
        let session = conn.session_mut();
        if session.id() != finished.conn_id {
            return;
        }
        session.commit_returned();
        match finished.response {
            Some(response) => {
                self.services.metrics.response(&response, finished.started);
                if let Err(e) = session.send(&response) {
                    self.fail(finished.token, &e);
                    return;
                }
            }
            None => session.close_after_output(),
        }
        if self.advance(finished.token) {
            self.on_ready(finished.token);
        }
    }

    /// Hands over what the turn gathered so far: the reads' records to the journal (then
    /// their answers to their connections), the changes to the committer.
    fn send_group(&mut self) {
        self.release_reads();
        for token in self.commits.send_group() {
            self.close(token);
        }
    }

    /// Writes the records of the reads run since the last call with one `write(2)`, then
    /// sends their answers; reads those answers let run are released the same way, until
    /// none is left. Should the journal refuse the records, the reads go to the committer,
    /// which records them durably before answering: no answer leaves without its record.
    fn release_reads(&mut self) {
        self.forget_folded_clears();
        while !self.reads.is_empty() {
            let (held, records) = self.reads.take();
            // The objects whose Fresh flag these records clear: those the reads served first.
            let fresh_cleared: Vec<String> = records
                .iter()
                .flat_map(|r| r.fresh_cleared.iter().cloned())
                .collect();
            let written = read_audit::write_records(&self.services, records);
            if let Some(appended) = written {
                self.pending_clears.journalled(fresh_cleared, appended);
            }
            for HeldRead { job, response } in held {
                if written.is_some() {
                    self.deliver(WriteDone {
                        token: job.token,
                        conn_id: job.conn_id,
                        response: Some(response),
                        started: job.started,
                    });
                } else if self
                    .connections
                    .get(&job.token)
                    .is_some_and(|c| c.session().id() == job.conn_id)
                {
                    self.commits.submit(job);
                }
            }
        }
    }

    /// Forgets the clears of Fresh the committer has folded (`pending_clears.rs`).
    fn forget_folded_clears(&mut self) {
        if self.pending_clears.is_empty() {
            return;
        }
        if let Some(journal) = self.services.audit.as_ref().and_then(|a| a.reads.as_ref()) {
            self.pending_clears.folded(journal.folded());
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
        self.http.stop(self.poll.registry());
        self.drain_deadline = Some(Instant::now() + self.options.drain_timeout);
        let tokens: Vec<Token> = self.connections.keys().copied().collect();
        for token in tokens {
            let Some(conn) = self.connections.get_mut(&token) else {
                continue;
            };
            if conn.session().is_handshaking() {
                self.close(token);
                continue;
            }
            conn.session_mut().drain();
            if self.advance(token) {
                self.on_ready(token);
            }
        }
    }

    /// Closes connections the sweep found silent past their deadline until this turn's
    /// [`SILENT_CLOSE_SLICE`] is spent; the rest wait for the next turn.
    fn close_expired_silent(&mut self, done: &std::sync::mpsc::Receiver<WriteDone>) {
        if self.expired_silent.is_empty() {
            return;
        }
        let mut slice = Slice::begin(Instant::now(), SILENT_CLOSE_SLICE);
        while let Some(&token) = self.expired_silent.front() {
            // Already closed (evicted, or its peer left) or spoke since: nothing to do, and no
            // time spent.
            if !self.admission.still_silent(token) {
                self.expired_silent.pop_front();
                continue;
            }
            if !slice.take(Instant::now()) {
                break;
            }
            self.expired_silent.pop_front();
            self.services
                .metrics
                .failure(FailureCause::FirstByteTimeout);
            if let Some(conn) = self.connections.get(&token)
                && self.logs.silent.allow("first-byte timeout")
            {
                log::info!(
                    "client {}: {}; closing",
                    conn.session().peer(),
                    FailureCause::FirstByteTimeout.describe()
                );
            }
            self.close(token);
            self.answer_committed(done);
        }
    }

    fn sweep(&mut self, now: Instant) {
        self.http.sweep(now, self.poll.registry());
        // Every connection still open past its deadline, those left from the last sweep
        // included: the list is replaced, so none is named twice.
        self.expired_silent = self
            .admission
            .silent(now, self.options.first_byte_timeout)
            .into();
        self.admission.forget_full_buckets(now);
        let timeouts = Timeouts {
            handshake: self.options.handshake_timeout,
            request: self.options.request_timeout,
            idle: self.options.idle_timeout,
        };
        let expired: Vec<(Token, Expired)> = self
            .connections
            .iter()
            .filter_map(|(token, conn)| Some((*token, conn.session().expired(now, &timeouts)?)))
            .collect();
        for (token, why) in expired {
            if let Some(conn) = self.connections.get(&token) {
                let peer = conn.session().peer();
                if why == Expired::Handshake {
                    self.services
                        .metrics
                        .failure(FailureCause::HandshakeTimeout);
                    if self.logs.handshake.allow("handshake failure") {
                        log::warn!(
                            "client {peer}: connection failure: {}; closing",
                            FailureCause::HandshakeTimeout.describe()
                        );
                    }
                    self.close(token);
                    continue;
                }
                log::info!("client {peer}: {}; closing", why.describe());
            }
            self.close(token);
        }
    }

    fn fail(&mut self, token: Token, fatal: &Fatal) {
        if let Some(conn) = self.connections.get(&token) {
            let who = conn.session().who();
            let peer = conn.session().peer();
            match fatal {
                Fatal::Handshake(_) if conn.session().resumption_only() => {
                    self.services
                        .metrics
                        .failure(FailureCause::HandshakeThrottled);
                    if self.logs.throttle.allow("throttled handshake") {
                        log::warn!(
                            "client {}: connection failure: {}: {fatal}",
                            conn.session().peer(),
                            FailureCause::HandshakeThrottled.describe()
                        );
                    }
                }
                Fatal::Handshake(error) => {
                    let cause = FailureCause::of_handshake(error);
                    self.services.metrics.failure(cause);
                    if self.logs.handshake.allow("handshake failure") {
                        log::warn!(
                            "client {}: connection failure: {}: {fatal}",
                            conn.session().peer(),
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
                    log::info!("client {peer} ({who}): connection reset");
                }
                _ => log::warn!("client {peer} ({who}): {fatal}"),
            }
        }
        self.close(token);
    }

    fn close(&mut self, token: Token) {
        self.admission.release(token);
        self.handshakes.remove(token);
        if let Some(mut conn) = self.connections.remove(&token) {
            if conn.session().spoke() {
                conn.close_gracefully();
            } else {
                // Nothing was said, so nothing is lost: a reset is one packet, and leaves no
                // socket behind in TIME_WAIT for the thousands a flood re-opens.
                conn.reset();
            }
            conn.deregister(self.poll.registry());
            self.update_connection_gauges();
            log::debug!(
                "client {}: closed after {} response(s)",
                conn.session().peer(),
                conn.session().requests_answered()
            );
        }
    }
}
