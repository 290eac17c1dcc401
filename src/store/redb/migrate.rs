//! Bringing a file of an older schema forward, at open, in one write transaction: a crash in the
//! middle leaves the old schema untouched, and the next open runs the migration again.
//!
//! 1 → 2: schema 1 kept each object's owner entry in a table of its own, `owner_index`. Every
//! Create and every owner change therefore copied that table's btree path on commit, besides
//! `term_index`'s. Schema 2 keeps the owner entries in `term_index`, marked by a term length no
//! term can have (`index_key.rs`); the migration moves them there and drops `owner_index`.

use ::redb::{Durability, ReadableTable, TableDefinition, TableError};

use super::{INDEX, META, META_SCHEMA_VERSION, RedbStore, SCHEMA_VERSION, index_key, redb_error};
use crate::store::StoreError;

/// Schema 1's owner entries: `owner_len:u32be ‖ owner ‖ uid`.
const LEGACY_OWNER_INDEX: TableDefinition<&[u8], ()> = TableDefinition::new("owner_index");

impl RedbStore {
    /// Schema 1 → 2: owner entries into the index table, `owner_index` dropped, version 2.
    pub(super) fn migrate_from_1(&self) -> Result<(), StoreError> {
        let context = format!(
            "migrating store {} from schema 1 to {SCHEMA_VERSION}",
            self.path.display()
        );
        let mut txn =
            self.with_db(|db| db.begin_write().map_err(|err| redb_error(&context, err)))?;
        txn.set_durability(Durability::Immediate)
            .map_err(|err| redb_error(&context, err))?;
        let mut moved = 0u64;
        {
            let mut index = txn
                .open_table(INDEX)
                .map_err(|err| redb_error(&context, err))?;
            match txn.open_table(LEGACY_OWNER_INDEX) {
                Ok(legacy) => {
                    for entry in legacy.iter().map_err(|err| redb_error(&context, err))? {
                        let (key, _) = entry.map_err(|err| redb_error(&context, err))?;
                        let (owner, uid) = index_key::legacy_owner_uid(key.value())?;
                        index
                            .insert(index_key::owner_key(&owner, &uid)?.as_slice(), ())
                            .map_err(|err| redb_error(&context, err))?;
                        moved += 1;
                    }
                }
                // Already dropped (a restored backup can bring an old version number back).
                Err(TableError::TableDoesNotExist(_)) => {}
                Err(err) => return Err(redb_error(&context, err)),
            }
        }
        match txn.delete_table(LEGACY_OWNER_INDEX) {
            Ok(_) | Err(TableError::TableDoesNotExist(_)) => {}
            Err(err) => return Err(redb_error(&context, err)),
        }
        {
            let mut meta = txn
                .open_table(META)
                .map_err(|err| redb_error(&context, err))?;
            meta.insert(META_SCHEMA_VERSION, SCHEMA_VERSION.to_be_bytes().as_slice())
                .map_err(|err| redb_error(&context, err))?;
        }
        txn.commit().map_err(|err| redb_error(&context, err))?;
        log::info!(
            "store {}: migrated from schema 1 to {SCHEMA_VERSION} ({moved} owner entries moved into the index table)",
            self.path.display()
        );
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ::redb::ReadableDatabase;

    use crate::store::{IndexTerm, Store, StoredObject};

    const LEGACY_TERM_INDEX: TableDefinition<&[u8], ()> = TableDefinition::new("term_index");
    const AUDIT: TableDefinition<u64, &[u8]> = TableDefinition::new("audit");
    const OBJECTS: TableDefinition<&str, &[u8]> = TableDefinition::new("objects");

    fn object(uid: &str, owner: &str, term: &str) -> StoredObject {
        StoredObject {
            uid: uid.into(),
            owner: owner.into(),
            version: 1,
            metadata: b"meta".to_vec(),
            sealed_material: Some(b"sealed".to_vec()),
            index_terms: vec![IndexTerm(term.as_bytes().to_vec())],
        }
    }

    /// Writes a file exactly as schema 1 laid it out (docs/storage.md of that release).
    fn write_schema_1(path: &std::path::Path, objects: &[StoredObject]) {
        let db = ::redb::Database::create(path).unwrap();
        let txn = db.begin_write().unwrap();
        {
            let mut meta = txn.open_table(META).unwrap();
            meta.insert(META_SCHEMA_VERSION, 1u32.to_be_bytes().as_slice())
                .unwrap();
            let mut table = txn.open_table(OBJECTS).unwrap();
            let mut owners = txn.open_table(LEGACY_OWNER_INDEX).unwrap();
            let mut terms = txn.open_table(LEGACY_TERM_INDEX).unwrap();
            txn.open_table(AUDIT).unwrap();
            for object in objects {
                let encoded = super::super::record::encode(object).unwrap();
                table
                    .insert(object.uid.as_str(), encoded.as_slice())
                    .unwrap();
                let mut owner_key = (object.owner.len() as u32).to_be_bytes().to_vec();
                owner_key.extend_from_slice(object.owner.as_bytes());
                owner_key.extend_from_slice(object.uid.as_bytes());
                owners.insert(owner_key.as_slice(), ()).unwrap();
                for term in &object.index_terms {
                    let key = index_key::term_key(&object.owner, term, &object.uid).unwrap();
                    terms.insert(key.as_slice(), ()).unwrap();
                }
            }
        }
        txn.commit().unwrap();
    }

    #[test]
    fn a_schema_1_file_is_migrated_and_finds_the_same_objects() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keyward.redb");
        let objects = [
            object("u1", "a", "n:x"),
            object("u2", "a", "n:y"),
            object("u3", "ab", "n:x"),
        ];
        write_schema_1(&path, &objects);

        let store = RedbStore::open(&path).unwrap();
        let view = store.read().unwrap();
        assert_eq!(view.find("a", None).unwrap(), ["u1", "u2"]);
        assert_eq!(view.find("ab", None).unwrap(), ["u3"]);
        let x = IndexTerm(b"n:x".to_vec());
        assert_eq!(view.find("a", Some(&x)).unwrap(), ["u1"]);
        assert_eq!(view.find("ab", Some(&x)).unwrap(), ["u3"]);
        assert_eq!(
            view.get_meta(META_SCHEMA_VERSION).unwrap().unwrap(),
            SCHEMA_VERSION.to_be_bytes()
        );
        drop(view);
        drop(store);

        // The old table is gone, and a second open has nothing left to migrate.
        let db = ::redb::Database::create(&path).unwrap();
        let txn = db.begin_read().unwrap();
        assert!(matches!(
            txn.open_table(LEGACY_OWNER_INDEX),
            Err(TableError::TableDoesNotExist(_))
        ));
        drop(txn);
        drop(db);
        let store = RedbStore::open(&path).unwrap();
        assert_eq!(store.read().unwrap().find("a", None).unwrap(), ["u1", "u2"]);
    }

    #[test]
    fn a_restored_version_number_does_not_overwrite_the_files_own() {
        let dir = tempfile::tempdir().unwrap();
        let store = RedbStore::open(&dir.path().join("keyward.redb")).unwrap();
        let mut txn = store.write().unwrap();
        txn.put_meta(META_SCHEMA_VERSION, &1u32.to_be_bytes())
            .unwrap();
        txn.commit().unwrap();
        assert_eq!(
            store
                .read()
                .unwrap()
                .get_meta(META_SCHEMA_VERSION)
                .unwrap()
                .unwrap(),
            SCHEMA_VERSION.to_be_bytes()
        );
    }
}
