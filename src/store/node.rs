//! A cluster node's store: the shared state in etcd, this node's audit chain in its own redb.
//!
//! Keys, the client registry and the wrapped master key are the cluster's and live in etcd.
//! The audit log says what *this node* served, so it stays local (issue 11, docs/cluster.md):
//! a shared log would make every two concurrent groups of different nodes conflict on its
//! head, and a node must keep recording while etcd has no quorum.
//!
//! A write transaction spans both: the engine's changes go to an etcd transaction, the audit
//! records of the same group to a local redb transaction. The node's committer uses them apart
//! ([`Store::shared_write`], then [`Store::audit_only_write`]: `engine/pipeline/shared_first.rs`)
//! so the local writer is not held while etcd commits; either way the commit order is etcd
//! first, then redb, and the committer answers only after both:
//! - etcd refuses (conflict, no quorum): the redb transaction is dropped, so no record claims
//!   a change that did not happen; the committer retries or refuses the group, and records
//!   that outcome instead;
//! - etcd commits, then the local commit fails (or the process dies between the two): the
//!   change exists without this node's record of it, and the client is answered with a
//!   failure (or not at all), as for an etcd commit that timed out. The local store then
//!   refuses changes as it does on a single appliance: after an I/O error until a restart
//!   (fail-stop), on a full disk until space returns (reads and their records go on in its
//!   reserve). The node stops changing keys rather than change them unrecorded.
//!
//! Meta keys of the audit log (named `audit.…`, such as the read journal's fold marker) belong
//! to the node's chain like its records: they are read and written in the local redb, never
//! in etcd, so the read journal's fold commits with the records it folds.

use std::cell::OnceCell;
use std::sync::Arc;

use super::etcd::EtcdStore;
use super::redb::RedbStore;
use super::{IndexTerm, ReadView, Store, StoreError, StoredObject, WriteTxn, WriteView};

/// Meta keys under this prefix are the node's own (its audit log's), kept in its local redb.
pub const NODE_LOCAL_META_PREFIX: &str = "audit.";

fn node_local(meta_key: &str) -> bool {
    meta_key.starts_with(NODE_LOCAL_META_PREFIX)
}

pub struct ClusterNodeStore {
    /// Shared with the node's `crate::cluster::Cluster`, which talks to the same etcd.
    shared: Arc<EtcdStore>,
    local: RedbStore,
    node_id: String,
}

impl ClusterNodeStore {
    /// `node_id` labels this node's audit records (kept in `local`'s meta by the caller).
    pub fn new(shared: EtcdStore, local: RedbStore, node_id: String) -> ClusterNodeStore {
        ClusterNodeStore {
            shared: Arc::new(shared),
            local,
            node_id,
        }
    }

    pub fn shared(&self) -> &EtcdStore {
        &self.shared
    }

    /// The etcd connection, for the node's cluster service (`crate::cluster::Cluster`).
    pub fn shared_handle(&self) -> Arc<EtcdStore> {
        self.shared.clone()
    }

    /// This node's id, which labels its audit records.
    pub fn node_id(&self) -> &str {
        &self.node_id
    }

    pub fn local(&self) -> &RedbStore {
        &self.local
    }

    /// A view of `shared` state, with this node's audit log opened on first use.
    fn view_over<'a>(&'a self, shared: Box<dyn ReadView + 'a>) -> NodeReadView<'a> {
        NodeReadView {
            shared,
            local_store: &self.local,
            local: OnceCell::new(),
        }
    }
}

/// Reads of shared state from one etcd snapshot; audit reads from a local snapshot opened on
/// first use (most reads never touch the audit log).
struct NodeReadView<'a> {
    shared: Box<dyn ReadView + 'a>,
    local_store: &'a RedbStore,
    local: OnceCell<Box<dyn ReadView + 'a>>,
}

impl NodeReadView<'_> {
    fn local(&self) -> Result<&dyn ReadView, StoreError> {
        if let Some(view) = self.local.get() {
            return Ok(view.as_ref());
        }
        let view = self.local_store.read()?;
        Ok(self.local.get_or_init(|| view).as_ref())
    }
}

impl ReadView for NodeReadView<'_> {
    fn get(&self, uid: &str) -> Result<Option<StoredObject>, StoreError> {
        self.shared.get(uid)
    }

    fn find(&self, owner: &str, term: Option<&IndexTerm>) -> Result<Vec<String>, StoreError> {
        self.shared.find(owner, term)
    }

    fn get_meta(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        if node_local(key) {
            return self.local()?.get_meta(key);
        }
        self.shared.get_meta(key)
    }

    fn audit_last(&self) -> Result<Option<(u64, Vec<u8>)>, StoreError> {
        self.local()?.audit_last()
    }

    fn audit_range(&self, from: u64, limit: usize) -> Result<Vec<(u64, Vec<u8>)>, StoreError> {
        self.local()?.audit_range(from, limit)
    }

    fn change_sequence(&self) -> Result<Option<u64>, StoreError> {
        self.shared.change_sequence()
    }

    fn objects_changed_since(&self, sequence: u64) -> Result<Option<u64>, StoreError> {
        self.shared.objects_changed_since(sequence)
    }

    fn scan_objects(&self, visit: &mut dyn FnMut(StoredObject) -> bool) -> Result<(), StoreError> {
        self.shared.scan_objects(visit)
    }

    fn scan_meta(&self, visit: &mut dyn FnMut(&str, &[u8]) -> bool) -> Result<(), StoreError> {
        self.shared.scan_meta(visit)
    }
}

/// One group's transaction on both stores. `shared` is `None` for an audit-only transaction
/// (degraded mode), which refuses every change of shared state.
struct NodeTxn<'a> {
    shared: Option<Box<dyn WriteTxn + 'a>>,
    local: Box<dyn WriteTxn + 'a>,
}

impl NodeTxn<'_> {
    fn shared_read(&self) -> Result<&dyn ReadView, StoreError> {
        match &self.shared {
            Some(txn) => Ok(txn.as_ref()),
            None => Err(refused()),
        }
    }

    fn shared_write(&mut self) -> Result<&mut (dyn WriteTxn + '_), StoreError> {
        match &mut self.shared {
            Some(txn) => Ok(txn.as_mut()),
            None => Err(refused()),
        }
    }
}

fn refused() -> StoreError {
    StoreError::Unavailable("this transaction may only write audit records".into())
}

impl ReadView for NodeTxn<'_> {
    fn get(&self, uid: &str) -> Result<Option<StoredObject>, StoreError> {
        self.shared_read()?.get(uid)
    }

    fn uid_is_free(&self, uid: &str) -> Result<bool, StoreError> {
        self.shared_read()?.uid_is_free(uid)
    }

    fn find(&self, owner: &str, term: Option<&IndexTerm>) -> Result<Vec<String>, StoreError> {
        self.shared_read()?.find(owner, term)
    }

    fn get_meta(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        if node_local(key) {
            return self.local.get_meta(key);
        }
        self.shared_read()?.get_meta(key)
    }

    fn audit_last(&self) -> Result<Option<(u64, Vec<u8>)>, StoreError> {
        self.local.audit_last()
    }

    fn audit_range(&self, from: u64, limit: usize) -> Result<Vec<(u64, Vec<u8>)>, StoreError> {
        self.local.audit_range(from, limit)
    }

    fn change_sequence(&self) -> Result<Option<u64>, StoreError> {
        self.shared_read()?.change_sequence()
    }

    fn objects_changed_since(&self, sequence: u64) -> Result<Option<u64>, StoreError> {
        self.shared_read()?.objects_changed_since(sequence)
    }

    fn scan_objects(&self, visit: &mut dyn FnMut(StoredObject) -> bool) -> Result<(), StoreError> {
        self.shared_read()?.scan_objects(visit)
    }

    fn scan_meta(&self, visit: &mut dyn FnMut(&str, &[u8]) -> bool) -> Result<(), StoreError> {
        self.shared_read()?.scan_meta(visit)
    }
}

impl WriteView for NodeTxn<'_> {
    fn put(&mut self, object: &StoredObject) -> Result<(), StoreError> {
        self.shared_write()?.put(object)
    }

    fn put_meta(&mut self, key: &str, value: &[u8]) -> Result<(), StoreError> {
        if node_local(key) {
            return self.local.put_meta(key, value);
        }
        self.shared_write()?.put_meta(key, value)
    }

    fn audit_put(&mut self, seq: u64, record: &[u8]) -> Result<(), StoreError> {
        self.local.audit_put(seq, record)
    }

    fn audit_delete_before(&mut self, seq: u64) -> Result<u64, StoreError> {
        self.local.audit_delete_before(seq)
    }
}

impl WriteTxn for NodeTxn<'_> {
    fn commit(self: Box<Self>) -> Result<(), StoreError> {
        let NodeTxn { shared, local, .. } = *self;
        if let Some(shared) = shared {
            // Dropping `local` on failure discards the group's records with it.
            shared.commit()?;
        }
        local.commit().map_err(|e| {
            log::error!(
                "a group committed to etcd, but this node could not record it in its audit log: \
                 {e}; its requests are answered with a failure"
            );
            e
        })
    }
}

impl Store for ClusterNodeStore {
    fn read(&self) -> Result<Box<dyn ReadView + '_>, StoreError> {
        Ok(Box::new(self.view_over(self.shared.read()?)))
    }

    fn read_expecting(&self, objects: &[String]) -> Result<Box<dyn ReadView + '_>, StoreError> {
        Ok(Box::new(
            self.view_over(self.shared.read_expecting(objects)?),
        ))
    }

    fn write(&self) -> Result<Box<dyn WriteTxn + '_>, StoreError> {
        // etcd first: without quorum no local transaction is held open for nothing.
        let shared = self.shared.write()?;
        Ok(Box::new(NodeTxn {
            shared: Some(shared),
            local: self.local.write()?,
        }))
    }

    fn shared_write(&self) -> Result<Option<Box<dyn WriteTxn + '_>>, StoreError> {
        self.shared.write().map(Some)
    }

    fn audit_only_write(&self) -> Result<Option<Box<dyn WriteTxn + '_>>, StoreError> {
        Ok(Some(Box::new(NodeTxn {
            shared: None,
            local: self.local.write()?,
        })))
    }

    fn failure(&self) -> Option<String> {
        self.local.failure()
    }

    fn space_low(&self) -> bool {
        self.local.space_low()
    }

    fn replicated(&self) -> bool {
        true
    }

    fn watch_meta(
        &self,
        name: &str,
        hold: std::time::Duration,
    ) -> Option<Result<Box<dyn super::MetaWatch>, StoreError>> {
        // The node's own meta keys change only here.
        if node_local(name) {
            return None;
        }
        self.shared.watch_meta(name, hold)
    }
}
