//! A read view pinned at one etcd revision on one member: every read inside it sees the same
//! snapshot, whichever keys it touches.
//!
//! Normally the revision comes from a linearizable read (the member confirmed with the leader
//! that it has applied everything committed before the call), so the view reflects every
//! acknowledged write. In degraded mode the revision is whatever the local member last applied
//! (serializable): possibly stale, never torn.

use super::gateway::{Gateway, GatewayError, RangeRequest, b64};
use super::keys::{KeyLayout, prefix_end, uid_after};
use crate::store::redb::record;
use crate::store::{IndexTerm, ReadView, StoreError, StoredObject};

pub(super) fn gateway_error(context: &str, err: GatewayError) -> StoreError {
    match err {
        GatewayError::Unavailable(why) => {
            StoreError::Unavailable(format!("{context}: {why}").into())
        }
        other => StoreError::Io(crate::store::Cause::with_source(context, other)),
    }
}

/// Keys per range request when a whole-store scan (backup export) walks objects or meta: one
/// answer, not the store, bounds the memory a scan holds. Records are a few hundred bytes.
pub const SCAN_PAGE: usize = 256;

/// A scan error, with a clear word for the one that needs the operator: etcd compacted the
/// revision the view is pinned at while the scan was still running.
fn scan_error(context: &str, revision: i64, err: GatewayError) -> StoreError {
    match err {
        GatewayError::Refused(why) if why.contains("compacted") => StoreError::Io(
            format!(
                "{context}: etcd has compacted revision {revision}, the snapshot this scan reads, \
             while the scan was running (etcd's compaction retention is shorter than the scan); \
             start it again: {why}"
            )
            .into(),
        ),
        other => gateway_error(context, other),
    }
}

pub struct PinnedView<'a> {
    pub(super) gateway: &'a Gateway,
    pub(super) keys: &'a KeyLayout,
    pub(super) member: usize,
    pub(super) revision: i64,
}

/// Called with each (key, value) of a paged scan; false stops the scan.
pub(super) type KeyVisitor<'v> = dyn FnMut(&[u8], &[u8]) -> Result<bool, StoreError> + 'v;

/// One key or one prefix scan as it was at the view's revision: (key, value, mod_revision).
pub(super) type Entries = Vec<(Vec<u8>, Vec<u8>)>;

impl PinnedView<'_> {
    pub(super) fn key(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        let answer = self
            .gateway
            .range(
                self.member,
                &RangeRequest {
                    key: b64(key),
                    revision: self.revision,
                    // The member already vouched for `revision`; reading it again needs no
                    // round to the leader.
                    serializable: true,
                    ..RangeRequest::default()
                },
            )
            .map_err(|e| gateway_error("reading from etcd", e))?;
        Ok(answer.kvs.into_iter().next().map(|kv| kv.value))
    }

    pub(super) fn scan(&self, prefix: &[u8], keys_only: bool) -> Result<Entries, StoreError> {
        let answer = self
            .gateway
            .range(
                self.member,
                &RangeRequest {
                    key: b64(prefix),
                    range_end: Some(b64(&prefix_end(prefix))),
                    revision: self.revision,
                    serializable: true,
                    keys_only,
                    ..RangeRequest::default()
                },
            )
            .map_err(|e| gateway_error("scanning etcd", e))?;
        Ok(answer
            .kvs
            .into_iter()
            .map(|kv| (kv.key, kv.value))
            .collect())
    }

    /// Visits every key under `prefix` as it was at the view's revision, in ascending key
    /// order, [`SCAN_PAGE`] keys per request; each page starts just after the last key of the
    /// one before. Stops early when `visit` answers false.
    pub(super) fn scan_paged(
        &self,
        prefix: &[u8],
        context: &str,
        visit: &mut KeyVisitor<'_>,
    ) -> Result<(), StoreError> {
        let end = b64(&prefix_end(prefix));
        let mut from = prefix.to_vec();
        loop {
            let answer = self
                .gateway
                .range(
                    self.member,
                    &RangeRequest {
                        key: b64(&from),
                        range_end: Some(end.clone()),
                        // Every page at the same revision: the pages join into one snapshot
                        // whatever is written meanwhile.
                        revision: self.revision,
                        serializable: true,
                        limit: SCAN_PAGE as i64,
                        ..RangeRequest::default()
                    },
                )
                .map_err(|e| scan_error(context, self.revision, e))?;
            let more = answer.more;
            let mut last = None;
            for kv in answer.kvs {
                if !visit(&kv.key, &kv.value)? {
                    return Ok(());
                }
                last = Some(kv.key);
            }
            match last {
                // The smallest key after `key`.
                Some(mut key) if more => {
                    key.push(0);
                    from = key;
                }
                _ => return Ok(()),
            }
        }
    }

    pub(super) fn index_prefix(&self, owner: &str, term: Option<&IndexTerm>) -> Vec<u8> {
        match term {
            None => self.keys.owner_prefix(owner),
            Some(term) => self.keys.term_prefix(owner, term),
        }
    }
}

impl ReadView for PinnedView<'_> {
    // etcd's revision grows with every committed change in the whole keyspace: the change
    // sequence comes free, and no shared counter key makes concurrent groups conflict.
    fn change_sequence(&self) -> Result<Option<u64>, StoreError> {
        Ok(u64::try_from(self.revision).ok())
    }

    fn objects_changed_since(&self, sequence: u64) -> Result<Option<u64>, StoreError> {
        let prefix = self.keys.objects_prefix();
        let after = i64::try_from(sequence)
            .map_err(|_| StoreError::Corrupt("change sequence beyond etcd's range".into()))?;
        let answer = self
            .gateway
            .range(
                self.member,
                &RangeRequest {
                    key: b64(&prefix),
                    range_end: Some(b64(&prefix_end(&prefix))),
                    revision: self.revision,
                    serializable: true,
                    count_only: true,
                    min_mod_revision: after.saturating_add(1),
                    ..RangeRequest::default()
                },
            )
            .map_err(|e| gateway_error("counting changed objects in etcd", e))?;
        Ok(u64::try_from(answer.count).ok())
    }

    fn get(&self, uid: &str) -> Result<Option<StoredObject>, StoreError> {
        match self.key(&self.keys.object(uid))? {
            None => Ok(None),
            Some(bytes) => record::decode(uid, &bytes).map(Some),
        }
    }

    fn find(&self, owner: &str, term: Option<&IndexTerm>) -> Result<Vec<String>, StoreError> {
        let prefix = self.index_prefix(owner, term);
        self.scan(&prefix, true)?
            .iter()
            .map(|(key, _)| uid_after(&prefix, key))
            .collect()
    }

    fn get_meta(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.key(&self.keys.meta(key))
    }

    // The audit chain is per node and kept in local redb, not in etcd (see docs/cluster.md):
    // a cluster node runs without one, so the shared store holds no audit records.
    fn audit_last(&self) -> Result<Option<(u64, Vec<u8>)>, StoreError> {
        Ok(None)
    }

    fn audit_range(&self, _from: u64, _limit: usize) -> Result<Vec<(u64, Vec<u8>)>, StoreError> {
        Ok(Vec::new())
    }

    fn scan_objects(&self, visit: &mut dyn FnMut(StoredObject) -> bool) -> Result<(), StoreError> {
        scan_objects_by(
            self.keys,
            &|prefix, context, v| self.scan_paged(prefix, context, v),
            visit,
        )
    }

    fn scan_meta(&self, visit: &mut dyn FnMut(&str, &[u8]) -> bool) -> Result<(), StoreError> {
        scan_meta_by(
            self.keys,
            &|prefix, context, v| self.scan_paged(prefix, context, v),
            visit,
        )
    }
}

/// How a whole-prefix scan walks its keys in order: a view's pages ([`PinnedView::scan_paged`])
/// or a transaction's, its own writes laid over them (`txn_scan.rs`).
pub(super) type Walk<'w> = dyn Fn(&[u8], &str, &mut KeyVisitor<'_>) -> Result<(), StoreError> + 'w;

/// `ReadView::scan_objects` over `walk`: every object record, decoded.
pub(super) fn scan_objects_by(
    keys: &KeyLayout,
    walk: &Walk<'_>,
    visit: &mut dyn FnMut(StoredObject) -> bool,
) -> Result<(), StoreError> {
    let prefix = keys.objects_prefix();
    walk(
        &prefix,
        "scanning all objects in etcd",
        &mut |key, value| {
            let uid = uid_after(&prefix, key)?;
            Ok(visit(record::decode(&uid, value)?))
        },
    )
}

/// `ReadView::scan_meta` over `walk`: every meta key by name.
pub(super) fn scan_meta_by(
    keys: &KeyLayout,
    walk: &Walk<'_>,
    visit: &mut dyn FnMut(&str, &[u8]) -> bool,
) -> Result<(), StoreError> {
    let prefix = keys.meta("");
    walk(&prefix, "scanning meta keys in etcd", &mut |key, value| {
        let name = key
            .strip_prefix(prefix.as_slice())
            .and_then(|name| std::str::from_utf8(name).ok())
            .ok_or_else(|| {
                StoreError::Corrupt("etcd meta key outside its prefix or not UTF-8".into())
            })?;
        Ok(visit(name, value))
    })
}
