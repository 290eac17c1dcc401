//! Message framing from the 8-byte TTLV header. (Stub: signatures are fixed.)

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
    let _ = (buf, expected_tag, limits);
    todo!("ttlv::frame::inspect_header")
}
