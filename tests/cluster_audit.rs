//! The audit log on a cluster: each node keeps its own chain in its local database (what that
//! node served), also while etcd has no quorum, and `keyward audit merge` gathers the nodes'
//! exports into one stream after checking every chain. Real etcd members and real `keyward
//! serve` nodes on loopback, as in tests/cluster.rs; Drop guards stop every process.

mod common;
use common::etcd;
use common::nodes;

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::{Duration, Instant};

use common::*;
use etcd::etcd_or_skip;
use nodes::Nodes;

fn ok(out: &Output, what: &str) -> String {
    assert!(
        out.status.success(),
        "{what} failed ({}):\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A node's full export, parsed, and the file it was written to.
fn export(nodes: &Nodes, node: usize) -> (Vec<serde_json::Value>, PathBuf) {
    let text = ok(&nodes.keyward(node, &["audit", "export"]), "audit export");
    let file = nodes.dir.path().join(format!("audit-node{node}.jsonl"));
    std::fs::write(&file, &text).expect("write export");
    let lines = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("export line is JSON"))
        .collect();
    (lines, file)
}

fn node_of(line: &serde_json::Value) -> &str {
    line["node"]
        .as_str()
        .expect("a cluster export names the node")
}

/// (operation, outcome) of every record naming `uid`.
fn records_of(lines: &[serde_json::Value], uid: &str) -> Vec<(String, String)> {
    lines
        .iter()
        .filter(|l| {
            l["record"]["uids"]
                .as_array()
                .is_some_and(|u| u.iter().any(|v| v == uid))
        })
        .map(|l| {
            (
                l["record"]["operation"].as_str().unwrap_or("").to_string(),
                l["record"]["outcome"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

fn merge(nodes: &Nodes, files: &[&Path]) -> Output {
    let mut args = vec!["audit", "merge"];
    let names: Vec<String> = files.iter().map(|f| f.display().to_string()).collect();
    args.extend(names.iter().map(String::as_str));
    nodes.keyward(0, &args)
}

#[test]
fn each_node_records_what_it_served_and_merge_gathers_and_checks_all_chains() {
    if !etcd_or_skip() {
        return;
    }
    let nodes = Nodes::start(3);
    let mut a = nodes.node(0).connect(&nodes.client);
    let mut b = nodes.node(1).connect(&nodes.client);
    let mut c = nodes.node(2).connect(&nodes.client);
    let id = create_aes(&mut a, 256, vec![]);
    let material = get_key(&mut b, &id);
    let activated = c.call(V1_1, op::ACTIVATE, vec![uid(&id)]);
    assert_eq!(result_status(&activated), status::SUCCESS);
    // The key is no longer Fresh: this Get is a read, answered by node B's readers and
    // recorded through its read journal (docs/cluster.md), in B's chain all the same.
    assert_eq!(get_key(&mut b, &id), material);

    let (log_a, file_a) = export(&nodes, 0);
    let (log_b, file_b) = export(&nodes, 1);
    let (log_c, file_c) = export(&nodes, 2);
    // Three chains, three node ids.
    let ids: std::collections::BTreeSet<&str> = [&log_a, &log_b, &log_c]
        .iter()
        .map(|log| node_of(&log[0]))
        .collect();
    assert_eq!(ids.len(), 3, "nodes share an id: {ids:?}");
    // Each node holds what it served, and only that.
    let success = |op: &str| (op.to_string(), "success".to_string());
    assert!(records_of(&log_a, &id).contains(&success("Create")));
    assert!(!records_of(&log_a, &id).contains(&success("Get")));
    let gets_b = records_of(&log_b, &id)
        .iter()
        .filter(|record| **record == success("Get"))
        .count();
    assert_eq!(
        gets_b,
        2,
        "node B served two Gets: {:?}",
        records_of(&log_b, &id)
    );
    assert!(!records_of(&log_b, &id).contains(&success("Create")));
    assert!(records_of(&log_c, &id).contains(&success("Activate")));
    // Every node starts its chain with the master key's unwrap.
    for log in [&log_a, &log_b, &log_c] {
        assert_eq!(log[0]["record"]["operation"], "root.unwrap");
    }
    for node in 0..3 {
        let out = nodes.keyward(node, &["audit", "verify"]);
        ok(&out, "audit verify");
    }
    // No record carries the key's material.
    let hex_material = hex::encode(&material);
    for file in [&file_a, &file_b, &file_c] {
        let text = std::fs::read_to_string(file).unwrap();
        assert!(
            !text.contains(&hex_material),
            "key material in an audit export"
        );
    }

    // One time-ordered stream of all three, every chain checked.
    let out = merge(&nodes, &[&file_a, &file_b, &file_c]);
    let merged = ok(&out, "audit merge");
    let summary = String::from_utf8_lossy(&out.stderr);
    assert_eq!(summary.matches("chain intact").count(), 3, "{summary}");
    let lines: Vec<serde_json::Value> = merged
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), log_a.len() + log_b.len() + log_c.len());
    let times: Vec<i64> = lines
        .iter()
        .map(|l| l["record"]["time_ms"].as_i64().unwrap())
        .collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "not time-ordered");
    let order: Vec<String> = records_of(&lines, &id)
        .into_iter()
        .filter(|(_, outcome)| outcome == "success")
        .map(|(op, _)| op)
        .collect();
    let position = |op: &str| order.iter().position(|o| o == op).unwrap();
    assert!(position("Create") < position("Get") && position("Get") < position("Activate"));

    // A changed record in one node's file is found, and so is a removed one.
    let text_b = std::fs::read_to_string(&file_b).unwrap();
    let changed = text_b.replacen("\"Get\"", "\"Destroy\"", 1);
    assert_ne!(changed, text_b);
    let tampered = nodes.dir.path().join("tampered-b.jsonl");
    std::fs::write(&tampered, changed).unwrap();
    let out = merge(&nodes, &[&file_a, &tampered, &file_c]);
    assert!(!out.status.success(), "a changed record went unnoticed");
    let summary = String::from_utf8_lossy(&out.stderr);
    assert!(summary.contains("BROKEN"), "{summary}");
    assert_eq!(summary.matches("chain intact").count(), 2, "{summary}");

    let mut kept: Vec<&str> = text_b.lines().collect();
    assert!(
        kept.len() >= 3,
        "node B's log is too short to remove a middle record"
    );
    kept.remove(1);
    std::fs::write(&tampered, kept.join("\n")).unwrap();
    let out = merge(&nodes, &[&file_a, &tampered, &file_c]);
    assert!(!out.status.success(), "a removed record went unnoticed");
    assert!(String::from_utf8_lossy(&out.stderr).contains("missing"));

    // The same node's log given twice is refused.
    let out = merge(&nodes, &[&file_a, &file_a]);
    assert!(!out.status.success());
}

#[test]
fn audit_gather_collects_every_running_node_through_etcd_and_names_a_missing_one() {
    if !etcd_or_skip() {
        return;
    }
    let mut nodes = Nodes::start(3);
    let mut a = nodes.node(0).connect(&nodes.client);
    let mut b = nodes.node(1).connect(&nodes.client);
    let id = create_aes(&mut a, 256, vec![]);
    get_key(&mut b, &id);
    let activated = nodes
        .node(2)
        .connect(&nodes.client)
        .call(V1_1, op::ACTIVATE, vec![uid(&id)]);
    assert_eq!(result_status(&activated), status::SUCCESS);

    // Asked on node B, answered by all three.
    let out = nodes.keyward(1, &["audit", "gather", "--wait", "20"]);
    let gathered = ok(&out, "audit gather");
    let summary = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(summary.matches("chain intact").count(), 3, "{summary}");
    let lines: Vec<serde_json::Value> = gathered
        .lines()
        .map(|l| serde_json::from_str(l).expect("gathered line is JSON"))
        .collect();
    let ids: std::collections::BTreeSet<&str> = lines.iter().map(node_of).collect();
    assert_eq!(ids.len(), 3, "{ids:?}");
    let ops: Vec<(String, String)> = records_of(&lines, &id);
    for op in ["Create", "Get", "Activate"] {
        assert!(
            ops.contains(&(op.to_string(), "success".to_string())),
            "{op} missing from the gathered log: {ops:?}"
        );
    }
    // The request and every answer are gone from etcd afterwards (its lease was revoked).
    let config = keyward::config::Config::from_toml(
        &std::fs::read_to_string(&nodes.homes[0].config).unwrap(),
        "node config",
    )
    .unwrap();
    let etcd = keyward::store::etcd::EtcdStore::open(config.cluster.as_ref().unwrap()).unwrap();
    assert!(
        etcd.open_gathers().unwrap().is_empty(),
        "the gather request stayed in etcd"
    );

    // A node that died (no clean stop: its last report still says serving) is named as
    // missing, and the command fails; the others' logs are still printed.
    nodes.kill_node(2);
    let out = nodes.keyward(0, &["audit", "gather", "--wait", "3"]);
    assert!(!out.status.success(), "a missing node went unreported");
    let summary = String::from_utf8_lossy(&out.stderr);
    assert!(summary.contains("did not answer"), "{summary}");
    assert_eq!(summary.matches("chain intact").count(), 2, "{summary}");
    assert!(!out.stdout.is_empty());
}

#[test]
fn without_quorum_a_node_records_what_it_serves_and_refuses() {
    if !etcd_or_skip() {
        return;
    }
    let mut nodes = Nodes::start(3);
    let mut a = nodes.node(0).connect(&nodes.client);
    let id = create_aes(&mut a, 256, vec![]);
    let material = get_key(&mut a, &id);
    nodes.etcd.kill(1);
    nodes.etcd.kill(2);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let bi = a.call(V1_1, op::CREATE, create_aes_payload(256, 12, vec![]));
        if result_status(&bi) != status::SUCCESS {
            break;
        }
        assert!(Instant::now() < deadline, "Creates still accepted");
        std::thread::sleep(Duration::from_millis(100));
    }
    let refused_activate = a.call(V1_1, op::ACTIVATE, vec![uid(&id)]);
    assert_eq!(result_status(&refused_activate), status::OPERATION_FAILED);
    assert_eq!(get_key(&mut a, &id), material);

    // The export goes over the running node's admin socket.
    let (log, _) = export(&nodes, 0);
    let ops = records_of(&log, &id);
    let gets = ops
        .iter()
        .filter(|(op, o)| op == "Get" && o == "success")
        .count();
    assert!(
        gets >= 2,
        "the Get served without quorum is not recorded: {ops:?}"
    );
    assert!(
        ops.contains(&("Activate".to_string(), "failure".to_string())),
        "the refused Activate is not recorded: {ops:?}"
    );
    let refused_creates = log
        .iter()
        .filter(|l| l["record"]["operation"] == "Create" && l["record"]["outcome"] == "failure")
        .count();
    assert!(refused_creates >= 1, "the refused Create is not recorded");
    ok(&nodes.keyward(0, &["audit", "verify"]), "audit verify");
}
