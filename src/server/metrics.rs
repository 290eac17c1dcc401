//! Counters and gauges of a running server, rendered in the Prometheus text format for
//! `/metrics` and read by the `status` admin request. Plain atomics and one small mutex: the
//! event loop and the committer update them on every request, so they must cost next to
//! nothing, and the label sets are fixed (no per-client or per-key series).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use crate::engine::Response;
use crate::keyprotect::sync::SyncStatus;
use crate::kmip::enums::ResultStatus;
use crate::kmip::{names, tag};

/// Upper bounds (seconds) of the operation latency buckets.
const LATENCY_BUCKETS: [f64; 12] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
];
/// Upper bounds of the group-commit batch size buckets.
const BATCH_BUCKETS: [f64; 9] = [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0];

/// Why a connection was refused or cut before it could do its work.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum FailureCause {
    NoCertificate,
    UnknownClient,
    BadEku,
    HandshakeTimeout,
    OversizedMessage,
    Other,
    /// Sent nothing within `first_byte_timeout_secs` of being accepted.
    FirstByteTimeout,
    /// A full handshake from an address over its `handshake_rate_per_ip`.
    HandshakeThrottled,
    /// Authenticated, but `max_connections` (or the client's own cap) was reached.
    ConnectionLimit,
}

impl FailureCause {
    pub const ALL: [FailureCause; 9] = [
        FailureCause::NoCertificate,
        FailureCause::UnknownClient,
        FailureCause::BadEku,
        FailureCause::HandshakeTimeout,
        FailureCause::OversizedMessage,
        FailureCause::Other,
        FailureCause::FirstByteTimeout,
        FailureCause::HandshakeThrottled,
        FailureCause::ConnectionLimit,
    ];

    /// The metric label value.
    pub fn label(self) -> &'static str {
        match self {
            FailureCause::NoCertificate => "no_certificate",
            FailureCause::UnknownClient => "unknown_client",
            FailureCause::BadEku => "bad_eku",
            FailureCause::HandshakeTimeout => "timeout",
            FailureCause::OversizedMessage => "oversized_message",
            FailureCause::Other => "other",
            FailureCause::FirstByteTimeout => "first_byte_timeout",
            FailureCause::HandshakeThrottled => "handshake_throttled",
            FailureCause::ConnectionLimit => "connection_limit",
        }
    }

    /// The words of the log line.
    pub fn describe(self) -> &'static str {
        match self {
            FailureCause::NoCertificate => "no client certificate",
            FailureCause::UnknownClient => "unknown client certificate",
            FailureCause::BadEku => "client certificate lacks the clientAuth extended key usage",
            FailureCause::HandshakeTimeout => "handshake timeout",
            FailureCause::OversizedMessage => "oversized message",
            FailureCause::Other => "TLS handshake failed",
            FailureCause::FirstByteTimeout => "nothing sent within first_byte_timeout_secs",
            FailureCause::HandshakeThrottled => {
                "full TLS handshake refused: the address is over handshake_rate_per_ip \
                 (session resumption only)"
            }
            FailureCause::ConnectionLimit => "authenticated connection budget full",
        }
    }

    /// Sorts a failed handshake by what rustls reported.
    pub fn of_handshake(error: &rustls::Error) -> FailureCause {
        use rustls::CertificateError as C;
        match error {
            rustls::Error::NoCertificatesPresented => FailureCause::NoCertificate,
            rustls::Error::InvalidCertificate(C::InvalidPurpose)
            | rustls::Error::InvalidCertificate(C::InvalidPurposeContext { .. }) => {
                FailureCause::BadEku
            }
            rustls::Error::InvalidCertificate(
                C::UnknownIssuer | C::Revoked | C::NotValidForName | C::BadSignature,
            ) => FailureCause::UnknownClient,
            rustls::Error::InvalidCertificate(_) => FailureCause::UnknownClient,
            _ => FailureCause::Other,
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

struct Histogram {
    bounds: &'static [f64],
    /// Per bucket (not cumulative); the last slot is +Inf.
    counts: Vec<u64>,
    sum: f64,
    count: u64,
}

impl Histogram {
    fn new(bounds: &'static [f64]) -> Histogram {
        Histogram {
            bounds,
            counts: vec![0; bounds.len() + 1],
            sum: 0.0,
            count: 0,
        }
    }

    fn observe(&mut self, value: f64) {
        let slot = self
            .bounds
            .iter()
            .position(|b| value <= *b)
            .unwrap_or(self.bounds.len());
        self.counts[slot] += 1;
        self.sum += value;
        self.count += 1;
    }

    fn render(&self, out: &mut String, name: &str, labels: &str) {
        let sep = if labels.is_empty() { "" } else { "," };
        let mut cumulative = 0;
        for (i, bound) in self.bounds.iter().enumerate() {
            cumulative += self.counts[i];
            let _ = writeln!(
                out,
                "{name}_bucket{{{labels}{sep}le=\"{bound}\"}} {cumulative}"
            );
        }
        let _ = writeln!(
            out,
            "{name}_bucket{{{labels}{sep}le=\"+Inf\"}} {}",
            self.count
        );
        let braces = if labels.is_empty() {
            String::new()
        } else {
            format!("{{{labels}}}")
        };
        let _ = writeln!(out, "{name}_sum{braces} {}", self.sum);
        let _ = writeln!(out, "{name}_count{braces} {}", self.count);
    }
}

#[derive(Default)]
struct Operations {
    /// (operation, result) → count.
    results: BTreeMap<(String, String), u64>,
    latency: BTreeMap<String, Histogram>,
}

/// What the root key looks like to the server right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RootState {
    Unsealed,
    Sealed,
}

/// Why an unauthenticated connection was closed to make room for a newer one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EvictionCause {
    /// Its address reached `max_unauthenticated_per_ip`.
    AddressCap,
    /// `max_unauthenticated` was reached.
    BudgetFull,
}

impl EvictionCause {
    pub const ALL: [EvictionCause; 2] = [EvictionCause::AddressCap, EvictionCause::BudgetFull];

    pub fn label(self) -> &'static str {
        match self {
            EvictionCause::AddressCap => "address_cap",
            EvictionCause::BudgetFull => "budget_full",
        }
    }
}

/// How a TLS handshake began: with a private-key operation, or resuming a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HandshakeKind {
    Full,
    Resumed,
}

pub struct Metrics {
    started: Instant,
    operations: Mutex<Operations>,
    batches: Mutex<Histogram>,
    failures: [AtomicU64; FailureCause::ALL.len()],
    evictions: [AtomicU64; EvictionCause::ALL.len()],
    /// Full, resumed.
    handshakes: [AtomicU64; 2],
    /// Nanoseconds the event loop spent processing TLS handshake messages.
    handshake_nanos: AtomicU64,
    open_connections: AtomicI64,
    unauthenticated_connections: AtomicI64,
    http_requests: AtomicU64,
    /// Unix time of the last backup; 0 = never.
    last_backup_unix: AtomicU64,
    /// -1 = unknown.
    changes_since_backup: AtomicI64,
    /// Certificates expiring within 30 days (`admin::expiry`), set by the admin API; -1 unknown.
    certificates_expiring: AtomicI64,
    sync: Mutex<Option<SyncStatus>>,
    provider: OnceLock<String>,
    listen: OnceLock<String>,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

/// Seconds since the Unix epoch (0 before it, which a real clock never shows).
pub fn unix_secs(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl Metrics {
    pub fn new() -> Metrics {
        Metrics {
            started: Instant::now(),
            operations: Mutex::new(Operations::default()),
            batches: Mutex::new(Histogram::new(&BATCH_BUCKETS)),
            failures: Default::default(),
            evictions: Default::default(),
            handshakes: Default::default(),
            handshake_nanos: AtomicU64::new(0),
            open_connections: AtomicI64::new(0),
            unauthenticated_connections: AtomicI64::new(0),
            http_requests: AtomicU64::new(0),
            last_backup_unix: AtomicU64::new(0),
            changes_since_backup: AtomicI64::new(-1),
            certificates_expiring: AtomicI64::new(-1),
            sync: Mutex::new(None),
            provider: OnceLock::new(),
            listen: OnceLock::new(),
        }
    }

    /// The root key provider name ("local" or "keyprotect"), set once at start.
    pub fn set_provider(&self, provider: &str) {
        let _ = self.provider.set(provider.to_string());
    }

    pub fn provider(&self) -> String {
        self.provider
            .get()
            .cloned()
            .unwrap_or_else(|| "unknown".into())
    }

    /// The KMIP listener's address, set once when bound.
    pub fn set_listen(&self, listen: &str) {
        let _ = self.listen.set(listen.to_string());
    }

    pub fn listen(&self) -> Option<String> {
        self.listen.get().cloned()
    }

    pub fn uptime_secs(&self) -> u64 {
        self.started.elapsed().as_secs()
    }

    /// Counts each batch item of a response by operation and result, and the request's
    /// latency by its first operation: read from the engine's typed response, never from the
    /// bytes sent.
    pub fn response(&self, response: &Response, started: Instant) {
        let mut first = None;
        for outcome in response.outcomes() {
            let operation =
                names::enum_name(tag::OPERATION, outcome.operation).unwrap_or("Unknown");
            let result = match (outcome.status, outcome.reason) {
                (ResultStatus::Success, _) => "success",
                (_, Some(reason)) => {
                    names::enum_name(tag::RESULT_REASON, reason.value()).unwrap_or("failure")
                }
                (_, None) => "failure",
            };
            self.operation(operation, result);
            first.get_or_insert(operation);
        }
        self.latency(first.unwrap_or("Unknown"), started.elapsed().as_secs_f64());
    }

    /// One answered batch item: its operation name and "success" or the Result Reason.
    pub fn operation(&self, operation: &str, result: &str) {
        if let Ok(mut ops) = self.operations.lock() {
            *ops.results
                .entry((operation.to_string(), result.to_string()))
                .or_insert(0) += 1;
        }
    }

    /// The time from a request's arrival to its response, by the request's first operation.
    pub fn latency(&self, operation: &str, seconds: f64) {
        if let Ok(mut ops) = self.operations.lock() {
            ops.latency
                .entry(operation.to_string())
                .or_insert_with(|| Histogram::new(&LATENCY_BUCKETS))
                .observe(seconds);
        }
    }

    /// One group commit of `size` mutations.
    pub fn batch(&self, size: usize) {
        if let Ok(mut batches) = self.batches.lock() {
            batches.observe(size as f64);
        }
    }

    pub fn failure(&self, cause: FailureCause) {
        self.failures[cause.index()].fetch_add(1, Ordering::Relaxed);
    }

    pub fn failures(&self, cause: FailureCause) -> u64 {
        self.failures[cause.index()].load(Ordering::Relaxed)
    }

    pub fn set_open_connections(&self, open: usize) {
        self.open_connections.store(open as i64, Ordering::Relaxed);
    }

    /// Of the open connections, those without a trusted certificate yet.
    pub fn set_unauthenticated_connections(&self, open: usize) {
        self.unauthenticated_connections
            .store(open as i64, Ordering::Relaxed);
    }

    pub fn eviction(&self, cause: EvictionCause) {
        self.evictions[cause as usize].fetch_add(1, Ordering::Relaxed);
    }

    pub fn evictions(&self, cause: EvictionCause) -> u64 {
        self.evictions[cause as usize].load(Ordering::Relaxed)
    }

    pub fn handshake(&self, kind: HandshakeKind) {
        self.handshakes[kind as usize].fetch_add(1, Ordering::Relaxed);
    }

    pub fn handshakes(&self, kind: HandshakeKind) -> u64 {
        self.handshakes[kind as usize].load(Ordering::Relaxed)
    }

    /// Time the event loop spent in TLS handshake processing (key exchange, signatures,
    /// certificate verification): the loop is one thread, so this is CPU it did not spend
    /// on requests.
    pub fn handshake_time(&self, spent: std::time::Duration) {
        let nanos = u64::try_from(spent.as_nanos()).unwrap_or(u64::MAX);
        self.handshake_nanos.fetch_add(nanos, Ordering::Relaxed);
    }

    pub fn http_request(&self) {
        self.http_requests.fetch_add(1, Ordering::Relaxed);
    }

    /// Called by the backup code after each backup and change: the time of the last backup
    /// (Unix seconds) and how many keys changed since.
    pub fn set_backup(&self, last_unix_time: u64, changes_since: u64) {
        self.last_backup_unix
            .store(last_unix_time, Ordering::Relaxed);
        self.changes_since_backup
            .store(changes_since.min(i64::MAX as u64) as i64, Ordering::Relaxed);
    }

    /// (last backup Unix time, keys changed since), each None while unknown.
    pub fn backup(&self) -> (Option<u64>, Option<u64>) {
        let last = self.last_backup_unix.load(Ordering::Relaxed);
        let changes = self.changes_since_backup.load(Ordering::Relaxed);
        ((last > 0).then_some(last), u64::try_from(changes).ok())
    }

    /// How many client and server certificates expire within 30 days.
    pub fn set_certificates_expiring(&self, count: usize) {
        self.certificates_expiring
            .store(count.min(i64::MAX as usize) as i64, Ordering::Relaxed);
    }

    /// The Key Protect sync thread's latest counters.
    pub fn set_sync_status(&self, status: SyncStatus) {
        if let Ok(mut slot) = self.sync.lock() {
            *slot = Some(status);
        }
    }

    pub fn sync_status(&self) -> Option<SyncStatus> {
        self.sync.lock().ok().and_then(|s| s.clone())
    }

    /// The whole exposition. `root` and `provider` are read by the caller from the engine.
    pub fn render(&self, root: RootState, provider: &str) -> String {
        let mut out = String::with_capacity(4096);
        let _ = writeln!(
            out,
            "# HELP keyward_operations_total KMIP batch items answered, by operation and result.\n\
             # TYPE keyward_operations_total counter"
        );
        if let Ok(ops) = self.operations.lock() {
            for ((operation, result), count) in &ops.results {
                let _ = writeln!(
                    out,
                    "keyward_operations_total{{operation=\"{operation}\",result=\"{result}\"}} {count}"
                );
            }
            let _ = writeln!(
                out,
                "# HELP keyward_operation_duration_seconds Time from a request's arrival to its response, by its first operation.\n\
                 # TYPE keyward_operation_duration_seconds histogram"
            );
            for (operation, histogram) in &ops.latency {
                histogram.render(
                    &mut out,
                    "keyward_operation_duration_seconds",
                    &format!("operation=\"{operation}\""),
                );
            }
        }
        let _ = writeln!(
            out,
            "# HELP keyward_open_connections KMIP connections open now.\n\
             # TYPE keyward_open_connections gauge\n\
             keyward_open_connections {}",
            self.open_connections.load(Ordering::Relaxed)
        );
        let _ = writeln!(
            out,
            "# HELP keyward_unauthenticated_connections Open KMIP connections without a trusted certificate yet.\n\
             # TYPE keyward_unauthenticated_connections gauge\n\
             keyward_unauthenticated_connections {}",
            self.unauthenticated_connections.load(Ordering::Relaxed)
        );
        let _ = writeln!(
            out,
            "# HELP keyward_unauthenticated_evictions_total Unauthenticated connections closed to make room for a newer one, by cause.\n\
             # TYPE keyward_unauthenticated_evictions_total counter"
        );
        for cause in EvictionCause::ALL {
            let _ = writeln!(
                out,
                "keyward_unauthenticated_evictions_total{{cause=\"{}\"}} {}",
                cause.label(),
                self.evictions(cause)
            );
        }
        let _ = writeln!(
            out,
            "# HELP keyward_tls_handshakes_total TLS handshakes begun, full (private-key operation) or resumed.\n\
             # TYPE keyward_tls_handshakes_total counter\n\
             keyward_tls_handshakes_total{{kind=\"full\"}} {}\n\
             keyward_tls_handshakes_total{{kind=\"resumed\"}} {}",
            self.handshakes(HandshakeKind::Full),
            self.handshakes(HandshakeKind::Resumed)
        );
        let _ = writeln!(
            out,
            "# HELP keyward_tls_handshake_seconds_total Event-loop time spent processing TLS handshakes.\n\
             # TYPE keyward_tls_handshake_seconds_total counter\n\
             keyward_tls_handshake_seconds_total {}",
            self.handshake_nanos.load(Ordering::Relaxed) as f64 / 1e9
        );
        let _ = writeln!(
            out,
            "# HELP keyward_connection_failures_total Connections refused or cut, by cause.\n\
             # TYPE keyward_connection_failures_total counter"
        );
        for cause in FailureCause::ALL {
            let _ = writeln!(
                out,
                "keyward_connection_failures_total{{cause=\"{}\"}} {}",
                cause.label(),
                self.failures(cause)
            );
        }
        let _ = writeln!(
            out,
            "# HELP keyward_commit_batch_size Mutations per group commit.\n\
             # TYPE keyward_commit_batch_size histogram"
        );
        if let Ok(batches) = self.batches.lock() {
            batches.render(&mut out, "keyward_commit_batch_size", "");
        }
        let _ = writeln!(
            out,
            "# HELP keyward_root_key_sealed 1 while the root key is unavailable and key material is refused.\n\
             # TYPE keyward_root_key_sealed gauge\n\
             keyward_root_key_sealed{{provider=\"{provider}\"}} {}",
            u8::from(root == RootState::Sealed)
        );
        let sync = self.sync_status();
        let last_sync = sync
            .as_ref()
            .and_then(|s| s.last_success)
            .map(unix_secs)
            .unwrap_or(0);
        let _ = writeln!(
            out,
            "# HELP keyward_keyprotect_last_sync_timestamp_seconds Unix time of the last Key Protect poll that got an answer (0 = none).\n\
             # TYPE keyward_keyprotect_last_sync_timestamp_seconds gauge\n\
             keyward_keyprotect_last_sync_timestamp_seconds {last_sync}"
        );
        let unreachable = sync
            .as_ref()
            .and_then(|s| s.unreachable_for)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let _ = writeln!(
            out,
            "# HELP keyward_keyprotect_unreachable_seconds How long Key Protect has been unreachable (0 = reachable).\n\
             # TYPE keyward_keyprotect_unreachable_seconds gauge\n\
             keyward_keyprotect_unreachable_seconds {unreachable}"
        );
        let (last_backup, changes) = self.backup();
        let since_backup = match last_backup {
            Some(at) => unix_secs(SystemTime::now()).saturating_sub(at) as f64,
            None => -1.0,
        };
        let _ = writeln!(
            out,
            "# HELP keyward_backup_age_seconds Seconds since the last backup (-1 = never or unknown).\n\
             # TYPE keyward_backup_age_seconds gauge\n\
             keyward_backup_age_seconds {since_backup}"
        );
        let _ = writeln!(
            out,
            "# HELP keyward_keys_changed_since_backup Keys created, changed or destroyed since the last backup (-1 = unknown).\n\
             # TYPE keyward_keys_changed_since_backup gauge\n\
             keyward_keys_changed_since_backup {}",
            changes.map_or(-1, |c| c as i64)
        );
        let _ = writeln!(
            out,
            "# HELP keyward_http_requests_total Requests to this HTTP listener.\n\
             # TYPE keyward_http_requests_total counter\n\
             keyward_http_requests_total {}",
            self.http_requests.load(Ordering::Relaxed)
        );
        let _ = writeln!(
            out,
            "# HELP keyward_certificates_expiring_soon Client and server certificates expiring within 30 days or expired (-1 = unknown).\n\
             # TYPE keyward_certificates_expiring_soon gauge\n\
             keyward_certificates_expiring_soon {}",
            self.certificates_expiring.load(Ordering::Relaxed)
        );
        let _ = writeln!(
            out,
            "# HELP keyward_uptime_seconds Seconds since the server started.\n\
             # TYPE keyward_uptime_seconds gauge\n\
             keyward_uptime_seconds {}",
            self.uptime_secs()
        );
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_and_histograms_render_cumulatively() {
        let m = Metrics::new();
        m.operation("Create", "success");
        m.operation("Create", "success");
        m.operation("Get", "ItemNotFound");
        m.latency("Create", 0.002);
        m.latency("Create", 0.7);
        m.batch(3);
        m.failure(FailureCause::NoCertificate);
        m.failure(FailureCause::FirstByteTimeout);
        m.eviction(EvictionCause::BudgetFull);
        m.handshake(HandshakeKind::Resumed);
        m.handshake_time(std::time::Duration::from_millis(1500));
        m.set_unauthenticated_connections(7);
        let text = m.render(RootState::Unsealed, "local");
        assert!(text.contains("keyward_connection_failures_total{cause=\"first_byte_timeout\"} 1"));
        assert!(text.contains("keyward_unauthenticated_evictions_total{cause=\"budget_full\"} 1"));
        assert!(text.contains("keyward_unauthenticated_evictions_total{cause=\"address_cap\"} 0"));
        assert!(text.contains("keyward_tls_handshakes_total{kind=\"resumed\"} 1"));
        assert!(text.contains("keyward_tls_handshake_seconds_total 1.5"));
        assert!(text.contains("keyward_unauthenticated_connections 7"));
        assert!(
            text.contains("keyward_operations_total{operation=\"Create\",result=\"success\"} 2")
        );
        assert!(
            text.contains("keyward_operations_total{operation=\"Get\",result=\"ItemNotFound\"} 1")
        );
        assert!(text.contains(
            "keyward_operation_duration_seconds_bucket{operation=\"Create\",le=\"0.0025\"} 1"
        ));
        assert!(text.contains(
            "keyward_operation_duration_seconds_bucket{operation=\"Create\",le=\"1\"} 2"
        ));
        assert!(text.contains("keyward_operation_duration_seconds_count{operation=\"Create\"} 2"));
        assert!(text.contains("keyward_commit_batch_size_bucket{le=\"2\"} 0"));
        assert!(text.contains("keyward_commit_batch_size_bucket{le=\"4\"} 1"));
        assert!(text.contains("keyward_connection_failures_total{cause=\"no_certificate\"} 1"));
        assert!(text.contains("keyward_root_key_sealed{provider=\"local\"} 0"));
        assert!(text.contains("keyward_backup_age_seconds -1"));
        m.set_backup(unix_secs(SystemTime::now()), 4);
        let text = m.render(RootState::Sealed, "keyprotect");
        assert!(text.contains("keyward_keys_changed_since_backup 4"));
        assert!(text.contains("keyward_root_key_sealed{provider=\"keyprotect\"} 1"));
    }
}
