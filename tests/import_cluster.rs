//! `keyward import kmip` on a Keyward cluster (issue 19): run on one node, the keys land in the
//! shared etcd store and every node serves them by their old UIDs. The old server is another
//! Keyward appliance, so only etcd is needed (or KEYWARD_TEST_ETCD=/path/to/etcd).

mod common;
use common::etcd;
use common::nodes;

use std::process::{Command, Stdio};

use common::*;
use etcd::etcd_or_skip;
use keyward::kmip::tag;
use nodes::Nodes;

fn find_item(item: &keyward::ttlv::Item, wanted: u32) -> Option<&keyward::ttlv::Item> {
    if item.tag == wanted {
        return Some(item);
    }
    item.children().iter().find_map(|c| find_item(c, wanted))
}

fn material(tls: &mut Tls, uid_text: &str) -> Vec<u8> {
    let payload = success_payload(&tls.call(V1_1, op::GET, vec![uid(uid_text)]));
    bytes_of(find_item(&payload, tag::KEY_MATERIAL).expect("Key Material")).to_vec()
}

#[test]
fn an_import_on_one_node_is_served_by_every_node() {
    if !etcd_or_skip() {
        return;
    }
    // The old KMS: a Keyward appliance whose client "vcenter" made three keys.
    let mut old = Appliance::new(&["vcenter"]);
    let old_server = old.start();
    let old_vcenter = old.creds("vcenter").clone();
    let mut tls = old_server.connect(&old_vcenter);
    let mut keys = Vec::new();
    for _ in 0..3 {
        let payload =
            success_payload(&tls.call(V1_1, op::CREATE, create_aes_payload(256, 0x0C, vec![])));
        let uid_text = text_of(payload.child(tag::UNIQUE_IDENTIFIER).expect("UID")).to_string();
        success_payload(&tls.call(V1_1, op::ACTIVATE, vec![uid(&uid_text)]));
        keys.push((uid_text.clone(), material(&mut tls, &uid_text)));
    }
    drop(tls);

    // Two nodes; the cluster's client "vcenter" has the same identity (CN=vcenter).
    let nodes = Nodes::start(2);
    let out = Command::new(keyward_bin())
        .args(["import", "kmip", "--server"])
        .arg(format!("127.0.0.1:{}", old_server.addr.port()))
        .arg("--ca")
        .arg(&old_vcenter.ca)
        .arg("--cert")
        .arg(&old_vcenter.cert)
        .arg("--key")
        .arg(&old_vcenter.key)
        .args(["--all", "--owner", "vcenter", "--json", "--config"])
        .arg(&nodes.homes[0].config)
        .arg("--data-dir")
        .arg(&nodes.homes[0].data_dir)
        .stdin(Stdio::null())
        .output()
        .expect("run import");
    assert!(
        out.status.success(),
        "import on node 0 failed:\n{}\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        nodes.problems()
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON report");
    assert_eq!(report["counts"]["imported"], 3, "{report}");

    for node in 0..2 {
        let mut vcenter = nodes.node(node).connect(&nodes.client);
        for (uid_text, expected) in &keys {
            assert_eq!(
                &material(&mut vcenter, uid_text),
                expected,
                "node {node} serves {uid_text}"
            );
        }
    }
}
