use std::io::Cursor;

use zeroize::Zeroizing;

use super::BackupError;
use super::export::{ExportOptions, export};
use super::header::{Header, KdfSettings, MIN_CHUNK_SIZE, TAG_LEN};
use super::reader::BackupReader;
use super::restore::restore_into;
use crate::admin::backup_inventory::inventory;
use crate::admin::registry::META_CLIENT_REGISTRY;
use crate::engine::object::ManagedObject;
use crate::kmip::enums::{ObjectType, State};
use crate::seal::{META_WRAPPED_MASTER_KEY, MasterKey};
use crate::store::memory::MemoryStore;
use crate::store::{IndexTerm, ReadView, Store, StoredObject};

const PASSPHRASE: &[u8] = b"correct horse battery staple";

fn master(byte: u8) -> MasterKey {
    MasterKey::from_bytes(Zeroizing::new([byte; 32]))
}

fn material(i: usize) -> Vec<u8> {
    (0..32).map(|b| (i * 31 + b) as u8).collect()
}

/// A store with `n` sealed AES keys (every third destroyed: no material), a registry and
/// appliance-local meta that must not travel.
pub(crate) fn populated(n: usize, master: &MasterKey) -> MemoryStore {
    let store = MemoryStore::new();
    let mut txn = store.write().unwrap();
    for i in 0..n {
        let uid = format!("{i:08}-0000-4000-8000-000000000000");
        let destroyed = i % 3 == 2;
        let meta = ManagedObject {
            object_type: ObjectType::SymmetricKey,
            state: if destroyed {
                State::Destroyed
            } else {
                State::Active
            },
            material_generation: 1 + (i as u64 % 2),
            key_format: 1,
            data_type: None,
            object_fields: Vec::new(),
            instance_indexes: Vec::new(),
            attributes: vec![],
        };
        let sealed = (!destroyed).then(|| {
            master
                .seal(
                    &ManagedObject::sealing_aad(&uid, meta.material_generation),
                    &material(i),
                )
                .unwrap()
        });
        txn.put(&StoredObject {
            uid,
            owner: format!("owner-{}", i % 2),
            version: 3,
            metadata: meta.encode_metadata(),
            sealed_material: sealed,
            index_terms: vec![IndexTerm(format!("name-{i}").into_bytes())],
        })
        .unwrap();
    }
    txn.put_meta(META_CLIENT_REGISTRY, b"not parsed here")
        .unwrap();
    txn.put_meta(META_WRAPPED_MASTER_KEY, b"appliance-local")
        .unwrap();
    txn.commit().unwrap();
    store
}

fn options() -> ExportOptions {
    let mut options = ExportOptions::new("appliance-1");
    options.kdf = KdfSettings::TEST_ONLY_WEAK;
    options.chunk_size = MIN_CHUNK_SIZE;
    options
}

fn exported(store: &MemoryStore, key: &MasterKey, options: &ExportOptions) -> Vec<u8> {
    let view = store.read().unwrap();
    let (bytes, summary) = export(
        &*view,
        key,
        PASSPHRASE,
        options,
        &[],
        Vec::new(),
        &mut |_| {},
    )
    .unwrap();
    assert_eq!(summary.bytes, bytes.len() as u64);
    bytes
}

fn restore(bytes: &[u8], passphrase: &[u8]) -> Result<MemoryStore, BackupError> {
    let mut reader = BackupReader::open(Cursor::new(bytes), passphrase)?;
    let store = MemoryStore::new();
    let mut txn = store.write()?;
    restore_into(&mut reader, txn.as_mut(), &master(9), None, &mut |_| {})?;
    txn.commit()?;
    Ok(store)
}

/// Offset of data chunk `i` and the sealed chunk length for `options`.
fn chunk_at(bytes: &[u8], options: &ExportOptions, i: usize) -> (usize, usize) {
    let (_, header) = Header::read(&mut Cursor::new(bytes)).unwrap();
    let sealed = options.chunk_size as usize + TAG_LEN;
    (header.len() + TAG_LEN + i * sealed, sealed)
}

#[test]
fn restore_gives_back_every_object_resealed_under_the_new_master_key() {
    let old = master(1);
    let store = populated(60, &old);
    let bytes = exported(&store, &old, &options());
    let restored = restore(&bytes, PASSPHRASE).unwrap();
    let new = master(9);
    let view = restored.read().unwrap();
    let mut seen = 0;
    store
        .read()
        .unwrap()
        .scan_objects(&mut |original| {
            let copy = view.get(&original.uid).unwrap().unwrap();
            assert_eq!(copy.owner, original.owner);
            assert_eq!(copy.metadata, original.metadata);
            assert_eq!(copy.version, original.version);
            assert_eq!(copy.index_terms, original.index_terms);
            let generation = ManagedObject::decode_metadata(&copy.metadata)
                .unwrap()
                .material_generation;
            let aad = ManagedObject::sealing_aad(&copy.uid, generation);
            match (&original.sealed_material, &copy.sealed_material) {
                (None, None) => {}
                (Some(a), Some(b)) => {
                    assert_ne!(a, b, "material must be re-sealed, not copied");
                    assert_eq!(*new.unseal(&aad, b).unwrap(), *old.unseal(&aad, a).unwrap());
                }
                _ => panic!("material presence differs for {}", original.uid),
            }
            seen += 1;
            true
        })
        .unwrap();
    assert_eq!(seen, 60);
    assert_eq!(
        view.get_meta(META_CLIENT_REGISTRY).unwrap().as_deref(),
        Some(&b"not parsed here"[..])
    );
    assert_eq!(view.get_meta(META_WRAPPED_MASTER_KEY).unwrap(), None);
}

#[test]
fn material_never_appears_in_the_file_in_the_clear_or_under_the_master_key() {
    let old = master(1);
    let store = populated(6, &old);
    let bytes = exported(&store, &old, &options());
    for i in [0usize, 1, 3, 4] {
        let m = material(i);
        assert!(!bytes.windows(m.len()).any(|w| w == m.as_slice()));
    }
    let sealed = store
        .read()
        .unwrap()
        .get(&format!("{:08}-0000-4000-8000-000000000000", 0));
    let sealed = sealed.unwrap().unwrap().sealed_material.unwrap();
    assert!(!bytes.windows(sealed.len()).any(|w| w == sealed.as_slice()));
}

#[test]
fn inventory_counts_states_and_owners() {
    let old = master(1);
    let bytes = exported(&populated(9, &old), &old, &options());
    let mut reader = BackupReader::open(Cursor::new(&bytes[..]), PASSPHRASE).unwrap();
    let found = inventory(&mut reader).unwrap();
    assert_eq!(found.counts.objects, 9);
    assert_eq!(found.counts.meta, 1);
    assert_eq!(found.with_material, 6);
    assert_eq!(found.by_state.get("Active"), Some(&6));
    assert_eq!(found.by_state.get("Destroyed"), Some(&3));
    assert_eq!(found.by_client.get("owner-0"), Some(&5));
    assert_eq!(reader.header.appliance_id, "appliance-1");
}

fn error_of(bytes: &[u8]) -> BackupError {
    match restore(bytes, PASSPHRASE) {
        Ok(_) => panic!("a damaged backup was restored"),
        Err(e) => e,
    }
}

#[test]
fn wrong_passphrase_is_named() {
    let old = master(1);
    let bytes = exported(&populated(3, &old), &old, &options());
    let err = restore(&bytes, b"correct horse battery stapler")
        .err()
        .unwrap();
    assert!(matches!(err, BackupError::WrongPassphrase), "{err}");
    assert!(err.to_string().contains("wrong passphrase"));
}

#[test]
fn every_flipped_byte_is_detected() {
    let old = master(1);
    let opts = options();
    let bytes = exported(&populated(30, &old), &old, &opts);
    // Every byte of the header and check, and a spread of bytes through the stream.
    let (first_chunk, _) = chunk_at(&bytes, &opts, 0);
    let positions: Vec<usize> = (0..first_chunk)
        .chain((first_chunk..bytes.len()).step_by(97))
        .chain([bytes.len() - 1])
        .collect();
    for at in positions {
        let mut damaged = bytes.clone();
        damaged[at] ^= 0x01;
        let err = error_of(&damaged);
        if at >= first_chunk {
            assert!(
                matches!(
                    err,
                    BackupError::ChunkAuthentication { .. } | BackupError::Malformed(_)
                ),
                "byte {at}: {err}"
            );
        }
    }
    let (second, _) = chunk_at(&bytes, &opts, 1);
    let mut damaged = bytes.clone();
    damaged[second + 5] ^= 0x80;
    let err = error_of(&damaged);
    assert!(
        matches!(err, BackupError::ChunkAuthentication { index: 1 }),
        "{err}"
    );
    assert!(err.to_string().contains("chunk 1 failed authentication"));
}

#[test]
fn truncation_anywhere_is_detected() {
    let old = master(1);
    let opts = options();
    let bytes = exported(&populated(30, &old), &old, &opts);
    let (first, sealed) = chunk_at(&bytes, &opts, 0);
    // At a chunk boundary: the missing end is named.
    let err = error_of(&bytes[..first + 2 * sealed]);
    assert!(matches!(err, BackupError::Truncated { chunks: 2 }), "{err}");
    assert!(err.to_string().contains("truncated"));
    // Inside a chunk, right after the header, inside the header.
    for cut in [
        first + 2 * sealed + 100,
        first,
        first - 3,
        10,
        bytes.len() - 1,
    ] {
        let err = error_of(&bytes[..cut]);
        assert!(
            err.to_string().contains("truncated") || err.to_string().contains("shorter"),
            "cut at {cut}: {err}"
        );
    }
}

#[test]
fn reordered_duplicated_or_spliced_chunks_are_detected() {
    let old = master(1);
    let opts = options();
    let bytes = exported(&populated(30, &old), &old, &opts);
    let (c1, sealed) = chunk_at(&bytes, &opts, 1);
    let (c2, _) = chunk_at(&bytes, &opts, 2);
    let mut swapped = bytes.clone();
    swapped[c1..c1 + sealed].copy_from_slice(&bytes[c2..c2 + sealed]);
    swapped[c2..c2 + sealed].copy_from_slice(&bytes[c1..c1 + sealed]);
    let err = error_of(&swapped);
    assert!(
        matches!(err, BackupError::ChunkAuthentication { index: 1 }),
        "{err}"
    );
    assert!(err.to_string().contains("reordered"));

    let mut duplicated = bytes.clone();
    duplicated[c2..c2 + sealed].copy_from_slice(&bytes[c1..c1 + sealed]);
    assert!(matches!(
        error_of(&duplicated),
        BackupError::ChunkAuthentication { index: 2 }
    ));

    // A chunk from another backup with the same passphrase: different salt, key and nonces.
    let other = exported(&populated(30, &old), &old, &opts);
    let mut spliced = bytes.clone();
    spliced[c1..c1 + sealed].copy_from_slice(&other[c1..c1 + sealed]);
    assert!(matches!(
        error_of(&spliced),
        BackupError::ChunkAuthentication { index: 1 }
    ));
}

#[test]
fn default_kdf_parameters_round_trip() {
    let old = master(1);
    let mut opts = options();
    opts.kdf = KdfSettings::DEFAULT;
    let bytes = exported(&populated(4, &old), &old, &opts);
    let (header, _) = Header::read(&mut Cursor::new(&bytes[..])).unwrap();
    assert_eq!(header.kdf, KdfSettings::DEFAULT);
    assert_eq!(header.kdf.memory_kib, 256 * 1024);
    let restored = restore(&bytes, PASSPHRASE).unwrap();
    let mut n = 0;
    restored
        .read()
        .unwrap()
        .scan_objects(&mut |_| {
            n += 1;
            true
        })
        .unwrap();
    assert_eq!(n, 4);
}

#[test]
fn hostile_headers_are_refused_before_any_large_allocation() {
    let old = master(1);
    let bytes = exported(&populated(1, &old), &old, &options());
    let mut huge = bytes.clone();
    huge[12..16].copy_from_slice(&u32::MAX.to_be_bytes());
    assert!(
        error_of(&huge)
            .to_string()
            .contains("outside the accepted bounds")
    );
    let mut version = bytes.clone();
    version[9] = 9;
    assert!(matches!(
        error_of(&version),
        BackupError::UnsupportedVersion { found: 9, .. }
    ));
    assert!(matches!(
        error_of(b"PK\x03\x04 not a backup at all, much longer than that"),
        BackupError::NotABackup(_)
    ));
}

#[test]
fn redb_scans_stream_every_object_and_meta_key() {
    let dir = tempfile::tempdir().unwrap();
    let store = crate::store::redb::RedbStore::open(&dir.path().join("s.redb")).unwrap();
    let mut txn = store.write().unwrap();
    for uid in ["b", "a", "c"] {
        txn.put(&StoredObject {
            uid: uid.into(),
            owner: "o".into(),
            version: 1,
            metadata: vec![1],
            sealed_material: None,
            index_terms: vec![],
        })
        .unwrap();
    }
    txn.put_meta("x", b"1").unwrap();
    txn.commit().unwrap();
    let view = store.read().unwrap();
    let mut uids = Vec::new();
    view.scan_objects(&mut |o| {
        uids.push(o.uid);
        true
    })
    .unwrap();
    assert_eq!(uids, ["a", "b", "c"]);
    let mut first = Vec::new();
    view.scan_objects(&mut |o| {
        first.push(o.uid);
        false
    })
    .unwrap();
    assert_eq!(first, ["a"]);
    let mut keys = Vec::new();
    view.scan_meta(&mut |k, _| {
        keys.push(k.to_string());
        true
    })
    .unwrap();
    assert!(keys.contains(&"x".to_string()) && keys.contains(&"store.schema_version".to_string()));
}

#[test]
fn change_counter_and_last_backup() {
    use super::changes::{LastBackup, bump, record_backup, status};
    let store = MemoryStore::new();
    for _ in 0..3 {
        let mut txn = store.write().unwrap();
        bump(txn.as_mut()).unwrap();
        txn.commit().unwrap();
    }
    assert_eq!(status(&*store.read().unwrap()).unwrap().changes_since, 3);
    record_backup(
        &store,
        &LastBackup {
            unix: 5,
            sequence: 2,
            file: "f".into(),
            objects: 0,
        },
        None,
    )
    .unwrap();
    let now = status(&*store.read().unwrap()).unwrap();
    assert_eq!(now.changes_since, 1);
    assert_eq!(now.last_backup.unwrap().unix, 5);
    // An older snapshot finishing later does not move the mark back.
    record_backup(
        &store,
        &LastBackup {
            unix: 6,
            sequence: 1,
            file: "g".into(),
            objects: 0,
        },
        None,
    )
    .unwrap();
    assert_eq!(status(&*store.read().unwrap()).unwrap().changes_since, 1);
}

#[test]
fn scheduled_backups_rotate_keeping_the_newest() {
    let dir = tempfile::tempdir().unwrap();
    for name in [
        "keyward-1-000000001.kwbackup",
        "keyward-2-000000001.kwbackup",
        "keyward-3-000000001.kwbackup",
        "other.txt",
    ] {
        std::fs::write(dir.path().join(name), b"x").unwrap();
    }
    super::schedule::prune(dir.path(), 2).unwrap();
    let mut left: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    left.sort();
    assert_eq!(
        left,
        [
            "keyward-2-000000001.kwbackup",
            "keyward-3-000000001.kwbackup",
            "other.txt"
        ]
    );
    assert_eq!(
        super::schedule::parse_interval("2h").unwrap().as_secs(),
        7200
    );
    assert!(super::schedule::parse_interval("0s").is_err());
    assert!(super::schedule::parse_interval("5x").is_err());
}

#[test]
fn atomic_file_is_private_and_leaves_nothing_on_failure() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("b.kwbackup");
    super::file::write_atomically(&path, |mut w| {
        std::io::Write::write_all(&mut w, b"data").unwrap();
        Ok((w, ()))
    })
    .unwrap();
    assert_eq!(
        std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let failed: Result<(), _> = super::file::write_atomically(&dir.path().join("c"), |_| {
        Err(BackupError::Io("disk full".into()))
    });
    assert!(failed.is_err());
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
}

/// Peak memory and time of exporting 100,000 keys from a redb store:
/// `cargo test --release --lib backup::tests::memory_of_exporting_100k_keys -- --ignored --nocapture`
#[test]
#[ignore]
fn memory_of_exporting_100k_keys() {
    fn hwm_kib() -> u64 {
        let status = std::fs::read_to_string("/proc/self/status").unwrap();
        status
            .lines()
            .find(|l| l.starts_with("VmHWM:"))
            .unwrap()
            .split_whitespace()
            .nth(1)
            .unwrap()
            .parse()
            .unwrap()
    }
    let key = master(1);
    let dir = tempfile::tempdir().unwrap();
    let store = crate::store::redb::RedbStore::open(&dir.path().join("s.redb")).unwrap();
    for batch in 0..10 {
        let source = populated(0, &key);
        drop(source);
        let mut txn = store.write().unwrap();
        for i in batch * 10_000..(batch + 1) * 10_000 {
            let uid = format!("{i:08}-0000-4000-8000-000000000000");
            let meta = ManagedObject {
                object_type: ObjectType::SymmetricKey,
                state: State::Active,
                material_generation: 1,
                key_format: 1,
                data_type: None,
                object_fields: Vec::new(),
                instance_indexes: Vec::new(),
                attributes: vec![],
            };
            let sealed = key
                .seal(&ManagedObject::sealing_aad(&uid, 1), &material(i))
                .unwrap();
            txn.put(&StoredObject {
                uid,
                owner: "owner".into(),
                version: 1,
                metadata: meta.encode_metadata(),
                sealed_material: Some(sealed),
                index_terms: vec![],
            })
            .unwrap();
        }
        txn.commit().unwrap();
    }
    for objects in [10_000u64, 100_000] {
        // Resets VmHWM to the current RSS (Linux clear_refs value 5).
        std::fs::write("/proc/self/clear_refs", "5").unwrap();
        let before = hwm_kib();
        let out = dir.path().join("b.kwbackup");
        let started = std::time::Instant::now();
        let view = store.read().unwrap();
        let mut count = 0u64;
        let limited = LimitedView {
            inner: &*view,
            limit: objects,
        };
        let summary = super::file::write_atomically(&out, |w| {
            let mut opts = ExportOptions::new("bench");
            opts.kdf = KdfSettings::TEST_ONLY_WEAK;
            export(&limited, &key, PASSPHRASE, &opts, &[], w, &mut |n| {
                count = n
            })
        })
        .unwrap();
        let elapsed = started.elapsed();
        let after = hwm_kib();
        println!(
            "export of {} keys: {:.2} s, {} bytes, peak RSS {} KiB before, {} KiB during (+{} KiB)",
            summary.objects,
            elapsed.as_secs_f64(),
            summary.bytes,
            before,
            after,
            after.saturating_sub(before)
        );
        assert_eq!(summary.objects, objects);
    }
}

/// The first `limit` objects of a view (to compare memory at two store sizes).
struct LimitedView<'a> {
    inner: &'a dyn ReadView,
    limit: u64,
}

impl ReadView for LimitedView<'_> {
    fn get(&self, uid: &str) -> Result<Option<StoredObject>, crate::store::StoreError> {
        self.inner.get(uid)
    }
    fn find(
        &self,
        owner: &str,
        term: Option<&IndexTerm>,
    ) -> Result<Vec<String>, crate::store::StoreError> {
        self.inner.find(owner, term)
    }
    fn get_meta(&self, key: &str) -> Result<Option<Vec<u8>>, crate::store::StoreError> {
        self.inner.get_meta(key)
    }
    fn audit_last(&self) -> Result<Option<(u64, Vec<u8>)>, crate::store::StoreError> {
        self.inner.audit_last()
    }
    fn audit_range(
        &self,
        from: u64,
        limit: usize,
    ) -> Result<Vec<(u64, Vec<u8>)>, crate::store::StoreError> {
        self.inner.audit_range(from, limit)
    }
    fn scan_objects(
        &self,
        visit: &mut dyn FnMut(StoredObject) -> bool,
    ) -> Result<(), crate::store::StoreError> {
        let mut left = self.limit;
        self.inner.scan_objects(&mut |o| {
            if left == 0 {
                return false;
            }
            left -= 1;
            visit(o)
        })
    }
    fn scan_meta(
        &self,
        visit: &mut dyn FnMut(&str, &[u8]) -> bool,
    ) -> Result<(), crate::store::StoreError> {
        self.inner.scan_meta(visit)
    }
    fn change_sequence(&self) -> Result<Option<u64>, crate::store::StoreError> {
        self.inner.change_sequence()
    }
    fn objects_changed_since(
        &self,
        sequence: u64,
    ) -> Result<Option<u64>, crate::store::StoreError> {
        self.inner.objects_changed_since(sequence)
    }
}

/// libFuzzer (backup_reader) found `8 * parallelism` overflowing in the header check: a
/// hostile header must be refused as not a backup, never panic.
#[test]
fn hostile_argon2_parameters_are_refused_without_overflow() {
    let old = master(1);
    let bytes = exported(&populated(1, &old), &old, &options());
    let (mut header, _) = Header::read(&mut Cursor::new(&bytes[..])).unwrap();
    for parallelism in [u32::MAX, 0x2000_0001, 0x4000_0000, 0] {
        header.kdf.parallelism = parallelism;
        let encoded = header.encode();
        let err = Header::read(&mut Cursor::new(&encoded[..])).unwrap_err();
        assert!(matches!(err, BackupError::NotABackup(_)), "{err:?}");
    }
}
