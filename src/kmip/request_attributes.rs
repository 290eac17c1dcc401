//! The attributes a request gives a new object (Create, Register, Re-key) or a search (Locate),
//! in the two shapes KMIP has for them, read and written in one place.
//!
//! Why its own type: 1.x sends Template-Attribute structures (attributes plus the Names of
//! stored Templates whose attributes apply) and, in Locate, bare Attribute items; 2.x sends one
//! Attributes structure. The engine resolves Template names against the store; everything else
//! about the wire shape stays here.

use super::attribute::{self, Attribute, AttributeError};
use super::codec::is_v2;
use super::message::ProtocolVersion;
use super::tag;
use crate::ttlv::{Item, Value};

/// One 1.x Template-Attribute (in 2.x: the Attributes structure, which names no Template).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TemplateAttribute {
    /// Values of the Name items naming stored 1.x Templates whose attributes apply.
    pub template_names: Vec<Value>,
    pub attributes: Vec<Attribute>,
}

/// Every attribute group of a request payload.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestAttributes {
    /// 1.x: one per Template-Attribute, in order; 2.x: at most one, for the Attributes structure.
    pub templates: Vec<TemplateAttribute>,
    /// 1.x Attribute items straight in the payload (Locate's filters).
    pub loose: Vec<Attribute>,
}

impl RequestAttributes {
    /// Attributes without Template names: one Template-Attribute (1.x) / Attributes (2.x).
    pub fn of(attributes: Vec<Attribute>) -> RequestAttributes {
        RequestAttributes {
            templates: vec![TemplateAttribute {
                template_names: Vec::new(),
                attributes,
            }],
            loose: Vec::new(),
        }
    }

    /// Reads the groups out of a request payload.
    pub fn read(payload: &Item, version: ProtocolVersion) -> Result<Self, AttributeError> {
        if is_v2(version) {
            let templates = match payload.child(tag::ATTRIBUTES) {
                Some(container) => vec![TemplateAttribute {
                    template_names: Vec::new(),
                    attributes: attribute::parse_v2_list(container)?,
                }],
                None => Vec::new(),
            };
            return Ok(RequestAttributes {
                templates,
                loose: Vec::new(),
            });
        }
        let templates = payload
            .children_with(tag::TEMPLATE_ATTRIBUTE)
            .map(|container| {
                Ok(TemplateAttribute {
                    template_names: container
                        .children_with(tag::NAME)
                        .map(|n| n.value.clone())
                        .collect(),
                    attributes: attribute::parse_v1_list(container)?,
                })
            })
            .collect::<Result<_, AttributeError>>()?;
        Ok(RequestAttributes {
            templates,
            loose: attribute::parse_v1_list(payload)?,
        })
    }

    /// The payload children that carry the groups. 2.x has one Attributes structure, so the
    /// groups are merged into it (and Template names, which 2.x lacks, are left out).
    pub fn encode(&self, version: ProtocolVersion) -> Vec<Item> {
        if is_v2(version) {
            if self.templates.is_empty() && self.loose.is_empty() {
                return Vec::new();
            }
            let all = self
                .templates
                .iter()
                .flat_map(|t| &t.attributes)
                .chain(&self.loose)
                .map(attribute::encode_v2)
                .collect();
            return vec![Item::structure(tag::ATTRIBUTES, all)];
        }
        let mut out: Vec<Item> = self
            .templates
            .iter()
            .map(|t| {
                let mut children: Vec<Item> = t
                    .template_names
                    .iter()
                    .map(|n| Item::new(tag::NAME, n.clone()))
                    .collect();
                children.extend(t.attributes.iter().map(|a| attribute::encode_v1(a, None)));
                Item::structure(tag::TEMPLATE_ATTRIBUTE, children)
            })
            .collect();
        out.extend(self.loose.iter().map(|a| attribute::encode_v1(a, None)));
        out
    }

    /// Every attribute given explicitly (Template names not resolved), in wire order.
    pub fn explicit(&self) -> impl Iterator<Item = &Attribute> {
        self.templates
            .iter()
            .flat_map(|t| &t.attributes)
            .chain(&self.loose)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kmip::attribute::AttrKey;
    use crate::kmip::codec::testing::{V1_0, V1_4, V2_1};

    fn attr(t: u32, v: Value) -> Attribute {
        Attribute {
            key: AttrKey::Standard(t),
            value: v,
        }
    }

    #[test]
    fn both_generations_round_trip() {
        let v1 = RequestAttributes {
            templates: vec![TemplateAttribute {
                template_names: vec![Value::Structure(vec![
                    Item::new(tag::NAME_VALUE, Value::TextString("tpl".into())),
                    Item::new(tag::NAME_TYPE, Value::Enumeration(1)),
                ])],
                attributes: vec![attr(tag::CRYPTOGRAPHIC_LENGTH, Value::Integer(256))],
            }],
            loose: vec![attr(tag::STATE, Value::Enumeration(1))],
        };
        for version in [V1_0, V1_4] {
            let payload = Item::structure(tag::REQUEST_PAYLOAD, v1.encode(version));
            assert_eq!(RequestAttributes::read(&payload, version), Ok(v1.clone()));
        }
        let v2 = RequestAttributes::of(vec![
            attr(tag::CRYPTOGRAPHIC_LENGTH, Value::Integer(256)),
            Attribute {
                key: AttrKey::Custom("x-a".into()),
                value: Value::TextString("b".into()),
            },
        ]);
        let payload = Item::structure(tag::REQUEST_PAYLOAD, v2.encode(V2_1));
        assert_eq!(RequestAttributes::read(&payload, V2_1), Ok(v2));
        let empty = Item::structure(tag::REQUEST_PAYLOAD, vec![]);
        assert_eq!(
            RequestAttributes::read(&empty, V2_1),
            Ok(RequestAttributes::default())
        );
    }
}
