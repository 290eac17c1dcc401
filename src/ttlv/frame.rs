//! Message framing from the 8-byte TTLV header.

use super::decode::Limits;

/// What the first bytes of a message on the wire say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameStatus {
    /// Fewer than 8 bytes so far.
    NeedHeader,
    /// The whole message (header included) is this many bytes.
    Length(usize),
    /// The header can never start a valid message (wrong type byte, length not a multiple of 8).
    Invalid,
    /// The declared length exceeds `limits.max_message_bytes`.
    TooLarge(usize),
}

/// Inspects the start of `buf` (a structure header: tag, type 0x01, length).
/// `expected_tag` is the top-level tag the caller accepts (e.g. Request Message 0x420078).
pub fn inspect_header(buf: &[u8], expected_tag: u32, limits: &Limits) -> FrameStatus {
    let Some(header) = buf.get(..8) else {
        return FrameStatus::NeedHeader;
    };
    let tag = u32::from_be_bytes([0, header[0], header[1], header[2]]);
    if tag != expected_tag || header[3] != 0x01 {
        return FrameStatus::Invalid;
    }
    let length = u32::from_be_bytes([header[4], header[5], header[6], header[7]]);
    if length % 8 != 0 {
        return FrameStatus::Invalid;
    }
    let total = 8 + u64::from(length);
    match usize::try_from(total) {
        Ok(total) if total <= limits.max_message_bytes => FrameStatus::Length(total),
        Ok(total) => FrameStatus::TooLarge(total),
        Err(_) => FrameStatus::TooLarge(usize::MAX),
    }
}
