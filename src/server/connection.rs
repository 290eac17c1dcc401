//! One client connection: the non-blocking socket, its readiness interest, and the KMIP
//! session (`session.rs`) it feeds. Only this file touches the socket; what the bytes mean,
//! what may run and when the connection is done is the session's business.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mio::net::TcpStream;
use mio::{Interest, Registry, Token};
use rustls::ServerConfig;

use super::session::{Fatal, Session};
use crate::ttlv::Limits;

pub(super) struct Connection {
    sock: TcpStream,
    interest: Interest,
    session: Session,
    /// Time spent in TLS processing while handshaking, not yet collected.
    handshake_time: Duration,
}

impl Connection {
    pub(super) fn new(
        id: u64,
        sock: TcpStream,
        peer: SocketAddr,
        config: Arc<ServerConfig>,
        resumption_only: bool,
        limits: Limits,
    ) -> Result<Connection, rustls::Error> {
        let session = Session::new(id, peer, config, resumption_only, limits, Instant::now())?;
        Ok(Connection {
            sock,
            interest: Interest::READABLE,
            session,
            handshake_time: Duration::ZERO,
        })
    }

    pub(super) fn session(&self) -> &Session {
        &self.session
    }

    pub(super) fn session_mut(&mut self) -> &mut Session {
        &mut self.session
    }

    pub(super) fn register(&mut self, registry: &Registry, token: Token) -> io::Result<()> {
        registry.register(&mut self.sock, token, self.interest)
    }

    pub(super) fn deregister(&mut self, registry: &Registry) {
        let _ = registry.deregister(&mut self.sock);
    }

    /// Time spent in TLS processing while handshaking since the last call.
    pub(super) fn take_handshake_time(&mut self) -> Duration {
        std::mem::take(&mut self.handshake_time)
    }

    /// Feeds the session what the socket has. Returns whether the handshake completed.
    pub(super) fn read(&mut self) -> Result<bool, Fatal> {
        let started = Instant::now();
        let handshaking = self.session.is_handshaking();
        let result = self.session.read_tls(&mut self.sock, started);
        if handshaking {
            self.handshake_time += started.elapsed();
        }
        if result.is_err() {
            // Send the alert rustls queued, so the peer learns why.
            let _ = self.flush();
        }
        result
    }

    /// Writes what the session has for the socket until it would block.
    pub(super) fn flush(&mut self) -> Result<(), Fatal> {
        self.session.write_tls(&mut self.sock, Instant::now())
    }

    /// Edge-triggered readiness: ask for WRITABLE only while output is waiting.
    pub(super) fn update_interest(&mut self, registry: &Registry, token: Token) -> io::Result<()> {
        let wanted = if self.session.wants_write() {
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

    /// Closes with a reset (SO_LINGER 0) when the connection is dropped: for a peer that sent
    /// nothing, which a FIN and its TIME_WAIT would only cost the server more than the peer.
    pub(super) fn reset(&mut self) {
        let _ = rustix::net::sockopt::set_socket_linger(&self.sock, Some(Duration::ZERO));
    }

    /// Best-effort close_notify; the socket closes when the connection is dropped.
    pub(super) fn close_gracefully(&mut self) {
        self.session.send_close_notify();
        let _ = self.flush();
        let _ = self.sock.shutdown(std::net::Shutdown::Both);
    }
}
