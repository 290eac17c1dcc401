//! The change sequence: a counter in the meta table that every committed write group bumps
//! (a cluster uses its etcd revision instead). It lives in the store because the engine's
//! write pipeline bumps it; `backup::changes` reads it to say what changed since the last backup.

use super::{ReadView, StoreError, WriteView};

/// Meta key of the change sequence (u64 BE), bumped by the committer in each write group.
pub const META_CHANGE_SEQUENCE: &str = "backup.change_sequence";

/// The snapshot's change sequence: the store's own (a cluster's etcd revision), or the
/// committer's counter.
pub fn sequence(view: &dyn ReadView) -> Result<u64, StoreError> {
    if let Some(sequence) = view.change_sequence()? {
        return Ok(sequence);
    }
    Ok(match view.get_meta(META_CHANGE_SEQUENCE)? {
        Some(bytes) if bytes.len() == 8 => {
            let mut raw = [0u8; 8];
            raw.copy_from_slice(&bytes);
            u64::from_be_bytes(raw)
        }
        _ => 0,
    })
}

/// Bumps the change sequence inside the caller's write transaction.
pub fn bump(txn: &mut dyn WriteView) -> Result<(), StoreError> {
    let next = sequence(&*txn)?.wrapping_add(1);
    txn.put_meta(META_CHANGE_SEQUENCE, &next.to_be_bytes())
}
