//! The read journal's promises on its own: what a crash leaves is folded once, in order, and
//! chained; a torn last line is skipped; a fold that did not commit is folded again.

use zeroize::Zeroizing;

use super::read_journal::{self, FoldEffects, JournalEntry, ReadJournal, SkipEffects};
use super::*;
use crate::store::Store;
use crate::store::memory::MemoryStore;

fn context() -> AuditContext {
    AuditContext::from_master(&MasterKey::from_bytes(Zeroizing::new([7u8; 32])))
}

fn entry(i: usize) -> JournalEntry {
    JournalEntry::new(
        1_000 + i as i64,
        Actor::System,
        AuditEvent::success("Get", vec![format!("uid-{i}")]),
    )
}

fn operations(store: &MemoryStore) -> Vec<(String, Vec<String>, i64)> {
    store
        .read()
        .unwrap()
        .audit_range(1, usize::MAX)
        .unwrap()
        .into_iter()
        .map(|(_, bytes)| {
            let stored = StoredRecord::from_bytes(&bytes).unwrap();
            (
                stored.record.operation,
                stored.record.uids,
                stored.record.time_ms,
            )
        })
        .collect()
}

fn verified(store: &MemoryStore, ctx: &AuditContext) -> u64 {
    let report = verify::verify(&*store.read().unwrap(), ctx.key().unwrap()).unwrap();
    assert!(report.broken.is_none(), "{report:?}");
    report.records
}

#[test]
fn what_a_crash_left_is_folded_once_in_order_and_chained() {
    let dir = tempfile::tempdir().unwrap();
    let (store, ctx) = (MemoryStore::new(), context());
    // A running server: two reads folded by a commit, three more appended, then the "crash"
    // (the journal is dropped without a fold; its file stays, as after kill -9).
    let journal = ReadJournal::open(dir.path(), 0).unwrap();
    journal.append(vec![entry(0), entry(1)]).unwrap();
    assert_eq!(journal.fold_now(&store, &ctx, &SkipEffects).unwrap(), 2);
    journal.append(vec![entry(2)]).unwrap();
    journal.append(vec![entry(3), entry(4)]).unwrap();
    drop(journal);

    let (folded, generation) =
        read_journal::recover(&store, &ctx, &SkipEffects, dir.path()).unwrap();
    assert_eq!(folded, 3);
    let uids: Vec<String> = operations(&store)
        .into_iter()
        .map(|(_, uids, _)| uids[0].clone())
        .collect();
    assert_eq!(uids, ["uid-0", "uid-1", "uid-2", "uid-3", "uid-4"]);
    // The read's own time is kept, not the fold's.
    assert_eq!(operations(&store)[4].2, 1_004);
    assert_eq!(verified(&store, &ctx), 5);

    // Nothing is folded twice, also when a file of an already folded generation survived
    // (a crash between the fold's commit and the file's removal).
    let journal = ReadJournal::open(dir.path(), generation).unwrap();
    journal.append(vec![entry(5)]).unwrap();
    let batches = journal.take().unwrap();
    let mut txn = store.write().unwrap();
    for batch in &batches {
        batch.fold(txn.as_mut(), &ctx, &SkipEffects).unwrap();
    }
    txn.commit().unwrap();
    drop(journal); // the batch's file is never removed
    assert_eq!(
        read_journal::recover(&store, &ctx, &SkipEffects, dir.path())
            .unwrap()
            .0,
        0
    );
    assert_eq!(operations(&store).len(), 6);
    assert_eq!(verified(&store, &ctx), 6);
    // Recovery removed every file.
    let left = std::fs::read_dir(dir.path().join(read_journal::DIR_NAME))
        .unwrap()
        .count();
    assert_eq!(left, 0);
}

#[test]
fn a_torn_last_line_is_skipped_and_the_rest_folded() {
    let dir = tempfile::tempdir().unwrap();
    let (store, ctx) = (MemoryStore::new(), context());
    let journal = ReadJournal::open(dir.path(), 0).unwrap();
    journal.append(vec![entry(0), entry(1)]).unwrap();
    drop(journal);
    let file = std::fs::read_dir(dir.path().join(read_journal::DIR_NAME))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let mut bytes = std::fs::read(&file).unwrap();
    bytes.extend_from_slice(b"{\"time_ms\":12,\"actor\":{\"ki");
    std::fs::write(&file, bytes).unwrap();
    assert_eq!(
        read_journal::recover(&store, &ctx, &SkipEffects, dir.path())
            .unwrap()
            .0,
        2
    );
    assert_eq!(verified(&store, &ctx), 2);
}

#[test]
fn a_fold_that_did_not_commit_is_folded_again_before_newer_reads() {
    let dir = tempfile::tempdir().unwrap();
    let (store, ctx) = (MemoryStore::new(), context());
    let journal = ReadJournal::open(dir.path(), 0).unwrap();
    journal.append(vec![entry(0)]).unwrap();
    let batches = journal.take().unwrap();
    assert_eq!(batches.len(), 1);
    journal.restore(batches); // the group's commit failed
    journal.append(vec![entry(1)]).unwrap();
    assert!(!journal.wait_folded(std::time::Duration::from_millis(1)));
    assert_eq!(journal.fold_now(&store, &ctx, &SkipEffects).unwrap(), 2);
    assert!(journal.wait_folded(std::time::Duration::from_millis(1)));
    let uids: Vec<String> = operations(&store)
        .into_iter()
        .map(|(_, uids, _)| uids[0].clone())
        .collect();
    assert_eq!(uids, ["uid-0", "uid-1"]);
    assert!(!journal.has_pending());
}

fn journal_files(dir: &std::path::Path) -> Vec<(String, u64)> {
    let mut files: Vec<_> = std::fs::read_dir(dir.join(read_journal::DIR_NAME))
        .unwrap()
        .map(|f| {
            let f = f.unwrap();
            (
                f.file_name().to_string_lossy().into_owned(),
                f.metadata().unwrap().len(),
            )
        })
        .collect();
    files.sort();
    files
}

#[test]
fn one_file_serves_many_folds_until_it_is_full_then_the_next_generation_replaces_it() {
    let dir = tempfile::tempdir().unwrap();
    let (store, ctx) = (MemoryStore::new(), context());
    let journal = ReadJournal::open(dir.path(), 0).unwrap();
    // Folds of a small file keep it: no file is created or removed per commit.
    for i in 0..3 {
        journal.append(vec![entry(i)]).unwrap();
        assert_eq!(journal.fold_now(&store, &ctx, &SkipEffects).unwrap(), 1);
    }
    let files = journal_files(dir.path());
    assert_eq!(files.len(), 1, "{files:?}");
    assert!(files[0].0.starts_with("00000000000000000001"));
    // Filled past the rotation size, the next fold moves on to the next generation and the
    // full file goes once its records are folded.
    let mut n = 3;
    while journal_files(dir.path())[0].1 < read_journal::ROTATE_BYTES {
        journal.append((n..n + 100).map(entry).collect()).unwrap();
        n += 100;
    }
    assert_eq!(journal.fold_now(&store, &ctx, &SkipEffects).unwrap(), n - 3);
    let files = journal_files(dir.path());
    assert_eq!(files.len(), 1, "{files:?}");
    assert!(files[0].0.starts_with("00000000000000000002"), "{files:?}");
    assert_eq!(files[0].1, 0);
    // A crash now: the new file's records, and only those, are folded at the next start.
    journal.append(vec![entry(n)]).unwrap();
    drop(journal);
    let (folded, generation) =
        read_journal::recover(&store, &ctx, &SkipEffects, dir.path()).unwrap();
    assert_eq!((folded, generation), (1, 2));
    assert_eq!(verified(&store, &ctx), n as u64 + 1);
    let uids: Vec<String> = operations(&store)
        .into_iter()
        .map(|(_, uids, _)| uids[0].clone())
        .collect();
    let expected: Vec<String> = (0..=n).map(|i| format!("uid-{i}")).collect();
    assert_eq!(uids, expected);
}

#[test]
fn a_marker_written_before_files_were_reused_means_its_generation_was_folded_whole() {
    let dir = tempfile::tempdir().unwrap();
    let (store, ctx) = (MemoryStore::new(), context());
    // Generation 1 folded (an 8-byte marker, as older versions wrote it); generation 2 not.
    for generation in [1u64, 2] {
        let journal = ReadJournal::open(dir.path(), generation - 1).unwrap();
        journal.append(vec![entry(generation as usize)]).unwrap();
        drop(journal);
    }
    let mut txn = store.write().unwrap();
    txn.put_meta(read_journal::FOLDED_META, &1u64.to_be_bytes())
        .unwrap();
    txn.commit().unwrap();
    assert_eq!(
        read_journal::recover(&store, &ctx, &SkipEffects, dir.path()).unwrap(),
        (1, 2)
    );
    let uids: Vec<String> = operations(&store)
        .into_iter()
        .map(|(_, uids, _)| uids[0].clone())
        .collect();
    assert_eq!(uids, ["uid-2"]);
}

#[test]
fn a_clean_close_leaves_no_file_and_takes_no_more_records() {
    let dir = tempfile::tempdir().unwrap();
    let (store, ctx) = (MemoryStore::new(), context());
    let journal = ReadJournal::open(dir.path(), 0).unwrap();
    journal.append(vec![entry(0)]).unwrap();
    // Records not yet folded keep the file.
    journal.close();
    assert_eq!(journal_files(dir.path()).len(), 1);
    assert_eq!(journal.fold_now(&store, &ctx, &SkipEffects).unwrap(), 1);
    journal.close();
    assert!(journal_files(dir.path()).is_empty());
    assert!(journal.append(vec![entry(1)]).is_err());
    assert_eq!(
        read_journal::recover(&store, &ctx, &SkipEffects, dir.path())
            .unwrap()
            .0,
        0
    );
    assert_eq!(verified(&store, &ctx), 1);
}

/// A journal line as every earlier release wrote it (one JSON object, the record's fields at
/// the top level in this order). Journal files outlive an upgrade (`recover` folds them at the
/// next start), so the line must read back to the same record, and a record must still be
/// written as the same bytes.
const LINE_OF_THE_FORMAT: &str = concat!(
    r#"{"time_ms":1234,"actor":{"kind":"client","owner":"alice","fingerprint":"ab12","#,
    r#""peer":"127.0.0.1:5000"},"operation":"Get","uids":["u-1","u-2"],"outcome":"failure","#,
    r#""reason":"Item Not Found"}"#
);

#[test]
fn a_journal_line_reads_back_and_is_written_byte_for_byte_as_before() {
    let entry = JournalEntry::new(
        1234,
        Actor::Client {
            owner: "alice".into(),
            fingerprint: "ab12".into(),
            peer: "127.0.0.1:5000".into(),
        },
        AuditEvent {
            operation: "Get".into(),
            uids: vec!["u-1".into(), "u-2".into()],
            outcome: Outcome::Failure,
            reason: Some("Item Not Found".into()),
        },
    );
    assert_eq!(serde_json::to_string(&entry).unwrap(), LINE_OF_THE_FORMAT);
    let read: JournalEntry = serde_json::from_str(LINE_OF_THE_FORMAT).unwrap();
    assert_eq!(
        (read.time_ms, &read.actor, &read.event),
        (1234, &entry.actor, &entry.event)
    );
    // A success without a reason, as a Get that found its object writes it.
    let ok = entry_line(&JournalEntry::new(
        5,
        Actor::System,
        AuditEvent::success("Get", vec![]),
    ));
    assert_eq!(
        ok,
        r#"{"time_ms":5,"actor":{"kind":"system"},"operation":"Get","uids":[],"outcome":"success","reason":null}"#
    );
    let read: JournalEntry = serde_json::from_str(&ok).unwrap();
    assert_eq!(read.event, AuditEvent::success("Get", vec![]));
}

fn entry_line(entry: &JournalEntry) -> String {
    serde_json::to_string(entry).unwrap()
}

/// Records the clears a fold applies, in order (the engine's own applies them to objects:
/// `engine/tests.rs`).
#[derive(Default)]
struct Cleared(std::sync::Mutex<Vec<String>>);

impl FoldEffects for Cleared {
    fn clear_fresh(
        &self,
        _txn: &mut dyn crate::store::WriteView,
        uid: &str,
    ) -> Result<(), crate::store::StoreError> {
        self.0.lock().unwrap().push(uid.to_string());
        Ok(())
    }
}

fn clearing(i: usize, uids: &[&str]) -> JournalEntry {
    let mut entry = entry(i);
    entry.fresh_cleared = uids.iter().map(|u| u.to_string()).collect();
    entry
}

#[test]
fn a_journalled_clear_is_applied_once_by_the_fold_or_by_recovery() {
    let dir = tempfile::tempdir().unwrap();
    let store = MemoryStore::new();
    let ctx = context();
    let journal = ReadJournal::open(dir.path(), 0).unwrap();
    assert_eq!(
        journal
            .append(vec![clearing(0, &["k-0"]), entry(1)])
            .unwrap(),
        2
    );
    let running = Cleared::default();
    assert_eq!(journal.fold_now(&store, &ctx, &running).unwrap(), 2);
    assert_eq!(*running.0.lock().unwrap(), ["k-0"]);
    assert_eq!(journal.folded(), 2);
    // Appended and not folded when the process dies: the next start applies it, and only it.
    assert_eq!(
        journal.append(vec![clearing(2, &["k-1", "k-2"])]).unwrap(),
        3
    );
    drop(journal);
    let restarted = Cleared::default();
    let (folded, _) = read_journal::recover(&store, &ctx, &restarted, dir.path()).unwrap();
    assert_eq!(folded, 1);
    assert_eq!(*restarted.0.lock().unwrap(), ["k-1", "k-2"]);
    assert_eq!(verified(&store, &ctx), 3);
}

#[test]
fn a_clear_is_written_in_its_records_line_and_reads_back() {
    let line = entry_line(&clearing(7, &["k-9"]));
    assert!(
        line.ends_with(r#","reason":null,"fresh_cleared":["k-9"]}"#),
        "{line}"
    );
    let read: JournalEntry = serde_json::from_str(&line).unwrap();
    assert_eq!(read.fresh_cleared, ["k-9"]);
    assert_eq!(read.event, AuditEvent::success("Get", vec!["uid-7".into()]));
    // A line without clears (every earlier release's) reads back without any.
    let read: JournalEntry = serde_json::from_str(LINE_OF_THE_FORMAT).unwrap();
    assert!(read.fresh_cleared.is_empty());
}
