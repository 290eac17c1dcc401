//! Sign and Signature Verify with a client's private / public key: RSA PKCS#1 v1.5 and PSS,
//! ECDSA, Ed25519. A signature that does not verify is a successful Signature Verify whose
//! Validity Indicator says Invalid; only a key or parameter problem fails the operation.
//! Either Data or a client-computed Digested Data is signed (not for Ed25519). Single-part only:
//! a multi-part request is refused as unsupported.

use super::crypto_choice::signature;
use super::crypto_key::{Usage, count_usage, load_for, request_uid};
use super::encrypt::encoded_key;
use super::*;
use crate::crypto::{CryptoError, keypair, signature as sig};
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

/// What the request signs or verifies: its Data, or else its Digested Data.
fn signed(request: &DataRequest) -> Result<sig::Signed<'_>, EngineError> {
    match (&request.data, &request.digested_data) {
        (Some(data), _) => Ok(sig::Signed::Message(data)),
        (None, Some(digest)) => Ok(sig::Signed::Digest(digest)),
        (None, None) => Err(EngineError::MissingData("Data or Digested Data".into())),
    }
}

fn signed_len(input: sig::Signed) -> usize {
    match input {
        sig::Signed::Message(m) | sig::Signed::Digest(m) => m.len(),
    }
}

pub(super) fn sign(ctx: &mut Ctx, payload: &Item) -> Result<Vec<Item>, EngineError> {
    let request = DataRequest::read(payload)?;
    single_part(&request, "Sign")?;
    let uid = request_uid(ctx, &request.unique_identifier)?;
    let key = load_for(ctx, &uid, Usage::Sign, &[ObjectType::PrivateKey])?;
    let params = request
        .parameters
        .clone()
        .unwrap_or_default()
        .or(&key.parameters);
    let algorithm = signature(&params, key.algorithm)?;
    let input = signed(&request)?;
    let signature_data = sig::sign_input(algorithm, encoded_key(&key)?, input)?;
    count_usage(ctx, &uid, signed_len(input))?;
    Ok(DataResponse {
        unique_identifier: Some(uid),
        signature_data: Some(signature_data),
        ..DataResponse::default()
    }
    .encode())
}

pub(super) fn signature_verify(ctx: &mut Ctx, payload: &Item) -> Result<Vec<Item>, EngineError> {
    let request = DataRequest::read(payload)?;
    single_part(&request, "Signature Verify")?;
    let uid = request_uid(ctx, &request.unique_identifier)?;
    let key = load_for(
        ctx,
        &uid,
        Usage::Verify,
        &[ObjectType::PublicKey, ObjectType::PrivateKey],
    )?;
    let params = request
        .parameters
        .clone()
        .unwrap_or_default()
        .or(&key.parameters);
    let algorithm = signature(&params, key.algorithm)?;
    let input = signed(&request)?;
    let signature_data = request
        .signature_data
        .as_deref()
        .ok_or_else(|| EngineError::MissingData("Signature Data".into()))?;
    let der = encoded_key(&key)?;
    let public = match key.object_type {
        ObjectType::PrivateKey if algorithm == sig::SignatureAlgorithm::Ed25519 => {
            keypair::public_spki_of_private(
                &keypair::ed25519_seed_to_pkcs8(der)
                    .unwrap_or_else(|_| Zeroizing::new(der.to_vec())),
            )?
        }
        ObjectType::PrivateKey => keypair::public_spki_of_private(der)?,
        _ => der.to_vec(),
    };
    let validity = match sig::verify_input(algorithm, &public, input, signature_data) {
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
