//! The canonical attribute model and its 1.x / 2.x wire forms.
//!
//! Internally an attribute is either a standard attribute, named by its tag, or a custom
//! attribute, named by its full text name (`x-Foo`, `y-Foo`). On the wire:
//! - 1.x: `Attribute{Attribute Name, Attribute Index?, Attribute Value}` inside Template-Attribute
//!   or directly in payloads; standard names come from the attribute name table.
//! - 2.x: each standard attribute under its own tag inside `Attributes`; custom attributes as a
//!   Vendor Attribute `Attribute{Vendor Identification, Attribute Name, Attribute Value}`, with
//!   `x-Foo` ↔ ("x", "Foo").

use super::names;
use super::tag;
use crate::ttlv::{Item, Value};

/// How an attribute is named.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum AttrKey {
    /// A standard attribute, by its tag (e.g. `tag::CRYPTOGRAPHIC_LENGTH`).
    Standard(u32),
    /// A custom attribute, by its full 1.x name (`x-Vendor`).
    Custom(String),
}

impl AttrKey {
    /// The 1.x Attribute Name text.
    pub fn v1_name(&self) -> String {
        match self {
            AttrKey::Standard(t) => match names::attribute_name(*t) {
                Some(n) => n.to_string(),
                None => format!("tag-{t:06X}"),
            },
            AttrKey::Custom(n) => n.clone(),
        }
    }

    /// Resolves a 1.x Attribute Name (runs of white space folded).
    pub fn from_v1_name(name: &str) -> Option<AttrKey> {
        let folded = names::fold_spaces(name);
        if is_custom_name(&folded) {
            return Some(AttrKey::Custom(folded));
        }
        names::attribute_tag(&folded).map(AttrKey::Standard)
    }

    pub fn is_client_custom(&self) -> bool {
        matches!(self, AttrKey::Custom(n) if n.starts_with("x-"))
    }
}

/// Whether a 1.x attribute name is a custom attribute name.
pub fn is_custom_name(name: &str) -> bool {
    name.starts_with("x-") || name.starts_with("y-")
}

/// One attribute instance. For a structured value (Name, Digest, …) `value` is a
/// `Value::Structure` whose children carry their own tags, the same in 1.x and 2.x.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attribute {
    pub key: AttrKey,
    pub value: Value,
}

/// Why an attribute could not be read from the wire.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AttributeError {
    #[error("attribute structure lacks {0}")]
    Missing(&'static str),
    #[error("attribute field {0} has the wrong item type")]
    WrongType(&'static str),
    #[error("unknown attribute name {0:?}")]
    UnknownName(String),
    #[error("tag {0:06X} is not an attribute this server knows")]
    UnknownTag(u32),
}

/// A 1.x `Attribute` structure: (attribute, index).
pub fn parse_v1(item: &Item) -> Result<(Attribute, Option<i32>), AttributeError> {
    let (key, index) = parse_v1_reference(item)?;
    let value = item
        .child(tag::ATTRIBUTE_VALUE)
        .map(|v| v.value.clone())
        .ok_or(AttributeError::Missing("Attribute Value"))?;
    Ok((Attribute { key, value }, index))
}

/// A 1.x Attribute Name + optional index without a value (Delete Attribute, name lists).
pub fn parse_v1_reference(item: &Item) -> Result<(AttrKey, Option<i32>), AttributeError> {
    let name = text_child(item, tag::ATTRIBUTE_NAME, "Attribute Name")?;
    let key =
        AttrKey::from_v1_name(name).ok_or_else(|| AttributeError::UnknownName(name.to_string()))?;
    let index = match item.child(tag::ATTRIBUTE_INDEX) {
        None => None,
        Some(Item {
            value: Value::Integer(i),
            ..
        }) => Some(*i),
        Some(_) => return Err(AttributeError::WrongType("Attribute Index")),
    };
    Ok((key, index))
}

/// Encodes a 1.x `Attribute`; the index is left out when it is 0 or absent.
pub fn encode_v1(attribute: &Attribute, index: Option<u32>) -> Item {
    let mut children = vec![Item::new(
        tag::ATTRIBUTE_NAME,
        Value::TextString(attribute.key.v1_name()),
    )];
    if let Some(i) = index.filter(|i| *i > 0) {
        children.push(Item::new(tag::ATTRIBUTE_INDEX, Value::Integer(i as i32)));
    }
    children.push(Item::new(tag::ATTRIBUTE_VALUE, attribute.value.clone()));
    Item::structure(tag::ATTRIBUTE, children)
}

/// Encodes a 1.x `Attribute` that names its instance, index 0 included.
pub fn encode_v1_indexed(attribute: &Attribute, index: u32) -> Item {
    Item::structure(
        tag::ATTRIBUTE,
        vec![
            Item::new(
                tag::ATTRIBUTE_NAME,
                Value::TextString(attribute.key.v1_name()),
            ),
            Item::new(tag::ATTRIBUTE_INDEX, Value::Integer(index as i32)),
            Item::new(tag::ATTRIBUTE_VALUE, attribute.value.clone()),
        ],
    )
}

/// Every `Attribute` in a 1.x Template-Attribute (or any structure listing them).
pub fn parse_v1_list(container: &Item) -> Result<Vec<Attribute>, AttributeError> {
    container
        .children_with(tag::ATTRIBUTE)
        .map(|a| parse_v1(a).map(|(attr, _)| attr))
        .collect()
}

/// One attribute inside a 2.x `Attributes` / `New Attribute` / `Current Attribute`.
pub fn parse_v2(item: &Item) -> Result<Attribute, AttributeError> {
    if item.tag == tag::ATTRIBUTE {
        let vendor = text_child(item, tag::VENDOR_IDENTIFICATION, "Vendor Identification")?;
        let name = text_child(item, tag::ATTRIBUTE_NAME, "Attribute Name")?;
        let value = item
            .child(tag::ATTRIBUTE_VALUE)
            .map(|v| v.value.clone())
            .ok_or(AttributeError::Missing("Attribute Value"))?;
        return Ok(Attribute {
            key: AttrKey::Custom(format!("{vendor}-{name}")),
            value,
        });
    }
    if names::attribute_name(item.tag).is_none() {
        return Err(AttributeError::UnknownTag(item.tag));
    }
    Ok(Attribute {
        key: AttrKey::Standard(item.tag),
        value: item.value.clone(),
    })
}

/// Encodes one attribute in 2.x form.
pub fn encode_v2(attribute: &Attribute) -> Item {
    match &attribute.key {
        AttrKey::Standard(t) => Item::new(*t, attribute.value.clone()),
        AttrKey::Custom(full) => {
            let (vendor, name) = split_custom(full);
            Item::structure(
                tag::ATTRIBUTE,
                vec![
                    Item::new(
                        tag::VENDOR_IDENTIFICATION,
                        Value::TextString(vendor.to_string()),
                    ),
                    Item::new(tag::ATTRIBUTE_NAME, Value::TextString(name.to_string())),
                    Item::new(tag::ATTRIBUTE_VALUE, attribute.value.clone()),
                ],
            )
        }
    }
}

/// Every attribute in a 2.x `Attributes` structure.
pub fn parse_v2_list(container: &Item) -> Result<Vec<Attribute>, AttributeError> {
    container.children().iter().map(parse_v2).collect()
}

/// A 2.x `Attribute Reference`: Enumeration naming a tag, or {Vendor Identification, Attribute Name}.
pub fn parse_v2_reference(item: &Item) -> Result<AttrKey, AttributeError> {
    match &item.value {
        Value::Enumeration(t) => {
            if names::attribute_name(*t).is_none() {
                return Err(AttributeError::UnknownTag(*t));
            }
            Ok(AttrKey::Standard(*t))
        }
        Value::Structure(_) => {
            let vendor = text_child(item, tag::VENDOR_IDENTIFICATION, "Vendor Identification")?;
            let name = text_child(item, tag::ATTRIBUTE_NAME, "Attribute Name")?;
            Ok(AttrKey::Custom(format!("{vendor}-{name}")))
        }
        _ => Err(AttributeError::WrongType("Attribute Reference")),
    }
}

/// Encodes a 2.x `Attribute Reference`.
pub fn encode_v2_reference(key: &AttrKey) -> Item {
    match key {
        AttrKey::Standard(t) => Item::new(tag::ATTRIBUTE_REFERENCE, Value::Enumeration(*t)),
        AttrKey::Custom(full) => {
            let (vendor, name) = split_custom(full);
            Item::structure(
                tag::ATTRIBUTE_REFERENCE,
                vec![
                    Item::new(
                        tag::VENDOR_IDENTIFICATION,
                        Value::TextString(vendor.to_string()),
                    ),
                    Item::new(tag::ATTRIBUTE_NAME, Value::TextString(name.to_string())),
                ],
            )
        }
    }
}

/// `x-Foo` → ("x", "Foo"); a name without a dash keeps an empty vendor.
fn split_custom(full: &str) -> (&str, &str) {
    full.split_once('-').unwrap_or(("", full))
}

fn text_child<'a>(item: &'a Item, t: u32, what: &'static str) -> Result<&'a str, AttributeError> {
    match item.child(t) {
        Some(Item {
            value: Value::TextString(s),
            ..
        }) => Ok(s),
        Some(_) => Err(AttributeError::WrongType(what)),
        None => Err(AttributeError::Missing(what)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v1(name: &str, value: Value) -> Item {
        Item::structure(
            tag::ATTRIBUTE,
            vec![
                Item::new(tag::ATTRIBUTE_NAME, Value::TextString(name.into())),
                Item::new(tag::ATTRIBUTE_VALUE, value),
            ],
        )
    }

    #[test]
    fn v1_standard_name_with_space_runs_resolves_to_tag() {
        let (a, idx) = parse_v1(&v1("Cryptographic   Usage Mask", Value::Integer(12))).unwrap();
        assert_eq!(a.key, AttrKey::Standard(tag::CRYPTOGRAPHIC_USAGE_MASK));
        assert_eq!(a.value, Value::Integer(12));
        assert_eq!(idx, None);
        assert_eq!(
            encode_v1(&a, None),
            v1("Cryptographic Usage Mask", Value::Integer(12))
        );
    }

    #[test]
    fn custom_attribute_maps_between_versions() {
        let (a, _) = parse_v1(&v1("x-Vendor", Value::TextString("VMware, Inc.".into()))).unwrap();
        assert_eq!(a.key, AttrKey::Custom("x-Vendor".into()));
        let wire = encode_v2(&a);
        assert_eq!(
            wire.child(tag::VENDOR_IDENTIFICATION).unwrap().value,
            Value::TextString("x".into())
        );
        assert_eq!(
            wire.child(tag::ATTRIBUTE_NAME).unwrap().value,
            Value::TextString("Vendor".into())
        );
        assert_eq!(parse_v2(&wire).unwrap(), a);
        assert_eq!(
            parse_v2_reference(&encode_v2_reference(&a.key)).unwrap(),
            a.key
        );
    }

    #[test]
    fn unknown_names_and_tags_are_rejected() {
        assert!(matches!(
            parse_v1(&v1("Colour", Value::Integer(1))),
            Err(AttributeError::UnknownName(_))
        ));
        assert!(parse_v2(&Item::new(tag::BATCH_COUNT, Value::Integer(1))).is_err());
        let a = parse_v2(&Item::new(tag::STATE, Value::Enumeration(1))).unwrap();
        assert_eq!(a.key, AttrKey::Standard(tag::STATE));
    }

    #[test]
    fn index_zero_is_omitted_and_others_kept() {
        let a = Attribute {
            key: AttrKey::Custom("x-a".into()),
            value: Value::TextString("v".into()),
        };
        assert!(encode_v1(&a, Some(0)).child(tag::ATTRIBUTE_INDEX).is_none());
        assert_eq!(
            encode_v1(&a, Some(2))
                .child(tag::ATTRIBUTE_INDEX)
                .unwrap()
                .value,
            Value::Integer(2)
        );
    }
}
