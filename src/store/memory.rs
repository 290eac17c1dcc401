//! An in-memory store backend over BTreeMaps, for engine tests and fuzzing. Not durable.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Mutex, MutexGuard};

use super::{IndexTerm, ReadView, Store, StoreError, StoredObject, WriteTxn, WriteView};

/// The whole state; a write transaction works on a copy and swaps it in on commit.
#[derive(Clone, Default)]
pub struct MemoryState {
    objects: BTreeMap<String, StoredObject>,
    /// (owner, term) → uids carrying it.
    terms: BTreeMap<(String, IndexTerm), BTreeSet<String>>,
    meta: BTreeMap<String, Vec<u8>>,
    audit: BTreeMap<u64, Vec<u8>>,
}

impl MemoryState {
    fn remove_terms(&mut self, uid: &str) {
        if let Some(old) = self.objects.get(uid) {
            for term in &old.index_terms {
                let key = (old.owner.clone(), term.clone());
                if let Some(set) = self.terms.get_mut(&key) {
                    set.remove(uid);
                    if set.is_empty() {
                        self.terms.remove(&key);
                    }
                }
            }
        }
    }

    fn put(&mut self, object: &StoredObject) {
        self.remove_terms(&object.uid);
        for term in &object.index_terms {
            self.terms
                .entry((object.owner.clone(), term.clone()))
                .or_default()
                .insert(object.uid.clone());
        }
        self.objects.insert(object.uid.clone(), object.clone());
    }
}

impl ReadView for MemoryState {
    fn get(&self, uid: &str) -> Result<Option<StoredObject>, StoreError> {
        Ok(self.objects.get(uid).cloned())
    }

    fn find(&self, owner: &str, term: Option<&IndexTerm>) -> Result<Vec<String>, StoreError> {
        Ok(match term {
            Some(term) => self
                .terms
                .get(&(owner.to_string(), term.clone()))
                .map(|set| set.iter().cloned().collect())
                .unwrap_or_default(),
            None => self
                .objects
                .values()
                .filter(|o| o.owner == owner)
                .map(|o| o.uid.clone())
                .collect(),
        })
    }

    fn get_meta(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.meta.get(key).cloned())
    }

    fn audit_last(&self) -> Result<Option<(u64, Vec<u8>)>, StoreError> {
        Ok(self.audit.last_key_value().map(|(k, v)| (*k, v.clone())))
    }

    fn audit_range(&self, from: u64, limit: usize) -> Result<Vec<(u64, Vec<u8>)>, StoreError> {
        Ok(self
            .audit
            .range(from..)
            .take(limit)
            .map(|(k, v)| (*k, v.clone()))
            .collect())
    }

    fn scan_objects(&self, visit: &mut dyn FnMut(StoredObject) -> bool) -> Result<(), StoreError> {
        for object in self.objects.values() {
            if !visit(object.clone()) {
                break;
            }
        }
        Ok(())
    }

    fn scan_meta(&self, visit: &mut dyn FnMut(&str, &[u8]) -> bool) -> Result<(), StoreError> {
        for (key, value) in &self.meta {
            if !visit(key, value) {
                break;
            }
        }
        Ok(())
    }

    // The committer's counter in the meta table is the change sequence here.
    fn change_sequence(&self) -> Result<Option<u64>, StoreError> {
        Ok(None)
    }

    fn objects_changed_since(&self, _sequence: u64) -> Result<Option<u64>, StoreError> {
        Ok(None)
    }
}

impl WriteView for MemoryState {
    fn put(&mut self, object: &StoredObject) -> Result<(), StoreError> {
        MemoryState::put(self, object);
        Ok(())
    }

    fn put_meta(&mut self, key: &str, value: &[u8]) -> Result<(), StoreError> {
        self.meta.insert(key.to_string(), value.to_vec());
        Ok(())
    }

    fn audit_put(&mut self, seq: u64, record: &[u8]) -> Result<(), StoreError> {
        self.audit.insert(seq, record.to_vec());
        Ok(())
    }

    fn audit_delete_before(&mut self, seq: u64) -> Result<u64, StoreError> {
        let kept = self.audit.split_off(&seq);
        let removed = self.audit.len() as u64;
        self.audit = kept;
        Ok(removed)
    }
}

/// Shared in-memory store: snapshot reads, one writer at a time.
#[derive(Default)]
pub struct MemoryStore {
    state: Mutex<MemoryState>,
    writer: Mutex<()>,
}

impl MemoryStore {
    pub fn new() -> MemoryStore {
        MemoryStore::default()
    }

    fn lock(&self) -> Result<MutexGuard<'_, MemoryState>, StoreError> {
        self.state
            .lock()
            .map_err(|_| StoreError::Failed("memory store lock poisoned".into()))
    }

    /// A copy of the committed state, for tests that compare before and after.
    pub fn snapshot(&self) -> Result<MemoryState, StoreError> {
        Ok(self.lock()?.clone())
    }
}

impl PartialEq for MemoryState {
    fn eq(&self, other: &Self) -> bool {
        self.objects == other.objects && self.terms == other.terms && self.meta == other.meta
    }
}

struct MemoryTxn<'a> {
    store: &'a MemoryStore,
    _writer: MutexGuard<'a, ()>,
    working: MemoryState,
}

impl ReadView for MemoryTxn<'_> {
    fn get(&self, uid: &str) -> Result<Option<StoredObject>, StoreError> {
        self.working.get(uid)
    }
    fn find(&self, owner: &str, term: Option<&IndexTerm>) -> Result<Vec<String>, StoreError> {
        self.working.find(owner, term)
    }
    fn get_meta(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.working.get_meta(key)
    }
    fn audit_last(&self) -> Result<Option<(u64, Vec<u8>)>, StoreError> {
        self.working.audit_last()
    }
    fn audit_range(&self, from: u64, limit: usize) -> Result<Vec<(u64, Vec<u8>)>, StoreError> {
        self.working.audit_range(from, limit)
    }
    fn scan_objects(&self, visit: &mut dyn FnMut(StoredObject) -> bool) -> Result<(), StoreError> {
        self.working.scan_objects(visit)
    }
    fn scan_meta(&self, visit: &mut dyn FnMut(&str, &[u8]) -> bool) -> Result<(), StoreError> {
        self.working.scan_meta(visit)
    }
    fn change_sequence(&self) -> Result<Option<u64>, StoreError> {
        self.working.change_sequence()
    }
    fn objects_changed_since(&self, sequence: u64) -> Result<Option<u64>, StoreError> {
        self.working.objects_changed_since(sequence)
    }
}

impl WriteView for MemoryTxn<'_> {
    fn put(&mut self, object: &StoredObject) -> Result<(), StoreError> {
        WriteView::put(&mut self.working, object)
    }
    fn put_meta(&mut self, key: &str, value: &[u8]) -> Result<(), StoreError> {
        self.working.put_meta(key, value)
    }
    fn audit_put(&mut self, seq: u64, record: &[u8]) -> Result<(), StoreError> {
        self.working.audit_put(seq, record)
    }
    fn audit_delete_before(&mut self, seq: u64) -> Result<u64, StoreError> {
        self.working.audit_delete_before(seq)
    }
}

impl WriteTxn for MemoryTxn<'_> {
    fn commit(self: Box<Self>) -> Result<(), StoreError> {
        let MemoryTxn {
            store,
            _writer,
            working,
        } = *self;
        *store.lock()? = working;
        Ok(())
    }
}

impl Store for MemoryStore {
    fn read(&self) -> Result<Box<dyn ReadView + '_>, StoreError> {
        Ok(Box::new(self.lock()?.clone()))
    }

    fn write(&self) -> Result<Box<dyn WriteTxn + '_>, StoreError> {
        let writer = self
            .writer
            .lock()
            .map_err(|_| StoreError::Failed("memory store writer lock poisoned".into()))?;
        let working = self.lock()?.clone();
        Ok(Box::new(MemoryTxn {
            store: self,
            _writer: writer,
            working,
        }))
    }

    // Memory cannot fill a disk or fail one; every write carries its audit records.
    fn failure(&self) -> Option<String> {
        None
    }

    fn space_low(&self) -> bool {
        false
    }

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
mod tests {
    use super::*;

    fn object(uid: &str, owner: &str, terms: &[&[u8]]) -> StoredObject {
        StoredObject {
            uid: uid.into(),
            owner: owner.into(),
            version: 1,
            metadata: vec![1],
            sealed_material: None,
            index_terms: terms.iter().map(|t| IndexTerm(t.to_vec())).collect(),
        }
    }

    #[test]
    fn terms_are_scoped_by_owner_and_replaced_on_put() {
        let store = MemoryStore::new();
        let mut txn = store.write().unwrap();
        txn.put(&object("b", "alice", &[b"n1"])).unwrap();
        txn.put(&object("a", "alice", &[b"n1"])).unwrap();
        txn.put(&object("c", "bob", &[b"n1"])).unwrap();
        txn.commit().unwrap();
        let read = store.read().unwrap();
        let n1 = IndexTerm(b"n1".to_vec());
        assert_eq!(read.find("alice", Some(&n1)).unwrap(), vec!["a", "b"]);
        assert_eq!(read.find("bob", None).unwrap(), vec!["c"]);
        drop(read);
        let mut txn = store.write().unwrap();
        txn.put(&object("a", "alice", &[b"n2"])).unwrap();
        txn.commit().unwrap();
        assert_eq!(
            store.read().unwrap().find("alice", Some(&n1)).unwrap(),
            vec!["b"]
        );
    }

    #[test]
    fn dropped_transaction_leaves_nothing() {
        let store = MemoryStore::new();
        let mut txn = store.write().unwrap();
        txn.put(&object("a", "alice", &[])).unwrap();
        drop(txn);
        assert!(store.read().unwrap().get("a").unwrap().is_none());
    }
}
