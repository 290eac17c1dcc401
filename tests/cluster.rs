//! Keyward as a cluster on real etcd (three members from Debian's etcd-server, on loopback
//! ports in temp dirs; `.ci/run` installs it): the store directly, then three real `keyward
//! serve` nodes over real mutual TLS. Every etcd and Keyward process is killed by a Drop guard
//! when a test ends, also when it fails.
//!
//! Needs the `etcd` binary (or KEYWARD_TEST_ETCD=/path/to/etcd); fails without it.

mod common;
#[path = "support/etcd.rs"]
mod etcd;
#[path = "support/nodes.rs"]
mod nodes;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use etcd::{EtcdCluster, etcd_available};
use keyward::kmip::tag;
use keyward::store::etcd::{ClusterConfig, EtcdStore};
use keyward::store::{IndexTerm, Store, StoreError, StoredObject};
use keyward::ttlv::{Item, Value};
use nodes::Nodes;

fn require_etcd() {
    assert!(
        etcd_available(),
        "the cluster tests need etcd (apt-get install etcd-server; .ci/run does it)"
    );
}

fn store_config(cluster: &EtcdCluster, first: usize) -> ClusterConfig {
    ClusterConfig {
        endpoints: cluster.endpoints_from(first),
        prefix: "/store-test/".into(),
        request_timeout_ms: 1000,
        probe_interval_ms: 200,
        max_txn_ops: etcd::MAX_TXN_OPS,
        ..ClusterConfig::default()
    }
}

fn object(uid: &str, owner: &str, version: u64, terms: &[&[u8]]) -> StoredObject {
    StoredObject {
        uid: uid.into(),
        owner: owner.into(),
        version,
        metadata: version.to_be_bytes().to_vec(),
        sealed_material: Some(vec![7; 40]),
        index_terms: terms.iter().map(|t| IndexTerm(t.to_vec())).collect(),
    }
}

/// Runs `f` until it returns true, at most `bound`; panics with `what` otherwise.
fn eventually(bound: Duration, what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + bound;
    while !f() {
        assert!(Instant::now() < deadline, "{what} did not happen within {bound:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

// ---- the store on etcd --------------------------------------------------------------------

#[test]
fn store_keeps_objects_index_terms_and_meta_across_nodes() {
    require_etcd();
    let cluster = EtcdCluster::start(3);
    let a = EtcdStore::open(&store_config(&cluster, 0)).unwrap();
    let b = EtcdStore::open(&store_config(&cluster, 1)).unwrap();
    let mut txn = a.write().unwrap();
    txn.put(&object("u-2", "alice", 1, &[b"n1"])).unwrap();
    txn.put(&object("u-1", "alice", 1, &[b"n1", b"n2"])).unwrap();
    txn.put(&object("u-3", "bob", 1, &[b"n1"])).unwrap();
    txn.put_meta("m", b"v").unwrap();
    // The transaction sees its own writes before commit.
    assert_eq!(
        txn.find("alice", Some(&IndexTerm(b"n1".to_vec()))).unwrap(),
        vec!["u-1", "u-2"]
    );
    txn.commit().unwrap();
    let view = b.read().unwrap();
    assert_eq!(view.get("u-1").unwrap(), Some(object("u-1", "alice", 1, &[b"n1", b"n2"])));
    assert_eq!(
        view.find("alice", Some(&IndexTerm(b"n1".to_vec()))).unwrap(),
        vec!["u-1", "u-2"]
    );
    assert_eq!(view.find("bob", None).unwrap(), vec!["u-3"]);
    assert_eq!(view.get_meta("m").unwrap(), Some(b"v".to_vec()));
    drop(view);
    // Replacing an object replaces its index terms.
    let mut txn = b.write().unwrap();
    txn.put(&object("u-1", "alice", 2, &[b"n3"])).unwrap();
    txn.commit().unwrap();
    let view = a.read().unwrap();
    assert_eq!(
        view.find("alice", Some(&IndexTerm(b"n1".to_vec()))).unwrap(),
        vec!["u-2"]
    );
    assert_eq!(
        view.find("alice", Some(&IndexTerm(b"n3".to_vec()))).unwrap(),
        vec!["u-1"]
    );
    // A dropped transaction leaves nothing.
    let mut txn = a.write().unwrap();
    txn.put(&object("u-9", "alice", 1, &[])).unwrap();
    drop(txn);
    assert!(a.read().unwrap().get("u-9").unwrap().is_none());
}

#[test]
fn a_stale_commit_conflicts_and_concurrent_increments_lose_nothing() {
    require_etcd();
    let cluster = EtcdCluster::start(3);
    let a = Arc::new(EtcdStore::open(&store_config(&cluster, 0)).unwrap());
    let b = Arc::new(EtcdStore::open(&store_config(&cluster, 1)).unwrap());
    let mut txn = a.write().unwrap();
    txn.put(&object("k", "o", 0, &[])).unwrap();
    txn.commit().unwrap();

    // Two nodes read version 0; the second commit must be refused.
    let mut on_a = a.write().unwrap();
    let mut on_b = b.write().unwrap();
    let seen_a = on_a.get("k").unwrap().unwrap();
    let seen_b = on_b.get("k").unwrap().unwrap();
    on_a.put(&object("k", "o", seen_a.version + 1, &[])).unwrap();
    on_b.put(&object("k", "o", seen_b.version + 1, &[])).unwrap();
    on_a.commit().unwrap();
    assert!(matches!(on_b.commit(), Err(StoreError::Conflict(_))));

    // Read-modify-write from two nodes at once, retrying on Conflict as the committer does.
    const EACH: u64 = 15;
    let workers: Vec<_> = [a.clone(), b.clone()]
        .into_iter()
        .map(|store| {
            std::thread::spawn(move || {
                let mut conflicts = 0;
                for _ in 0..EACH {
                    loop {
                        let mut txn = store.write().unwrap();
                        let current = txn.get("k").unwrap().unwrap();
                        txn.put(&object("k", "o", current.version + 1, &[])).unwrap();
                        match txn.commit() {
                            Ok(()) => break,
                            Err(StoreError::Conflict(_)) => conflicts += 1,
                            Err(e) => panic!("commit failed: {e}"),
                        }
                    }
                }
                conflicts
            })
        })
        .collect();
    let conflicts: u32 = workers.into_iter().map(|w| w.join().unwrap()).sum();
    let last = a.read().unwrap().get("k").unwrap().unwrap();
    assert_eq!(last.version, 1 + 2 * EACH, "an increment was lost");
    eprintln!("{conflicts} conflict(s) retried");
}

#[test]
fn without_quorum_the_store_reads_refuses_writes_and_resumes() {
    require_etcd();
    let mut cluster = EtcdCluster::start(3);
    let store = EtcdStore::open(&store_config(&cluster, 0)).unwrap();
    let mut txn = store.write().unwrap();
    txn.put(&object("kept", "o", 1, &[b"t"])).unwrap();
    txn.commit().unwrap();
    assert!(store.health().quorum);

    cluster.kill(1);
    cluster.kill(2);
    eventually(Duration::from_secs(15), "degraded mode", || {
        matches!(store.write().map(|_| ()), Err(StoreError::Unavailable(_)))
    });
    assert!(!store.health().quorum);
    // Existing data is still served from the local member.
    let view = store.read().unwrap();
    assert_eq!(view.get("kept").unwrap().unwrap().version, 1);
    assert_eq!(view.find("o", Some(&IndexTerm(b"t".to_vec()))).unwrap(), vec!["kept"]);
    drop(view);

    cluster.restart(1);
    cluster.restart(2);
    eventually(Duration::from_secs(20), "recovery", || store.write().is_ok());
    let mut txn = store.write().unwrap();
    txn.put(&object("after", "o", 1, &[])).unwrap();
    txn.commit().unwrap();
    assert!(store.health().quorum);
}
