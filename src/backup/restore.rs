//! Restore: a backup stream → a write transaction on a new store, material re-sealed under that
//! store's master key. (The read-only walk behind `keyward backup verify`, which names the
//! objects' owners by the client registry, is `admin::backup_inventory`.)

use std::io::Read;

use super::BackupError;
use super::reader::BackupReader;
use super::record::{Counts, Record};
use crate::engine::object::ManagedObject;
use crate::seal::MasterKey;
use crate::store::WriteView;

/// Receives extra records (the audit log) on restore; without one they are counted and skipped.
pub trait ExtraSink {
    fn restore(
        &mut self,
        txn: &mut dyn WriteView,
        source: &str,
        payload: &[u8],
    ) -> Result<(), BackupError>;
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RestoreSummary {
    pub counts: Counts,
    pub skipped_extra: u64,
}

/// Writes every record of `reader` into `txn`, re-sealing material under `master`. The caller
/// commits; an error leaves the transaction to be dropped, so nothing is half-applied.
pub fn restore_into<R: Read>(
    reader: &mut BackupReader<R>,
    txn: &mut dyn WriteView,
    master: &MasterKey,
    mut extra_sink: Option<&mut dyn ExtraSink>,
    progress: &mut dyn FnMut(u64),
) -> Result<RestoreSummary, BackupError> {
    let mut summary = RestoreSummary::default();
    while let Some(record) = reader.next_record()? {
        match record {
            Record::Object(object) => {
                let sealed = match &object.material {
                    None => None,
                    Some(material) => {
                        let meta =
                            ManagedObject::decode_metadata(&object.metadata).ok_or_else(|| {
                                BackupError::Malformed(format!(
                                    "object {}: metadata is unreadable",
                                    object.uid
                                ))
                            })?;
                        let aad = ManagedObject::sealing_aad(&object.uid, meta.material_generation);
                        Some(master.seal(&aad, material)?)
                    }
                };
                txn.put(&object.into_stored(sealed))?;
                summary.counts.objects += 1;
                if summary.counts.objects % 1000 == 0 {
                    progress(summary.counts.objects);
                }
            }
            Record::Meta { key, value } => {
                if super::export::is_appliance_local_meta(&key) {
                    return Err(BackupError::Malformed(format!(
                        "the backup carries appliance-local meta key {key}"
                    )));
                }
                txn.put_meta(&key, &value)?;
                summary.counts.meta += 1;
            }
            Record::Extra { source, payload } => match extra_sink.as_mut() {
                Some(sink) => {
                    sink.restore(txn, &source, &payload)?;
                    summary.counts.extra += 1;
                }
                None => summary.skipped_extra += 1,
            },
            Record::End(_) => {}
        }
    }
    progress(summary.counts.objects);
    Ok(summary)
}
