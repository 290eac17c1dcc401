//! Importing one object that another KMIP server made, under the Unique Identifier that server
//! gave it (issue 19: moving off IBM KMIP for VMware without a re-key).
//!
//! vCenter remembers keys by Unique Identifier only, so a key moved to Keyward must keep its
//! UID: any string the old server used ("1", "2" from PyKMIP, UUIDs from others), not one drawn
//! here. This is the one operation behind `keyward import` in every mode (admin socket of a
//! running server, data directory of a stopped one, a cluster's shared store): the caller
//! fetches the object, this function decides and writes, in the caller's transaction.
//!
//! Rules: an object already stored under the UID with the same material and owner is left as
//! it is (re-runs and interrupted runs are safe); any other object under that UID is never
//! overwritten; destroyed objects carry no material and are not imported. Material is sealed
//! exactly as on a Create (generation 1, AAD bound to the UID); nothing is written in the clear.

use sha2::{Digest as _, Sha256};
use zeroize::Zeroizing;

use super::object::{self, ManagedObject};
use crate::kmip::attribute::{self, AttrKey, Attribute};
use crate::kmip::enums::{HashingAlgorithm, ObjectType, State};
use crate::kmip::tag;
use crate::seal::{MasterKey, SealError};
use crate::store::{StoreError, StoredObject, WriteView};
use crate::ttlv::{Item, Value};

/// Longest Unique Identifier accepted from another server (KMIP sets no bound; this keeps one
/// bad record from bloating every index key).
pub const MAX_UID_BYTES: usize = 1024;

/// Lease Time Keyward gives every object, in seconds (as for a Create).
const LEASE_TIME_SECS: u32 = 3600;

/// One object as the source server described it: type, state, attributes and material.
pub struct ImportObject {
    pub uid: String,
    pub object_type: ObjectType,
    pub state: State,
    /// Key Format Type the material is kept and served in.
    pub key_format: u32,
    /// Secret Data Type, Opaque Data Type or Certificate Type.
    pub data_type: Option<u32>,
    /// The source's attributes, standard and custom (`x-…`), dates and names included.
    pub attributes: Vec<Attribute>,
    pub material: Zeroizing<Vec<u8>>,
}

impl std::fmt::Debug for ImportObject {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ImportObject")
            .field("uid", &self.uid)
            .field("object_type", &self.object_type)
            .field("state", &self.state)
            .field("attributes", &self.attributes.len())
            .finish_non_exhaustive()
    }
}

/// What the import did with one object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImportOutcome {
    /// Stored under its UID. `dropped` names source attributes Keyward does not keep.
    Imported { dropped: Vec<String> },
    /// Already here with the same material and owner: nothing written.
    AlreadyPresent,
}

/// Why one object was not imported. Never carries key material.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The UID is taken by a different object (or the same key for another owner): refused,
    /// never overwritten.
    #[error("Unique Identifier {uid:?} already exists in Keyward {why}; not overwritten")]
    Conflict { uid: String, why: String },
    #[error("object {0} is destroyed on the source: it has no material to import")]
    Destroyed(String),
    #[error("object {uid}: {why}")]
    Invalid { uid: String, why: String },
    #[error("store: {0}")]
    Store(#[from] StoreError),
    #[error("sealing: {0}")]
    Seal(#[from] SealError),
    #[error("stored metadata of {0} is unreadable")]
    CorruptMetadata(String),
}

impl ImportError {
    /// Whether the object itself is at fault (report it, go on) rather than the store.
    pub fn is_refusal(&self) -> bool {
        matches!(
            self,
            ImportError::Conflict { .. } | ImportError::Destroyed(_) | ImportError::Invalid { .. }
        )
    }
}

/// SHA-256 of `material`, as the Digest attribute and `import verify` compare it.
pub fn material_digest(material: &[u8]) -> [u8; 32] {
    Sha256::digest(material).into()
}

/// Attributes Keyward derives itself or keeps elsewhere, so the source's copy is not stored:
/// UID, type and state live in the record; Digest is recomputed; Lease Time is Keyward's;
/// Operation Policy Name names a policy of the old server (and is gone from KMIP 2.x).
fn derived_here(key: &AttrKey) -> bool {
    matches!(
        key,
        AttrKey::Standard(
            tag::UNIQUE_IDENTIFIER
                | tag::OBJECT_TYPE
                | tag::STATE
                | tag::DIGEST
                | tag::LEASE_TIME
                | tag::OPERATION_POLICY_NAME
                | tag::SHORT_UNIQUE_IDENTIFIER
        )
    )
}

/// Whether an attribute survives Keyward's metadata encoding unchanged.
fn storable(attribute: &Attribute) -> bool {
    attribute::parse_v2(&attribute::encode_v2(attribute)).as_ref() == Ok(attribute)
}

fn check_shape(object: &ImportObject) -> Result<(), ImportError> {
    let invalid = |why: &str| ImportError::Invalid {
        uid: object.uid.clone(),
        why: why.to_string(),
    };
    if object.uid.is_empty() || object.uid.len() > MAX_UID_BYTES {
        return Err(invalid(
            "the Unique Identifier is empty or longer than 1024 bytes",
        ));
    }
    if object.uid.chars().any(char::is_control) {
        return Err(invalid("the Unique Identifier holds control characters"));
    }
    if object.state.is_destroyed() {
        return Err(ImportError::Destroyed(object.uid.clone()));
    }
    if !matches!(
        object.object_type,
        ObjectType::SymmetricKey
            | ObjectType::SecretData
            | ObjectType::PublicKey
            | ObjectType::PrivateKey
            | ObjectType::Certificate
            | ObjectType::OpaqueObject
    ) {
        return Err(invalid("object type not supported by Keyward"));
    }
    if object.material.is_empty() {
        return Err(invalid("no key material"));
    }
    Ok(())
}

/// What is stored under `uid` already, compared with the incoming object.
fn compare_existing(
    existing: &StoredObject,
    master: &MasterKey,
    owner: &str,
    digest: &[u8; 32],
) -> Result<ImportOutcome, ImportError> {
    let uid = &existing.uid;
    let managed = ManagedObject::decode_metadata(&existing.metadata)
        .ok_or_else(|| ImportError::CorruptMetadata(uid.clone()))?;
    let conflict = |why: String| ImportError::Conflict {
        uid: uid.clone(),
        why,
    };
    let Some(sealed) = &existing.sealed_material else {
        return Err(conflict("as a destroyed object".into()));
    };
    let material = master.unseal(
        &ManagedObject::sealing_aad(uid, managed.material_generation),
        sealed,
    )?;
    if material_digest(&material) != *digest {
        return Err(conflict("with different key material".into()));
    }
    if existing.owner != owner {
        return Err(conflict(format!(
            "with the same material but owned by {}",
            existing.owner
        )));
    }
    Ok(ImportOutcome::AlreadyPresent)
}

/// The Digest attribute Keyward keeps for symmetric keys and secret data.
fn digest_attribute(digest: &[u8; 32], key_format: u32) -> Attribute {
    Attribute {
        key: AttrKey::Standard(tag::DIGEST),
        value: Value::Structure(vec![
            Item::new(
                tag::HASHING_ALGORITHM,
                Value::Enumeration(HashingAlgorithm::Sha256.value()),
            ),
            Item::new(tag::DIGEST_VALUE, Value::ByteString(digest.to_vec())),
            Item::new(tag::KEY_FORMAT_TYPE, Value::Enumeration(key_format)),
        ]),
    }
}

/// The metadata of the imported object: the source's attributes (those Keyward can keep), the
/// dates it lacks set to `now`, and what Keyward adds to every object.
fn imported_metadata(
    object: &ImportObject,
    digest: &[u8; 32],
    now: i64,
) -> (ManagedObject, Vec<String>) {
    let mut managed = ManagedObject {
        object_type: object.object_type,
        state: object.state,
        material_generation: 1,
        key_format: object.key_format,
        data_type: object.data_type,
        attributes: Vec::new(),
        // Split Key fields and Key Wrapping Data are not carried by an import yet: the
        // import moves what vCenter-era servers hold (keys, secret data, certificates).
        object_fields: Vec::new(),
        instance_indexes: Vec::new(),
    };
    let mut dropped = Vec::new();
    for a in &object.attributes {
        if derived_here(&a.key) {
            continue;
        }
        if !storable(a) {
            let name = a.key.v1_name();
            if !dropped.contains(&name) {
                dropped.push(name);
            }
            continue;
        }
        managed.attributes.push(a.clone());
    }
    for t in [
        tag::INITIAL_DATE,
        tag::LAST_CHANGE_DATE,
        tag::ORIGINAL_CREATION_DATE,
    ] {
        if managed.first(t).is_none() {
            let initial = managed.first(tag::INITIAL_DATE).cloned();
            managed.set(t, initial.unwrap_or(Value::DateTime(now)));
        }
    }
    managed.set(tag::LEASE_TIME, Value::Interval(LEASE_TIME_SECS));
    if matches!(
        object.object_type,
        ObjectType::SymmetricKey | ObjectType::SecretData
    ) {
        managed
            .attributes
            .push(digest_attribute(digest, object.key_format));
    }
    (managed, dropped)
}

/// Imports `object` for `owner` inside `txn`: stores it under its own UID, or says why not.
/// Writes nothing unless it returns [`ImportOutcome::Imported`].
pub fn import_object(
    txn: &mut dyn WriteView,
    master: &MasterKey,
    owner: &str,
    object: &ImportObject,
    now: i64,
) -> Result<ImportOutcome, ImportError> {
    check_shape(object)?;
    let digest = material_digest(&object.material);
    if let Some(existing) = txn.get(&object.uid)? {
        return compare_existing(&existing, master, owner, &digest);
    }
    let (mut managed, mut dropped) = imported_metadata(object, &digest, now);
    // Names are unique per owner in Keyward; vCenter never looks keys up by name, so a name
    // another key already holds is left out (and reported) rather than the key refused.
    let mut taken = Vec::new();
    for a in managed.instances(&AttrKey::Standard(tag::NAME)) {
        let Some(name) = object::name_value(&a.value) else {
            continue;
        };
        let holders = txn.find(owner, Some(&object::name_term(name)))?;
        if holders.iter().any(|holder| holder != &object.uid) {
            taken.push(a.value.clone());
        }
    }
    if !taken.is_empty() {
        managed
            .attributes
            .retain(|a| a.key != AttrKey::Standard(tag::NAME) || !taken.contains(&a.value));
        for value in &taken {
            dropped.push(format!(
                "Name {:?} (held by another key)",
                object::name_value(value).unwrap_or_default()
            ));
        }
    }
    let sealed = master.seal(
        &ManagedObject::sealing_aad(&object.uid, managed.material_generation),
        &object.material,
    )?;
    let stored = StoredObject {
        uid: object.uid.clone(),
        owner: owner.to_string(),
        version: 1,
        metadata: managed.encode_metadata(),
        sealed_material: Some(sealed),
        index_terms: managed.index_terms(),
    };
    txn.put(&stored)?;
    Ok(ImportOutcome::Imported { dropped })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;
    use crate::store::memory::MemoryStore;

    fn master() -> MasterKey {
        MasterKey::from_bytes(Zeroizing::new([7u8; 32]))
    }

    fn key(uid: &str, material: &[u8]) -> ImportObject {
        ImportObject {
            uid: uid.into(),
            object_type: ObjectType::SymmetricKey,
            state: State::Active,
            key_format: 1,
            data_type: None,
            attributes: vec![
                Attribute {
                    key: AttrKey::Standard(tag::CRYPTOGRAPHIC_LENGTH),
                    value: Value::Integer(256),
                },
                Attribute {
                    key: AttrKey::Standard(tag::INITIAL_DATE),
                    value: Value::DateTime(1_700_000_000),
                },
                Attribute {
                    key: AttrKey::Custom("x-Name".into()),
                    value: Value::TextString("vm-01".into()),
                },
                Attribute {
                    key: AttrKey::Standard(tag::OPERATION_POLICY_NAME),
                    value: Value::TextString("default".into()),
                },
            ],
            material: Zeroizing::new(material.to_vec()),
        }
    }

    fn run(
        store: &MemoryStore,
        object: &ImportObject,
        owner: &str,
    ) -> Result<ImportOutcome, ImportError> {
        let mut txn = store.write().unwrap();
        let outcome = import_object(&mut *txn, &master(), owner, object, 1_800_000_000)?;
        txn.commit().unwrap();
        Ok(outcome)
    }

    #[test]
    fn keeps_the_uid_state_dates_and_custom_attributes_and_seals_the_material() {
        let store = MemoryStore::new();
        let outcome = run(&store, &key("1", &[0xAB; 32]), "cn:vcenter").unwrap();
        assert_eq!(outcome, ImportOutcome::Imported { dropped: vec![] });
        let stored = store.read().unwrap().get("1").unwrap().unwrap();
        assert_eq!(stored.owner, "cn:vcenter");
        let sealed = stored.sealed_material.clone().unwrap();
        assert!(
            !sealed.windows(32).any(|w| w == [0xAB; 32]),
            "sealed, not clear"
        );
        let managed = ManagedObject::decode_metadata(&stored.metadata).unwrap();
        assert_eq!(managed.state, State::Active);
        assert_eq!(
            managed.first(tag::INITIAL_DATE),
            Some(&Value::DateTime(1_700_000_000))
        );
        assert_eq!(
            managed.first(tag::ORIGINAL_CREATION_DATE),
            Some(&Value::DateTime(1_700_000_000))
        );
        assert!(managed.first(tag::OPERATION_POLICY_NAME).is_none());
        assert!(managed.first(tag::DIGEST).is_some());
        let x_name = AttrKey::Custom("x-Name".into());
        assert_eq!(managed.instances(&x_name).count(), 1);
        let material = master()
            .unseal(&ManagedObject::sealing_aad("1", 1), &sealed)
            .unwrap();
        assert_eq!(&material[..], &[0xAB; 32]);
    }

    #[test]
    fn same_material_is_skipped_and_a_different_one_refused() {
        let store = MemoryStore::new();
        run(&store, &key("7", &[1; 32]), "cn:a").unwrap();
        assert_eq!(
            run(&store, &key("7", &[1; 32]), "cn:a").unwrap(),
            ImportOutcome::AlreadyPresent
        );
        let refused = run(&store, &key("7", &[2; 32]), "cn:a").unwrap_err();
        assert!(matches!(refused, ImportError::Conflict { .. }), "{refused}");
        let other_owner = run(&store, &key("7", &[1; 32]), "cn:b").unwrap_err();
        assert!(matches!(other_owner, ImportError::Conflict { .. }));
        let material = {
            let view = store.read().unwrap();
            let stored = view.get("7").unwrap().unwrap();
            master()
                .unseal(
                    &ManagedObject::sealing_aad("7", 1),
                    &stored.sealed_material.unwrap(),
                )
                .unwrap()
        };
        assert_eq!(&material[..], &[1; 32], "never overwritten");
    }

    #[test]
    fn a_name_held_by_another_key_is_left_out_not_the_key() {
        let store = MemoryStore::new();
        let named = |uid: &str, material: u8| {
            let mut object = key(uid, &[material; 32]);
            object.attributes.push(Attribute {
                key: AttrKey::Standard(tag::NAME),
                value: Value::Structure(vec![
                    Item::new(tag::NAME_VALUE, Value::TextString("Symmetric Key".into())),
                    Item::new(tag::NAME_TYPE, Value::Enumeration(1)),
                ]),
            });
            object
        };
        run(&store, &named("1", 1), "o").unwrap();
        let second = run(&store, &named("2", 2), "o").unwrap();
        assert_eq!(
            second,
            ImportOutcome::Imported {
                dropped: vec!["Name \"Symmetric Key\" (held by another key)".into()]
            }
        );
        let view = store.read().unwrap();
        let stored = view.get("2").unwrap().unwrap();
        let managed = ManagedObject::decode_metadata(&stored.metadata).unwrap();
        assert!(managed.first(tag::NAME).is_none());
    }

    #[test]
    fn destroyed_and_malformed_objects_are_refused_without_writing() {
        let store = MemoryStore::new();
        let mut destroyed = key("d", &[1; 16]);
        destroyed.state = State::Destroyed;
        assert!(matches!(
            run(&store, &destroyed, "o").unwrap_err(),
            ImportError::Destroyed(_)
        ));
        assert!(
            run(&store, &key("", &[1; 16]), "o")
                .unwrap_err()
                .is_refusal()
        );
        assert!(
            run(&store, &key("bad\nuid", &[1; 16]), "o")
                .unwrap_err()
                .is_refusal()
        );
        assert!(run(&store, &key("e", &[]), "o").unwrap_err().is_refusal());
        assert!(store.read().unwrap().find("o", None).unwrap().is_empty());
    }
}
