//! `keyward cluster status` shows every Keyward node, not only etcd's members: each running
//! node reports its health to etcd every few seconds, and a node that stops says so. Real etcd
//! members and real `keyward serve` nodes on loopback; Drop guards stop every process.

mod common;
use common::etcd;
use common::nodes;

use std::time::Duration;

use nodes::{Nodes, eventually};

fn status(nodes: &Nodes, node: usize) -> String {
    let out = nodes.keyward(node, &["cluster", "status"]);
    assert!(
        out.status.success(),
        "cluster status failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The status line of the node serving KMIP at `addr`, if it is listed.
fn line_of(status: &str, addr: std::net::SocketAddr) -> Option<String> {
    let needle = format!("kmip {addr} ");
    status
        .lines()
        .find(|l| l.contains(&needle))
        .map(str::to_string)
}

#[test]
fn cluster_status_shows_every_node_serving_and_a_stopped_node_as_stopped() {
    if !etcd::etcd_or_skip() {
        return;
    }
    let mut nodes = Nodes::start(3);
    let addrs: Vec<_> = (0..3).map(|i| nodes.node(i).addr).collect();
    // Any node's status lists all three, each serving at its own KMIP address.
    let mut last = String::new();
    eventually(
        Duration::from_secs(15),
        "three serving nodes in cluster status",
        || {
            last = status(&nodes, 1);
            addrs
                .iter()
                .all(|a| line_of(&last, *a).is_some_and(|l| l.contains(" serving ")))
        },
    );
    assert!(last.contains("nodes:"), "{last}");

    // A node stopped cleanly says so before it goes.
    let stopped = nodes.servers[2].as_mut().expect("node 2 runs").terminate();
    assert!(stopped.success(), "node 2 did not stop cleanly: {stopped}");
    let line = line_of(&status(&nodes, 0), addrs[2]).expect("the stopped node is still listed");
    assert!(line.contains("STOPPED"), "{line}");
    // The others are untouched.
    let now = status(&nodes, 0);
    for addr in &addrs[..2] {
        let line = line_of(&now, *addr).expect("listed");
        assert!(line.contains(" serving "), "{line}");
    }
}
