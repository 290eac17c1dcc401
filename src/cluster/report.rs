//! What a cluster node says about itself every few seconds (`server::node_report` writes it,
//! `keyward cluster status`, the console and `keyward audit merge` read it), and when a node
//! that stopped reporting counts as silent. Below both the server that writes reports and the
//! admin operations that read them, so neither reaches into the other.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// How often a node reports.
pub const REPORT_EVERY: Duration = Duration::from_secs(5);
/// A node that has not reported for this many intervals is taken as silent (dead or cut off).
const SILENT_AFTER_REPORTS: u32 = 3;

/// One node's latest health report, as stored in etcd (JSON).
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
}
