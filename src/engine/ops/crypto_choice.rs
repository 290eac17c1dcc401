//! From KMIP numbers to algorithms: which cipher, padding, hash or signature scheme a request's
//! Cryptographic Parameters (over the key's own) and the key's Cryptographic Algorithm select.
//! A choice Keyward does not offer is `CryptoError::Unsupported`, naming it.

use super::*;
use crate::crypto::CryptoError;
use crate::crypto::asymmetric::RsaPadding;
use crate::crypto::digest::HashAlgorithm;
use crate::crypto::signature::SignatureAlgorithm;
use crate::crypto::stream::{Padding, StreamMode};
use crate::crypto::symmetric::AeadAlgorithm;
use crate::kmip::crypto_parameters::CryptographicParameters;
use crate::kmip::crypto_parameters::values::{
    block_cipher_mode as mode, cryptographic_algorithm as alg, digital_signature_algorithm as dsa,
    hashing_algorithm as h, mask_generator, padding_method as pad,
};

fn unsupported(what: String) -> EngineError {
    EngineError::Crypto(CryptoError::Unsupported(what))
}

/// A Hashing Algorithm value.
pub(super) fn hash(value: u32) -> Result<HashAlgorithm, EngineError> {
    Ok(match value {
        h::SHA_1 => HashAlgorithm::Sha1,
        h::SHA_224 => HashAlgorithm::Sha224,
        h::SHA_256 => HashAlgorithm::Sha256,
        h::SHA_384 => HashAlgorithm::Sha384,
        h::SHA_512 => HashAlgorithm::Sha512,
        h::SHA_512_256 => HashAlgorithm::Sha512_256,
        h::SHA3_256 => HashAlgorithm::Sha3_256,
        h::SHA3_384 => HashAlgorithm::Sha3_384,
        h::SHA3_512 => HashAlgorithm::Sha3_512,
        other => return Err(unsupported(format!("Hashing Algorithm {other:#x}"))),
    })
}

/// The algorithm named by the parameters, else the key's.
fn algorithm(params: &CryptographicParameters, key_algorithm: Option<u32>) -> Option<u32> {
    params.cryptographic_algorithm.or(key_algorithm)
}

/// A symmetric cipher choice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum SymmetricCipher {
    /// AES in a block mode (one-shot or multi-part).
    Block(StreamMode, Padding),
    Aead(AeadAlgorithm),
    /// ChaCha20 without Poly1305 (a keystream, no integrity).
    ChaCha20,
}

pub(super) fn symmetric(
    params: &CryptographicParameters,
    key_algorithm: Option<u32>,
) -> Result<SymmetricCipher, EngineError> {
    match algorithm(params, key_algorithm) {
        Some(alg::CHACHA20_POLY1305) => {
            return Ok(SymmetricCipher::Aead(AeadAlgorithm::ChaCha20Poly1305));
        }
        Some(alg::CHACHA20) => return Ok(SymmetricCipher::ChaCha20),
        Some(alg::AES) | None => {}
        Some(other) => {
            return Err(unsupported(format!(
                "symmetric encryption with Cryptographic Algorithm {other:#x}"
            )));
        }
    }
    let padding = match params.padding_method {
        None | Some(pad::NONE) => Padding::None,
        Some(pad::PKCS5) => Padding::Pkcs5,
        Some(other) => return Err(unsupported(format!("Padding Method {other:#x} with AES"))),
    };
    Ok(match params.block_cipher_mode {
        Some(mode::CBC) => SymmetricCipher::Block(StreamMode::Cbc, padding),
        Some(mode::ECB) => SymmetricCipher::Block(StreamMode::Ecb, padding),
        Some(mode::CTR) => SymmetricCipher::Block(StreamMode::Ctr, Padding::None),
        Some(mode::GCM) => SymmetricCipher::Aead(AeadAlgorithm::AesGcm),
        Some(other) => return Err(unsupported(format!("Block Cipher Mode {other:#x}"))),
        None => return Err(EngineError::MissingData("Block Cipher Mode".into())),
    })
}

/// RSA encryption padding; OAEP's MGF1 hash must equal its label hash (default SHA-1, as
/// RFC 8017 and KMIP default).
pub(super) fn rsa_padding(params: &CryptographicParameters) -> Result<RsaPadding, EngineError> {
    match params.padding_method {
        Some(pad::OAEP) => {
            let label_hash = hash(params.hashing_algorithm.unwrap_or(h::SHA_1))?;
            if let Some(m) = params.mask_generator
                && m != mask_generator::MGF1
            {
                return Err(unsupported(format!("Mask Generator {m:#x}")));
            }
            if let Some(mgf_hash) = params.mask_generator_hashing_algorithm
                && hash(mgf_hash)? != label_hash
            {
                return Err(unsupported(
                    "OAEP with an MGF1 hash other than its label hash".into(),
                ));
            }
            Ok(RsaPadding::Oaep(label_hash))
        }
        Some(pad::PKCS1_V1_5) => Ok(RsaPadding::Pkcs1v15),
        Some(other) => Err(unsupported(format!("Padding Method {other:#x} with RSA"))),
        None => Err(EngineError::MissingData(
            "Padding Method (OAEP or PKCS1 v1.5) for RSA".into(),
        )),
    }
}

/// A signature scheme from Digital Signature Algorithm, or from Cryptographic Algorithm with
/// Padding Method and Hashing Algorithm (default SHA-256).
pub(super) fn signature(
    params: &CryptographicParameters,
    key_algorithm: Option<u32>,
) -> Result<SignatureAlgorithm, EngineError> {
    let hash_or_default = || hash(params.hashing_algorithm.unwrap_or(h::SHA_256));
    if let Some(d) = params.digital_signature_algorithm {
        return Ok(match d {
            dsa::SHA1_WITH_RSA => SignatureAlgorithm::RsaPkcs1v15(HashAlgorithm::Sha1),
            dsa::SHA256_WITH_RSA => SignatureAlgorithm::RsaPkcs1v15(HashAlgorithm::Sha256),
            dsa::SHA384_WITH_RSA => SignatureAlgorithm::RsaPkcs1v15(HashAlgorithm::Sha384),
            dsa::SHA512_WITH_RSA => SignatureAlgorithm::RsaPkcs1v15(HashAlgorithm::Sha512),
            dsa::RSASSA_PSS => SignatureAlgorithm::RsaPss(hash_or_default()?),
            dsa::ECDSA_WITH_SHA1 => SignatureAlgorithm::Ecdsa(HashAlgorithm::Sha1),
            dsa::ECDSA_WITH_SHA224 => SignatureAlgorithm::Ecdsa(HashAlgorithm::Sha224),
            dsa::ECDSA_WITH_SHA256 => SignatureAlgorithm::Ecdsa(HashAlgorithm::Sha256),
            dsa::ECDSA_WITH_SHA384 => SignatureAlgorithm::Ecdsa(HashAlgorithm::Sha384),
            dsa::ECDSA_WITH_SHA512 => SignatureAlgorithm::Ecdsa(HashAlgorithm::Sha512),
            other => {
                return Err(unsupported(format!(
                    "Digital Signature Algorithm {other:#x}"
                )));
            }
        });
    }
    match algorithm(params, key_algorithm) {
        Some(alg::RSA) => match params.padding_method {
            Some(pad::PSS) => Ok(SignatureAlgorithm::RsaPss(hash_or_default()?)),
            None | Some(pad::PKCS1_V1_5) => Ok(SignatureAlgorithm::RsaPkcs1v15(hash_or_default()?)),
            Some(other) => Err(unsupported(format!(
                "Padding Method {other:#x} for signing"
            ))),
        },
        Some(alg::ECDSA | alg::EC) => Ok(SignatureAlgorithm::Ecdsa(hash_or_default()?)),
        Some(alg::ED25519) => Ok(SignatureAlgorithm::Ed25519),
        Some(other) => Err(unsupported(format!(
            "signing with Cryptographic Algorithm {other:#x}"
        ))),
        None => Err(EngineError::MissingData("Cryptographic Algorithm".into())),
    }
}

/// The HMAC hash: from the key's HMAC algorithm, else the parameters' Hashing Algorithm.
pub(super) fn hmac_hash(
    params: &CryptographicParameters,
    key_algorithm: Option<u32>,
) -> Result<HashAlgorithm, EngineError> {
    match algorithm(params, key_algorithm) {
        Some(alg::HMAC_SHA1) => Ok(HashAlgorithm::Sha1),
        Some(alg::HMAC_SHA224) => Ok(HashAlgorithm::Sha224),
        Some(alg::HMAC_SHA256) => Ok(HashAlgorithm::Sha256),
        Some(alg::HMAC_SHA384) => Ok(HashAlgorithm::Sha384),
        Some(alg::HMAC_SHA512) => Ok(HashAlgorithm::Sha512),
        _ => match params.hashing_algorithm {
            Some(v) => hash(v),
            None => Err(EngineError::MissingData(
                "an HMAC Cryptographic Algorithm or a Hashing Algorithm".into(),
            )),
        },
    }
}

/// OAEP whose MGF1 hash differs from its label hash: `Some((label hash, MGF1 hash))`. Such
/// a pair is computed through AWS-LC directly (`crypto::aws_lc_ffi::rsa_oaep`).
pub(super) fn oaep_with_other_mgf1(
    params: &CryptographicParameters,
) -> Result<Option<(HashAlgorithm, HashAlgorithm)>, EngineError> {
    if params.padding_method != Some(pad::OAEP) {
        return Ok(None);
    }
    if let Some(m) = params.mask_generator
        && m != mask_generator::MGF1
    {
        return Err(unsupported(format!("Mask Generator {m:#x}")));
    }
    let label_hash = hash(params.hashing_algorithm.unwrap_or(h::SHA_1))?;
    match params.mask_generator_hashing_algorithm {
        Some(m) if hash(m)? != label_hash => Ok(Some((label_hash, hash(m)?))),
        _ => Ok(None),
    }
}

/// Whether the key's algorithm is RSA (asymmetric encryption) rather than a symmetric cipher.
pub(super) fn is_rsa(params: &CryptographicParameters, key_algorithm: Option<u32>) -> bool {
    algorithm(params, key_algorithm) == Some(alg::RSA)
}
