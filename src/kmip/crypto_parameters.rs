//! The Cryptographic Parameters structure (KMIP 1.x and 2.x share it): how a client, or a key's
//! Cryptographic Parameters attribute, says which mode, padding, hash and IV rules an Encrypt,
//! Sign or MAC uses. Values stay raw KMIP numbers here; the engine maps them to algorithms.

use crate::ttlv::{Item, Value};

use super::payload_fields::{self as field, PayloadError};
use super::tag;

/// KMIP enumeration values this layer's users compare against (KMIP 2.1 tables).
pub mod values {
    pub mod block_cipher_mode {
        pub const CBC: u32 = 0x01;
        pub const ECB: u32 = 0x02;
        pub const CTR: u32 = 0x06;
        pub const GCM: u32 = 0x09;
        pub const AEAD: u32 = 0x12;
    }
    pub mod padding_method {
        pub const NONE: u32 = 0x01;
        pub const OAEP: u32 = 0x02;
        pub const PKCS5: u32 = 0x03;
        pub const PKCS1_V1_5: u32 = 0x08;
        pub const PSS: u32 = 0x0A;
    }
    pub mod hashing_algorithm {
        pub const SHA_1: u32 = 0x04;
        pub const SHA_224: u32 = 0x05;
        pub const SHA_256: u32 = 0x06;
        pub const SHA_384: u32 = 0x07;
        pub const SHA_512: u32 = 0x08;
        pub const SHA_512_256: u32 = 0x0D;
        pub const SHA3_256: u32 = 0x0F;
        pub const SHA3_384: u32 = 0x10;
        pub const SHA3_512: u32 = 0x11;
    }
    pub mod cryptographic_algorithm {
        pub const AES: u32 = 0x03;
        pub const RSA: u32 = 0x04;
        pub const ECDSA: u32 = 0x06;
        pub const HMAC_SHA1: u32 = 0x07;
        pub const HMAC_SHA224: u32 = 0x08;
        pub const HMAC_SHA256: u32 = 0x09;
        pub const HMAC_SHA384: u32 = 0x0A;
        pub const HMAC_SHA512: u32 = 0x0B;
        pub const ECDH: u32 = 0x0E;
        pub const BLOWFISH: u32 = 0x10;
        pub const EC: u32 = 0x1A;
        pub const CHACHA20: u32 = 0x1C;
        pub const CHACHA20_POLY1305: u32 = 0x1E;
        pub const ED25519: u32 = 0x37;
    }
    pub mod digital_signature_algorithm {
        pub const SHA1_WITH_RSA: u32 = 0x03;
        pub const SHA256_WITH_RSA: u32 = 0x05;
        pub const SHA384_WITH_RSA: u32 = 0x06;
        pub const SHA512_WITH_RSA: u32 = 0x07;
        pub const RSASSA_PSS: u32 = 0x08;
        pub const ECDSA_WITH_SHA1: u32 = 0x0C;
        pub const ECDSA_WITH_SHA224: u32 = 0x0D;
        pub const ECDSA_WITH_SHA256: u32 = 0x0E;
        pub const ECDSA_WITH_SHA384: u32 = 0x0F;
        pub const ECDSA_WITH_SHA512: u32 = 0x10;
    }
    pub mod mask_generator {
        pub const MGF1: u32 = 0x01;
    }
    pub mod validity_indicator {
        pub const VALID: u32 = 0x01;
        pub const INVALID: u32 = 0x02;
    }
}

/// Cryptographic Parameters; every field optional, as on the wire.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CryptographicParameters {
    pub block_cipher_mode: Option<u32>,
    pub padding_method: Option<u32>,
    pub hashing_algorithm: Option<u32>,
    pub key_role_type: Option<u32>,
    pub digital_signature_algorithm: Option<u32>,
    pub cryptographic_algorithm: Option<u32>,
    pub random_iv: Option<bool>,
    pub iv_length: Option<i32>,
    pub tag_length: Option<i32>,
    pub fixed_field_length: Option<i32>,
    pub invocation_field_length: Option<i32>,
    pub counter_length: Option<i32>,
    pub initial_counter_value: Option<i32>,
    pub salt_length: Option<i32>,
    pub mask_generator: Option<u32>,
    pub mask_generator_hashing_algorithm: Option<u32>,
    pub p_source: Option<Vec<u8>>,
    pub trailer_field: Option<i32>,
}

impl CryptographicParameters {
    /// Reads a Cryptographic Parameters structure.
    pub fn read(item: &Item) -> Result<CryptographicParameters, PayloadError> {
        if !matches!(item.value, Value::Structure(_)) {
            return Err(PayloadError::WrongType("CryptographicParameters"));
        }
        Ok(CryptographicParameters {
            block_cipher_mode: field::enumeration(item, tag::BLOCK_CIPHER_MODE)?,
            padding_method: field::enumeration(item, tag::PADDING_METHOD)?,
            hashing_algorithm: field::enumeration(item, tag::HASHING_ALGORITHM)?,
            key_role_type: field::enumeration(item, tag::KEY_ROLE_TYPE)?,
            digital_signature_algorithm: field::enumeration(
                item,
                tag::DIGITAL_SIGNATURE_ALGORITHM,
            )?,
            cryptographic_algorithm: field::enumeration(item, tag::CRYPTOGRAPHIC_ALGORITHM)?,
            random_iv: field::boolean(item, tag::RANDOM_IV)?,
            iv_length: field::integer(item, tag::IV_LENGTH)?,
            tag_length: field::integer(item, tag::TAG_LENGTH)?,
            fixed_field_length: field::integer(item, tag::FIXED_FIELD_LENGTH)?,
            invocation_field_length: field::integer(item, tag::INVOCATION_FIELD_LENGTH)?,
            counter_length: field::integer(item, tag::COUNTER_LENGTH)?,
            initial_counter_value: field::integer(item, tag::INITIAL_COUNTER_VALUE)?,
            salt_length: field::integer(item, tag::SALT_LENGTH)?,
            mask_generator: field::enumeration(item, tag::MASK_GENERATOR)?,
            mask_generator_hashing_algorithm: field::enumeration(
                item,
                tag::MASK_GENERATOR_HASHING_ALGORITHM,
            )?,
            p_source: field::bytes(item, tag::P_SOURCE)?,
            trailer_field: field::integer(item, tag::TRAILER_FIELD)?,
        })
    }

    /// The structure, fields in the specification's order.
    pub fn encode(&self) -> Item {
        let mut out = Vec::new();
        let e = |v: &u32| Value::Enumeration(*v);
        let i = |v: &i32| Value::Integer(*v);
        field::push(&mut out, tag::BLOCK_CIPHER_MODE, &self.block_cipher_mode, e);
        field::push(&mut out, tag::PADDING_METHOD, &self.padding_method, e);
        field::push(&mut out, tag::HASHING_ALGORITHM, &self.hashing_algorithm, e);
        field::push(&mut out, tag::KEY_ROLE_TYPE, &self.key_role_type, e);
        field::push(
            &mut out,
            tag::DIGITAL_SIGNATURE_ALGORITHM,
            &self.digital_signature_algorithm,
            e,
        );
        field::push(
            &mut out,
            tag::CRYPTOGRAPHIC_ALGORITHM,
            &self.cryptographic_algorithm,
            e,
        );
        field::push(&mut out, tag::RANDOM_IV, &self.random_iv, |b| {
            Value::Boolean(*b)
        });
        field::push(&mut out, tag::IV_LENGTH, &self.iv_length, i);
        field::push(&mut out, tag::TAG_LENGTH, &self.tag_length, i);
        field::push(
            &mut out,
            tag::FIXED_FIELD_LENGTH,
            &self.fixed_field_length,
            i,
        );
        field::push(
            &mut out,
            tag::INVOCATION_FIELD_LENGTH,
            &self.invocation_field_length,
            i,
        );
        field::push(&mut out, tag::COUNTER_LENGTH, &self.counter_length, i);
        field::push(
            &mut out,
            tag::INITIAL_COUNTER_VALUE,
            &self.initial_counter_value,
            i,
        );
        field::push(&mut out, tag::SALT_LENGTH, &self.salt_length, i);
        field::push(&mut out, tag::MASK_GENERATOR, &self.mask_generator, e);
        field::push(
            &mut out,
            tag::MASK_GENERATOR_HASHING_ALGORITHM,
            &self.mask_generator_hashing_algorithm,
            e,
        );
        field::push(&mut out, tag::P_SOURCE, &self.p_source, |b| {
            Value::ByteString(b.clone())
        });
        field::push(&mut out, tag::TRAILER_FIELD, &self.trailer_field, i);
        Item::structure(tag::CRYPTOGRAPHIC_PARAMETERS, out)
    }

    /// These parameters, each missing field taken from `defaults` (the key's attribute).
    pub fn or(&self, defaults: &CryptographicParameters) -> CryptographicParameters {
        CryptographicParameters {
            block_cipher_mode: self.block_cipher_mode.or(defaults.block_cipher_mode),
            padding_method: self.padding_method.or(defaults.padding_method),
            hashing_algorithm: self.hashing_algorithm.or(defaults.hashing_algorithm),
            key_role_type: self.key_role_type.or(defaults.key_role_type),
            digital_signature_algorithm: self
                .digital_signature_algorithm
                .or(defaults.digital_signature_algorithm),
            cryptographic_algorithm: self
                .cryptographic_algorithm
                .or(defaults.cryptographic_algorithm),
            random_iv: self.random_iv.or(defaults.random_iv),
            iv_length: self.iv_length.or(defaults.iv_length),
            tag_length: self.tag_length.or(defaults.tag_length),
            fixed_field_length: self.fixed_field_length.or(defaults.fixed_field_length),
            invocation_field_length: self
                .invocation_field_length
                .or(defaults.invocation_field_length),
            counter_length: self.counter_length.or(defaults.counter_length),
            initial_counter_value: self
                .initial_counter_value
                .or(defaults.initial_counter_value),
            salt_length: self.salt_length.or(defaults.salt_length),
            mask_generator: self.mask_generator.or(defaults.mask_generator),
            mask_generator_hashing_algorithm: self
                .mask_generator_hashing_algorithm
                .or(defaults.mask_generator_hashing_algorithm),
            p_source: self.p_source.clone().or_else(|| defaults.p_source.clone()),
            trailer_field: self.trailer_field.or(defaults.trailer_field),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_encode_round_trip_and_defaults() {
        let p = CryptographicParameters {
            block_cipher_mode: Some(values::block_cipher_mode::GCM),
            tag_length: Some(16),
            random_iv: Some(true),
            p_source: Some(vec![1, 2]),
            ..Default::default()
        };
        assert_eq!(CryptographicParameters::read(&p.encode()).unwrap(), p);
        let key = CryptographicParameters {
            block_cipher_mode: Some(values::block_cipher_mode::ECB),
            padding_method: Some(values::padding_method::PKCS5),
            ..Default::default()
        };
        let merged = p.or(&key);
        assert_eq!(
            merged.block_cipher_mode,
            Some(values::block_cipher_mode::GCM)
        );
        assert_eq!(merged.padding_method, Some(values::padding_method::PKCS5));
        let wrong = Item::structure(
            tag::CRYPTOGRAPHIC_PARAMETERS,
            vec![Item::new(tag::TAG_LENGTH, Value::TextString("16".into()))],
        );
        assert_eq!(
            CryptographicParameters::read(&wrong),
            Err(PayloadError::WrongType("TagLength"))
        );
    }
}
