//! Bounded TTLV decoding. (Stub: the codec owner replaces the body, not the signatures.)

use super::item::Item;

/// Bounds applied while decoding untrusted input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest whole message, header included (default 1 MiB).
    pub max_message_bytes: usize,
    /// Deepest structure nesting (default 32).
    pub max_depth: usize,
    /// Most items in one message (default 65,536).
    pub max_items: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_message_bytes: 1 << 20,
            max_depth: 32,
            max_items: 65_536,
        }
    }
}

/// What went wrong, where: byte offset of the offending item and the tag path down to it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("TTLV decode error at byte {offset} (path {}): {kind}", fmt_path(.path))]
pub struct DecodeError {
    pub offset: usize,
    pub path: Vec<u32>,
    pub kind: DecodeErrorKind,
}

fn fmt_path(path: &[u32]) -> String {
    if path.is_empty() {
        return "/".to_string();
    }
    path.iter().map(|t| format!("/{t:06X}")).collect()
}

/// Kinds of decode failure. `Truncated` means "more bytes could complete this";
/// every other kind means the input is invalid whatever follows.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeErrorKind {
    #[error("input ends inside an item")]
    Truncated,
    #[error("message of {0} bytes exceeds the limit")]
    TooLarge(usize),
    #[error("unknown item type {0:#04x}")]
    UnknownType(u8),
    #[error("length {length} is invalid for this item type")]
    BadLength { length: u32 },
    #[error("child items overrun their structure")]
    Overrun,
    #[error("padding bytes are not zero")]
    NonZeroPadding,
    #[error("boolean value is neither 0 nor 1")]
    BadBoolean,
    #[error("text string is not valid UTF-8")]
    BadUtf8,
    #[error("structures nested deeper than the limit")]
    TooDeep,
    #[error("more items than the limit")]
    TooManyItems,
    #[error("bytes left over after the top-level item")]
    TrailingBytes,
}

/// Decodes exactly one top-level item spanning all of `bytes`.
pub fn decode(bytes: &[u8], limits: &Limits) -> Result<Item, DecodeError> {
    let _ = (bytes, limits);
    todo!("ttlv::decode")
}
