//! The master key kept in a real redb store: opened twice it is the same key, a wrong root key
//! is an error and never a new master key.

use crate::seal::local::{FILE_PROVIDER, LocalRoot};
use crate::seal::{META_MASTER_KEY_PROVIDER, META_WRAPPED_MASTER_KEY, SealError};
use crate::store::Store;
use crate::store::redb::RedbStore;

use super::open_master_key;

fn wrapped_in(store: &RedbStore) -> Option<Vec<u8>> {
    store
        .read()
        .unwrap()
        .get_meta(META_WRAPPED_MASTER_KEY)
        .unwrap()
}

#[test]
fn opening_twice_returns_the_same_key_even_after_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let db_path = dir.path().join("keyward.redb");
    let root_path = dir.path().join("root.key");
    let store = RedbStore::open(&db_path).unwrap();
    let root = LocalRoot::open_or_create(&root_path).unwrap();

    let first = open_master_key(&store, &root).unwrap();
    let wrapped = wrapped_in(&store).expect("master key not stored");
    assert_eq!(wrapped.len(), 1 + 12 + 32 + 16);
    let provider = store
        .read()
        .unwrap()
        .get_meta(META_MASTER_KEY_PROVIDER)
        .unwrap();
    assert_eq!(provider.as_deref(), Some(FILE_PROVIDER.as_bytes()));

    let second = open_master_key(&store, &root).unwrap();
    assert_eq!(
        wrapped_in(&store),
        Some(wrapped.clone()),
        "master key was replaced"
    );
    let sealed = first.seal(b"uid|1", b"key material").unwrap();
    assert_eq!(
        second.unseal(b"uid|1", &sealed).unwrap().as_slice(),
        b"key material"
    );

    drop(store);
    let store = RedbStore::open(&db_path).unwrap();
    let root = LocalRoot::open_or_create(&root_path).unwrap();
    let third = open_master_key(&store, &root).unwrap();
    assert_eq!(
        third.unseal(b"uid|1", &sealed).unwrap().as_slice(),
        b"key material"
    );
}

#[test]
fn two_fresh_stores_get_different_master_keys() {
    let dir = tempfile::tempdir().unwrap();
    let root = LocalRoot::open_or_create(&dir.path().join("root.key")).unwrap();
    let a = RedbStore::open(&dir.path().join("a.redb")).unwrap();
    let b = RedbStore::open(&dir.path().join("b.redb")).unwrap();
    let sealed = open_master_key(&a, &root).unwrap().seal(b"", b"m").unwrap();
    let other = open_master_key(&b, &root).unwrap();
    assert!(matches!(
        other.unseal(b"", &sealed),
        Err(SealError::Authentication)
    ));
}

#[test]
fn wrong_root_key_is_a_clear_error_and_never_a_new_master_key() {
    let dir = tempfile::tempdir().unwrap();
    let store = RedbStore::open(&dir.path().join("keyward.redb")).unwrap();
    let right = LocalRoot::open_or_create(&dir.path().join("root.key")).unwrap();
    open_master_key(&store, &right).unwrap();
    let before = wrapped_in(&store);

    let wrong = LocalRoot::open_or_create(&dir.path().join("other.key")).unwrap();
    let err = open_master_key(&store, &wrong).unwrap_err();
    assert!(matches!(err, SealError::Provider { .. }), "{err}");
    assert!(err.to_string().contains("does not open"), "{err}");
    assert_eq!(wrapped_in(&store), before, "stored master key changed");
}

#[test]
fn wrong_passphrase_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let store = RedbStore::open(&dir.path().join("keyward.redb")).unwrap();
    let params = dir.path().join("root.kdf.json");
    let right = LocalRoot::from_passphrase(b"right", &params).unwrap();
    let key = open_master_key(&store, &right).unwrap();
    let sealed = key.seal(b"a", b"b").unwrap();

    let wrong = LocalRoot::from_passphrase(b"wrong", &params).unwrap();
    let err = open_master_key(&store, &wrong).unwrap_err();
    assert!(err.to_string().contains("passphrase"), "{err}");
    let again = LocalRoot::from_passphrase(b"right", &params).unwrap();
    let key = open_master_key(&store, &again).unwrap();
    assert_eq!(key.unseal(b"a", &sealed).unwrap().as_slice(), b"b");
}

#[test]
fn a_different_provider_kind_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let store = RedbStore::open(&dir.path().join("keyward.redb")).unwrap();
    let file_root = LocalRoot::open_or_create(&dir.path().join("root.key")).unwrap();
    open_master_key(&store, &file_root).unwrap();
    let passphrase_root =
        LocalRoot::from_passphrase(b"pass", &dir.path().join("root.kdf.json")).unwrap();
    let err = open_master_key(&store, &passphrase_root).unwrap_err();
    assert!(err.to_string().contains("\"local\""), "{err}");
}

#[test]
fn half_written_meta_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let store = RedbStore::open(&dir.path().join("keyward.redb")).unwrap();
    let mut txn = store.write().unwrap();
    txn.put_meta(META_MASTER_KEY_PROVIDER, b"local").unwrap();
    txn.commit().unwrap();
    let root = LocalRoot::open_or_create(&dir.path().join("root.key")).unwrap();
    assert!(matches!(
        open_master_key(&store, &root),
        Err(SealError::Malformed(_))
    ));
    assert_eq!(wrapped_in(&store), None);
}
