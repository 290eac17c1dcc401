//! The "nodes" part of `keyward cluster status`: every Keyward node's latest health report from
//! etcd (`keyward::appliance::NodeReport`), and how old it is.

use keyward::appliance::NodeReport;
use keyward::store::etcd::EtcdStore;

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
    for (id, bytes) in reports {
        match serde_json::from_slice::<NodeReport>(&bytes) {
            Ok(report) => {
                let age_ms = report.age_ms(now);
                let state = if report.is_silent(now) {
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
