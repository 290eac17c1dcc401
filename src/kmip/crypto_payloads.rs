//! Request and response payloads of the cryptographic-service operations: Encrypt, Decrypt,
//! Sign, Signature Verify, MAC, MAC Verify, Hash (one shape: a key, parameters, data, and the
//! multi-part fields), RNG Retrieve and RNG Seed.
//!
//! Why one request type for seven operations: KMIP 1.2–2.1 give them the same fields in the same
//! order (Unique Identifier, Cryptographic Parameters, Data, the operation's own extra input,
//! Correlation Value, Init/Final Indicator); one `read` keeps that order in one place, and each
//! operation checks which fields it requires. Byte fields are `Zeroizing`: they carry plaintext.

use zeroize::Zeroizing;

use crate::ttlv::{Item, Value};

use super::crypto_parameters::CryptographicParameters;
use super::payload_fields::{self as field, PayloadError};
use super::tag;

/// The request payload of Encrypt, Decrypt, Sign, Signature Verify, MAC, MAC Verify and Hash.
#[derive(Default)]
pub struct DataRequest {
    pub unique_identifier: Option<String>,
    pub parameters: Option<CryptographicParameters>,
    pub data: Option<Zeroizing<Vec<u8>>>,
    /// Sign / Signature Verify: a digest computed by the client instead of Data.
    pub digested_data: Option<Vec<u8>>,
    /// Signature Verify.
    pub signature_data: Option<Vec<u8>>,
    /// MAC Verify.
    pub mac_data: Option<Vec<u8>>,
    pub iv_counter_nonce: Option<Vec<u8>>,
    pub correlation_value: Option<Vec<u8>>,
    pub init_indicator: Option<bool>,
    pub final_indicator: Option<bool>,
    pub authenticated_encryption_additional_data: Option<Vec<u8>>,
    pub authenticated_encryption_tag: Option<Vec<u8>>,
}

impl std::fmt::Debug for DataRequest {
    /// Lengths only: Data is the client's plaintext or ciphertext.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DataRequest")
            .field("unique_identifier", &self.unique_identifier)
            .field("parameters", &self.parameters)
            .field("data_len", &self.data.as_ref().map(|d| d.len()))
            .field("init_indicator", &self.init_indicator)
            .field("final_indicator", &self.final_indicator)
            .finish_non_exhaustive()
    }
}

impl DataRequest {
    pub fn read(payload: &Item) -> Result<DataRequest, PayloadError> {
        let parameters = match payload.child(tag::CRYPTOGRAPHIC_PARAMETERS) {
            Some(item) => Some(CryptographicParameters::read(item)?),
            None => None,
        };
        Ok(DataRequest {
            unique_identifier: field::text(payload, tag::UNIQUE_IDENTIFIER)?,
            parameters,
            data: field::bytes(payload, tag::DATA)?.map(Zeroizing::new),
            digested_data: field::bytes(payload, tag::DIGESTED_DATA)?,
            signature_data: field::bytes(payload, tag::SIGNATURE_DATA)?,
            mac_data: field::bytes(payload, tag::MAC_DATA)?,
            iv_counter_nonce: field::bytes(payload, tag::IV_COUNTER_NONCE)?,
            correlation_value: field::bytes(payload, tag::CORRELATION_VALUE)?,
            init_indicator: field::boolean(payload, tag::INIT_INDICATOR)?,
            final_indicator: field::boolean(payload, tag::FINAL_INDICATOR)?,
            authenticated_encryption_additional_data: field::bytes(
                payload,
                tag::AUTHENTICATED_ENCRYPTION_ADDITIONAL_DATA,
            )?,
            authenticated_encryption_tag: field::bytes(payload, tag::AUTHENTICATED_ENCRYPTION_TAG)?,
        })
    }

    /// The request as payload children (for clients and tests).
    pub fn encode(&self) -> Vec<Item> {
        let mut out = Vec::new();
        let b = |v: &Vec<u8>| Value::ByteString(v.clone());
        field::push(
            &mut out,
            tag::UNIQUE_IDENTIFIER,
            &self.unique_identifier,
            |s| Value::TextString(s.clone()),
        );
        if let Some(p) = &self.parameters {
            out.push(p.encode());
        }
        field::push(&mut out, tag::DATA, &self.data, |d| {
            Value::ByteString(d.to_vec())
        });
        field::push(&mut out, tag::DIGESTED_DATA, &self.digested_data, b);
        field::push(&mut out, tag::SIGNATURE_DATA, &self.signature_data, b);
        field::push(&mut out, tag::MAC_DATA, &self.mac_data, b);
        field::push(&mut out, tag::IV_COUNTER_NONCE, &self.iv_counter_nonce, b);
        field::push(&mut out, tag::CORRELATION_VALUE, &self.correlation_value, b);
        field::push(&mut out, tag::INIT_INDICATOR, &self.init_indicator, |v| {
            Value::Boolean(*v)
        });
        field::push(&mut out, tag::FINAL_INDICATOR, &self.final_indicator, |v| {
            Value::Boolean(*v)
        });
        field::push(
            &mut out,
            tag::AUTHENTICATED_ENCRYPTION_ADDITIONAL_DATA,
            &self.authenticated_encryption_additional_data,
            b,
        );
        field::push(
            &mut out,
            tag::AUTHENTICATED_ENCRYPTION_TAG,
            &self.authenticated_encryption_tag,
            b,
        );
        out
    }
}

/// The response payload of the same seven operations; each sets the fields it returns.
#[derive(Default)]
pub struct DataResponse {
    pub unique_identifier: Option<String>,
    /// Signature Verify and MAC Verify.
    pub validity_indicator: Option<u32>,
    pub data: Option<Zeroizing<Vec<u8>>>,
    pub signature_data: Option<Vec<u8>>,
    pub mac_data: Option<Vec<u8>>,
    /// Encrypt: the IV the server chose (Random IV).
    pub iv_counter_nonce: Option<Vec<u8>>,
    pub correlation_value: Option<Vec<u8>>,
    pub authenticated_encryption_tag: Option<Vec<u8>>,
}

impl std::fmt::Debug for DataResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DataResponse")
            .field("unique_identifier", &self.unique_identifier)
            .field("validity_indicator", &self.validity_indicator)
            .field("data_len", &self.data.as_ref().map(|d| d.len()))
            .finish_non_exhaustive()
    }
}

impl DataResponse {
    pub fn read(payload: &Item) -> Result<DataResponse, PayloadError> {
        Ok(DataResponse {
            unique_identifier: field::text(payload, tag::UNIQUE_IDENTIFIER)?,
            validity_indicator: field::enumeration(payload, tag::VALIDITY_INDICATOR)?,
            data: field::bytes(payload, tag::DATA)?.map(Zeroizing::new),
            signature_data: field::bytes(payload, tag::SIGNATURE_DATA)?,
            mac_data: field::bytes(payload, tag::MAC_DATA)?,
            iv_counter_nonce: field::bytes(payload, tag::IV_COUNTER_NONCE)?,
            correlation_value: field::bytes(payload, tag::CORRELATION_VALUE)?,
            authenticated_encryption_tag: field::bytes(payload, tag::AUTHENTICATED_ENCRYPTION_TAG)?,
        })
    }

    /// The Response Payload's children, in the specification's order.
    pub fn encode(&self) -> Vec<Item> {
        let mut out = Vec::new();
        let b = |v: &Vec<u8>| Value::ByteString(v.clone());
        field::push(
            &mut out,
            tag::UNIQUE_IDENTIFIER,
            &self.unique_identifier,
            |s| Value::TextString(s.clone()),
        );
        field::push(
            &mut out,
            tag::VALIDITY_INDICATOR,
            &self.validity_indicator,
            |v| Value::Enumeration(*v),
        );
        field::push(&mut out, tag::DATA, &self.data, |d| {
            Value::ByteString(d.to_vec())
        });
        field::push(&mut out, tag::SIGNATURE_DATA, &self.signature_data, b);
        field::push(&mut out, tag::MAC_DATA, &self.mac_data, b);
        field::push(&mut out, tag::IV_COUNTER_NONCE, &self.iv_counter_nonce, b);
        field::push(&mut out, tag::CORRELATION_VALUE, &self.correlation_value, b);
        field::push(
            &mut out,
            tag::AUTHENTICATED_ENCRYPTION_TAG,
            &self.authenticated_encryption_tag,
            b,
        );
        out
    }
}

// The four RNG payloads come in two shapes, each written once below: a Data Length (Retrieve's
// request, Seed's response) or the random bytes themselves (Retrieve's response, Seed's request).

fn read_data_length(payload: &Item) -> Result<i32, PayloadError> {
    field::integer(payload, tag::DATA_LENGTH)?.ok_or(PayloadError::Missing("DataLength"))
}

fn encode_data_length(data_length: i32) -> Vec<Item> {
    vec![Item::new(tag::DATA_LENGTH, Value::Integer(data_length))]
}

fn read_random_data(payload: &Item) -> Result<Zeroizing<Vec<u8>>, PayloadError> {
    Ok(Zeroizing::new(
        field::bytes(payload, tag::DATA)?.ok_or(PayloadError::Missing("Data"))?,
    ))
}

fn encode_random_data(data: &[u8]) -> Vec<Item> {
    vec![Item::new(tag::DATA, Value::ByteString(data.to_vec()))]
}

/// RNG Retrieve request: how many random bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RngRetrieveRequest {
    pub data_length: i32,
}

impl RngRetrieveRequest {
    pub fn read(payload: &Item) -> Result<RngRetrieveRequest, PayloadError> {
        let data_length = read_data_length(payload)?;
        Ok(RngRetrieveRequest { data_length })
    }

    pub fn encode(&self) -> Vec<Item> {
        encode_data_length(self.data_length)
    }
}

/// RNG Retrieve response: the bytes.
pub struct RngRetrieveResponse {
    pub data: Zeroizing<Vec<u8>>,
}

impl RngRetrieveResponse {
    pub fn read(payload: &Item) -> Result<RngRetrieveResponse, PayloadError> {
        let data = read_random_data(payload)?;
        Ok(RngRetrieveResponse { data })
    }

    pub fn encode(&self) -> Vec<Item> {
        encode_random_data(&self.data)
    }
}

/// RNG Seed request: seed bytes offered by the client.
pub struct RngSeedRequest {
    pub data: Zeroizing<Vec<u8>>,
}

impl RngSeedRequest {
    pub fn read(payload: &Item) -> Result<RngSeedRequest, PayloadError> {
        let data = read_random_data(payload)?;
        Ok(RngSeedRequest { data })
    }

    pub fn encode(&self) -> Vec<Item> {
        encode_random_data(&self.data)
    }
}

/// RNG Seed response: how many of the offered bytes the server used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RngSeedResponse {
    pub data_length: i32,
}

impl RngSeedResponse {
    pub fn read(payload: &Item) -> Result<RngSeedResponse, PayloadError> {
        let data_length = read_data_length(payload)?;
        Ok(RngSeedResponse { data_length })
    }

    pub fn encode(&self) -> Vec<Item> {
        encode_data_length(self.data_length)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn payload(children: Vec<Item>) -> Item {
        Item::structure(tag::REQUEST_PAYLOAD, children)
    }

    #[test]
    fn data_request_and_response_round_trip() {
        let request = DataRequest {
            unique_identifier: Some("k".into()),
            parameters: Some(CryptographicParameters {
                tag_length: Some(16),
                ..Default::default()
            }),
            data: Some(Zeroizing::new(vec![1, 2, 3])),
            iv_counter_nonce: Some(vec![0; 12]),
            init_indicator: Some(true),
            authenticated_encryption_additional_data: Some(vec![9]),
            ..Default::default()
        };
        let back = DataRequest::read(&payload(request.encode())).unwrap();
        assert_eq!(back.encode(), request.encode());
        assert!(!format!("{back:?}").contains("[1, 2, 3]"));

        let response = DataResponse {
            unique_identifier: Some("k".into()),
            validity_indicator: Some(1),
            data: Some(Zeroizing::new(vec![4])),
            correlation_value: Some(vec![5]),
            ..Default::default()
        };
        let encoded = response.encode();
        assert_eq!(encoded[1].tag, tag::VALIDITY_INDICATOR);
        let back = DataResponse::read(&payload(encoded.clone())).unwrap();
        assert_eq!(back.encode(), encoded);
    }

    #[test]
    fn rng_payloads_and_errors() {
        let r = RngRetrieveRequest::read(&payload(vec![Item::new(
            tag::DATA_LENGTH,
            Value::Integer(32),
        )]))
        .unwrap();
        assert_eq!(r.data_length, 32);
        assert_eq!(
            RngRetrieveRequest::read(&payload(vec![])),
            Err(PayloadError::Missing("DataLength"))
        );
        assert!(matches!(
            DataRequest::read(&payload(vec![Item::new(tag::DATA, Value::Integer(1))])),
            Err(PayloadError::WrongType("Data"))
        ));
        let s = RngSeedResponse { data_length: 0 };
        assert_eq!(RngSeedResponse::read(&payload(s.encode())).unwrap(), s);
    }
}
