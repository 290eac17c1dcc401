//! Forwarding the audit log to a SIEM (issue 21, point 5; `docs/audit.md`).
//!
//! A thread of its own (`keyward-audit-forward`) reads committed records from store snapshots
//! in sequence order and sends them to one collector over TCP, as RFC 5424 syslog messages
//! (octet-counted framing, RFC 6587) or as JSON lines (the `keyward audit export` format). It
//! never touches the request path: a collector that is down or slow only delays forwarding.
//!
//! Over TLS (`[audit] forward_ca_file` set) the same frames travel inside a rustls client
//! connection: syslog over TLS as RFC 5425 describes it (the octet-counted framing is the one
//! RFC 5425 prescribes). The collector's certificate must chain to the configured CA and name
//! the host of `forward_address` (or `forward_server_name`); a client certificate is presented
//! when `forward_cert_file` and `forward_key_file` are set. A collector that fails verification
//! is treated like one that is down: records wait, and the log says why.
//!
//! At least once: the sequence number of the last record sent is kept in a cursor file,
//! advanced only after the collector's TCP stack acknowledged every byte of the batch (the
//! socket's unacknowledged send queue is empty), written with rename. After any error the
//! connection is dropped and, on reconnect, everything after the cursor is sent again; so a
//! record can arrive twice, never not at all, unless the collector itself loses what its kernel
//! had acknowledged. Records pruned before they were forwarded are reported in the log.

use std::io::Write;
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};
use serde::Deserialize;

use super::record::{Outcome, StoredRecord};
use crate::store::Store;

/// How records are framed on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum ForwardFormat {
    /// RFC 5424 messages, octet-counted (RFC 6587 §3.4.1).
    #[default]
    Syslog,
    /// One `keyward audit export` JSON object per line.
    Jsonl,
}

/// Where and how to forward.
#[derive(Debug, Clone)]
pub struct ForwardTarget {
    pub address: String,
    pub format: ForwardFormat,
    /// The cursor file (last forwarded sequence number).
    pub cursor: PathBuf,
    /// The syslog HOSTNAME field / JSON `node`.
    pub hostname: String,
    /// `Some`: the connection is TLS (RFC 5425 for syslog), verified against these files.
    pub tls: Option<ForwardTls>,
}

/// The files of a TLS connection to the collector (`[audit] forward_*`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForwardTls {
    /// PEM CA certificate(s) the collector's certificate must chain to.
    pub ca_file: PathBuf,
    /// PEM client certificate chain and its key, when the collector asks for one: both or
    /// neither (one without the other fails at start).
    pub cert_file: Option<PathBuf>,
    pub key_file: Option<PathBuf>,
    /// Name the collector's certificate must carry; `None`: the host of the address.
    pub server_name: Option<String>,
}

/// Why forwarding over TLS cannot start: the configured files are unusable.
#[derive(Debug, thiserror::Error)]
pub enum ForwardTlsError {
    #[error("{path}: {message}")]
    File { path: String, message: String },
    #[error("{0} names no certificate")]
    NoCertificate(String),
    #[error("the collector's name {name:?} is not a DNS name or IP address")]
    ServerName { name: String },
    #[error("forward_cert_file and forward_key_file go together: set both or neither")]
    HalfClientCert,
    #[error("TLS configuration for the collector")]
    Config(#[source] rustls::Error),
}

impl ForwardTls {
    /// The rustls client settings and the name to verify, read from the files now.
    pub(super) fn client_config(
        &self,
        address: &str,
    ) -> Result<(Arc<ClientConfig>, ServerName<'static>), ForwardTlsError> {
        let file_err = |path: &Path, message: String| ForwardTlsError::File {
            path: path.display().to_string(),
            message,
        };
        let mut roots = RootCertStore::empty();
        for cert in CertificateDer::pem_file_iter(&self.ca_file)
            .map_err(|e| file_err(&self.ca_file, e.to_string()))?
        {
            let cert = cert.map_err(|e| file_err(&self.ca_file, e.to_string()))?;
            roots
                .add(cert)
                .map_err(|e| file_err(&self.ca_file, e.to_string()))?;
        }
        if roots.is_empty() {
            return Err(ForwardTlsError::NoCertificate(
                self.ca_file.display().to_string(),
            ));
        }
        // aws-lc-rs, as everywhere else in Keyward; TLS 1.3 and 1.2 (collectors vary).
        let builder = ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::aws_lc_rs::default_provider(),
        ))
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(ForwardTlsError::Config)?
        .with_root_certificates(roots);
        let config = match (&self.cert_file, &self.key_file) {
            (Some(cert), Some(key)) => {
                let chain = CertificateDer::pem_file_iter(cert)
                    .map_err(|e| file_err(cert, e.to_string()))?
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| file_err(cert, e.to_string()))?;
                if chain.is_empty() {
                    return Err(ForwardTlsError::NoCertificate(cert.display().to_string()));
                }
                let key_der =
                    PrivateKeyDer::from_pem_file(key).map_err(|e| file_err(key, e.to_string()))?;
                builder
                    .with_client_auth_cert(chain, key_der)
                    .map_err(ForwardTlsError::Config)?
            }
            (None, None) => builder.with_no_client_auth(),
            (Some(_), None) | (None, Some(_)) => return Err(ForwardTlsError::HalfClientCert),
        };
        let name = match &self.server_name {
            Some(name) => name.clone(),
            None => host_of(address).to_string(),
        };
        let server_name =
            ServerName::try_from(name.clone()).map_err(|_| ForwardTlsError::ServerName { name })?;
        Ok((Arc::new(config), server_name))
    }
}

/// The host part of `host:port`, `[v6]:port` or a bare host.
pub(super) fn host_of(address: &str) -> &str {
    if let Some(rest) = address.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    match address.rsplit_once(':') {
        Some((host, port)) if !host.contains(':') && port.chars().all(|c| c.is_ascii_digit()) => {
            host
        }
        _ => address,
    }
}

/// One connection to the collector, plain or TLS.
enum Link {
    Plain(TcpStream),
    Tls(Box<StreamOwned<ClientConnection, TcpStream>>),
}

impl Link {
    fn tcp(&self) -> &TcpStream {
        match self {
            Link::Plain(stream) => stream,
            Link::Tls(stream) => &stream.sock,
        }
    }

    /// Writes every byte of `wire` into the socket (for TLS: encrypted, records flushed).
    fn send(&mut self, wire: &[u8]) -> std::io::Result<()> {
        match self {
            Link::Plain(stream) => {
                stream.write_all(wire)?;
                stream.flush()
            }
            Link::Tls(stream) => {
                stream.write_all(wire)?;
                stream.flush()?;
                while stream.conn.wants_write() {
                    stream.conn.write_tls(&mut stream.sock)?;
                }
                Ok(())
            }
        }
    }

    /// `Err` when the collector has closed the connection or, over TLS, sent an alert. Reads
    /// only what has already arrived.
    fn check_open(&mut self) -> std::io::Result<()> {
        match self {
            Link::Plain(stream) => {
                let mut probe = [0u8; 1];
                stream.set_nonblocking(true)?;
                let peeked = stream.peek(&mut probe);
                stream.set_nonblocking(false)?;
                match peeked {
                    Ok(0) => Err(closed()),
                    Ok(_) => Ok(()),
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => Ok(()),
                    Err(e) => Err(e),
                }
            }
            Link::Tls(stream) => {
                // Session tickets, alerts, close_notify: rustls reads and judges them.
                stream.sock.set_nonblocking(true)?;
                let outcome = (|| loop {
                    match stream.conn.read_tls(&mut stream.sock) {
                        Ok(0) => return Err(closed()),
                        Ok(_) => {
                            let state = stream
                                .conn
                                .process_new_packets()
                                .map_err(std::io::Error::other)?;
                            if state.peer_has_closed() {
                                return Err(closed());
                            }
                        }
                        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return Ok(()),
                        Err(e) => return Err(e),
                    }
                })();
                stream.sock.set_nonblocking(false)?;
                outcome
            }
        }
    }
}

fn closed() -> std::io::Error {
    std::io::Error::other("the collector closed the connection")
}

/// Records per snapshot read and per send.
const BATCH: usize = 512;
const IDLE_POLL: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(5);
const ACK_WAIT: Duration = Duration::from_secs(5);

/// The running forwarder; stops (after its current batch) when dropped or stopped.
pub struct Forwarder {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Forwarder {
    /// Starts forwarding; a TLS setting whose files cannot be used fails here, at start-up.
    pub fn spawn(store: Arc<dyn Store>, target: ForwardTarget) -> std::io::Result<Forwarder> {
        let tls =
            match &target.tls {
                Some(tls) => Some(tls.client_config(&target.address).map_err(|e| {
                    std::io::Error::other(format!("audit forwarding over TLS: {e}"))
                })?),
                None => None,
            };
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::Builder::new()
            .name("keyward-audit-forward".into())
            .spawn(move || run(store.as_ref(), &target, tls.as_ref(), &flag))?;
        Ok(Forwarder {
            stop,
            thread: Some(thread),
        })
    }
}

impl Drop for Forwarder {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn read_cursor(path: &std::path::Path) -> u64 {
    std::fs::read_to_string(path)
        .ok()
        .and_then(|text| text.trim().parse().ok())
        .unwrap_or(0)
}

fn write_cursor(path: &std::path::Path, seq: u64) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, format!("{seq}\n"))?;
    std::fs::rename(&tmp, path)
}

/// Sleeps up to `total` in short steps; false when asked to stop meanwhile.
fn pause(stop: &AtomicBool, total: Duration) -> bool {
    let until = Instant::now() + total;
    while Instant::now() < until {
        if stop.load(Ordering::SeqCst) {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20).min(total));
    }
    !stop.load(Ordering::SeqCst)
}

fn run(
    store: &dyn Store,
    target: &ForwardTarget,
    tls: Option<&(Arc<ClientConfig>, ServerName<'static>)>,
    stop: &AtomicBool,
) {
    let mut cursor = read_cursor(&target.cursor);
    let mut connection: Option<Link> = None;
    let mut backoff = Duration::from_millis(100);
    let mut down_logged = false;
    while !stop.load(Ordering::SeqCst) {
        let records = match store
            .read()
            .and_then(|view| view.audit_range(cursor + 1, BATCH))
        {
            Ok(records) => records,
            Err(e) => {
                log::warn!("audit forwarding: cannot read the log: {e}");
                if !pause(stop, MAX_BACKOFF) {
                    return;
                }
                continue;
            }
        };
        let Some(&(last, _)) = records.last() else {
            if !pause(stop, IDLE_POLL) {
                return;
            }
            continue;
        };
        if let Some(&(first, _)) = records.first()
            && first > cursor + 1
            && cursor > 0
        {
            log::warn!(
                "audit forwarding: records {}..{} were pruned before they were forwarded",
                cursor + 1,
                first - 1
            );
        }
        let mut wire = Vec::with_capacity(records.len() * 400);
        for (_, bytes) in &records {
            match StoredRecord::from_bytes(bytes) {
                Ok(stored) => encode(&mut wire, &stored, target),
                Err(e) => log::warn!("audit forwarding: skipping an unreadable record: {e}"),
            }
        }
        let sent = (|| -> std::io::Result<()> {
            if connection.is_none() {
                connection = Some(connect(&target.address, tls)?);
            }
            let Some(link) = connection.as_mut() else {
                return Err(std::io::Error::other("no connection"));
            };
            link.send(&wire)?;
            wait_acknowledged(link)
        })();
        match sent {
            Ok(()) => {
                if down_logged {
                    log::info!("audit forwarding: {} reachable again", target.address);
                    down_logged = false;
                }
                backoff = Duration::from_millis(100);
                cursor = last;
                if let Err(e) = write_cursor(&target.cursor, cursor) {
                    log::warn!("audit forwarding: cannot save the cursor: {e}");
                }
            }
            Err(e) => {
                connection = None;
                if !down_logged {
                    log::warn!(
                        "audit forwarding: collector {} unreachable ({e}); records wait and are \
                         sent when it is back",
                        target.address
                    );
                    down_logged = true;
                }
                if !pause(stop, backoff) {
                    return;
                }
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
    }
}

fn connect(
    address: &str,
    tls: Option<&(Arc<ClientConfig>, ServerName<'static>)>,
) -> std::io::Result<Link> {
    let stream = connect_tcp(address)?;
    let Some((config, name)) = tls else {
        return Ok(Link::Plain(stream));
    };
    // The handshake is bounded by the socket timeouts; a failed verification says why.
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    let conn =
        ClientConnection::new(config.clone(), name.clone()).map_err(std::io::Error::other)?;
    let mut tls_stream = StreamOwned::new(conn, stream);
    while tls_stream.conn.is_handshaking() {
        tls_stream
            .conn
            .complete_io(&mut tls_stream.sock)
            .map_err(|e| std::io::Error::other(format!("TLS handshake: {e}")))?;
    }
    Ok(Link::Tls(Box::new(tls_stream)))
}

fn connect_tcp(address: &str) -> std::io::Result<TcpStream> {
    let addrs: Vec<SocketAddr> = address.to_socket_addrs()?.collect();
    let mut last = std::io::Error::other("the address resolved to nothing");
    for addr in addrs {
        match TcpStream::connect_timeout(&addr, Duration::from_secs(2)) {
            Ok(stream) => {
                stream.set_write_timeout(Some(Duration::from_secs(5)))?;
                stream.set_nodelay(true)?;
                return Ok(stream);
            }
            Err(e) => last = e,
        }
    }
    Err(last)
}

/// Waits until the peer's TCP stack acknowledged every byte sent, or the connection failed.
fn wait_acknowledged(link: &mut Link) -> std::io::Result<()> {
    let started = Instant::now();
    loop {
        let stream = link.tcp();
        let mut unacked: libc::c_int = 0;
        // SAFETY: SIOCOUTQ writes one c_int through the pointer, which points at a live local.
        let rc = unsafe { libc::ioctl(stream.as_raw_fd(), libc::TIOCOUTQ, &mut unacked) };
        if rc != 0 {
            return Err(std::io::Error::last_os_error());
        }
        if let Some(e) = stream.take_error()? {
            return Err(e);
        }
        if unacked == 0 {
            // A peer that closed meanwhile shows as readable with EOF (or close_notify).
            return link.check_open();
        }
        if started.elapsed() > ACK_WAIT {
            return Err(std::io::Error::other(
                "the collector did not acknowledge within 5 s",
            ));
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

fn encode(wire: &mut Vec<u8>, stored: &StoredRecord, target: &ForwardTarget) {
    match target.format {
        ForwardFormat::Jsonl => {
            if let Ok(line) = super::export_line(stored, None) {
                wire.extend_from_slice(line.as_bytes());
                wire.push(b'\n');
            }
        }
        ForwardFormat::Syslog => {
            let message = syslog_message(stored, &target.hostname);
            wire.extend_from_slice(format!("{} ", message.len()).as_bytes());
            wire.extend_from_slice(message.as_bytes());
        }
    }
}

/// One RFC 5424 message: facility authpriv (10), severity notice (5) or warning (4) for a
/// failure; timestamp of the record; APP-NAME keyward; MSGID the operation; the record's
/// fields as structured data (`audit@32473`, the example enterprise number, so no one's
/// registered SD-ID is claimed); the MSG is the stored record's JSON, MAC included.
pub fn syslog_message(stored: &StoredRecord, hostname: &str) -> String {
    let record = &stored.record;
    let severity = if record.outcome == Outcome::Success {
        5
    } else {
        4
    };
    let pri = 10 * 8 + severity;
    let time = super::format_time(record.time_ms);
    let msgid: String = record
        .operation
        .chars()
        .filter(|c| c.is_ascii_graphic())
        .take(32)
        .collect();
    let host: String = hostname
        .chars()
        .filter(|c| c.is_ascii_graphic())
        .take(255)
        .collect();
    let body = serde_json::to_string(stored).unwrap_or_default();
    format!(
        "<{pri}>1 {time} {} keyward {} {} [audit@32473 seq=\"{}\" outcome=\"{}\"] {body}",
        if host.is_empty() { "-" } else { &host },
        std::process::id(),
        if msgid.is_empty() { "-" } else { &msgid },
        record.seq,
        match record.outcome {
            Outcome::Success => "success",
            Outcome::Failure => "failure",
            Outcome::Undone => "undone",
        },
    )
}
