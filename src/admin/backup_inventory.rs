//! What a backup holds, for `keyward backup verify` and the admin API's backup check: the
//! whole backup read and authenticated without writing anything, its objects counted by
//! state and by client. Here in `admin`, not in `backup`, because naming the clients takes
//! the client registry, which is an admin concern above the backup format.

use std::collections::BTreeMap;
use std::io::Read;

use super::registry::{META_CLIENT_REGISTRY, Registry};
use crate::backup::BackupError;
use crate::backup::reader::BackupReader;
use crate::backup::record::{Counts, Record};
use crate::engine::object::ManagedObject;
use crate::store::WriteView;
use crate::store::memory::MemoryState;

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
