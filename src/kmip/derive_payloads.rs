//! The Derive Key request: which objects to derive from, by which method, with which
//! Derivation Parameters, and the new object's attributes (as in Create: Template-Attribute in
//! 1.x, Attributes in 2.x); and its answer, the new object's Unique Identifier.

use zeroize::Zeroizing;

use crate::ttlv::{Item, Value};

use super::codec::{Codec, RequestPayload, ResponsePayload, request_payload, response_payload};
use super::crypto_parameters::CryptographicParameters;
use super::enums::Operation;
use super::message::ProtocolVersion;
use super::payload_fields::{self as field, PayloadError};
use super::request_attributes::RequestAttributes;
use super::tag;

/// Derivation Method values (KMIP 2.1).
pub mod derivation_method {
    pub const PBKDF2: u32 = 0x01;
    pub const HASH: u32 = 0x02;
    pub const HMAC: u32 = 0x03;
    pub const ENCRYPT: u32 = 0x04;
    pub const NIST800_108_C: u32 = 0x05;
    pub const HKDF: u32 = 0x0A;
}

/// Derivation Parameters.
#[derive(Default)]
pub struct DerivationParameters {
    pub cryptographic_parameters: Option<CryptographicParameters>,
    pub initialization_vector: Option<Vec<u8>>,
    /// Input data of the method (the fixed input, the info, the data to encrypt); may be secret.
    pub derivation_data: Option<Zeroizing<Vec<u8>>>,
    pub salt: Option<Vec<u8>>,
    pub iteration_count: Option<i32>,
}

impl DerivationParameters {
    pub fn read(item: &Item) -> Result<DerivationParameters, PayloadError> {
        let cryptographic_parameters = match item.child(tag::CRYPTOGRAPHIC_PARAMETERS) {
            Some(p) => Some(CryptographicParameters::read(p)?),
            None => None,
        };
        Ok(DerivationParameters {
            cryptographic_parameters,
            initialization_vector: field::bytes(item, tag::INITIALIZATION_VECTOR)?,
            derivation_data: field::bytes(item, tag::DERIVATION_DATA)?.map(Zeroizing::new),
            salt: field::bytes(item, tag::SALT)?,
            iteration_count: field::integer(item, tag::ITERATION_COUNT)?,
        })
    }

    pub fn encode(&self) -> Item {
        let mut out = Vec::new();
        if let Some(p) = &self.cryptographic_parameters {
            out.push(p.encode());
        }
        let b = |v: &Vec<u8>| Value::ByteString(v.clone());
        field::push(
            &mut out,
            tag::INITIALIZATION_VECTOR,
            &self.initialization_vector,
            b,
        );
        field::push(&mut out, tag::DERIVATION_DATA, &self.derivation_data, |d| {
            Value::ByteString(d.to_vec())
        });
        field::push(&mut out, tag::SALT, &self.salt, b);
        field::push(&mut out, tag::ITERATION_COUNT, &self.iteration_count, |v| {
            Value::Integer(*v)
        });
        Item::structure(tag::DERIVATION_PARAMETERS, out)
    }
}

impl Codec for DerivationParameters {
    fn read(item: &Item, _: ProtocolVersion) -> Result<Self, PayloadError> {
        DerivationParameters::read(item)
    }
    fn encode(&self, _: ProtocolVersion) -> Item {
        DerivationParameters::encode(self)
    }
}

/// Derive Key request.
pub struct DeriveKeyRequest {
    pub object_type: u32,
    /// The base object(s); the methods Keyward offers use exactly one.
    pub unique_identifiers: Vec<String>,
    pub derivation_method: u32,
    pub derivation_parameters: DerivationParameters,
    /// The new object's attributes (1.x Templates are resolved by the engine).
    pub attributes: RequestAttributes,
}

impl Codec for DeriveKeyRequest {
    fn read(payload: &Item, version: ProtocolVersion) -> Result<Self, PayloadError> {
        let unique_identifiers = payload
            .children_with(tag::UNIQUE_IDENTIFIER)
            .map(|u| match &u.value {
                Value::TextString(s) => Ok(s.clone()),
                _ => Err(PayloadError::WrongType("UniqueIdentifier")),
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(DeriveKeyRequest {
            object_type: field::enumeration(payload, tag::OBJECT_TYPE)?
                .ok_or(PayloadError::Missing("ObjectType"))?,
            unique_identifiers,
            derivation_method: field::enumeration(payload, tag::DERIVATION_METHOD)?
                .ok_or(PayloadError::Missing("DerivationMethod"))?,
            derivation_parameters: DerivationParameters::read(
                payload
                    .child(tag::DERIVATION_PARAMETERS)
                    .ok_or(PayloadError::Missing("DerivationParameters"))?,
            )?,
            attributes: RequestAttributes::read(payload, version)?,
        })
    }

    fn encode(&self, version: ProtocolVersion) -> Item {
        let mut out = vec![Item::new(
            tag::OBJECT_TYPE,
            Value::Enumeration(self.object_type),
        )];
        out.extend(
            self.unique_identifiers
                .iter()
                .map(|u| Item::new(tag::UNIQUE_IDENTIFIER, Value::TextString(u.clone()))),
        );
        out.push(Item::new(
            tag::DERIVATION_METHOD,
            Value::Enumeration(self.derivation_method),
        ));
        out.push(self.derivation_parameters.encode());
        out.extend(self.attributes.encode(version));
        request_payload(out)
    }
}
impl RequestPayload for DeriveKeyRequest {
    const OPERATION: Operation = Operation::DeriveKey;
}

/// Derive Key's answer: the new object's Unique Identifier.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeriveKeyResponse {
    pub unique_identifier: String,
}

impl Codec for DeriveKeyResponse {
    fn read(item: &Item, _: ProtocolVersion) -> Result<Self, PayloadError> {
        Ok(DeriveKeyResponse {
            unique_identifier: field::uid(item)
                .ok_or(PayloadError::Missing("Unique Identifier"))?,
        })
    }
    fn encode(&self, _: ProtocolVersion) -> Item {
        response_payload(vec![Item::new(
            tag::UNIQUE_IDENTIFIER,
            Value::TextString(self.unique_identifier.clone()),
        )])
    }
}
impl ResponsePayload for DeriveKeyResponse {
    const OPERATION: Operation = Operation::DeriveKey;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kmip::attribute::{AttrKey, Attribute};
    use crate::kmip::codec::testing::{ALL, re_encodes, round_trips};

    #[test]
    fn round_trip_in_every_version_and_required_fields() {
        let request = DeriveKeyRequest {
            object_type: 2,
            unique_identifiers: vec!["base".into()],
            derivation_method: derivation_method::PBKDF2,
            derivation_parameters: DerivationParameters {
                initialization_vector: Some(vec![7; 16]),
                salt: Some(b"salt".to_vec()),
                iteration_count: Some(4096),
                ..Default::default()
            },
            attributes: RequestAttributes::of(vec![Attribute {
                key: AttrKey::Standard(tag::CRYPTOGRAPHIC_LENGTH),
                value: Value::Integer(256),
            }]),
        };
        for v in ALL {
            re_encodes(&request, v);
            let back = DeriveKeyRequest::read(&request.encode(v), v).unwrap();
            assert_eq!(back.attributes, request.attributes, "{v:?}");
            assert_eq!(
                back.derivation_parameters.initialization_vector,
                Some(vec![7; 16])
            );
            round_trips(
                &DeriveKeyResponse {
                    unique_identifier: "new".into(),
                },
                v,
            );
        }
        let missing = request_payload(vec![]);
        assert!(matches!(
            DeriveKeyRequest::read(&missing, ALL[0]),
            Err(PayloadError::Missing("ObjectType"))
        ));
    }
}
