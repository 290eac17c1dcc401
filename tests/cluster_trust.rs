//! A client removed on one cluster node loses its open connections on every node, not only on
//! the node where `keyward client remove` ran: the others learn of it from their etcd watch on
//! the shared registry when it is made (and would from their re-read every 2 s without it)
//! and cut the client off like a local removal does. Three real etcd members and three
//! `keyward serve` nodes on loopback; Drop guards stop every process.
//!
//! Needs the `etcd` binary (or KEYWARD_TEST_ETCD=/path/to/etcd); fails without it.

mod common;
use common::etcd;
use common::nodes;

use std::process::Command;
use std::time::{Duration, Instant};

use common::*;
use nodes::{Nodes, run_ok};

/// Well above what it takes: the watch reports a change when it is made, and without it the
/// registry is re-read every 2 s.
const CUT_OFF_BOUND: Duration = Duration::from_secs(10);

fn query() -> keyward::ttlv::Item {
    request(V1_1, vec![BatchItem::new(op::QUERY, vec![])])
}

/// Whether `creds` can open a connection to `server` and get an answer on it.
fn served(server: &Server, creds: &ClientCreds) -> bool {
    Tls::connect(server.addr, creds)
        .ok()
        .and_then(|mut tls| tls.try_roundtrip(&query()))
        .is_some()
}

#[test]
fn a_client_removed_on_one_node_is_cut_off_on_the_others() {
    if !etcd::etcd_or_skip() {
        return;
    }
    let nodes = Nodes::start(3);
    let out = nodes.dir.path().join("client-doomed");
    run_ok(
        Command::new(keyward_bin())
            .args(["client", "issue", "--name", "doomed", "--out"])
            .arg(&out)
            .arg("--config")
            .arg(&nodes.homes[0].config)
            .arg("--data-dir")
            .arg(&nodes.homes[0].data_dir),
    );
    let doomed = ClientCreds {
        name: "doomed".into(),
        cert: out.join("client.crt"),
        key: out.join("client.key"),
        ca: out.join("ca.crt"),
    };
    let node_b = nodes.node(1);
    // Node B learns of the new client within one registry refresh.
    let deadline = Instant::now() + CUT_OFF_BOUND;
    while !served(node_b, &doomed) {
        assert!(
            Instant::now() < deadline,
            "node B never trusted the client issued on node A:\n{}",
            nodes.problems()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let mut open = node_b.connect(&doomed);
    assert!(open.try_roundtrip(&query()).is_some(), "open connection");
    // Another client's connection on the same node must survive the removal.
    let mut bystander = node_b.connect(&nodes.client);
    assert!(bystander.try_roundtrip(&query()).is_some());

    run_ok(
        Command::new(keyward_bin())
            .args(["client", "remove", "doomed", "--yes"])
            .arg("--config")
            .arg(&nodes.homes[0].config)
            .arg("--data-dir")
            .arg(&nodes.homes[0].data_dir),
    );
    let removed_at = Instant::now();
    // Each probe is a full request: a connection still open answers it.
    while open.try_roundtrip(&query()).is_some() {
        assert!(
            removed_at.elapsed() < CUT_OFF_BOUND,
            "node B still serves the removed client's open connection after {CUT_OFF_BOUND:?}\n{}",
            nodes.problems()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    eprintln!(
        "node B closed the removed client's connection {:.1} s after the removal",
        removed_at.elapsed().as_secs_f64()
    );
    assert!(
        !served(node_b, &doomed),
        "node B accepted a new connection of the removed client"
    );
    assert!(
        bystander.try_roundtrip(&query()).is_some(),
        "the other client's connection was closed too"
    );
    let log = node_b.log();
    assert!(
        log.lines()
            .any(|l| l.contains("no longer trusted") && l.contains("cn:doomed")),
        "node B did not log whom it cut off:\n{}",
        nodes.problems()
    );
    // The watch, not the re-read 2 s later, told node B: without the watch this line says
    // "found by the periodic re-read".
    assert!(
        log.lines()
            .any(|l| l.contains("the client registry changed in etcd (seen by the etcd watch)")),
        "node B did not learn of the removal from its etcd watch:\n{}",
        log.lines()
            .filter(|l| l.contains("client registry"))
            .collect::<Vec<_>>()
            .join("\n")
    );
}
