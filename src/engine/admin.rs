//! Entry points for the administrator (not for KMIP clients): list a client's objects with the
//! attributes that tell an admin what each key protects, and destroy them when the client is
//! removed. Addition to the engine contract; KMIP semantics stay in `ops`.

use super::EngineError;
use super::object::ManagedObject;
use crate::kmip::attribute::AttrKey;
use crate::kmip::enums::State;
use crate::kmip::{names, tag};
use crate::store::{ReadView, WriteView};
use crate::ttlv::Value;

/// One managed object as `client show` lists it. Never carries key material.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ObjectSummary {
    pub uid: String,
    pub object_type: String,
    pub state: String,
    /// vCenter's custom attributes: which component, VM or host the key protects.
    pub x_component: Option<String>,
    pub x_name: Option<String>,
    pub x_identifier: Option<String>,
}

fn custom_text(managed: &ManagedObject, name: &str) -> Option<String> {
    let key = AttrKey::Custom(name.to_string());
    managed.instances(&key).find_map(|a| match &a.value {
        Value::TextString(text) => Some(text.clone()),
        _ => None,
    })
}

/// Every object `owner` owns, in UID order.
pub fn owned_objects(view: &dyn ReadView, owner: &str) -> Result<Vec<ObjectSummary>, EngineError> {
    let mut out = Vec::new();
    for uid in view.find(owner, None)? {
        let Some(stored) = view.get(&uid)? else {
            continue;
        };
        let managed = ManagedObject::decode_metadata(&stored.metadata)
            .ok_or_else(|| EngineError::CorruptMetadata(uid.clone()))?;
        out.push(ObjectSummary {
            object_type: names::enum_name(tag::OBJECT_TYPE, managed.object_type.value())
                .unwrap_or("unknown")
                .to_string(),
            state: names::enum_name(tag::STATE, managed.state.value())
                .unwrap_or("unknown")
                .to_string(),
            x_component: custom_text(&managed, "x-Component"),
            x_name: custom_text(&managed, "x-Name"),
            x_identifier: custom_text(&managed, "x-Identifier"),
            uid,
        });
    }
    Ok(out)
}

/// Destroys every object of `owner` that is not destroyed yet, whatever its state: an Active
/// key is deactivated first (as a Revoke would), a Compromised one ends Destroyed Compromised.
/// The sealed material is dropped, so no master key is needed. Returns how many were destroyed.
pub fn destroy_owned(txn: &mut dyn WriteView, owner: &str, now: i64) -> Result<usize, EngineError> {
    let mut destroyed = 0;
    for uid in txn.find(owner, None)? {
        let Some(mut stored) = txn.get(&uid)? else {
            continue;
        };
        let mut managed = ManagedObject::decode_metadata(&stored.metadata)
            .ok_or_else(|| EngineError::CorruptMetadata(uid.clone()))?;
        if managed.state.is_destroyed() {
            continue;
        }
        if managed.state == State::Active {
            managed.set(tag::DEACTIVATION_DATE, Value::DateTime(now));
        }
        managed.state = match managed.state {
            State::Compromised => State::DestroyedCompromised,
            _ => State::Destroyed,
        };
        managed.set(tag::DESTROY_DATE, Value::DateTime(now));
        managed.set(tag::LAST_CHANGE_DATE, Value::DateTime(now));
        stored.sealed_material = None;
        stored.metadata = managed.encode_metadata();
        stored.index_terms = managed.index_terms();
        stored.version += 1;
        txn.put(&stored)?;
        destroyed += 1;
    }
    Ok(destroyed)
}
