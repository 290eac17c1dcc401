//! Sign and Signature Verify with a client's private / public key: RSA PKCS#1 v1.5 and PSS,
//! ECDSA, Ed25519. A signature that does not verify is a successful Signature Verify whose
//! Validity Indicator says Invalid; only a key or parameter problem fails the operation.
//! Either Data or a client-computed Digested Data is signed (not for Ed25519). Single-part only:
//! a multi-part request is refused as unsupported.

use super::crypto_choice::signature;
use super::crypto_key::{Prepared, Usage, count_usage, prepare, validity};
use super::encrypt::encoded_key;
use super::*;
use crate::crypto::{keypair, signature as sig};
use crate::kmip::crypto_payloads::{DataRequest, DataResponse};

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
    let Prepared {
        request,
        key,
        params,
    } = prepare(ctx, payload, Usage::Sign)?;
    let algorithm = signature(&params, key.algorithm)?;
    let input = signed(&request)?;
    let signature_data = sig::sign_input(algorithm, encoded_key(&key)?, input)?;
    count_usage(ctx, &key.uid, signed_len(input))?;
    Ok(DataResponse {
        unique_identifier: Some(key.uid),
        signature_data: Some(signature_data),
        ..DataResponse::default()
    }
    .encode())
}

pub(super) fn signature_verify(ctx: &mut Ctx, payload: &Item) -> Result<Vec<Item>, EngineError> {
    let Prepared {
        request,
        key,
        params,
    } = prepare(ctx, payload, Usage::Verify)?;
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
    let validity = validity(sig::verify_input(algorithm, &public, input, signature_data))?;
    Ok(DataResponse {
        unique_identifier: Some(key.uid),
        validity_indicator: Some(validity),
        ..DataResponse::default()
    }
    .encode())
}
