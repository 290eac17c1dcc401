//! Keyward as a cluster on real etcd (three members from Debian's etcd-server, on loopback
//! ports in temp dirs; `scripts/test` installs it): the store directly, then three real `keyward
//! serve` nodes over real mutual TLS. Every etcd and Keyward process is killed by a Drop guard
//! when a test ends, also when it fails.
//!
//! Needs the `etcd` binary (or KEYWARD_TEST_ETCD=/path/to/etcd); fails without it.

mod common;
use common::etcd;
use common::nodes;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use etcd::{EtcdCluster, etcd_or_skip};
use keyward::kmip::tag;
use keyward::store::etcd::{ClusterConfig, EtcdStore};
use keyward::store::{IndexTerm, Store, StoreError, StoredObject};
use keyward::ttlv::{Item, Value};
use nodes::{Nodes, eventually};

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

/// Three etcd members, and the store as two nodes see it (one through member 0, one through
/// member 1); `None` when `etcd_or_skip` says the test is skipped. The stores are dropped
/// before the members (reverse order of the tuple's bindings).
fn three_members_two_stores() -> Option<(EtcdCluster, EtcdStore, EtcdStore)> {
    if !etcd_or_skip() {
        return None;
    }
    let cluster = EtcdCluster::start(3);
    let a = EtcdStore::open(&store_config(&cluster, 0)).unwrap();
    let b = EtcdStore::open(&store_config(&cluster, 1)).unwrap();
    Some((cluster, a, b))
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

// ---- the store on etcd --------------------------------------------------------------------

#[test]
fn store_keeps_objects_index_terms_and_meta_across_nodes() {
    let Some((_cluster, a, b)) = three_members_two_stores() else {
        return;
    };
    let mut txn = a.write().unwrap();
    txn.put(&object("u-2", "alice", 1, &[b"n1"])).unwrap();
    txn.put(&object("u-1", "alice", 1, &[b"n1", b"n2"]))
        .unwrap();
    txn.put(&object("u-3", "bob", 1, &[b"n1"])).unwrap();
    txn.put_meta("m", b"v").unwrap();
    // The transaction sees its own writes before commit.
    assert_eq!(
        txn.find("alice", Some(&IndexTerm(b"n1".to_vec()))).unwrap(),
        vec!["u-1", "u-2"]
    );
    txn.commit().unwrap();
    let view = b.read().unwrap();
    assert_eq!(
        view.get("u-1").unwrap(),
        Some(object("u-1", "alice", 1, &[b"n1", b"n2"]))
    );
    assert_eq!(
        view.find("alice", Some(&IndexTerm(b"n1".to_vec())))
            .unwrap(),
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
        view.find("alice", Some(&IndexTerm(b"n1".to_vec())))
            .unwrap(),
        vec!["u-2"]
    );
    assert_eq!(
        view.find("alice", Some(&IndexTerm(b"n3".to_vec())))
            .unwrap(),
        vec!["u-1"]
    );
    // A dropped transaction leaves nothing.
    let mut txn = a.write().unwrap();
    txn.put(&object("u-9", "alice", 1, &[])).unwrap();
    drop(txn);
    assert!(a.read().unwrap().get("u-9").unwrap().is_none());
}

/// A read through a member that has not applied an acknowledged write yet still sees it: a
/// view's first read is linearizable (the member waits for the leader's commit index). The
/// member is held stopped while the others acknowledge a change, then let go and read through
/// at once; a read served from that member's own state (serializable) answers the version
/// before, and this fails.
/// A watch on a meta value reports another store's change to it, and ends by itself when its
/// hold runs out without one (the client registry's watch, `server/trust_refresh.rs`).
#[test]
fn a_watch_on_a_meta_value_reports_another_nodes_change_and_ends_after_its_hold() {
    let Some((_cluster, a, b)) = three_members_two_stores() else {
        return;
    };
    let mut idle = a
        .watch_meta("watched", Duration::from_millis(800))
        .expect("the etcd store has watches")
        .unwrap();
    // Another key's change is not this watch's business; it ends when its hold runs out.
    let mut txn = b.write().unwrap();
    txn.put_meta("unwatched", b"1").unwrap();
    txn.commit().unwrap();
    assert!(!idle.changed(), "a watch reported a change to another key");
    assert!(!idle.changed(), "an ended watch came back");

    let mut watch = a
        .watch_meta("watched", Duration::from_secs(20))
        .expect("the etcd store has watches")
        .unwrap();
    let mut txn = b.write().unwrap();
    txn.put_meta("watched", b"2").unwrap();
    txn.commit().unwrap();
    // `false` would mean the hold ran out without the change being reported.
    assert!(
        watch.changed(),
        "the change on the other store was not reported"
    );
    assert_eq!(
        a.read().unwrap().get_meta("watched").unwrap(),
        Some(b"2".to_vec())
    );
}

#[test]
fn a_read_through_a_lagging_member_sees_every_acknowledged_write() {
    if !etcd_or_skip() {
        return;
    }
    let cluster = EtcdCluster::start(3);
    let status = EtcdStore::open(&store_config(&cluster, 0))
        .unwrap()
        .member_status();
    let leader = status
        .iter()
        .find_map(|(_, s)| s.as_ref().map(|s| s.leader))
        .expect("a member answers");
    // A follower: stopping the leader would only elect another one.
    let lagging = status
        .iter()
        .position(|(_, s)| s.as_ref().is_some_and(|s| s.header.member_id != leader))
        .expect("a follower");
    let writer = EtcdStore::open(&store_config(&cluster, (lagging + 1) % 3)).unwrap();
    let reader = EtcdStore::open(&store_config(&cluster, lagging)).unwrap();
    for version in 1..=6 {
        cluster.pause(lagging);
        let mut txn = writer.write().unwrap();
        txn.put(&object("u-lag", "alice", version, &[])).unwrap();
        let committed = txn.commit();
        cluster.resume(lagging);
        committed.unwrap();
        // A view pinned when opened; one pinned by its first read (a batch naming nothing);
        // one whose first read fetches the objects a batch names together (one read-only
        // transaction), a missing one too.
        let view = match version % 3 {
            0 => reader.read().unwrap(),
            1 => reader.read_expecting(&[]).unwrap(),
            _ => reader
                .read_expecting(&["u-none".to_string(), "u-lag".to_string()])
                .unwrap(),
        };
        assert!(view.get("u-none").unwrap().is_none());
        let seen = view.get("u-lag").unwrap().map(|o| o.version);
        assert_eq!(
            seen,
            Some(version),
            "a read through member {lagging} missed version {version}, acknowledged before it"
        );
        // The rest of the view is read at the same revision, from the same member.
        assert_eq!(view.find("alice", None).unwrap(), vec!["u-lag".to_string()]);
    }
}

#[test]
fn a_stale_commit_conflicts_and_concurrent_increments_lose_nothing() {
    let Some((_cluster, a, b)) = three_members_two_stores() else {
        return;
    };
    let (a, b) = (Arc::new(a), Arc::new(b));
    let mut txn = a.write().unwrap();
    txn.put(&object("k", "o", 0, &[])).unwrap();
    txn.commit().unwrap();

    // Two nodes read version 0; the second commit must be refused.
    let mut on_a = a.write().unwrap();
    let mut on_b = b.write().unwrap();
    let seen_a = on_a.get("k").unwrap().unwrap();
    let seen_b = on_b.get("k").unwrap().unwrap();
    on_a.put(&object("k", "o", seen_a.version + 1, &[]))
        .unwrap();
    on_b.put(&object("k", "o", seen_b.version + 1, &[]))
        .unwrap();
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
                        txn.put(&object("k", "o", current.version + 1, &[]))
                            .unwrap();
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

/// A new object's UID is claimed, not looked up (`store/etcd/txn.rs`): the claim is a compare
/// in the commit, so two nodes that claim one UID cannot both create it, and a UID already
/// taken makes the commit conflict although the transaction never read it.
#[test]
fn a_claimed_uid_is_checked_by_the_commit() {
    let Some((_cluster, a, b)) = three_members_two_stores() else {
        return;
    };
    let mut on_a = a.write().unwrap();
    let mut on_b = b.write().unwrap();
    assert!(on_a.uid_is_free("new").unwrap());
    assert!(on_b.uid_is_free("new").unwrap());
    // The claim stands inside the transaction: a read of it answers "no such object".
    assert!(on_a.get("new").unwrap().is_none());
    on_a.put(&object("new", "a", 1, &[])).unwrap();
    on_b.put(&object("new", "b", 1, &[])).unwrap();
    on_a.commit().unwrap();
    assert!(matches!(on_b.commit(), Err(StoreError::Conflict(_))));
    assert_eq!(a.read().unwrap().get("new").unwrap().unwrap().owner, "a");

    // Claimed again later, with the object there: the claim itself cannot tell, the commit does.
    let mut late = b.write().unwrap();
    assert!(late.uid_is_free("new").unwrap());
    late.put(&object("new", "b", 1, &[])).unwrap();
    assert!(matches!(late.commit(), Err(StoreError::Conflict(_))));
    assert_eq!(b.read().unwrap().get("new").unwrap().unwrap().owner, "a");
    // What a transaction wrote itself is not free.
    let mut own = a.write().unwrap();
    own.put(&object("mine", "a", 1, &[])).unwrap();
    assert!(!own.uid_is_free("mine").unwrap());
}

#[test]
fn without_quorum_the_store_reads_refuses_writes_and_resumes() {
    if !etcd_or_skip() {
        return;
    }
    let mut cluster = EtcdCluster::start(3);
    let store = EtcdStore::open(&store_config(&cluster, 0)).unwrap();
    let mut txn = store.write().unwrap();
    txn.put(&object("kept", "o", 1, &[b"t"])).unwrap();
    txn.commit().unwrap();
    assert!(store.health().quorum);

    cluster.kill(1);
    cluster.kill(2);
    // A write transaction asks etcd nothing before its first read or its commit: the commit
    // is what is refused.
    let write = |uid: &str| {
        store.write().and_then(|mut txn| {
            txn.put(&object(uid, "o", 1, &[]))?;
            txn.commit()
        })
    };
    eventually(Duration::from_secs(15), "degraded mode", || {
        matches!(write("refused"), Err(StoreError::Unavailable(_)))
    });
    assert!(!store.health().quorum);
    // What the node's cluster service (`keyward::cluster::Cluster::health`) reports.
    let health = store.health();
    assert!(!health.quorum && health.degraded_since.is_some());
    // Existing data is still served from the local member.
    let view = store.read().unwrap();
    assert_eq!(view.get("kept").unwrap().unwrap().version, 1);
    assert_eq!(
        view.find("o", Some(&IndexTerm(b"t".to_vec()))).unwrap(),
        vec!["kept"]
    );
    drop(view);

    cluster.restart(1);
    cluster.restart(2);
    eventually(Duration::from_secs(20), "recovery", || {
        write("after").is_ok()
    });
    assert!(store.health().quorum);
    assert_eq!(
        store.read().unwrap().get("after").unwrap().unwrap().version,
        1
    );
}

// ---- three Keyward nodes ------------------------------------------------------------------

const STATE_DEACTIVATED: u32 = 3;

fn activate(tls: &mut Tls, id: &str) -> Item {
    tls.call(V1_1, op::ACTIVATE, vec![uid(id)])
}

fn revoke(tls: &mut Tls, id: &str) -> Item {
    tls.call(
        V1_1,
        op::REVOKE,
        vec![
            uid(id),
            Item::structure(
                tag::REVOCATION_REASON,
                // Unspecified: not a compromise, so only an Active key may be revoked.
                vec![Item::new(
                    tag::REVOCATION_REASON_CODE,
                    Value::Enumeration(1),
                )],
            ),
        ],
    )
}

fn result_message(bi: &Item) -> String {
    bi.child(tag::RESULT_MESSAGE)
        .map(|m| text_of(m).to_string())
        .unwrap_or_default()
}

#[test]
fn a_key_created_on_one_node_is_served_and_activated_on_another_at_once() {
    if !etcd_or_skip() {
        return;
    }
    let nodes = Nodes::start(3);
    let mut conns: Vec<Tls> = (0..3)
        .map(|i| nodes.node(i).connect(&nodes.client))
        .collect();
    // Every change is read on another node right after it was acknowledged, the roles turning
    // round: each read must see it. A node serving a read from its own etcd member without
    // the leader's confirmation (a follower applies a commit after the leader acknowledged
    // it) answers with the state before, and this fails.
    for round in 0..6 {
        let [a, b, c] = [0, 1, 2].map(|i| (i + round) % 3);
        let id = create_aes(&mut conns[a], 256, vec![]);
        let material = get_key(&mut conns[b], &id);
        assert_eq!(material.len(), 32);
        assert_eq!(
            result_status(&activate(&mut conns[b], &id)),
            status::SUCCESS
        );
        assert_eq!(state_of(&mut conns[c], &id), STATE_ACTIVE, "round {round}");
        assert_eq!(get_key(&mut conns[c], &id), material);
        // The same client sees the same objects everywhere.
        assert!(locate_all(&mut conns[c]).contains(&id));
        assert_eq!(result_status(&revoke(&mut conns[c], &id)), status::SUCCESS);
        assert_eq!(
            state_of(&mut conns[a], &id),
            STATE_DEACTIVATED,
            "round {round}: node {a} missed the revocation acknowledged by node {c}"
        );
    }
    // A client added on node A while the cluster runs (a self-signed certificate, so only the
    // shared registry can make it trusted) is trusted by node C soon after.
    let dir = nodes.dir.path().join("client-late");
    std::fs::create_dir_all(&dir).unwrap();
    let made = rcgen::generate_simple_self_signed(vec!["late.example".to_string()]).unwrap();
    let late = ClientCreds {
        name: "late".into(),
        cert: dir.join("client.crt"),
        key: dir.join("client.key"),
        ca: nodes.client.ca.clone(),
    };
    std::fs::write(&late.cert, made.cert.pem()).unwrap();
    std::fs::write(&late.key, made.signing_key.serialize_pem()).unwrap();
    let trusted = |node: usize| {
        Tls::connect(nodes.node(node).addr, &late)
            .ok()
            .and_then(|mut tls| {
                tls.try_roundtrip(&request(V1_1, vec![BatchItem::new(op::QUERY, vec![])]))
            })
            .is_some()
    };
    assert!(!trusted(2), "an unregistered certificate was accepted");
    nodes::run_ok(
        std::process::Command::new(keyward_bin())
            .args(["client", "add", "--name", "late", "--cert"])
            .arg(&late.cert)
            .arg("--config")
            .arg(&nodes.homes[0].config)
            .arg("--data-dir")
            .arg(&nodes.homes[0].data_dir),
    );
    eventually(
        Duration::from_secs(15),
        "node C trusting the new client",
        || trusted(2),
    );
}

/// vCenter's key-creation sequence (tests/vcenter_replay.rs), every step on the next node
/// round-robin, each on a short connection opened with Discover Versions as vCenter does.
#[test]
fn a_vcenter_sequence_spread_round_robin_across_nodes() {
    if !etcd_or_skip() {
        return;
    }
    let nodes = Nodes::start(3);
    let mut turn = 0usize;
    let mut next = || {
        turn += 1;
        let mut tls = nodes.node(turn % 3).connect(&nodes.client);
        assert!(discover_versions(&mut tls).contains(&(1, 1)));
        tls
    };
    for round in 0..4 {
        let id = create_aes(&mut next(), 256, vec![]);
        let tags = [
            ("x-Product_Version", "7.0.3 build-19480866"),
            ("x-Vendor", "VMware, Inc."),
            ("x-Product", "VMware vSphere"),
        ];
        let items = tags
            .iter()
            .zip(1u32..)
            .map(|((name, value), n)| {
                BatchItem::new(
                    op::ADD_ATTRIBUTE,
                    vec![
                        uid(&id),
                        attribute(name, Value::TextString(value.to_string())),
                    ],
                )
                .with_id(&qlkc(n))
            })
            .collect();
        let resp = next().roundtrip(&request(V1_1, items));
        for bi in batch_items(&resp) {
            assert_eq!(result_status(bi), status::SUCCESS, "round {round}: {bi:?}");
        }
        let material = get_key(&mut next(), &id);
        assert_eq!(result_status(&activate(&mut next(), &id)), status::SUCCESS);
        assert_eq!(state_of(&mut next(), &id), STATE_ACTIVE);
        assert_eq!(get_key(&mut next(), &id), material);
        let attrs = attributes_of(&success_payload(&get_attributes(
            &mut next(),
            &id,
            &["x-Vendor", "x-Product"],
        )));
        assert_eq!(attrs.len(), 2, "custom attributes replicated: {attrs:?}");
    }
}

#[test]
fn with_one_node_and_its_etcd_member_down_the_others_serve() {
    if !etcd_or_skip() {
        return;
    }
    let mut nodes = Nodes::start(3);
    let before = create_aes(&mut nodes.node(2).connect(&nodes.client), 256, vec![]);
    nodes.kill_node(2);
    nodes.etcd.kill(2);
    let mut a = nodes.node(0).connect(&nodes.client);
    let mut b = nodes.node(1).connect(&nodes.client);
    assert_eq!(get_key(&mut a, &before).len(), 32);
    for _ in 0..5 {
        let id = create_aes(&mut a, 256, vec![]);
        assert_eq!(get_key(&mut b, &id).len(), 32);
        assert_eq!(result_status(&activate(&mut b, &id)), status::SUCCESS);
    }
}

#[test]
fn without_etcd_quorum_keys_are_served_creates_refused_and_service_resumes() {
    if !etcd_or_skip() {
        return;
    }
    let mut nodes = Nodes::start(3);
    let mut a = nodes.node(0).connect(&nodes.client);
    // Never fetched: its first Get would clear Fresh, which degraded mode cannot store.
    let fresh = create_aes(&mut a, 256, vec![]);
    let fetched = create_aes(&mut a, 256, vec![]);
    let material = get_key(&mut a, &fetched);
    nodes.etcd.kill(1);
    nodes.etcd.kill(2);

    let mut refusal = None;
    eventually(Duration::from_secs(20), "Create refused", || {
        let bi = a.call(V1_1, op::CREATE, create_aes_payload(256, 12, vec![]));
        if result_status(&bi) == status::SUCCESS {
            return false;
        }
        refusal = Some(bi);
        true
    });
    let refusal = refusal.unwrap();
    let text = result_message(&refusal);
    assert!(text.contains("quorum"), "unclear refusal: {text:?}");
    // Existing keys are still served by every surviving node: Get, Get Attributes, Locate.
    assert_eq!(get_key(&mut a, &fetched), material);
    assert_eq!(get_key(&mut a, &fresh).len(), 32);
    let mut b = nodes.node(1).connect(&nodes.client);
    assert_eq!(get_key(&mut b, &fetched), material);
    assert_eq!(state_of(&mut b, &fetched), STATE_PRE_ACTIVE);
    assert!(locate_all(&mut b).contains(&fresh));
    // Changes to existing keys are refused too.
    let bi = activate(&mut b, &fetched);
    assert_eq!(result_status(&bi), status::OPERATION_FAILED);
    assert!(result_message(&bi).contains("quorum"));
    // The line names the members this node lost, not just the last endpoint it tried. (A
    // leader election between the two kills may have logged an earlier episode too.)
    let log = nodes.node(0).log();
    let names_both = |line: &&str| {
        line.contains("DEGRADED")
            && line.contains("lost 2 of 3 etcd member(s)")
            && [1, 2]
                .iter()
                .all(|&lost| line.contains(&nodes.etcd.members[lost].client_url))
    };
    assert!(
        log.lines().any(|line| names_both(&line)),
        "no DEGRADED line naming both lost members:\n{log}"
    );

    nodes.etcd.restart(1);
    nodes.etcd.restart(2);
    eventually(Duration::from_secs(30), "Create accepted again", || {
        let bi = a.call(V1_1, op::CREATE, create_aes_payload(256, 12, vec![]));
        result_status(&bi) == status::SUCCESS
    });
    // Every node resumes by itself (each probes its own members first).
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let bi = b.call(V1_1, op::CREATE, create_aes_payload(256, 12, vec![]));
        if result_status(&bi) == status::SUCCESS {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "node B did not resume within 30 s: {bi:?}\nlogs:\n{}",
            nodes.problems()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let bi = activate(&mut b, &fetched);
    assert_eq!(
        result_status(&bi),
        status::SUCCESS,
        "{bi:?}\nlogs:\n{}",
        nodes.problems()
    );
    assert!(nodes.node(0).log().contains("quorum is back"));
}

/// Two connections on each of two nodes add attributes to one key at once: groups of one node
/// are in flight against etcd together (`server/cluster_committer.rs`), so they conflict with
/// each other as well as with the other node's; a group whose guard fails runs again, and no
/// update is lost. Each acknowledged change is read back at once on the third node, through
/// its readers (`server/cluster_reader.rs`): a read after an acknowledged write sees it.
#[test]
fn concurrent_add_attribute_on_one_key_from_two_nodes_loses_nothing() {
    if !etcd_or_skip() {
        return;
    }
    let nodes = Nodes::start(3);
    let id = create_aes(&mut nodes.node(0).connect(&nodes.client), 256, vec![]);
    const EACH: usize = 10;
    std::thread::scope(|scope| {
        for writer in 0..4 {
            let (nodes, id) = (&nodes, &id);
            scope.spawn(move || {
                let mut tls = nodes.node(writer % 2).connect(&nodes.client);
                let mut reader = nodes.node(2).connect(&nodes.client);
                for i in 0..EACH {
                    let name = format!("x-writer{writer}-{i}");
                    let bi = tls.call(
                        V1_1,
                        op::ADD_ATTRIBUTE,
                        vec![uid(id), attribute(&name, Value::TextString("v".into()))],
                    );
                    assert_eq!(
                        result_status(&bi),
                        status::SUCCESS,
                        "{bi:?}\nlogs:\n{}",
                        nodes.problems()
                    );
                    let seen = reader.call(V1_1, op::GET_ATTRIBUTES, vec![uid(id)]);
                    assert!(
                        attributes_of(&success_payload(&seen))
                            .iter()
                            .any(|(have, _)| *have == name),
                        "{name} was acknowledged on node {} but a later read on node 2 missed it",
                        writer % 2
                    );
                }
            });
        }
    });
    let bi = nodes
        .node(2)
        .connect(&nodes.client)
        .call(V1_1, op::GET_ATTRIBUTES, vec![uid(&id)]);
    let names: Vec<String> = attributes_of(&success_payload(&bi))
        .into_iter()
        .map(|(name, _)| name)
        .filter(|name| name.starts_with("x-writer"))
        .collect();
    for writer in 0..4 {
        for i in 0..EACH {
            let want = format!("x-writer{writer}-{i}");
            assert!(names.contains(&want), "{want} was lost; have {names:?}");
        }
    }
}

// ---- linearizability of a recorded concurrent history --------------------------------------

/// One completed operation on one key, with the client-observed interval.
#[derive(Clone, Debug)]
struct Event {
    key: usize,
    op: Op,
    invoke: Duration,
    response: Duration,
    ok: bool,
    /// For Get: the State read.
    read: Option<u32>,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Op {
    Create,
    Activate,
    Revoke,
    Get,
}

/// The sequential model of one key: a register holding its state (0 = not yet created).
/// Returns the next state when `event`'s outcome is what the model allows, else `None`.
fn step(state: u32, event: &Event) -> Option<u32> {
    match event.op {
        Op::Create => (state == 0 && event.ok).then_some(STATE_PRE_ACTIVE),
        Op::Activate if state == STATE_PRE_ACTIVE => event.ok.then_some(STATE_ACTIVE),
        Op::Revoke if state == STATE_ACTIVE => event.ok.then_some(STATE_DEACTIVATED),
        Op::Activate | Op::Revoke => (!event.ok).then_some(state),
        Op::Get => (event.ok && event.read == Some(state)).then_some(state),
    }
}

/// Wing & Gong's search with memoisation (as in Lowe's refinement): some order of the events
/// that respects real time (an event that responded before another was invoked comes first)
/// is a valid sequential run of the model. Keys are independent registers, so checking each
/// key alone is enough (linearizability is compositional).
fn linearizable(events: &[Event]) -> bool {
    fn search(
        events: &[Event],
        done: u64,
        state: u32,
        seen: &mut std::collections::HashSet<(u64, u32)>,
    ) -> bool {
        let all = if events.len() == 64 {
            u64::MAX
        } else {
            (1u64 << events.len()) - 1
        };
        if done == all {
            return true;
        }
        if !seen.insert((done, state)) {
            return false;
        }
        let pending = (0..events.len()).filter(|i| done & (1 << i) == 0);
        let first_response = pending
            .clone()
            .map(|i| events[i].response)
            .min()
            .unwrap_or_default();
        for i in pending {
            // Only an event invoked before every other pending one responded can go next.
            if events[i].invoke <= first_response
                && let Some(next) = step(state, &events[i])
                && search(events, done | (1 << i), next, seen)
            {
                return true;
            }
        }
        false
    }
    assert!(events.len() <= 64, "history too long for the checker");
    search(events, 0, 0, &mut std::collections::HashSet::new())
}

fn check_history(history: &[Event], keys: usize) -> Result<(), String> {
    for key in 0..keys {
        let events: Vec<Event> = history.iter().filter(|e| e.key == key).cloned().collect();
        if !linearizable(&events) {
            return Err(format!("key {key}: not linearizable: {events:#?}"));
        }
    }
    Ok(())
}

#[test]
fn the_checker_rejects_a_lost_update_and_a_stale_read() {
    let at = |ms| Duration::from_millis(ms);
    let event = |op, invoke, response, ok, read| Event {
        key: 0,
        op,
        invoke: at(invoke),
        response: at(response),
        ok,
        read,
    };
    let create = event(Op::Create, 0, 1, true, None);
    // Two overlapping Activates: exactly one may succeed.
    let one_wins = vec![
        create.clone(),
        event(Op::Activate, 2, 5, true, None),
        event(Op::Activate, 3, 6, false, None),
    ];
    assert!(linearizable(&one_wins));
    let both_win = vec![
        create.clone(),
        event(Op::Activate, 2, 5, true, None),
        event(Op::Activate, 3, 6, true, None),
    ];
    assert!(!linearizable(&both_win), "a lost update passed");
    // A read after an acknowledged Activate must not see Pre-Active.
    let stale = vec![
        create,
        event(Op::Activate, 2, 3, true, None),
        event(Op::Get, 4, 5, true, Some(STATE_PRE_ACTIVE)),
    ];
    assert!(!linearizable(&stale), "a stale read passed");
}

#[test]
fn a_concurrent_history_across_three_nodes_is_linearizable() {
    if !etcd_or_skip() {
        return;
    }
    let nodes = Nodes::start(3);
    const KEYS: usize = 3;
    const OPS_EACH: usize = 12;
    let start = Instant::now();
    let uids: Vec<std::sync::Mutex<Option<String>>> =
        (0..KEYS).map(|_| std::sync::Mutex::new(None)).collect();
    let created = std::sync::Barrier::new(KEYS);
    let history = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for t in 0..KEYS {
            let (nodes, uids, created, history) = (&nodes, &uids, &created, &history);
            scope.spawn(move || {
                let mut tls = nodes.node(t).connect(&nodes.client);
                let record = |key, op, invoke, ok, read| {
                    history.lock().unwrap().push(Event {
                        key,
                        op,
                        invoke,
                        response: start.elapsed(),
                        ok,
                        read,
                    })
                };
                let invoke = start.elapsed();
                let id = create_aes(&mut tls, 256, vec![]);
                record(t, Op::Create, invoke, true, None);
                *uids[t].lock().unwrap() = Some(id);
                created.wait();
                let mut seed = 0x9E37_79B9_7F4A_7C15u64 ^ (t as u64 + 1);
                for _ in 0..OPS_EACH {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    let key = (seed % KEYS as u64) as usize;
                    let id = uids[key].lock().unwrap().clone().expect("published");
                    let invoke = start.elapsed();
                    match (seed >> 8) % 3 {
                        0 => {
                            let ok = result_status(&activate(&mut tls, &id)) == status::SUCCESS;
                            record(key, Op::Activate, invoke, ok, None);
                        }
                        1 => {
                            let ok = result_status(&revoke(&mut tls, &id)) == status::SUCCESS;
                            record(key, Op::Revoke, invoke, ok, None);
                        }
                        _ => {
                            let state = state_of(&mut tls, &id);
                            record(key, Op::Get, invoke, true, Some(state));
                        }
                    }
                }
            });
        }
    });
    let history = history.into_inner().unwrap();
    assert_eq!(history.len(), KEYS * (1 + OPS_EACH));
    if let Err(why) = check_history(&history, KEYS) {
        panic!("{why}");
    }
}

// ---- migration from a single appliance, status ---------------------------------------------

#[test]
fn a_single_appliance_migrates_into_a_cluster_keeping_every_uid() {
    if !etcd_or_skip() {
        return;
    }
    let mut single = Appliance::new(&["vcenter"]);
    let creds = single.creds("vcenter").clone();
    let mut server = single.start();
    let mut tls = server.connect(&creds);
    let keys: Vec<(String, Vec<u8>)> = (0..3)
        .map(|i| {
            let id = create_aes(&mut tls, 256, vec![name_attribute(&format!("disk-{i}"))]);
            let material = get_key(&mut tls, &id);
            (id, material)
        })
        .collect();
    drop(tls);
    assert!(server.terminate().success());

    let etcd = EtcdCluster::start(3);
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("node.toml");
    nodes::write_config(&config, &etcd.endpoints(), "/migrated/");
    let data_dir = dir.path().join("node");
    let out = nodes::run_ok(
        std::process::Command::new(keyward_bin())
            .args(["cluster", "migrate", "--from-data-dir"])
            .arg(&single.data_dir)
            .arg("--config")
            .arg(&config)
            .arg("--data-dir")
            .arg(&data_dir),
    );
    assert!(out.contains("copied 3 object(s)"), "{out}");
    let node = spawn_server(
        std::process::Command::new(keyward_bin())
            .arg("serve")
            .arg("--config")
            .arg(&config)
            .arg("--data-dir")
            .arg(&data_dir)
            .args(["--listen", "127.0.0.1:0"]),
        &dir.path().join("node.log"),
    );
    // The vCenter trusted by the appliance connects with the same certificate and CA.
    let mut tls = node.connect(&creds);
    for (i, (id, material)) in keys.iter().enumerate() {
        assert_eq!(&get_key(&mut tls, id), material, "key {id} changed");
        assert_eq!(
            locate_by_name(&mut tls, &format!("disk-{i}")),
            vec![id.clone()]
        );
    }
    // A second migration into the same cluster is refused.
    let again = std::process::Command::new(keyward_bin())
        .args(["cluster", "migrate", "--from-data-dir"])
        .arg(&single.data_dir)
        .arg("--config")
        .arg(&config)
        .arg("--data-dir")
        .arg(dir.path().join("other"))
        .output()
        .unwrap();
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("new cluster"));

    let status = nodes::run_ok(
        std::process::Command::new(keyward_bin())
            .args(["cluster", "status", "--config"])
            .arg(&config)
            .arg("--data-dir")
            .arg(&data_dir),
    );
    assert_eq!(status.matches(" up ").count(), 3, "{status}");
    assert!(status.contains("leader"), "{status}");
    assert!(status.contains("this node: healthy"), "{status}");
}

// ---- rates, next to a single appliance (heavy: run by hand) --------------------------------

/// Creates then Gets from `threads` clients, spread round-robin over `servers`; returns
/// (creates per second, gets per second).
fn rates(servers: &[&Server], creds: &ClientCreds, threads: usize, each: usize) -> (f64, f64) {
    let ids = std::sync::Mutex::new(Vec::new());
    let started = Instant::now();
    std::thread::scope(|scope| {
        for t in 0..threads {
            let (ids, server) = (&ids, servers[t % servers.len()]);
            scope.spawn(move || {
                let mut tls = server.connect(creds);
                for _ in 0..each {
                    let id = create_aes(&mut tls, 256, vec![]);
                    ids.lock().unwrap().push(id);
                }
            });
        }
    });
    let create_rate = (threads * each) as f64 / started.elapsed().as_secs_f64();
    let ids = ids.into_inner().unwrap();
    let started = Instant::now();
    std::thread::scope(|scope| {
        for t in 0..threads {
            let (ids, server) = (&ids, servers[(t + 1) % servers.len()]);
            scope.spawn(move || {
                let mut tls = server.connect(creds);
                for id in ids.iter().skip(t).step_by(threads) {
                    assert_eq!(get_key(&mut tls, id).len(), 32);
                }
            });
        }
    });
    let get_rate = ids.len() as f64 / started.elapsed().as_secs_f64();
    (create_rate, get_rate)
}

/// `cargo test --release --test cluster -- --ignored --nocapture rates`
#[test]
#[ignore = "benchmark: run by hand, see docs/cluster.md"]
fn rates_of_a_three_node_cluster_next_to_a_single_appliance() {
    if !etcd_or_skip() {
        return;
    }
    const THREADS: usize = 6;
    const EACH: usize = 50;
    let mut single = Appliance::new(&["vcenter"]);
    single.set_log_filter("warn");
    let creds = single.creds("vcenter").clone();
    let server = single.start();
    let (single_create, single_get) = rates(&[&server], &creds, THREADS, EACH);
    drop(server);
    let quiet = "[log]\nlevel = \"warn\"\n";
    let (cluster_create, cluster_get) = {
        let nodes = Nodes::start_with(3, quiet);
        let servers: Vec<&Server> = (0..3).map(|i| nodes.node(i)).collect();
        rates(&servers, &nodes.client, THREADS, EACH)
    };
    // The same cluster without the per-node audit log: what the local record costs.
    let (unaudited_create, unaudited_get) = {
        let nodes = Nodes::start_with(3, &format!("{quiet}[audit]\nenabled = false\n"));
        let servers: Vec<&Server> = (0..3).map(|i| nodes.node(i)).collect();
        rates(&servers, &nodes.client, THREADS, EACH)
    };
    println!("{THREADS} clients x {EACH} keys, same run:");
    println!("single appliance (redb): create {single_create:.0}/s, get {single_get:.0}/s");
    println!("3-node cluster (etcd):   create {cluster_create:.0}/s, get {cluster_get:.0}/s");
    println!(
        "3-node cluster, audit log off: create {unaudited_create:.0}/s, get {unaudited_get:.0}/s"
    );
    println!(
        "cluster / single: create {:.2}, get {:.2}",
        cluster_create / single_create,
        cluster_get / single_get
    );
}
