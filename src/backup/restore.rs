//! Restore: a backup stream → a write transaction on a new store, material re-sealed under that
//! store's master key. Also the read-only walk behind `keyward backup verify`.

use std::collections::BTreeMap;
use std::io::Read;

use super::BackupError;
use super::reader::BackupReader;
use super::record::{Counts, Record};
use crate::admin::registry::{META_CLIENT_REGISTRY, Registry};
use crate::engine::object::ManagedObject;
use crate::seal::MasterKey;
use crate::store::WriteView;
use crate::store::memory::MemoryState;

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

/// What a backup holds, for `keyward backup verify`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Inventory {
    pub counts: Counts,
    /// Objects by KMIP state name.
    pub by_state: BTreeMap<String, u64>,
    /// Objects by client name (or owner identity when the registry does not name it).
    pub by_client: BTreeMap<String, u64>,
    pub with_material: u64,
    pub chunks: u32,
}

/// Reads and authenticates the whole backup without writing anything.
pub fn inventory<R: Read>(reader: &mut BackupReader<R>) -> Result<Inventory, BackupError> {
    let mut inventory = Inventory::default();
    let mut by_owner: BTreeMap<String, u64> = BTreeMap::new();
    let mut registry_bytes = None;
    while let Some(record) = reader.next_record()? {
        match record {
            Record::Object(object) => {
                let state = ManagedObject::decode_metadata(&object.metadata)
                    .map(|m| format!("{:?}", m.state))
                    .unwrap_or_else(|| "unreadable metadata".into());
                *inventory.by_state.entry(state).or_default() += 1;
                *by_owner.entry(object.owner.clone()).or_default() += 1;
                if object.material.is_some() {
                    inventory.with_material += 1;
                }
            }
            Record::Meta { key, value } if key == META_CLIENT_REGISTRY => {
                registry_bytes = Some(value)
            }
            Record::Meta { .. } | Record::Extra { .. } | Record::End(_) => {}
        }
    }
    let mut names = MemoryState::default();
    let registry = match registry_bytes {
        Some(bytes) => {
            WriteView::put_meta(&mut names, META_CLIENT_REGISTRY, &bytes)?;
            Registry::load(&names).ok()
        }
        None => None,
    };
    for (owner, count) in by_owner {
        let name = registry
            .as_ref()
            .and_then(|r| r.clients().iter().find(|c| c.owner == owner))
            .map(|c| c.name.clone())
            .unwrap_or(owner);
        *inventory.by_client.entry(name).or_default() += count;
    }
    inventory.counts = reader.counts();
    inventory.chunks = reader.chunks();
    Ok(inventory)
}
