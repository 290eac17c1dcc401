//! MAC and MAC Verify: HMAC-SHA1/224/256/384/512 with a client's symmetric key (the hash from
//! the key's HMAC algorithm, else the request's Hashing Algorithm). MAC Verify compares in
//! constant time and answers a mismatch as Validity Indicator Invalid. Single-part only.

use super::crypto_choice::hmac_hash;
use super::crypto_key::{Prepared, Usage, count_usage, prepare, required_data, validity};
use super::*;
use crate::crypto::mac as hmac;
use crate::kmip::crypto_payloads::DataResponse;

pub(super) fn mac(ctx: &mut Ctx, payload: &Item) -> Result<Vec<Item>, EngineError> {
    let Prepared {
        request,
        key,
        params,
    } = prepare(ctx, payload, Usage::MacGenerate)?;
    let hash = hmac_hash(&params, key.algorithm)?;
    let data = required_data(&request)?;
    let mac_data = hmac::sign(hash, &key.material, data)?;
    count_usage(ctx, &key.uid, data.len())?;
    Ok(DataResponse {
        unique_identifier: Some(key.uid),
        mac_data: Some(mac_data),
        ..DataResponse::default()
    }
    .encode())
}

pub(super) fn mac_verify(ctx: &mut Ctx, payload: &Item) -> Result<Vec<Item>, EngineError> {
    let Prepared {
        request,
        key,
        params,
    } = prepare(ctx, payload, Usage::MacVerify)?;
    let hash = hmac_hash(&params, key.algorithm)?;
    let data = required_data(&request)?;
    let tag = request
        .mac_data
        .as_deref()
        .ok_or_else(|| EngineError::MissingData("MAC Data".into()))?;
    let validity = validity(hmac::verify(hash, &key.material, data, tag))?;
    Ok(DataResponse {
        unique_identifier: Some(key.uid),
        validity_indicator: Some(validity),
        ..DataResponse::default()
    }
    .encode())
}
