//! The embedded redb backend: one file, four tables (layout in `docs/storage.md`, schema 2;
//! `migrate.rs` brings schema-1 files forward).
//!
//! Crash recovery: redb records in its own header whether the file was closed cleanly, and on
//! the next open after a crash it runs a full repair, which verifies the checksum of every
//! committed page and falls back to the previous commit if the last one is torn. We hook its
//! repair callback rather than keeping a marker of our own: a marker would need a commit at
//! every shutdown and could disagree with redb's own state, while the callback fires exactly
//! when redb found the file not cleanly closed. [`RedbStore::repaired_on_open`] reports it, and
//! [`RedbStore::check_integrity`] runs the same verification on demand.
//!
//! Write failures: redb latches every I/O error, after which the handle answers nothing, not
//! even reads, until the database is reopened. A full disk loses nothing (the failed commit
//! never reached the header), so the store reopens itself at once: reads go on, writes fail
//! with [`StoreError::Full`] while there is no space and succeed again when there is. Any
//! other I/O error (EIO from fsync, typically) is fail-stop: after a failed fsync the kernel
//! may have dropped the dirty pages, so retrying could acknowledge data that is not on disk.
//! The store then refuses every write with [`StoreError::Failed`] until a restart, logs why
//! once, and [`RedbStore::failure`] (also [`Store::failure`]) reports it for health checks.

mod deferred_sync;
mod index_key;
mod migrate;
pub(crate) mod record;
mod reserve;
mod zero_ahead;

use std::cell::OnceCell;
use std::fs::OpenOptions;
use std::io::ErrorKind;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};

use ::redb::{
    Database, Durability, ReadOnlyTable, ReadableDatabase, ReadableTable, ReadableTableMetadata,
    TableDefinition, TableError,
};

use super::{
    Cause, IndexTerm, PendingCommit, ReadView, Store, StoreError, StoredObject, WriteTxn, WriteView,
};
use deferred_sync::SyncGate;
use reserve::SpaceReserve;

/// The newest snapshot known to be durable, and the flush number that made it so: what
/// readers see while a later commit's flush is still running (`deferred_sync.rs`).
type Published = Arc<Mutex<Option<(u64, Arc<::redb::ReadTransaction>)>>>;

/// Schema version this build writes and reads. Bump it, and add a migration in `migrate.rs`,
/// whenever a table, key layout or record format changes. 2: owner entries moved from
/// `owner_index` into `term_index` (one table less written per commit).
pub const SCHEMA_VERSION: u32 = 2;
/// Meta key holding [`SCHEMA_VERSION`] as a big-endian u32. Reserved: nothing else writes it.
pub const META_SCHEMA_VERSION: &str = "store.schema_version";

const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");
const OBJECTS: TableDefinition<&str, &[u8]> = TableDefinition::new("objects");
/// Owner entries and term entries (`index_key.rs`). Named `term_index` since schema 1, when it
/// held the term entries only, so the migration did not have to copy them.
const INDEX: TableDefinition<&[u8], ()> = TableDefinition::new("term_index");
/// The audit log: sequence number → record encoded by `crate::audit` (see `docs/audit.md`).
pub const AUDIT: TableDefinition<u64, &[u8]> = TableDefinition::new("audit");

/// Maps any redb error into the store's error, saying what we were doing.
fn redb_error(context: &str, err: impl Into<::redb::Error>) -> StoreError {
    match err.into() {
        // Fail-stop: redb refuses all further I/O on this handle after an I/O error.
        ::redb::Error::PreviousIo => StoreError::Failed(format!(
            "{context}: an earlier I/O error left the database handle unusable; restart to reopen it"
        ).into()),
        ::redb::Error::DatabaseClosed
        | ::redb::Error::LockPoisoned(_)
        | ::redb::Error::TransactionPoisoned => StoreError::Failed(format!(
            "{context}: the database handle is no longer usable"
        ).into()),
        ::redb::Error::Corrupted(message) => StoreError::Corrupt(format!("{context}: {message}").into()),
        ::redb::Error::DatabaseAlreadyOpen => StoreError::Io(format!(
            "{context}: the database is already open in another process (is another keyward running?)"
        ).into()),
        ::redb::Error::Io(io) if is_disk_full(&io) => StoreError::Full(Cause::with_source(context, io)),
        other => StoreError::Io(Cause::with_source(context, other)),
    }
}

fn is_disk_full(io: &std::io::Error) -> bool {
    io.kind() == ErrorKind::StorageFull
        || io.raw_os_error() == Some(rustix::io::Errno::DQUOT.raw_os_error())
}

/// Why the store stopped taking writes, shared with whoever reports health.
#[derive(Debug, Default)]
struct Health {
    /// Set once, on the first I/O error that is not a full disk; never cleared.
    failed: Mutex<Option<String>>,
    /// The handle hit a full disk and must be replaced before the next transaction.
    needs_reopen: AtomicBool,
    /// Space kept back for reads and their audit records on a full disk (see `reserve.rs`).
    reserve: Option<SpaceReserve>,
}

impl Health {
    /// Records what `err` means for the handle, logs the change, and passes `err` on.
    fn note(&self, err: StoreError) -> StoreError {
        if let (StoreError::Full(_), Some(reserve)) = (&err, &self.reserve) {
            reserve.release();
        }
        match &err {
            StoreError::Full(message) if !self.needs_reopen.swap(true, Ordering::SeqCst) => {
                log::error!(
                    "store: the disk is full, changes are refused until space is freed ({message})"
                );
            }
            StoreError::Io(message) | StoreError::Failed(message) => {
                let mut failed = self.failed.lock().unwrap_or_else(PoisonError::into_inner);
                if failed.is_none() {
                    log::error!(
                        "store failed: {message}; writes are stopped until keyward is restarted (redb must reopen the database)"
                    );
                    *failed = Some(message.to_string());
                }
            }
            _ => {}
        }
        err
    }

    fn failure(&self) -> Option<String> {
        self.failed
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

/// Keyward's store in one redb file.
pub struct RedbStore {
    /// First, so it is dropped before the database: a read transaction still open would keep
    /// redb from recording a clean shutdown.
    published: Published,
    /// `None` only between dropping a handle that hit a full disk and opening its successor.
    db: RwLock<Option<Database>>,
    path: PathBuf,
    /// False for a store on a caller's backend: it has no file to reopen.
    reopenable: bool,
    repaired_on_open: bool,
    health: Health,
    /// How the file was opened (reopening after a full disk does the same).
    options: RedbOptions,
    /// The flushes of the open handle, run after its commits return (`deferred_sync.rs`).
    gate: RwLock<Option<Arc<SyncGate>>>,
}

/// redb's page cache when nothing else is asked for. redb's own default (1 GiB) would let
/// a large store's pages, all read by the integrity check at start-up, settle in memory; the
/// hot part of a key store (index pages, recent objects) fits in far less.
pub const DEFAULT_CACHE_BYTES: usize = 64 << 20;

/// Largest file that [`VerifyAtStart::Auto`] verifies page by page at every start: about half
/// a second of reading here. Beyond it a clean start would take seconds per GB.
pub const AUTO_VERIFY_MAX_BYTES: u64 = 256 << 20;

/// When the checksum of every page is verified on open.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum VerifyAtStart {
    /// At every open, also after a clean shutdown: damage from outside redb (disk, copy,
    /// restore) is found at start-up rather than on first use.
    Always,
    /// Only when the file was not closed cleanly (redb's own repair, which cannot be skipped).
    AfterCrash,
    /// `Always` while the file is at most [`AUTO_VERIFY_MAX_BYTES`], else `AfterCrash`.
    #[default]
    Auto,
}

/// How the redb file is opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RedbOptions {
    /// Most memory redb's page cache may hold.
    pub cache_bytes: usize,
    pub verify: VerifyAtStart,
}

impl Default for RedbOptions {
    fn default() -> Self {
        RedbOptions {
            cache_bytes: DEFAULT_CACHE_BYTES,
            verify: VerifyAtStart::default(),
        }
    }
}

impl RedbStore {
    /// Opens or creates the database at `path` (file mode 0600) with the default options,
    /// checks or writes the schema version; see [`RedbStore::open_with`].
    pub fn open(path: &Path) -> Result<RedbStore, StoreError> {
        RedbStore::open_with(path, RedbOptions::default())
    }

    /// Opens or creates the database at `path`. redb verifies and repairs the file when the
    /// previous run did not shut down cleanly; after a clean shutdown `options.verify` decides.
    pub fn open_with(path: &Path, options: RedbOptions) -> Result<RedbStore, StoreError> {
        create_private_file(path)?;
        let (db, repaired, gate) = open_database(path, options)?;
        let store = RedbStore {
            db: RwLock::new(Some(db)),
            path: path.to_path_buf(),
            options,
            reopenable: true,
            repaired_on_open: repaired,
            health: Health::default(),
            gate: RwLock::new(Some(gate)),
            published: Published::default(),
        };
        store.check_or_write_schema()?;
        Ok(store)
    }

    /// Opens the store on a caller-supplied redb backend (`name` is only for messages). For
    /// fault-injection tests (power loss, I/O errors); such a store cannot reopen itself after
    /// a full disk.
    pub fn open_with_backend(
        backend: impl ::redb::StorageBackend,
        name: &str,
    ) -> Result<RedbStore, StoreError> {
        let path = PathBuf::from(name);
        let options = RedbOptions {
            verify: VerifyAtStart::Always,
            ..RedbOptions::default()
        };
        let (gate, backend) = SyncGate::wrap(backend);
        let (db, repaired) = open_database_with(&path, options, move |builder| {
            builder.create_with_backend(backend)
        })?;
        let store = RedbStore {
            db: RwLock::new(Some(db)),
            path,
            options,
            reopenable: false,
            repaired_on_open: repaired,
            health: Health::default(),
            gate: RwLock::new(Some(gate)),
            published: Published::default(),
        };
        store.check_or_write_schema()?;
        Ok(store)
    }

    /// Keeps `bytes` of disk space allocated beside the database (`<file>.reserve`), released
    /// when a commit meets a full disk so reads and their audit records can still be written
    /// while changes are refused ([`Store::space_low`]). 0 keeps no reserve.
    pub fn with_disk_reserve(mut self, bytes: u64) -> RedbStore {
        self.health.reserve =
            (bytes > 0).then(|| SpaceReserve::hold(self.path.with_extension("reserve"), bytes));
        self
    }

    /// True while the store runs on its disk reserve: see [`Store::space_low`].
    pub fn space_low(&self) -> bool {
        self.health
            .reserve
            .as_ref()
            .is_some_and(SpaceReserve::in_use)
    }

    /// The flush gate of the open handle.
    fn gate(&self) -> Option<Arc<SyncGate>> {
        self.gate
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// True when redb found the file not cleanly closed and verified/repaired it during `open`.
    pub fn repaired_on_open(&self) -> bool {
        self.repaired_on_open
    }

    /// Why the store refuses writes until a restart (an I/O error other than a full disk),
    /// or `None` while it is healthy. For health checks.
    pub fn failure(&self) -> Option<String> {
        self.health.failure().or_else(|| {
            self.gate()
                .and_then(|gate| gate.failure())
                .filter(|e| !is_disk_full(e))
                .map(|e| format!("committing: flushing to disk failed: {e}"))
        })
    }

    /// Verifies the checksum of every committed page now (slow: reads the whole file). `Ok(true)`
    /// if intact, `Ok(false)` if it was damaged and has been repaired to the last good commit.
    /// Needs `&mut self`: no read or write transaction may be alive.
    pub fn check_integrity(&mut self) -> Result<bool, StoreError> {
        let context = format!("checking integrity of store {}", self.path.display());
        // redb verifies only with no read transaction alive: drop the published snapshot.
        *self
            .published
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = None;
        let db = self
            .db
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner)
            .as_mut()
            .ok_or_else(|| {
                StoreError::Failed(format!("{context}: the store is not open").into())
            })?;
        db.check_integrity()
            .map_err(|err| redb_error(&context, err))
    }

    /// Runs `f` on the open handle, first replacing a handle that hit a full disk.
    fn with_db<T>(
        &self,
        f: impl FnOnce(&Database) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        if let Some(message) = self.failure() {
            return Err(StoreError::Failed(message.into()));
        }
        // A flush that met a full disk: the handle is replaced, as after a failed commit.
        if let Some(gate) = self.gate()
            && gate.failure().is_some_and(|e| is_disk_full(&e))
            && !self.health.needs_reopen.load(Ordering::SeqCst)
        {
            self.health
                .note(StoreError::Full("flushing a commit to disk".into()));
        }
        if self.health.needs_reopen.load(Ordering::SeqCst) {
            self.reopen()?;
        }
        let guard = self.db.read().unwrap_or_else(PoisonError::into_inner);
        match guard.as_ref() {
            Some(db) => f(db).map_err(|err| self.health.note(err)),
            None => Err(StoreError::Full(
                format!(
                    "store {} is being reopened after a full disk",
                    self.path.display()
                )
                .into(),
            )),
        }
    }

    /// Drops the latched handle and opens the file again. Nothing acknowledged is lost: the
    /// failed commit never wrote the header, and redb's repair on open verifies every page.
    fn reopen(&self) -> Result<(), StoreError> {
        let mut guard = self.db.write().unwrap_or_else(PoisonError::into_inner);
        if !self.health.needs_reopen.load(Ordering::SeqCst) {
            return Ok(()); // another thread already did it
        }
        if !self.reopenable {
            return Err(StoreError::Failed(
                format!(
                    "store {} hit a full disk and cannot be reopened in place",
                    self.path.display()
                )
                .into(),
            ));
        }
        // The old handle must be gone before the new one can take redb's file lock.
        drop(guard.take());
        *self
            .published
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = None;
        let (db, _, gate) = open_database(&self.path, self.options)?;
        *guard = Some(db);
        *self.gate.write().unwrap_or_else(PoisonError::into_inner) = Some(gate);
        self.health.needs_reopen.store(false, Ordering::SeqCst);
        log::info!("store {} reopened after a full disk", self.path.display());
        Ok(())
    }
}

/// Opens (or creates) the redb file; `true` when it had to be repaired after a crash. redb
/// writes through [`SyncGate`], so a commit's flush can run beside the next group, and through
/// [`zero_ahead`], so that flush rarely has to commit a block allocation too.
fn open_database(
    path: &Path,
    options: RedbOptions,
) -> Result<(Database, bool, Arc<SyncGate>), StoreError> {
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .map_err(|err| {
            StoreError::Io(Cause::with_source(
                format!("opening store {}", path.display()),
                err,
            ))
        })?;
    // Only an optimisation: a file whose holes cannot be listed is opened all the same.
    let holes = zero_ahead::Holes::scan(&file).unwrap_or_else(|err| {
        log::warn!(
            "store {}: could not list the file's holes ({err}); its commits allocate disk \
             blocks as they go",
            path.display()
        );
        zero_ahead::Holes::default()
    });
    let file = ::redb::backends::FileBackend::new(file)
        .map_err(|err| redb_error(&format!("opening store {}", path.display()), err))?;
    let (gate, backend) = SyncGate::wrap(zero_ahead::ZeroAheadBackend::new(file, holes));
    let (db, repaired) = open_database_with(path, options, |builder| {
        builder.create_with_backend(backend)
    })?;
    Ok((db, repaired, gate))
}

/// `path` only names the store in messages; `create` opens the database with the builder.
fn open_database_with(
    path: &Path,
    options: RedbOptions,
    create: impl FnOnce(&::redb::Builder) -> Result<Database, ::redb::DatabaseError>,
) -> Result<(Database, bool), StoreError> {
    {
        let where_ = path.display().to_string();
        let repaired = Arc::new(AtomicBool::new(false));
        let repaired_flag = Arc::clone(&repaired);
        // Only the open's own repair means "not shut down cleanly"; the check below reuses
        // the callback machinery and must not be reported as a crash.
        let opening = Arc::new(AtomicBool::new(true));
        let opening_flag = Arc::clone(&opening);
        let mut builder = ::redb::Builder::new();
        builder.set_cache_size(options.cache_bytes);
        builder.set_repair_callback(move |session| {
            // Called repeatedly with growing progress; the first call is the news.
            if opening_flag.load(Ordering::SeqCst) && !repaired_flag.swap(true, Ordering::SeqCst) {
                log::warn!(
                    "store was not shut down cleanly; verifying and repairing it ({:.0}% done)",
                    session.progress() * 100.0
                );
            }
        });
        let mut db =
            create(&builder).map_err(|err| redb_error(&format!("opening store {where_}"), err))?;
        opening.store(false, Ordering::SeqCst);
        let repaired = repaired.load(Ordering::SeqCst);
        if repaired {
            log::warn!("store {where_} verified and repaired after an unclean shutdown");
        } else if verify_after_clean_shutdown(path, options.verify) {
            // After a clean shutdown redb trusts the file; verify every page anyway, so damage
            // from outside redb (disk, copy, restore) is found at start-up, not on first use.
            // Cost: one read of the whole file (`integrity_check_on_open_cost`: about 2x a
            // plain open, +30 ms for 20,000 objects; 1,000,000 keys, 1.4 GB: about 3.4 s).
            let intact = db
                .check_integrity()
                .map_err(|err| redb_error(&format!("checking integrity of {where_}"), err))?;
            if !intact {
                log::warn!("store {where_} had damaged pages; repaired to the last good commit");
            }
        }
        Ok((db, repaired))
    }
}

/// Whether a cleanly closed file is verified page by page now; says so when it is not.
fn verify_after_clean_shutdown(path: &Path, verify: VerifyAtStart) -> bool {
    match verify {
        VerifyAtStart::Always => true,
        VerifyAtStart::AfterCrash => false,
        VerifyAtStart::Auto => {
            // A store on a caller's backend has no file here: it is small, verify it.
            let size = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
            if size <= AUTO_VERIFY_MAX_BYTES {
                return true;
            }
            log::info!(
                "store {} ({} MiB) was shut down cleanly; its pages are not verified at this \
                 start (over {} MiB; [store] verify_at_start = \"always\" does it every time)",
                path.display(),
                size >> 20,
                AUTO_VERIFY_MAX_BYTES >> 20
            );
            false
        }
    }
}

impl RedbStore {
    fn check_or_write_schema(&self) -> Result<(), StoreError> {
        let where_ = self.path.display();
        let found = {
            let txn = self.with_db(|db| {
                db.begin_read()
                    .map_err(|err| redb_error(&format!("reading schema of {where_}"), err))
            })?;
            match txn.open_table(META) {
                Ok(meta) => meta_get(&meta, META_SCHEMA_VERSION)?,
                Err(TableError::TableDoesNotExist(_)) => None,
                Err(err) => return Err(redb_error(&format!("reading schema of {where_}"), err)),
            }
        };
        let found = match found {
            None => None,
            Some(bytes) => {
                let raw: [u8; 4] = bytes.as_slice().try_into().map_err(|_| {
                    StoreError::Corrupt(
                        format!("{where_}: schema version is {} bytes, not 4", bytes.len()).into(),
                    )
                })?;
                Some(u32::from_be_bytes(raw))
            }
        };
        match found {
            Some(version) if version == SCHEMA_VERSION => Ok(()),
            Some(version) if version > SCHEMA_VERSION => Err(StoreError::UnsupportedSchema {
                found: version,
                supported: SCHEMA_VERSION,
            }),
            Some(1) => self.migrate_from_1(),
            Some(version) => Err(StoreError::UnsupportedSchema {
                found: version,
                supported: SCHEMA_VERSION,
            }),
            None => self.initialize_schema(),
        }
    }

    fn initialize_schema(&self) -> Result<(), StoreError> {
        let context = format!("initializing store {}", self.path.display());
        let mut txn =
            self.with_db(|db| db.begin_write().map_err(|err| redb_error(&context, err)))?;
        txn.set_durability(Durability::Immediate)
            .map_err(|err| redb_error(&context, err))?;
        {
            let objects = txn
                .open_table(OBJECTS)
                .map_err(|err| redb_error(&context, err))?;
            // Data without a schema version was not written by us: refuse to adopt it.
            if !objects
                .is_empty()
                .map_err(|err| redb_error(&context, err))?
            {
                return Err(StoreError::Corrupt(
                    format!("{context}: objects exist but no schema version is recorded").into(),
                ));
            }
            txn.open_table(INDEX)
                .map_err(|err| redb_error(&context, err))?;
            txn.open_table(AUDIT)
                .map_err(|err| redb_error(&context, err))?;
            let mut meta = txn
                .open_table(META)
                .map_err(|err| redb_error(&context, err))?;
            meta.insert(META_SCHEMA_VERSION, SCHEMA_VERSION.to_be_bytes().as_slice())
                .map_err(|err| redb_error(&context, err))?;
        }
        txn.commit().map_err(|err| redb_error(&context, err))
    }
}

impl RedbStore {
    /// Every meta value and every object, for moving this store into a cluster
    /// (`keyward cluster migrate`). Reads one snapshot.
    #[allow(clippy::type_complexity)]
    pub fn export_all(&self) -> Result<(Vec<(String, Vec<u8>)>, Vec<StoredObject>), StoreError> {
        let view = self.read()?;
        let mut meta = Vec::new();
        view.scan_meta(&mut |key, value| {
            meta.push((key.to_string(), value.to_vec()));
            true
        })?;
        let mut objects = Vec::new();
        view.scan_objects(&mut |object| {
            objects.push(object);
            true
        })?;
        Ok((meta, objects))
    }
}

/// Creates `path` with mode 0600 if it does not exist, so redb never creates it with the umask.
fn create_private_file(path: &Path) -> Result<(), StoreError> {
    match OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(_) => Ok(()),
        Err(err) if err.kind() == ErrorKind::AlreadyExists => Ok(()),
        Err(err) => Err(StoreError::Io(
            format!("creating store file {}: {err}", path.display()).into(),
        )),
    }
}

fn meta_get<T: ReadableTable<&'static str, &'static [u8]>>(
    meta: &T,
    key: &str,
) -> Result<Option<Vec<u8>>, StoreError> {
    let value = meta
        .get(key)
        .map_err(|err| redb_error(&format!("reading meta key {key}"), err))?;
    Ok(value.map(|guard| guard.value().to_vec()))
}

fn object_get<T: ReadableTable<&'static str, &'static [u8]>>(
    objects: &T,
    uid: &str,
) -> Result<Option<StoredObject>, StoreError> {
    let value = objects
        .get(uid)
        .map_err(|err| redb_error(&format!("reading object {uid}"), err))?;
    match value {
        None => Ok(None),
        Some(guard) => record::decode(uid, guard.value()).map(Some),
    }
}

/// UIDs of the index keys starting with `prefix`, ascending: one range scan.
fn scan_uids<T: ReadableTable<&'static [u8], ()>>(
    index: &T,
    prefix: &[u8],
) -> Result<Vec<String>, StoreError> {
    let context = "scanning an index";
    let range = index
        .range::<&[u8]>(prefix..)
        .map_err(|err| redb_error(context, err))?;
    let mut uids = Vec::new();
    for entry in range {
        let (key, _) = entry.map_err(|err| redb_error(context, err))?;
        let key = key.value();
        if !key.starts_with(prefix) {
            break;
        }
        uids.push(index_key::uid_after(prefix, key)?);
    }
    Ok(uids)
}

fn audit_last<T: ReadableTable<u64, &'static [u8]>>(
    audit: &T,
) -> Result<Option<(u64, Vec<u8>)>, StoreError> {
    let last = audit
        .last()
        .map_err(|err| redb_error("reading the last audit record", err))?;
    Ok(last.map(|(k, v)| (k.value(), v.value().to_vec())))
}

fn audit_range<T: ReadableTable<u64, &'static [u8]>>(
    audit: &T,
    from: u64,
    limit: usize,
) -> Result<Vec<(u64, Vec<u8>)>, StoreError> {
    let context = "reading audit records";
    let range = audit
        .range(from..)
        .map_err(|err| redb_error(context, err))?;
    let mut out = Vec::new();
    for entry in range.take(limit) {
        let (k, v) = entry.map_err(|err| redb_error(context, err))?;
        out.push((k.value(), v.value().to_vec()));
    }
    Ok(out)
}

/// Every object of `objects`, decoded one at a time (a range iterator, not a collected list).
fn scan_object_table<T: ReadableTable<&'static str, &'static [u8]>>(
    objects: &T,
    visit: &mut dyn FnMut(StoredObject) -> bool,
) -> Result<(), StoreError> {
    let context = "scanning all objects";
    for entry in objects.iter().map_err(|err| redb_error(context, err))? {
        let (uid, value) = entry.map_err(|err| redb_error(context, err))?;
        let object = record::decode(uid.value(), value.value())?;
        if !visit(object) {
            break;
        }
    }
    Ok(())
}

fn scan_meta_table<T: ReadableTable<&'static str, &'static [u8]>>(
    meta: &T,
    visit: &mut dyn FnMut(&str, &[u8]) -> bool,
) -> Result<(), StoreError> {
    let context = "scanning meta keys";
    for entry in meta.iter().map_err(|err| redb_error(context, err))? {
        let (key, value) = entry.map_err(|err| redb_error(context, err))?;
        if !visit(key.value(), value.value()) {
            break;
        }
    }
    Ok(())
}

/// The read transaction a view reads from: its own, or the published durable snapshot.
enum Snapshot {
    Own(::redb::ReadTransaction),
    Published(Arc<::redb::ReadTransaction>),
}

impl Snapshot {
    fn txn(&self) -> &::redb::ReadTransaction {
        match self {
            Snapshot::Own(txn) => txn,
            Snapshot::Published(txn) => txn,
        }
    }
}

/// One read transaction: a consistent MVCC snapshot that never waits for a writer. Tables are
/// opened on first use: a Get reads one table, and opening all four cost a read more than
/// its lookup did (issue 21, CPU per Get).
struct RedbReadView {
    snapshot: Snapshot,
    context: &'static str,
    meta: OnceCell<ReadOnlyTable<&'static str, &'static [u8]>>,
    objects: OnceCell<ReadOnlyTable<&'static str, &'static [u8]>>,
    index: OnceCell<ReadOnlyTable<&'static [u8], ()>>,
    /// `None` inside: a file written before the audit table existed, an empty log.
    audit: OnceCell<Option<ReadOnlyTable<u64, &'static [u8]>>>,
}

impl RedbReadView {
    fn new(snapshot: Snapshot, context: &'static str) -> RedbReadView {
        RedbReadView {
            snapshot,
            context,
            meta: OnceCell::new(),
            objects: OnceCell::new(),
            index: OnceCell::new(),
            audit: OnceCell::new(),
        }
    }

    fn table<'a, K: ::redb::Key + 'static, V: ::redb::Value + 'static>(
        &self,
        cell: &'a OnceCell<ReadOnlyTable<K, V>>,
        definition: TableDefinition<'_, K, V>,
    ) -> Result<&'a ReadOnlyTable<K, V>, StoreError> {
        if let Some(table) = cell.get() {
            return Ok(table);
        }
        let table = self
            .snapshot
            .txn()
            .open_table(definition)
            .map_err(|err| redb_error(self.context, err))?;
        Ok(cell.get_or_init(|| table))
    }

    fn meta(&self) -> Result<&ReadOnlyTable<&'static str, &'static [u8]>, StoreError> {
        self.table(&self.meta, META)
    }

    fn objects(&self) -> Result<&ReadOnlyTable<&'static str, &'static [u8]>, StoreError> {
        self.table(&self.objects, OBJECTS)
    }

    fn index(&self) -> Result<&ReadOnlyTable<&'static [u8], ()>, StoreError> {
        self.table(&self.index, INDEX)
    }

    fn audit(&self) -> Result<Option<&ReadOnlyTable<u64, &'static [u8]>>, StoreError> {
        if let Some(table) = self.audit.get() {
            return Ok(table.as_ref());
        }
        let table = match self.snapshot.txn().open_table(AUDIT) {
            Ok(table) => Some(table),
            Err(TableError::TableDoesNotExist(_)) => None,
            Err(err) => return Err(redb_error(self.context, err)),
        };
        Ok(self.audit.get_or_init(|| table).as_ref())
    }
}

impl ReadView for RedbReadView {
    fn get(&self, uid: &str) -> Result<Option<StoredObject>, StoreError> {
        object_get(self.objects()?, uid)
    }

    fn find(&self, owner: &str, term: Option<&IndexTerm>) -> Result<Vec<String>, StoreError> {
        match term {
            None => scan_uids(self.index()?, &index_key::owner_prefix(owner)?),
            Some(term) => scan_uids(self.index()?, &index_key::term_prefix(owner, term)?),
        }
    }

    fn get_meta(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        meta_get(self.meta()?, key)
    }

    fn audit_last(&self) -> Result<Option<(u64, Vec<u8>)>, StoreError> {
        match self.audit()? {
            Some(audit) => audit_last(audit),
            None => Ok(None),
        }
    }

    fn audit_range(&self, from: u64, limit: usize) -> Result<Vec<(u64, Vec<u8>)>, StoreError> {
        match self.audit()? {
            Some(audit) => audit_range(audit, from, limit),
            None => Ok(Vec::new()),
        }
    }

    fn scan_objects(&self, visit: &mut dyn FnMut(StoredObject) -> bool) -> Result<(), StoreError> {
        scan_object_table(self.objects()?, visit)
    }

    fn scan_meta(&self, visit: &mut dyn FnMut(&str, &[u8]) -> bool) -> Result<(), StoreError> {
        scan_meta_table(self.meta()?, visit)
    }

    // A single database sequences nothing itself: the committer keeps the change counter in
    // the meta table (`crate::store::change_sequence`).
    fn change_sequence(&self) -> Result<Option<u64>, StoreError> {
        Ok(None)
    }

    fn objects_changed_since(&self, _sequence: u64) -> Result<Option<u64>, StoreError> {
        Ok(None)
    }
}

/// The four tables of one write transaction, opened once when it begins. Opening a redb table
/// looks its definition up in the table tree and closing it stages its root again; done per
/// call, that was about a tenth of the committer's CPU (several opens per request).
struct OpenTables<'txn> {
    meta: ::redb::Table<'txn, &'static str, &'static [u8]>,
    objects: ::redb::Table<'txn, &'static str, &'static [u8]>,
    index: ::redb::Table<'txn, &'static [u8], ()>,
    audit: ::redb::Table<'txn, u64, &'static [u8]>,
}

self_cell::self_cell!(
    /// A redb write transaction and its open tables: a redb `Table` borrows its transaction,
    /// so the two live in one cell, and the tables are dropped (as redb requires) before the
    /// transaction is taken out to commit.
    struct TxnTables {
        owner: ::redb::WriteTransaction,
        #[covariant]
        dependent: OpenTables,
    }
);

impl TxnTables {
    fn open(txn: ::redb::WriteTransaction) -> Result<TxnTables, StoreError> {
        TxnTables::try_new(txn, |txn| {
            let context = "opening the tables of a write transaction";
            Ok(OpenTables {
                meta: txn
                    .open_table(META)
                    .map_err(|err| redb_error(context, err))?,
                objects: txn
                    .open_table(OBJECTS)
                    .map_err(|err| redb_error(context, err))?,
                index: txn
                    .open_table(INDEX)
                    .map_err(|err| redb_error(context, err))?,
                audit: txn
                    .open_table(AUDIT)
                    .map_err(|err| redb_error(context, err))?,
            })
        })
    }
}

/// One write transaction, its tables open for its whole life (see [`OpenTables`]).
struct RedbWriteTxn<'a> {
    txn: TxnTables,
    /// Told about every failure, so a full disk or an I/O error changes the store's state.
    health: &'a Health,
    /// For the snapshot published once the commit is durable.
    store: &'a RedbStore,
}

impl RedbWriteTxn<'_> {
    fn tables(&self) -> &OpenTables<'_> {
        self.txn.borrow_dependent()
    }

    /// Runs `f` on the open tables, for writing.
    fn with_tables<T>(&mut self, f: impl FnOnce(&mut OpenTables<'_>) -> T) -> T {
        self.txn.with_dependent_mut(|_, tables| f(tables))
    }
}

impl ReadView for RedbWriteTxn<'_> {
    fn get(&self, uid: &str) -> Result<Option<StoredObject>, StoreError> {
        object_get(&self.tables().objects, uid)
    }

    fn find(&self, owner: &str, term: Option<&IndexTerm>) -> Result<Vec<String>, StoreError> {
        match term {
            None => scan_uids(&self.tables().index, &index_key::owner_prefix(owner)?),
            Some(term) => scan_uids(&self.tables().index, &index_key::term_prefix(owner, term)?),
        }
    }

    fn get_meta(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        meta_get(&self.tables().meta, key)
    }

    fn audit_last(&self) -> Result<Option<(u64, Vec<u8>)>, StoreError> {
        audit_last(&self.tables().audit)
    }

    fn audit_range(&self, from: u64, limit: usize) -> Result<Vec<(u64, Vec<u8>)>, StoreError> {
        audit_range(&self.tables().audit, from, limit)
    }

    fn scan_objects(&self, visit: &mut dyn FnMut(StoredObject) -> bool) -> Result<(), StoreError> {
        scan_object_table(&self.tables().objects, visit)
    }

    fn scan_meta(&self, visit: &mut dyn FnMut(&str, &[u8]) -> bool) -> Result<(), StoreError> {
        scan_meta_table(&self.tables().meta, visit)
    }

    // A single database sequences nothing itself: the committer keeps the change counter in
    // the meta table (`crate::store::change_sequence`).
    fn change_sequence(&self) -> Result<Option<u64>, StoreError> {
        Ok(None)
    }

    fn objects_changed_since(&self, _sequence: u64) -> Result<Option<u64>, StoreError> {
        Ok(None)
    }
}

impl WriteView for RedbWriteTxn<'_> {
    fn put(&mut self, object: &StoredObject) -> Result<(), StoreError> {
        let health = self.health;
        self.with_tables(|tables| tables.put_object(object))
            .map_err(|err| health.note(err))
    }

    fn put_meta(&mut self, key: &str, value: &[u8]) -> Result<(), StoreError> {
        if key == META_SCHEMA_VERSION {
            // The store's own key, written only by `open`: a restored backup carries the
            // version of the store it was taken from, which says nothing about this file.
            return Ok(());
        }
        let health = self.health;
        self.with_tables(|tables| tables.meta.insert(key, value).map(drop))
            .map_err(|err| redb_error(&format!("writing meta key {key}"), err))
            .map_err(|err| health.note(err))
    }

    fn audit_put(&mut self, seq: u64, record: &[u8]) -> Result<(), StoreError> {
        let health = self.health;
        self.with_tables(|tables| tables.audit.insert(seq, record).map(drop))
            .map_err(|err| redb_error(&format!("writing audit record {seq}"), err))
            .map_err(|err| health.note(err))
    }

    fn audit_delete_before(&mut self, seq: u64) -> Result<u64, StoreError> {
        let context = "pruning audit records";
        let health = self.health;
        self.with_tables(|tables| {
            let doomed = tables
                .audit
                .extract_from_if(..seq, |_, _| true)
                .map_err(|err| health.note(redb_error(context, err)))?;
            let mut removed = 0;
            for entry in doomed {
                entry.map_err(|err| redb_error(context, err))?;
                removed += 1;
            }
            Ok(removed)
        })
    }
}

impl OpenTables<'_> {
    fn put_object(&mut self, object: &StoredObject) -> Result<(), StoreError> {
        let uid = object.uid.as_str();
        let failed = |err: ::redb::StorageError| redb_error(&format!("writing object {uid}"), err);
        let encoded = record::encode(object)?;
        let (objects, index) = (&mut self.objects, &mut self.index);
        let previous = object_get(&*objects, uid)?;
        // An update leaves alone the index entries it keeps: removing and inserting the same
        // key would still copy its btree pages, and most updates (Fresh cleared by a Get, a
        // state change) keep every term. Fewer pages written per commit, same contents.
        let kept_owner = previous.as_ref().is_some_and(|p| p.owner == object.owner);
        let kept_terms: &[IndexTerm] = match &previous {
            Some(p) if kept_owner => &p.index_terms,
            _ => &[],
        };
        if let Some(previous) = &previous {
            if !kept_owner {
                index
                    .remove(index_key::owner_key(&previous.owner, uid)?.as_slice())
                    .map_err(failed)?;
            }
            for term in &previous.index_terms {
                if kept_owner && object.index_terms.contains(term) {
                    continue;
                }
                index
                    .remove(index_key::term_key(&previous.owner, term, uid)?.as_slice())
                    .map_err(failed)?;
            }
        }
        objects.insert(uid, encoded.as_slice()).map_err(failed)?;
        if !kept_owner {
            index
                .insert(index_key::owner_key(&object.owner, uid)?.as_slice(), ())
                .map_err(failed)?;
        }
        for term in &object.index_terms {
            if kept_terms.contains(term) {
                continue;
            }
            index
                .insert(
                    index_key::term_key(&object.owner, term, uid)?.as_slice(),
                    (),
                )
                .map_err(failed)?;
        }
        Ok(())
    }
}

impl WriteTxn for RedbWriteTxn<'_> {
    fn commit(self: Box<Self>) -> Result<(), StoreError> {
        self.commit_pipelined()?.wait()
    }

    fn commit_pipelined(self: Box<Self>) -> Result<Box<dyn PendingCommit>, StoreError> {
        let (health, store) = (self.health, self.store);
        let gate = store.gate();
        // The tables go first: redb commits only a transaction none of whose tables is open.
        self.txn
            .into_owner()
            .commit()
            .map_err(|err| health.note(redb_error("committing", err)))?;
        let Some(gate) = gate else {
            return Ok(Box::new(super::Durable));
        };
        // The state this commit left (or a later one, whose flush is then waited for too),
        // shown to readers once it is durable.
        let snapshot = store
            .with_db(|db| {
                db.begin_read()
                    .map_err(|err| redb_error("snapshot after a commit", err))
            })
            .ok();
        let flush = gate.requested();
        Ok(Box::new(RedbPending {
            gate,
            flush,
            snapshot,
            published: store.published.clone(),
        }))
    }
}

/// A redb commit whose flush may still be running (`deferred_sync.rs`).
struct RedbPending {
    gate: Arc<SyncGate>,
    /// The flush number that makes the commit (and `snapshot`) durable.
    flush: u64,
    snapshot: Option<::redb::ReadTransaction>,
    published: Published,
}

impl PendingCommit for RedbPending {
    fn wait(self: Box<Self>) -> Result<(), StoreError> {
        // A failed flush is fail-stop: the gate refuses every later write, so redb latches the
        // error and the store reports `Failed` (`docs/storage.md`).
        self.gate.make_durable(self.flush).map_err(|err| {
            if is_disk_full(&err) {
                return StoreError::Full(Cause::with_source("committing: flushing to disk", err));
            }
            log::error!(
                "store failed: committing: flushing to disk failed: {err}; writes are stopped \
                 until keyward is restarted (redb must reopen the database)"
            );
            StoreError::Io(Cause::with_source("committing: flushing to disk", err))
        })?;
        if let Some(snapshot) = self.snapshot {
            let mut published = self
                .published
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            if published
                .as_ref()
                .is_none_or(|(flush, _)| *flush <= self.flush)
            {
                *published = Some((self.flush, Arc::new(snapshot)));
            }
        }
        Ok(())
    }
}

impl Store for RedbStore {
    fn read(&self) -> Result<Box<dyn ReadView + '_>, StoreError> {
        let context = "starting a read transaction";
        let txn = self.with_db(|db| db.begin_read().map_err(|err| redb_error(context, err)))?;
        // A reader never sees a commit whose flush is still running: it gets the newest
        // durable snapshot instead (nothing is shown that a power loss could take back).
        if let Some(gate) = self.gate()
            && !gate.all_durable()
        {
            let published = self
                .published
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .as_ref()
                .map(|(_, snapshot)| snapshot.clone());
            match published {
                Some(snapshot) => {
                    return Ok(Box::new(RedbReadView::new(
                        Snapshot::Published(snapshot),
                        context,
                    )));
                }
                // Nothing published yet (the first commit): wait for its flush.
                None => {
                    gate.make_durable(gate.requested()).map_err(|err| {
                        StoreError::Failed(Cause::with_source(
                            "flushing a commit to disk failed; restart to reopen the store",
                            err,
                        ))
                    })?;
                }
            }
        }
        Ok(Box::new(RedbReadView::new(Snapshot::Own(txn), context)))
    }

    fn write(&self) -> Result<Box<dyn WriteTxn + '_>, StoreError> {
        let context = "starting a write transaction";
        let mut txn =
            self.with_db(|db| db.begin_write().map_err(|err| redb_error(context, err)))?;
        // Explicit, so a changed redb default can never weaken "durable before acknowledged".
        txn.set_durability(Durability::Immediate)
            .map_err(|err| redb_error(context, err))?;
        let txn = TxnTables::open(txn).map_err(|err| self.health.note(err))?;
        Ok(Box::new(RedbWriteTxn {
            txn,
            health: &self.health,
            store: self,
        }))
    }

    fn space_low(&self) -> bool {
        RedbStore::space_low(self)
    }

    fn failure(&self) -> Option<String> {
        RedbStore::failure(self)
    }

    // The audit records share the one transaction with the changes; nothing else refuses.
    fn audit_only_write(&self) -> Result<Option<Box<dyn WriteTxn + '_>>, StoreError> {
        Ok(None)
    }

    fn shared_write(&self) -> Result<Option<Box<dyn WriteTxn + '_>>, StoreError> {
        Ok(None)
    }

    fn replicated(&self) -> bool {
        false
    }
}

#[cfg(test)]
mod power_loss_tests;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod write_cost_tests;
