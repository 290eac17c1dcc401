//! Per-message staging of writes over a store view.
//!
//! Every write of a message lands here first; reads see it before the view underneath. At the
//! end of the message the engine either flushes it into the `WriteView` or drops it (Undo).
//! This keeps Undo independent of store savepoints, since one store transaction carries many
//! messages (group commit).

use std::collections::BTreeMap;

use crate::store::{IndexTerm, ReadView, StoreError, StoredObject};

pub struct Overlay<'a> {
    base: &'a dyn ReadView,
    staged: BTreeMap<String, StoredObject>,
}

impl<'a> Overlay<'a> {
    pub fn new(base: &'a dyn ReadView) -> Overlay<'a> {
        Overlay {
            base,
            staged: BTreeMap::new(),
        }
    }

    pub fn get(&self, uid: &str) -> Result<Option<StoredObject>, StoreError> {
        match self.staged.get(uid) {
            Some(object) => Ok(Some(object.clone())),
            None => self.base.get(uid),
        }
    }

    /// Like [`ReadView::uid_is_free`], over the staged objects and the view underneath.
    pub fn uid_is_free(&self, uid: &str) -> Result<bool, StoreError> {
        Ok(!self.staged.contains_key(uid) && self.base.uid_is_free(uid)?)
    }

    /// Like [`ReadView::find`], over the staged objects and the view underneath.
    pub fn find(&self, owner: &str, term: Option<&IndexTerm>) -> Result<Vec<String>, StoreError> {
        let mut uids: Vec<String> = self
            .base
            .find(owner, term)?
            .into_iter()
            .filter(|u| !self.staged.contains_key(u))
            .collect();
        uids.extend(
            self.staged
                .values()
                .filter(|o| o.owner == owner && term.is_none_or(|t| o.index_terms.contains(t)))
                .map(|o| o.uid.clone()),
        );
        uids.sort();
        Ok(uids)
    }

    pub fn stage(&mut self, object: StoredObject) {
        self.staged.insert(object.uid.clone(), object);
    }

    /// The UIDs of the staged objects, in order.
    pub fn staged_uids(&self) -> Vec<String> {
        self.staged.keys().cloned().collect()
    }

    pub fn is_empty(&self) -> bool {
        self.staged.is_empty()
    }

    /// The staged objects, in UID order, to be written with `WriteView::put`.
    pub fn into_staged(self) -> Vec<StoredObject> {
        self.staged.into_values().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;
    use crate::store::memory::MemoryStore;

    fn object(uid: &str, owner: &str, term: &[u8]) -> StoredObject {
        StoredObject {
            uid: uid.into(),
            owner: owner.into(),
            version: 1,
            metadata: vec![],
            sealed_material: None,
            index_terms: vec![IndexTerm(term.to_vec())],
        }
    }

    #[test]
    fn staged_objects_shadow_the_base_and_flush_on_request() {
        let store = MemoryStore::new();
        let mut txn = store.write().unwrap();
        txn.put(&object("a", "o", b"t1")).unwrap();
        txn.commit().unwrap();
        let read = store.read().unwrap();
        let mut overlay = Overlay::new(&*read);
        overlay.stage(object("a", "o", b"t2"));
        overlay.stage(object("b", "o", b"t1"));
        let t1 = IndexTerm(b"t1".to_vec());
        assert_eq!(overlay.find("o", Some(&t1)).unwrap(), vec!["b"]);
        assert_eq!(overlay.find("o", None).unwrap(), vec!["a", "b"]);
        assert_eq!(overlay.get("a").unwrap().unwrap().index_terms[0].0, b"t2");
        drop(overlay);
        assert_eq!(
            read.find("o", Some(&t1)).unwrap(),
            vec!["a"],
            "the base is untouched until flush"
        );
    }
}
