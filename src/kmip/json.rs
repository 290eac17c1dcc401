//! The KMIP JSON encoding (KMIP Profiles, "JSON Encoding"): every item is an object
//! `{"tag": …, "type": …, "value": …}`; a structure omits `type` and its value is an array.
//! Numbers travel as JSON numbers, masks as `"A|B"`, Big Integers as `"0x…"` hex, byte strings
//! as hex, enumerations as names (or `"0x…"` when unnamed), date-times as ISO-8601.
//!
//! Conversion goes through the same untyped [`XmlNode`] tree as XML, so enumeration naming and
//! placeholder handling are shared.

use serde_json::{Map, Number, Value as Json};

use super::xml::{Style, TextCodecError, XmlNode, item_to_node, node_to_item};
use crate::ttlv::Item;

/// TTLV → JSON value.
pub fn to_json(item: &Item) -> Json {
    node_to_json(&item_to_node(item, Style::Json))
}

/// TTLV → JSON text (pretty-printed).
pub fn to_json_string(item: &Item) -> String {
    // Serializing a `serde_json::Value` cannot fail: every key is a string.
    serde_json::to_string_pretty(&to_json(item)).unwrap_or_default()
}

/// JSON text (one message) → TTLV item.
pub fn from_json(text: &str) -> Result<Item, TextCodecError> {
    let json: Json =
        serde_json::from_str(text).map_err(|e| TextCodecError::Syntax(e.to_string()))?;
    node_to_item(&json_to_node(&json)?)
}

/// Writes a node as a JSON object; numeric types become JSON numbers where they parse as such.
pub fn node_to_json(node: &XmlNode) -> Json {
    let mut object = Map::new();
    object.insert("tag".into(), Json::String(node.tag.clone()));
    match &node.item_type {
        None => {
            object.insert(
                "value".into(),
                Json::Array(node.children.iter().map(node_to_json).collect()),
            );
        }
        Some(item_type) => {
            object.insert("type".into(), Json::String(item_type.clone()));
            let raw = node.value.clone().unwrap_or_default();
            let value = match item_type.as_str() {
                "Integer" | "LongInteger" | "Interval" => raw
                    .parse::<i64>()
                    .map(|n| Json::Number(Number::from(n)))
                    .unwrap_or(Json::String(raw)),
                "Boolean" => match raw.as_str() {
                    "true" => Json::Bool(true),
                    "false" => Json::Bool(false),
                    _ => Json::String(raw),
                },
                _ => Json::String(raw),
            };
            object.insert("value".into(), value);
        }
    }
    Json::Object(object)
}

/// Reads a JSON item object into a node (values kept as raw strings).
pub fn json_to_node(json: &Json) -> Result<XmlNode, TextCodecError> {
    let mut path = Vec::new();
    convert(json, &mut path)
}

fn convert(json: &Json, path: &mut Vec<String>) -> Result<XmlNode, TextCodecError> {
    let object = json.as_object().ok_or_else(|| {
        TextCodecError::Syntax(format!("at /{}: item is not a JSON object", path.join("/")))
    })?;
    let tag = object
        .get("tag")
        .and_then(Json::as_str)
        .ok_or_else(|| {
            TextCodecError::Syntax(format!(
                "at /{}: item has no \"tag\" string",
                path.join("/")
            ))
        })?
        .to_owned();
    path.push(tag.clone());
    let item_type = match object.get("type") {
        None => None,
        Some(Json::String(t)) if t == "Structure" => None,
        Some(Json::String(t)) => Some(t.clone()),
        Some(_) => {
            return Err(TextCodecError::Syntax(format!(
                "at /{}: \"type\" is not a string",
                path.join("/")
            )));
        }
    };
    let mut node = XmlNode {
        tag,
        item_type,
        ..XmlNode::default()
    };
    match object.get("value") {
        Some(Json::Array(children)) if node.item_type.is_none() => {
            node.children = children
                .iter()
                .map(|c| convert(c, path))
                .collect::<Result<_, _>>()?;
        }
        None if node.item_type.is_none() => {}
        Some(Json::String(s)) => node.value = Some(s.clone()),
        Some(Json::Number(n)) => node.value = Some(n.to_string()),
        Some(Json::Bool(b)) => node.value = Some(b.to_string()),
        _ => {
            return Err(TextCodecError::Syntax(format!(
                "at /{}: unusable \"value\"",
                path.join("/")
            )));
        }
    }
    path.pop();
    Ok(node)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kmip::tag;
    use crate::ttlv::Value;

    #[test]
    fn json_shapes() {
        let item = Item::structure(
            tag::ATTRIBUTES,
            vec![
                Item::new(tag::CRYPTOGRAPHIC_USAGE_MASK, Value::Integer(12)),
                Item::new(tag::CRYPTOGRAPHIC_LENGTH, Value::Integer(256)),
                Item::new(tag::STATE, Value::Enumeration(2)),
                Item::new(
                    tag::MODULUS,
                    Value::BigInteger(vec![0, 0, 0, 0, 0, 0, 1, 0]),
                ),
                Item::new(tag::SENSITIVE, Value::Boolean(false)),
            ],
        );
        let json = to_json(&item);
        let values = json["value"].as_array().unwrap();
        assert_eq!(values[0]["value"], "Encrypt|Decrypt");
        assert_eq!(values[1]["value"], 256);
        assert_eq!(values[2]["value"], "Active");
        assert_eq!(values[3]["value"], "0x0000000000000100");
        assert_eq!(values[4]["value"], false);
        assert_eq!(from_json(&json.to_string()).unwrap(), item);
    }

    #[test]
    fn json_errors() {
        assert!(matches!(from_json("[1]"), Err(TextCodecError::Syntax(_))));
        assert!(matches!(
            from_json(r#"{"tag":"State","type":"Enumeration","value":"Nope"}"#),
            Err(TextCodecError::BadValue { .. })
        ));
    }
}
