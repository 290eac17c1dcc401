//! TTLV codec: pure, bounded, no I/O and no KMIP semantics.
//!
//! Contract (fixed; other modules build on it):
//! - [`Item`] / [`Value`]: an owned tree of TTLV items.
//! - [`decode`]`(bytes, &Limits) -> Result<Item, DecodeError>`: exactly one top-level item that
//!   spans all of `bytes`; every bound is checked before any allocation.
//! - [`encode`]`(&Item) -> Vec<u8>` and [`encode_into`]: canonical encoding, zero padding.
//! - [`frame::inspect_header`]: looks at the first 8 bytes of a message on the wire and tells
//!   how long the whole message is, or why it cannot be accepted.

mod decode;
mod encode;
pub mod frame;
mod item;

pub use decode::{DecodeError, DecodeErrorKind, Limits, decode};
pub use encode::{encode, encode_into, encoded_len};
pub use item::{Item, ItemType, Value};

#[cfg(test)]
mod tests;
