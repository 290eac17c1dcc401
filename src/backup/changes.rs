//! "Changes since the last backup": a change sequence in the meta table, bumped in every
//! committed write group, and the sequence and time recorded by the last successful backup.
//! `keyward status` and the metrics read [`status`].

use serde::{Deserialize, Serialize};

pub use crate::store::change_sequence::{META_CHANGE_SEQUENCE, bump, sequence};
use crate::store::{ReadView, Store, StoreError};

/// Meta key of the last successful backup ([`LastBackup`] as JSON).
pub const META_LAST_BACKUP: &str = "backup.last";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LastBackup {
    pub unix: u64,
    /// The change sequence the backup's snapshot had.
    pub sequence: u64,
    pub file: String,
    pub objects: u64,
}

/// What the status command and the metrics show.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackupStatus {
    pub last_backup: Option<LastBackup>,
    /// Committed write groups since the last backup's snapshot (all of them when none); on a
    /// cluster, objects changed since.
    pub changes_since: u64,
}

pub fn status(view: &dyn ReadView) -> Result<BackupStatus, StoreError> {
    let current = sequence(view)?;
    let last_backup: Option<LastBackup> = view
        .get_meta(META_LAST_BACKUP)?
        .and_then(|bytes| serde_json::from_slice(&bytes).ok());
    let since = last_backup.as_ref().map_or(0, |last| last.sequence);
    // A cluster counts the objects changed since (the revision grows with every change of
    // any key, so revisions are no count); a single appliance counts committed groups.
    let changes_since = match view.objects_changed_since(since)? {
        Some(objects) => objects,
        None => current.saturating_sub(since),
    };
    Ok(BackupStatus {
        last_backup,
        changes_since,
    })
}

/// Records a successful backup taken from a snapshot at `sequence`.
pub fn record_backup(
    store: &dyn Store,
    last: &LastBackup,
    audit: crate::audit::AuditBy<'_>,
) -> Result<(), StoreError> {
    let mut txn = store.write()?;
    if let Some((ctx, actor)) = audit {
        let event = crate::audit::AuditEvent {
            reason: Some(format!("{} object(s) to {}", last.objects, last.file)),
            ..crate::audit::AuditEvent::success("backup.export", Vec::new())
        };
        crate::audit::record(txn.as_mut(), ctx, actor.clone(), event)?;
    }
    // Never move the mark back: an older snapshot finishing late must not hide newer backups.
    if let Some(previous) = status(&*txn)?.last_backup
        && previous.sequence > last.sequence
    {
        return Ok(());
    }
    let bytes = serde_json::to_vec(last).map_err(|e| StoreError::Io(e.to_string().into()))?;
    txn.put_meta(META_LAST_BACKUP, &bytes)?;
    txn.commit()
}

/// Last backup time and changes since, for the metrics endpoint.
pub fn last_backup_and_changes(store: &dyn Store) -> Result<(Option<u64>, u64), StoreError> {
    let status = status(&*store.read()?)?;
    Ok((status.last_backup.map(|l| l.unix), status.changes_since))
}
