//! One connection to the local health and metrics listener, driven by the event loop: read
//! until the request head is complete (bounded by `http::MAX_HEAD_BYTES`), answer, close.
//! One request per connection keeps the state trivial; monitoring scrapers reconnect anyway.

use std::io::{self, Read, Write};
use std::time::{Duration, Instant};

use mio::net::TcpStream;
use mio::{Interest, Registry, Token};

use super::Services;
use super::http::{self, Refusal};
use super::metrics::RootState;

/// A peer that has not sent its request head within this time gets a 408 and a close.
pub(super) const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// Open HTTP connections beyond this are closed at once (the listener is for local probes).
pub(super) const MAX_HTTP_CONNECTIONS: usize = 64;

pub(super) struct HttpConn {
    stream: TcpStream,
    input: Vec<u8>,
    output: Vec<u8>,
    written: usize,
    pub accepted_at: Instant,
}

/// What the loop does with the connection after an event.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Next {
    Keep,
    Close,
}

impl HttpConn {
    pub fn new(stream: TcpStream) -> HttpConn {
        HttpConn {
            stream,
            input: Vec::new(),
            output: Vec::new(),
            written: 0,
            accepted_at: Instant::now(),
        }
    }

    pub fn register(&mut self, registry: &Registry, token: Token) -> io::Result<()> {
        registry.register(
            &mut self.stream,
            token,
            Interest::READABLE | Interest::WRITABLE,
        )
    }

    pub fn deregister(&mut self, registry: &Registry) {
        let _ = registry.deregister(&mut self.stream);
    }

    /// Reads what arrived, answers once the head is complete, writes what the socket takes.
    pub fn on_ready(&mut self, services: &Services) -> Next {
        if self.output.is_empty() {
            let mut buf = [0u8; 2048];
            loop {
                let room = http::MAX_HEAD_BYTES + 1 - self.input.len().min(http::MAX_HEAD_BYTES);
                let want = room.min(buf.len());
                match self.stream.read(&mut buf[..want]) {
                    Ok(0) => return Next::Close,
                    Ok(n) => {
                        self.input.extend_from_slice(&buf[..n]);
                        match http::parse(&self.input) {
                            Ok(None) => continue,
                            Ok(Some(request)) => {
                                self.output = answer(&request, services);
                                break;
                            }
                            Err(refusal) => {
                                log_refusal(refusal);
                                self.output = http::refusal_response(refusal);
                                break;
                            }
                        }
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Next::Keep,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(_) => return Next::Close,
                }
            }
        }
        self.flush()
    }

    /// The request timed out: answer 408 if the socket takes it now, then close.
    pub fn time_out(&mut self) {
        if self.output.is_empty() {
            let _ = self.stream.write(&http::response(
                408,
                "application/json",
                &http::Body::Error {
                    error: "request head not received in time",
                }
                .line(),
                false,
            ));
        }
    }

    fn flush(&mut self) -> Next {
        while self.written < self.output.len() {
            match self.stream.write(&self.output[self.written..]) {
                Ok(0) => return Next::Close,
                Ok(n) => self.written += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Next::Keep,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => return Next::Close,
            }
        }
        // Everything sent: close our side; unread request bytes would turn the close into a
        // reset that can destroy the response in flight, so say we are done writing first.
        let _ = self.stream.shutdown(std::net::Shutdown::Write);
        Next::Close
    }
}

fn log_refusal(refusal: Refusal) {
    log::debug!(
        "http: refused a request ({} {:?})",
        refusal.status(),
        refusal
    );
}

fn answer(request: &http::Request, services: &Services) -> Vec<u8> {
    services.metrics.http_request();
    match request.path.as_str() {
        "/healthz" => {
            let (status, body) = match health(services) {
                Ok(()) => (
                    200,
                    http::Body::Health {
                        status: "serving",
                        reason: None,
                    }
                    .line(),
                ),
                Err((state, reason)) => (
                    503,
                    http::Body::Health {
                        status: state,
                        reason: Some(&reason),
                    }
                    .line(),
                ),
            };
            http::response(status, "application/json", &body, request.head_only)
        }
        "/metrics" => {
            let root = if services.engine.gate().is_sealed() {
                RootState::Sealed
            } else {
                RootState::Unsealed
            };
            // A local redb read costs microseconds; a cluster keeps no backup counter, and a
            // network read has no place in the event loop.
            if !services.store.replicated()
                && let Ok((Some(last), changes)) =
                    crate::backup::changes::last_backup_and_changes(services.store.as_ref())
            {
                services.metrics.set_backup(last, changes);
            }
            let body = services.metrics.render(root, &services.metrics.provider());
            http::response(
                200,
                super::metrics::OPENMETRICS_CONTENT_TYPE,
                &body,
                request.head_only,
            )
        }
        _ => http::response(
            404,
            "application/json",
            &http::Body::Error {
                error: "not found; try /healthz or /metrics",
            }
            .line(),
            request.head_only,
        ),
    }
}

/// Ok when key material can be served; otherwise the state name and why.
pub(super) fn health(services: &Services) -> Result<(), (&'static str, String)> {
    if let Err(reason) = services.engine.gate().current() {
        return Err(("sealed", reason));
    }
    if let Some(reason) = services.store.failure() {
        return Err(("store_failed", reason));
    }
    // Cheap (a statvfs) while the disk is full; takes the reserve back once space returned.
    if services.store.space_low() {
        return Err((
            "disk_full",
            "the disk holding the store is full: keys are served, changes are refused until \
             space is freed"
                .into(),
        ));
    }
    // A cluster node answers from what it already knows: no etcd round trip in the loop.
    if let Some(cluster) = services.cluster.as_ref().map(|cluster| cluster.health()) {
        if cluster.quorum {
            return Ok(());
        }
        let why = cluster.last_error.unwrap_or_default();
        return Err((
            "degraded",
            format!("the etcd cluster has no quorum: keys are served, changes refused ({why})"),
        ));
    }
    if let Err(e) = services.store.read() {
        return Err(("store_unavailable", e.to_string()));
    }
    Ok(())
}
