//! The KMIP load generator behind `keyward bench`: C client threads run one workload for a
//! bounded time or number of iterations against any KMIP server, over our own codec and
//! rustls, and report rates, per-operation latency percentiles, handshakes, errors and the
//! CPU used on both sides. Threads are fine here: this is a client tool, not the server.

pub mod messages;
pub mod report;
pub mod stats;
pub mod workload;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use rustls::ClientConfig;

pub use report::Report;
use stats::{Percentiles, Samples};
use workload::Session;
pub use workload::Workload;

/// When a run ends.
#[derive(Debug, Clone, Copy)]
pub enum Budget {
    Duration(Duration),
    /// Workload iterations in total (boot-storm: rounded up to whole rounds of `conns`).
    Iterations(u64),
}

#[derive(Debug, Clone)]
pub struct Options {
    pub server: String,
    /// `None`: connect, handshake and close only.
    pub workload: Option<Workload>,
    pub conns: usize,
    pub budget: Budget,
    pub new_conn: bool,
    /// Keys created before the run for `get` and fetched by each boot-storm client.
    pub keys: usize,
    pub server_pid: Option<u32>,
    pub timeout: Duration,
    /// Iterations per second for all clients together (`None`: as fast as answers come).
    /// Iteration n starts no earlier than n / rate after the start, so a slow answer does not
    /// shift the schedule: the clients catch up while they can.
    pub rate: Option<f64>,
}

#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    #[error("--conns must be at least 1")]
    NoClients,
    #[error(
        "creating the {0} keys the workload reads failed (is the server up and the client allowed?)"
    )]
    Setup(usize),
}

/// Runs the load and returns its report.
pub fn run(options: &Options, tls: Arc<ClientConfig>) -> Result<Report, BenchError> {
    if options.conns == 0 {
        return Err(BenchError::NoClients);
    }
    let keys = match options.workload {
        Some(Workload::Get | Workload::BootStorm) => create_keys(options, &tls)?,
        _ => Vec::new(),
    };
    let keys = &keys;
    let next = AtomicU64::new(0);
    let ok = AtomicU64::new(0);
    let stop = AtomicBool::new(false);
    let barrier = Barrier::new(options.conns);
    let rounds = AtomicU64::new(0);
    let server_cpu_before = options.server_pid.and_then(process_cpu_seconds);
    let client_cpu_before = own_cpu_seconds();
    let started = Instant::now();
    let deadline = match options.budget {
        Budget::Duration(d) => Some(started + d),
        Budget::Iterations(_) => None,
    };
    let mut samples = Samples::default();
    std::thread::scope(|s| {
        let workers: Vec<_> = (0..options.conns)
            .map(|client| {
                let tls = tls.clone();
                let (next, ok, stop, barrier, rounds) = (&next, &ok, &stop, &barrier, &rounds);
                s.spawn(move || {
                    let mut session =
                        Session::new(&options.server, tls, options.new_conn, options.timeout);
                    let boot_storm = options.workload == Some(Workload::BootStorm);
                    loop {
                        let n = if boot_storm {
                            // Every client starts each round at the same moment; the leader
                            // decides for all whether another round runs.
                            if barrier.wait().is_leader() {
                                let round = rounds.fetch_add(1, Ordering::SeqCst);
                                let done = match options.budget {
                                    Budget::Iterations(total) => {
                                        round * options.conns as u64 >= total
                                    }
                                    Budget::Duration(_) => {
                                        deadline.is_some_and(|d| Instant::now() >= d)
                                    }
                                };
                                stop.store(done, Ordering::SeqCst);
                            }
                            barrier.wait();
                            if stop.load(Ordering::SeqCst) {
                                break;
                            }
                            next.fetch_add(1, Ordering::SeqCst)
                        } else {
                            if deadline.is_some_and(|d| Instant::now() >= d) {
                                break;
                            }
                            let n = next.fetch_add(1, Ordering::SeqCst);
                            if let Budget::Iterations(total) = options.budget
                                && n >= total
                            {
                                break;
                            }
                            n
                        };
                        if let Some(rate) = options.rate {
                            pace(started, n, rate, deadline);
                        }
                        let success = match options.workload {
                            Some(w) => workload::iterate(&mut session, w, keys, n, client),
                            None => session.bare_handshake(),
                        };
                        if success {
                            ok.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    session.disconnect();
                    session.samples
                })
            })
            .collect();
        for worker in workers {
            // A worker only panics on a bug in this module; its samples are then lost.
            if let Ok(worker_samples) = worker.join() {
                samples.merge(worker_samples);
            }
        }
    });
    let elapsed = started.elapsed().as_secs_f64();
    let client_cpu_s = own_cpu_seconds() - client_cpu_before;
    let server_cpu_s = match (
        server_cpu_before,
        options.server_pid.and_then(process_cpu_seconds),
    ) {
        (Some(before), Some(after)) => Some(after - before),
        _ => None,
    };
    let iterations = match options.budget {
        Budget::Iterations(total) if options.workload != Some(Workload::BootStorm) => {
            next.load(Ordering::SeqCst).min(total)
        }
        _ => next.load(Ordering::SeqCst),
    };
    let mut per_operation = std::collections::BTreeMap::new();
    let mut operations = 0;
    for (name, values) in samples.latencies.iter_mut() {
        let latency = Percentiles::of(values);
        if *name != "handshake" {
            operations += latency.count;
        }
        per_operation.insert(
            *name,
            report::OperationReport {
                per_second: latency.count as f64 / elapsed,
                latency,
            },
        );
    }
    Ok(Report {
        server: options.server.clone(),
        workload: options.workload,
        bare_handshake: options.workload.is_none(),
        conns: options.conns,
        new_conn: options.new_conn,
        elapsed_s: elapsed,
        iterations,
        iterations_ok: ok.load(Ordering::SeqCst),
        operations,
        operations_per_s: operations as f64 / elapsed,
        handshakes: samples.handshakes,
        handshakes_per_s: samples.handshakes as f64 / elapsed,
        errors_total: samples.errors.values().sum(),
        errors: samples.errors,
        per_operation,
        client_cpu_s,
        server_cpu_s,
    })
}

/// Sleeps until iteration `n` of a schedule of `rate` iterations per second is due (never past
/// the deadline).
fn pace(started: Instant, n: u64, rate: f64, deadline: Option<Instant>) {
    let due = started + Duration::from_secs_f64(n as f64 / rate);
    let due = deadline.map_or(due, |d| due.min(d));
    let now = Instant::now();
    if due > now {
        std::thread::sleep(due - now);
    }
}

/// Creates the keys a read workload fetches, over one kept connection, before the clock starts.
fn create_keys(options: &Options, tls: &Arc<ClientConfig>) -> Result<Vec<String>, BenchError> {
    let wanted = options.keys.max(1);
    let mut session = Session::new(&options.server, tls.clone(), false, options.timeout);
    let keys: Vec<String> = (0..wanted).map_while(|_| session.create(None)).collect();
    session.disconnect();
    if keys.len() == wanted {
        Ok(keys)
    } else {
        Err(BenchError::Setup(wanted))
    }
}

/// User + system CPU seconds of this process so far.
fn own_cpu_seconds() -> f64 {
    // The process CPU-time clock counts user and system time of all its threads.
    let used = rustix::time::clock_gettime(rustix::time::ClockId::ProcessCPUTime);
    used.tv_sec as f64 + used.tv_nsec as f64 / 1e9
}

/// User + system CPU seconds of process `pid` from /proc/PID/stat (Linux).
fn process_cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces and parentheses: fields are counted after the last ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // Fields 14 (utime) and 15 (stime) of proc(5); `rest` starts at field 3.
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    let ticks = rustix::param::clock_ticks_per_second();
    (ticks > 0).then(|| (utime + stime) / ticks as f64)
}

/// Resident set size of process `pid` in KiB (VmRSS of /proc/PID/status).
pub fn resident_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_own_cpu_and_rss() {
        let pid = std::process::id();
        assert!(process_cpu_seconds(pid).is_some());
        assert!(resident_kib(pid).is_some_and(|k| k > 0));
        assert!(own_cpu_seconds() >= 0.0);
    }
}
