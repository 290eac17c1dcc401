//! MAC and MAC Verify: HMAC-SHA1/224/256/384/512 with a client's symmetric key (the hash from
//! the key's HMAC algorithm, else the request's Hashing Algorithm). MAC Verify compares in
//! constant time and answers a mismatch as Validity Indicator Invalid. Single-part only.

use super::crypto_choice::hmac_hash;
use super::crypto_key::{Usage, count_usage, load_for, request_uid};
use super::*;
use crate::crypto::{CryptoError, mac as hmac};
use crate::kmip::crypto_parameters::values::validity_indicator;
use crate::kmip::crypto_payloads::{DataRequest, DataResponse};

fn single_part(request: &DataRequest, operation: &str) -> Result<(), EngineError> {
    if request.correlation_value.is_some()
        || (request.init_indicator == Some(true) && request.final_indicator != Some(true))
    {
        return Err(EngineError::FeatureNotSupported(format!(
            "multi-part {operation}"
        )));
    }
    Ok(())
}

pub(super) fn mac(ctx: &mut Ctx, payload: &Item) -> Result<Vec<Item>, EngineError> {
    let request = DataRequest::read(payload)?;
    single_part(&request, "MAC")?;
    let uid = request_uid(ctx, &request.unique_identifier)?;
    let key = load_for(ctx, &uid, Usage::MacGenerate, &[ObjectType::SymmetricKey])?;
    let params = request
        .parameters
        .clone()
        .unwrap_or_default()
        .or(&key.parameters);
    let hash = hmac_hash(&params, key.algorithm)?;
    let data = request
        .data
        .as_deref()
        .ok_or_else(|| EngineError::MissingData("Data".into()))?;
    let mac_data = hmac::sign(hash, &key.material, data)?;
    count_usage(ctx, &uid, data.len())?;
    Ok(DataResponse {
        unique_identifier: Some(uid),
        mac_data: Some(mac_data),
        ..DataResponse::default()
    }
    .encode())
}

pub(super) fn mac_verify(ctx: &mut Ctx, payload: &Item) -> Result<Vec<Item>, EngineError> {
    let request = DataRequest::read(payload)?;
    single_part(&request, "MAC Verify")?;
    let uid = request_uid(ctx, &request.unique_identifier)?;
    let key = load_for(ctx, &uid, Usage::MacVerify, &[ObjectType::SymmetricKey])?;
    let params = request
        .parameters
        .clone()
        .unwrap_or_default()
        .or(&key.parameters);
    let hash = hmac_hash(&params, key.algorithm)?;
    let data = request
        .data
        .as_deref()
        .ok_or_else(|| EngineError::MissingData("Data".into()))?;
    let tag = request
        .mac_data
        .as_deref()
        .ok_or_else(|| EngineError::MissingData("MAC Data".into()))?;
    let validity = match hmac::verify(hash, &key.material, data, tag) {
        Ok(()) => validity_indicator::VALID,
        Err(CryptoError::IntegrityCheckFailed) => validity_indicator::INVALID,
        Err(other) => return Err(other.into()),
    };
    Ok(DataResponse {
        unique_identifier: Some(uid),
        validity_indicator: Some(validity),
        ..DataResponse::default()
    }
    .encode())
}
