//! Typed KMIP 1.0–1.4 and 2.0–2.1: tags, enumerations, attributes, messages.
//!
//! Built on [`crate::ttlv`]; knows message shapes, not what operations do.

pub mod attribute;
pub mod attribute_payloads;
pub mod codec;
pub mod create_key_pair;
pub mod crypto_parameters;
pub mod crypto_payloads;
pub mod derive_payloads;
pub mod enums;
pub mod json;
pub mod key_objects;
pub mod key_wrapping;
pub mod managed_object;
pub mod message;
pub mod names;
pub mod object_payloads;
pub mod payload_fields;
pub mod registry;
mod registry_macros;
pub mod request;
pub mod request_attributes;
pub mod server_payloads;
pub mod tag;
pub mod xml;
