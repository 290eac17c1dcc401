use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

use super::*;

fn temp_store() -> (tempfile::TempDir, PathBuf, RedbStore) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("keyward.redb");
    let store = RedbStore::open(&path).unwrap();
    (dir, path, store)
}

fn object(uid: &str, owner: &str, terms: &[&[u8]]) -> StoredObject {
    StoredObject {
        uid: uid.into(),
        owner: owner.into(),
        version: 1,
        metadata: format!("meta of {uid}").into_bytes(),
        sealed_material: Some(format!("sealed {uid}").into_bytes()),
        index_terms: terms.iter().map(|t| IndexTerm(t.to_vec())).collect(),
    }
}

fn term(bytes: &[u8]) -> IndexTerm {
    IndexTerm(bytes.to_vec())
}

fn put_all(store: &RedbStore, objects: &[StoredObject]) {
    let mut txn = store.write().unwrap();
    for o in objects {
        txn.put(o).unwrap();
    }
    txn.commit().unwrap();
}

#[test]
fn new_file_is_0600_and_records_the_schema_version() {
    let (_dir, path, store) = temp_store();
    assert_eq!(
        std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let version = store.read().unwrap().get_meta(META_SCHEMA_VERSION).unwrap();
    assert_eq!(version, Some(SCHEMA_VERSION.to_be_bytes().to_vec()));
    assert!(!store.repaired_on_open());
}

#[test]
fn put_get_find_round_trip() {
    let (_dir, _path, store) = temp_store();
    let a = object("uid-b", "alice", &[b"name:k1", b"x-tag:1"]);
    let b = object("uid-a", "alice", &[b"name:k2"]);
    let mut destroyed = object("uid-c", "alice", &[b"name:k1"]);
    destroyed.sealed_material = None;
    put_all(&store, &[a.clone(), b.clone(), destroyed.clone()]);

    let view = store.read().unwrap();
    assert_eq!(view.get("uid-b").unwrap(), Some(a));
    assert_eq!(view.get("uid-a").unwrap(), Some(b));
    assert_eq!(view.get("uid-c").unwrap(), Some(destroyed));
    assert_eq!(view.get("uid-zzz").unwrap(), None);
    assert_eq!(
        view.find("alice", None).unwrap(),
        vec!["uid-a", "uid-b", "uid-c"]
    );
    assert_eq!(
        view.find("alice", Some(&term(b"name:k1"))).unwrap(),
        vec!["uid-b", "uid-c"]
    );
    assert_eq!(
        view.find("alice", Some(&term(b"x-tag:1"))).unwrap(),
        vec!["uid-b"]
    );
    assert!(
        view.find("alice", Some(&term(b"name:k")))
            .unwrap()
            .is_empty()
    );
    assert!(
        view.find("alice", Some(&term(b"name:k10")))
            .unwrap()
            .is_empty()
    );
}

#[test]
fn put_replaces_old_index_entries() {
    let (_dir, _path, store) = temp_store();
    put_all(&store, &[object("u1", "alice", &[b"name:old", b"keep"])]);
    let mut updated = object("u1", "alice", &[b"name:new", b"keep"]);
    updated.version = 2;
    put_all(&store, &[updated.clone()]);

    let view = store.read().unwrap();
    assert!(
        view.find("alice", Some(&term(b"name:old")))
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        view.find("alice", Some(&term(b"name:new"))).unwrap(),
        vec!["u1"]
    );
    assert_eq!(
        view.find("alice", Some(&term(b"keep"))).unwrap(),
        vec!["u1"]
    );
    assert_eq!(view.find("alice", None).unwrap(), vec!["u1"]);
    assert_eq!(view.get("u1").unwrap(), Some(updated));
}

#[test]
fn put_with_a_new_owner_moves_the_owner_index_entry() {
    let (_dir, _path, store) = temp_store();
    put_all(&store, &[object("u1", "alice", &[b"t"])]);
    put_all(&store, &[object("u1", "bob", &[b"t"])]);
    let view = store.read().unwrap();
    assert!(view.find("alice", None).unwrap().is_empty());
    assert!(view.find("alice", Some(&term(b"t"))).unwrap().is_empty());
    assert_eq!(view.find("bob", Some(&term(b"t"))).unwrap(), vec!["u1"]);
}

#[test]
fn find_is_isolated_by_owner() {
    let (_dir, _path, store) = temp_store();
    // "a" is a byte prefix of "ab": the owner encoding must still keep them apart.
    put_all(
        &store,
        &[
            object("u1", "a", &[b"name:k"]),
            object("u2", "ab", &[b"name:k"]),
            object("u3", "b", &[b"name:k"]),
            object("u4", "", &[b"name:k"]),
        ],
    );
    let view = store.read().unwrap();
    assert_eq!(view.find("a", None).unwrap(), vec!["u1"]);
    assert_eq!(view.find("ab", None).unwrap(), vec!["u2"]);
    assert_eq!(view.find("b", Some(&term(b"name:k"))).unwrap(), vec!["u3"]);
    assert_eq!(view.find("", Some(&term(b"name:k"))).unwrap(), vec!["u4"]);
    assert!(view.find("c", None).unwrap().is_empty());
}

#[test]
fn write_txn_reads_its_own_writes_and_readers_do_not() {
    let (_dir, _path, store) = temp_store();
    let mut txn = store.write().unwrap();
    txn.put(&object("u1", "alice", &[b"t"])).unwrap();
    txn.put_meta("k", b"v").unwrap();
    assert_eq!(txn.get("u1").unwrap().map(|o| o.uid), Some("u1".into()));
    assert_eq!(txn.find("alice", Some(&term(b"t"))).unwrap(), vec!["u1"]);
    assert_eq!(txn.get_meta("k").unwrap(), Some(b"v".to_vec()));

    // A concurrent reader sees the last commit, not the open transaction.
    let view = store.read().unwrap();
    assert_eq!(view.get("u1").unwrap(), None);
    assert_eq!(view.get_meta("k").unwrap(), None);
    txn.commit().unwrap();
    assert_eq!(
        view.get("u1").unwrap(),
        None,
        "snapshot changed under a reader"
    );
    assert!(store.read().unwrap().get("u1").unwrap().is_some());
}

#[test]
fn dropped_txn_leaves_nothing() {
    let (_dir, path, store) = temp_store();
    {
        let mut txn = store.write().unwrap();
        txn.put(&object("u1", "alice", &[b"t"])).unwrap();
        txn.put_meta("k", b"v").unwrap();
    }
    let view = store.read().unwrap();
    assert_eq!(view.get("u1").unwrap(), None);
    assert!(view.find("alice", None).unwrap().is_empty());
    assert!(view.find("alice", Some(&term(b"t"))).unwrap().is_empty());
    assert_eq!(view.get_meta("k").unwrap(), None);
    drop(view);
    drop(store);
    let reopened = RedbStore::open(&path).unwrap();
    assert_eq!(reopened.read().unwrap().get("u1").unwrap(), None);
}

#[test]
fn committed_data_survives_reopen() {
    let (_dir, path, store) = temp_store();
    let objects: Vec<_> = (0..50)
        .map(|i| {
            object(
                &format!("uid-{i:03}"),
                if i % 2 == 0 { "even" } else { "odd" },
                &[b"all"],
            )
        })
        .collect();
    put_all(&store, &objects);
    {
        let mut txn = store.write().unwrap();
        txn.put_meta("seal.master_key.wrapped", &[7; 61]).unwrap();
        txn.commit().unwrap();
    }
    drop(store);

    let reopened = RedbStore::open(&path).unwrap();
    assert!(
        !reopened.repaired_on_open(),
        "a clean close must not need repair"
    );
    let view = reopened.read().unwrap();
    for o in &objects {
        assert_eq!(view.get(&o.uid).unwrap().as_ref(), Some(o));
    }
    assert_eq!(view.find("even", None).unwrap().len(), 25);
    assert_eq!(view.find("odd", Some(&term(b"all"))).unwrap().len(), 25);
    assert_eq!(
        view.get_meta("seal.master_key.wrapped").unwrap(),
        Some(vec![7; 61])
    );
}

#[test]
fn schema_version_from_the_future_is_refused() {
    let (_dir, path, store) = temp_store();
    drop(store);
    {
        // Straight into the file: the store's own writes never change its version key.
        let db = ::redb::Database::create(&path).unwrap();
        let txn = db.begin_write().unwrap();
        txn.open_table(META)
            .unwrap()
            .insert(
                META_SCHEMA_VERSION,
                (SCHEMA_VERSION + 1).to_be_bytes().as_slice(),
            )
            .unwrap();
        txn.commit().unwrap();
    }
    match RedbStore::open(&path) {
        Err(StoreError::UnsupportedSchema { found, supported }) => {
            assert_eq!(found, SCHEMA_VERSION + 1);
            assert_eq!(supported, SCHEMA_VERSION);
        }
        Err(other) => panic!("wrong error: {other}"),
        Ok(_) => panic!("a future schema was accepted"),
    }
}

#[test]
fn second_open_of_the_same_file_is_refused_clearly() {
    let (_dir, path, _store) = temp_store();
    let err = RedbStore::open(&path).err().expect("second open succeeded");
    assert!(err.to_string().contains("already open"), "{err}");
}

#[test]
fn check_integrity_passes_on_a_healthy_store() {
    let (_dir, _path, mut store) = temp_store();
    put_all(&store, &[object("u1", "alice", &[b"t"])]);
    assert!(store.check_integrity().unwrap());
    assert!(store.read().unwrap().get("u1").unwrap().is_some());
}

#[test]
fn open_fails_cleanly_on_a_file_that_is_not_a_database() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("not.redb");
    std::fs::write(&path, vec![0x5A; 8192]).unwrap();
    assert!(RedbStore::open(&path).is_err());
}

/// Set in the child process of `reopens_after_the_process_dies_without_closing`.
const CRASH_CHILD_ENV: &str = "KEYWARD_STORE_CRASH_CHILD_DB";

/// In the child: commits objects, then aborts the process so redb never closes the file.
/// In a normal test run this does nothing.
#[test]
fn crash_child_commits_then_aborts() {
    let Some(path) = std::env::var_os(CRASH_CHILD_ENV) else {
        return;
    };
    let store = RedbStore::open(std::path::Path::new(&path)).unwrap();
    put_all(
        &store,
        &[object("u1", "alice", &[b"t"]), object("u2", "alice", &[])],
    );
    // An open, uncommitted transaction at the moment of death must leave no trace.
    let mut txn = store.write().unwrap();
    txn.put(&object("u3", "alice", &[b"t"])).unwrap();
    std::process::abort();
}

#[test]
fn reopens_after_the_process_dies_without_closing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("keyward.redb");
    let status = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "store::redb::tests::crash_child_commits_then_aborts",
            "--nocapture",
        ])
        .env(CRASH_CHILD_ENV, &path)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(!status.success(), "child was expected to abort");

    let mut store = RedbStore::open(&path).unwrap();
    assert!(
        store.repaired_on_open(),
        "redb did not notice the unclean shutdown"
    );
    {
        let view = store.read().unwrap();
        assert_eq!(view.find("alice", None).unwrap(), vec!["u1", "u2"]);
        assert_eq!(view.find("alice", Some(&term(b"t"))).unwrap(), vec!["u1"]);
        assert_eq!(
            view.get("u1").unwrap(),
            Some(object("u1", "alice", &[b"t"]))
        );
        assert_eq!(view.get("u3").unwrap(), None);
    }
    assert!(store.check_integrity().unwrap());
    // Still writable, and a clean close afterwards needs no repair.
    put_all(&store, &[object("u4", "alice", &[])]);
    drop(store);
    let store = RedbStore::open(&path).unwrap();
    assert!(!store.repaired_on_open());
    assert!(store.read().unwrap().get("u4").unwrap().is_some());
}

/// Random puts across few owners, UIDs and terms, checked against a plain in-memory model after
/// every transaction, then again after a reopen: catches stale or missing index entries that the
/// hand-written cases above might not think of.
#[test]
fn index_matches_a_naive_model_under_random_updates() {
    use std::collections::{BTreeMap, BTreeSet};

    let (_dir, path, store) = temp_store();
    let owners = ["a", "ab", "b"];
    let terms: [&[u8]; 4] = [b"t", b"tt", b"name:x", b""];
    let mut model: BTreeMap<String, StoredObject> = BTreeMap::new();
    // xorshift: deterministic, so a failure reproduces.
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = move |n: u64| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state % n
    };

    let check = |store: &RedbStore, model: &BTreeMap<String, StoredObject>| {
        let view = store.read().unwrap();
        for owner in owners {
            let expected: Vec<_> = model
                .values()
                .filter(|o| o.owner == owner)
                .map(|o| o.uid.clone())
                .collect();
            assert_eq!(view.find(owner, None).unwrap(), expected, "owner {owner}");
            for t in terms {
                let expected: Vec<_> = model
                    .values()
                    .filter(|o| o.owner == owner && o.index_terms.contains(&term(t)))
                    .map(|o| o.uid.clone())
                    .collect();
                assert_eq!(
                    view.find(owner, Some(&term(t))).unwrap(),
                    expected,
                    "owner {owner} term {t:?}"
                );
            }
        }
        for object in model.values() {
            assert_eq!(view.get(&object.uid).unwrap().as_ref(), Some(object));
        }
    };

    for round in 0..40 {
        let mut txn = store.write().unwrap();
        let mut staged = model.clone();
        for _ in 0..1 + next(4) {
            let uid = format!("uid-{}", next(12));
            let chosen: BTreeSet<&[u8]> = (0..next(4)).map(|_| terms[next(4) as usize]).collect();
            let mut object = object(
                &uid,
                owners[next(3) as usize],
                &chosen.into_iter().collect::<Vec<_>>(),
            );
            object.version = round;
            txn.put(&object).unwrap();
            staged.insert(uid, object);
        }
        // Every fifth transaction is abandoned: the model must not change either.
        if round % 5 == 4 {
            drop(txn);
        } else {
            txn.commit().unwrap();
            model = staged;
        }
        check(&store, &model);
    }
    drop(store);
    check(&RedbStore::open(&path).unwrap(), &model);
}

#[test]
fn auto_verifies_small_files_at_every_start_and_large_ones_only_after_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    let small = dir.path().join("small.redb");
    std::fs::write(&small, [0u8; 4096]).unwrap();
    let large = dir.path().join("large.redb");
    // Sparse: the length is what counts, no disk is used.
    std::fs::File::create(&large)
        .unwrap()
        .set_len(AUTO_VERIFY_MAX_BYTES + 1)
        .unwrap();
    assert!(verify_after_clean_shutdown(&small, VerifyAtStart::Auto));
    assert!(!verify_after_clean_shutdown(&large, VerifyAtStart::Auto));
    assert!(verify_after_clean_shutdown(&large, VerifyAtStart::Always));
    assert!(!verify_after_clean_shutdown(
        &small,
        VerifyAtStart::AfterCrash
    ));
}

#[test]
fn verify_at_start_reads_from_the_configuration() {
    for (text, expected) in [
        ("always", VerifyAtStart::Always),
        ("after-crash", VerifyAtStart::AfterCrash),
        ("auto", VerifyAtStart::Auto),
    ] {
        let config: crate::config::Config =
            toml::from_str(&format!("[store]\nverify_at_start = \"{text}\"\n")).unwrap();
        assert_eq!(config.store.verify_at_start, expected);
    }
    let refused: Result<crate::config::Config, _> =
        toml::from_str("[store]\nverify_at_start = \"sometimes\"\n");
    assert!(refused.is_err());
}
