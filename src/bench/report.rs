//! The result of one run: a JSON document for comparisons and a short text table.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::stats::Percentiles;
use super::workload::Workload;

#[derive(Debug, serde::Serialize)]
pub struct OperationReport {
    pub per_second: f64,
    #[serde(flatten)]
    pub latency: Percentiles,
}

#[derive(Debug, serde::Serialize)]
pub struct Report {
    pub server: String,
    /// `None` for `--bare-handshake`.
    pub workload: Option<Workload>,
    pub bare_handshake: bool,
    pub conns: usize,
    pub new_conn: bool,
    pub elapsed_s: f64,
    /// Workload iterations started and completed without error.
    pub iterations: u64,
    pub iterations_ok: u64,
    /// Successful KMIP exchanges (handshakes not counted).
    pub operations: u64,
    pub operations_per_s: f64,
    pub handshakes: u64,
    pub handshakes_per_s: f64,
    pub errors: BTreeMap<&'static str, u64>,
    pub errors_total: u64,
    /// Per operation, handshakes included as "handshake".
    pub per_operation: BTreeMap<&'static str, OperationReport>,
    /// CPU seconds (user + system) used by this process during the run.
    pub client_cpu_s: f64,
    /// CPU seconds used by the server process during the run (with --server-pid).
    pub server_cpu_s: Option<f64>,
}

impl Report {
    pub fn text(&self) -> String {
        let mut out = String::new();
        let what = match self.workload {
            Some(w) => format!("{w:?}"),
            None => "bare-handshake".into(),
        };
        let _ = writeln!(
            out,
            "{what} against {}: {} conns{}, {:.2} s, {} iterations ({} ok)",
            self.server,
            self.conns,
            if self.new_conn {
                ", new connection per exchange"
            } else {
                ""
            },
            self.elapsed_s,
            self.iterations,
            self.iterations_ok
        );
        let _ = writeln!(
            out,
            "  {:.0} ops/s, {:.0} handshakes/s, {} errors",
            self.operations_per_s, self.handshakes_per_s, self.errors_total
        );
        let _ = writeln!(
            out,
            "  {:<18} {:>9} {:>9} {:>8} {:>8} {:>8} {:>8}",
            "operation", "count", "per s", "p50 µs", "p90 µs", "p99 µs", "max µs"
        );
        for (name, op) in &self.per_operation {
            let l = &op.latency;
            let _ = writeln!(
                out,
                "  {:<18} {:>9} {:>9.0} {:>8} {:>8} {:>8} {:>8}",
                name, l.count, op.per_second, l.p50_us, l.p90_us, l.p99_us, l.max_us
            );
        }
        for (name, count) in &self.errors {
            let _ = writeln!(out, "  errors in {name}: {count}");
        }
        let share = |cpu: f64| 100.0 * cpu / self.elapsed_s.max(1e-9);
        let _ = write!(
            out,
            "  CPU: client {:.2} s ({:.0} % of one core)",
            self.client_cpu_s,
            share(self.client_cpu_s)
        );
        if let Some(server) = self.server_cpu_s {
            let _ = write!(
                out,
                ", server {server:.2} s ({:.0} % of one core)",
                share(server)
            );
        }
        out.push('\n');
        out
    }
}
