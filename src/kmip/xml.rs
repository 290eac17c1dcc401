//! The KMIP XML encoding (KMIP Profiles, "XML Encoding") and the generic node tree that the
//! XML and JSON encodings share.
//!
//! Parsing is two-step on purpose: text → [`XmlNode`] (names and raw value strings, nothing
//! typed yet) → [`Item`]. The conformance runner substitutes placeholders such as
//! `$UNIQUE_IDENTIFIER_0` or `$NOW` in the node tree, where values are still strings.

use quick_xml::Reader;
use quick_xml::events::{BytesStart, Event};

use super::{names, tag};
use crate::ttlv::{Item, ItemType, Value};

/// One element of a KMIP XML (or JSON) document, untyped.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct XmlNode {
    /// Tag name (`UniqueIdentifier`) or hex tag (`0x540001`).
    pub tag: String,
    /// The `type` attribute; `None` means Structure.
    pub item_type: Option<String>,
    /// The `value` attribute, raw.
    pub value: Option<String>,
    pub children: Vec<XmlNode>,
}

impl XmlNode {
    /// First child with tag name `tag`.
    pub fn child(&self, tag: &str) -> Option<&XmlNode> {
        self.children.iter().find(|c| c.tag == tag)
    }

    /// Visits every node of the tree, depth first, mutably (for placeholder substitution).
    pub fn walk_mut(&mut self, visit: &mut dyn FnMut(&mut XmlNode)) {
        visit(self);
        for child in &mut self.children {
            child.walk_mut(visit);
        }
    }
}

/// Errors of the XML and JSON encodings: the input text is at fault, at `path`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TextCodecError {
    #[error("malformed document: {0}")]
    Syntax(String),
    #[error("at {path}: unknown tag name {name:?}")]
    UnknownTag { path: String, name: String },
    #[error("at {path}: unknown item type {name:?}")]
    UnknownType { path: String, name: String },
    #[error("at {path}: {item_type} value {value:?} is invalid")]
    BadValue {
        path: String,
        item_type: &'static str,
        value: String,
    },
    #[error("at {path}: a structure cannot carry a value")]
    StructureWithValue { path: String },
    #[error("at {path}: item of type {item_type} has no value")]
    MissingValue {
        path: String,
        item_type: &'static str,
    },
}

/// How masks are joined when written: the XML vectors separate flag names with spaces,
/// the JSON encoding with `|`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    Xml,
    Json,
}

// ---------------------------------------------------------------------------------------------
// Text ↔ node tree

/// Deepest element nesting accepted: TTLV's own depth limit (32) plus the document root, with
/// room to spare.
const MAX_XML_DEPTH: usize = 64;

/// Parses a KMIP XML document. A root named `KMIP` or `KmipTestCase` (a vector file) yields
/// its children; any other root yields itself. Comments and stray text (`# TIME 0`) are ignored.
pub fn parse_document(text: &str) -> Result<Vec<XmlNode>, TextCodecError> {
    let mut reader = Reader::from_str(text);
    reader.config_mut().trim_text(true);
    let mut stack: Vec<XmlNode> = Vec::new();
    let mut roots = Vec::new();
    loop {
        let event = reader.read_event().map_err(|e| syntax(&reader, e))?;
        match event {
            Event::Start(start) => {
                // Item trees are walked recursively; a hostile document must not be able to
                // nest deeper than any message could.
                if stack.len() >= MAX_XML_DEPTH {
                    return Err(syntax(
                        &reader,
                        format!("elements nest deeper than {MAX_XML_DEPTH}"),
                    ));
                }
                stack.push(node_from_start(&start, &reader)?)
            }
            Event::Empty(start) => {
                let node = node_from_start(&start, &reader)?;
                attach(&mut stack, &mut roots, node);
            }
            Event::End(_) => {
                let node = stack.pop().ok_or_else(|| {
                    TextCodecError::Syntax("closing tag without opening tag".into())
                })?;
                attach(&mut stack, &mut roots, node);
            }
            Event::Eof => break,
            _ => {}
        }
    }
    if !stack.is_empty() {
        return Err(TextCodecError::Syntax(
            "document ends inside an element".into(),
        ));
    }
    if let [root] = roots.as_slice()
        && (root.tag == "KMIP" || root.tag == "KmipTestCase")
    {
        return Ok(roots.swap_remove(0).children);
    }
    Ok(roots)
}

/// Parses a document that holds exactly one message.
pub fn parse_node(text: &str) -> Result<XmlNode, TextCodecError> {
    let mut nodes = parse_document(text)?;
    match nodes.len() {
        1 => Ok(nodes.swap_remove(0)),
        n => Err(TextCodecError::Syntax(format!(
            "expected one top-level element, found {n}"
        ))),
    }
}

fn syntax(reader: &Reader<&[u8]>, err: impl std::fmt::Display) -> TextCodecError {
    TextCodecError::Syntax(format!("at byte {}: {err}", reader.buffer_position()))
}

fn attach(stack: &mut [XmlNode], roots: &mut Vec<XmlNode>, node: XmlNode) {
    match stack.last_mut() {
        Some(parent) => parent.children.push(node),
        None => roots.push(node),
    }
}

fn node_from_start(
    start: &BytesStart<'_>,
    reader: &Reader<&[u8]>,
) -> Result<XmlNode, TextCodecError> {
    let mut node = XmlNode {
        tag: String::from_utf8_lossy(start.name().as_ref()).into_owned(),
        ..XmlNode::default()
    };
    for attr in start.attributes() {
        let attr = attr.map_err(|e| syntax(reader, e))?;
        let value = attr
            .unescape_value()
            .map_err(|e| syntax(reader, e))?
            .into_owned();
        // XML 1.0 cannot carry these, escaped or not; accepting them raw would let a document
        // parse that no writer can reproduce.
        if let Some(c) = value.chars().find(|c| {
            (*c < ' ' && !matches!(c, '\t' | '\n' | '\r')) || matches!(c, '\u{FFFE}' | '\u{FFFF}')
        }) {
            return Err(syntax(
                reader,
                format!("character U+{:04X} is not allowed in XML", u32::from(c)),
            ));
        }
        match attr.key.as_ref() {
            b"type" => node.item_type = Some(value),
            b"value" => node.value = Some(value),
            // `<TTLV tag="0x540001" …>` names a tag the writer had no name for.
            b"tag" => node.tag = value,
            _ => {}
        }
    }
    Ok(node)
}

/// Writes `node` as indented XML.
pub fn write_node(node: &XmlNode) -> String {
    let mut out = String::new();
    write_into(node, 0, &mut out);
    out
}

fn write_into(node: &XmlNode, depth: usize, out: &mut String) {
    let indent = "  ".repeat(depth);
    let (element, tag_attr) = if node.tag.starts_with("0x") {
        ("TTLV", format!(" tag=\"{}\"", escape(&node.tag)))
    } else {
        (node.tag.as_str(), String::new())
    };
    out.push_str(&format!("{indent}<{element}{tag_attr}"));
    if let Some(t) = &node.item_type {
        out.push_str(&format!(" type=\"{}\"", escape(t)));
    }
    if let Some(v) = &node.value {
        out.push_str(&format!(" value=\"{}\"", escape(v)));
    }
    if node.children.is_empty() && node.item_type.is_some() {
        out.push_str("/>\n");
        return;
    }
    out.push_str(">\n");
    for child in &node.children {
        write_into(child, depth + 1, out);
    }
    out.push_str(&format!("{indent}</{element}>\n"));
}

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // Keep control characters intact through an attribute value.
            c if (c as u32) < 0x20 => out.push_str(&format!("&#{};", c as u32)),
            c => out.push(c),
        }
    }
    out
}

/// TTLV → XML text.
pub fn to_xml(item: &Item) -> String {
    write_node(&item_to_node(item, Style::Xml))
}

/// XML text (one message) → TTLV item.
pub fn from_xml(text: &str) -> Result<Item, TextCodecError> {
    node_to_item(&parse_node(text)?)
}

// ---------------------------------------------------------------------------------------------
// Node tree ↔ TTLV items

/// Type names as the encodings spell them.
pub fn type_name(item_type: ItemType) -> &'static str {
    match item_type {
        ItemType::Structure => "Structure",
        ItemType::Integer => "Integer",
        ItemType::LongInteger => "LongInteger",
        ItemType::BigInteger => "BigInteger",
        ItemType::Enumeration => "Enumeration",
        ItemType::Boolean => "Boolean",
        ItemType::TextString => "TextString",
        ItemType::ByteString => "ByteString",
        ItemType::DateTime => "DateTime",
        ItemType::Interval => "Interval",
        ItemType::DateTimeExtended => "DateTimeExtended",
    }
}

fn type_by_name(name: &str) -> Option<ItemType> {
    (1u8..=0x0B)
        .filter_map(ItemType::from_byte)
        .find(|t| type_name(*t) == name)
}

/// The tag name (or `0x42xxxx` when the tag has no name in this build).
pub fn tag_text(tag: u32) -> String {
    tag::name(tag).map_or_else(|| format!("0x{tag:06X}"), str::to_owned)
}

/// Resolves a tag name or a `0x…` hex tag.
pub fn tag_from_text(text: &str) -> Option<u32> {
    match text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        Some(hex) => u32::from_str_radix(hex, 16)
            .ok()
            .filter(|t| *t <= 0xFF_FFFF),
        None => tag::by_name(text),
    }
}

/// The tag whose tables name an item's enumeration or mask values: the item's own tag,
/// except a 1.x Attribute Value, which is named by its sibling Attribute Name.
fn naming_tag(tag: u32, attribute_name: Option<&str>) -> u32 {
    if tag == tag::ATTRIBUTE_VALUE
        && let Some(t) = attribute_name.and_then(names::attribute_tag)
    {
        return t;
    }
    tag
}

/// Converts a TTLV item to a node, naming enumerations, masks and tags where known.
pub fn item_to_node(item: &Item, style: Style) -> XmlNode {
    convert_item(item, item.tag, style)
}

fn convert_item(item: &Item, naming: u32, style: Style) -> XmlNode {
    let mut node = XmlNode {
        tag: tag_text(item.tag),
        ..XmlNode::default()
    };
    if let Value::Structure(children) = &item.value {
        let attribute_name = children.iter().find_map(|c| match (&c.value, c.tag) {
            (Value::TextString(s), tag::ATTRIBUTE_NAME) => Some(s.as_str()),
            _ => None,
        });
        node.children = children
            .iter()
            .map(|c| convert_item(c, naming_tag(c.tag, attribute_name), style))
            .collect();
        return node;
    }
    node.item_type = Some(type_name(item.item_type()).to_owned());
    node.value = Some(format_value(&item.value, naming, style));
    node
}

fn format_value(value: &Value, naming: u32, style: Style) -> String {
    match value {
        Value::Structure(_) => String::new(),
        Value::Integer(v) => {
            let flags = names::mask_names(naming, *v).filter(|f| !f.is_empty());
            match flags {
                Some(flags) => flags.join(if style == Style::Xml { " " } else { "|" }),
                None => v.to_string(),
            }
        }
        Value::LongInteger(v) => v.to_string(),
        Value::BigInteger(v) => match style {
            Style::Xml => hex::encode(v),
            Style::Json => format!("0x{}", hex::encode(v)),
        },
        Value::Enumeration(v) => {
            names::enum_name(naming, *v).map_or_else(|| format!("0x{v:08X}"), str::to_owned)
        }
        Value::Boolean(v) => v.to_string(),
        Value::TextString(v) => v.clone(),
        Value::ByteString(v) => hex::encode(v),
        Value::DateTime(v) => format_datetime(*v, None),
        Value::Interval(v) => v.to_string(),
        Value::DateTimeExtended(v) => format_datetime(
            v.div_euclid(1_000_000),
            Some(v.rem_euclid(1_000_000) as u32),
        ),
    }
}

/// Converts a node tree to a TTLV item. Placeholders must have been substituted first.
pub fn node_to_item(node: &XmlNode) -> Result<Item, TextCodecError> {
    let mut path = Vec::new();
    convert_node(node, None, &mut path)
}

fn path_text(path: &[String]) -> String {
    format!("/{}", path.join("/"))
}

fn convert_node(
    node: &XmlNode,
    naming: Option<u32>,
    path: &mut Vec<String>,
) -> Result<Item, TextCodecError> {
    path.push(node.tag.clone());
    let result = convert_node_inner(node, naming, path);
    path.pop();
    result
}

fn convert_node_inner(
    node: &XmlNode,
    naming: Option<u32>,
    path: &mut Vec<String>,
) -> Result<Item, TextCodecError> {
    let tag = tag_from_text(&node.tag).ok_or_else(|| TextCodecError::UnknownTag {
        path: path_text(path),
        name: node.tag.clone(),
    })?;
    let item_type = match node.item_type.as_deref() {
        None => ItemType::Structure,
        Some(name) => type_by_name(name).ok_or_else(|| TextCodecError::UnknownType {
            path: path_text(path),
            name: name.to_owned(),
        })?,
    };
    if item_type == ItemType::Structure {
        if node.value.as_deref().is_some_and(|v| !v.trim().is_empty()) {
            return Err(TextCodecError::StructureWithValue {
                path: path_text(path),
            });
        }
        let attribute_name = node
            .children
            .iter()
            .find(|c| c.tag == "AttributeName")
            .and_then(|c| c.value.as_deref());
        let children = node
            .children
            .iter()
            .map(|c| {
                let child_tag = tag_from_text(&c.tag).unwrap_or(0);
                convert_node(c, Some(naming_tag(child_tag, attribute_name)), path)
            })
            .collect::<Result<Vec<_>, _>>()?;
        return Ok(Item::structure(tag, children));
    }
    let raw = node
        .value
        .as_deref()
        .ok_or_else(|| TextCodecError::MissingValue {
            path: path_text(path),
            item_type: type_name(item_type),
        })?;
    let value = parse_value(item_type, raw, naming.unwrap_or(tag)).ok_or_else(|| {
        TextCodecError::BadValue {
            path: path_text(path),
            item_type: type_name(item_type),
            value: raw.to_owned(),
        }
    })?;
    Ok(Item::new(tag, value))
}

/// Parses the text form of a primitive value; `naming` picks enumeration and mask names.
pub fn parse_value(item_type: ItemType, raw: &str, naming: u32) -> Option<Value> {
    let text = raw.trim();
    Some(match item_type {
        ItemType::Structure => return None,
        ItemType::Integer => Value::Integer(parse_integer(text, naming)?),
        ItemType::LongInteger => Value::LongInteger(parse_i64(text)?),
        ItemType::BigInteger => {
            let hex_text = text.strip_prefix("0x").unwrap_or(text);
            let bytes = hex::decode(hex_text).ok()?;
            if bytes.is_empty() {
                return None;
            }
            Value::BigInteger(bytes)
        }
        ItemType::Enumeration => Value::Enumeration(match names::enum_value(naming, text) {
            Some(v) => v,
            None => parse_u32(text)?,
        }),
        ItemType::Boolean => Value::Boolean(match text {
            "true" | "1" => true,
            "false" | "0" => false,
            _ => return None,
        }),
        ItemType::TextString => Value::TextString(raw.to_owned()),
        ItemType::ByteString => Value::ByteString(hex::decode(text).ok()?),
        ItemType::DateTime => Value::DateTime(match parse_datetime(text) {
            Some((secs, _)) => secs,
            None => parse_i64(text)?,
        }),
        ItemType::Interval => Value::Interval(parse_u32(text)?),
        ItemType::DateTimeExtended => Value::DateTimeExtended(match parse_datetime(text) {
            Some((secs, micros)) => secs
                .checked_mul(1_000_000)?
                .checked_add(i64::from(micros))?,
            None => parse_i64(text)?,
        }),
    })
}

fn parse_u32(text: &str) -> Option<u32> {
    match text.strip_prefix("0x") {
        Some(hex) => u32::from_str_radix(hex, 16).ok(),
        None => text.parse().ok(),
    }
}

fn parse_i64(text: &str) -> Option<i64> {
    match text.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16).ok().map(|v| v as i64),
        None => text.parse().ok(),
    }
}

/// An Integer: decimal, `0x` hex (two's complement), or mask flag names joined by spaces or `|`.
fn parse_integer(text: &str, naming: u32) -> Option<i32> {
    if let Some(hex) = text.strip_prefix("0x") {
        return u32::from_str_radix(hex, 16).ok().map(|v| v as i32);
    }
    if let Ok(v) = text.parse::<i32>() {
        return Some(v);
    }
    let mut mask = 0u32;
    for flag in text
        .split(|c: char| c == '|' || c.is_whitespace())
        .filter(|f| !f.is_empty())
    {
        mask |= match names::mask_flag(naming, flag) {
            Some(bit) => bit,
            None => parse_u32(flag)?,
        };
    }
    Some(mask as i32)
}

// ---------------------------------------------------------------------------------------------
// ISO-8601 date-times (UTC); the calendar arithmetic is the `time` crate's.

/// Formats POSIX seconds (plus optional microseconds) as `YYYY-MM-DDTHH:MM:SS[.ffffff]+00:00`.
/// Years outside 0..=9999 fall back to the plain number, which [`parse_value`] also reads.
pub fn format_datetime(secs: i64, micros: Option<u32>) -> String {
    let t = match time::OffsetDateTime::from_unix_timestamp(secs) {
        Ok(t) if (0..=9999).contains(&t.year()) => t,
        _ => {
            return match micros {
                Some(us) => (secs as i128 * 1_000_000 + i128::from(us)).to_string(),
                None => secs.to_string(),
            };
        }
    };
    let (y, m, d) = (t.year(), u8::from(t.month()), t.day());
    let (hh, mm, ss) = (t.hour(), t.minute(), t.second());
    match micros {
        Some(us) => format!("{y:04}-{m:02}-{d:02}T{hh:02}:{mm:02}:{ss:02}.{us:06}+00:00"),
        None => format!("{y:04}-{m:02}-{d:02}T{hh:02}:{mm:02}:{ss:02}+00:00"),
    }
}

/// Parses `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)?` into (POSIX seconds, microseconds).
pub fn parse_datetime(text: &str) -> Option<(i64, u32)> {
    use time::macros::format_description;
    let b = text.as_bytes();
    if b.len() < 19 || (b[10] != b'T' && b[10] != b' ') {
        return None;
    }
    // The date and the clock, with either separator.
    let mut head = text.get(..19)?.to_string();
    head.replace_range(10..11, "T");
    let clock = time::PrimitiveDateTime::parse(
        &head,
        format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]"),
    )
    .ok()?;
    let mut rest = &text[19..];
    let mut micros = 0u32;
    if let Some(frac) = rest.strip_prefix('.') {
        let digits = frac.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        let padded: String = frac[..digits]
            .chars()
            .chain(std::iter::repeat('0'))
            .take(6)
            .collect();
        micros = padded.parse().ok()?;
        rest = &frac[digits..];
    }
    let offset = match rest {
        "" | "Z" => time::UtcOffset::UTC,
        _ => time::UtcOffset::parse(
            rest,
            format_description!("[offset_hour sign:mandatory]:[offset_minute]"),
        )
        .ok()?,
    };
    Some((clock.assume_offset(offset).unix_timestamp(), micros))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn datetime_round_trip_and_formats() {
        assert_eq!(parse_datetime("1970-01-01T00:00:00+00:00"), Some((0, 0)));
        assert_eq!(
            parse_datetime("2012-04-27T08:12:24+00:00"),
            Some((1_335_514_344, 0))
        );
        assert_eq!(
            parse_datetime("2012-04-27T10:12:24+02:00"),
            Some((1_335_514_344, 0))
        );
        assert_eq!(
            parse_datetime("2012-04-27T08:12:24Z"),
            Some((1_335_514_344, 0))
        );
        assert_eq!(
            parse_datetime("2012-04-27T08:12:24.5Z"),
            Some((1_335_514_344, 500_000))
        );
        assert_eq!(parse_datetime("2012-13-27T08:12:24Z"), None);
        for secs in [0, 1_335_514_344, -86_401, 951_782_400, 253_402_300_799] {
            assert_eq!(
                parse_datetime(&format_datetime(secs, None)),
                Some((secs, 0))
            );
        }
        assert_eq!(
            format_datetime(1_335_514_344, None),
            "2012-04-27T08:12:24+00:00"
        );
    }

    #[test]
    fn attribute_value_is_named_by_its_attribute_name() {
        let text = r#"<Attribute>
            <AttributeName type="TextString" value="Cryptographic   Usage Mask"/>
            <AttributeValue type="Integer" value="Encrypt   Decrypt"/>
        </Attribute>"#;
        let item = from_xml(text).unwrap();
        assert_eq!(item.children()[1].value, Value::Integer(12));
        let text = r#"<Attribute><AttributeName type="TextString" value="State"/>
            <AttributeValue type="Enumeration" value="PreActive"/></Attribute>"#;
        assert_eq!(
            from_xml(text).unwrap().children()[1].value,
            Value::Enumeration(1)
        );
    }

    #[test]
    fn unknown_tags_and_values_use_hex() {
        let item = Item::structure(
            0x540001,
            vec![
                Item::new(tag::OPERATION, Value::Enumeration(0x8000_0001)),
                Item::new(0x540002, Value::Integer(-5)),
            ],
        );
        let xml = to_xml(&item);
        assert!(xml.contains(r#"<TTLV tag="0x540001">"#), "{xml}");
        assert!(xml.contains(r#"value="0x80000001""#), "{xml}");
        assert_eq!(from_xml(&xml).unwrap(), item);
    }

    #[test]
    fn errors_name_the_path() {
        let err =
            from_xml(r#"<RequestMessage><BatchCount type="Integer" value="x"/></RequestMessage>"#)
                .unwrap_err();
        assert_eq!(
            err,
            TextCodecError::BadValue {
                path: "/RequestMessage/BatchCount".into(),
                item_type: "Integer",
                value: "x".into()
            }
        );
        assert!(matches!(
            from_xml("<Nope/>"),
            Err(TextCodecError::UnknownTag { .. })
        ));
        assert!(matches!(
            from_xml("<RequestMessage>"),
            Err(TextCodecError::Syntax(_))
        ));
    }

    #[test]
    fn mangled_documents_never_panic() {
        let text = r#"<KMIP><RequestMessage><RequestHeader><ProtocolVersion>
            <ProtocolVersionMajor type="Integer" value="2"/></ProtocolVersion>
            <TimeStamp type="DateTime" value="2012-04-27T08:12:24+00:00"/>
            <Attribute><AttributeName type="TextString" value="State"/>
            <AttributeValue type="Enumeration" value="Active"/></Attribute>
            <KeyMaterial type="ByteString" value="00ff"/><Modulus type="BigInteger" value="0001"/>
            </RequestHeader></RequestMessage></KMIP>"#;
        let bytes = text.as_bytes();
        let mut state = 0x2545_F491_4F6C_DD1Du64;
        let mut parsed = 0;
        for _ in 0..5_000 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let mut mangled = bytes.to_vec();
            let at = (state % mangled.len() as u64) as usize;
            match state % 3 {
                0 => mangled[at] = (state >> 24) as u8,
                1 => mangled.truncate(at),
                _ => mangled.insert(at, b"<>\"/ =xe\xc3"[((state >> 8) % 9) as usize]),
            }
            let Ok(mangled) = String::from_utf8(mangled) else {
                continue;
            };
            if let Ok(nodes) = parse_document(&mangled) {
                parsed += nodes.iter().filter(|n| node_to_item(n).is_ok()).count();
            }
        }
        assert!(parsed > 0);
    }

    /// Random trees of every type, with awkward text, survive TTLV → XML → TTLV and
    /// TTLV → JSON → TTLV.
    #[test]
    fn random_trees_round_trip_through_xml_and_json() {
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = move || {
            state ^= state >> 12;
            state ^= state << 25;
            state ^= state >> 27;
            state.wrapping_mul(0x2545_F491_4F6C_DD1D)
        };
        fn tree(next: &mut dyn FnMut() -> u64, depth: usize) -> Item {
            // Half known tags (named, with enum/mask tables), half unknown or vendor tags.
            let tag = match next() % 4 {
                0 => tag::ALL[(next() % tag::ALL.len() as u64) as usize].0,
                1 => 0x54_0000 | (next() % 16) as u32,
                _ => 0x42_0000 | (next() % 0x170) as u32,
            };
            let kind = if depth >= 4 {
                1 + next() % 10
            } else {
                next() % 11
            };
            let value = match kind {
                0 => Value::Structure((0..next() % 4).map(|_| tree(next, depth + 1)).collect()),
                1 => Value::Integer(next() as i32),
                2 => Value::LongInteger(next() as i64),
                3 => Value::BigInteger((0..8 * (1 + next() % 3)).map(|_| next() as u8).collect()),
                4 => Value::Enumeration(if next().is_multiple_of(2) {
                    (next() % 8) as u32
                } else {
                    next() as u32
                }),
                5 => Value::Boolean(next().is_multiple_of(2)),
                6 => {
                    let pool = [
                        'a', ' ', '<', '&', '"', '\'', '\t', '\n', 'é', '|', '$', '0',
                    ];
                    Value::TextString(
                        (0..next() % 12)
                            .map(|_| pool[(next() % pool.len() as u64) as usize])
                            .collect(),
                    )
                }
                7 => Value::ByteString((0..next() % 20).map(|_| next() as u8).collect()),
                8 => Value::DateTime((next() % 400_000_000_000) as i64 - 60_000_000_000),
                9 => Value::Interval(next() as u32),
                _ => Value::DateTimeExtended(next() as i64 >> 8),
            };
            Item::new(tag, value)
        }
        for round in 0..3_000 {
            let item = Item::structure(
                tag::REQUEST_MESSAGE,
                vec![tree(&mut next, 0), tree(&mut next, 0)],
            );
            let xml = to_xml(&item);
            assert_eq!(from_xml(&xml).unwrap(), item, "round {round}: {xml}");
            let json = crate::kmip::json::to_json_string(&item);
            assert_eq!(
                crate::kmip::json::from_json(&json).unwrap(),
                item,
                "round {round}: {json}"
            );
        }
    }
}
