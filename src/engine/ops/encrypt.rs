//! Encrypt and Decrypt: AES (CBC, ECB, CTR, GCM), ChaCha20-Poly1305 and RSA (OAEP, PKCS#1 v1.5)
//! with a client's key, including KMIP multi-part operation for the AES block modes.
//!
//! Multi-part (Init Indicator, Correlation Value, Final Indicator), AES block modes: the server
//! keeps no session. The stream's state (`crypto::stream::BlockStream`, at most one block of
//! pending input) is sealed with the master key, bound to the client, the key and its material
//! generation and the direction, and handed to the client as the Correlation Value; the next
//! part brings it back. So a part can run on any node, twice (a retried write group) or never,
//! without server memory to leak or exhaust. AES-GCM and ChaCha20-Poly1305 streams cannot be
//! exported from AWS-LC and stay in this appliance's memory, bounded (`aead_streams.rs`). The
//! policy gate runs again on every part.

use super::aead_streams::{self, Binding};
use super::crypto_choice::{SymmetricCipher, is_rsa, oaep_with_other_mgf1, rsa_padding, symmetric};
use super::crypto_key::{Prepared, UsableKey, Usage, count_usage, prepare, required_data};
use super::*;
use crate::crypto::aws_lc_ffi::{self, AeadCipher, AeadStream};
use crate::crypto::stream::{BlockStream, Direction, Padding, StreamMode};
use crate::crypto::symmetric::AeadAlgorithm;
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
    let usage = match direction {
        Direction::Encrypt => Usage::Encrypt,
        Direction::Decrypt => Usage::Decrypt,
    };
    let Prepared {
        request,
        key,
        params,
    } = prepare(ctx, payload, usage)?;
    let part = part(&request);
    let mut response = DataResponse {
        unique_identifier: Some(key.uid.clone()),
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
    let job = Job {
        key: &key,
        request: &request,
        params: &params,
        direction,
    };
    symmetric_part(ctx, &job, part, &mut response)?;
    count_protection(ctx, &key, &request, direction)?;
    Ok(response.encode())
}

/// The request, key and parameters of one Encrypt or Decrypt.
struct Job<'a> {
    key: &'a UsableKey,
    request: &'a DataRequest,
    params: &'a CryptographicParameters,
    direction: Direction,
}

impl<'a> Job<'a> {
    fn parts(
        &self,
    ) -> (
        &'a UsableKey,
        &'a DataRequest,
        &'a CryptographicParameters,
        Direction,
    ) {
        (self.key, self.request, self.params, self.direction)
    }
}

/// One part (or the whole) of a symmetric Encrypt or Decrypt, by the cipher the parameters
/// choose.
fn symmetric_part(
    ctx: &Ctx,
    job: &Job,
    part: Part,
    response: &mut DataResponse,
) -> Result<(), EngineError> {
    let (key, request, params, direction) = job.parts();
    match symmetric(params, key.algorithm)? {
        SymmetricCipher::Aead(algorithm) => {
            let cipher = match algorithm {
                AeadAlgorithm::AesGcm => AeadCipher::AesGcm,
                AeadAlgorithm::ChaCha20Poly1305 => AeadCipher::ChaCha20Poly1305,
            };
            aead_part(ctx, job, cipher, part, response)
        }
        SymmetricCipher::ChaCha20 => {
            if !matches!(part, Part::Whole) {
                return Err(EngineError::FeatureNotSupported(
                    "multi-part raw ChaCha20".into(),
                ));
            }
            let data = required_data(request)?;
            let (nonce, chosen) = iv(request, params, direction, aead::NONCE_LEN)?;
            response.data = Some(aws_lc_ffi::chacha20(&key.material, &nonce, data)?);
            response.iv_counter_nonce = chosen;
            Ok(())
        }
        SymmetricCipher::Block(mode, padding) => {
            block_part(ctx, job, (mode, padding), part, response)
        }
    }
}

/// One part (or the whole) of an AES block-mode operation; between parts the stream's state
/// travels sealed in the Correlation Value.
fn block_part(
    ctx: &Ctx,
    job: &Job,
    (mode, padding): (StreamMode, Padding),
    part: Part,
    response: &mut DataResponse,
) -> Result<(), EngineError> {
    let (key, request, params, direction) = job.parts();
    match part {
        Part::Whole | Part::First => {
            let (iv, chosen) = if mode == StreamMode::Ecb {
                (Vec::new(), None)
            } else {
                iv(request, params, direction, 16)?
            };
            let stream = BlockStream::new(mode, padding, direction, &iv)?;
            let data = required_data(request)?;
            response.iv_counter_nonce = chosen;
            if matches!(part, Part::Whole) {
                response.data = Some(stream.finish(&key.material, data)?);
            } else {
                let mut stream = stream;
                response.data = Some(stream.update(&key.material, data)?);
                response.correlation_value = Some(seal_stream(ctx, key, &stream)?);
            }
        }
        Part::Next { state, last } => {
            let mut stream = open_stream(ctx, key, &state, direction)?;
            let data = request.data.as_deref().map(|d| &d[..]).unwrap_or_default();
            if last {
                response.data = Some(stream.finish(&key.material, data)?);
            } else {
                response.data = Some(stream.update(&key.material, data)?);
                response.correlation_value = Some(seal_stream(ctx, key, &stream)?);
            }
        }
    }
    Ok(())
}

/// One part (or the whole) of an AES-GCM or ChaCha20-Poly1305 operation, through AWS-LC's
/// cipher context: any GCM nonce length, tags of 4, 8 or 12 to 16 bytes, and streaming. A
/// multi-part decryption releases each part's plaintext before the tag is checked, as KMIP's
/// streaming defines it; only the final part's answer says whether the whole was authentic.
fn aead_part(
    ctx: &Ctx,
    job: &Job,
    cipher: AeadCipher,
    part: Part,
    response: &mut DataResponse,
) -> Result<(), EngineError> {
    let (key, request, params, direction) = job.parts();
    let encrypting = direction == Direction::Encrypt;
    let binding = Binding {
        owner: ctx.client.owner.clone(),
        key_uid: key.uid.clone(),
        material_generation: key.material_generation,
        encrypting,
    };
    let tag_len = tag_length(params, encrypting)?;
    let (mut stream, previous, last) = match part {
        Part::Whole | Part::First => {
            if matches!(part, Part::Whole) {
                required_data(request)?;
            }
            let (nonce, chosen) = iv(request, params, direction, aead::NONCE_LEN)?;
            response.iv_counter_nonce = chosen;
            let aad = request
                .authenticated_encryption_additional_data
                .as_deref()
                .unwrap_or_default();
            let stream = AeadStream::new(cipher, &key.material, &nonce, aad, encrypting)?;
            (stream, None, matches!(part, Part::Whole))
        }
        Part::Next { state, last } => (
            aead_streams::resume(&binding, &state, last)?,
            Some(state),
            last,
        ),
    };
    let data = request.data.as_deref().map(|d| &d[..]).unwrap_or_default();
    let mut out = stream.update(data)?;
    if !last {
        response.data = Some(out);
        response.correlation_value = Some(aead_streams::keep(binding, stream, previous)?);
        return Ok(());
    }
    finish_aead(stream, request, tag_len, encrypting, &mut out, response)?;
    response.data = Some(out);
    Ok(())
}

/// Ends an AEAD stream: its last bytes join `out`; encrypting answers the tag, decrypting
/// checks the request's.
fn finish_aead(
    stream: AeadStream,
    request: &DataRequest,
    tag_len: usize,
    encrypting: bool,
    out: &mut Zeroizing<Vec<u8>>,
    response: &mut DataResponse,
) -> Result<(), EngineError> {
    if encrypting {
        let (rest, tag) = stream.finish_seal(tag_len)?;
        out.extend_from_slice(&rest);
        response.authenticated_encryption_tag = Some(tag);
    } else {
        let tag = request
            .authenticated_encryption_tag
            .as_deref()
            .ok_or_else(|| EngineError::MissingData("Authenticated Encryption Tag".into()))?;
        let rest = stream.finish_open(tag)?;
        out.extend_from_slice(&rest);
    }
    Ok(())
}

/// The AEAD tag length the parameters ask for (16 bytes if none); encryption makes only the
/// lengths AWS-LC allows.
fn tag_length(params: &CryptographicParameters, encrypting: bool) -> Result<usize, EngineError> {
    let tag_len = match params.tag_length {
        None => aead::TAG_LEN,
        Some(n) => usize::try_from(n).map_err(|_| CryptoError::InvalidTagLength(0))?,
    };
    if encrypting && !aws_lc_ffi::tag_length_allowed(tag_len) {
        return Err(CryptoError::InvalidTagLength(tag_len).into());
    }
    Ok(tag_len)
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
    let label = params.p_source.as_deref();
    let der = encoded_key(key)?;
    if let Some((oaep_hash, mgf1_hash)) = oaep_with_other_mgf1(params)? {
        return rsa_oaep_other_mgf1(key, direction, der, oaep_hash, mgf1_hash, label, data);
    }
    let padding = rsa_padding(params)?;
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

/// RSA-OAEP whose MGF1 hash differs from its label hash, through AWS-LC directly.
fn rsa_oaep_other_mgf1(
    key: &UsableKey,
    direction: Direction,
    der: &[u8],
    oaep_hash: crate::crypto::digest::HashAlgorithm,
    mgf1_hash: crate::crypto::digest::HashAlgorithm,
    label: Option<&[u8]>,
    data: &[u8],
) -> Result<Zeroizing<Vec<u8>>, EngineError> {
    let encrypting = direction == Direction::Encrypt;
    let key_der: Zeroizing<Vec<u8>> = match (direction, key.object_type) {
        (Direction::Encrypt, ObjectType::PublicKey) => {
            Zeroizing::new(keypair::rsa_public_to_spki(der)?)
        }
        (Direction::Encrypt, ObjectType::PrivateKey) => {
            Zeroizing::new(keypair::public_spki_of_private(der)?)
        }
        (Direction::Decrypt, ObjectType::PrivateKey) => keypair::rsa_private_to_pkcs8(der)?,
        (_, other) => {
            return Err(EngineError::Illegal(format!(
                "RSA-OAEP cannot be done with a {other:?} object in this direction"
            )));
        }
    };
    Ok(aws_lc_ffi::rsa_oaep(
        encrypting, &key_der, oaep_hash, mgf1_hash, label, data,
    )?)
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
