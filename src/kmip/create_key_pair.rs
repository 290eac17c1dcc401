//! The Create Key Pair request and response payloads, typed, for KMIP 1.x and 2.x, each read
//! and written in one place.
//!
//! 1.x carries the attributes in Common / Private Key / Public Key Template-Attribute, 2.x in
//! Common / Private Key / Public Key Attributes; the engine sees three attribute lists either way.

use super::attribute::{self, Attribute, AttributeError};
use super::payload_fields::{self as field, PayloadError};
use super::tag;
use crate::ttlv::{Item, Value};

/// The three attribute groups of a Create Key Pair request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CreateKeyPairRequest {
    pub common: Vec<Attribute>,
    pub private: Vec<Attribute>,
    pub public: Vec<Attribute>,
}

/// The container tags of (common, private, public) in one protocol generation.
fn containers(v2: bool) -> [u32; 3] {
    if v2 {
        [
            tag::COMMON_ATTRIBUTES,
            tag::PRIVATE_KEY_ATTRIBUTES,
            tag::PUBLIC_KEY_ATTRIBUTES,
        ]
    } else {
        [
            tag::COMMON_TEMPLATE_ATTRIBUTE,
            tag::PRIVATE_KEY_TEMPLATE_ATTRIBUTE,
            tag::PUBLIC_KEY_TEMPLATE_ATTRIBUTE,
        ]
    }
}

impl CreateKeyPairRequest {
    /// Reads a Request Payload; `v2` picks the 2.x containers.
    pub fn read(payload: &Item, v2: bool) -> Result<CreateKeyPairRequest, AttributeError> {
        let group = |t: u32| match payload.child(t) {
            None => Ok(Vec::new()),
            Some(container) if v2 => attribute::parse_v2_list(container),
            Some(container) => attribute::parse_v1_list(container),
        };
        let [common, private, public] = containers(v2);
        Ok(CreateKeyPairRequest {
            common: group(common)?,
            private: group(private)?,
            public: group(public)?,
        })
    }

    /// The Request Payload; empty groups are left out.
    pub fn encode(&self, v2: bool) -> Item {
        let groups = [&self.common, &self.private, &self.public];
        let children = containers(v2)
            .into_iter()
            .zip(groups)
            .filter(|(_, attributes)| !attributes.is_empty())
            .map(|(t, attributes)| {
                let items = attributes
                    .iter()
                    .map(|a| {
                        if v2 {
                            attribute::encode_v2(a)
                        } else {
                            attribute::encode_v1(a, None)
                        }
                    })
                    .collect();
                Item::structure(t, items)
            })
            .collect();
        Item::structure(tag::REQUEST_PAYLOAD, children)
    }
}

/// What Create Key Pair answers: the two new objects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateKeyPairResponse {
    pub private_key_uid: String,
    pub public_key_uid: String,
}

impl CreateKeyPairResponse {
    pub fn read(payload: &Item) -> Option<CreateKeyPairResponse> {
        let text = |t| match payload.child(t) {
            Some(Item {
                value: Value::TextString(s),
                ..
            }) => Some(s.clone()),
            _ => None,
        };
        Some(CreateKeyPairResponse {
            private_key_uid: text(tag::PRIVATE_KEY_UNIQUE_IDENTIFIER)?,
            public_key_uid: text(tag::PUBLIC_KEY_UNIQUE_IDENTIFIER)?,
        })
    }

    /// The Response Payload's children.
    pub fn encode(&self) -> Vec<Item> {
        vec![
            Item::new(
                tag::PRIVATE_KEY_UNIQUE_IDENTIFIER,
                Value::TextString(self.private_key_uid.clone()),
            ),
            Item::new(
                tag::PUBLIC_KEY_UNIQUE_IDENTIFIER,
                Value::TextString(self.public_key_uid.clone()),
            ),
        ]
    }
}

/// Re-key Key Pair: the old pair's Private Key (absent: the ID Placeholder) and an optional
/// Offset of the new pair's activation. The attribute groups a client may add (shaped as in
/// Create Key Pair) are not read: the new pair takes the old pair's attributes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReKeyKeyPairRequest {
    pub private_key_unique_identifier: Option<String>,
    /// Seconds.
    pub offset: Option<u32>,
}

impl ReKeyKeyPairRequest {
    pub fn read(payload: &Item) -> Result<ReKeyKeyPairRequest, PayloadError> {
        Ok(ReKeyKeyPairRequest {
            private_key_unique_identifier: field::text(
                payload,
                tag::PRIVATE_KEY_UNIQUE_IDENTIFIER,
            )?,
            offset: field::interval(payload, tag::OFFSET)?,
        })
    }

    /// The Request Payload's children.
    pub fn encode(&self) -> Vec<Item> {
        let mut out = Vec::new();
        field::push(
            &mut out,
            tag::PRIVATE_KEY_UNIQUE_IDENTIFIER,
            &self.private_key_unique_identifier,
            |u| Value::TextString(u.clone()),
        );
        field::push(&mut out, tag::OFFSET, &self.offset, |o| Value::Interval(*o));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kmip::attribute::AttrKey;

    #[test]
    fn request_round_trips_in_both_generations() {
        let request = CreateKeyPairRequest {
            common: vec![Attribute {
                key: AttrKey::Standard(tag::CRYPTOGRAPHIC_ALGORITHM),
                value: Value::Enumeration(4),
            }],
            private: vec![Attribute {
                key: AttrKey::Standard(tag::CRYPTOGRAPHIC_USAGE_MASK),
                value: Value::Integer(1),
            }],
            public: Vec::new(),
        };
        for v2 in [false, true] {
            let payload = request.encode(v2);
            assert_eq!(
                CreateKeyPairRequest::read(&payload, v2),
                Ok(request.clone())
            );
        }
        let response = CreateKeyPairResponse {
            private_key_uid: "a".into(),
            public_key_uid: "b".into(),
        };
        let payload = Item::structure(tag::RESPONSE_PAYLOAD, response.encode());
        assert_eq!(CreateKeyPairResponse::read(&payload), Some(response));
    }
}
