//! Canonical TTLV encoding. (Stub: the codec owner replaces the body, not the signatures.)

use super::item::Item;

/// Encodes `item` into a new buffer.
pub fn encode(item: &Item) -> Vec<u8> {
    let mut out = Vec::with_capacity(encoded_len(item));
    encode_into(item, &mut out);
    out
}

/// Appends the encoding of `item` to `out`.
pub fn encode_into(item: &Item, out: &mut Vec<u8>) {
    let _ = (item, out);
    todo!("ttlv::encode_into")
}

/// Bytes `item` occupies when encoded, padding included.
pub fn encoded_len(item: &Item) -> usize {
    let _ = item;
    todo!("ttlv::encoded_len")
}
