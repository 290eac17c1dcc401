//! Moving a single appliance's store into a new cluster (`keyward cluster migrate`): every
//! meta value and object is written as it is, so every UID, owner and index term stays.

use super::EtcdStore;
use super::keys::prefix_end;
use crate::seal::META_WRAPPED_MASTER_KEY;
use crate::store::redb::META_SCHEMA_VERSION;
use crate::store::{Store, StoreError, StoredObject};

/// Objects per etcd transaction: each writes its record, an owner entry and its index terms,
/// so this stays far below any sensible `--max-txn-ops`.
const OBJECTS_PER_TXN: usize = 16;

/// Copies into an EMPTY cluster (no master key, no object under the prefix); returns the
/// number of objects copied. Not one transaction: run it before any node serves.
pub fn copy_into(
    target: &EtcdStore,
    meta: &[(String, Vec<u8>)],
    objects: &[StoredObject],
) -> Result<usize, StoreError> {
    {
        let view = target.read()?;
        if view.get_meta(META_WRAPPED_MASTER_KEY)?.is_some() {
            return Err(StoreError::Io(
                "the cluster already has a master key: migrate only into a new cluster".into(),
            ));
        }
    }
    let prefix = target.keys().objects_prefix();
    let existing = target
        .gateway()
        .call::<_, super::gateway::RangeResponse>(
            "/v3/kv/range",
            &super::gateway::RangeRequest {
                key: super::gateway::b64(&prefix),
                range_end: Some(super::gateway::b64(&prefix_end(&prefix))),
                keys_only: true,
                ..Default::default()
            },
            false,
        )
        .map_err(|e| StoreError::Io(e.to_string().into()))?
        .0;
    if !existing.kvs.is_empty() {
        return Err(StoreError::Io(
            "the cluster already holds objects: migrate only into a new cluster".into(),
        ));
    }
    let mut txn = target.write()?;
    for (key, value) in meta {
        // The cluster recorded its own schema version when it was opened.
        if key != META_SCHEMA_VERSION {
            txn.put_meta(key, value)?;
        }
    }
    txn.commit()?;
    for chunk in objects.chunks(OBJECTS_PER_TXN) {
        let mut txn = target.write()?;
        for object in chunk {
            txn.put(object)?;
        }
        txn.commit()?;
    }
    Ok(objects.len())
}
