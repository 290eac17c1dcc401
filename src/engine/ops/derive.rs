//! Derive Key: a new Symmetric Key or Secret Data from one base object the caller may use for
//! Derive Key, by PBKDF2, HMAC (HKDF with the derivation data as info, as PyKMIP derives it),
//! HKDF, NIST SP 800-108 counter mode, or encryption of the derivation data (AES block modes,
//! and Blowfish-CBC as PyKMIP's suite asks for it).
//! The new object carries a Link to its base; the length comes from its Cryptographic Length.

use super::crypto_choice::{SymmetricCipher, hash, symmetric};
use super::crypto_key::{UsableKey, Usage, load_for, request_uid};
use super::*;
use crate::crypto::stream::{BlockStream, Direction};
use crate::crypto::{CryptoError, aws_lc_ffi, kdf};
use crate::kmip::crypto_parameters::CryptographicParameters;
use crate::kmip::crypto_parameters::values::cryptographic_algorithm::BLOWFISH;
use crate::kmip::crypto_parameters::values::{
    block_cipher_mode, hashing_algorithm, padding_method,
};
use crate::kmip::derive_payloads::{
    DerivationParameters, DeriveKeyRequest, DeriveKeyResponse, derivation_method as method,
};

pub(super) fn derive_key(
    ctx: &mut Ctx,
    request: DeriveKeyRequest,
) -> Result<DeriveKeyResponse, EngineError> {
    let attributes = ctx.resolve_attributes(request.attributes)?;
    let object_type = derived_object_type(request.object_type)?;
    let base_uid = base_uid(ctx, &request.unique_identifiers)?;
    let base = load_for(ctx, &base_uid, Usage::DeriveKey)?;
    let len = output_length(&attributes)?;
    let material = derive_material(
        &base,
        request.derivation_method,
        &request.derivation_parameters,
        len,
    )?;
    let uid = store_new(
        ctx,
        NewObject {
            object_type,
            key_format: KeyFormatType::Raw.value(),
            // Secret Data carries its type before its Key Block; derived bytes are a Seed.
            data_type: (object_type == ObjectType::SecretData)
                .then_some(crate::kmip::enums::SecretDataType::Seed.value()),
            material: &material,
            origin: MaterialOrigin::Generated,
            object_fields: Vec::new(),
        },
        attributes,
    )?;
    add_link(ctx, &uid, LinkType::DerivationBaseObject, &base_uid)?;
    Ok(DeriveKeyResponse {
        unique_identifier: uid,
    })
}

/// The object type asked for: a Symmetric Key or Secret Data.
fn derived_object_type(asked: u32) -> Result<ObjectType, EngineError> {
    match ObjectType::from_u32(asked) {
        Some(t @ (ObjectType::SymmetricKey | ObjectType::SecretData)) => Ok(t),
        _ => Err(EngineError::InvalidField(format!(
            "Derive Key makes a Symmetric Key or Secret Data, not object type {asked}"
        ))),
    }
}

/// The one base object: the request's, or the ID Placeholder.
fn base_uid(ctx: &Ctx, given: &[String]) -> Result<String, EngineError> {
    match given {
        [uid] => Ok(uid.clone()),
        [] => request_uid(ctx, &None),
        _ => Err(EngineError::FeatureNotSupported(
            "Derive Key from several base objects".into(),
        )),
    }
}

/// The new object's length in bytes, from its Cryptographic Length attribute.
///
/// A derivation defines its own output length: the client's Cryptographic Length is taken as
/// asked, even where Create would refuse it for the algorithm (PyKMIP derives a 160-bit "AES"
/// key with PBKDF2-SHA1). Such a key is refused later by any operation that cannot use that
/// length (docs/kmip-support.md).
fn output_length(attributes: &[Attribute]) -> Result<usize, EngineError> {
    let length = attributes
        .iter()
        .find(|a| a.key == AttrKey::Standard(tag::CRYPTOGRAPHIC_LENGTH))
        .map(|a| &a.value);
    let bits = match length {
        Some(Value::Integer(bits)) => *bits,
        Some(_) => return Err(EngineError::InvalidField("Cryptographic Length".into())),
        None => return Err(EngineError::MissingData("Cryptographic Length".into())),
    };
    if bits <= 0 || bits % 8 != 0 || bits as usize / 8 > kdf::MAX_OUTPUT {
        return Err(EngineError::InvalidField(format!(
            "Cryptographic Length {bits} (a multiple of 8, at most {} bits)",
            kdf::MAX_OUTPUT * 8
        )));
    }
    Ok(bits as usize / 8)
}

/// `len` bytes derived from the base key by the Derivation Method.
fn derive_material(
    base: &UsableKey,
    derivation_method: u32,
    params: &DerivationParameters,
    len: usize,
) -> Result<Zeroizing<Vec<u8>>, EngineError> {
    let crypto_params = params.cryptographic_parameters.clone().unwrap_or_default();
    let digest = || {
        hash(
            crypto_params
                .hashing_algorithm
                .unwrap_or(hashing_algorithm::SHA_256),
        )
    };
    let data = params
        .derivation_data
        .as_deref()
        .map(|d| &d[..])
        .unwrap_or_default();
    let salt = params.salt.as_deref().unwrap_or_default();
    match derivation_method {
        method::PBKDF2 => {
            let iterations = params
                .iteration_count
                .ok_or_else(|| EngineError::MissingData("Iteration Count".into()))?;
            let iterations = u32::try_from(iterations)
                .map_err(|_| EngineError::InvalidField(format!("Iteration Count {iterations}")))?;
            Ok(kdf::pbkdf2(
                digest()?,
                &base.material,
                salt,
                iterations,
                len,
            )?)
        }
        method::HMAC | method::HKDF => Ok(kdf::hkdf(digest()?, &base.material, salt, data, len)?),
        method::NIST800_108_C => Ok(kdf::sp800_108_counter_hmac(
            digest()?,
            &base.material,
            data,
            len,
        )?),
        method::ENCRYPT => {
            let iv = params.initialization_vector.as_deref().unwrap_or_default();
            let out = encrypt_derivation_data(base, &crypto_params, iv, data)?;
            first_bytes(out, len, data.len())
        }
        other => Err(EngineError::Crypto(CryptoError::Unsupported(format!(
            "Derivation Method {other:#x}"
        )))),
    }
}

/// The Derivation Data encrypted under the base key: Blowfish-CBC (AWS-LC's decrepit part, for
/// encryption-based derivation as PyKMIP asks for it; not offered for Encrypt), or an AES
/// block mode.
fn encrypt_derivation_data(
    base: &UsableKey,
    crypto_params: &CryptographicParameters,
    iv: &[u8],
    data: &[u8],
) -> Result<Zeroizing<Vec<u8>>, EngineError> {
    if crypto_params.cryptographic_algorithm.or(base.algorithm) == Some(BLOWFISH) {
        if crypto_params
            .block_cipher_mode
            .is_some_and(|m| m != block_cipher_mode::CBC)
        {
            return Err(EngineError::Crypto(CryptoError::Unsupported(
                "Blowfish in a mode other than CBC".into(),
            )));
        }
        let pkcs5 = crypto_params.padding_method == Some(padding_method::PKCS5);
        return Ok(aws_lc_ffi::blowfish_cbc_encrypt(
            &base.material,
            iv,
            data,
            pkcs5,
        )?);
    }
    let SymmetricCipher::Block(mode, padding) = symmetric(crypto_params, base.algorithm)? else {
        return Err(EngineError::Crypto(CryptoError::Unsupported(
            "Derive Key by authenticated encryption".into(),
        )));
    };
    Ok(BlockStream::new(mode, padding, Direction::Encrypt, iv)?.finish(&base.material, data)?)
}

/// The first `len` bytes of an encryption of `data_len` bytes of Derivation Data.
fn first_bytes(
    mut out: Zeroizing<Vec<u8>>,
    len: usize,
    data_len: usize,
) -> Result<Zeroizing<Vec<u8>>, EngineError> {
    if out.len() < len {
        return Err(EngineError::InvalidField(format!(
            "encrypting {data_len} bytes of Derivation Data yields fewer than {len} bytes"
        )));
    }
    out.truncate(len);
    Ok(out)
}
