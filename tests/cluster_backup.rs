//! Backups of a cluster (issue 11): the etcd store scans every object and meta key at the one
//! revision its read view is pinned at, page by page; `keyward backup export` against a running
//! cluster node writes a consistent snapshot while another node keeps creating keys, and the
//! file restores into a single appliance. Real etcd members and `keyward serve` nodes on
//! loopback; Drop guards stop every process, also when a test fails.
//!
//! Needs the `etcd` binary (or KEYWARD_TEST_ETCD=/path/to/etcd); fails without it.

mod common;
use common::etcd;
use common::nodes;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::*;
use etcd::{EtcdCluster, etcd_or_skip};
use keyward::store::etcd::{ClusterConfig, EtcdStore, SCAN_PAGE};
use keyward::store::{Store, StoredObject};
use nodes::{Nodes, run_ok};

const PASSPHRASE: &str = "correct horse battery staple";

fn store_config(cluster: &EtcdCluster) -> ClusterConfig {
    ClusterConfig {
        endpoints: cluster.endpoints(),
        prefix: "/backup-test/".into(),
        request_timeout_ms: 2000,
        max_txn_ops: etcd::MAX_TXN_OPS,
        ..ClusterConfig::default()
    }
}

fn object(uid: &str, version: u64) -> StoredObject {
    StoredObject {
        uid: uid.into(),
        owner: "scan".into(),
        version,
        metadata: version.to_be_bytes().to_vec(),
        sealed_material: Some(vec![9; 40]),
        index_terms: Vec::new(),
    }
}

fn put_all(store: &EtcdStore, objects: impl IntoIterator<Item = StoredObject>) {
    let mut txn = store.write().expect("write");
    for object in objects {
        txn.put(&object).expect("put");
    }
    txn.commit().expect("commit");
}

/// UID `i` of a scan test, in an order unrelated to the order they are written in.
fn scan_uid(i: usize) -> String {
    format!("u-{:06}", (i * 7919) % 100_000)
}

fn scan_all(view: &dyn keyward::store::ReadView) -> Vec<StoredObject> {
    let mut seen = Vec::new();
    view.scan_objects(&mut |object| {
        seen.push(object);
        true
    })
    .expect("scan");
    seen
}

#[test]
fn a_scan_returns_one_revision_in_uid_order_across_pages() {
    if !etcd_or_skip() {
        return;
    }
    let cluster = EtcdCluster::start(3);
    let store = EtcdStore::open(&store_config(&cluster)).expect("open");
    let count = 2 * SCAN_PAGE + 37;
    put_all(&store, (0..count).map(|i| object(&scan_uid(i), 1)));
    {
        let mut txn = store.write().expect("write");
        txn.put_meta("scan.before", b"1").expect("meta");
        txn.commit().expect("commit");
    }
    let view = store.read().expect("view");
    // Written after the view was taken, between and around the UIDs it holds: no page of the
    // scan may show them, nor the new version of an old object.
    put_all(
        &store,
        (0..count)
            .step_by(5)
            .map(|i| object(&format!("{}-later", scan_uid(i)), 1))
            .chain([object(&scan_uid(0), 2), object("u-999999", 1)]),
    );
    {
        let mut txn = store.write().expect("write");
        txn.put_meta("scan.after", b"1").expect("meta");
        txn.commit().expect("commit");
    }

    let seen = scan_all(&*view);
    let uids: Vec<&str> = seen.iter().map(|o| o.uid.as_str()).collect();
    let mut expected: Vec<String> = (0..count).map(scan_uid).collect();
    expected.sort();
    assert_eq!(
        uids, expected,
        "not the pinned snapshot in ascending UID order"
    );
    assert!(seen.iter().all(|o| o.version == 1 && o.owner == "scan"));
    assert_eq!(seen[0], object(&expected[0], 1));

    let mut meta = BTreeMap::new();
    view.scan_meta(&mut |key, value| {
        meta.insert(key.to_string(), value.to_vec());
        true
    })
    .expect("meta scan");
    assert_eq!(meta.get("scan.before"), Some(&b"1".to_vec()));
    assert!(
        !meta.contains_key("scan.after"),
        "meta written after the view"
    );
    assert!(
        meta.contains_key("store.schema_version"),
        "{:?}",
        meta.keys()
    );

    // Stopping early stops the paging too.
    let mut visited = 0;
    view.scan_objects(&mut |_| {
        visited += 1;
        visited < SCAN_PAGE + 3
    })
    .expect("scan");
    assert_eq!(visited, SCAN_PAGE + 3);

    // A new view sees everything.
    let now = scan_all(&*store.read().expect("view"));
    assert_eq!(now.len(), count + count.div_ceil(5) + 1);
    assert!(now.windows(2).all(|w| w[0].uid < w[1].uid));
}

/// Inside a write transaction a scan (required of every store's views, issue 20) sees the
/// transaction's own writes laid over its snapshot, in UID order, and guards what it scanned:
/// a key another writer adds under the scanned prefix makes the commit conflict.
#[test]
fn a_scan_inside_a_transaction_sees_its_own_writes_and_conflicts_with_a_concurrent_add() {
    if !etcd_or_skip() {
        return;
    }
    let cluster = EtcdCluster::start(1);
    let store = EtcdStore::open(&store_config(&cluster)).expect("open");
    put_all(&store, [object("b", 1), object("d", 1)]);

    let mut txn = store.write().expect("write");
    let started_at = txn.change_sequence().expect("sequence");
    assert_eq!(
        started_at,
        store
            .read()
            .expect("read")
            .change_sequence()
            .expect("sequence"),
        "a transaction's change sequence is the revision it started from"
    );
    for written in [object("a", 1), object("d", 2), object("e", 1)] {
        txn.put(&written).expect("put");
    }
    txn.put_meta("scan.test", b"own").expect("put meta");
    let seen: Vec<(String, u64)> = scan_all(&*txn)
        .into_iter()
        .map(|o| (o.uid, o.version))
        .collect();
    let expected: Vec<(String, u64)> = [("a", 1), ("b", 1), ("d", 2), ("e", 1)]
        .into_iter()
        .map(|(uid, version)| (uid.to_string(), version))
        .collect();
    assert_eq!(seen, expected);
    let mut first_two = Vec::new();
    txn.scan_objects(&mut |o| {
        first_two.push(o.uid);
        first_two.len() < 2
    })
    .expect("scan");
    assert_eq!(first_two, ["a", "b"], "a scan stops when told to");
    let mut meta = BTreeMap::new();
    txn.scan_meta(&mut |key, value| {
        meta.insert(key.to_string(), value.to_vec());
        true
    })
    .expect("scan meta");
    assert_eq!(meta.get("scan.test").map(Vec::as_slice), Some(&b"own"[..]));

    put_all(&store, [object("c", 1)]);
    assert!(
        matches!(txn.commit(), Err(keyward::store::StoreError::Conflict(_))),
        "an object added under the scanned prefix conflicts"
    );
    let after: Vec<String> = scan_all(&*store.read().expect("read"))
        .into_iter()
        .map(|o| o.uid)
        .collect();
    assert_eq!(
        after,
        ["b", "c", "d"],
        "the conflicting transaction wrote nothing"
    );
}

#[test]
fn a_scan_of_a_compacted_revision_fails_clearly() {
    if !etcd_or_skip() {
        return;
    }
    let cluster = EtcdCluster::start(1);
    let store = EtcdStore::open(&store_config(&cluster)).expect("open");
    put_all(&store, (0..10).map(|i| object(&scan_uid(i), 1)));
    let view = store.read().expect("view");
    put_all(&store, (0..10).map(|i| object(&scan_uid(i), 2)));
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(5)))
        .build()
        .new_agent();
    let url = format!("{}/v3/kv/range", cluster.endpoints()[0]);
    let head: serde_json::Value = agent
        .post(&url)
        .send_json(serde_json::json!({"key": "AA==", "count_only": true}))
        .expect("range")
        .body_mut()
        .read_json()
        .expect("json");
    let revision = head["header"]["revision"]
        .as_str()
        .expect("revision")
        .to_string();
    agent
        .post(&format!("{}/v3/kv/compaction", cluster.endpoints()[0]))
        .send_json(serde_json::json!({"revision": revision, "physical": true}))
        .expect("compaction");
    let err = view
        .scan_objects(&mut |_| true)
        .expect_err("a compacted revision cannot be read");
    let text = err.to_string();
    assert!(
        text.contains("compacted") && text.contains("start it again"),
        "unclear error: {text}"
    );
}

// ---- keyward backup export against a running cluster node -------------------------------

fn create(tls: &mut Tls) -> String {
    create_aes(tls, 256, vec![])
}

fn ok(cmd: &mut Command) -> String {
    run_ok(cmd)
}

fn restore_and_start(file: &Path, pass: &Path) -> (Appliance, Server, std::path::PathBuf) {
    let mut fresh = Appliance::new(&[]);
    fresh.set_log_filter("info");
    let restored = fresh.root.path().join("restored");
    let out = ok(Command::new(keyward_bin())
        .args(["restore", "--root", "local", "--from"])
        .arg(file)
        .arg("--data-dir")
        .arg(&restored)
        .arg("--passphrase-file")
        .arg(pass));
    assert!(out.contains("restored"), "{out}");
    fresh.data_dir = restored.clone();
    let server = fresh.start();
    (fresh, server, restored)
}

#[test]
fn an_online_export_from_a_busy_cluster_restores_a_consistent_snapshot() {
    if !etcd_or_skip() {
        return;
    }
    let nodes = Nodes::start(3);
    let creds = nodes.client.clone();
    let mut before: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    for node in [0, 1] {
        let mut tls = nodes.node(node).connect(&creds);
        for _ in 0..8 {
            let id = create(&mut tls);
            let material = get_key(&mut tls, &id);
            before.insert(id, material);
        }
    }
    let pass = nodes.dir.path().join("passphrase");
    std::fs::write(&pass, format!("{PASSPHRASE}\n")).expect("passphrase file");
    let file = nodes.dir.path().join("cluster.kwbackup");
    let acked = Mutex::new(Vec::<String>::new());
    let stop = AtomicBool::new(false);
    let mut acked_before_export = Vec::new();
    let mut export_out = String::new();
    std::thread::scope(|s| {
        let writer = s.spawn(|| {
            let mut tls = Tls::connect(nodes.node(2).addr, &creds).expect("connect to C");
            let deadline = Instant::now() + IO_BOUND;
            while !stop.load(Ordering::SeqCst) && Instant::now() < deadline {
                let id = create(&mut tls);
                acked.lock().expect("lock").push(id);
            }
        });
        let deadline = Instant::now() + IO_BOUND;
        while acked.lock().expect("lock").len() < 10 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        acked_before_export = acked.lock().expect("lock").clone();
        let started = Instant::now();
        export_out = ok(Command::new(keyward_bin())
            .args(["backup", "export", "--test-only-weak-kdf", "--out"])
            .arg(&file)
            .arg("--passphrase-file")
            .arg(&pass)
            .arg("--config")
            .arg(&nodes.homes[1].config)
            .arg("--data-dir")
            .arg(&nodes.homes[1].data_dir));
        eprintln!("export took {:.1} s", started.elapsed().as_secs_f64());
        stop.store(true, Ordering::SeqCst);
        writer.join().expect("writer thread");
    });
    let acked_total: BTreeSet<String> = acked.lock().expect("lock").iter().cloned().collect();
    assert!(
        acked_before_export.len() >= 10,
        "the writer made too few keys"
    );
    assert!(
        nodes.node(1).log().contains("exporting a backup"),
        "the export did not go through node B's server"
    );
    assert!(export_out.contains("object(s)"), "{export_out}");
    // The cluster's own material of the keys node C acknowledged before the export.
    {
        let mut tls = nodes.node(0).connect(&creds);
        for id in &acked_before_export {
            let material = get_key(&mut tls, id);
            before.insert(id.clone(), material);
        }
    }
    // Status on a cluster node keeps working after a backup (no change counter there).
    let status = ok(Command::new(keyward_bin())
        .arg("status")
        .arg("--config")
        .arg(&nodes.homes[1].config)
        .arg("--data-dir")
        .arg(&nodes.homes[1].data_dir));
    assert!(status.contains("last backup"), "{status}");
    // ... and counts the objects changed since the backup's snapshot (etcd revisions).
    let changed_since = || -> u64 {
        let json = ok(Command::new(keyward_bin())
            .args(["status", "--json", "--config"])
            .arg(&nodes.homes[1].config)
            .arg("--data-dir")
            .arg(&nodes.homes[1].data_dir));
        let value: serde_json::Value = serde_json::from_str(&json).expect("status JSON");
        value["keys_changed_since_backup"]
            .as_u64()
            .unwrap_or_else(|| panic!("no change count on a cluster: {json}"))
    };
    let changed_before = changed_since();
    {
        let mut tls = nodes.node(2).connect(&creds);
        for _ in 0..3 {
            create_aes(&mut tls, 256, vec![]);
        }
    }
    assert_eq!(changed_since(), changed_before + 3);
    // The cluster's CA (its key sealed under the cluster's master key) stays out of the
    // file; the client registry goes in.
    let mut reader = keyward::backup::reader::BackupReader::open(
        std::fs::File::open(&file).expect("open backup"),
        PASSPHRASE.as_bytes(),
    )
    .expect("read backup");
    let mut meta_keys = Vec::new();
    while let Some(record) = reader.next_record().expect("record") {
        if let keyward::backup::record::Record::Meta { key, .. } = record {
            meta_keys.push(key);
        }
    }
    assert!(
        meta_keys.iter().any(|k| k == "clients.registry"),
        "{meta_keys:?}"
    );
    assert!(
        !meta_keys.iter().any(|k| k.starts_with("cluster.")),
        "{meta_keys:?}"
    );
    let all_acked: BTreeSet<&String> = before.keys().chain(acked_total.iter()).collect();
    let (_fresh, restored_server, restored) = restore_and_start(&file, &pass);
    let mut tls = restored_server.connect(&ClientCreds {
        ca: restored.join("ca.crt"),
        ..creds.clone()
    });
    for (id, material) in &before {
        assert_eq!(
            &get_key(&mut tls, id),
            material,
            "{id}, acknowledged before the export, after the restore"
        );
    }
    let restored_uids = locate_all(&mut tls);
    for id in &restored_uids {
        assert!(
            all_acked.contains(id),
            "restored {id} was never acknowledged"
        );
    }
    let count = restored_uids.len();
    assert!(
        count >= before.len() && count <= 16 + acked_total.len(),
        "restored {count} keys: not between {} (acknowledged before) and {} (by the end)",
        before.len(),
        16 + acked_total.len()
    );
    eprintln!(
        "restored {count} keys; {} acknowledged before the export, {} by its end",
        before.len(),
        16 + acked_total.len()
    );
}
