//! The fields Split Key and PGP Key objects carry beside their Key Block (KMIP 1.x §2.2.5 /
//! §2.2.9, 2.x §2.2.5 / §2.2.9), read from and written to the wire in one place each.
//!
//! They are not attributes and not key material: the engine keeps them with the object's
//! metadata so that Get answers with the object exactly as it was registered.

use super::tag;
use crate::ttlv::{Item, Value};

/// Why a Split Key or PGP Key structure could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyObjectError {
    #[error("{0} is missing")]
    Missing(&'static str),
    #[error("{0} has the wrong item type")]
    WrongType(&'static str),
    #[error("{0} is out of range")]
    OutOfRange(&'static str),
}

fn integer(parent: &Item, t: u32, what: &'static str) -> Result<Option<i32>, KeyObjectError> {
    match parent.child(t) {
        None => Ok(None),
        Some(Item {
            value: Value::Integer(v),
            ..
        }) => Ok(Some(*v)),
        Some(_) => Err(KeyObjectError::WrongType(what)),
    }
}

/// Split Key: which part of how many this is, and how the parts combine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SplitKeyFields {
    pub parts: i32,
    pub key_part_identifier: i32,
    pub threshold: i32,
    /// Split Key Method enumeration (XOR, polynomial sharing GF(2^16) or prime field).
    pub method: u32,
    /// Big Integer, present for polynomial sharing over a prime field.
    pub prime_field_size: Option<Value>,
}

impl SplitKeyFields {
    /// Reads the fields out of a `SplitKey` structure (its Key Block is left alone).
    pub fn read(split_key: &Item) -> Result<SplitKeyFields, KeyObjectError> {
        let required = |t, what| integer(split_key, t, what)?.ok_or(KeyObjectError::Missing(what));
        let parts = required(tag::SPLIT_KEY_PARTS, "Split Key Parts")?;
        let key_part_identifier = required(tag::KEY_PART_IDENTIFIER, "Key Part Identifier")?;
        let threshold = required(tag::SPLIT_KEY_THRESHOLD, "Split Key Threshold")?;
        if parts < 1 || key_part_identifier < 1 || threshold < 1 || threshold > parts {
            return Err(KeyObjectError::OutOfRange("Split Key Parts / Threshold"));
        }
        let method = match split_key.child(tag::SPLIT_KEY_METHOD) {
            Some(Item {
                value: Value::Enumeration(m),
                ..
            }) => *m,
            Some(_) => return Err(KeyObjectError::WrongType("Split Key Method")),
            None => return Err(KeyObjectError::Missing("Split Key Method")),
        };
        let prime_field_size = match split_key.child(tag::PRIME_FIELD_SIZE) {
            None => None,
            Some(Item {
                value: v @ Value::BigInteger(_),
                ..
            }) => Some(v.clone()),
            Some(_) => return Err(KeyObjectError::WrongType("Prime Field Size")),
        };
        Ok(SplitKeyFields {
            parts,
            key_part_identifier,
            threshold,
            method,
            prime_field_size,
        })
    }

    /// The fields in wire order, to precede the Key Block inside `SplitKey`.
    pub fn encode(&self) -> Vec<Item> {
        let mut out = vec![
            Item::new(tag::SPLIT_KEY_PARTS, Value::Integer(self.parts)),
            Item::new(
                tag::KEY_PART_IDENTIFIER,
                Value::Integer(self.key_part_identifier),
            ),
            Item::new(tag::SPLIT_KEY_THRESHOLD, Value::Integer(self.threshold)),
            Item::new(tag::SPLIT_KEY_METHOD, Value::Enumeration(self.method)),
        ];
        if let Some(size) = &self.prime_field_size {
            out.push(Item::new(tag::PRIME_FIELD_SIZE, size.clone()));
        }
        out
    }
}

/// PGP Key: the OpenPGP version of the key its Key Block holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PgpKeyFields {
    pub version: i32,
}

impl PgpKeyFields {
    pub fn read(pgp_key: &Item) -> Result<PgpKeyFields, KeyObjectError> {
        let version = integer(pgp_key, tag::PGP_KEY_VERSION, "PGP Key Version")?
            .ok_or(KeyObjectError::Missing("PGP Key Version"))?;
        Ok(PgpKeyFields { version })
    }

    pub fn encode(&self) -> Vec<Item> {
        vec![Item::new(
            tag::PGP_KEY_VERSION,
            Value::Integer(self.version),
        )]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_key_fields_round_trip_and_are_checked() {
        let fields = SplitKeyFields {
            parts: 3,
            key_part_identifier: 1,
            threshold: 2,
            method: 1,
            prime_field_size: None,
        };
        let item = Item::structure(tag::SPLIT_KEY, fields.encode());
        assert_eq!(SplitKeyFields::read(&item), Ok(fields));
        let bad = Item::structure(
            tag::SPLIT_KEY,
            SplitKeyFields {
                parts: 2,
                key_part_identifier: 1,
                threshold: 3,
                method: 1,
                prime_field_size: None,
            }
            .encode(),
        );
        assert!(matches!(
            SplitKeyFields::read(&bad),
            Err(KeyObjectError::OutOfRange(_))
        ));
        assert!(matches!(
            SplitKeyFields::read(&Item::structure(tag::SPLIT_KEY, vec![])),
            Err(KeyObjectError::Missing(_))
        ));
    }

    #[test]
    fn pgp_key_version_round_trips() {
        let fields = PgpKeyFields { version: 4 };
        let item = Item::structure(tag::PGP_KEY, fields.encode());
        assert_eq!(PgpKeyFields::read(&item), Ok(fields));
    }
}
