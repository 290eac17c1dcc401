//! One client connection: non-blocking socket, rustls state, the framing buffer and the queue
//! of complete requests. Knows nothing of the engine; the event loop decides what to run.

use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mio::net::TcpStream;
use mio::{Interest, Registry, Token};
use rustls::{ServerConfig, ServerConnection};

use crate::engine::ClientIdentity;
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

/// Why a connection must be closed at once.
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

pub(super) struct Connection {
    /// Never reused while the server runs, so a late commit result cannot reach a newer
    /// connection that happens to share a token.
    pub id: u64,
    pub peer: SocketAddr,
    pub identity: Option<ClientIdentity>,
    pub queue: VecDeque<Inbound>,
    /// A request of this connection is with the committer; nothing else runs until it returns.
    pub awaiting_commit: bool,
    pub requests_answered: u64,
    pub accepted_at: Instant,
    pub last_activity: Instant,
    /// The client closed its side; answer what was queued, then close.
    pub peer_closed: bool,
    /// Close once the queue is empty and every response is flushed.
    pub close_when_idle: bool,
    /// The KMIP username/password this client must present, and what it already verified.
    pub credential: super::kmip_auth::CredentialCheck,
    /// Served the resumption-only TLS configuration (its address is over its full-handshake
    /// rate).
    pub resumption_only: bool,
    /// A full handshake of this connection was charged to its address's allowance.
    pub charged_full_handshake: bool,
    /// The handshake resumed a session (no certificate was verified on it).
    pub resumed: bool,
    /// At least one byte arrived.
    spoke: bool,
    /// Whether the handshake's kind (full or resumed) was already reported.
    kind_reported: bool,
    /// Time spent in TLS processing while handshaking, not yet collected.
    handshake_time: Duration,
    sock: TcpStream,
    tls: ServerConnection,
    inbuf: Vec<u8>,
    /// When the first byte of the request still being received arrived.
    partial_since: Option<Instant>,
    queued_bytes: usize,
    stop_reading: bool,
    read_paused: bool,
    interest: Interest,
}

impl Connection {
    pub(super) fn new(
        id: u64,
        sock: TcpStream,
        peer: SocketAddr,
        config: Arc<ServerConfig>,
    ) -> Result<Connection, rustls::Error> {
        let mut tls = ServerConnection::new(config)?;
        // Responses are bounded by the loop (one request at a time, output flushed before the
        // next), so rustls need not cap its outgoing buffer.
        tls.set_buffer_limit(None);
        let now = Instant::now();
        Ok(Connection {
            id,
            peer,
            identity: None,
            queue: VecDeque::new(),
            awaiting_commit: false,
            requests_answered: 0,
            accepted_at: now,
            last_activity: now,
            peer_closed: false,
            close_when_idle: false,
            credential: Default::default(),
            resumption_only: false,
            charged_full_handshake: false,
            resumed: false,
            spoke: false,
            kind_reported: false,
            handshake_time: Duration::ZERO,
            sock,
            tls,
            inbuf: Vec::new(),
            partial_since: None,
            queued_bytes: 0,
            stop_reading: false,
            read_paused: false,
            interest: Interest::READABLE,
        })
    }

    pub(super) fn register(&mut self, registry: &Registry, token: Token) -> io::Result<()> {
        registry.register(&mut self.sock, token, self.interest)
    }

    pub(super) fn deregister(&mut self, registry: &Registry) {
        let _ = registry.deregister(&mut self.sock);
    }

    pub(super) fn is_handshaking(&self) -> bool {
        self.tls.is_handshaking()
    }

    /// At least one byte arrived from the peer.
    pub(super) fn spoke(&self) -> bool {
        self.spoke
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

    /// Time spent processing handshake messages since the last call.
    pub(super) fn take_handshake_time(&mut self) -> Duration {
        std::mem::take(&mut self.handshake_time)
    }

    pub(super) fn output_pending(&self) -> bool {
        self.tls.wants_write()
    }

    /// True when nothing is queued, running or waiting to be sent.
    pub(super) fn is_quiet(&self) -> bool {
        self.queue.is_empty() && !self.awaiting_commit && !self.output_pending()
    }

    /// Pipelined input beyond this is left in the socket until earlier requests are answered.
    fn over_budget(&self, limits: &Limits) -> bool {
        self.inbuf.len() + self.queued_bytes >= limits.max_message_bytes.saturating_mul(2)
    }

    pub(super) fn read_paused(&self) -> bool {
        self.read_paused
    }

    /// Reads everything the socket has, up to the input budget. New complete requests land
    /// in `queue`. Returns whether the handshake completed during this call.
    pub(super) fn read(&mut self, limits: &Limits) -> Result<bool, Fatal> {
        let was_handshaking = self.tls.is_handshaking();
        self.read_paused = false;
        while !self.stop_reading && !self.peer_closed {
            if self.over_budget(limits) {
                self.read_paused = true;
                break;
            }
            match self.tls.read_tls(&mut self.sock) {
                Ok(0) => self.peer_closed = true,
                Ok(_) => {
                    self.spoke = true;
                    self.last_activity = Instant::now();
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(Fatal::Io(e)),
            }
            let handshaking = self.tls.is_handshaking();
            let started = handshaking.then(Instant::now);
            let processed = self.tls.process_new_packets();
            if let Some(started) = started {
                self.handshake_time += started.elapsed();
            }
            if let Err(e) = processed {
                // Send the alert rustls queued, so the peer learns why.
                let _ = self.flush();
                return Err(if handshaking {
                    Fatal::Handshake(e)
                } else {
                    Fatal::Tls(e)
                });
            }
            self.drain_plaintext(limits)?;
        }
        Ok(was_handshaking && !self.tls.is_handshaking())
    }

    fn drain_plaintext(&mut self, limits: &Limits) -> Result<(), Fatal> {
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
                        self.split_messages(limits);
                        if self.inbuf.is_empty() {
                            self.partial_since = None;
                        } else if self.partial_since.is_none() {
                            self.partial_since = Some(Instant::now());
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
    fn split_messages(&mut self, limits: &Limits) {
        loop {
            match inspect_header(&self.inbuf, tag::REQUEST_MESSAGE, limits) {
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

    pub(super) fn next_inbound(&mut self) -> Option<Inbound> {
        let inbound = self.queue.pop_front()?;
        if let Inbound::Request(message) = &inbound {
            self.queued_bytes -= message.len();
        }
        Some(inbound)
    }

    /// Stops taking input: the stream cannot be resynchronised, or the server is stopping.
    pub(super) fn stop_reading(&mut self) {
        self.stop_reading = true;
        self.inbuf = Vec::new();
        self.partial_since = None;
    }

    /// Since when a request has been arriving without completing, if one is.
    pub(super) fn partial_request_since(&self) -> Option<Instant> {
        self.partial_since
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

    pub(super) fn send(&mut self, response: &[u8]) -> Result<(), Fatal> {
        self.tls.writer().write_all(response).map_err(Fatal::Io)?;
        self.requests_answered += 1;
        Ok(())
    }

    /// Writes TLS records until the socket would block.
    pub(super) fn flush(&mut self) -> Result<(), Fatal> {
        while self.tls.wants_write() {
            match self.tls.write_tls(&mut self.sock) {
                Ok(_) => self.last_activity = Instant::now(),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(Fatal::Io(e)),
            }
        }
        Ok(())
    }

    /// Edge-triggered readiness: ask for WRITABLE only while output is waiting.
    pub(super) fn update_interest(&mut self, registry: &Registry, token: Token) -> io::Result<()> {
        let wanted = if self.tls.wants_write() {
            Interest::READABLE.add(Interest::WRITABLE)
        } else {
            Interest::READABLE
        };
        if wanted != self.interest {
            registry.reregister(&mut self.sock, token, wanted)?;
            self.interest = wanted;
        }
        Ok(())
    }

    /// Closes without sending anything still queued: a TLS 1.2 client whose handshake is
    /// refused after verification must not receive the server's Finished.
    pub(super) fn abort(&mut self) {
        let _ = self.sock.shutdown(std::net::Shutdown::Both);
    }

    /// Best-effort close_notify; the socket closes when the connection is dropped.
    pub(super) fn close_gracefully(&mut self) {
        if !self.tls.is_handshaking() {
            self.tls.send_close_notify();
        }
        let _ = self.flush();
        let _ = self.sock.shutdown(std::net::Shutdown::Both);
    }
}
