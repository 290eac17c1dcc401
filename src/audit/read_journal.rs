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
//! Files: `<data dir>/audit-reads/<generation>.jsonl`, one JSON line per record. Each fold takes
//! the whole current file and starts the next generation; the fold's transaction also stores
//! the generation it folded (meta [`FOLDED_META`]), so a crash between the commit and the
//! file's removal never folds a record twice. [`recover`] folds what a crash left behind, at
//! start-up, before the first request.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::record::{Actor, AuditEvent, Outcome};
use super::{AuditContext, AuditError};
use crate::store::{Store, StoreError, WriteView};

/// Meta key: the highest journal generation whose records are in the `audit` table.
pub const FOLDED_META: &str = "audit.reads_folded_generation";
/// The journal's directory under the data directory.
pub const DIR_NAME: &str = "audit-reads";

/// Records that may wait unfolded (in memory and in the files) at most. When the store cannot
/// commit for so long that this many pile up, reads go to the committer (and fail with it):
/// memory stays bounded, and no read is answered whose record could not be kept.
pub const MAX_PENDING: usize = 100_000;

/// One read's record as journalled: everything [`super::record_at`] needs.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct JournalEntry {
    pub time_ms: i64,
    pub actor: Actor,
    pub operation: String,
    pub uids: Vec<String>,
    pub outcome: Outcome,
    pub reason: Option<String>,
}

impl JournalEntry {
    pub fn new(time_ms: i64, actor: Actor, event: AuditEvent) -> JournalEntry {
        JournalEntry {
            time_ms,
            actor,
            operation: event.operation,
            uids: event.uids,
            outcome: event.outcome,
            reason: event.reason,
        }
    }

    fn event(&self) -> AuditEvent {
        AuditEvent {
            operation: self.operation.clone(),
            uids: self.uids.clone(),
            outcome: self.outcome,
            reason: self.reason.clone(),
        }
    }
}

/// The records of one journal file, taken by the committer to fold.
#[derive(Debug)]
pub struct JournalBatch {
    generation: u64,
    path: PathBuf,
    entries: Vec<JournalEntry>,
}

impl JournalBatch {
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Appends the batch's records to the chain inside `txn`, and marks its generation folded.
    pub fn fold(&self, txn: &mut dyn WriteView, ctx: &AuditContext) -> Result<(), AuditError> {
        fold_entries(txn, ctx, self.generation, &self.entries)
    }
}

fn fold_entries(
    txn: &mut dyn WriteView,
    ctx: &AuditContext,
    generation: u64,
    entries: &[JournalEntry],
) -> Result<(), AuditError> {
    for entry in entries {
        super::record_at(txn, ctx, entry.actor.clone(), entry.event(), entry.time_ms)?;
    }
    txn.put_meta(FOLDED_META, &generation.to_be_bytes())?;
    Ok(())
}

struct Current {
    generation: u64,
    path: PathBuf,
    file: File,
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
        .create(true)
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
fn read_entries(path: &Path) -> Result<Vec<JournalEntry>, JournalError> {
    let file = File::open(path).map_err(|e| io_error(path, e))?;
    let mut entries = Vec::new();
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
    Ok(entries)
}

fn folded_generation(store: &dyn Store) -> Result<u64, StoreError> {
    let view = store.read()?;
    Ok(view
        .get_meta(FOLDED_META)?
        .and_then(|bytes| <[u8; 8]>::try_from(bytes.as_slice()).ok())
        .map(u64::from_be_bytes)
        .unwrap_or(0))
}

/// A transaction the audit table can be written in: the local log of a cluster node, or the
/// store itself.
fn audit_txn(store: &dyn Store) -> Result<Box<dyn crate::store::WriteTxn + '_>, StoreError> {
    match store.audit_only_write()? {
        Some(txn) => Ok(txn),
        None => store.write(),
    }
}

/// At start-up: folds into the `audit` table every journal file a crash left behind (those
/// whose generation is not yet marked folded), in one durable commit, then removes the files.
/// Returns how many records were folded and the highest generation seen.
pub fn recover(
    store: &dyn Store,
    ctx: &AuditContext,
    data_dir: &Path,
) -> Result<(usize, u64), JournalError> {
    let dir = data_dir.join(DIR_NAME);
    let files = journal_files(&dir)?;
    let Some(&(last, _)) = files.last() else {
        return Ok((0, 0));
    };
    let folded = folded_generation(store)?;
    let mut count = 0;
    let pending: Vec<_> = files.iter().filter(|(g, _)| *g > folded).collect();
    if !pending.is_empty() {
        let mut txn = audit_txn(store)?;
        for (generation, path) in &pending {
            let entries = read_entries(path)?;
            count += entries.len();
            fold_entries(txn.as_mut(), ctx, *generation, &entries)?;
        }
        txn.commit()?;
    }
    for (_, path) in &files {
        std::fs::remove_file(path).map_err(|e| io_error(path, e))?;
    }
    Ok((count, last.max(folded)))
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
    pub fn append(&self, entries: Vec<JournalEntry>) -> Result<(), JournalError> {
        if entries.is_empty() {
            return Ok(());
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
        let path = current.path.clone();
        current
            .file
            .write_all(&bytes)
            .map_err(|e| io_error(&path, e))?;
        current.appended += entries.len() as u64;
        current.entries.extend(entries);
        Ok(())
    }

    /// True when records wait to be folded.
    pub fn has_pending(&self) -> bool {
        self.current
            .lock()
            .map(|c| !c.entries.is_empty() || !c.retry.is_empty())
            .unwrap_or(false)
    }

    /// Takes everything written so far, oldest first, and starts a new file for what comes
    /// next. Empty when nothing waits.
    pub fn take(&self) -> Result<Vec<JournalBatch>, JournalError> {
        let mut current = self.current.lock().map_err(|_| JournalError::Poisoned)?;
        let mut batches = std::mem::take(&mut current.retry);
        if current.entries.is_empty() {
            return Ok(batches);
        }
        let generation = current.generation + 1;
        let path = file_path(&self.dir, generation);
        let file = create_file(&path)?;
        let old_path = std::mem::replace(&mut current.path, path);
        current.file = file;
        let old_generation = std::mem::replace(&mut current.generation, generation);
        batches.push(JournalBatch {
            generation: old_generation,
            path: old_path,
            entries: std::mem::take(&mut current.entries),
        });
        Ok(batches)
    }

    /// The batches' fold committed: their files are no longer needed.
    pub fn committed(&self, batches: Vec<JournalBatch>) {
        let count: u64 = batches.iter().map(|b| b.len() as u64).sum();
        if let Ok(mut folded) = self.folded.lock() {
            *folded += count;
            self.folded_changed.notify_all();
        }
        for batch in batches {
            if let Err(e) = std::fs::remove_file(&batch.path) {
                log::warn!(
                    "cannot remove the folded read journal {}: {e}",
                    batch.path.display()
                );
            }
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

    /// Folds everything pending in a transaction of its own (the committer, when no group
    /// came within the sync interval, and at shutdown). Returns how many records it folded.
    pub fn fold_now(&self, store: &dyn Store, ctx: &AuditContext) -> Result<usize, JournalError> {
        let batches = self.take()?;
        if batches.is_empty() {
            return Ok(0);
        }
        let result = (|| -> Result<usize, JournalError> {
            let mut txn = audit_txn(store)?;
            let mut count = 0;
            for batch in &batches {
                batch.fold(txn.as_mut(), ctx)?;
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
