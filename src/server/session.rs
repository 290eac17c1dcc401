//! One KMIP client's protocol state, without a socket or a clock (the shape of rustls'
//! `ServerConnection`): TLS records in, whole requests out, responses in, TLS records out.
//!
//! Why apart from the connection: everything that decides what a client may send and when it
//! is closed lives here, so it can be tested with byte slices and made-up instants, and the
//! event loop cannot reach past it. The session owns the TTLV framing (`ttlv/frame.rs`: a
//! header is checked against `max_message_bytes` before its body is awaited), the pipelining
//! budget (input beyond two bounded messages stays in the kernel until earlier requests are
//! answered), one request at a time (the next starts when the previous answer has left), and
//! the close policy: which timeout has expired, given the caller's clock and limits, and when
//! a finished connection is closed. The caller (`connection.rs`) moves bytes between the
//! socket and the session; the loop (`event_loop.rs`) routes requests to the engine.

use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::{ServerConfig, ServerConnection};
use zeroize::Zeroizing;

use crate::engine::{Client, ClientIdentity, Response};
use crate::kmip::tag;
use crate::ttlv::Limits;
use crate::ttlv::frame::{FrameStatus, inspect_header};

/// Something read from the client, in arrival order.
pub(super) enum Inbound {
    /// One whole request message, header included.
    Request(Vec<u8>),
    /// A header that can never start an acceptable message; nothing after it is read.
    BadFrame {
        header: [u8; 8],
        status: FrameStatus,
    },
}

/// Why a session must be closed at once.
#[derive(Debug)]
pub(super) enum Fatal {
    Handshake(rustls::Error),
    Tls(rustls::Error),
    Io(io::Error),
}

impl std::fmt::Display for Fatal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Fatal::Handshake(e) => write!(f, "TLS handshake failed: {e}"),
            Fatal::Tls(e) => write!(f, "TLS error: {e}"),
            Fatal::Io(e) => write!(f, "socket error: {e}"),
        }
    }
}

/// How long a session may take at each stage; the caller's values (`ServerOptions`).
#[derive(Debug, Clone, Copy)]
pub(super) struct Timeouts {
    pub handshake: Duration,
    pub request: Duration,
    pub idle: Duration,
}

/// Which timeout a session ran into.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Expired {
    Handshake,
    /// A request began arriving and did not complete.
    Request,
    /// No bytes either way, and nothing waiting for a commit.
    Idle,
}

impl Expired {
    pub(super) fn describe(self) -> &'static str {
        match self {
            Expired::Handshake => "handshake timeout",
            Expired::Request => "request not complete within request_timeout_secs",
            Expired::Idle => "idle timeout",
        }
    }
}

/// Why a session is over although nothing failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Finished {
    /// Everything asked was answered and the peer closed, or the session was told to close.
    /// `probe`: the peer closed after the handshake without a request (vCenter's periodic
    /// certificate check).
    Done { probe: bool },
    /// The peer closed during the handshake.
    DuringHandshake,
}

pub(super) struct Session {
    /// Never reused while the server runs, so a late commit result cannot reach a newer
    /// session that happens to share a token.
    id: u64,
    peer: SocketAddr,
    tls: ServerConnection,
    limits: Limits,
    /// Who the handshake authenticated, with the KMIP username/password it must present.
    client: Option<Client>,
    queue: VecDeque<Inbound>,
    /// A request of this session is with the committer; nothing else runs until it returns.
    awaiting_commit: bool,
    requests_answered: u64,
    accepted_at: Instant,
    last_activity: Instant,
    /// The client closed its side; answer what was queued, then close.
    peer_closed: bool,
    /// Close once the queue is empty and every response is flushed.
    close_when_idle: bool,
    /// Served the resumption-only TLS configuration (its address is over its full-handshake
    /// rate).
    resumption_only: bool,
    /// A full handshake of this session was charged to its address's allowance.
    charged_full_handshake: bool,
    /// The handshake resumed a session (no certificate was verified on it).
    resumed: bool,
    /// At least one byte arrived.
    spoke: bool,
    /// Whether the handshake's kind (full or resumed) was already reported.
    kind_reported: bool,
    inbuf: Vec<u8>,
    /// When the first byte of the request still being received arrived.
    partial_since: Option<Instant>,
    queued_bytes: usize,
    stop_reading: bool,
    read_paused: bool,
}

impl Session {
    pub(super) fn new(
        id: u64,
        peer: SocketAddr,
        config: Arc<ServerConfig>,
        resumption_only: bool,
        limits: Limits,
        now: Instant,
    ) -> Result<Session, rustls::Error> {
        let mut tls = ServerConnection::new(config)?;
        // Responses are bounded by the session (one request at a time, output flushed before
        // the next), so rustls need not cap its outgoing buffer.
        tls.set_buffer_limit(None);
        Ok(Session {
            id,
            peer,
            tls,
            limits,
            client: None,
            queue: VecDeque::new(),
            awaiting_commit: false,
            requests_answered: 0,
            accepted_at: now,
            last_activity: now,
            peer_closed: false,
            close_when_idle: false,
            resumption_only,
            charged_full_handshake: false,
            resumed: false,
            spoke: false,
            kind_reported: false,
            inbuf: Vec::new(),
            partial_since: None,
            queued_bytes: 0,
            stop_reading: false,
            read_paused: false,
        })
    }

    pub(super) fn id(&self) -> u64 {
        self.id
    }

    pub(super) fn peer(&self) -> SocketAddr {
        self.peer
    }

    /// Who the client is, once its handshake authenticated it.
    pub(super) fn identity(&self) -> Option<&ClientIdentity> {
        self.client.as_ref().map(Client::identity)
    }

    /// For log lines: the owner, or "unauthenticated".
    pub(super) fn who(&self) -> &str {
        self.identity()
            .map_or("unauthenticated", |i| i.owner.as_str())
    }

    /// The handshake authenticated `identity`, who must present `credential` in requests.
    pub(super) fn authenticated(
        &mut self,
        identity: ClientIdentity,
        credential: Option<Arc<crate::engine::credential::KmipCredential>>,
    ) {
        let mut client = Client::new(identity);
        client.require(credential);
        self.client = Some(client);
    }

    /// The registry changed what this client must present.
    pub(super) fn require_credential(
        &mut self,
        credential: Option<Arc<crate::engine::credential::KmipCredential>>,
    ) {
        if let Some(client) = &mut self.client {
            client.require(credential);
        }
    }

    /// The authenticated client, handed to the engine with each of its requests.
    pub(super) fn client_mut(&mut self) -> Option<&mut Client> {
        self.client.as_mut()
    }

    pub(super) fn is_handshaking(&self) -> bool {
        self.tls.is_handshaking()
    }

    pub(super) fn resumption_only(&self) -> bool {
        self.resumption_only
    }

    pub(super) fn resumed(&self) -> bool {
        self.resumed
    }

    /// The session's full handshake was charged to its address.
    pub(super) fn charged_full_handshake(&mut self) {
        self.charged_full_handshake = true;
    }

    pub(super) fn was_charged(&self) -> bool {
        self.charged_full_handshake
    }

    /// At least one byte arrived from the peer.
    pub(super) fn spoke(&self) -> bool {
        self.spoke
    }

    pub(super) fn requests_answered(&self) -> u64 {
        self.requests_answered
    }

    /// The handshake's kind, once, as soon as the ClientHello has decided it: `Some(true)`
    /// for a full handshake (a private-key operation), `Some(false)` for a resumption.
    pub(super) fn take_handshake_kind(&mut self) -> Option<bool> {
        if self.kind_reported {
            return None;
        }
        let full = match self.tls.handshake_kind()? {
            rustls::HandshakeKind::Resumed => false,
            rustls::HandshakeKind::Full | rustls::HandshakeKind::FullWithHelloRetryRequest => true,
        };
        self.kind_reported = true;
        self.resumed = !full;
        Some(full)
    }

    /// TLS records are waiting to be written.
    pub(super) fn wants_write(&self) -> bool {
        self.tls.wants_write()
    }

    /// True when nothing is queued, running or waiting to be sent.
    pub(super) fn is_quiet(&self) -> bool {
        self.queue.is_empty() && !self.awaiting_commit && !self.wants_write()
    }

    /// Pipelined input beyond this is left in the socket until earlier requests are answered.
    fn over_budget(&self) -> bool {
        self.inbuf.len() + self.queued_bytes >= self.limits.max_message_bytes.saturating_mul(2)
    }

    /// Input was left unread for lack of budget, and the budget is free again: read now (an
    /// edge-triggered socket brings no new event for it).
    pub(super) fn may_read_again(&self) -> bool {
        self.read_paused && self.queue.is_empty() && !self.awaiting_commit
    }

    /// Reads TLS records from `source` until it would block, the peer closes, or the input
    /// budget is spent. New complete requests are queued. Returns whether the handshake
    /// completed during this call. `now` stamps the activity.
    pub(super) fn read_tls(&mut self, source: &mut dyn Read, now: Instant) -> Result<bool, Fatal> {
        let was_handshaking = self.tls.is_handshaking();
        self.read_paused = false;
        while !self.stop_reading && !self.peer_closed {
            if self.over_budget() {
                self.read_paused = true;
                break;
            }
            match self.tls.read_tls(source) {
                Ok(0) => self.peer_closed = true,
                Ok(_) => {
                    self.spoke = true;
                    self.last_activity = now;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(Fatal::Io(e)),
            }
            let handshaking = self.tls.is_handshaking();
            if let Err(e) = self.tls.process_new_packets() {
                return Err(if handshaking {
                    Fatal::Handshake(e)
                } else {
                    Fatal::Tls(e)
                });
            }
            self.drain_plaintext(now)?;
        }
        Ok(was_handshaking && !self.tls.is_handshaking())
    }

    fn drain_plaintext(&mut self, now: Instant) -> Result<(), Fatal> {
        let mut chunk = [0u8; 16 * 1024];
        loop {
            match self.tls.reader().read(&mut chunk) {
                Ok(0) => {
                    // close_notify from the client.
                    self.peer_closed = true;
                    return Ok(());
                }
                Ok(n) => {
                    if !self.stop_reading {
                        self.inbuf.extend_from_slice(&chunk[..n]);
                        self.split_messages();
                        if self.inbuf.is_empty() {
                            self.partial_since = None;
                        } else if self.partial_since.is_none() {
                            self.partial_since = Some(now);
                        }
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
                    self.peer_closed = true;
                    return Ok(());
                }
                Err(e) => return Err(Fatal::Io(e)),
            }
        }
    }

    /// Cuts complete messages off the front of `inbuf`, never holding more than one
    /// message's declared length, which the header check bounds before we wait for it.
    fn split_messages(&mut self) {
        loop {
            match inspect_header(&self.inbuf, tag::REQUEST_MESSAGE, &self.limits) {
                FrameStatus::NeedHeader => return,
                FrameStatus::Length(length) if length >= 8 => {
                    if self.inbuf.len() < length {
                        // The header was checked against the bound: reserving for exactly this
                        // message keeps the buffer from doubling past it.
                        self.inbuf.reserve_exact(length - self.inbuf.len());
                        return;
                    }
                    let rest = self.inbuf.split_off(length);
                    let message = std::mem::replace(&mut self.inbuf, rest);
                    // The next message's clock starts with its own first byte.
                    self.partial_since = None;
                    self.queued_bytes += message.len();
                    self.queue.push_back(Inbound::Request(message));
                }
                status => {
                    let mut header = [0u8; 8];
                    header.copy_from_slice(&self.inbuf[..8]);
                    let status = if let FrameStatus::Length(_) = status {
                        FrameStatus::Invalid
                    } else {
                        status
                    };
                    self.queue.push_back(Inbound::BadFrame { header, status });
                    self.stop_reading = true;
                    self.inbuf = Vec::new();
                    return;
                }
            }
        }
    }

    /// The next request to run, if one may run now: the client is authenticated, no earlier
    /// request of it is with the committer, and every earlier answer has left.
    pub(super) fn next_inbound(&mut self) -> Option<Inbound> {
        if self.awaiting_commit || self.client.is_none() || self.wants_write() {
            return None;
        }
        let inbound = self.queue.pop_front()?;
        if let Inbound::Request(message) = &inbound {
            self.queued_bytes -= message.len();
        }
        Some(inbound)
    }

    /// The current request went to the committer; nothing else runs until its answer.
    pub(super) fn await_commit(&mut self) {
        self.awaiting_commit = true;
    }

    /// The committer answered (or will never answer) the current request.
    pub(super) fn commit_returned(&mut self) {
        self.awaiting_commit = false;
    }

    pub(super) fn awaiting_commit(&self) -> bool {
        self.awaiting_commit
    }

    /// Encodes `response` (the one place a Response Message becomes bytes) and queues it
    /// for the client. The bytes are wiped once rustls holds them: a Get's carry key material.
    pub(super) fn send(&mut self, response: &Response) -> Result<(), Fatal> {
        let encoded = Zeroizing::new(response.encode());
        self.tls.writer().write_all(&encoded).map_err(Fatal::Io)?;
        self.requests_answered += 1;
        Ok(())
    }

    /// Writes TLS records to `sink` until it would block.
    pub(super) fn write_tls(&mut self, sink: &mut dyn Write, now: Instant) -> Result<(), Fatal> {
        while self.tls.wants_write() {
            match self.tls.write_tls(sink) {
                Ok(_) => self.last_activity = now,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(Fatal::Io(e)),
            }
        }
        Ok(())
    }

    /// Nothing more is answered: what was queued is dropped and the session closes once its
    /// output has left (a bad frame, an engine that panicked, a committer that gave up).
    pub(super) fn close_after_output(&mut self) {
        self.queue.clear();
        self.close_when_idle = true;
    }

    /// The server is stopping: no new input; what was received is answered, then close.
    pub(super) fn drain(&mut self) {
        self.stop_reading = true;
        self.inbuf = Vec::new();
        self.partial_since = None;
        self.close_when_idle = true;
    }

    /// Whether the session is over without a failure, and how.
    pub(super) fn finished(&self) -> Option<Finished> {
        if self.is_quiet() && (self.peer_closed || self.close_when_idle) {
            let probe = self.requests_answered == 0 && self.client.is_some() && self.peer_closed;
            return Some(Finished::Done { probe });
        }
        if self.peer_closed && self.tls.is_handshaking() {
            return Some(Finished::DuringHandshake);
        }
        None
    }

    /// Which timeout, if any, the session has run into at `now`. A session waiting for a
    /// commit is never idle.
    pub(super) fn expired(&self, now: Instant, timeouts: &Timeouts) -> Option<Expired> {
        if self.tls.is_handshaking() {
            (now.duration_since(self.accepted_at) >= timeouts.handshake)
                .then_some(Expired::Handshake)
        } else if let Some(since) = self.partial_since {
            (now.duration_since(since) >= timeouts.request).then_some(Expired::Request)
        } else {
            (!self.awaiting_commit && now.duration_since(self.last_activity) >= timeouts.idle)
                .then_some(Expired::Idle)
        }
    }

    /// The client's chain, leaf first.
    pub(super) fn peer_certificates(
        &self,
    ) -> Option<&[rustls::pki_types::CertificateDer<'static>]> {
        self.tls
            .peer_certificates()
            .filter(|certs| !certs.is_empty())
    }

    pub(super) fn tls_summary(&self) -> String {
        let version = self
            .tls
            .protocol_version()
            .map(|v| format!("{v:?}"))
            .unwrap_or_default();
        let suite = self
            .tls
            .negotiated_cipher_suite()
            .map(|s| format!("{:?}", s.suite()))
            .unwrap_or_default();
        format!("{version} {suite}")
    }

    /// Queues close_notify, once the handshake is over (best effort).
    pub(super) fn send_close_notify(&mut self) {
        if !self.tls.is_handshaking() {
            self.tls.send_close_notify();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(limits: Limits, now: Instant) -> Session {
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
        let key = rcgen::KeyPair::generate().expect("key");
        let cert = rcgen::CertificateParams::new(vec!["localhost".into()])
            .expect("params")
            .self_signed(&key)
            .expect("cert");
        let config = ServerConfig::builder()
            .with_no_client_auth()
            .with_single_cert(
                vec![cert.der().clone()],
                rustls::pki_types::PrivateKeyDer::try_from(key.serialize_der()).expect("key der"),
            )
            .expect("config");
        let peer = "127.0.0.1:5696".parse().expect("addr");
        Session::new(7, peer, Arc::new(config), false, limits, now).expect("session")
    }

    const TIMEOUTS: Timeouts = Timeouts {
        handshake: Duration::from_secs(10),
        request: Duration::from_secs(5),
        idle: Duration::from_secs(60),
    };

    #[test]
    fn the_close_policy_follows_the_callers_clock() {
        let start = Instant::now();
        let mut s = session(Limits::default(), start);
        assert_eq!(s.expired(start, &TIMEOUTS), None);
        assert_eq!(
            s.expired(start + Duration::from_secs(10), &TIMEOUTS),
            Some(Expired::Handshake)
        );
        // Bytes that are not TLS fail the handshake; nothing is queued.
        let mut garbage: &[u8] = b"GET / HTTP/1.1\r\n\r\n";
        assert!(matches!(
            s.read_tls(&mut garbage, start),
            Err(Fatal::Handshake(_))
        ));
        assert!(s.spoke());
        assert!(
            s.next_inbound().is_none(),
            "nothing runs before a handshake"
        );
    }

    #[test]
    fn a_peer_that_closes_before_speaking_finishes_the_session() {
        let start = Instant::now();
        let mut s = session(Limits::default(), start);
        let mut eof: &[u8] = b"";
        assert!(!s.read_tls(&mut eof, start).expect("eof is no error"));
        assert!(!s.spoke());
        // Nothing owed either way: done, and not the certificate probe (no identity).
        assert_eq!(s.finished(), Some(Finished::Done { probe: false }));
    }

    #[test]
    fn a_draining_session_without_work_is_done_and_never_idle_while_committing() {
        let start = Instant::now();
        let mut s = session(Limits::default(), start);
        assert_eq!(s.finished(), None);
        s.await_commit();
        assert!(!s.is_quiet());
        s.drain();
        assert_eq!(s.finished(), None, "an answer is still owed");
        s.commit_returned();
        assert_eq!(s.finished(), Some(Finished::Done { probe: false }));
    }
}
