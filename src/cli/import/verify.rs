//! `keyward import verify`: proof before the cut-over that Keyward serves what the old server
//! serves. Each UID is fetched from both servers over KMIP (from Keyward with vCenter's own
//! certificate, so it is exactly what vCenter will get), and the SHA-256 of the material, the
//! object type, state, algorithm, length and vCenter's custom attributes are compared.

use std::collections::BTreeSet;

use serde::Serialize;

use keyward::engine::import::material_digest;
use keyward::kmip::attribute::{AttrKey, Attribute};
use keyward::kmip::tag;
use keyward::ttlv::{Item, Value};

use super::convert;
use super::error::ImportError;
use super::report::Progress;
use super::source::{Answer, SourceServer};

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
#[derive(Debug, PartialEq, Eq)]
struct Facts {
    digest: [u8; 32],
    fields: Vec<(String, BTreeSet<String>)>,
}

fn text(value: &Value) -> String {
    match value {
        Value::TextString(s) => s.clone(),
        Value::Integer(v) => v.to_string(),
        Value::Enumeration(v) => v.to_string(),
        other => format!("{other:?}"),
    }
}

fn facts(uid: &str, attributes: &Item, get: &Item) -> Result<Facts, String> {
    let material = convert::material_of(uid, get).map_err(|e| e.to_string())?;
    let (listed, _) = convert::attributes_of(attributes);
    let values = |key: &AttrKey, from: &[Attribute]| -> BTreeSet<String> {
        from.iter()
            .filter(|a| &a.key == key)
            .map(|a| text(&a.value))
            .collect()
    };
    let object_type = match get.child(tag::OBJECT_TYPE).map(|i| &i.value) {
        Some(v) => BTreeSet::from([text(v)]),
        None => BTreeSet::new(),
    };
    let mut fields = vec![
        ("Object Type".to_string(), object_type),
        (
            "State".to_string(),
            values(&AttrKey::Standard(tag::STATE), &listed),
        ),
    ];
    for t in [tag::CRYPTOGRAPHIC_ALGORITHM, tag::CRYPTOGRAPHIC_LENGTH] {
        let key = AttrKey::Standard(t);
        fields.push((key.v1_name(), values(&key, &listed)));
    }
    for name in VCENTER_ATTRIBUTES {
        let key = AttrKey::Custom(name.to_string());
        fields.push((name.to_string(), values(&key, &listed)));
    }
    Ok(Facts {
        digest: material_digest(&material),
        fields,
    })
}

fn compare(uid: &str, old: (Answer, Answer), new: (Answer, Answer)) -> Checked {
    let checked = |result, details| Checked {
        uid: uid.to_string(),
        result,
        details,
    };
    let (Ok(old_attributes), Ok(old_get)) = old else {
        return checked(
            Comparison::GoneFromSource,
            vec!["the old server no longer serves it".into()],
        );
    };
    let (new_attributes, new_get) = match new {
        (Ok(a), Ok(g)) => (a, g),
        (Err(refusal), _) | (_, Err(refusal)) => {
            return checked(Comparison::Missing, vec![format!("Keyward: {refusal}")]);
        }
    };
    let old = match facts(uid, &old_attributes, &old_get) {
        Ok(f) => f,
        Err(why) => return checked(Comparison::Differs, vec![format!("old server: {why}")]),
    };
    let new = match facts(uid, &new_attributes, &new_get) {
        Ok(f) => f,
        Err(why) => return checked(Comparison::Differs, vec![format!("Keyward: {why}")]),
    };
    let mut details = Vec::new();
    if old.digest != new.digest {
        details.push("key material differs (SHA-256 digests do not match)".to_string());
    }
    for ((name, old_values), (_, new_values)) in old.fields.iter().zip(&new.fields) {
        // Only what the old server reports is compared: a server that leaves out, say, the
        // algorithm in Get Attributes is not contradicted by Keyward stating it.
        if !old_values.is_empty() && old_values != new_values {
            details.push(format!(
                "{name}: old server {old_values:?}, Keyward {new_values:?}"
            ));
        }
    }
    if details.is_empty() {
        checked(Comparison::Identical, details)
    } else {
        checked(Comparison::Differs, details)
    }
}

/// Compares every UID; network failures stop the run, differences are results.
pub fn verify_all(
    old: &mut SourceServer,
    keyward: &mut SourceServer,
    uids: &[String],
    progress: &mut Progress,
) -> Result<Vec<Checked>, ImportError> {
    let mut out = Vec::with_capacity(uids.len());
    for uid in uids {
        let from_old = old.fetch(uid)?;
        let from_keyward = keyward.fetch(uid)?;
        out.push(compare(uid, from_old, from_keyward));
        progress.advance(1);
    }
    Ok(out)
}

/// Whether Keyward serves every UID the old server still serves, identically.
pub fn all_identical(checked: &[Checked]) -> bool {
    checked
        .iter()
        .all(|c| matches!(c.result, Comparison::Identical | Comparison::GoneFromSource))
}
