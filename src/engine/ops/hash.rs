//! Hash: the digest of the request's Data under the Hashing Algorithm its Cryptographic
//! Parameters name. No key, so no policy gate; single-part only.

use super::crypto_choice::hash as hash_algorithm;
use super::*;
use crate::crypto::digest;
use crate::kmip::crypto_payloads::{DataRequest, DataResponse};

pub(super) fn hash(_ctx: &mut Ctx, payload: &Item) -> Result<Vec<Item>, EngineError> {
    let request = DataRequest::read(payload)?;
    if request.correlation_value.is_some()
        || (request.init_indicator == Some(true) && request.final_indicator != Some(true))
    {
        return Err(EngineError::FeatureNotSupported("multi-part Hash".into()));
    }
    let algorithm = request
        .parameters
        .as_ref()
        .and_then(|p| p.hashing_algorithm)
        .ok_or_else(|| EngineError::MissingData("Hashing Algorithm".into()))?;
    let data = request
        .data
        .as_deref()
        .ok_or_else(|| EngineError::MissingData("Data".into()))?;
    Ok(DataResponse {
        data: Some(Zeroizing::new(digest::digest(
            hash_algorithm(algorithm)?,
            data,
        ))),
        ..DataResponse::default()
    }
    .encode())
}
