//! RNG Retrieve: bytes from aws-lc-rs's generator, at most [`MAX_RANDOM_BYTES`] per request (a
//! client asking for more gets Invalid Field, not a huge allocation).
//!
//! RNG Seed is deliberately not offered (Operation Not Supported): aws-lc-rs seeds and reseeds
//! its DRBG from the operating system and has no way to mix in caller data, and Keyward will
//! not claim to have used seed bytes it ignored (KMIP's answer is the number of bytes used).

use super::*;
use crate::crypto::random;
use crate::kmip::crypto_payloads::{RngRetrieveRequest, RngRetrieveResponse};

/// Largest RNG Retrieve answer, in bytes.
pub const MAX_RANDOM_BYTES: i32 = 1 << 20;

pub(super) fn rng_retrieve(_ctx: &mut Ctx, payload: &Item) -> Result<Vec<Item>, EngineError> {
    let request = RngRetrieveRequest::read(payload)?;
    if !(1..=MAX_RANDOM_BYTES).contains(&request.data_length) {
        return Err(EngineError::InvalidField(format!(
            "Data Length {} (must be 1 to {MAX_RANDOM_BYTES})",
            request.data_length
        )));
    }
    // The range check above makes the conversion exact.
    let len = request.data_length.unsigned_abs() as usize;
    Ok(RngRetrieveResponse {
        data: random::bytes(len)?,
    }
    .encode())
}
