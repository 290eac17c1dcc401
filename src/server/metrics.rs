//! Counters and gauges of a running server, rendered as OpenMetrics text for `/metrics` and
//! read by the `status` admin request. The metric types, the registry and the text encoding
//! are prometheus-client's (atomics inside, a read lock per labelled family): the event loop
//! and the committer update them on every request, so they must cost next to nothing, and the
//! label sets are fixed (no per-client or per-key series).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

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

impl HandshakeKind {
    fn label(self) -> &'static str {
        match self {
            HandshakeKind::Full => "full",
            HandshakeKind::Resumed => "resumed",
        }
    }
}

/// One fixed label (`cause`, `kind`, `provider`).
type Label = [(&'static str, &'static str); 1];
/// `operation` and `result` of an answered batch item.
type OperationResult = [(&'static str, String); 2];
type OperationLabel = [(&'static str, String); 1];
type LatencyFamily = Family<OperationLabel, Histogram, fn() -> Histogram>;

fn latency_histogram() -> Histogram {
    Histogram::new(LATENCY_BUCKETS)
}

/// The series of one server. Each metric is a prometheus-client handle (atomics inside) that
/// the registry shares; the gauges read from elsewhere are set just before a scrape.
pub struct Metrics {
    started: Instant,
    registry: Registry,
    operations: Family<OperationResult, Counter>,
    latency: LatencyFamily,
    batches: Histogram,
    /// How long each group's flush to disk took (the wait, on the releaser or for a small
    /// group on the committer, for its commit to be durable): where a change's answer waits
    /// beyond running it.
    flushes: Histogram,
    failures: Family<Label, Counter>,
    evictions: Family<Label, Counter>,
    handshakes: Family<Label, Counter>,
    handshake_seconds: Counter<f64, AtomicU64>,
    /// Loop turns whose slice for connections without a client ran out with some waiting.
    handshake_slices_spent: Counter,
    /// Connections without a client carried to a later turn, summed over those turns.
    handshakes_carried: Counter,
    open_connections: Gauge,
    unauthenticated_connections: Gauge,
    http_requests: Counter,
    root_key_sealed: Family<Label, Gauge>,
    last_sync: Gauge,
    unreachable: Gauge,
    backup_age: Gauge,
    /// -1 = unknown.
    changes_since_backup: Gauge,
    /// Certificates expiring within 30 days (`admin::expiry`), set by the admin API; -1 unknown.
    certificates_expiring: Gauge,
    uptime: Gauge,
    /// Unix time of the last backup; 0 = never. A timestamp, served as an age.
    last_backup_unix: AtomicU64,
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

fn saturating_i64(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

impl Metrics {
    pub fn new() -> Metrics {
        let metrics = Metrics {
            started: Instant::now(),
            registry: Registry::default(),
            operations: Family::default(),
            latency: Family::new_with_constructor(latency_histogram),
            batches: Histogram::new(BATCH_BUCKETS),
            flushes: Histogram::new(LATENCY_BUCKETS),
            failures: Family::default(),
            evictions: Family::default(),
            handshakes: Family::default(),
            handshake_seconds: Counter::default(),
            handshake_slices_spent: Counter::default(),
            handshakes_carried: Counter::default(),
            open_connections: Gauge::default(),
            unauthenticated_connections: Gauge::default(),
            http_requests: Counter::default(),
            root_key_sealed: Family::default(),
            last_sync: Gauge::default(),
            unreachable: Gauge::default(),
            backup_age: Gauge::default(),
            changes_since_backup: Gauge::default(),
            certificates_expiring: Gauge::default(),
            uptime: Gauge::default(),
            last_backup_unix: AtomicU64::new(0),
            sync: Mutex::new(None),
            provider: OnceLock::new(),
            listen: OnceLock::new(),
        };
        metrics.changes_since_backup.set(-1);
        metrics.certificates_expiring.set(-1);
        // Fixed label sets show every series from the first scrape, zeros included.
        for cause in FailureCause::ALL {
            let _ = metrics.failures.get_or_create(&[("cause", cause.label())]);
        }
        for cause in EvictionCause::ALL {
            let _ = metrics.evictions.get_or_create(&[("cause", cause.label())]);
        }
        for kind in [HandshakeKind::Full, HandshakeKind::Resumed] {
            let _ = metrics.handshakes.get_or_create(&[("kind", kind.label())]);
        }
        metrics.register()
    }

    /// Names, help texts (the encoder adds the final period) and types of the exposition;
    /// counters are registered without `_total`, which the encoder appends.
    fn register(mut self) -> Metrics {
        let r = &mut self.registry;
        r.register(
            "keyward_operations",
            "KMIP batch items answered, by operation and result",
            self.operations.clone(),
        );
        r.register(
            "keyward_operation_duration_seconds",
            "Time from a request's arrival to its response, by its first operation",
            self.latency.clone(),
        );
        r.register(
            "keyward_open_connections",
            "KMIP connections open now",
            self.open_connections.clone(),
        );
        r.register(
            "keyward_unauthenticated_connections",
            "Open KMIP connections without a trusted certificate yet",
            self.unauthenticated_connections.clone(),
        );
        r.register(
            "keyward_unauthenticated_evictions",
            "Unauthenticated connections closed to make room for a newer one, by cause",
            self.evictions.clone(),
        );
        r.register(
            "keyward_tls_handshakes",
            "TLS handshakes begun, full (private-key operation) or resumed",
            self.handshakes.clone(),
        );
        r.register(
            "keyward_tls_handshake_seconds",
            "Event-loop time spent processing TLS handshakes",
            self.handshake_seconds.clone(),
        );
        r.register(
            "keyward_handshake_slices_spent",
            "Event-loop turns whose time for connections without a client ran out while some \
             still waited",
            self.handshake_slices_spent.clone(),
        );
        r.register(
            "keyward_handshakes_carried",
            "Connections without a client left waiting for a later event-loop turn, summed \
             over turns",
            self.handshakes_carried.clone(),
        );
        r.register(
            "keyward_connection_failures",
            "Connections refused or cut, by cause",
            self.failures.clone(),
        );
        r.register(
            "keyward_commit_batch_size",
            "Mutations per group commit",
            self.batches.clone(),
        );
        r.register(
            "keyward_commit_flush_seconds",
            "Time a group commit waits for its changes to be durable (its flush to disk)",
            self.flushes.clone(),
        );
        r.register(
            "keyward_root_key_sealed",
            "1 while the root key is unavailable and key material is refused",
            self.root_key_sealed.clone(),
        );
        r.register(
            "keyward_keyprotect_last_sync_timestamp_seconds",
            "Unix time of the last Key Protect poll that got an answer (0 = none)",
            self.last_sync.clone(),
        );
        r.register(
            "keyward_keyprotect_unreachable_seconds",
            "How long Key Protect has been unreachable (0 = reachable)",
            self.unreachable.clone(),
        );
        r.register(
            "keyward_backup_age_seconds",
            "Seconds since the last backup (-1 = never or unknown)",
            self.backup_age.clone(),
        );
        r.register(
            "keyward_keys_changed_since_backup",
            "Keys created, changed or destroyed since the last backup (-1 = unknown)",
            self.changes_since_backup.clone(),
        );
        r.register(
            "keyward_http_requests",
            "Requests to this HTTP listener",
            self.http_requests.clone(),
        );
        r.register(
            "keyward_certificates_expiring_soon",
            "Client and server certificates expiring within 30 days or expired (-1 = unknown)",
            self.certificates_expiring.clone(),
        );
        r.register(
            "keyward_uptime_seconds",
            "Seconds since the server started",
            self.uptime.clone(),
        );
        self
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
        self.operations
            .get_or_create(&[
                ("operation", operation.to_string()),
                ("result", result.to_string()),
            ])
            .inc();
    }

    /// The time from a request's arrival to its response, by the request's first operation.
    pub fn latency(&self, operation: &str, seconds: f64) {
        self.latency
            .get_or_create(&[("operation", operation.to_string())])
            .observe(seconds);
    }

    /// One group commit of `size` mutations.
    pub fn batch(&self, size: usize) {
        self.batches.observe(size as f64);
    }

    /// One group's flush to disk, which took `spent`.
    pub fn flush(&self, spent: std::time::Duration) {
        self.flushes.observe(spent.as_secs_f64());
    }

    pub fn failure(&self, cause: FailureCause) {
        self.failures
            .get_or_create(&[("cause", cause.label())])
            .inc();
    }

    pub fn failures(&self, cause: FailureCause) -> u64 {
        self.failures
            .get_or_create(&[("cause", cause.label())])
            .get()
    }

    pub fn set_open_connections(&self, open: usize) {
        self.open_connections.set(saturating_i64(open as u64));
    }

    /// Of the open connections, those without a trusted certificate yet.
    pub fn set_unauthenticated_connections(&self, open: usize) {
        self.unauthenticated_connections
            .set(saturating_i64(open as u64));
    }

    pub fn eviction(&self, cause: EvictionCause) {
        self.evictions
            .get_or_create(&[("cause", cause.label())])
            .inc();
    }

    pub fn evictions(&self, cause: EvictionCause) -> u64 {
        self.evictions
            .get_or_create(&[("cause", cause.label())])
            .get()
    }

    pub fn handshake(&self, kind: HandshakeKind) {
        self.handshakes
            .get_or_create(&[("kind", kind.label())])
            .inc();
    }

    pub fn handshakes(&self, kind: HandshakeKind) -> u64 {
        self.handshakes
            .get_or_create(&[("kind", kind.label())])
            .get()
    }

    /// Time the event loop spent in TLS handshake processing (key exchange, signatures,
    /// certificate verification): the loop is one thread, so this is CPU it did not spend
    /// on requests.
    pub fn handshake_time(&self, spent: std::time::Duration) {
        self.handshake_seconds.inc_by(spent.as_secs_f64());
    }

    /// A loop turn's slice for connections without a client ran out with `carried` of them
    /// still waiting (`handshake_queue.rs`): each waits for the next turn.
    pub fn handshake_slice_spent(&self, carried: usize) {
        self.handshake_slices_spent.inc();
        self.handshakes_carried.inc_by(carried as u64);
    }

    pub fn http_request(&self) {
        self.http_requests.inc();
    }

    /// Called by the backup code after each backup and change: the time of the last backup
    /// (Unix seconds) and how many keys changed since.
    pub fn set_backup(&self, last_unix_time: u64, changes_since: u64) {
        self.last_backup_unix
            .store(last_unix_time, Ordering::Relaxed);
        self.changes_since_backup.set(saturating_i64(changes_since));
    }

    /// (last backup Unix time, keys changed since), each None while unknown.
    pub fn backup(&self) -> (Option<u64>, Option<u64>) {
        let last = self.last_backup_unix.load(Ordering::Relaxed);
        let changes = self.changes_since_backup.get();
        ((last > 0).then_some(last), u64::try_from(changes).ok())
    }

    /// How many client and server certificates expire within 30 days.
    pub fn set_certificates_expiring(&self, count: usize) {
        self.certificates_expiring.set(saturating_i64(count as u64));
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

    /// The whole exposition (OpenMetrics text, `OPENMETRICS_CONTENT_TYPE`). `root` and
    /// `provider` are read by the caller from the engine; the gauges kept elsewhere are set
    /// here, at scrape time.
    pub fn render(&self, root: RootState, provider: &str) -> String {
        // The provider is set once at start; clearing keeps a single series all the same.
        self.root_key_sealed.clear();
        let provider: &'static str = match provider {
            "local" => "local",
            "keyprotect" => "keyprotect",
            _ => "unknown",
        };
        self.root_key_sealed
            .get_or_create(&[("provider", provider)])
            .set(i64::from(root == RootState::Sealed));
        let sync = self.sync_status();
        let last_sync = sync
            .as_ref()
            .and_then(|s| s.last_success)
            .map(unix_secs)
            .unwrap_or(0);
        self.last_sync.set(saturating_i64(last_sync));
        let unreachable = sync
            .as_ref()
            .and_then(|s| s.unreachable_for)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        self.unreachable.set(saturating_i64(unreachable));
        let age = match self.backup().0 {
            Some(at) => saturating_i64(unix_secs(SystemTime::now()).saturating_sub(at)),
            None => -1,
        };
        self.backup_age.set(age);
        self.uptime.set(saturating_i64(self.uptime_secs()));
        let mut out = String::with_capacity(4096);
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

/// The content type of `Metrics::render`'s text.
pub const OPENMETRICS_CONTENT_TYPE: &str =
    "application/openmetrics-text; version=1.0.0; charset=utf-8";

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
        m.flush(std::time::Duration::from_millis(3));
        m.failure(FailureCause::NoCertificate);
        m.failure(FailureCause::FirstByteTimeout);
        m.eviction(EvictionCause::BudgetFull);
        m.handshake(HandshakeKind::Resumed);
        m.handshake_time(std::time::Duration::from_millis(1500));
        m.handshake_slice_spent(5);
        m.handshake_slice_spent(2);
        m.set_unauthenticated_connections(7);
        let text = m.render(RootState::Unsealed, "local");
        assert!(text.contains("keyward_connection_failures_total{cause=\"first_byte_timeout\"} 1"));
        assert!(text.contains("keyward_unauthenticated_evictions_total{cause=\"budget_full\"} 1"));
        assert!(text.contains("keyward_unauthenticated_evictions_total{cause=\"address_cap\"} 0"));
        assert!(text.contains("keyward_tls_handshakes_total{kind=\"resumed\"} 1"));
        assert!(text.contains("keyward_tls_handshake_seconds_total 1.5"));
        assert!(text.contains("keyward_handshake_slices_spent_total 2"));
        assert!(text.contains("keyward_handshakes_carried_total 7"));
        assert!(text.contains("keyward_commit_flush_seconds_bucket{le=\"0.0025\"} 0"));
        assert!(text.contains("keyward_commit_flush_seconds_bucket{le=\"0.005\"} 1"));
        assert!(text.contains("keyward_unauthenticated_connections 7"));
        assert!(
            text.contains("keyward_operations_total{operation=\"Create\",result=\"success\"} 2")
        );
        assert!(
            text.contains("keyward_operations_total{operation=\"Get\",result=\"ItemNotFound\"} 1")
        );
        assert!(text.contains(
            "keyward_operation_duration_seconds_bucket{le=\"0.0025\",operation=\"Create\"} 1"
        ));
        assert!(text.contains(
            "keyward_operation_duration_seconds_bucket{le=\"1.0\",operation=\"Create\"} 2"
        ));
        assert!(text.contains("keyward_operation_duration_seconds_count{operation=\"Create\"} 2"));
        assert!(text.contains("keyward_commit_batch_size_bucket{le=\"2.0\"} 0"));
        assert!(text.contains("keyward_commit_batch_size_bucket{le=\"4.0\"} 1"));
        assert!(text.contains("keyward_connection_failures_total{cause=\"no_certificate\"} 1"));
        assert!(text.contains("keyward_root_key_sealed{provider=\"local\"} 0"));
        assert!(text.contains("keyward_backup_age_seconds -1"));
        assert!(text.contains(
            "# HELP keyward_operations KMIP batch items answered, by operation and result.\n\
             # TYPE keyward_operations counter\n"
        ));
        assert!(text.ends_with("# EOF\n"));
        for series in [
            "keyward_operations_total",
            "keyward_operation_duration_seconds_bucket",
            "keyward_operation_duration_seconds_sum",
            "keyward_open_connections",
            "keyward_unauthenticated_connections",
            "keyward_unauthenticated_evictions_total",
            "keyward_tls_handshakes_total",
            "keyward_tls_handshake_seconds_total",
            "keyward_handshake_slices_spent_total",
            "keyward_handshakes_carried_total",
            "keyward_connection_failures_total",
            "keyward_commit_batch_size_count",
            "keyward_root_key_sealed",
            "keyward_keyprotect_last_sync_timestamp_seconds",
            "keyward_keyprotect_unreachable_seconds",
            "keyward_backup_age_seconds",
            "keyward_keys_changed_since_backup",
            "keyward_http_requests_total",
            "keyward_certificates_expiring_soon",
            "keyward_uptime_seconds",
        ] {
            assert!(
                text.lines().any(|l| l.starts_with(series)),
                "{series} missing:\n{text}"
            );
        }
        m.set_backup(unix_secs(SystemTime::now()), 4);
        let text = m.render(RootState::Sealed, "keyprotect");
        assert!(text.contains("keyward_keys_changed_since_backup 4"));
        assert!(text.contains("keyward_root_key_sealed{provider=\"keyprotect\"} 1"));
    }
}
