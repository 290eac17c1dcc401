//! Forwarding the audit log to a SIEM (issue 21, point 5; `docs/audit.md`).
//!
//! A thread of its own (`keyward-audit-forward`) reads committed records from store snapshots
//! in sequence order and sends them to one collector over TCP, as RFC 5424 syslog messages
//! (octet-counted framing, RFC 6587) or as JSON lines (the `keyward audit export` format). It
//! never touches the request path: a collector that is down or slow only delays forwarding.
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
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

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
    pub fn spawn(store: Arc<dyn Store>, target: ForwardTarget) -> std::io::Result<Forwarder> {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::Builder::new()
            .name("keyward-audit-forward".into())
            .spawn(move || run(store.as_ref(), &target, &flag))?;
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

fn run(store: &dyn Store, target: &ForwardTarget, stop: &AtomicBool) {
    let mut cursor = read_cursor(&target.cursor);
    let mut connection: Option<TcpStream> = None;
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
                connection = Some(connect(&target.address)?);
            }
            let Some(stream) = connection.as_mut() else {
                return Err(std::io::Error::other("no connection"));
            };
            stream.write_all(&wire)?;
            stream.flush()?;
            wait_acknowledged(stream)
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

fn connect(address: &str) -> std::io::Result<TcpStream> {
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
fn wait_acknowledged(stream: &TcpStream) -> std::io::Result<()> {
    let started = Instant::now();
    loop {
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
            // A peer that closed meanwhile shows as readable with EOF.
            let mut probe = [0u8; 1];
            stream.set_nonblocking(true)?;
            let peeked = stream.peek(&mut probe);
            stream.set_nonblocking(false)?;
            return match peeked {
                Ok(0) => Err(std::io::Error::other("the collector closed the connection")),
                Ok(_) => Ok(()),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => Ok(()),
                Err(e) => Err(e),
            };
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
