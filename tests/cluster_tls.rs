//! The etcd store over mutual TLS (`[cluster] ca_file`, `cert_file`, `key_file`): three real
//! etcd members serving clients on https with `--client-cert-auth`, certificates made by the
//! test. The right client certificate works from any member; no certificate, a certificate of
//! another CA, or a CA that did not sign the members fail fast with an error about TLS or the
//! certificate. Loopback only; the Drop guard stops etcd.
//!
//! Needs the `etcd` binary (or KEYWARD_TEST_ETCD=/path/to/etcd); fails without it.

mod common;
use common::etcd;
use common::nodes;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::*;

use etcd::{EtcdCluster, EtcdTls, etcd_or_skip};
use keyward::store::etcd::{ClusterConfig, EtcdStore};
use keyward::store::{Store, StoredObject};
use nodes::run_ok;

/// A refused handshake is answered in milliseconds; this only catches a hang.
const FAIL_FAST: Duration = Duration::from_secs(15);

fn config(
    cluster: &EtcdCluster,
    first: usize,
    ca: &Path,
    client: Option<(&PathBuf, &PathBuf)>,
) -> ClusterConfig {
    ClusterConfig {
        endpoints: cluster.endpoints_from(first),
        prefix: "/tls-test/".into(),
        ca_file: Some(ca.to_path_buf()),
        cert_file: client.map(|(cert, _)| cert.clone()),
        key_file: client.map(|(_, key)| key.clone()),
        request_timeout_ms: 1500,
        probe_interval_ms: 200,
        max_txn_ops: etcd::MAX_TXN_OPS,
    }
}

/// Opening with `config` fails, soon, and says why in terms of TLS or certificates.
fn refused(config: &ClusterConfig, what: &str) -> String {
    let started = Instant::now();
    let err = match EtcdStore::open(config) {
        Ok(_) => panic!("{what}: the store opened"),
        Err(e) => e.to_string(),
    };
    assert!(
        started.elapsed() < FAIL_FAST,
        "{what}: took {:?} to fail",
        started.elapsed()
    );
    eprintln!("{what}: {err}");
    let lower = err.to_lowercase();
    assert!(
        lower.contains("tls") && lower.contains("certificate"),
        "{what}: the error does not say TLS and certificate: {err}"
    );
    err
}

#[test]
fn the_store_talks_to_etcd_over_mutual_tls_and_refuses_wrong_certificates() {
    if !etcd_or_skip() {
        return;
    }
    let certs = tempfile::tempdir().expect("temp dir");
    let tls = EtcdTls::generate(certs.path());
    let cluster = EtcdCluster::start_tls(3, &tls);
    assert!(
        cluster
            .endpoints()
            .iter()
            .all(|e| e.starts_with("https://"))
    );
    let good = Some((&tls.client_cert, &tls.client_key));

    let a = EtcdStore::open(&config(&cluster, 0, &tls.ca, good)).expect("open through m0");
    let b = EtcdStore::open(&config(&cluster, 1, &tls.ca, good)).expect("open through m1");
    let object = StoredObject {
        uid: "tls-1".into(),
        owner: "o".into(),
        version: 1,
        metadata: b"meta".to_vec(),
        sealed_material: Some(vec![3; 40]),
        index_terms: Vec::new(),
    };
    let mut txn = a.write().expect("write");
    txn.put(&object).expect("put");
    txn.put_meta("tls.meta", b"v").expect("put meta");
    txn.commit().expect("commit over TLS");
    let view = b.read().expect("read");
    assert_eq!(view.get("tls-1").expect("get"), Some(object));
    assert_eq!(
        view.get_meta("tls.meta").expect("meta"),
        Some(b"v".to_vec())
    );
    drop(view);
    assert!(b.health().quorum);

    refused(&config(&cluster, 0, &tls.ca, None), "no client certificate");
    refused(
        &config(
            &cluster,
            0,
            &tls.ca,
            Some((&tls.foreign_cert, &tls.foreign_key)),
        ),
        "a client certificate of another CA",
    );
    refused(
        &config(&cluster, 0, &tls.foreign_ca, good),
        "a CA file that did not sign the members",
    );
}

/// A node's configuration file: the members' https URLs (its own first) and the TLS files.
fn write_node_config(path: &Path, cluster: &EtcdCluster, first: usize, tls: &EtcdTls) {
    nodes::write_config_with(
        path,
        &cluster.endpoints_from(first),
        "/tls-nodes/",
        &format!(
            "ca_file = \"{}\"\ncert_file = \"{}\"\nkey_file = \"{}\"\n",
            tls.ca.display(),
            tls.client_cert.display(),
            tls.client_key.display(),
        ),
    );
}

#[test]
fn keyward_nodes_configured_for_mutual_tls_share_keys() {
    if !etcd_or_skip() {
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let tls = EtcdTls::generate(dir.path());
    let cluster = EtcdCluster::start_tls(3, &tls);
    let homes: Vec<(PathBuf, PathBuf)> = (0..2)
        .map(|i| {
            let config = dir.path().join(format!("node{i}.toml"));
            write_node_config(&config, &cluster, i, &tls);
            (config, dir.path().join(format!("node{i}")))
        })
        .collect();
    let setup = |cmd: &mut Command, (config, data_dir): &(PathBuf, PathBuf)| {
        run_ok(
            cmd.arg("--config")
                .arg(config)
                .arg("--data-dir")
                .arg(data_dir),
        )
    };
    setup(
        Command::new(keyward_bin()).args(["cluster", "init"]),
        &homes[0],
    );
    let out = dir.path().join("client");
    setup(
        Command::new(keyward_bin())
            .args(["client", "issue", "--name", "vcenter", "--out"])
            .arg(&out),
        &homes[0],
    );
    setup(
        Command::new(keyward_bin())
            .args(["cluster", "join", "--root-key-file"])
            .arg(homes[0].1.join("root.key")),
        &homes[1],
    );
    let creds = ClientCreds {
        name: "vcenter".into(),
        cert: out.join("client.crt"),
        key: out.join("client.key"),
        ca: out.join("ca.crt"),
    };
    let servers: Vec<Server> = homes
        .iter()
        .enumerate()
        .map(|(i, (config, data_dir))| {
            spawn_server(
                Command::new(keyward_bin())
                    .arg("serve")
                    .arg("--config")
                    .arg(config)
                    .arg("--data-dir")
                    .arg(data_dir)
                    .args(["--listen", "127.0.0.1:0"]),
                &dir.path().join(format!("node{i}.log")),
            )
        })
        .collect();
    let id = create_aes(&mut servers[0].connect(&creds), 256, vec![]);
    let material = get_key(&mut servers[0].connect(&creds), &id);
    assert_eq!(material.len(), 32);
    assert_eq!(get_key(&mut servers[1].connect(&creds), &id), material);
}
