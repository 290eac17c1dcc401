//! What one durable commit writes (issue 21, point 2), counted rather than timed: a backend that
//! passes everything to memory and counts the writes, bytes, distinct pages and syncs redb
//! issues. A commit's wall time on a shared machine says little; its bytes and fsyncs are the
//! same on every run, and they are what a disk pays for. The workload is what the committer
//! stores for a Create: the object record with its index entries, its audit record, and the
//! change counter once per group.
//!
//! `cargo test --lib write_cost -- --ignored --nocapture` prints the figures `docs/storage.md` quotes.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use ::redb::StorageBackend;
use ::redb::backends::InMemoryBackend;

use super::*;

#[derive(Debug, Default, Clone, Copy)]
struct Counts {
    writes: u64,
    bytes: u64,
    syncs: u64,
    resizes: u64,
}

#[derive(Debug, Default)]
struct Tally {
    counts: Counts,
    /// 4 KiB pages touched since the last reset.
    pages: BTreeSet<u64>,
}

#[derive(Debug, Clone)]
struct CountingDisk {
    inner: Arc<InMemoryBackend>,
    tally: Arc<Mutex<Tally>>,
}

impl CountingDisk {
    fn tally(&self) -> std::sync::MutexGuard<'_, Tally> {
        self.tally.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn take(&self) -> (Counts, u64) {
        let mut tally = self.tally();
        let pages = tally.pages.len() as u64;
        let counts = tally.counts;
        *tally = Tally::default();
        (counts, pages)
    }
}

impl StorageBackend for CountingDisk {
    fn len(&self) -> Result<u64, std::io::Error> {
        self.inner.len()
    }

    fn read(&self, offset: u64, out: &mut [u8]) -> Result<(), std::io::Error> {
        self.inner.read(offset, out)
    }

    fn set_len(&self, len: u64) -> Result<(), std::io::Error> {
        self.tally().counts.resizes += 1;
        self.inner.set_len(len)
    }

    fn sync_data(&self) -> Result<(), std::io::Error> {
        self.tally().counts.syncs += 1;
        self.inner.sync_data()
    }

    fn write(&self, offset: u64, data: &[u8]) -> Result<(), std::io::Error> {
        {
            let mut tally = self.tally();
            tally.counts.writes += 1;
            tally.counts.bytes += data.len() as u64;
            let first = offset / 4096;
            let last = (offset + data.len().max(1) as u64 - 1) / 4096;
            tally.pages.extend(first..=last);
        }
        self.inner.write(offset, data)
    }
}

/// A Create as the engine stores it: a time-ordered (v7) UID as `engine::ops` makes them, about
/// 260 bytes of metadata, an AES-256 key sealed (77 bytes), one Name term (random, so its index
/// entry lands on a random page).
fn created(n: u64) -> StoredObject {
    let mut state = n.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0xD1B5_4A32_D192_ED03;
    let mut random = [0u8; 16];
    for chunk in random.chunks_mut(8) {
        state ^= state >> 31;
        state = state.wrapping_mul(0xBF58_476D_1CE4_E5B9);
        chunk.copy_from_slice(&state.to_be_bytes());
    }
    // About ten Creates per millisecond.
    let uid = crate::uuid::format_v7(1_780_000_000_000 + n / 10, random);
    StoredObject {
        uid,
        owner: "bench".into(),
        version: 1,
        metadata: vec![0x42; 260],
        sealed_material: Some(vec![0x17; 77]),
        index_terms: vec![IndexTerm(format!("n:vm-{:016x}", state).into_bytes())],
    }
}

/// What the committer writes for one group of `creates` Creates, audit sequence from `seq`.
fn commit_group(store: &RedbStore, first: u64, creates: u64) {
    let mut txn = store.write().unwrap();
    for n in first..first + creates {
        txn.put(&created(n)).unwrap();
        // An audit record of a Create is about 450 bytes of JSON.
        txn.audit_put(n + 1, &[b'{'; 450]).unwrap();
    }
    crate::store::change_sequence::bump(txn.as_mut()).unwrap();
    txn.commit().unwrap();
}

fn measure(store: &RedbStore, disk: &CountingDisk, next: &mut u64, groups: u64, per_group: u64) {
    disk.take();
    for _ in 0..groups {
        commit_group(store, *next, per_group);
        *next += per_group;
    }
    let (counts, pages) = disk.take();
    let creates = (groups * per_group) as f64;
    println!(
        "groups of {per_group:>2}: per Create {:>7.0} bytes written in {:>5.1} writes, {:>5.1} \
         distinct 4 KiB pages over the run, {:.3} fsyncs, {:.3} file resizes; per commit {:>7.0} bytes",
        counts.bytes as f64 / creates,
        counts.writes as f64 / creates,
        pages as f64 / creates,
        counts.syncs as f64 / creates,
        counts.resizes as f64 / creates,
        counts.bytes as f64 / groups as f64,
    );
    assert!(counts.syncs >= groups, "every durable commit syncs");
}

#[test]
#[ignore = "a measurement (about 2 minutes in a debug build): run with --ignored --nocapture"]
fn write_cost_of_a_create_is_counted() {
    let disk = CountingDisk {
        inner: Arc::new(InMemoryBackend::new()),
        tally: Arc::default(),
    };
    let store = RedbStore::open_with_backend(disk.clone(), "counted").unwrap();
    // A store that already holds keys: 20,000 objects make every tree a few levels deep.
    let mut next = 0;
    while next < 20_000 {
        commit_group(&store, next, 500);
        next += 500;
    }
    println!("write cost of a Create, store of {next} objects (schema {SCHEMA_VERSION}):");
    measure(&store, &disk, &mut next, 200, 1);
    measure(&store, &disk, &mut next, 100, 8);
    measure(&store, &disk, &mut next, 20, 64);
}
