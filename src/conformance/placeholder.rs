//! Placeholders in vector files and the values they are bound to during one conversation.
//!
//! - `$UNIQUE_IDENTIFIER_n`, `$SHORT_UNIQUE_IDENTIFIER_n`: bound the first time an expected
//!   response holds them (to what the server actually returned there), then substituted.
//! - `$NOW`, `$NOW-3600`, `$NOW+60`: the local clock, offset in seconds.
//! - `$SIGNATURE_DATA`, `$MAC_DATA`, `$DATA_0`, `$IV_COUNTER_NONCE`, ... (a byte-string field's
//!   name, optionally `_n`): a value only the server can produce (a randomized signature, a
//!   random IV), bound the first time an expected response holds it, then sent back verbatim.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{SystemTime, UNIX_EPOCH};

use super::ConformanceError;
use crate::kmip::xml::{XmlNode, format_datetime, parse_datetime};

/// What one conversation has learnt so far.
#[derive(Debug, Clone, Default)]
pub struct Bindings {
    unique_ids: BTreeMap<u32, String>,
    /// Hex text, as the encoding writes byte strings.
    short_unique_ids: BTreeMap<u32, String>,
    /// Byte strings the client itself sent (hex): echoed material is compared literally.
    pub(crate) client_bytes: BTreeSet<String>,
    /// Literal dates the client sent (seconds): echoed dates are compared literally.
    pub(crate) client_dates: BTreeSet<i64>,
    /// Fixed clock for tests; `None` reads the system clock.
    pub clock: Option<i64>,
    /// Named byte-string placeholders (`$SIGNATURE_DATA`, ...) and their hex values.
    named: BTreeMap<String, String>,
    /// Named placeholders bound only from a value the vector wrote literally (see the player's
    /// echoed fields): a later expected response naming them meets a fresh server value.
    echoed: BTreeSet<String>,
    /// Keys this conversation had the server generate (Create): what is encrypted or decrypted
    /// under them cannot match the vector's literal bytes, only their length.
    pub(crate) generated_keys: BTreeSet<String>,
    /// Public keys this conversation registered: RSA encryption under them is randomized.
    pub(crate) public_keys: BTreeSet<String>,
    /// Set while the current exchange's response Data is unpredictable (RNG Retrieve, or
    /// Encrypt/Decrypt under a key above): it is compared by length.
    pub(crate) unpredictable_data: bool,
}

/// Byte-string fields that may appear as named placeholders.
const NAMED_FIELDS: &[&str] = &[
    "SIGNATURE_DATA",
    "MAC_DATA",
    "DATA",
    "IV_COUNTER_NONCE",
    "CORRELATION_VALUE",
    "AUTHENTICATED_ENCRYPTION_TAG",
];

/// A parsed placeholder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Placeholder {
    UniqueId(u32),
    ShortUniqueId(u32),
    Now(i64),
    /// A server-produced byte string, by its placeholder name (without `$`).
    Named(String),
}

impl Placeholder {
    pub(crate) fn parse(text: &str) -> Option<Placeholder> {
        let name = text.trim().strip_prefix('$')?;
        if let Some(n) = name.strip_prefix("UNIQUE_IDENTIFIER_") {
            return n.parse().ok().map(Placeholder::UniqueId);
        }
        if let Some(n) = name.strip_prefix("SHORT_UNIQUE_IDENTIFIER_") {
            return n.parse().ok().map(Placeholder::ShortUniqueId);
        }
        let field = match name.rsplit_once('_') {
            Some((field, n)) if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) => field,
            _ => name,
        };
        if NAMED_FIELDS.contains(&field) {
            return Some(Placeholder::Named(name.to_string()));
        }
        let offset = name.strip_prefix("NOW")?;
        if offset.is_empty() {
            return Some(Placeholder::Now(0));
        }
        let (sign, digits) = match offset.as_bytes()[0] {
            b'-' => (-1, &offset[1..]),
            b'+' => (1, &offset[1..]),
            _ => return None,
        };
        digits
            .trim()
            .parse::<i64>()
            .ok()
            .map(|s| Placeholder::Now(sign * s))
    }
}

impl Bindings {
    /// Bindings whose `$NOW` is fixed (tests, replays of recorded conversations).
    pub fn with_clock(now: i64) -> Bindings {
        Bindings {
            clock: Some(now),
            ..Bindings::default()
        }
    }

    pub fn now(&self) -> i64 {
        self.clock.unwrap_or_else(|| {
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs() as i64)
        })
    }

    pub fn unique_id(&self, n: u32) -> Option<&str> {
        self.unique_ids.get(&n).map(String::as_str)
    }

    pub(crate) fn bind_unique_id(&mut self, n: u32, value: &str) {
        self.unique_ids.insert(n, value.to_owned());
    }

    /// The hex value a named placeholder is bound to.
    pub(crate) fn named(&self, name: &str) -> Option<&str> {
        self.named.get(name).map(String::as_str)
    }

    pub(crate) fn bind_named(&mut self, name: &str, hex: &str) {
        self.echoed.remove(name);
        self.named.insert(name.to_owned(), hex.to_owned());
    }

    /// Binds a named placeholder from a literal value in a matched response, softly: the first
    /// expected response that names the placeholder rebinds it to what the server sent.
    pub(crate) fn bind_echoed(&mut self, name: &str, hex: &str) {
        self.named.insert(name.to_owned(), hex.to_owned());
        self.echoed.insert(name.to_owned());
    }

    pub(crate) fn is_echoed(&self, name: &str) -> bool {
        self.echoed.contains(name)
    }

    pub(crate) fn short_unique_id(&self, n: u32) -> Option<&str> {
        self.short_unique_ids.get(&n).map(String::as_str)
    }

    pub(crate) fn bind_short_unique_id(&mut self, n: u32, hex: &str) {
        self.short_unique_ids.insert(n, hex.to_owned());
    }

    /// Replaces every placeholder in a request, and remembers the byte strings and dates it
    /// carries.
    pub fn resolve_request(&mut self, node: &mut XmlNode) -> Result<(), ConformanceError> {
        let mut failure = None;
        let now = self.now();
        node.walk_mut(&mut |n| {
            let Some(raw) = n.value.as_deref() else {
                return;
            };
            let resolved = match Placeholder::parse(raw) {
                None => None,
                Some(Placeholder::Now(offset)) => Some(format_datetime(now + offset, None)),
                Some(Placeholder::UniqueId(i)) => self.unique_id(i).map(str::to_owned),
                Some(Placeholder::ShortUniqueId(i)) => self.short_unique_id(i).map(str::to_owned),
                Some(Placeholder::Named(name)) => self.named(&name).map(str::to_owned),
            };
            match (resolved, Placeholder::parse(raw)) {
                (Some(v), _) => n.value = Some(v),
                (None, Some(_)) => failure = Some(raw.trim().to_owned()),
                (None, None) => {}
            }
            if n.item_type.as_deref() == Some("ByteString")
                && let Some(v) = &n.value
            {
                self.client_bytes.insert(v.trim().to_ascii_lowercase());
            }
            if n.item_type.as_deref() == Some("DateTime")
                && let Some((secs, _)) = n.value.as_deref().and_then(parse_datetime)
            {
                self.client_dates.insert(secs);
            }
        });
        match failure {
            Some(name) => Err(ConformanceError::Unbound { name }),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_placeholders() {
        assert_eq!(
            Placeholder::parse("$UNIQUE_IDENTIFIER_2"),
            Some(Placeholder::UniqueId(2))
        );
        assert_eq!(
            Placeholder::parse("$SHORT_UNIQUE_IDENTIFIER_0"),
            Some(Placeholder::ShortUniqueId(0))
        );
        assert_eq!(Placeholder::parse("$NOW"), Some(Placeholder::Now(0)));
        assert_eq!(
            Placeholder::parse("$NOW-3600"),
            Some(Placeholder::Now(-3600))
        );
        assert_eq!(Placeholder::parse("$NOW+60"), Some(Placeholder::Now(60)));
        assert_eq!(Placeholder::parse("NOW"), None);
        assert_eq!(Placeholder::parse("$LATER"), None);
        assert_eq!(
            Placeholder::parse("$SIGNATURE_DATA"),
            Some(Placeholder::Named("SIGNATURE_DATA".into()))
        );
        assert_eq!(
            Placeholder::parse("$DATA_25"),
            Some(Placeholder::Named("DATA_25".into()))
        );
        assert_eq!(Placeholder::parse("$DATAX"), None);
    }

    #[test]
    fn resolves_request_values_and_refuses_unbound_ones() {
        let mut bindings = Bindings::with_clock(1_335_514_344);
        let mut node = XmlNode {
            tag: "X".into(),
            children: vec![
                XmlNode {
                    tag: "A".into(),
                    item_type: Some("DateTime".into()),
                    value: Some("$NOW-3600".into()),
                    children: vec![],
                },
                XmlNode {
                    tag: "B".into(),
                    item_type: Some("TextString".into()),
                    value: Some("$UNIQUE_IDENTIFIER_0".into()),
                    children: vec![],
                },
            ],
            ..XmlNode::default()
        };
        let mut unbound = node.clone();
        assert!(matches!(
            bindings.resolve_request(&mut unbound),
            Err(ConformanceError::Unbound { .. })
        ));
        bindings.bind_unique_id(0, "uid-7");
        bindings.resolve_request(&mut node).unwrap();
        assert_eq!(
            node.children[0].value.as_deref(),
            Some("2012-04-27T07:12:24+00:00")
        );
        assert_eq!(node.children[1].value.as_deref(), Some("uid-7"));
    }
}
