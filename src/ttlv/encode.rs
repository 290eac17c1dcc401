//! Canonical TTLV encoding: zero padding, structure lengths computed from the children,
//! Big Integers sign-extended to a multiple of 8 bytes.

use super::item::{Item, Value};

/// Encodes `item` into a new buffer.
pub fn encode(item: &Item) -> Vec<u8> {
    let mut out = Vec::with_capacity(encoded_len(item));
    encode_into(item, &mut out);
    out
}

/// Appends the encoding of `item` to `out`.
pub fn encode_into(item: &Item, out: &mut Vec<u8>) {
    let tag = item.tag.to_be_bytes();
    out.extend_from_slice(&tag[1..4]);
    out.push(item.item_type() as u8);
    let length = value_len(&item.value);
    // Messages are bounded far below 4 GiB; saturating keeps a pathological tree from wrapping.
    out.extend_from_slice(&u32::try_from(length).unwrap_or(u32::MAX).to_be_bytes());
    let start = out.len();
    match &item.value {
        Value::Structure(children) => children.iter().for_each(|c| encode_into(c, out)),
        Value::Integer(v) => out.extend_from_slice(&v.to_be_bytes()),
        Value::LongInteger(v) => out.extend_from_slice(&v.to_be_bytes()),
        Value::BigInteger(v) => {
            let fill = if v.first().is_some_and(|b| b & 0x80 != 0) {
                0xFF
            } else {
                0x00
            };
            out.resize(out.len() + (length - v.len()), fill);
            out.extend_from_slice(v);
        }
        Value::Enumeration(v) => out.extend_from_slice(&v.to_be_bytes()),
        Value::Boolean(v) => out.extend_from_slice(&u64::from(*v).to_be_bytes()),
        Value::TextString(v) => out.extend_from_slice(v.as_bytes()),
        Value::ByteString(v) => out.extend_from_slice(v),
        Value::DateTime(v) => out.extend_from_slice(&v.to_be_bytes()),
        Value::Interval(v) => out.extend_from_slice(&v.to_be_bytes()),
        Value::DateTimeExtended(v) => out.extend_from_slice(&v.to_be_bytes()),
    }
    let written = out.len() - start;
    out.resize(start + pad8(written), 0);
}

/// Bytes `item` occupies when encoded, padding included.
pub fn encoded_len(item: &Item) -> usize {
    8 + pad8(value_len(&item.value))
}

/// The Length field: value bytes without padding.
fn value_len(value: &Value) -> usize {
    match value {
        Value::Structure(children) => children.iter().map(encoded_len).sum(),
        Value::Integer(_) | Value::Enumeration(_) | Value::Interval(_) => 4,
        Value::LongInteger(_)
        | Value::Boolean(_)
        | Value::DateTime(_)
        | Value::DateTimeExtended(_) => 8,
        Value::BigInteger(v) => pad8(v.len()).max(8),
        Value::TextString(v) => v.len(),
        Value::ByteString(v) => v.len(),
    }
}

fn pad8(len: usize) -> usize {
    len.div_ceil(8) * 8
}
