//! RNG Retrieve: bytes from aws-lc-rs's generator, at most [`MAX_RANDOM_BYTES`] per request (a
//! client asking for more gets Invalid Field, not a huge allocation).
//!
//! RNG Seed: the caller's bytes (at most [`MAX_SEED_BYTES`]) are mixed into AWS-LC's DRBG of
//! the engine thread as prediction-resistance input to reseeds with fresh system entropy
//! (`crypto::aws_lc_ffi::mix_into_drbg`): they add to the system's entropy, never replace it,
//! and the answer counts every byte used.

use super::*;
use crate::crypto::{aws_lc_ffi, random};
use crate::kmip::crypto_payloads::{
    RngRetrieveRequest, RngRetrieveResponse, RngSeedRequest, RngSeedResponse,
};

/// Largest RNG Retrieve answer, in bytes.
pub const MAX_RANDOM_BYTES: i32 = 1 << 20;

/// Largest RNG Seed input, in bytes (one reseed per 32 bytes).
pub const MAX_SEED_BYTES: usize = 4096;

pub(super) fn rng_seed(_ctx: &mut Ctx, payload: &Item) -> Result<Vec<Item>, EngineError> {
    let request = RngSeedRequest::read(payload)?;
    if request.data.len() > MAX_SEED_BYTES {
        return Err(EngineError::InvalidField(format!(
            "RNG Seed of {} bytes (at most {MAX_SEED_BYTES})",
            request.data.len()
        )));
    }
    let used = aws_lc_ffi::mix_into_drbg(&request.data)?;
    Ok(RngSeedResponse {
        // At most MAX_SEED_BYTES, so the conversion is exact.
        data_length: i32::try_from(used).unwrap_or(i32::MAX),
    }
    .encode())
}

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
