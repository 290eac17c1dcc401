//! A write transaction: reads at the revision R the transaction started from, writes buffered
//! in memory, and a commit that is ONE etcd transaction:
//!
//! - compare: every key and every prefix the transaction read has `mod_revision < R + 1`,
//!   i.e. nobody (another node, or this one) changed it since the snapshot;
//! - success: every buffered put and delete.
//!
//! If any compare fails, nothing is written and the commit returns [`StoreError::Conflict`];
//! the committer then runs the whole group again on a new snapshot. This is optimistic
//! concurrency: two nodes updating one object never lose an update, one of them simply redoes
//! its work. etcd acknowledges the transaction only after a quorum has it on disk.

use std::collections::{BTreeMap, BTreeSet};

use super::EtcdStore;
use super::gateway::{Compare, DeleteRequest, PutRequest, RequestOp, TxnRequest, b64};
use super::keys::{prefix_end, uid_after};
use super::read::{KeyVisitor, PinnedView, gateway_error, scan_meta_by, scan_objects_by};
use crate::store::redb::record;
use crate::store::{IndexTerm, ReadView, StoreError, StoredObject, WriteTxn, WriteView};

/// A key read (`None` end) or a prefix scanned (end = the prefix's range end).
pub(super) type Guard = (Vec<u8>, Option<Vec<u8>>);

pub struct EtcdTxn<'a> {
    pub(super) store: &'a EtcdStore,
    pub(super) view: PinnedView<'a>,
    /// Keys read (range_end `None`) and prefixes scanned (range_end = prefix end).
    pub(super) guards: std::cell::RefCell<BTreeSet<Guard>>,
    /// Final state of every key written: `None` deletes it. A map, because etcd refuses a
    /// transaction that names one key twice.
    pub(super) writes: BTreeMap<Vec<u8>, Option<Vec<u8>>>,
}

impl EtcdTxn<'_> {
    fn read_key(&self, key: Vec<u8>) -> Result<Option<Vec<u8>>, StoreError> {
        if let Some(buffered) = self.writes.get(&key) {
            return Ok(buffered.clone());
        }
        let value = self.view.key(&key)?;
        self.guards.borrow_mut().insert((key, None));
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
        match self.read_key(self.view.keys.object(uid))? {
            None => Ok(None),
            Some(bytes) => record::decode(uid, &bytes).map(Some),
        }
    }

    fn find(&self, owner: &str, term: Option<&IndexTerm>) -> Result<Vec<String>, StoreError> {
        let prefix = self.view.index_prefix(owner, term);
        let mut found = BTreeSet::new();
        for (key, _) in self.view.scan(&prefix, true)? {
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
        self.read_key(self.view.keys.meta(key))
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
        self.view.change_sequence()
    }

    fn objects_changed_since(&self, sequence: u64) -> Result<Option<u64>, StoreError> {
        self.view.objects_changed_since(sequence)
    }

    fn scan_objects(&self, visit: &mut dyn FnMut(StoredObject) -> bool) -> Result<(), StoreError> {
        let walk = |prefix: &[u8], context: &str, v: &mut KeyVisitor<'_>| {
            self.scan_with_own_writes(prefix, context, v)
        };
        scan_objects_by(self.view.keys, &walk, visit)
    }

    fn scan_meta(&self, visit: &mut dyn FnMut(&str, &[u8]) -> bool) -> Result<(), StoreError> {
        let walk = |prefix: &[u8], context: &str, v: &mut KeyVisitor<'_>| {
            self.scan_with_own_writes(prefix, context, v)
        };
        scan_meta_by(self.view.keys, &walk, visit)
    }
}

impl WriteView for EtcdTxn<'_> {
    fn put(&mut self, object: &StoredObject) -> Result<(), StoreError> {
        let uid = object.uid.as_str();
        let encoded = record::encode(object)?;
        let keys = self.view.keys;
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
        let key = self.view.keys.meta(key);
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
            writes,
        } = *self;
        if writes.is_empty() {
            return Ok(());
        }
        let guards = guards.into_inner();
        let limit = store.config.max_txn_ops;
        if guards.len() > limit || writes.len() > limit {
            return Err(StoreError::Io(
                format!(
                    "one etcd transaction would need {} compares and {} writes, over [cluster] \
                 max_txn_ops = {limit} (raise it together with etcd's --max-txn-ops)",
                    guards.len(),
                    writes.len()
                )
                .into(),
            ));
        }
        let unchanged_since = (view.revision + 1).to_string();
        let request = TxnRequest {
            compare: guards
                .into_iter()
                .map(|(key, range_end)| Compare {
                    key: b64(&key),
                    range_end: range_end.map(|end| b64(&end)),
                    target: "MOD",
                    result: "LESS",
                    mod_revision: unchanged_since.clone(),
                })
                .collect(),
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
        let answer = store
            .gateway
            .txn(view.member, &request)
            .map_err(|e| store.note_failure(gateway_error("committing to etcd", e)))?;
        if answer.succeeded {
            Ok(())
        } else {
            Err(StoreError::Conflict(
                format!(
                    "data read at etcd revision {} changed before the commit",
                    view.revision
                )
                .into(),
            ))
        }
    }
}
