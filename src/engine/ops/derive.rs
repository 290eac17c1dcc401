//! Derive Key: a new Symmetric Key or Secret Data from one base object the caller may use for
//! Derive Key, by PBKDF2, HMAC (HKDF with the derivation data as info, as PyKMIP derives it),
//! HKDF, NIST SP 800-108 counter mode, or encryption of the derivation data (AES block modes,
//! and Blowfish-CBC as PyKMIP's suite asks for it).
//! The new object carries a Link to its base; the length comes from its Cryptographic Length.

use super::crypto_choice::{SymmetricCipher, hash, symmetric};
use super::crypto_key::{Usage, load_for};
use super::*;
use crate::crypto::stream::{BlockStream, Direction};
use crate::crypto::{CryptoError, aws_lc_ffi, kdf};
use crate::kmip::crypto_parameters::values::cryptographic_algorithm::BLOWFISH;
use crate::kmip::crypto_parameters::values::{
    block_cipher_mode, hashing_algorithm, padding_method,
};
use crate::kmip::derive_payloads::{
    DeriveKeyRequest, DeriveKeyResponse, derivation_method as method,
};

pub(super) fn derive_key(
    ctx: &mut Ctx,
    request: DeriveKeyRequest,
) -> Result<DeriveKeyResponse, EngineError> {
    let attributes = ctx.resolve_attributes(request.attributes)?;
    let object_type = match ObjectType::from_u32(request.object_type) {
        Some(t @ (ObjectType::SymmetricKey | ObjectType::SecretData)) => t,
        _ => {
            return Err(EngineError::InvalidField(format!(
                "Derive Key makes a Symmetric Key or Secret Data, not object type {}",
                request.object_type
            )));
        }
    };
    let base_uid = match request.unique_identifiers.as_slice() {
        [uid] => uid.clone(),
        [] => ctx
            .placeholder
            .clone()
            .ok_or_else(|| EngineError::MissingData("Unique Identifier".into()))?,
        _ => {
            return Err(EngineError::FeatureNotSupported(
                "Derive Key from several base objects".into(),
            ));
        }
    };
    let base = load_for(
        ctx,
        &base_uid,
        Usage::DeriveKey,
        &[ObjectType::SymmetricKey, ObjectType::SecretData],
    )?;
    let find = |t| {
        attributes
            .iter()
            .find(|a| a.key == AttrKey::Standard(t))
            .map(|a| &a.value)
    };
    let bits = match find(tag::CRYPTOGRAPHIC_LENGTH) {
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
    // A derivation defines its own output length: the client's Cryptographic Length is taken
    // as asked, even where Create would refuse it for the algorithm (PyKMIP derives a 160-bit
    // "AES" key with PBKDF2-SHA1). Such a key is refused later by any operation that cannot
    // use that length (docs/kmip-support.md).
    let len = bits as usize / 8;
    let params = &request.derivation_parameters;
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
    let material = match request.derivation_method {
        method::PBKDF2 => {
            let iterations = params
                .iteration_count
                .ok_or_else(|| EngineError::MissingData("Iteration Count".into()))?;
            let iterations = u32::try_from(iterations)
                .map_err(|_| EngineError::InvalidField(format!("Iteration Count {iterations}")))?;
            kdf::pbkdf2(digest()?, &base.material, salt, iterations, len)?
        }
        method::HMAC | method::HKDF => kdf::hkdf(digest()?, &base.material, salt, data, len)?,
        method::NIST800_108_C => kdf::sp800_108_counter_hmac(digest()?, &base.material, data, len)?,
        method::ENCRYPT
            if crypto_params.cryptographic_algorithm.or(base.algorithm) == Some(BLOWFISH) =>
        {
            // Blowfish (AWS-LC's decrepit part), CBC only, for encryption-based derivation as
            // PyKMIP asks for it; not offered for Encrypt.
            if crypto_params
                .block_cipher_mode
                .is_some_and(|m| m != block_cipher_mode::CBC)
            {
                return Err(EngineError::Crypto(CryptoError::Unsupported(
                    "Blowfish in a mode other than CBC".into(),
                )));
            }
            let iv = params.initialization_vector.as_deref().unwrap_or_default();
            let pkcs5 = crypto_params.padding_method == Some(padding_method::PKCS5);
            let mut out = aws_lc_ffi::blowfish_cbc_encrypt(&base.material, iv, data, pkcs5)?;
            if out.len() < len {
                return Err(EngineError::InvalidField(format!(
                    "encrypting {} bytes of Derivation Data yields fewer than {len} bytes",
                    data.len()
                )));
            }
            out.truncate(len);
            out
        }
        method::ENCRYPT => {
            let SymmetricCipher::Block(mode, padding) = symmetric(&crypto_params, base.algorithm)?
            else {
                return Err(EngineError::Crypto(CryptoError::Unsupported(
                    "Derive Key by authenticated encryption".into(),
                )));
            };
            let iv = params.initialization_vector.as_deref().unwrap_or_default();
            let mut out = BlockStream::new(mode, padding, Direction::Encrypt, iv)?
                .finish(&base.material, data)?;
            if out.len() < len {
                return Err(EngineError::InvalidField(format!(
                    "encrypting {} bytes of Derivation Data yields fewer than {len} bytes",
                    data.len()
                )));
            }
            out.truncate(len);
            out
        }
        other => {
            return Err(EngineError::Crypto(CryptoError::Unsupported(format!(
                "Derivation Method {other:#x}"
            ))));
        }
    };
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
    let (stored, mut managed) = ctx.load(&uid)?;
    managed.attributes.push(Attribute {
        key: AttrKey::Standard(tag::LINK),
        value: Value::Structure(vec![
            Item::new(
                tag::LINK_TYPE,
                Value::Enumeration(LinkType::DerivationBaseObject.value()),
            ),
            Item::new(tag::LINKED_OBJECT_IDENTIFIER, Value::TextString(base_uid)),
        ]),
    });
    ctx.save(stored, &managed);
    Ok(DeriveKeyResponse {
        unique_identifier: uid,
    })
}
