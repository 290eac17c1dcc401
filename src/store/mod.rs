//! The store interface the engine uses, and its embedded redb backend.
//!
//! The store knows nothing of KMIP: it keeps opaque object records, maintains the index terms
//! the engine computes for them, and holds a small meta table (schema version, wrapped master
//! key). The replicated backend (etcd, `etcd` and `node`) implements the same traits; what
//! only a cluster does lives in `crate::cluster`, beside the store rather than inside it.
//!
//! Contract (fixed; other modules build on it): [`StoredObject`], [`IndexTerm`], [`ReadView`],
//! [`WriteView`], [`WriteTxn`], [`Store`], [`StoreError`].

pub mod appliance_id;
mod cause;
pub mod change_sequence;
pub mod etcd;
pub mod master_key;
pub mod memory;
pub mod node;
pub mod redb;

pub use cause::Cause;

/// One managed object as stored. Everything but `uid`, `owner` and `index_terms` is opaque
/// to the store.
#[derive(Clone, PartialEq, Eq)]
pub struct StoredObject {
    /// Unique Identifier: UUID text made by this server, or any text another KMIP server made
    /// for an object imported from it (`keyward import`); never reused.
    pub uid: String,
    /// Identity of the client that owns the object.
    pub owner: String,
    /// Incremented by the engine on every write of this record.
    pub version: u64,
    /// Engine-encoded metadata (object type, state, attributes) — never key material.
    pub metadata: Vec<u8>,
    /// Key material sealed under the master key (nonce ‖ ciphertext ‖ tag); `None` once destroyed.
    pub sealed_material: Option<Vec<u8>>,
    /// Index terms the engine wants this object found by (name, custom attributes, …).
    pub index_terms: Vec<IndexTerm>,
}

impl std::fmt::Debug for StoredObject {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredObject")
            .field("uid", &self.uid)
            .field("owner", &self.owner)
            .field("version", &self.version)
            .field("metadata_len", &self.metadata.len())
            .field("sealed", &self.sealed_material.is_some())
            .field("index_terms", &self.index_terms.len())
            .finish()
    }
}

/// An opaque, engine-defined lookup key, scoped to the object's owner.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct IndexTerm(pub Vec<u8>);

/// Errors of the store layer. Messages never contain key material. Each holds a [`Cause`]: the
/// words, and the lower layer's error as the source where there is one.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("storage I/O failed: {0}")]
    Io(#[source] Cause),
    #[error("stored data is corrupt: {0}")]
    Corrupt(#[source] Cause),
    #[error("store schema version {found} is not supported (this build reads {supported})")]
    UnsupportedSchema { found: u32, supported: u32 },
    #[error("the store failed earlier and must be reopened: {0}")]
    Failed(#[source] Cause),
    #[error("conflicting concurrent update of {0}")]
    Conflict(#[source] Cause),
    /// The replicated store cannot commit (no quorum, or no member reachable); reads may
    /// still be served from the local member.
    #[error("the key store cluster is unavailable: {0}")]
    Unavailable(#[source] Cause),
    /// Transient: the change was not made; writes succeed again once space is freed.
    #[error("the disk holding the store is full: {0}")]
    Full(#[source] Cause),
}

/// Reads from one consistent snapshot.
pub trait ReadView {
    fn get(&self, uid: &str) -> Result<Option<StoredObject>, StoreError>;
    /// True when no object has `uid`: a new object may take it. In a write transaction of a
    /// replicated store the answer may be a claim instead of a read: its commit then conflicts
    /// if an object with this UID exists by then (`store/etcd/txn.rs`).
    fn uid_is_free(&self, uid: &str) -> Result<bool, StoreError> {
        Ok(self.get(uid)?.is_none())
    }
    /// UIDs owned by `owner`, in ascending UID order; with a term, only objects carrying it.
    fn find(&self, owner: &str, term: Option<&IndexTerm>) -> Result<Vec<String>, StoreError>;
    fn get_meta(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError>;
    /// The audit record with the highest sequence number (encoded by `crate::audit`).
    fn audit_last(&self) -> Result<Option<(u64, Vec<u8>)>, StoreError>;
    /// Up to `limit` audit records with sequence numbers `>= from`, ascending.
    fn audit_range(&self, from: u64, limit: usize) -> Result<Vec<(u64, Vec<u8>)>, StoreError>;

    /// A sequence the backend itself raises with every committed change, at this snapshot
    /// (etcd's revision); `None` where the committer keeps a counter in the meta table
    /// instead (`crate::store::change_sequence`).
    fn change_sequence(&self) -> Result<Option<u64>, StoreError>;

    /// With a backend sequence: how many objects were changed after `sequence`, as of this
    /// snapshot; `None` where the backend keeps no such sequence (the committer's counter
    /// counts groups instead).
    fn objects_changed_since(&self, sequence: u64) -> Result<Option<u64>, StoreError>;

    /// Visits every object of this snapshot in ascending UID order, one at a time, so memory
    /// does not grow with the store; stops early when `visit` returns false. Inside a write
    /// transaction the scan sees the transaction's own writes.
    fn scan_objects(&self, visit: &mut dyn FnMut(StoredObject) -> bool) -> Result<(), StoreError>;

    /// Visits every meta key and value of this snapshot in ascending key order; stops early
    /// when `visit` returns false.
    fn scan_meta(&self, visit: &mut dyn FnMut(&str, &[u8]) -> bool) -> Result<(), StoreError>;
}

/// Reads and writes inside one write transaction; reads see the transaction's own writes.
pub trait WriteView: ReadView {
    /// Inserts or replaces the record for `object.uid`, replacing its index terms.
    fn put(&mut self, object: &StoredObject) -> Result<(), StoreError>;
    fn put_meta(&mut self, key: &str, value: &[u8]) -> Result<(), StoreError>;
    /// Inserts or replaces the audit record `seq`.
    fn audit_put(&mut self, seq: u64, record: &[u8]) -> Result<(), StoreError>;
    /// Removes every audit record with a sequence number below `seq`; returns how many.
    fn audit_delete_before(&mut self, seq: u64) -> Result<u64, StoreError>;
}

/// A write transaction: dropped without `commit`, nothing it wrote survives.
pub trait WriteTxn: WriteView {
    /// Makes every write durable (fsync) before returning.
    fn commit(self: Box<Self>) -> Result<(), StoreError>;

    /// Commits, possibly returning before the flush to disk is done, so the next transaction
    /// can run beside it (pipelined group commit). Nothing may be acknowledged before
    /// [`PendingCommit::wait`] returned `Ok`. By default the same as [`WriteTxn::commit`].
    fn commit_pipelined(self: Box<Self>) -> Result<Box<dyn PendingCommit>, StoreError> {
        self.commit()?;
        Ok(Box::new(Durable))
    }
}

/// A commit whose changes new transactions already see, and whose flush may still be running.
pub trait PendingCommit: Send {
    /// Returns once the commit is durable, or why it never will be.
    fn wait(self: Box<Self>) -> Result<(), StoreError>;
}

/// A commit that was durable when it returned.
pub struct Durable;

impl PendingCommit for Durable {
    fn wait(self: Box<Self>) -> Result<(), StoreError> {
        Ok(())
    }
}

/// A store backend. Many readers, one writer at a time. Only what every backend has: what
/// only a cluster does (membership, node reports, audit gathering) is `crate::cluster`'s.
pub trait Store: Send + Sync {
    fn read(&self) -> Result<Box<dyn ReadView + '_>, StoreError>;
    /// A read view for a caller that knows which objects it will read first (the UIDs a batch
    /// of reads names) and needs no snapshot older than its first read: a backend that pays a
    /// round trip per read may fetch them together, and take the view's snapshot at that
    /// first read instead of at this call (a newer one, so still every write acknowledged
    /// before the call: `store/etcd/first_read.rs`). By default the same as [`Store::read`].
    fn read_expecting(&self, objects: &[String]) -> Result<Box<dyn ReadView + '_>, StoreError> {
        let _ = objects;
        self.read()
    }
    fn write(&self) -> Result<Box<dyn WriteTxn + '_>, StoreError>;

    /// Why the store refuses all writes until a restart (fail-stop after an I/O error), or
    /// `None` while healthy. For `/healthz` and status reports.
    fn failure(&self) -> Option<String>;

    /// True while the disk is full and the store runs on the space it kept in reserve: reads
    /// and their audit records may still be written, changes must be refused. Checking may
    /// take the reserve back when space has returned.
    fn space_low(&self) -> bool;

    /// A transaction that can write audit records only, for when [`Store::write`] refuses
    /// changes (a cluster without quorum): the refusals and the reads still served are then
    /// recorded. `None` where the audit log is written in the same transaction as the state
    /// (a single database has no write to refuse but its own).
    fn audit_only_write(&self) -> Result<Option<Box<dyn WriteTxn + '_>>, StoreError>;

    /// A transaction on the shared state alone, without the audit log, where the two live in
    /// different stores (a cluster node: etcd and its local redb). The committer then commits
    /// the changes first and records them after, in [`Store::audit_only_write`], so the local
    /// store's one writer is not held while etcd commits (`engine/pipeline/shared_first.rs`).
    /// `None` where state and audit log commit together.
    fn shared_write(&self) -> Result<Option<Box<dyn WriteTxn + '_>>, StoreError>;

    /// True where other nodes change the same state (etcd): the backend sequences every change
    /// itself, so no counter key is written by every group (it would make concurrent groups of
    /// different nodes conflict), and a small write may be refused by quorum or by another
    /// node's concurrent one. Cheap: no network.
    fn replicated(&self) -> bool;

    /// A watch on the meta value `name`, lasting at most `hold`, where other processes change
    /// the store (a cluster's other nodes): the caller learns of their change when it is made
    /// instead of at its next read. `None` where nobody else writes it.
    fn watch_meta(
        &self,
        _name: &str,
        _hold: std::time::Duration,
    ) -> Option<Result<Box<dyn MetaWatch>, StoreError>> {
        None
    }
}

/// An open watch ([`Store::watch_meta`]). Read the value after it is open: every change made
/// from then on is reported.
pub trait MetaWatch: Send {
    /// Blocks until the value may have changed (`true`) or the watch has ended (`false`: its
    /// hold elapsed, or the store's connection went away); after `false`, always `false`.
    fn changed(&mut self) -> bool;
}
