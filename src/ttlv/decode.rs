//! Bounded TTLV decoding.
//!
//! The decoder works like rustls' codec: a [`Reader`] over a borrowed slice hands out
//! sub-readers bounded by each structure's declared length, so a child can never read past
//! its parent. Every length is checked against what encloses it before anything is allocated.

use super::item::{Item, ItemType, Value};

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

const HEADER_LEN: usize = 8;

/// Decodes exactly one top-level item spanning all of `bytes`.
pub fn decode(bytes: &[u8], limits: &Limits) -> Result<Item, DecodeError> {
    // The size limit comes first: an oversized input is rejected before a single header is read.
    if bytes.len() > limits.max_message_bytes {
        return Err(DecodeError {
            offset: 0,
            path: Vec::new(),
            kind: DecodeErrorKind::TooLarge(bytes.len()),
        });
    }
    let mut state = State {
        limits,
        items: 0,
        path: Vec::new(),
    };
    let mut reader = Reader { bytes, base: 0 };
    if bytes.len() < HEADER_LEN {
        // A bad type byte can already be seen; nothing that follows could repair it.
        let kind = match bytes.get(3) {
            Some(&t) if ItemType::from_byte(t).is_none() => DecodeErrorKind::UnknownType(t),
            _ => DecodeErrorKind::Truncated,
        };
        return Err(state.fail(0, None, kind));
    }
    let header = state.header(&mut reader)?;
    let total = HEADER_LEN as u64 + padded(header.length);
    if total > limits.max_message_bytes as u64 {
        let total = usize::try_from(total).unwrap_or(usize::MAX);
        return Err(state.fail(0, Some(header.tag), DecodeErrorKind::TooLarge(total)));
    }
    if total > bytes.len() as u64 {
        return Err(state.fail(0, Some(header.tag), DecodeErrorKind::Truncated));
    }
    if total < bytes.len() as u64 {
        return Err(state.fail(total as usize, None, DecodeErrorKind::TrailingBytes));
    }
    state.body(&mut reader, header, 1)
}

/// A bounded view of the input; `base` is the absolute offset of `bytes[0]` for error reports.
struct Reader<'a> {
    bytes: &'a [u8],
    base: usize,
}

impl<'a> Reader<'a> {
    fn offset(&self) -> usize {
        self.base
    }

    fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    fn take(&mut self, len: usize) -> Option<&'a [u8]> {
        if len > self.bytes.len() {
            return None;
        }
        let (head, rest) = self.bytes.split_at(len);
        self.bytes = rest;
        self.base += len;
        Some(head)
    }

    /// Splits off a reader over the next `len` bytes.
    fn sub(&mut self, len: usize) -> Option<Reader<'a>> {
        let base = self.base;
        self.take(len).map(|bytes| Reader { bytes, base })
    }
}

#[derive(Clone, Copy)]
struct Header {
    offset: usize,
    tag: u32,
    item_type: ItemType,
    length: u32,
}

fn padded(length: u32) -> u64 {
    u64::from(length).div_ceil(8) * 8
}

struct State<'l> {
    limits: &'l Limits,
    items: usize,
    path: Vec<u32>,
}

impl State<'_> {
    fn fail(&self, offset: usize, tag: Option<u32>, kind: DecodeErrorKind) -> DecodeError {
        let mut path = self.path.clone();
        path.extend(tag);
        DecodeError { offset, path, kind }
    }

    /// Reads and validates one item header; the caller has checked 8 bytes are present.
    fn header(&mut self, reader: &mut Reader<'_>) -> Result<Header, DecodeError> {
        let offset = reader.offset();
        let raw = reader
            .take(HEADER_LEN)
            .ok_or_else(|| self.fail(offset, None, DecodeErrorKind::Truncated))?;
        let tag = u32::from_be_bytes([0, raw[0], raw[1], raw[2]]);
        let item_type = ItemType::from_byte(raw[3])
            .ok_or_else(|| self.fail(offset, Some(tag), DecodeErrorKind::UnknownType(raw[3])))?;
        let length = u32::from_be_bytes([raw[4], raw[5], raw[6], raw[7]]);
        let valid = match item_type {
            ItemType::Integer | ItemType::Enumeration | ItemType::Interval => length == 4,
            ItemType::LongInteger
            | ItemType::DateTime
            | ItemType::DateTimeExtended
            | ItemType::Boolean => length == 8,
            ItemType::BigInteger => length != 0 && length % 8 == 0,
            ItemType::Structure => length % 8 == 0,
            ItemType::TextString | ItemType::ByteString => true,
        };
        if !valid {
            return Err(self.fail(offset, Some(tag), DecodeErrorKind::BadLength { length }));
        }
        self.items += 1;
        if self.items > self.limits.max_items {
            return Err(self.fail(offset, Some(tag), DecodeErrorKind::TooManyItems));
        }
        Ok(Header {
            offset,
            tag,
            item_type,
            length,
        })
    }

    /// Decodes the value of an item whose header was read; `reader` holds exactly its padded value.
    fn body(
        &mut self,
        reader: &mut Reader<'_>,
        header: Header,
        depth: usize,
    ) -> Result<Item, DecodeError> {
        let Header {
            offset,
            tag,
            item_type,
            length,
        } = header;
        let len = length as usize;
        let err = |s: &Self, kind| s.fail(offset, Some(tag), kind);
        let value_bytes = reader
            .take(len)
            .ok_or_else(|| err(self, DecodeErrorKind::Overrun))?;
        let pad_len = padded(length) as usize - len;
        let padding = reader
            .take(pad_len)
            .ok_or_else(|| err(self, DecodeErrorKind::Overrun))?;
        if padding.iter().any(|&b| b != 0) {
            return Err(err(self, DecodeErrorKind::NonZeroPadding));
        }
        let value = match item_type {
            ItemType::Structure => {
                if depth > self.limits.max_depth {
                    return Err(err(self, DecodeErrorKind::TooDeep));
                }
                let mut children = Reader {
                    bytes: value_bytes,
                    base: offset + HEADER_LEN,
                };
                self.path.push(tag);
                let result = self.children(&mut children, depth);
                self.path.pop();
                Value::Structure(result?)
            }
            ItemType::Integer => Value::Integer(i32::from_be_bytes(fixed(value_bytes))),
            ItemType::Enumeration => Value::Enumeration(u32::from_be_bytes(fixed(value_bytes))),
            ItemType::Interval => Value::Interval(u32::from_be_bytes(fixed(value_bytes))),
            ItemType::LongInteger => Value::LongInteger(i64::from_be_bytes(fixed(value_bytes))),
            ItemType::DateTime => Value::DateTime(i64::from_be_bytes(fixed(value_bytes))),
            ItemType::DateTimeExtended => {
                Value::DateTimeExtended(i64::from_be_bytes(fixed(value_bytes)))
            }
            ItemType::Boolean => match u64::from_be_bytes(fixed(value_bytes)) {
                0 => Value::Boolean(false),
                1 => Value::Boolean(true),
                _ => return Err(err(self, DecodeErrorKind::BadBoolean)),
            },
            ItemType::BigInteger => Value::BigInteger(value_bytes.to_vec()),
            ItemType::ByteString => Value::ByteString(value_bytes.to_vec()),
            ItemType::TextString => match std::str::from_utf8(value_bytes) {
                Ok(text) => Value::TextString(text.to_owned()),
                Err(_) => return Err(err(self, DecodeErrorKind::BadUtf8)),
            },
        };
        Ok(Item { tag, value })
    }

    fn children(
        &mut self,
        reader: &mut Reader<'_>,
        depth: usize,
    ) -> Result<Vec<Item>, DecodeError> {
        let mut children = Vec::new();
        while !reader.is_empty() {
            let offset = reader.offset();
            if reader.bytes.len() < HEADER_LEN {
                return Err(self.fail(offset, None, DecodeErrorKind::Overrun));
            }
            let header = self.header(reader)?;
            let total = padded(header.length);
            if total > reader.bytes.len() as u64 {
                return Err(self.fail(offset, Some(header.tag), DecodeErrorKind::Overrun));
            }
            let mut child = reader
                .sub(total as usize)
                .ok_or_else(|| self.fail(offset, Some(header.tag), DecodeErrorKind::Overrun))?;
            children.push(self.body(&mut child, header, depth + 1)?);
        }
        Ok(children)
    }
}

/// Copies a slice whose length the header check already fixed; a mismatch cannot happen,
/// but falls back to zero-filled rather than panicking.
fn fixed<const N: usize>(bytes: &[u8]) -> [u8; N] {
    let mut out = [0u8; N];
    let n = bytes.len().min(N);
    out[..n].copy_from_slice(&bytes[..n]);
    out
}
