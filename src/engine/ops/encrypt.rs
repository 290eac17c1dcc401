//! Encrypt and Decrypt: AES (CBC, ECB, CTR, GCM), ChaCha20-Poly1305 and RSA (OAEP, PKCS#1 v1.5)
//! with a client's key, including KMIP multi-part operation for the AES block modes.
//!
//! Multi-part (Init Indicator, Correlation Value, Final Indicator): the server keeps no session.
//! The stream's state (`crypto::stream::BlockStream`, at most one block of pending input) is
//! sealed with the master key, bound to the client, the key and its material generation and the
//! direction, and handed to the client as the Correlation Value; the next part brings it back.
//! So a part can run on any node, twice (a retried write group) or never, without server
//! memory to leak or exhaust. The policy gate runs again on every part.

use super::crypto_choice::{SymmetricCipher, is_rsa, rsa_padding, symmetric};
use super::crypto_key::{UsableKey, Usage, count_usage, load_for, request_uid};
use super::*;
use crate::crypto::stream::{BlockStream, Direction, StreamMode};
use crate::crypto::{CryptoError, asymmetric, keypair, random, symmetric as aead};
use crate::kmip::crypto_parameters::CryptographicParameters;
use crate::kmip::crypto_payloads::{DataRequest, DataResponse};

pub(super) fn encrypt(ctx: &mut Ctx, payload: &Item) -> Result<Vec<Item>, EngineError> {
    run(ctx, payload, Direction::Encrypt)
}

pub(super) fn decrypt(ctx: &mut Ctx, payload: &Item) -> Result<Vec<Item>, EngineError> {
    run(ctx, payload, Direction::Decrypt)
}

/// Where a request stands in a multi-part operation.
enum Part {
    /// The whole operation in one request.
    Whole,
    /// The first of several parts (Init Indicator).
    First,
    /// A later part; `last` when Final Indicator is set.
    Next { state: Vec<u8>, last: bool },
}

fn part(request: &DataRequest) -> Part {
    let last = request.final_indicator == Some(true);
    match (
        &request.correlation_value,
        request.init_indicator == Some(true),
    ) {
        (Some(state), _) => Part::Next {
            state: state.clone(),
            last,
        },
        (None, true) if !last => Part::First,
        (None, _) => Part::Whole,
    }
}

fn run(ctx: &mut Ctx, payload: &Item, direction: Direction) -> Result<Vec<Item>, EngineError> {
    let request = DataRequest::read(payload)?;
    let uid = request_uid(ctx, &request.unique_identifier)?;
    let usage = match direction {
        Direction::Encrypt => Usage::Encrypt,
        Direction::Decrypt => Usage::Decrypt,
    };
    let key = load_for(
        ctx,
        &uid,
        usage,
        &[
            ObjectType::SymmetricKey,
            ObjectType::PublicKey,
            ObjectType::PrivateKey,
        ],
    )?;
    let params = request
        .parameters
        .clone()
        .unwrap_or_default()
        .or(&key.parameters);
    let part = part(&request);
    let mut response = DataResponse {
        unique_identifier: Some(uid),
        ..DataResponse::default()
    };
    if is_rsa(&params, key.algorithm) || key.object_type != ObjectType::SymmetricKey {
        if !matches!(part, Part::Whole) {
            return Err(EngineError::FeatureNotSupported(
                "multi-part RSA encryption".into(),
            ));
        }
        let data = required_data(&request)?;
        response.data = Some(rsa(&key, &params, direction, data)?);
        count_protection(ctx, &key, &request, direction)?;
        return Ok(response.encode());
    }
    match symmetric(&params, key.algorithm)? {
        SymmetricCipher::Aead(algorithm) => {
            if !matches!(part, Part::Whole) {
                return Err(EngineError::FeatureNotSupported(
                    "multi-part authenticated encryption".into(),
                ));
            }
            let data = required_data(&request)?;
            let (nonce, chosen) = iv(&request, &params, direction, aead::NONCE_LEN)?;
            let aad = request
                .authenticated_encryption_additional_data
                .as_deref()
                .unwrap_or_default();
            match direction {
                Direction::Encrypt => {
                    let tag_len = match params.tag_length {
                        None => aead::TAG_LEN,
                        Some(n) => usize::try_from(n)
                            .map_err(|_| EngineError::InvalidField(format!("Tag Length {n}")))?,
                    };
                    let (ciphertext, tag) =
                        aead::seal(algorithm, &key.material, &nonce, aad, data, tag_len)?;
                    response.data = Some(Zeroizing::new(ciphertext));
                    response.authenticated_encryption_tag = Some(tag);
                    response.iv_counter_nonce = chosen;
                }
                Direction::Decrypt => {
                    let tag = request
                        .authenticated_encryption_tag
                        .as_deref()
                        .ok_or_else(|| {
                            EngineError::MissingData("Authenticated Encryption Tag".into())
                        })?;
                    response.data = Some(aead::open(
                        algorithm,
                        &key.material,
                        &nonce,
                        aad,
                        data,
                        tag,
                    )?);
                }
            }
        }
        SymmetricCipher::Block(mode, padding) => match part {
            Part::Whole | Part::First => {
                let (iv, chosen) = if mode == StreamMode::Ecb {
                    (Vec::new(), None)
                } else {
                    iv(&request, &params, direction, 16)?
                };
                let stream = BlockStream::new(mode, padding, direction, &iv)?;
                let data = required_data(&request)?;
                response.iv_counter_nonce = chosen;
                if matches!(part, Part::Whole) {
                    response.data = Some(stream.finish(&key.material, data)?);
                } else {
                    let mut stream = stream;
                    response.data = Some(stream.update(&key.material, data)?);
                    response.correlation_value = Some(seal_stream(ctx, &key, &stream)?);
                }
            }
            Part::Next { state, last } => {
                let mut stream = open_stream(ctx, &key, &state, direction)?;
                let data = request.data.as_deref().map(|d| &d[..]).unwrap_or_default();
                if last {
                    response.data = Some(stream.finish(&key.material, data)?);
                } else {
                    response.data = Some(stream.update(&key.material, data)?);
                    response.correlation_value = Some(seal_stream(ctx, &key, &stream)?);
                }
            }
        },
    }
    count_protection(ctx, &key, &request, direction)?;
    Ok(response.encode())
}

/// Counts a successful encryption against the key's Usage Limits (decryption does not count).
fn count_protection(
    ctx: &mut Ctx,
    key: &UsableKey,
    request: &DataRequest,
    direction: Direction,
) -> Result<(), EngineError> {
    if direction != Direction::Encrypt {
        return Ok(());
    }
    count_usage(ctx, &key.uid, request.data.as_ref().map_or(0, |d| d.len()))
}

fn required_data(request: &DataRequest) -> Result<&[u8], EngineError> {
    request
        .data
        .as_deref()
        .map(|d| &d[..])
        .ok_or_else(|| EngineError::MissingData("Data".into()))
}

/// The IV/Counter/Nonce of the request, or (encryption with Random IV) one the server draws and
/// returns. A missing IV is an Invalid Message, as the KMIP profiles expect.
fn iv(
    request: &DataRequest,
    params: &CryptographicParameters,
    direction: Direction,
    len: usize,
) -> Result<(Vec<u8>, Option<Vec<u8>>), EngineError> {
    match (&request.iv_counter_nonce, params.random_iv, direction) {
        (Some(iv), _, _) => Ok((iv.clone(), None)),
        (None, Some(true), Direction::Encrypt) => {
            let iv = random::bytes(len)?.to_vec();
            Ok((iv.clone(), Some(iv)))
        }
        _ => Err(EngineError::InvalidMessage(
            "missing IV/Counter/Nonce (send one, or set Random IV when encrypting)".into(),
        )),
    }
}

/// RSA with a public key (encrypt) or private key (decrypt; encrypt also works with a private
/// key, through its public half).
fn rsa(
    key: &UsableKey,
    params: &CryptographicParameters,
    direction: Direction,
    data: &[u8],
) -> Result<Zeroizing<Vec<u8>>, EngineError> {
    let padding = rsa_padding(params)?;
    let label = params.p_source.as_deref();
    let der = encoded_key(key)?;
    match (direction, key.object_type) {
        (Direction::Encrypt, ObjectType::PublicKey) => Ok(Zeroizing::new(asymmetric::encrypt(
            padding, der, data, label,
        )?)),
        (Direction::Encrypt, ObjectType::PrivateKey) => {
            let public = keypair::public_spki_of_private(der)?;
            Ok(Zeroizing::new(asymmetric::encrypt(
                padding, &public, data, label,
            )?))
        }
        (Direction::Decrypt, ObjectType::PrivateKey) => {
            Ok(asymmetric::decrypt(padding, der, data, label)?)
        }
        (_, other) => Err(EngineError::Illegal(format!(
            "RSA {} needs a {} key, not {other:?}",
            match direction {
                Direction::Encrypt => "encryption",
                Direction::Decrypt => "decryption",
            },
            match direction {
                Direction::Encrypt => "public",
                Direction::Decrypt => "private",
            }
        ))),
    }
}

/// The key's material when it is in an encoded form the crypto layer reads (PKCS#1, PKCS#8,
/// X.509 SubjectPublicKeyInfo, SEC1, or Raw for Ed25519/X25519).
pub(super) fn encoded_key(key: &UsableKey) -> Result<&[u8], EngineError> {
    match KeyFormatType::from_u32(key.key_format) {
        Some(
            KeyFormatType::Pkcs1
            | KeyFormatType::Pkcs8
            | KeyFormatType::X509
            | KeyFormatType::EcPrivateKey
            | KeyFormatType::Raw,
        ) => Ok(&key.material),
        _ => Err(EngineError::Crypto(CryptoError::Unsupported(format!(
            "cryptographic operations with a key stored in Key Format Type {:#x}",
            key.key_format
        )))),
    }
}

/// Domain separation and binding of a sealed stream state.
fn stream_aad(ctx: &Ctx, key: &UsableKey, direction: Direction) -> Vec<u8> {
    let mut aad = b"keyward/multipart/v1\0".to_vec();
    aad.extend_from_slice(ctx.client.owner.as_bytes());
    aad.push(0);
    aad.extend_from_slice(key.uid.as_bytes());
    aad.push(0);
    aad.extend_from_slice(&key.material_generation.to_be_bytes());
    aad.push(match direction {
        Direction::Encrypt => b'E',
        Direction::Decrypt => b'D',
    });
    aad
}

fn seal_stream(ctx: &Ctx, key: &UsableKey, stream: &BlockStream) -> Result<Vec<u8>, EngineError> {
    let aad = stream_aad(ctx, key, stream.direction());
    Ok(ctx.master_key()?.seal(&aad, &stream.to_bytes())?)
}

fn open_stream(
    ctx: &Ctx,
    key: &UsableKey,
    sealed: &[u8],
    direction: Direction,
) -> Result<BlockStream, EngineError> {
    let aad = stream_aad(ctx, key, direction);
    let bytes = ctx
        .master_key()?
        .unseal(&aad, sealed)
        .map_err(|_| EngineError::InvalidCorrelationValue)?;
    BlockStream::from_bytes(&bytes).map_err(|_| EngineError::InvalidCorrelationValue)
}
