//! Entry points for the administrator (not for KMIP clients): list a client's objects with the
//! attributes that tell an admin what each key protects, and destroy them when the client is
//! removed. Addition to the engine contract; KMIP semantics stay in `ops`.

use super::ClientIdentity;
use super::EngineError;
use super::object::ManagedObject;
use super::ops::{Ctx, dispatch};
use super::overlay::Overlay;
use crate::kmip::attribute::AttrKey;
use crate::kmip::enums::{Operation, RevocationReasonCode, State};
use crate::kmip::message::ProtocolVersion;
use crate::kmip::{names, tag};
use crate::store::{ReadView, WriteView};
use crate::ttlv::{Item, Value};

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

/// One managed object with every attribute an admin may read: names and values as text, in
/// the order they were set. Never carries key material.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ObjectDetail {
    pub uid: String,
    pub owner: String,
    pub object_type: String,
    pub state: String,
    /// (1.x Attribute Name, value as text), e.g. ("x-Name", "vm-01").
    pub attributes: Vec<(String, String)>,
}

/// The object `uid` whoever owns it, or `None` when there is no such object.
pub fn object_detail(view: &dyn ReadView, uid: &str) -> Result<Option<ObjectDetail>, EngineError> {
    let Some(stored) = view.get(uid)? else {
        return Ok(None);
    };
    let managed = ManagedObject::decode_metadata(&stored.metadata)
        .ok_or_else(|| EngineError::CorruptMetadata(uid.to_string()))?;
    Ok(Some(ObjectDetail {
        uid: stored.uid,
        owner: stored.owner,
        object_type: names::enum_name(tag::OBJECT_TYPE, managed.object_type.value())
            .unwrap_or("unknown")
            .to_string(),
        state: names::enum_name(tag::STATE, managed.state.value())
            .unwrap_or("unknown")
            .to_string(),
        attributes: managed
            .attributes
            .iter()
            .map(|a| (a.key.v1_name(), value_text(&a.key, &a.value)))
            .collect(),
    }))
}

/// An attribute value as an admin reads it: enumerations and masks by name, dates as POSIX
/// seconds, structures as `Field=value` pairs, byte strings (digests, never material) as hex.
fn value_text(key: &AttrKey, value: &Value) -> String {
    let field = match key {
        AttrKey::Standard(t) => *t,
        AttrKey::Custom(_) => 0,
    };
    item_text(field, value)
}

fn item_text(field: u32, value: &Value) -> String {
    match value {
        Value::TextString(text) => text.clone(),
        Value::Integer(v) if names::is_mask(field) => names::mask_names(field, *v)
            .map(|flags| flags.join("|"))
            .unwrap_or_else(|| v.to_string()),
        Value::Integer(v) => v.to_string(),
        Value::LongInteger(v) | Value::DateTime(v) | Value::DateTimeExtended(v) => v.to_string(),
        Value::Interval(v) => v.to_string(),
        Value::Enumeration(v) => names::enum_name(field, *v)
            .map(str::to_string)
            .unwrap_or_else(|| v.to_string()),
        Value::Boolean(b) => b.to_string(),
        Value::ByteString(bytes) | Value::BigInteger(bytes) => hex::encode(bytes),
        Value::Structure(children) => children
            .iter()
            .map(|c| {
                let name = tag::name(c.tag)
                    .map(str::to_string)
                    .unwrap_or_else(|| format!("{:06X}", c.tag));
                format!("{name}={}", item_text(c.tag, &c.value))
            })
            .collect::<Vec<_>>()
            .join(", "),
    }
}

/// Runs one lifecycle operation on `uid` as its owner would send it, so exactly KMIP's
/// state rules apply; the writes land in `txn`.
fn as_owner(
    txn: &mut dyn WriteView,
    uid: &str,
    operation: Operation,
    mut payload: Vec<Item>,
    now: i64,
) -> Result<(), EngineError> {
    let owner = match txn.get(uid)? {
        Some(stored) => stored.owner,
        None => return Err(EngineError::NotFound(uid.to_string())),
    };
    let client = ClientIdentity {
        owner,
        fingerprint: [0; 32],
    };
    payload.insert(
        0,
        Item::new(tag::UNIQUE_IDENTIFIER, Value::TextString(uid.to_string())),
    );
    let payload = Item::structure(tag::REQUEST_PAYLOAD, payload);
    let staged = {
        let mut ctx = Ctx {
            client: &client,
            version: ProtocolVersion { major: 2, minor: 1 },
            overlay: Overlay::new(&*txn),
            // Revoke and Destroy never unseal: the appliance may be sealed meanwhile.
            master: Err("not needed by administrative lifecycle changes".into()),
            vendor_identification: "",
            unique_names: false,
            placeholder: None,
            now,
            pregenerated: Vec::new(),
            fresh_clears: super::FreshClears::Committed,
            fresh_cleared: Vec::new(),
        };
        dispatch(&mut ctx, operation.value(), &payload)?;
        ctx.overlay.into_staged()
    };
    for object in staged {
        txn.put(&object)?;
    }
    Ok(())
}

/// KMIP Revoke of `uid` with `reason`, whoever owns it.
pub fn revoke(
    txn: &mut dyn WriteView,
    uid: &str,
    reason: RevocationReasonCode,
    now: i64,
) -> Result<(), EngineError> {
    let payload = vec![Item::structure(
        tag::REVOCATION_REASON,
        vec![Item::new(
            tag::REVOCATION_REASON_CODE,
            Value::Enumeration(reason.value()),
        )],
    )];
    as_owner(txn, uid, Operation::Revoke, payload, now)
}

/// KMIP Destroy of `uid`, whoever owns it: refused for an Active key, as for its owner.
pub fn destroy(txn: &mut dyn WriteView, uid: &str, now: i64) -> Result<(), EngineError> {
    as_owner(txn, uid, Operation::Destroy, Vec::new(), now)
}
