//! The first Get of an object, answered at read speed: its one change, clearing the object's
//! Fresh flag, travels in the read journal instead of a durable commit.
//!
//! Why: Fresh says no client has been served the object yet, and the Get that serves it first
//! clears it. That made every first Get a change waiting for a group commit's `fdatasync`:
//! half the commits of a create-then-get client (vCenter's pattern: it fetches every key it
//! creates), for one boolean. Now the loop runs such a Get on a snapshot like any read, and the
//! clear rides with the Get's audit record in the read journal (`audit/read_journal.rs`); the
//! committer applies it in the transaction that folds the record ([`JournalledClears`]).
//!
//! What that promises, the same as for the Get's record: from the answer on, the clear
//! survives `kill -9` (the journal line is in the kernel's page cache; the next start folds
//! it); a power loss inside `read_sync_interval_ms` may lose it together with the record, as if
//! the Get had not happened, never one without the other. Any durable change committed after
//! the answer carries it (a group folds the journal before it runs its changes), so no later
//! acknowledged change can be kept while the clear is lost.
//!
//! What readers see meanwhile: the caller of [`Engine::execute_if_unchanging`] keeps the
//! objects whose clear waits in the journal and the engine treats them as no longer Fresh
//! (`Ctx::load`), so a Get Attributes or a second Get right after the answer sees Fresh false
//! although the store does not hold it yet. Fresh is server-managed: once false, nothing but
//! this clear writes it, so an object in that set is not Fresh, whatever the snapshot says.
//! A cluster node's reads cannot journal a clear (its objects live in etcd, its journal folds
//! into its local audit log): there a first Get still commits.

use super::object::ManagedObject;
use super::response::Response;
use crate::audit::read_journal::{FoldEffects, SkipEffects};
use crate::kmip::tag;
use crate::store::{Store, StoreError, WriteView};
use crate::ttlv::Value;

/// What [`Engine::execute_if_unchanging`](super::Engine::execute_if_unchanging) needs to know
/// of the caller's journal.
#[derive(Clone, Copy)]
pub enum FreshClears<'a> {
    /// The caller cannot journal a clear: a Get of a Fresh object is a change, for the
    /// committer.
    Committed,
    /// The caller journals clears; the function says whether a clear of this object waits in
    /// the journal, not folded yet.
    Journalled(&'a dyn Fn(&str) -> bool),
}

/// A request run on a snapshot that changed nothing a commit must hold before its answer.
pub struct Unchanging {
    pub response: Response,
    /// Objects whose Fresh flag this request's Gets cleared (empty for a read): the caller
    /// journals the clears with the request's records before the answer leaves.
    pub fresh_cleared: Vec<String>,
}

/// Applies journalled clears when the read journal is folded.
pub struct JournalledClears;

impl FoldEffects for JournalledClears {
    fn clear_fresh(&self, txn: &mut dyn WriteView, uid: &str) -> Result<(), StoreError> {
        let Some(mut stored) = txn.get(uid)? else {
            return Ok(());
        };
        let Some(mut managed) = ManagedObject::decode_metadata(&stored.metadata) else {
            // Not this fold's to repair: every operation on the object reports it.
            log::error!("cannot clear Fresh on {uid}: its stored metadata does not decode");
            return Ok(());
        };
        if !is_fresh(&managed) {
            return Ok(());
        }
        managed.set(tag::FRESH, Value::Boolean(false));
        stored.metadata = managed.encode_metadata();
        stored.version += 1;
        txn.put(&stored)
    }
}

/// What folding `store`'s read journal applies besides the records: the Gets' clears of
/// Fresh, but on a cluster node, whose folds write its local audit log only (no object lives
/// there, and its first Gets commit their clears through etcd).
pub fn fold_effects(store: &dyn Store) -> &'static dyn FoldEffects {
    if store.replicated() {
        &SkipEffects
    } else {
        &JournalledClears
    }
}

/// Whether `managed` has not been served yet.
pub(super) fn is_fresh(managed: &ManagedObject) -> bool {
    matches!(managed.first(tag::FRESH), Some(Value::Boolean(true)))
}
