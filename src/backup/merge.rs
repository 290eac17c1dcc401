//! A backup read as an import source: joining another appliance's keys into this one (issue 19,
//! `keyward import backup`). Unlike a restore, which builds a new appliance from the file, a
//! merge hands each object to `engine::import`, so the same rules hold as for an import from a
//! KMIP server: same UID, same material → skipped; same UID, other material → refused, never
//! overwritten; destroyed objects listed, not imported.

use std::io::Read;

use super::BackupError;
use super::reader::BackupReader;
use super::record::Record;
use crate::engine::import::ImportObject;
use crate::engine::object::ManagedObject;

/// One object of the backup, ready to import or already decided.
#[derive(Debug)]
pub enum MergeItem {
    /// `owner` is the object's owner on the appliance the backup came from.
    Object { object: ImportObject, owner: String },
    /// Destroyed on the source appliance: no material.
    Destroyed { uid: String, owner: String },
}

/// Walks the objects of a backup, skipping its meta and audit records (the registry and
/// settings of the other appliance are not merged).
pub struct MergeSource<R: Read> {
    reader: BackupReader<R>,
}

impl<R: Read> MergeSource<R> {
    pub fn new(reader: BackupReader<R>) -> MergeSource<R> {
        MergeSource { reader }
    }

    /// The id of the appliance the backup was taken from.
    pub fn appliance_id(&self) -> &str {
        &self.reader.header.appliance_id
    }

    /// The next object, `None` at the authenticated end of the backup. An error means the
    /// file is damaged (or was tampered with) from here on.
    pub fn next_object(&mut self) -> Result<Option<MergeItem>, BackupError> {
        while let Some(record) = self.reader.next_record()? {
            let Record::Object(record) = record else {
                continue;
            };
            let managed = ManagedObject::decode_metadata(&record.metadata).ok_or_else(|| {
                BackupError::Malformed(format!("object {}: metadata is unreadable", record.uid))
            })?;
            let Some(material) = record.material else {
                return Ok(Some(MergeItem::Destroyed {
                    uid: record.uid,
                    owner: record.owner,
                }));
            };
            if managed.state.is_destroyed() {
                return Ok(Some(MergeItem::Destroyed {
                    uid: record.uid,
                    owner: record.owner,
                }));
            }
            return Ok(Some(MergeItem::Object {
                object: ImportObject {
                    uid: record.uid,
                    object_type: managed.object_type,
                    state: managed.state,
                    key_format: managed.key_format,
                    data_type: managed.data_type,
                    attributes: managed.attributes,
                    material,
                },
                owner: record.owner,
            }));
        }
        Ok(None)
    }
}
