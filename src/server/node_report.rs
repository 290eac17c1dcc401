//! A cluster node's heartbeat: every few seconds, a thread of its own stores this node's state
//! (the same verdict `/healthz` gives) in etcd, where `keyward cluster status` on any node
//! reads every node's. Every second it also looks for an open audit gather request
//! (`crate::cluster::audit_gather`). Its own thread, because a write to etcd can wait up to the request
//! timeout while quorum is lost, and neither the event loop nor the committer may wait on it.
//! A node that stops cleanly says so; one that dies or is cut off simply stops reporting, and
//! `cluster status` shows how old its last report is.

use std::net::SocketAddr;
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use super::Services;
use crate::cluster::report::REPORT_EVERY;
use crate::cluster::{Cluster, NodeReport};

/// How often the thread wakes: to report when due, and to answer an open audit gather request
/// (`keyward audit gather` waits for every node).
const TICK: Duration = Duration::from_secs(1);

pub(super) struct Heartbeat {
    stop: Arc<(Mutex<bool>, Condvar)>,
    thread: JoinHandle<()>,
}

/// Starts reporting for a cluster node; `None` for a single appliance.
pub(super) fn spawn(services: &Services, kmip: SocketAddr) -> Option<Heartbeat> {
    let cluster = services.cluster.clone()?;
    let stop = Arc::new((Mutex::new(false), Condvar::new()));
    let services = services.clone();
    let flag = stop.clone();
    let thread = std::thread::Builder::new()
        .name("keyward-heartbeat".into())
        .spawn(move || run(&services, &cluster, kmip, &flag));
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

fn run(services: &Services, cluster: &Cluster, kmip: SocketAddr, stop: &(Mutex<bool>, Condvar)) {
    let node = cluster.node_id();
    let started_ms = crate::audit::now_ms();
    let mut failing = false;
    let mut stopping = false;
    let mut answered = std::collections::HashSet::new();
    let mut next_report = std::time::Instant::now();
    loop {
        if !stopping {
            crate::cluster::audit_gather::answer_open_requests(
                cluster,
                services.store.as_ref(),
                &mut answered,
            );
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
            .map_err(PublishError::Encode)
            .and_then(|bytes| cluster.publish_report(&bytes).map_err(PublishError::Store));
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

/// Why this node's report did not reach etcd (logged once per outage, in the words of the cause).
#[derive(Debug, thiserror::Error)]
enum PublishError {
    #[error(transparent)]
    Encode(serde_json::Error),
    #[error(transparent)]
    Store(crate::store::StoreError),
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
