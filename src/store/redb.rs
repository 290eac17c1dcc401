//! The embedded redb backend. (Stub: the store owner implements it; signatures are fixed.)

use std::path::Path;

use super::{ReadView, Store, StoreError, WriteTxn};

/// Keyward's store in one redb file.
pub struct RedbStore {
    _db: redb::Database,
}

impl RedbStore {
    /// Opens or creates the database at `path` (file mode 0600), checks or writes the schema
    /// version, and runs redb's integrity check when the previous run did not shut down cleanly.
    pub fn open(path: &Path) -> Result<RedbStore, StoreError> {
        let _ = path;
        todo!("RedbStore::open")
    }
}

impl Store for RedbStore {
    fn read(&self) -> Result<Box<dyn ReadView + '_>, StoreError> {
        todo!("RedbStore::read")
    }

    fn write(&self) -> Result<Box<dyn WriteTxn + '_>, StoreError> {
        todo!("RedbStore::write")
    }
}
