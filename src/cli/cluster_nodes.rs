//! The "nodes" part of `keyward cluster status`: every Keyward node's latest health report from
//! etcd (`keyward::server::node_report`), and how old it is.

use keyward::server::node_report::{NodeReport, REPORT_EVERY};
use keyward::store::etcd::EtcdStore;

/// A node that has not reported for this many intervals is shown as silent.
const SILENT_AFTER_REPORTS: u32 = 3;

pub(crate) fn print(store: &EtcdStore) {
    let reports = match store.node_reports() {
        Ok(reports) => reports,
        Err(e) => {
            println!("nodes: unknown ({e})");
            return;
        }
    };
    println!("nodes:");
    if reports.is_empty() {
        println!("  (no node has reported yet; nodes report while `keyward serve` runs)");
    }
    let now = keyward::audit::now_ms();
    let silent_ms =
        i64::try_from((REPORT_EVERY * SILENT_AFTER_REPORTS).as_millis()).unwrap_or(i64::MAX);
    for (id, bytes) in reports {
        match serde_json::from_slice::<NodeReport>(&bytes) {
            Ok(report) => {
                let age_ms = now.saturating_sub(report.time_ms).max(0);
                let state = if report.state != "stopped" && age_ms > silent_ms {
                    format!("SILENT (last said {})", report.state)
                } else if report.state == "serving" {
                    report.state.clone()
                } else {
                    report.state.to_uppercase()
                };
                println!(
                    "  {id}  kmip {:<22} {state:<12} reported {} s ago, keyward {}{}",
                    report.kmip,
                    age_ms / 1000,
                    report.version,
                    report
                        .detail
                        .as_deref()
                        .map(|why| format!("\n      {why}"))
                        .unwrap_or_default()
                );
            }
            Err(e) => println!("  {id}  unreadable report: {e}"),
        }
    }
}
