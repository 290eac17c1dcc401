//! From the old server's answers to the object Keyward stores: the 1.x attribute list of a Get
//! Attributes and the managed object of a Get become one `ImportObject` (type, state, format,
//! attributes, material). The material stays in zeroizing buffers from the response onward.

use zeroize::Zeroizing;

use keyward::engine::import::ImportObject;
use keyward::kmip::attribute::{self, AttrKey, Attribute, AttributeError};
use keyward::kmip::enums::{KeyFormatType, ObjectType, State};
use keyward::kmip::tag;
use keyward::ttlv::{self, Item, Value};

/// What the source's answers describe.
#[derive(Debug)]
pub enum Converted {
    /// Ready to import; `unknown` names source attributes this build cannot read.
    Object {
        object: ImportObject,
        unknown: Vec<String>,
    },
    /// Destroyed on the source (no material): listed, not imported.
    Destroyed,
}

/// Why the answers cannot become an object (the object is reported, the run goes on).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConvertError {
    #[error("the source did not report the object's {0}")]
    Missing(&'static str),
    #[error(
        "the source returned the key wrapped (Key Wrapping Data); import needs it in the clear"
    )]
    Wrapped,
    #[error("{0}")]
    Unsupported(String),
}

/// The attributes listed in a 1.x Get Attributes response payload, and the names of those
/// this build does not know.
pub fn attributes_of(payload: &Item) -> (Vec<Attribute>, Vec<String>) {
    let mut known = Vec::new();
    let mut unknown = Vec::new();
    for item in payload.children_with(tag::ATTRIBUTE) {
        match attribute::parse_v1(item) {
            Ok((attribute, _index)) => known.push(attribute),
            Err(AttributeError::UnknownName(name)) => {
                if !unknown.contains(&name) {
                    unknown.push(name);
                }
            }
            Err(e) => unknown.push(format!("(unreadable attribute: {e})")),
        }
    }
    (known, unknown)
}

/// The object's State as the source reports it.
pub fn state_of(attributes: &[Attribute]) -> Option<State> {
    attributes.iter().find_map(|a| match (&a.key, &a.value) {
        (AttrKey::Standard(tag::STATE), Value::Enumeration(v)) => State::from_u32(*v),
        _ => None,
    })
}

fn enumeration(item: &Item, t: u32) -> Option<u32> {
    match item.child(t).map(|i| &i.value) {
        Some(Value::Enumeration(v)) => Some(*v),
        _ => None,
    }
}

fn bytes(item: &Item, t: u32) -> Option<Zeroizing<Vec<u8>>> {
    match item.child(t).map(|i| &i.value) {
        Some(Value::ByteString(b)) => Some(Zeroizing::new(b.clone())),
        _ => None,
    }
}

/// Transparent public and private key formats: their Key Material is a structure, which
/// Keyward keeps as its TTLV encoding (as on a Register).
fn is_transparent_asymmetric(format: u32) -> bool {
    (0x08..=0x15).contains(&format)
}

/// Format and material of a Key Block; algorithm and length join `attributes` when absent.
fn key_block(
    block: &Item,
    kind: ObjectType,
    attributes: &mut Vec<Attribute>,
) -> Result<(u32, Zeroizing<Vec<u8>>), ConvertError> {
    if block.child(tag::KEY_WRAPPING_DATA).is_some() {
        return Err(ConvertError::Wrapped);
    }
    let format =
        enumeration(block, tag::KEY_FORMAT_TYPE).ok_or(ConvertError::Missing("Key Format Type"))?;
    let material = block
        .child(tag::KEY_VALUE)
        .and_then(|v| v.child(tag::KEY_MATERIAL))
        .ok_or(ConvertError::Missing("Key Material"))?;
    let (format, material) = match (&material.value, kind) {
        (Value::ByteString(b), _) => (format, Zeroizing::new(b.clone())),
        (Value::Structure(_), ObjectType::SymmetricKey)
            if format == KeyFormatType::TransparentSymmetricKey.value() =>
        {
            let key = bytes(material, tag::KEY).ok_or(ConvertError::Missing("Key"))?;
            (KeyFormatType::Raw.value(), key)
        }
        (Value::Structure(_), ObjectType::PublicKey | ObjectType::PrivateKey)
            if is_transparent_asymmetric(format) =>
        {
            (format, Zeroizing::new(ttlv::encode(material)))
        }
        _ => {
            return Err(ConvertError::Unsupported(format!(
                "Key Material in Key Format Type {format} is not supported"
            )));
        }
    };
    for t in [tag::CRYPTOGRAPHIC_ALGORITHM, tag::CRYPTOGRAPHIC_LENGTH] {
        if let Some(v) = block.child(t)
            && !attributes.iter().any(|a| a.key == AttrKey::Standard(t))
        {
            attributes.push(Attribute {
                key: AttrKey::Standard(t),
                value: v.value.clone(),
            });
        }
    }
    Ok((format, material))
}

/// Builds the object from the Get Attributes payload and the Get payload of `uid`.
pub fn convert(
    uid: &str,
    attributes_payload: &Item,
    get_payload: &Item,
) -> Result<Converted, ConvertError> {
    let (mut attributes, unknown) = attributes_of(attributes_payload);
    let state = state_of(&attributes).ok_or(ConvertError::Missing("State"))?;
    if state.is_destroyed() {
        return Ok(Converted::Destroyed);
    }
    let object_type = enumeration(get_payload, tag::OBJECT_TYPE)
        .and_then(ObjectType::from_u32)
        .ok_or(ConvertError::Missing("Object Type"))?;
    let (key_format, data_type, material) =
        object_content(object_type, get_payload, &mut attributes)?;
    Ok(Converted::Object {
        object: ImportObject {
            uid: uid.to_string(),
            object_type,
            state,
            key_format,
            data_type,
            attributes,
            material,
        },
        unknown,
    })
}

/// Key format, data type (where the object type has one) and material.
type Content = (u32, Option<u32>, Zeroizing<Vec<u8>>);

/// The content of an object by its type: key format (or the format a certificate or opaque
/// object stands for), data type where the type has one, and the material. Key blocks may add
/// the attributes they carry to `attributes`.
fn object_content(
    object_type: ObjectType,
    get_payload: &Item,
    attributes: &mut Vec<Attribute>,
) -> Result<Content, ConvertError> {
    let content = match object_type {
        ObjectType::SymmetricKey | ObjectType::PublicKey | ObjectType::PrivateKey => {
            let wrapper = match object_type {
                ObjectType::SymmetricKey => tag::SYMMETRIC_KEY,
                ObjectType::PublicKey => tag::PUBLIC_KEY,
                _ => tag::PRIVATE_KEY,
            };
            let block = get_payload
                .child(wrapper)
                .and_then(|k| k.child(tag::KEY_BLOCK))
                .ok_or(ConvertError::Missing("Key Block"))?;
            let (format, material) = key_block(block, object_type, attributes)?;
            (format, None, material)
        }
        ObjectType::SecretData => {
            let secret = get_payload
                .child(tag::SECRET_DATA)
                .ok_or(ConvertError::Missing("Secret Data"))?;
            let block = secret
                .child(tag::KEY_BLOCK)
                .ok_or(ConvertError::Missing("Key Block"))?;
            let (format, material) = key_block(block, object_type, attributes)?;
            (format, enumeration(secret, tag::SECRET_DATA_TYPE), material)
        }
        ObjectType::Certificate => {
            let certificate = get_payload
                .child(tag::CERTIFICATE)
                .ok_or(ConvertError::Missing("Certificate"))?;
            let certificate_type = enumeration(certificate, tag::CERTIFICATE_TYPE)
                .ok_or(ConvertError::Missing("Certificate Type"))?;
            let value = bytes(certificate, tag::CERTIFICATE_VALUE)
                .ok_or(ConvertError::Missing("Certificate Value"))?;
            (KeyFormatType::X509.value(), Some(certificate_type), value)
        }
        ObjectType::OpaqueObject => {
            let opaque = get_payload
                .child(tag::OPAQUE_OBJECT)
                .ok_or(ConvertError::Missing("Opaque Object"))?;
            let value = bytes(opaque, tag::OPAQUE_DATA_VALUE)
                .ok_or(ConvertError::Missing("Opaque Data Value"))?;
            (
                KeyFormatType::Opaque.value(),
                enumeration(opaque, tag::OPAQUE_DATA_TYPE),
                value,
            )
        }
        other => {
            return Err(ConvertError::Unsupported(format!(
                "object type {other:?} is not supported by Keyward"
            )));
        }
    };
    Ok(content)
}

/// The key material of a Get response payload, whatever the object type (for `verify`).
pub fn material_of(uid: &str, get_payload: &Item) -> Result<Zeroizing<Vec<u8>>, ConvertError> {
    let state = Item::structure(
        tag::RESPONSE_PAYLOAD,
        vec![attribute::encode_v1(
            &Attribute {
                key: AttrKey::Standard(tag::STATE),
                value: Value::Enumeration(State::Active.value()),
            },
            None,
        )],
    );
    match convert(uid, &state, get_payload)? {
        Converted::Object { object, .. } => Ok(object.material),
        Converted::Destroyed => Err(ConvertError::Missing("Key Material")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v1(name: &str, value: Value) -> Item {
        attribute::encode_v1(
            &Attribute {
                key: AttrKey::from_v1_name(name).unwrap_or(AttrKey::Custom(name.into())),
                value,
            },
            None,
        )
    }

    fn get_payload(material: &[u8]) -> Item {
        Item::structure(
            tag::RESPONSE_PAYLOAD,
            vec![
                Item::new(tag::OBJECT_TYPE, Value::Enumeration(2)),
                Item::new(tag::UNIQUE_IDENTIFIER, Value::TextString("1".into())),
                Item::structure(
                    tag::SYMMETRIC_KEY,
                    vec![Item::structure(
                        tag::KEY_BLOCK,
                        vec![
                            Item::new(tag::KEY_FORMAT_TYPE, Value::Enumeration(1)),
                            Item::structure(
                                tag::KEY_VALUE,
                                vec![Item::new(
                                    tag::KEY_MATERIAL,
                                    Value::ByteString(material.to_vec()),
                                )],
                            ),
                            Item::new(tag::CRYPTOGRAPHIC_ALGORITHM, Value::Enumeration(3)),
                            Item::new(tag::CRYPTOGRAPHIC_LENGTH, Value::Integer(256)),
                        ],
                    )],
                ),
            ],
        )
    }

    #[test]
    fn a_vcenter_key_keeps_state_custom_attributes_and_block_algorithm() {
        let attributes = Item::structure(
            tag::RESPONSE_PAYLOAD,
            vec![
                Item::new(tag::UNIQUE_IDENTIFIER, Value::TextString("1".into())),
                v1("State", Value::Enumeration(2)),
                v1("x-Name", Value::TextString("vm-01".into())),
                v1("Vendor Thing", Value::Integer(1)),
            ],
        );
        let Converted::Object { object, unknown } =
            convert("1", &attributes, &get_payload(&[9; 32])).unwrap()
        else {
            panic!("destroyed?")
        };
        assert_eq!(object.state, State::Active);
        assert_eq!(&object.material[..], &[9; 32]);
        assert_eq!(unknown, vec!["Vendor Thing".to_string()]);
        assert!(
            object
                .attributes
                .iter()
                .any(|a| a.key == AttrKey::Custom("x-Name".into()))
        );
        assert!(
            object
                .attributes
                .iter()
                .any(|a| a.key == AttrKey::Standard(tag::CRYPTOGRAPHIC_LENGTH))
        );
        assert_eq!(
            &material_of("1", &get_payload(&[9; 32])).unwrap()[..],
            &[9; 32]
        );
    }

    #[test]
    fn destroyed_wrapped_and_stateless_objects_are_told_apart() {
        let destroyed = Item::structure(
            tag::RESPONSE_PAYLOAD,
            vec![v1("State", Value::Enumeration(5))],
        );
        let empty = Item::structure(tag::RESPONSE_PAYLOAD, vec![]);
        assert!(matches!(
            convert("1", &destroyed, &empty),
            Ok(Converted::Destroyed)
        ));
        assert_eq!(
            convert("1", &empty, &empty).unwrap_err(),
            ConvertError::Missing("State")
        );
    }
}
