//! `keyward import verify`: proof before the cut-over that Keyward serves what the old server
//! serves. Each UID is fetched from both servers over KMIP (from Keyward with vCenter's own
//! certificate, so it is exactly what vCenter will get; or, without one, through the admin
//! path, where Keyward unseals each key to hash it), and the SHA-256 of the material, the
//! object type, state, algorithm, length and vCenter's custom attributes are compared.

use std::collections::BTreeSet;

use serde::Serialize;

use keyward::admin::import::{MAX_FACTS, StoredFacts};
use keyward::engine::import::material_digest;
use keyward::kmip::attribute::{AttrKey, Attribute};
use keyward::kmip::tag;
use keyward::ttlv::{Item, Value};

use super::convert;
use super::error::ImportError;
use super::report::Progress;
use super::source::{self, Answer, SourceServer};
use super::target::Keyward;

/// The custom attributes vCenter sets on every key (and reads back).
pub const VCENTER_ATTRIBUTES: [&str; 6] = [
    "x-Vendor",
    "x-Product",
    "x-Product_Version",
    "x-Component",
    "x-Identifier",
    "x-Name",
];

/// How one UID compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Comparison {
    Identical,
    Differs,
    /// Not on Keyward (not imported yet, or refused).
    Missing,
    /// Destroyed (or absent) on the old server: nothing to compare.
    GoneFromSource,
}

#[derive(Debug, Clone, Serialize)]
pub struct Checked {
    pub uid: String,
    pub result: Comparison,
    /// What differs, or why it could not be compared. Never material or digests.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub details: Vec<String>,
}

/// What a comparison looks at, from one server's answers.
struct Facts {
    digest: [u8; 32],
    object_type: Option<u32>,
    attributes: Vec<Attribute>,
}

fn text(value: &Value) -> String {
    match value {
        Value::TextString(s) => s.clone(),
        Value::Integer(v) => v.to_string(),
        Value::Enumeration(v) => v.to_string(),
        other => format!("{other:?}"),
    }
}

/// Why one side's facts about an object could not be read: a result in the report (the object
/// differs), not a reason to stop the run.
#[derive(Debug, thiserror::Error)]
enum Unreadable {
    #[error(transparent)]
    Material(#[from] convert::ConvertError),
    #[error("destroyed in Keyward")]
    Destroyed,
    #[error("unreadable digest")]
    Digest,
    /// Keyward's stored attribute list would not decode (its reason, in words).
    #[error("{0}")]
    Attributes(keyward::admin::import::WireError),
}

/// From a server's Get Attributes and Get answers over KMIP (the Get answer is wiped).
fn kmip_facts(uid: &str, attributes: &Item, mut get: Item) -> Result<Facts, Unreadable> {
    let material = convert::material_of(uid, &get);
    source::scrub(&mut get);
    let material = material?;
    let (attributes, _) = convert::attributes_of(attributes);
    let object_type = match get.child(tag::OBJECT_TYPE).map(|i| &i.value) {
        Some(Value::Enumeration(v)) => Some(*v),
        _ => None,
    };
    Ok(Facts {
        digest: material_digest(&material),
        object_type,
        attributes,
    })
}

/// From what Keyward's store holds (admin path).
fn stored_facts(stored: &StoredFacts) -> Result<Facts, Unreadable> {
    let digest = stored.digest.as_deref().ok_or(Unreadable::Destroyed)?;
    let digest: [u8; 32] = hex::decode(digest)
        .ok()
        .and_then(|d| d.try_into().ok())
        .ok_or(Unreadable::Digest)?;
    let mut attributes = stored.attribute_list().map_err(Unreadable::Attributes)?;
    attributes.push(Attribute {
        key: AttrKey::Standard(tag::STATE),
        value: Value::Enumeration(stored.state),
    });
    Ok(Facts {
        digest,
        object_type: Some(stored.object_type),
        attributes,
    })
}

/// The compared fields: (name, values).
fn fields(facts: &Facts) -> Vec<(String, BTreeSet<String>)> {
    let values = |key: &AttrKey| -> BTreeSet<String> {
        facts
            .attributes
            .iter()
            .filter(|a| &a.key == key)
            .map(|a| text(&a.value))
            .collect()
    };
    let mut out = vec![
        (
            "Object Type".to_string(),
            facts
                .object_type
                .map(|t| t.to_string())
                .into_iter()
                .collect(),
        ),
        ("State".to_string(), values(&AttrKey::Standard(tag::STATE))),
    ];
    for t in [tag::CRYPTOGRAPHIC_ALGORITHM, tag::CRYPTOGRAPHIC_LENGTH] {
        let key = AttrKey::Standard(t);
        out.push((key.v1_name(), values(&key)));
    }
    for name in VCENTER_ATTRIBUTES {
        out.push((name.to_string(), values(&AttrKey::Custom(name.to_string()))));
    }
    out
}

fn checked(uid: &str, result: Comparison, details: Vec<String>) -> Checked {
    Checked {
        uid: uid.to_string(),
        result,
        details,
    }
}

/// The old server's facts, or the verdict when it no longer serves the key.
fn old_facts(uid: &str, old: (Answer, Answer)) -> Result<Facts, Checked> {
    let (Ok(attributes), Ok(get)) = old else {
        return Err(checked(
            uid,
            Comparison::GoneFromSource,
            vec!["the old server no longer serves it".into()],
        ));
    };
    kmip_facts(uid, &attributes, get)
        .map_err(|why| checked(uid, Comparison::Differs, vec![format!("old server: {why}")]))
}

fn compare(uid: &str, old: Facts, new: Result<Facts, Unreadable>) -> Checked {
    let new = match new {
        Ok(new) => new,
        Err(why) => return checked(uid, Comparison::Differs, vec![format!("Keyward: {why}")]),
    };
    let mut details = Vec::new();
    if old.digest != new.digest {
        details.push("key material differs (SHA-256 digests do not match)".to_string());
    }
    for ((name, old_values), (_, new_values)) in fields(&old).iter().zip(&fields(&new)) {
        // Only what the old server reports is compared: a server that leaves out, say, the
        // algorithm in Get Attributes is not contradicted by Keyward stating it.
        if !old_values.is_empty() && old_values != new_values {
            details.push(format!(
                "{name}: old server {old_values:?}, Keyward {new_values:?}"
            ));
        }
    }
    if details.is_empty() {
        checked(uid, Comparison::Identical, details)
    } else {
        checked(uid, Comparison::Differs, details)
    }
}

/// How Keyward's side is read: over KMIP as vCenter, or through the admin path.
pub enum KeywardSide<'a> {
    Kmip(&'a mut SourceServer),
    Admin(&'a Keyward),
}

/// Compares every UID; network failures stop the run, differences are results.
pub fn verify_all(
    old: &mut SourceServer,
    keyward: KeywardSide,
    uids: &[String],
    progress: &mut Progress,
) -> Result<Vec<Checked>, ImportError> {
    let mut out = Vec::with_capacity(uids.len());
    match keyward {
        KeywardSide::Kmip(keyward) => {
            for uid in uids {
                let from_old = old_facts(uid, old.fetch(uid)?);
                let (attributes, get) = keyward.fetch(uid)?;
                out.push(match (from_old, attributes, get) {
                    (Err(verdict), _, _) => verdict,
                    (Ok(_), Err(refusal), _) | (Ok(_), _, Err(refusal)) => checked(
                        uid,
                        Comparison::Missing,
                        vec![format!("Keyward: {refusal}")],
                    ),
                    (Ok(old), Ok(attributes), Ok(get)) => {
                        compare(uid, old, kmip_facts(uid, &attributes, get))
                    }
                });
                progress.advance(1);
            }
        }
        KeywardSide::Admin(keyward) => {
            for chunk in uids.chunks(MAX_FACTS) {
                let stored = keyward.facts(chunk)?;
                for (uid, stored) in chunk.iter().zip(stored) {
                    let from_old = old_facts(uid, old.fetch(uid)?);
                    out.push(match (from_old, stored) {
                        (Err(verdict), _) => verdict,
                        (Ok(_), None) => checked(
                            uid,
                            Comparison::Missing,
                            vec!["Keyward holds no such object".into()],
                        ),
                        (Ok(old), Some(stored)) => compare(uid, old, stored_facts(&stored)),
                    });
                    progress.advance(1);
                }
            }
        }
    }
    Ok(out)
}

/// Whether Keyward serves every UID the old server still serves, identically.
pub fn all_identical(checked: &[Checked]) -> bool {
    checked
        .iter()
        .all(|c| matches!(c.result, Comparison::Identical | Comparison::GoneFromSource))
}
