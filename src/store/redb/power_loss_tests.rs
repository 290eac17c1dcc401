//! Power loss and I/O errors under the store, through a redb backend that keeps two images of
//! the disk: what the store has written, and what an fsync has made durable. Losing power
//! freezes the backend at a random operation; the disk that comes back holds the durable image
//! plus a random subset of the writes since the last sync, some of them torn at a sector
//! boundary, as a drive with a volatile cache may leave it.

use std::sync::{Arc, Mutex};

use ::redb::StorageBackend;

use super::*;

const SECTOR: usize = 512;

/// xorshift64*, seeded so a failure can be replayed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

#[derive(Debug)]
enum Pending {
    Write(u64, Vec<u8>),
    SetLen(u64),
}

#[derive(Debug, Default)]
struct Disk {
    /// What reads see: every write so far.
    current: Vec<u8>,
    /// What survives a power loss for certain: the image at the last successful sync.
    durable: Vec<u8>,
    /// Changes since the last sync, in order; any subset may survive a power loss.
    pending: Vec<Pending>,
    /// Power fails on the operation after this many more writes, resizes and syncs.
    ops_until_power_loss: Option<u64>,
    powered_off: bool,
    /// The next sync fails with this errno (and, like Linux after a failed fsync, the dirty
    /// data is not made durable).
    fail_next_sync: Option<i32>,
}

#[derive(Debug, Clone, Default)]
struct FaultyDisk(Arc<Mutex<Disk>>);

fn power_lost() -> std::io::Error {
    std::io::Error::other("power lost")
}

impl FaultyDisk {
    fn from_image(image: Vec<u8>) -> FaultyDisk {
        FaultyDisk(Arc::new(Mutex::new(Disk {
            current: image.clone(),
            durable: image,
            ..Disk::default()
        })))
    }

    fn disk(&self) -> std::sync::MutexGuard<'_, Disk> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn arm_power_loss(&self, after_ops: u64) {
        self.disk().ops_until_power_loss = Some(after_ops);
    }

    fn fail_next_sync(&self, errno: i32) {
        self.disk().fail_next_sync = Some(errno);
    }

    /// Counts one mutating operation; `Err` once the power is gone.
    fn tick(disk: &mut Disk) -> Result<(), std::io::Error> {
        if disk.powered_off {
            return Err(power_lost());
        }
        match disk.ops_until_power_loss {
            Some(0) => {
                disk.powered_off = true;
                Err(power_lost())
            }
            Some(n) => {
                disk.ops_until_power_loss = Some(n - 1);
                Ok(())
            }
            None => Ok(()),
        }
    }

    /// The image a restart finds: the durable one plus whichever pending changes made it.
    fn image_after_power_loss(&self, rng: &mut Rng) -> Vec<u8> {
        let disk = self.disk();
        let mut image = disk.durable.clone();
        for change in &disk.pending {
            match change {
                _ if rng.below(2) == 0 => {}
                Pending::SetLen(len) => image.resize(*len as usize, 0),
                Pending::Write(offset, data) => {
                    let keep = if rng.below(4) == 0 {
                        // Torn: only the first few sectors reached the platter.
                        (rng.below((data.len() / SECTOR + 1) as u64) as usize * SECTOR)
                            .min(data.len())
                    } else {
                        data.len()
                    };
                    let start = *offset as usize;
                    if image.len() < start + keep {
                        image.resize(start + keep, 0);
                    }
                    image[start..start + keep].copy_from_slice(&data[..keep]);
                }
            }
        }
        image
    }

    fn durable_image(&self) -> Vec<u8> {
        self.disk().durable.clone()
    }
}

impl StorageBackend for FaultyDisk {
    fn len(&self) -> Result<u64, std::io::Error> {
        let disk = self.disk();
        if disk.powered_off {
            return Err(power_lost());
        }
        Ok(disk.current.len() as u64)
    }

    fn read(&self, offset: u64, out: &mut [u8]) -> Result<(), std::io::Error> {
        let disk = self.disk();
        if disk.powered_off {
            return Err(power_lost());
        }
        let start = offset as usize;
        let source = disk
            .current
            .get(start..start + out.len())
            .ok_or_else(|| std::io::Error::other("read past the end"))?;
        out.copy_from_slice(source);
        Ok(())
    }

    fn set_len(&self, len: u64) -> Result<(), std::io::Error> {
        let mut disk = self.disk();
        FaultyDisk::tick(&mut disk)?;
        disk.current.resize(len as usize, 0);
        disk.pending.push(Pending::SetLen(len));
        Ok(())
    }

    fn sync_data(&self) -> Result<(), std::io::Error> {
        let mut disk = self.disk();
        FaultyDisk::tick(&mut disk)?;
        if let Some(errno) = disk.fail_next_sync.take() {
            return Err(std::io::Error::from_raw_os_error(errno));
        }
        disk.durable = disk.current.clone();
        disk.pending.clear();
        Ok(())
    }

    fn write(&self, offset: u64, data: &[u8]) -> Result<(), std::io::Error> {
        let mut disk = self.disk();
        FaultyDisk::tick(&mut disk)?;
        let start = offset as usize;
        let target = disk
            .current
            .get_mut(start..start + data.len())
            .ok_or_else(|| std::io::Error::other("write past the end"))?;
        target.copy_from_slice(data);
        disk.pending.push(Pending::Write(offset, data.to_vec()));
        Ok(())
    }
}

fn object(uid: &str, round: u64) -> StoredObject {
    StoredObject {
        uid: uid.into(),
        owner: "vc".into(),
        version: round,
        metadata: format!("meta of {uid} in round {round}").into_bytes(),
        sealed_material: Some(vec![round as u8; 48]),
        index_terms: vec![IndexTerm(format!("term-{uid}").into_bytes())],
    }
}

/// Objects each transaction writes: all of them survive, or none.
const PER_TXN: usize = 3;

fn txn_objects(txn: usize) -> Vec<StoredObject> {
    (0..PER_TXN)
        .map(|i| object(&format!("t{txn}-o{i}"), txn as u64))
        .collect()
}

fn commit(store: &RedbStore, objects: &[StoredObject]) -> Result<(), StoreError> {
    let mut txn = store.write()?;
    for o in objects {
        txn.put(o)?;
    }
    txn.commit()
}

fn rounds() -> u64 {
    std::env::var("KEYWARD_POWER_LOSS_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(60)
}

/// Committed transactions survive a power cut at any operation, even with unsynced writes
/// partly on disk; the transaction being committed at the cut is all there or not at all.
#[test]
fn power_loss_keeps_committed_transactions_and_drops_uncommitted_ones() {
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(1)
        | 1;
    let seed = std::env::var("KEYWARD_POWER_LOSS_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(seed);
    let mut rng = Rng(seed);
    let rounds = rounds();
    let (mut cuts_mid_commit, mut checked) = (0, 0);
    for round in 0..rounds {
        let disk = FaultyDisk::default();
        let store = RedbStore::open_with_backend(disk.clone(), "power-loss-disk")
            .unwrap_or_else(|e| panic!("seed {seed} round {round}: open: {e}"));
        let mut acknowledged = Vec::new();
        // A few transactions that finish, then the cut somewhere in the following ones.
        for txn in 0..rng.below(4) as usize {
            commit(&store, &txn_objects(txn)).expect("commit before the cut");
            acknowledged.push(txn);
        }
        disk.arm_power_loss(rng.below(60));
        let mut in_flight = None;
        for txn in acknowledged.len()..acknowledged.len() + 8 {
            match commit(&store, &txn_objects(txn)) {
                Ok(()) => acknowledged.push(txn),
                Err(_) => {
                    in_flight = Some(txn);
                    cuts_mid_commit += 1;
                    break;
                }
            }
        }
        drop(store);
        let image = disk.image_after_power_loss(&mut rng);
        let store = RedbStore::open_with_backend(FaultyDisk::from_image(image), "after-cut")
            .unwrap_or_else(|e| panic!("seed {seed} round {round}: reopen after the cut: {e}"));
        let view = store.read().expect("read after the cut");
        for &txn in &acknowledged {
            for expected in txn_objects(txn) {
                let found = view.get(&expected.uid).expect("get");
                assert_eq!(
                    found.as_ref(),
                    Some(&expected),
                    "seed {seed} round {round}: committed {} lost or changed",
                    expected.uid
                );
                checked += 1;
            }
        }
        if let Some(txn) = in_flight {
            let present = txn_objects(txn)
                .iter()
                .filter(|o| view.get(&o.uid).expect("get").as_ref() == Some(o))
                .count();
            assert!(
                present == 0 || present == PER_TXN,
                "seed {seed} round {round}: {present} of {PER_TXN} objects of the interrupted transaction survived"
            );
            let later = format!("t{}-o0", txn + 1);
            assert!(
                view.get(&later).expect("get").is_none(),
                "seed {seed} round {round}: a transaction never started is on disk"
            );
        }
    }
    eprintln!(
        "power loss (seed {seed}): {rounds} rounds, {cuts_mid_commit} cuts inside a commit, {checked} committed objects checked, none lost"
    );
    assert!(
        checked > 0 && cuts_mid_commit > 0,
        "the cuts never hit anything"
    );
}

/// A failed fsync (EIO) stops writes for good, is reported by `failure()`, and the data
/// committed before it is intact when the file is opened again.
#[test]
fn eio_on_fsync_stops_writes_and_reports_the_failure() {
    let disk = FaultyDisk::default();
    let store = RedbStore::open_with_backend(disk.clone(), "eio-disk").unwrap();
    commit(&store, &txn_objects(0)).unwrap();
    assert_eq!(Store::failure(&store), None);

    disk.fail_next_sync(rustix::io::Errno::IO.raw_os_error());
    let err = commit(&store, &txn_objects(1)).expect_err("commit over a failed fsync");
    assert!(matches!(err, StoreError::Io(_)), "{err:?}");
    let failure = Store::failure(&store).expect("the store reports its failure");
    assert!(failure.contains("committing"), "{failure}");

    // Every later write is refused at once, saying why, even though the disk works again.
    match store.write() {
        Err(StoreError::Failed(message)) => assert!(message.contains("committing"), "{message}"),
        Err(other) => panic!("expected Failed, got {other:?}"),
        Ok(_) => panic!("a write transaction opened on a failed store"),
    }
    drop(store);

    let reopened = RedbStore::open_with_backend(
        FaultyDisk::from_image(disk.durable_image()),
        "eio-disk-reopened",
    )
    .unwrap();
    let view = reopened.read().unwrap();
    for o in txn_objects(0) {
        assert_eq!(view.get(&o.uid).unwrap(), Some(o));
    }
    assert_eq!(
        view.get("t1-o0").unwrap(),
        None,
        "a failed commit became durable"
    );
}

/// ENOSPC is not a failure of the store: it is reported as Full and leaves `failure()` empty.
#[test]
fn a_full_disk_is_reported_as_full_not_as_failed() {
    let disk = FaultyDisk::default();
    let store = RedbStore::open_with_backend(disk.clone(), "full-disk").unwrap();
    disk.fail_next_sync(rustix::io::Errno::NOSPC.raw_os_error());
    let err = commit(&store, &txn_objects(0)).expect_err("commit on a full disk");
    assert!(matches!(err, StoreError::Full(_)), "{err:?}");
    assert_eq!(Store::failure(&store), None);
}

/// What the integrity check at every start costs: open time of a store with many objects,
/// with the check (as `RedbStore::open` does) and with a plain redb open.
/// `cargo test --release --lib integrity_check_on_open_cost -- --ignored --nocapture`
#[test]
#[ignore]
fn integrity_check_on_open_cost() {
    const OBJECTS: usize = 20_000;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("keyward.redb");
    {
        let store = RedbStore::open(&path).unwrap();
        for chunk in (0..OBJECTS).collect::<Vec<_>>().chunks(1000) {
            let objects: Vec<StoredObject> = chunk
                .iter()
                .map(|i| object(&format!("uid-{i:08}"), *i as u64))
                .collect();
            commit(&store, &objects).unwrap();
        }
    }
    let size = std::fs::metadata(&path).unwrap().len();
    let mut checked = Vec::new();
    let mut plain = Vec::new();
    for _ in 0..5 {
        let start = std::time::Instant::now();
        drop(RedbStore::open(&path).unwrap());
        checked.push(start.elapsed());
        let start = std::time::Instant::now();
        drop(::redb::Database::create(&path).unwrap());
        plain.push(start.elapsed());
    }
    checked.sort();
    plain.sort();
    eprintln!(
        "open of a {OBJECTS}-object store ({size} bytes): median {:?} with the integrity check, {:?} plain ({:.1}x)",
        checked[2],
        plain[2],
        checked[2].as_secs_f64() / plain[2].as_secs_f64()
    );
}
