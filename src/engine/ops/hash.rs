//! Hash: the digest of the request's Data under the Hashing Algorithm its Cryptographic
//! Parameters name. No key, so no policy gate; single-part only.

use super::crypto_choice::hash as hash_algorithm;
use super::crypto_key::{required_data, single_part};
use super::*;
use crate::crypto::digest;
use crate::kmip::crypto_payloads::{DataRequest, DataResponse};

pub(super) fn hash(_ctx: &mut Ctx, payload: &Item) -> Result<Vec<Item>, EngineError> {
    let request = DataRequest::read(payload)?;
    single_part(&request, "Hash")?;
    let algorithm = request
        .parameters
        .as_ref()
        .and_then(|p| p.hashing_algorithm)
        .ok_or_else(|| EngineError::MissingData("Hashing Algorithm".into()))?;
    let data = required_data(&request)?;
    Ok(DataResponse {
        data: Some(Zeroizing::new(digest::digest(
            hash_algorithm(algorithm)?,
            data,
        ))),
        ..DataResponse::default()
    }
    .encode())
}
