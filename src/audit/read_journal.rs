//! The read journal: how a read is audited without waiting for an fsync (issue 21, point 1).
//!
//! A read changes nothing, so the only thing that made it wait for the disk was its audit
//! record. Before its answer is released, the event loop appends the read's records to this
//! journal with one `write(2)`: from then on they are in the kernel's page cache and survive a
//! `kill -9` of the process. The committer folds the journal into the hash-chained `audit`
//! table at its next durable commit, at the latest `read_sync_interval_ms` after the append;
//! only a power loss inside that window can lose read records. Changes are untouched: their
//! records still commit (fsync) with them before their answer.
//!
//! Files: `<data dir>/audit-reads/<generation>.jsonl`, one JSON line per record. A fold takes
//! the records appended since the last one; the fold's transaction also stores how far it got
//! (meta [`FOLDED_META`]: the generation and the byte offset in its file after the last folded
//! record), so a crash between the commit and the file's removal never folds a record twice.
//! A file serves many folds and is replaced by the next generation once it holds
//! [`ROTATE_BYTES`]: creating and removing a file at every commit cost the committer an inode
//! allocation and a directory change per group, a fifth of its CPU time on vCenter's
//! connection-per-exchange pattern, and lengthened the journal commit of every `fdatasync`.
//! [`recover`] folds what a crash left behind, at start-up, before the first request.
//!
//! A read may carry one change besides its record: the first Get of an object clears the
//! object's Fresh flag. That clear travels in the journal with the Get's record
//! ([`JournalEntry::fresh_cleared`]) and is applied by whoever folds it, in the fold's
//! transaction, through [`FoldEffects`] (this layer knows it as data; the engine knows what it
//! means). Record and clear are in the same line: a power loss inside the window loses both or
//! neither, as if that Get never happened.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Seek, SeekFrom, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::record::{Actor, AuditEvent};
use super::{AuditContext, AuditError};
use crate::store::{Store, StoreError, WriteView};

/// Meta key: how far the journal is in the `audit` table: 16 bytes, the generation and the
/// byte offset in its file after its last folded record (both big-endian `u64`). Every record
/// of an older generation is folded. (Before files were reused: 8 bytes, the generation alone,
/// folded whole.)
pub const FOLDED_META: &str = "audit.reads_folded_generation";
/// A journal file is replaced by the next generation at the first fold after it reached this
/// size; the replaced file is removed once its last records are folded.
pub const ROTATE_BYTES: u64 = 1 << 20;
/// The journal's directory under the data directory.
pub const DIR_NAME: &str = "audit-reads";

/// Records that may wait unfolded (in memory and in the files) at most. When the store cannot
/// commit for so long that this many pile up, reads go to the committer (and fail with it):
/// memory stays bounded, and no read is answered whose record could not be kept.
pub const MAX_PENDING: usize = 100_000;

/// One read's record as journalled: everything [`super::record_at`] needs. A line is one JSON
/// object with the event's fields flattened beside the time and the actor
/// (`{"time_ms":…,"actor":{…},"operation":…,"uids":[…],"outcome":…,"reason":…}`), the format
/// files left by earlier releases hold (`read_journal_tests.rs` keeps a line of it).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct JournalEntry {
    pub time_ms: i64,
    pub actor: Actor,
    #[serde(flatten)]
    pub event: AuditEvent,
    /// Objects whose Fresh flag the recorded read cleared (it served them first); the fold
    /// applies the clears ([`FoldEffects`]). Absent from the line when empty, as in the lines
    /// of earlier releases.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fresh_cleared: Vec<String>,
}

impl JournalEntry {
    pub fn new(time_ms: i64, actor: Actor, event: AuditEvent) -> JournalEntry {
        JournalEntry {
            time_ms,
            actor,
            event,
            fresh_cleared: Vec::new(),
        }
    }
}

/// What a journalled read changed besides its record, applied in the fold's transaction by
/// the layer that knows what it means (the engine: `engine/fresh.rs`).
pub trait FoldEffects {
    /// A read served `uid` first: its Fresh flag is cleared (nothing when it already is, or
    /// the object is gone).
    fn clear_fresh(&self, txn: &mut dyn WriteView, uid: &str) -> Result<(), StoreError>;
}

/// For folds whose transaction cannot hold objects (a cluster node's local audit log): the
/// clears are skipped, with a warning. A cluster node never journals one (its first Gets
/// commit through etcd); only a journal left by the single appliance it was could hold them.
pub struct SkipEffects;

impl FoldEffects for SkipEffects {
    fn clear_fresh(&self, _txn: &mut dyn WriteView, uid: &str) -> Result<(), StoreError> {
        log::warn!("read journal: the Fresh flag of {uid} cannot be cleared here and stays set");
        Ok(())
    }
}

/// The records of one journal file, taken by the committer to fold.
#[derive(Debug)]
pub struct JournalBatch {
    generation: u64,
    /// The byte offset in the generation's file after the batch's last record.
    end: u64,
    path: PathBuf,
    entries: Vec<JournalEntry>,
    /// The file was replaced by the next generation when the batch was taken: once the batch
    /// is folded, nothing in the file waits any more and it is removed.
    last_of_file: bool,
}

impl JournalBatch {
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Appends the batch's records to the chain inside `txn`, applies what the reads changed
    /// besides (`effects`), and marks its generation folded.
    pub fn fold(
        &self,
        txn: &mut dyn WriteView,
        ctx: &AuditContext,
        effects: &dyn FoldEffects,
    ) -> Result<(), AuditError> {
        fold_entries(
            txn,
            ctx,
            effects,
            Folded::upto(self.generation, self.end),
            &self.entries,
        )
    }
}

/// How far the journal is folded: every record of an older generation, and those of
/// `generation` before byte `offset` of its file (`u64::MAX`: the whole file).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Folded {
    generation: u64,
    offset: u64,
}

impl Folded {
    const NOTHING: Folded = Folded {
        generation: 0,
        offset: u64::MAX,
    };

    fn upto(generation: u64, offset: u64) -> Folded {
        Folded { generation, offset }
    }

    fn from_meta(bytes: Option<Vec<u8>>) -> Folded {
        let Some(bytes) = bytes else {
            return Folded::NOTHING;
        };
        let word = |range: std::ops::Range<usize>| {
            bytes
                .get(range)
                .and_then(|b| <[u8; 8]>::try_from(b).ok())
                .map(u64::from_be_bytes)
        };
        match (bytes.len(), word(0..8), word(8..16)) {
            (16, Some(generation), Some(offset)) => Folded { generation, offset },
            // Written before journal files were reused: that generation was folded whole.
            (8, Some(generation), _) => Folded {
                generation,
                offset: u64::MAX,
            },
            _ => Folded::NOTHING,
        }
    }

    fn to_meta(self) -> [u8; 16] {
        let mut bytes = [0u8; 16];
        bytes[..8].copy_from_slice(&self.generation.to_be_bytes());
        bytes[8..].copy_from_slice(&self.offset.to_be_bytes());
        bytes
    }
}

fn fold_entries(
    txn: &mut dyn WriteView,
    ctx: &AuditContext,
    effects: &dyn FoldEffects,
    upto: Folded,
    entries: &[JournalEntry],
) -> Result<(), AuditError> {
    // The batch's records follow each other: the chain's end is read once.
    let mut tail = super::ChainTail::default();
    for entry in entries {
        for uid in &entry.fresh_cleared {
            effects.clear_fresh(txn, uid)?;
        }
        tail.append(
            txn,
            ctx,
            entry.actor.clone(),
            entry.event.clone(),
            entry.time_ms,
        )?;
    }
    // The marker only moves forward, also if folds ever commit out of order.
    let stored = Folded::from_meta(txn.get_meta(FOLDED_META)?);
    if stored == Folded::NOTHING || upto > stored {
        txn.put_meta(FOLDED_META, &upto.to_meta())?;
    }
    Ok(())
}

struct Current {
    generation: u64,
    path: PathBuf,
    file: File,
    /// Bytes in `file`: where the next record starts.
    written: u64,
    /// A write to `file` failed part-way: where its records end is not known, so nothing more
    /// is appended to it and the next fold replaces it.
    broken: bool,
    entries: Vec<JournalEntry>,
    /// Batches whose fold did not commit: folded again first, before newer ones.
    retry: Vec<JournalBatch>,
    /// Records appended since the server started.
    appended: u64,
}

/// The journal a running server appends reads to.
pub struct ReadJournal {
    dir: PathBuf,
    current: Mutex<Current>,
    /// Records whose fold has committed since the server started, and its waiters.
    folded: Mutex<u64>,
    folded_changed: Condvar,
}

#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error("read journal {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("read journal: {0}")]
    Audit(#[from] AuditError),
    #[error("read journal: {0}")]
    Store(#[from] StoreError),
    #[error("the read journal's lock was poisoned")]
    Poisoned,
    #[error("read journal: {0} records wait for a commit the store cannot make")]
    Backlog(usize),
    #[error("read journal: the current file is left after a failed write, until the next fold")]
    Broken,
}

fn io_error(path: &Path, source: std::io::Error) -> JournalError {
    JournalError::Io {
        path: path.display().to_string(),
        source,
    }
}

fn file_path(dir: &Path, generation: u64) -> PathBuf {
    dir.join(format!("{generation:020}.jsonl"))
}

fn create_file(path: &Path) -> Result<File, JournalError> {
    OpenOptions::new()
        // Always a new generation: an existing file (never expected) is an error rather than
        // appended to.
        .create_new(true)
        .append(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| io_error(path, e))
}

/// Journal files in `dir` with their generations, oldest first.
fn journal_files(dir: &Path) -> Result<Vec<(u64, PathBuf)>, JournalError> {
    let mut files = Vec::new();
    let listing = match std::fs::read_dir(dir) {
        Ok(listing) => listing,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(files),
        Err(e) => return Err(io_error(dir, e)),
    };
    for entry in listing {
        let entry = entry.map_err(|e| io_error(dir, e))?;
        let name = entry.file_name();
        let Some(generation) = name
            .to_str()
            .and_then(|n| n.strip_suffix(".jsonl"))
            .and_then(|n| n.parse::<u64>().ok())
        else {
            continue;
        };
        files.push((generation, entry.path()));
    }
    files.sort();
    Ok(files)
}

/// The entries of one journal file. A torn last line (power loss mid-write) is skipped with a
/// warning; nothing after a torn line was acknowledged by an answer that the kernel kept.
/// Returns them with the file's length (the offset after the last one).
fn read_entries(path: &Path, from: u64) -> Result<(Vec<JournalEntry>, u64), JournalError> {
    let mut file = File::open(path).map_err(|e| io_error(path, e))?;
    let length = file.metadata().map_err(|e| io_error(path, e))?.len();
    let mut entries = Vec::new();
    if from >= length {
        return Ok((entries, length));
    }
    file.seek(SeekFrom::Start(from))
        .map_err(|e| io_error(path, e))?;
    for line in BufReader::new(file).lines() {
        let line = line.map_err(|e| io_error(path, e))?;
        if line.is_empty() {
            continue;
        }
        match serde_json::from_str::<JournalEntry>(&line) {
            Ok(entry) => entries.push(entry),
            Err(e) => log::warn!(
                "read journal {}: skipping an unreadable line ({e}): torn by a power loss?",
                path.display()
            ),
        }
    }
    Ok((entries, length))
}

/// Removes a journal file whose every record is folded; a failure only leaves it for the next
/// start's [`recover`], which skips what the marker says is folded.
fn remove_folded(path: &Path) {
    if let Err(e) = std::fs::remove_file(path) {
        log::warn!(
            "cannot remove the folded read journal {}: {e}",
            path.display()
        );
    }
}

fn folded_upto(store: &dyn Store) -> Result<Folded, StoreError> {
    Ok(Folded::from_meta(store.read()?.get_meta(FOLDED_META)?))
}

/// A transaction the audit table can be written in: the local log of a cluster node, or the
/// store itself.
fn audit_txn(store: &dyn Store) -> Result<Box<dyn crate::store::WriteTxn + '_>, StoreError> {
    match store.audit_only_write()? {
        Some(txn) => Ok(txn),
        None => store.write(),
    }
}

/// At start-up: folds into the `audit` table every record a crash left in the journal files
/// (those past the folded marker), in one durable commit, then removes the files.
/// Returns how many records were folded and the highest generation seen.
pub fn recover(
    store: &dyn Store,
    ctx: &AuditContext,
    effects: &dyn FoldEffects,
    data_dir: &Path,
) -> Result<(usize, u64), JournalError> {
    let dir = data_dir.join(DIR_NAME);
    let files = journal_files(&dir)?;
    let Some(&(last, _)) = files.last() else {
        return Ok((0, 0));
    };
    let folded = folded_upto(store)?;
    let mut count = 0;
    let mut txn = None;
    for (generation, path) in &files {
        let from = match generation.cmp(&folded.generation) {
            std::cmp::Ordering::Less => continue,
            std::cmp::Ordering::Equal => folded.offset,
            std::cmp::Ordering::Greater => 0,
        };
        let (entries, end) = read_entries(path, from)?;
        if entries.is_empty() {
            continue;
        }
        count += entries.len();
        let txn = match &mut txn {
            Some(txn) => txn,
            None => txn.insert(audit_txn(store)?),
        };
        fold_entries(
            txn.as_mut(),
            ctx,
            effects,
            Folded::upto(*generation, end),
            &entries,
        )?;
    }
    if let Some(txn) = txn {
        txn.commit()?;
    }
    for (_, path) in &files {
        std::fs::remove_file(path).map_err(|e| io_error(path, e))?;
    }
    Ok((count, last.max(folded.generation)))
}

impl ReadJournal {
    /// Opens a fresh journal file after [`recover`] (`after` = the generation it returned).
    pub fn open(data_dir: &Path, after: u64) -> Result<ReadJournal, JournalError> {
        let dir = data_dir.join(DIR_NAME);
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&dir)
            .map_err(|e| io_error(&dir, e))?;
        let generation = after + 1;
        let path = file_path(&dir, generation);
        let file = create_file(&path)?;
        Ok(ReadJournal {
            dir,
            current: Mutex::new(Current {
                generation,
                path,
                file,
                written: 0,
                broken: false,
                entries: Vec::new(),
                retry: Vec::new(),
                appended: 0,
            }),
            folded: Mutex::new(0),
            folded_changed: Condvar::new(),
        })
    }

    /// Writes the records of one answered read to the journal with a single `write(2)`. When
    /// this returns `Ok`, they survive a crash of the process; the answer may be released.
    /// `Ok` holds how many records were appended since the server started, these included:
    /// once [`ReadJournal::folded`] reaches it, they are folded.
    pub fn append(&self, entries: Vec<JournalEntry>) -> Result<u64, JournalError> {
        if entries.is_empty() {
            let current = self.current.lock().map_err(|_| JournalError::Poisoned)?;
            return Ok(current.appended);
        }
        let mut bytes = Vec::with_capacity(256 * entries.len());
        for entry in &entries {
            serde_json::to_writer(&mut bytes, entry)
                .map_err(|e| AuditError::Corrupt(format!("encoding a journal line: {e}")))?;
            bytes.push(b'\n');
        }
        let mut current = self.current.lock().map_err(|_| JournalError::Poisoned)?;
        let waiting =
            current.entries.len() + current.retry.iter().map(JournalBatch::len).sum::<usize>();
        if waiting + entries.len() > MAX_PENDING {
            return Err(JournalError::Backlog(waiting));
        }
        if current.broken {
            return Err(JournalError::Broken);
        }
        if let Err(e) = current.file.write_all(&bytes) {
            // Part of the bytes may be in the file: the offsets of what follows are unknown.
            current.broken = true;
            return Err(io_error(&current.path, e));
        }
        current.written += bytes.len() as u64;
        current.appended += entries.len() as u64;
        current.entries.extend(entries);
        Ok(current.appended)
    }

    /// How many records have been folded (their fold's commit durable) since the server
    /// started. Folds commit in the order the records were appended (a fold that failed is
    /// retried ahead of anything newer, and a failed flush stops the store), so the folded
    /// records are always the first this many appended.
    pub fn folded(&self) -> u64 {
        self.folded.lock().map(|f| *f).unwrap_or(0)
    }

    /// True when records wait to be folded (or a broken file waits to be replaced).
    pub fn has_pending(&self) -> bool {
        self.current
            .lock()
            .map(|c| !c.entries.is_empty() || !c.retry.is_empty() || c.broken)
            .unwrap_or(false)
    }

    /// Takes everything written so far, oldest first. The current file stays for what comes
    /// next until it holds [`ROTATE_BYTES`] (or a write to it failed); then the next
    /// generation's file replaces it. Empty when nothing waits.
    pub fn take(&self) -> Result<Vec<JournalBatch>, JournalError> {
        let mut current = self.current.lock().map_err(|_| JournalError::Poisoned)?;
        let rotate = current.broken || current.written >= ROTATE_BYTES;
        if current.entries.is_empty() && !rotate {
            return Ok(std::mem::take(&mut current.retry));
        }
        let mut replaced = None;
        if rotate {
            let path = file_path(&self.dir, current.generation + 1);
            match create_file(&path) {
                Ok(file) => replaced = Some((path, file)),
                // A full file may be replaced later; a broken one must be now.
                Err(e) if current.broken => return Err(e),
                Err(e) => log::warn!("{e}; the current read journal file is kept"),
            }
        }
        let last_of_file = replaced.is_some();
        let (generation, end, path) = match replaced {
            Some((path, file)) => {
                current.file = file;
                current.broken = false;
                let path = std::mem::replace(&mut current.path, path);
                let end = std::mem::replace(&mut current.written, 0);
                current.generation += 1;
                (current.generation - 1, end, path)
            }
            None => (current.generation, current.written, current.path.clone()),
        };
        let mut batches = std::mem::take(&mut current.retry);
        batches.push(JournalBatch {
            generation,
            end,
            path,
            entries: std::mem::take(&mut current.entries),
            last_of_file,
        });
        Ok(batches)
    }

    /// The batches' fold committed: the files they were the last records of are no longer
    /// needed.
    pub fn committed(&self, batches: Vec<JournalBatch>) {
        let count: u64 = batches.iter().map(|b| b.len() as u64).sum();
        if let Ok(mut folded) = self.folded.lock() {
            *folded += count;
            self.folded_changed.notify_all();
        }
        for batch in batches.into_iter().filter(|b| b.last_of_file) {
            remove_folded(&batch.path);
        }
    }

    /// Waits until every record appended before the call is in the `audit` table, or until
    /// `timeout` has passed; true when they are. For audit queries, which read the table.
    pub fn wait_folded(&self, timeout: Duration) -> bool {
        let Ok(target) = self.current.lock().map(|c| c.appended) else {
            return false;
        };
        let deadline = Instant::now() + timeout;
        let Ok(mut folded) = self.folded.lock() else {
            return false;
        };
        while *folded < target {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            folded = match self.folded_changed.wait_timeout(folded, left) {
                Ok((guard, _)) => guard,
                Err(_) => return false,
            };
        }
        true
    }

    /// The batches' fold did not commit: keep them for the next one.
    pub fn restore(&self, batches: Vec<JournalBatch>) {
        if let Ok(mut current) = self.current.lock() {
            let newer = std::mem::take(&mut current.retry);
            current.retry = batches;
            current.retry.extend(newer);
        }
    }

    /// At a clean shutdown, after the last fold: removes the current file when everything in
    /// it is folded, so a stopped server leaves no journal behind. Nothing can be appended
    /// afterwards (a read would go to the committer).
    pub fn close(&self) {
        let Ok(mut current) = self.current.lock() else {
            return;
        };
        if !current.entries.is_empty() || !current.retry.is_empty() || current.broken {
            return; // folded at the next start
        }
        current.broken = true;
        remove_folded(&current.path);
    }

    /// Folds everything pending in a transaction of its own (the committer, when no group
    /// came within the sync interval, and at shutdown). Returns how many records it folded.
    pub fn fold_now(
        &self,
        store: &dyn Store,
        ctx: &AuditContext,
        effects: &dyn FoldEffects,
    ) -> Result<usize, JournalError> {
        let batches = self.take()?;
        if batches.is_empty() {
            return Ok(0);
        }
        let result = (|| -> Result<usize, JournalError> {
            let mut txn = audit_txn(store)?;
            let mut count = 0;
            for batch in &batches {
                batch.fold(txn.as_mut(), ctx, effects)?;
                count += batch.len();
            }
            txn.commit()?;
            Ok(count)
        })();
        match result {
            Ok(count) => {
                self.committed(batches);
                Ok(count)
            }
            Err(e) => {
                self.restore(batches);
                Err(e)
            }
        }
    }
}
