//! Reading typed fields out of a payload structure, with errors that name the field: the
//! shared helpers of the typed payloads (`crypto_parameters.rs`, `crypto_payloads.rs`), so each
//! payload's `read` is a list of fields rather than a match per field.

use crate::ttlv::{Item, Value};

use super::attribute::AttributeError;
use super::key_objects::KeyObjectError;
use super::tag;

/// Why a payload could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PayloadError {
    #[error("{0} is required")]
    Missing(&'static str),
    #[error("{0} has the wrong type")]
    WrongType(&'static str),
    #[error("{0} is out of range")]
    OutOfRange(&'static str),
    /// An attribute (or attribute reference) in the payload could not be read.
    #[error(transparent)]
    Attribute(#[from] AttributeError),
    /// The fields of a Split Key or PGP Key could not be read.
    #[error(transparent)]
    Object(#[from] KeyObjectError),
}

fn name(t: u32) -> &'static str {
    tag::name(t).unwrap_or("field")
}

pub(crate) fn text(payload: &Item, t: u32) -> Result<Option<String>, PayloadError> {
    match payload.child(t).map(|i| &i.value) {
        None => Ok(None),
        Some(Value::TextString(s)) => Ok(Some(s.clone())),
        Some(_) => Err(PayloadError::WrongType(name(t))),
    }
}

pub(crate) fn bytes(payload: &Item, t: u32) -> Result<Option<Vec<u8>>, PayloadError> {
    match payload.child(t).map(|i| &i.value) {
        None => Ok(None),
        Some(Value::ByteString(b)) => Ok(Some(b.clone())),
        Some(_) => Err(PayloadError::WrongType(name(t))),
    }
}

pub(crate) fn boolean(payload: &Item, t: u32) -> Result<Option<bool>, PayloadError> {
    match payload.child(t).map(|i| &i.value) {
        None => Ok(None),
        Some(Value::Boolean(b)) => Ok(Some(*b)),
        Some(_) => Err(PayloadError::WrongType(name(t))),
    }
}

pub(crate) fn enumeration(payload: &Item, t: u32) -> Result<Option<u32>, PayloadError> {
    match payload.child(t).map(|i| &i.value) {
        None => Ok(None),
        Some(Value::Enumeration(v)) => Ok(Some(*v)),
        Some(_) => Err(PayloadError::WrongType(name(t))),
    }
}

pub(crate) fn integer(payload: &Item, t: u32) -> Result<Option<i32>, PayloadError> {
    match payload.child(t).map(|i| &i.value) {
        None => Ok(None),
        Some(Value::Integer(v)) => Ok(Some(*v)),
        Some(_) => Err(PayloadError::WrongType(name(t))),
    }
}

pub(crate) fn date_time(payload: &Item, t: u32) -> Result<Option<i64>, PayloadError> {
    match payload.child(t).map(|i| &i.value) {
        None => Ok(None),
        Some(Value::DateTime(v)) => Ok(Some(*v)),
        Some(_) => Err(PayloadError::WrongType(name(t))),
    }
}

pub(crate) fn interval(payload: &Item, t: u32) -> Result<Option<u32>, PayloadError> {
    match payload.child(t).map(|i| &i.value) {
        None => Ok(None),
        Some(Value::Interval(v)) => Ok(Some(*v)),
        Some(_) => Err(PayloadError::WrongType(name(t))),
    }
}

/// A Unique Identifier field: the text, or `None` when absent or when it is a 2.x ID
/// Placeholder reference (an Enumeration or Integer), which the engine resolves.
pub(crate) fn uid(payload: &Item) -> Option<String> {
    match payload.child(tag::UNIQUE_IDENTIFIER).map(|i| &i.value) {
        Some(Value::TextString(s)) => Some(s.clone()),
        _ => None,
    }
}

/// Pushes the Unique Identifier when present.
pub(crate) fn push_uid(out: &mut Vec<Item>, uid: &Option<String>) {
    push(out, tag::UNIQUE_IDENTIFIER, uid, |u| {
        Value::TextString(u.clone())
    });
}

/// Pushes `Item(t, value)` when `value` is present.
pub(crate) fn push<T>(out: &mut Vec<Item>, t: u32, value: &Option<T>, wrap: impl Fn(&T) -> Value) {
    if let Some(v) = value {
        out.push(Item::new(t, wrap(v)));
    }
}
