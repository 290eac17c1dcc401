//! The one shape every typed KMIP structure has: `read` from a TTLV item, `encode` back to one.
//!
//! Why a trait: before it, each payload had its own signature (`read(payload, v2)`, `read ->
//! Option`, `encode -> Vec<Item>`, ...), so nothing generic (the request encoder, round-trip
//! tests) could take "any payload". The shape follows rustls' `Codec` (`read` + `encode` per
//! type); the protocol version is passed to both because a few KMIP shapes differ between
//! generations (1.x Template-Attribute vs 2.x Attributes, 1.x Attribute Name / Index / Value vs
//! 2.x Attribute Reference / Current / New Attribute); types whose shape never changes ignore it.
//!
//! This file also makes the payload types that predate the trait implement it, so their own
//! files (edited by the cryptographic-services work) stay untouched.

use super::create_key_pair::{CreateKeyPairRequest, CreateKeyPairResponse, ReKeyKeyPairRequest};
use super::crypto_parameters::CryptographicParameters;
use super::crypto_payloads::{
    DataRequest, DataResponse, RngRetrieveRequest, RngRetrieveResponse, RngSeedRequest,
    RngSeedResponse,
};
use super::enums::Operation;
use super::message::ProtocolVersion;
use super::payload_fields::PayloadError;
use super::tag;
use crate::ttlv::Item;

/// A typed KMIP structure: read from and encoded to one TTLV item, in a protocol version.
pub trait Codec: Sized {
    /// Reads the structure out of `item` (its own tag is not checked: a payload is read from
    /// whatever item the batch item carried).
    fn read(item: &Item, version: ProtocolVersion) -> Result<Self, PayloadError>;
    /// The structure as one item, shaped for `version`.
    fn encode(&self, version: ProtocolVersion) -> Item;
}

/// A request payload that belongs to exactly one operation (the request encoder names the
/// operation from the type).
pub trait RequestPayload: Codec {
    const OPERATION: Operation;
}

/// A response payload that belongs to exactly one operation.
pub trait ResponsePayload: Codec {
    const OPERATION: Operation;
}

/// Whether `version` uses the KMIP 2.x shapes.
pub fn is_v2(version: ProtocolVersion) -> bool {
    version.major >= 2
}

/// A Request Payload item with `children`.
pub fn request_payload(children: Vec<Item>) -> Item {
    Item::structure(tag::REQUEST_PAYLOAD, children)
}

/// A Response Payload item with `children`.
pub fn response_payload(children: Vec<Item>) -> Item {
    Item::structure(tag::RESPONSE_PAYLOAD, children)
}

/// Implements [`Codec`] for a payload type of the older shape `read(&Item) -> Result<_,
/// PayloadError>` / `encode(&self) -> Vec<Item>` (payload children).
macro_rules! payload_codec {
    ($ty:ty, $wrap:ident) => {
        impl Codec for $ty {
            fn read(item: &Item, _: ProtocolVersion) -> Result<Self, PayloadError> {
                <$ty>::read(item)
            }
            fn encode(&self, _: ProtocolVersion) -> Item {
                $wrap(<$ty>::encode(self))
            }
        }
    };
}

payload_codec!(DataRequest, request_payload);
payload_codec!(DataResponse, response_payload);
payload_codec!(RngRetrieveRequest, request_payload);
payload_codec!(RngRetrieveResponse, response_payload);
payload_codec!(RngSeedRequest, request_payload);
payload_codec!(RngSeedResponse, response_payload);

impl RequestPayload for RngRetrieveRequest {
    const OPERATION: Operation = Operation::RngRetrieve;
}
impl ResponsePayload for RngRetrieveResponse {
    const OPERATION: Operation = Operation::RngRetrieve;
}
impl RequestPayload for RngSeedRequest {
    const OPERATION: Operation = Operation::RngSeed;
}
impl ResponsePayload for RngSeedResponse {
    const OPERATION: Operation = Operation::RngSeed;
}

impl Codec for CryptographicParameters {
    fn read(item: &Item, _: ProtocolVersion) -> Result<Self, PayloadError> {
        CryptographicParameters::read(item)
    }
    fn encode(&self, _: ProtocolVersion) -> Item {
        CryptographicParameters::encode(self)
    }
}

impl Codec for CreateKeyPairRequest {
    fn read(item: &Item, version: ProtocolVersion) -> Result<Self, PayloadError> {
        Ok(CreateKeyPairRequest::read(item, is_v2(version))?)
    }
    fn encode(&self, version: ProtocolVersion) -> Item {
        CreateKeyPairRequest::encode(self, is_v2(version))
    }
}
impl RequestPayload for CreateKeyPairRequest {
    const OPERATION: Operation = Operation::CreateKeyPair;
}

impl Codec for CreateKeyPairResponse {
    fn read(item: &Item, _: ProtocolVersion) -> Result<Self, PayloadError> {
        CreateKeyPairResponse::read(item).ok_or(PayloadError::Missing(
            "Private / Public Key Unique Identifier",
        ))
    }
    fn encode(&self, _: ProtocolVersion) -> Item {
        response_payload(CreateKeyPairResponse::encode(self))
    }
}
impl ResponsePayload for CreateKeyPairResponse {
    const OPERATION: Operation = Operation::CreateKeyPair;
}

impl Codec for ReKeyKeyPairRequest {
    fn read(item: &Item, _: ProtocolVersion) -> Result<Self, PayloadError> {
        ReKeyKeyPairRequest::read(item)
    }
    fn encode(&self, _: ProtocolVersion) -> Item {
        request_payload(ReKeyKeyPairRequest::encode(self))
    }
}
impl RequestPayload for ReKeyKeyPairRequest {
    const OPERATION: Operation = Operation::ReKeyKeyPair;
}

/// Round-trip checks shared by the payload files' tests.
#[cfg(test)]
pub(crate) mod testing {
    use super::*;

    pub const V1_0: ProtocolVersion = ProtocolVersion::new(1, 0);
    pub const V1_4: ProtocolVersion = ProtocolVersion::new(1, 4);
    pub const V2_0: ProtocolVersion = ProtocolVersion::new(2, 0);
    pub const V2_1: ProtocolVersion = ProtocolVersion::new(2, 1);
    pub const ALL: [ProtocolVersion; 4] = [V1_0, V1_4, V2_0, V2_1];

    /// `read(encode(x)) == x` in `version`.
    pub fn round_trips<T: Codec + PartialEq + std::fmt::Debug>(
        value: &T,
        version: ProtocolVersion,
    ) {
        let item = value.encode(version);
        let back = T::read(&item, version).unwrap_or_else(|e| panic!("{version:?}: {e}: {item:?}"));
        assert_eq!(&back, value, "{version:?}");
    }

    /// For types without `PartialEq` (their secrets have no `==`): the re-encoding is equal.
    pub fn re_encodes<T: Codec>(value: &T, version: ProtocolVersion) {
        let item = value.encode(version);
        let back = T::read(&item, version).unwrap_or_else(|e| panic!("{version:?}: {e}"));
        assert_eq!(back.encode(version), item, "{version:?}");
    }
}

#[cfg(test)]
mod tests {
    use super::testing::*;
    use super::*;
    use crate::kmip::attribute::{AttrKey, Attribute};
    use crate::ttlv::Value;
    use zeroize::Zeroizing;

    #[test]
    fn older_payloads_round_trip_through_the_trait() {
        for v in ALL {
            re_encodes(
                &DataRequest {
                    unique_identifier: Some("k".into()),
                    data: Some(Zeroizing::new(b"data".to_vec())),
                    init_indicator: Some(true),
                    ..Default::default()
                },
                v,
            );
            re_encodes(
                &RngRetrieveRequest::read(&request_payload(vec![Item::new(
                    tag::DATA_LENGTH,
                    Value::Integer(16),
                )]))
                .unwrap(),
                v,
            );
            round_trips(
                &CreateKeyPairRequest {
                    common: vec![Attribute {
                        key: AttrKey::Standard(tag::CRYPTOGRAPHIC_ALGORITHM),
                        value: Value::Enumeration(4),
                    }],
                    private: Vec::new(),
                    public: vec![Attribute {
                        key: AttrKey::Custom("x-a".into()),
                        value: Value::TextString("b".into()),
                    }],
                },
                v,
            );
            round_trips(
                &ReKeyKeyPairRequest {
                    private_key_unique_identifier: Some("p".into()),
                    offset: Some(3600),
                },
                v,
            );
            round_trips(
                &CreateKeyPairResponse {
                    private_key_uid: "p".into(),
                    public_key_uid: "q".into(),
                },
                v,
            );
        }
    }
}
