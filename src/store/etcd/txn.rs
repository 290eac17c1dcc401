//! A write transaction: reads at a revision R, writes buffered in memory, and a commit that is
//! ONE etcd transaction:
//!
//! - compare: every key and every prefix the transaction read has `mod_revision < R + 1`,
//!   i.e. nobody (another node, or this one) changed it since the snapshot; every key it
//!   claimed as unused (a new object's UID, [`ReadView::uid_is_free`]) still has no version;
//! - success: every buffered put and delete.
//!
//! R is pinned by the transaction's first read, not when it begins: when that read is a key,
//! it is itself read linearizably and the revision its answer names is R (one round trip, as
//! in `first_read.rs`); otherwise a linearizable revision is read first, shared with the
//! callers asking at the same time (`read_index.rs`). A group of Creates reads nothing (their
//! UIDs are claimed by compares, not looked up), so it costs one round trip, the commit,
//! instead of three (the linearizable read, the UID's lookup, the commit); a change to an
//! existing object costs two (its linearizable read, the commit).
//! Serializability does not depend on when R is taken: whatever was read was read at R and is
//! guarded from R on. A key is read at most once per transaction: R does not move, so a second
//! read would only repeat the first round trip.
//!
//! If any compare fails, nothing is written and the commit returns [`StoreError::Conflict`];
//! the committer then runs the whole group again on a new snapshot. This is optimistic
//! concurrency: two nodes updating one object never lose an update, one of them simply redoes
//! its work. etcd acknowledges the transaction only after a quorum has it on disk.

use std::cell::{OnceCell, RefCell};
use std::collections::{BTreeMap, BTreeSet};

use super::EtcdStore;
use super::gateway::{
    Compare, DeleteRequest, PutRequest, RangeRequest, RangeResponse, RequestOp, TxnRequest, b64,
};
use super::keys::{prefix_end, uid_after};
use super::read::{KeyVisitor, PinnedView, gateway_error, scan_meta_by, scan_objects_by};
use crate::store::redb::record;
use crate::store::{IndexTerm, ReadView, StoreError, StoredObject, WriteTxn, WriteView};

/// A key read (`None` end) or a prefix scanned (end = the prefix's range end).
pub(super) type Guard = (Vec<u8>, Option<Vec<u8>>);

pub struct EtcdTxn<'a> {
    pub(super) store: &'a EtcdStore,
    /// Pinned by the first read (or the first call that needs the revision).
    view: OnceCell<PinnedView<'a>>,
    /// Keys read (range_end `None`) and prefixes scanned (range_end = prefix end).
    pub(super) guards: RefCell<BTreeSet<Guard>>,
    /// Keys claimed as unused without a read: the commit requires them to have no version.
    absent: RefCell<BTreeSet<Vec<u8>>>,
    /// What each key read (or claimed) held at the pinned revision (`None`: no such key).
    seen: RefCell<BTreeMap<Vec<u8>, Option<Vec<u8>>>>,
    /// Final state of every key written: `None` deletes it. A map, because etcd refuses a
    /// transaction that names one key twice.
    pub(super) writes: BTreeMap<Vec<u8>, Option<Vec<u8>>>,
}

impl<'a> EtcdTxn<'a> {
    pub(super) fn new(store: &'a EtcdStore) -> EtcdTxn<'a> {
        EtcdTxn {
            store,
            view: OnceCell::new(),
            guards: RefCell::default(),
            absent: RefCell::default(),
            seen: RefCell::default(),
            writes: BTreeMap::new(),
        }
    }

    /// The snapshot, pinned at a linearizable revision on first use.
    pub(super) fn view(&self) -> Result<&PinnedView<'a>, StoreError> {
        if let Some(view) = self.view.get() {
            return Ok(view);
        }
        let store = self.store;
        let head = store.read_index.head(|| store.linearizable_head())?;
        Ok(self.view.get_or_init(|| store.view_at(head)))
    }

    /// The transaction's first read when it is a key: read linearizably, the revision named
    /// in the answer and the member that served it pin the view (as `first_read.rs` does for
    /// read views), one round trip instead of a linearizable read for the revision and then
    /// the key. Resent to another member when one cannot serve: a read may be.
    fn first_read(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        let store = self.store;
        let request = RangeRequest {
            key: b64(key),
            ..RangeRequest::default()
        };
        let (answer, member) = store.linearizable(
            "/v3/kv/range",
            &request,
            |answer: &RangeResponse| answer.header.revision,
            "linearizable read from etcd",
        )?;
        let _ = self
            .view
            .set(store.view_at((answer.header.revision, member)));
        Ok(answer.kvs.into_iter().next().map(|kv| kv.value))
    }

    fn read_key(&self, key: Vec<u8>) -> Result<Option<Vec<u8>>, StoreError> {
        if let Some(buffered) = self.writes.get(&key) {
            return Ok(buffered.clone());
        }
        if let Some(seen) = self.seen.borrow().get(&key) {
            return Ok(seen.clone());
        }
        let value = match self.view.get() {
            Some(view) => view.key(&key)?,
            None => self.first_read(&key)?,
        };
        self.guards.borrow_mut().insert((key.clone(), None));
        self.seen.borrow_mut().insert(key, value.clone());
        Ok(value)
    }

    fn delete(&mut self, key: Vec<u8>) {
        self.writes.insert(key, None);
    }

    fn set(&mut self, key: Vec<u8>, value: Vec<u8>) {
        self.writes.insert(key, Some(value));
    }
}

impl ReadView for EtcdTxn<'_> {
    fn get(&self, uid: &str) -> Result<Option<StoredObject>, StoreError> {
        match self.read_key(self.store.keys.object(uid))? {
            None => Ok(None),
            Some(bytes) => record::decode(uid, &bytes).map(Some),
        }
    }

    // Claimed, not read: the commit's compare (`version = 0`) is the check, and another
    // node's object with this UID makes it conflict like any change to what was read. What
    // this transaction wrote, read or claimed before answers without a compare.
    fn uid_is_free(&self, uid: &str) -> Result<bool, StoreError> {
        let key = self.store.keys.object(uid);
        if let Some(buffered) = self.writes.get(&key) {
            return Ok(buffered.is_none());
        }
        if let Some(seen) = self.seen.borrow().get(&key) {
            return Ok(seen.is_none());
        }
        self.absent.borrow_mut().insert(key.clone());
        self.seen.borrow_mut().insert(key, None);
        Ok(true)
    }

    fn find(&self, owner: &str, term: Option<&IndexTerm>) -> Result<Vec<String>, StoreError> {
        let view = self.view()?;
        let prefix = view.index_prefix(owner, term);
        let mut found = BTreeSet::new();
        for (key, _) in view.scan(&prefix, true)? {
            found.insert(uid_after(&prefix, &key)?);
        }
        self.guards
            .borrow_mut()
            .insert((prefix.clone(), Some(prefix_end(&prefix))));
        // The transaction's own index changes, on top of the snapshot.
        for (key, value) in self.writes.range(prefix.clone()..) {
            if !key.starts_with(&prefix) {
                break;
            }
            let uid = uid_after(&prefix, key)?;
            if value.is_some() {
                found.insert(uid);
            } else {
                found.remove(&uid);
            }
        }
        Ok(found.into_iter().collect())
    }

    fn get_meta(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.read_key(self.store.keys.meta(key))
    }

    // The audit chain is per node and kept in local redb, not in etcd (`crate::store::node`):
    // the shared store holds no audit records.
    fn audit_last(&self) -> Result<Option<(u64, Vec<u8>)>, StoreError> {
        Ok(None)
    }

    fn audit_range(&self, _from: u64, _limit: usize) -> Result<Vec<(u64, Vec<u8>)>, StoreError> {
        Ok(Vec::new())
    }

    // The revision the transaction started from: its writes raise it when they commit.
    fn change_sequence(&self) -> Result<Option<u64>, StoreError> {
        self.view()?.change_sequence()
    }

    fn objects_changed_since(&self, sequence: u64) -> Result<Option<u64>, StoreError> {
        self.view()?.objects_changed_since(sequence)
    }

    fn scan_objects(&self, visit: &mut dyn FnMut(StoredObject) -> bool) -> Result<(), StoreError> {
        let walk = |prefix: &[u8], context: &str, v: &mut KeyVisitor<'_>| {
            self.scan_with_own_writes(prefix, context, v)
        };
        scan_objects_by(&self.store.keys, &walk, visit)
    }

    fn scan_meta(&self, visit: &mut dyn FnMut(&str, &[u8]) -> bool) -> Result<(), StoreError> {
        let walk = |prefix: &[u8], context: &str, v: &mut KeyVisitor<'_>| {
            self.scan_with_own_writes(prefix, context, v)
        };
        scan_meta_by(&self.store.keys, &walk, visit)
    }
}

impl WriteView for EtcdTxn<'_> {
    fn put(&mut self, object: &StoredObject) -> Result<(), StoreError> {
        let uid = object.uid.as_str();
        let encoded = record::encode(object)?;
        let keys = &self.store.keys;
        // Reading the previous record also guards it: a concurrent change of it conflicts.
        // Index entries that stay are not written again: rewriting one would bump its
        // mod_revision and make every concurrent scan of that prefix conflict for nothing.
        let mut old_entries = BTreeSet::new();
        if let Some(previous) = self.get(uid)? {
            old_entries.insert(keys.owner_entry(&previous.owner, uid));
            for term in &previous.index_terms {
                old_entries.insert(keys.term_entry(&previous.owner, term, uid));
            }
        }
        let mut new_entries = BTreeSet::new();
        new_entries.insert(keys.owner_entry(&object.owner, uid));
        for term in &object.index_terms {
            new_entries.insert(keys.term_entry(&object.owner, term, uid));
        }
        for gone in old_entries.difference(&new_entries) {
            self.delete(gone.clone());
        }
        for added in new_entries.difference(&old_entries) {
            self.set(added.clone(), Vec::new());
        }
        self.set(keys.object(uid), encoded);
        Ok(())
    }

    fn put_meta(&mut self, key: &str, value: &[u8]) -> Result<(), StoreError> {
        let key = self.store.keys.meta(key);
        self.set(key, value.to_vec());
        Ok(())
    }

    fn audit_put(&mut self, _seq: u64, _record: &[u8]) -> Result<(), StoreError> {
        Err(StoreError::Io(super::NO_AUDIT.into()))
    }

    fn audit_delete_before(&mut self, _seq: u64) -> Result<u64, StoreError> {
        Err(StoreError::Io(super::NO_AUDIT.into()))
    }
}

impl WriteTxn for EtcdTxn<'_> {
    fn commit(self: Box<Self>) -> Result<(), StoreError> {
        let EtcdTxn {
            store,
            view,
            guards,
            absent,
            seen: _,
            writes,
        } = *self;
        if writes.is_empty() {
            return Ok(());
        }
        let (guards, absent) = (guards.into_inner(), absent.into_inner());
        let limit = store.config.max_txn_ops;
        if guards.len() + absent.len() > limit || writes.len() > limit {
            return Err(StoreError::Io(
                format!(
                    "one etcd transaction would need {} compares and {} writes, over [cluster] \
                 max_txn_ops = {limit} (raise it together with etcd's --max-txn-ops)",
                    guards.len() + absent.len(),
                    writes.len()
                )
                .into(),
            ));
        }
        let view = view.into_inner();
        // Every read pinned the view: without one there are no read guards, only claims.
        let unchanged_since = view.as_ref().map(|v| (v.revision + 1).to_string());
        let mut compare: Vec<Compare> = Vec::with_capacity(guards.len() + absent.len());
        if let Some(unchanged_since) = &unchanged_since {
            compare.extend(guards.into_iter().map(|(key, range_end)| Compare {
                key: b64(&key),
                range_end: range_end.map(|end| b64(&end)),
                target: "MOD",
                result: "LESS",
                mod_revision: Some(unchanged_since.clone()),
                version: None,
            }));
        }
        compare.extend(absent.into_iter().map(|key| Compare {
            key: b64(&key),
            range_end: None,
            target: "VERSION",
            result: "EQUAL",
            mod_revision: None,
            version: Some("0".into()),
        }));
        let request = TxnRequest {
            compare,
            success: writes
                .into_iter()
                .map(|(key, value)| match value {
                    Some(value) => RequestOp::Put(PutRequest {
                        key: b64(&key),
                        value: b64(&value),
                        lease: 0,
                    }),
                    None => RequestOp::Delete(DeleteRequest { key: b64(&key) }),
                })
                .collect(),
        };
        // Sent to one member and never resent to another: a transaction that timed out may
        // still commit there, and sent twice it would conflict with itself.
        let member = view
            .as_ref()
            .map_or_else(|| store.gateway.preferred_member(), |v| v.member);
        let answer = store
            .gateway
            .txn(member, &request)
            .map_err(|e| store.note_failure(gateway_error("committing to etcd", e)))?;
        // A commit made it through a quorum, conflicting or not: degraded mode ends here too
        // (a group of Creates may reach etcd through no other request).
        store.note_success(answer.header.revision);
        if answer.succeeded {
            Ok(())
        } else {
            Err(StoreError::Conflict(
                match &view {
                    Some(view) => format!(
                        "data read at etcd revision {} changed before the commit, or a new \
                         object's UID was taken",
                        view.revision
                    ),
                    None => "a new object's UID was taken before the commit".into(),
                }
                .into(),
            ))
        }
    }
}
