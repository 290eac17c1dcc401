//! A cluster node's heartbeat: every few seconds, a thread of its own stores this node's state
//! (the same verdict `/healthz` gives) in etcd, where `keyward cluster status` on any node
//! reads every node's. Every second it also looks for an open audit gather request
//! (`audit_gather.rs`). Its own thread, because a write to etcd can wait up to the request
//! timeout while quorum is lost, and neither the event loop nor the committer may wait on it.
//! A node that stops cleanly says so; one that dies or is cut off simply stops reporting, and
//! `cluster status` shows how old its last report is.

use std::net::SocketAddr;
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::Services;

/// How often a node reports.
pub const REPORT_EVERY: Duration = Duration::from_secs(5);
/// A node that has not reported for this many intervals is taken as silent (dead or cut off).
const SILENT_AFTER_REPORTS: u32 = 3;
/// How often the thread wakes: to report when due, and to answer an open audit gather request
/// (`keyward audit gather` waits for every node).
const TICK: Duration = Duration::from_secs(1);

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeReport {
    pub node: String,
    /// Where this node serves KMIP.
    pub kmip: String,
    pub version: String,
    /// `serving`, `stopped`, or the `/healthz` state name (`sealed`, `degraded`, …).
    pub state: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    pub started_ms: i64,
    pub time_ms: i64,
}

impl NodeReport {
    /// Milliseconds since the node wrote this report, as of `now_ms`.
    pub fn age_ms(&self, now_ms: i64) -> i64 {
        now_ms.saturating_sub(self.time_ms).max(0)
    }

    /// True when the node has missed several reports without saying it stopped.
    pub fn is_silent(&self, now_ms: i64) -> bool {
        let silent_ms =
            i64::try_from((REPORT_EVERY * SILENT_AFTER_REPORTS).as_millis()).unwrap_or(i64::MAX);
        self.state != "stopped" && self.age_ms(now_ms) > silent_ms
    }

    /// Serving now, as far as anyone can tell: not stopped and not silent.
    pub fn is_running(&self, now_ms: i64) -> bool {
        self.state != "stopped" && !self.is_silent(now_ms)
    }
}

pub(super) struct Heartbeat {
    stop: Arc<(Mutex<bool>, Condvar)>,
    thread: JoinHandle<()>,
}

/// Starts reporting for a cluster node; `None` for a single appliance.
pub(super) fn spawn(services: &Services, kmip: SocketAddr) -> Option<Heartbeat> {
    let node = services.store.node_id()?;
    let stop = Arc::new((Mutex::new(false), Condvar::new()));
    let services = services.clone();
    let flag = stop.clone();
    let thread = std::thread::Builder::new()
        .name("keyward-heartbeat".into())
        .spawn(move || run(&services, &node, kmip, &flag));
    match thread {
        Ok(thread) => Some(Heartbeat { stop, thread }),
        Err(e) => {
            log::error!(
                "cannot start the node heartbeat thread: {e}; cluster status will not show this node"
            );
            None
        }
    }
}

impl Heartbeat {
    /// Reports `stopped` and ends the thread.
    pub(super) fn stop(self) {
        let (flag, wake) = &*self.stop;
        if let Ok(mut stopped) = flag.lock() {
            *stopped = true;
            wake.notify_all();
        }
        if self.thread.join().is_err() {
            log::error!("the node heartbeat thread panicked");
        }
    }
}

fn run(services: &Services, node: &str, kmip: SocketAddr, stop: &(Mutex<bool>, Condvar)) {
    let started_ms = crate::audit::now_ms();
    let mut failing = false;
    let mut stopping = false;
    let mut answered = std::collections::HashSet::new();
    let mut next_report = std::time::Instant::now();
    loop {
        if !stopping {
            super::audit_gather::answer_open_requests(services, node, &mut answered);
        }
        if !stopping && std::time::Instant::now() < next_report {
            stopping = wait(stop);
            continue;
        }
        next_report = std::time::Instant::now() + REPORT_EVERY;
        let (state, detail) = if stopping {
            ("stopped".to_string(), None)
        } else {
            match super::http_conn::health(services) {
                Ok(()) => ("serving".to_string(), None),
                Err((state, why)) => (state.to_string(), Some(why)),
            }
        };
        let report = NodeReport {
            node: node.to_string(),
            kmip: reachable_address(kmip),
            version: env!("CARGO_PKG_VERSION").to_string(),
            state,
            detail,
            started_ms,
            time_ms: crate::audit::now_ms(),
        };
        let published = serde_json::to_vec(&report)
            .map_err(|e| e.to_string())
            .and_then(|bytes| {
                services
                    .store
                    .publish_node_report(&bytes)
                    .map_err(|e| e.to_string())
            });
        match published {
            Ok(()) if failing => {
                log::info!("this node's health report reaches etcd again");
                failing = false;
            }
            Ok(()) => {}
            // Once per outage: without quorum this fails every time, and the store already
            // logs the outage itself.
            Err(e) if !failing => {
                log::warn!("cannot store this node's health report in etcd: {e}");
                failing = true;
            }
            Err(_) => {}
        }
        if stopping {
            return;
        }
        stopping = wait(stop);
    }
}

/// Sleeps one tick; true once the server is stopping.
fn wait(stop: &(Mutex<bool>, Condvar)) -> bool {
    let (flag, wake) = stop;
    let Ok(stopped) = flag.lock() else {
        return true;
    };
    if *stopped {
        return true;
    }
    match wake.wait_timeout(stopped, TICK) {
        Ok((stopped, _)) => *stopped,
        Err(_) => true,
    }
}

/// The KMIP address as other hosts would use it: a listener on all interfaces (0.0.0.0, ::)
/// is shown with this host's name instead, which says more in `cluster status`.
fn reachable_address(kmip: SocketAddr) -> String {
    if !kmip.ip().is_unspecified() {
        return kmip.to_string();
    }
    match std::fs::read_to_string("/proc/sys/kernel/hostname") {
        Ok(name) if !name.trim().is_empty() => format!("{}:{}", name.trim(), kmip.port()),
        _ => kmip.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_node_is_silent_after_three_missed_reports_unless_it_said_it_stopped() {
        let report = |state: &str| NodeReport {
            node: "n".into(),
            kmip: "127.0.0.1:5696".into(),
            version: "0".into(),
            state: state.into(),
            detail: None,
            started_ms: 0,
            time_ms: 1_000_000,
        };
        let serving = report("serving");
        assert!(serving.is_running(1_000_000 + 15_000));
        assert!(serving.is_silent(1_000_000 + 15_001));
        assert!(!serving.is_running(1_000_000 + 15_001));
        let stopped = report("stopped");
        assert!(!stopped.is_silent(1_000_000 + 60_000));
        assert!(!stopped.is_running(1_000_000));
    }

    #[test]
    fn a_wildcard_listener_is_reported_by_host_name_and_a_bound_one_as_it_is() {
        let bound: SocketAddr = "127.0.0.1:5696".parse().unwrap();
        assert_eq!(reachable_address(bound), "127.0.0.1:5696");
        let any: SocketAddr = "0.0.0.0:5696".parse().unwrap();
        let shown = reachable_address(any);
        assert!(shown.ends_with(":5696"), "{shown}");
        if let Ok(name) = std::fs::read_to_string("/proc/sys/kernel/hostname") {
            assert_eq!(shown, format!("{}:5696", name.trim()));
        }
    }
}
