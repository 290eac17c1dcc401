//! The Key Wrapping Specification of a Get request (how the client wants the key wrapped),
//! typed.
//!
//! Why its own file: it is a structure of its own inside Get's payload, with a nested Key
//! Information (wrapping key and Cryptographic Parameters) for the encryption key and one for a
//! MAC/signature key. Reading it here leaves the engine's wrapping code only the policy: which
//! methods and encodings are offered, and whether the wrapping key may be used.

use super::codec::Codec;
use super::crypto_parameters::CryptographicParameters;
use super::message::ProtocolVersion;
use super::payload_fields::{self as field, PayloadError};
use super::tag;
use crate::ttlv::{Item, Value};

/// Encryption Key Information or MAC/Signature Key Information: a key and how to use it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyInformation {
    pub unique_identifier: Option<String>,
    pub cryptographic_parameters: Option<CryptographicParameters>,
}

impl KeyInformation {
    fn read(item: &Item) -> Result<KeyInformation, PayloadError> {
        Ok(KeyInformation {
            unique_identifier: field::text(item, tag::UNIQUE_IDENTIFIER)?,
            cryptographic_parameters: item
                .child(tag::CRYPTOGRAPHIC_PARAMETERS)
                .map(CryptographicParameters::read)
                .transpose()?,
        })
    }

    /// The structure under `t` (Encryption Key Information, MAC/Signature Key Information).
    pub fn encode(&self, t: u32) -> Item {
        let mut out = Vec::new();
        field::push(
            &mut out,
            tag::UNIQUE_IDENTIFIER,
            &self.unique_identifier,
            |u| Value::TextString(u.clone()),
        );
        out.extend(
            self.cryptographic_parameters
                .as_ref()
                .map(CryptographicParameters::encode),
        );
        Item::structure(t, out)
    }
}

/// Key Wrapping Specification.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyWrappingSpecification {
    pub wrapping_method: u32,
    pub encryption_key_information: Option<KeyInformation>,
    pub mac_signature_key_information: Option<KeyInformation>,
    /// Attributes to wrap together with the key (Attribute Name values).
    pub attribute_names: Vec<String>,
    pub encoding_option: Option<u32>,
}

impl Codec for KeyWrappingSpecification {
    fn read(item: &Item, _: ProtocolVersion) -> Result<Self, PayloadError> {
        let info = |t| item.child(t).map(KeyInformation::read).transpose();
        Ok(KeyWrappingSpecification {
            wrapping_method: field::enumeration(item, tag::WRAPPING_METHOD)?
                .ok_or(PayloadError::Missing("Wrapping Method"))?,
            encryption_key_information: info(tag::ENCRYPTION_KEY_INFORMATION)?,
            mac_signature_key_information: info(tag::MAC_SIGNATURE_KEY_INFORMATION)?,
            attribute_names: item
                .children_with(tag::ATTRIBUTE_NAME)
                .map(|n| match &n.value {
                    Value::TextString(s) => Ok(s.clone()),
                    _ => Err(PayloadError::WrongType("Attribute Name")),
                })
                .collect::<Result<_, _>>()?,
            encoding_option: field::enumeration(item, tag::ENCODING_OPTION)?,
        })
    }

    fn encode(&self, _: ProtocolVersion) -> Item {
        let mut out = vec![Item::new(
            tag::WRAPPING_METHOD,
            Value::Enumeration(self.wrapping_method),
        )];
        if let Some(info) = &self.encryption_key_information {
            out.push(info.encode(tag::ENCRYPTION_KEY_INFORMATION));
        }
        if let Some(info) = &self.mac_signature_key_information {
            out.push(info.encode(tag::MAC_SIGNATURE_KEY_INFORMATION));
        }
        out.extend(
            self.attribute_names
                .iter()
                .map(|n| Item::new(tag::ATTRIBUTE_NAME, Value::TextString(n.clone()))),
        );
        field::push(&mut out, tag::ENCODING_OPTION, &self.encoding_option, |e| {
            Value::Enumeration(*e)
        });
        Item::structure(tag::KEY_WRAPPING_SPECIFICATION, out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kmip::codec::testing::{ALL, round_trips};

    fn spec() -> KeyWrappingSpecification {
        KeyWrappingSpecification {
            wrapping_method: 1,
            encryption_key_information: Some(KeyInformation {
                unique_identifier: Some("kek".into()),
                cryptographic_parameters: Some(CryptographicParameters {
                    padding_method: Some(2),
                    hashing_algorithm: Some(6),
                    mask_generator_hashing_algorithm: Some(4),
                    ..Default::default()
                }),
            }),
            mac_signature_key_information: None,
            attribute_names: vec!["Name".into()],
            encoding_option: Some(1),
        }
    }

    #[test]
    fn round_trips_in_every_version() {
        for v in ALL {
            round_trips(&spec(), v);
            round_trips(
                &KeyWrappingSpecification {
                    wrapping_method: 2,
                    mac_signature_key_information: Some(KeyInformation::default()),
                    ..Default::default()
                },
                v,
            );
        }
    }

    #[test]
    fn wrong_shapes_name_the_field() {
        let v = ALL[0];
        let no_method = Item::structure(tag::KEY_WRAPPING_SPECIFICATION, vec![]);
        assert_eq!(
            KeyWrappingSpecification::read(&no_method, v),
            Err(PayloadError::Missing("Wrapping Method"))
        );
        let mut bad_uid = spec().encode(v);
        if let Value::Structure(children) = &mut bad_uid.value
            && let Some(Value::Structure(info)) = children.get_mut(1).map(|i| &mut i.value)
        {
            info[0].value = Value::Integer(3);
        }
        assert!(matches!(
            KeyWrappingSpecification::read(&bad_uid, v),
            Err(PayloadError::WrongType(_))
        ));
    }
}
