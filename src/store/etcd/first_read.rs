//! A read view whose first read is itself the linearizable read (issue 21, point 4).
//!
//! Why: a view used to start with a linearizable read of its own (a count of one small key,
//! only for the revision it answers with) and then read the object at that revision: two
//! round trips through etcd's JSON gateway for every Get, the first one through the leader.
//! A linearizable range of the object's key returns the key *and* the revision it was read
//! at (the answer's header), so here the view's first read is sent linearizably and its
//! header revision pins the view: one round trip for a view that reads one key, and every
//! further read of the view is served at that revision by the same member, as before.
//!
//! Guarantees kept (`docs/cluster.md`, "Consistency"):
//! - linearizable: the first read is a linearizable read sent when the view is first used,
//!   which is after it was opened, so after every request it serves arrived; it reflects
//!   every write acknowledged before (etcd: the member confirms with the leader that it has
//!   applied everything committed before the read, then reads). Its snapshot is that of the
//!   first read, not of the opening: only callers that need nothing older get such a view
//!   ([`crate::store::Store::read_expecting`]); `Store::read` still pins at the call;
//! - one revision: etcd reads a range at one revision and names it in the header; the later
//!   reads ask that member for exactly that revision (it has applied it: it served it).
//!
//! A batch of reads (`server/cluster_reader.rs`) names the objects it will read
//! ([`crate::store::Store::read_expecting`]): the first read then fetches all of them in ONE
//! read-only etcd transaction (ranges only, no compare). etcd serves such a transaction as it
//! serves a range: linearizable unless every range is serializable, at one revision (named in
//! its header), without a Raft entry. A batch of Gets costs one round trip, however many.
//!
//! Degraded mode as for any view: when the linearizable read finds no quorum, the store notes
//! it and the same read is served by the first member that answers, from its last applied
//! state (serializable: possibly stale, never torn). A view opened while the store is degraded
//! and the next quorum probe is not due reads serializably from the start.

use std::cell::{OnceCell, RefCell};
use std::collections::HashMap;

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::EtcdStore;
use super::gateway::{
    GatewayError, RangeRequest, RangeResponse, RequestOp, TxnRequest, TxnResponse, b64,
};
use super::keys::{prefix_end, uid_after};
use super::read::{PinnedView, gateway_error};
use crate::store::redb::record;
use crate::store::{IndexTerm, ReadView, StoreError, StoredObject};

pub(super) struct FirstReadView<'a> {
    store: &'a EtcdStore,
    /// False while degraded with the next quorum probe not yet due.
    linearizable: bool,
    /// Set by the first read: the revision it was served at and the member that served it.
    pinned: OnceCell<PinnedView<'a>>,
    /// Keys the caller said it will read (the objects a batch of reads names), fetched
    /// together by the first key read.
    expected: Vec<Vec<u8>>,
    /// What that fetch found for each of them (`None`: no such key) at the pinned revision.
    fetched: RefCell<HashMap<Vec<u8>, Option<Vec<u8>>>>,
}

impl<'a> FirstReadView<'a> {
    pub(super) fn new(
        store: &'a EtcdStore,
        linearizable: bool,
        expected: Vec<Vec<u8>>,
    ) -> FirstReadView<'a> {
        FirstReadView {
            store,
            linearizable,
            pinned: OnceCell::new(),
            expected,
            fetched: RefCell::new(HashMap::new()),
        }
    }

    /// The view's first read: `request(serializable)` sent linearizably (serializably when
    /// degraded) to `path`, the revision its answer names and the member that served it
    /// pinning the view. Only called while not yet pinned.
    fn first<Req: Serialize, Resp: DeserializeOwned>(
        &self,
        path: &str,
        request: impl Fn(bool) -> Req,
        revision: impl Fn(&Resp) -> i64,
        context: &str,
    ) -> Result<Resp, StoreError> {
        let store = self.store;
        if self.linearizable {
            match store.linearizable(path, &request(false), &revision, context) {
                Ok((answer, member)) => {
                    self.pin(revision(&answer), member);
                    return Ok(answer);
                }
                // No quorum: degraded, served below from the local member's state.
                Err(StoreError::Unavailable(_)) => {}
                Err(other) => return Err(other),
            }
        }
        let (answer, member) = store
            .gateway
            .call::<_, Resp>(path, &request(true), true)
            .map_err(|e| gateway_error(context, e))?;
        self.pin(revision(&answer), member);
        Ok(answer)
    }

    /// A first read of one range (a key or a prefix).
    fn first_range(
        &self,
        request: RangeRequest,
        context: &str,
    ) -> Result<RangeResponse, StoreError> {
        self.first(
            "/v3/kv/range",
            |serializable| RangeRequest {
                serializable,
                ..request.clone()
            },
            |answer: &RangeResponse| answer.header.revision,
            context,
        )
    }

    /// A first read of several keys at once: one read-only transaction of their ranges. What
    /// it finds goes to `fetched`.
    fn first_together(&self, keys: &[Vec<u8>]) -> Result<(), StoreError> {
        let request = |serializable| TxnRequest {
            compare: Vec::new(),
            success: keys
                .iter()
                .map(|key| {
                    RequestOp::Range(RangeRequest {
                        key: b64(key),
                        serializable,
                        ..RangeRequest::default()
                    })
                })
                .collect(),
        };
        let context = "reading several keys from etcd";
        let answer = self.first(
            "/v3/kv/txn",
            request,
            |answer: &TxnResponse| answer.header.revision,
            context,
        )?;
        if answer.responses.len() != keys.len() {
            let why = format!(
                "{} answers to a transaction of {} ranges",
                answer.responses.len(),
                keys.len()
            );
            return Err(gateway_error(context, GatewayError::Protocol(why)));
        }
        let mut fetched = self.fetched.borrow_mut();
        for (key, response) in keys.iter().zip(answer.responses) {
            let value = response
                .response_range
                .and_then(|range| range.kvs.into_iter().next())
                .map(|kv| kv.value);
            fetched.insert(key.clone(), value);
        }
        Ok(())
    }

    fn pin(&self, revision: i64, member: usize) {
        let _ = self.pinned.set(self.store.view_at((revision, member)));
    }

    /// The pinned view, pinned by a read of the head revision alone when the first read is
    /// not a single key or prefix (a paged scan, a count, the change sequence).
    fn pinned(&self) -> Result<&PinnedView<'a>, StoreError> {
        if let Some(view) = self.pinned.get() {
            return Ok(view);
        }
        let head = self.store.head_for_read(self.linearizable)?;
        Ok(self.pinned.get_or_init(|| self.store.view_at(head)))
    }

    fn key(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        if let Some(value) = self.fetched.borrow().get(key) {
            return Ok(value.clone());
        }
        if let Some(view) = self.pinned.get() {
            return view.key(key);
        }
        if !self.expected.is_empty() && self.expected != [key] {
            let mut keys = self.expected.clone();
            if !keys.iter().any(|k| k == key) {
                keys.push(key.to_vec());
            }
            self.first_together(&keys)?;
            return Ok(self.fetched.borrow().get(key).cloned().flatten());
        }
        let request = RangeRequest {
            key: b64(key),
            ..RangeRequest::default()
        };
        let answer = self.first_range(request, "reading from etcd")?;
        Ok(answer.kvs.into_iter().next().map(|kv| kv.value))
    }
}

impl ReadView for FirstReadView<'_> {
    fn get(&self, uid: &str) -> Result<Option<StoredObject>, StoreError> {
        match self.key(&self.store.keys.object(uid))? {
            None => Ok(None),
            Some(bytes) => record::decode(uid, &bytes).map(Some),
        }
    }

    fn find(&self, owner: &str, term: Option<&IndexTerm>) -> Result<Vec<String>, StoreError> {
        if let Some(view) = self.pinned.get() {
            return view.find(owner, term);
        }
        let keys = &self.store.keys;
        let prefix = match term {
            None => keys.owner_prefix(owner),
            Some(term) => keys.term_prefix(owner, term),
        };
        let request = RangeRequest {
            key: b64(&prefix),
            range_end: Some(b64(&prefix_end(&prefix))),
            keys_only: true,
            ..RangeRequest::default()
        };
        self.first_range(request, "scanning etcd")?
            .kvs
            .iter()
            .map(|kv| uid_after(&prefix, &kv.key))
            .collect()
    }

    fn get_meta(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.key(&self.store.keys.meta(key))
    }

    // etcd holds no audit records (`crate::store::node` keeps them): nothing to pin for.
    fn audit_last(&self) -> Result<Option<(u64, Vec<u8>)>, StoreError> {
        Ok(None)
    }

    fn audit_range(&self, _from: u64, _limit: usize) -> Result<Vec<(u64, Vec<u8>)>, StoreError> {
        Ok(Vec::new())
    }

    fn change_sequence(&self) -> Result<Option<u64>, StoreError> {
        self.pinned()?.change_sequence()
    }

    fn objects_changed_since(&self, sequence: u64) -> Result<Option<u64>, StoreError> {
        self.pinned()?.objects_changed_since(sequence)
    }

    fn scan_objects(&self, visit: &mut dyn FnMut(StoredObject) -> bool) -> Result<(), StoreError> {
        self.pinned()?.scan_objects(visit)
    }

    fn scan_meta(&self, visit: &mut dyn FnMut(&str, &[u8]) -> bool) -> Result<(), StoreError> {
        self.pinned()?.scan_meta(visit)
    }
}
