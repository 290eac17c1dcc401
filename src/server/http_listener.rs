//! The health and metrics listener (`[http] listen`) as the event loop drives it: accepting,
//! at most `MAX_HTTP_CONNECTIONS` open, each connection's readiness, the request timeout, and
//! closing everything at shutdown.
//!
//! Why apart from the loop: the loop only routes readiness; what an HTTP connection is and
//! how many may be open is this listener's business (`http_conn.rs` is one connection,
//! `http.rs` the answers).

use std::collections::HashMap;
use std::io;
use std::time::{Duration, Instant};

use mio::net::TcpListener;
use mio::{Registry, Token};

use super::Services;
use super::http_conn::{self, HttpConn};
use super::ratelimit::RateLimit;

pub(super) struct HttpListener {
    listener: Option<TcpListener>,
    conns: HashMap<Token, HttpConn>,
    refused_log: RateLimit,
}

impl HttpListener {
    pub(super) fn new(listener: Option<TcpListener>) -> HttpListener {
        HttpListener {
            listener,
            conns: HashMap::new(),
            refused_log: RateLimit::new(5, Duration::from_secs(60)),
        }
    }

    /// Whether `token` is one of this listener's connections.
    pub(super) fn owns(&self, token: Token) -> bool {
        self.conns.contains_key(&token)
    }

    /// Accepts what is waiting; tokens come from the loop's counter (`next_id`), shared with
    /// KMIP connections so that no two share one.
    pub(super) fn accept(&mut self, registry: &Registry, next_id: &mut u64) {
        loop {
            let Some(listener) = self.listener.as_ref() else {
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
            if self.conns.len() >= http_conn::MAX_HTTP_CONNECTIONS {
                if self.refused_log.allow("http connection refused") {
                    log::warn!(
                        "http: refused connection from {peer}: {} already open",
                        self.conns.len()
                    );
                }
                continue;
            }
            let token = Token(*next_id as usize);
            *next_id += 1;
            let mut conn = HttpConn::new(sock);
            if let Err(e) = conn.register(registry, token) {
                log::error!("http: cannot register connection from {peer}: {e}");
                continue;
            }
            self.conns.insert(token, conn);
        }
    }

    pub(super) fn on_ready(&mut self, token: Token, registry: &Registry, services: &Services) {
        let Some(conn) = self.conns.get_mut(&token) else {
            return;
        };
        if conn.on_ready(services) == http_conn::Next::Close {
            self.close(token, registry);
        }
    }

    /// Answers 408 to connections whose request head is late, and closes them.
    pub(super) fn sweep(&mut self, now: Instant, registry: &Registry) {
        let late: Vec<Token> = self
            .conns
            .iter()
            .filter(|(_, c)| now.duration_since(c.accepted_at) >= http_conn::REQUEST_TIMEOUT)
            .map(|(t, _)| *t)
            .collect();
        for token in late {
            if let Some(conn) = self.conns.get_mut(&token) {
                conn.time_out();
            }
            self.close(token, registry);
        }
    }

    /// Stops listening and closes every connection.
    pub(super) fn stop(&mut self, registry: &Registry) {
        if let Some(mut listener) = self.listener.take() {
            let _ = registry.deregister(&mut listener);
        }
        let tokens: Vec<Token> = self.conns.keys().copied().collect();
        for token in tokens {
            self.close(token, registry);
        }
    }

    fn close(&mut self, token: Token, registry: &Registry) {
        if let Some(mut conn) = self.conns.remove(&token) {
            conn.deregister(registry);
        }
    }
}
