//! Get with a Key Wrapping Specification: the key comes back wrapped under another key of the
//! same client, with AES Key Wrap (RFC 3394, NIST Key Wrap) or AES Key Wrap with Padding
//! (RFC 5649) under an AES key, or RSA-OAEP (RFC 8017 section 7.1, any MGF1 hash) under an RSA
//! public key, all from aws-lc-rs / AWS-LC (`crate::crypto::keywrap`).
//!
//! Why a file of its own: wrapping has its own policy (the wrapping key must be the caller's,
//! Active, and allowed to Wrap Key) and its own answer shape (Key Wrapping Data beside the
//! wrapped Key Material). Only Wrapping Method Encrypt with No Encoding is offered; the others
//! (MAC/sign, TTLV-encoded Key Value) and RSA PKCS#1 v1.5 key transport (Bleichenbacher-prone)
//! are refused as not supported.

use super::*;
use crate::crypto::CryptoError;
use crate::crypto::asymmetric::RsaPadding;
use crate::crypto::digest::HashAlgorithm;
use crate::crypto::keywrap;
use crate::kmip::crypto_parameters::CryptographicParameters;
use crate::kmip::crypto_parameters::values::padding_method;
use crate::kmip::key_wrapping::KeyWrappingSpecification;

/// Wrapping Method "Encrypt".
const WRAPPING_METHOD_ENCRYPT: u32 = 0x01;
/// Encoding Option "No Encoding".
const NO_ENCODING: u32 = 0x01;
/// Block Cipher Mode values.
const AES_KEY_WRAP_PADDING: u32 = 0x0C;
const NIST_KEY_WRAP: u32 = 0x0D;

/// A Key Wrapping Specification this server can honour (read by
/// `crate::kmip::key_wrapping`, checked here against what is offered).
pub(super) struct WrappingRequest {
    wrapping_key: String,
    /// The Cryptographic Parameters the client gave, echoed in the Key Wrapping Data.
    parameters: Option<CryptographicParameters>,
}

/// How the material is wrapped, once the wrapping key is known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scheme {
    /// RFC 3394 (`false`) or RFC 5649 (`true`) under an AES key.
    AesKeyWrap { padded: bool },
    /// RSA-OAEP under an RSA public key.
    RsaOaep,
}

/// RSA-OAEP's hashes: the label hash and the MGF1 hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct OaepHashes {
    label: HashAlgorithm,
    mgf1: HashAlgorithm,
}

fn unsupported(what: &str) -> EngineError {
    EngineError::FeatureNotSupported(format!("key wrapping: {what}"))
}

impl WrappingRequest {
    pub(super) fn new(spec: &KeyWrappingSpecification) -> Result<WrappingRequest, EngineError> {
        if spec.wrapping_method != WRAPPING_METHOD_ENCRYPT {
            return Err(unsupported("only Wrapping Method Encrypt"));
        }
        if let Some(encoding) = spec.encoding_option
            && encoding != NO_ENCODING
        {
            return Err(unsupported("only Encoding Option No Encoding"));
        }
        if spec.mac_signature_key_information.is_some() {
            return Err(unsupported("MAC/signature keys"));
        }
        let info = spec
            .encryption_key_information
            .as_ref()
            .ok_or_else(|| EngineError::MissingData("Encryption Key Information".into()))?;
        let wrapping_key = info
            .unique_identifier
            .clone()
            .ok_or_else(|| EngineError::MissingData("wrapping key Unique Identifier".into()))?;
        Ok(WrappingRequest {
            wrapping_key,
            parameters: info.cryptographic_parameters.clone(),
        })
    }

    /// The client's Cryptographic Parameters (none given: the defaults).
    fn requested_parameters(&self) -> CryptographicParameters {
        self.parameters.clone().unwrap_or_default()
    }

    /// The scheme a wrapping key of this type and algorithm takes.
    fn scheme(&self, managed: &ManagedObject) -> Result<Scheme, EngineError> {
        let algorithm = managed.enumeration(tag::CRYPTOGRAPHIC_ALGORITHM);
        let params = self.requested_parameters();
        match (managed.object_type, algorithm) {
            (ObjectType::SymmetricKey, Some(a)) if a == CryptographicAlgorithm::Aes.value() => {
                match params.block_cipher_mode {
                    None | Some(NIST_KEY_WRAP) => Ok(Scheme::AesKeyWrap { padded: false }),
                    Some(AES_KEY_WRAP_PADDING) => Ok(Scheme::AesKeyWrap { padded: true }),
                    Some(mode) => Err(unsupported(&format!("Block Cipher Mode {mode}"))),
                }
            }
            (ObjectType::PublicKey, Some(a)) if a == CryptographicAlgorithm::Rsa.value() => {
                Ok(Scheme::RsaOaep)
            }
            _ => Err(unsupported(
                "the wrapping key must be an AES key or an RSA public key",
            )),
        }
    }

    /// RSA-OAEP parameters: the request's, else the wrapping key's Cryptographic Parameters
    /// attribute, else RFC 8017's defaults (SHA-1, MGF1 with SHA-1). The MGF1 hash defaults to
    /// the label hash and may differ from it.
    fn oaep(&self, managed: &ManagedObject) -> Result<(OaepHashes, Option<Vec<u8>>), EngineError> {
        let own = match managed.first(tag::CRYPTOGRAPHIC_PARAMETERS) {
            Some(value @ Value::Structure(_)) => CryptographicParameters::read(&Item::new(
                tag::CRYPTOGRAPHIC_PARAMETERS,
                value.clone(),
            ))
            .unwrap_or_default(),
            _ => CryptographicParameters::default(),
        };
        let mut params = self.requested_parameters().or(&own);
        match params.padding_method {
            None | Some(padding_method::OAEP) => params.padding_method = Some(padding_method::OAEP),
            Some(padding_method::PKCS1_V1_5) => {
                return Err(unsupported(
                    "RSA PKCS#1 v1.5 key transport (only RSA-OAEP wraps keys)",
                ));
            }
            Some(other) => return Err(unsupported(&format!("Padding Method {other:#x} with RSA"))),
        }
        let hashes = match super::crypto_choice::oaep_with_other_mgf1(&params)? {
            Some((label, mgf1)) => OaepHashes { label, mgf1 },
            None => match super::crypto_choice::rsa_padding(&params)? {
                RsaPadding::Oaep(hash) => OaepHashes {
                    label: hash,
                    mgf1: hash,
                },
                RsaPadding::Pkcs1v15 => {
                    return Err(unsupported("RSA PKCS#1 v1.5 key transport"));
                }
            },
        };
        Ok((hashes, params.p_source))
    }

    pub(super) fn wraps_itself(&self, uid: &str) -> bool {
        self.wrapping_key == uid
    }

    /// Wraps `material` under the wrapping key; returns the wrapped bytes and the Key Wrapping
    /// Data to put beside them.
    pub(super) fn wrap(&self, ctx: &Ctx, material: &[u8]) -> Result<(Vec<u8>, Item), EngineError> {
        let (stored, managed) = ctx.load_live(&self.wrapping_key)?;
        let scheme = self.scheme(&managed)?;
        if managed.state != State::Active {
            return Err(EngineError::WrongState {
                uid: self.wrapping_key.clone(),
                operation: "wrap a key with",
            });
        }
        let mask = managed.int(tag::CRYPTOGRAPHIC_USAGE_MASK).unwrap_or(0);
        if mask & crate::kmip::enums::usage_mask::WRAP_KEY == 0 {
            return Err(EngineError::IncompatibleUsageMask(
                self.wrapping_key.clone(),
            ));
        }
        let wrapped = match scheme {
            Scheme::AesKeyWrap { padded } => {
                let kek_bytes = ctx.unseal(&stored, &managed)?;
                aes_key_wrap(&kek_bytes, padded, material)?
            }
            Scheme::RsaOaep => {
                let (hashes, label) = self.oaep(&managed)?;
                let public = ctx.unseal(&stored, &managed)?;
                rsa_oaep_wrap(
                    managed.key_format,
                    &public,
                    hashes,
                    label.as_deref(),
                    material,
                )?
            }
        };
        let mut info = vec![Item::new(
            tag::UNIQUE_IDENTIFIER,
            Value::TextString(self.wrapping_key.clone()),
        )];
        info.extend(
            self.parameters
                .as_ref()
                .map(CryptographicParameters::encode),
        );
        let data = Item::structure(
            tag::KEY_WRAPPING_DATA,
            vec![
                Item::new(
                    tag::WRAPPING_METHOD,
                    Value::Enumeration(WRAPPING_METHOD_ENCRYPT),
                ),
                Item::structure(tag::ENCRYPTION_KEY_INFORMATION, info),
                Item::new(tag::ENCODING_OPTION, Value::Enumeration(NO_ENCODING)),
            ],
        );
        Ok((wrapped, data))
    }
}

/// RFC 3394 / RFC 5649 through `crate::crypto::keywrap` (AES-128 and AES-256 KEKs).
fn aes_key_wrap(kek_bytes: &[u8], padded: bool, material: &[u8]) -> Result<Vec<u8>, EngineError> {
    let wrapped = if padded {
        keywrap::wrap_with_padding(kek_bytes, material)
    } else {
        keywrap::wrap(kek_bytes, material)
    };
    wrapped.map_err(|e| match e {
        CryptoError::KeyLength { .. } => unsupported("AES-192 wrapping keys"),
        CryptoError::InvalidInput(_) => EngineError::InvalidField(
            "AES Key Wrap needs key material of a multiple of 8 bytes, at least 16 \
             (AES Key Wrap with Padding takes any length)"
                .into(),
        ),
        other => EngineError::Crypto(other),
    })
}

/// RSA-OAEP encryption of `material` to the wrapping public key (stored PKCS#1 or
/// SubjectPublicKeyInfo), with the MGF1 hash the client asked for.
fn rsa_oaep_wrap(
    stored_format: u32,
    public: &[u8],
    hashes: OaepHashes,
    label: Option<&[u8]>,
    material: &[u8],
) -> Result<Vec<u8>, EngineError> {
    let usable = stored_format == KeyFormatType::Pkcs1.value()
        || stored_format == KeyFormatType::X509.value();
    if !usable {
        return Err(unsupported(&format!(
            "RSA wrapping keys stored in Key Format Type {stored_format:#x}"
        )));
    }
    keywrap::rsa_oaep_wrap(public, hashes.label, hashes.mgf1, label, material).map_err(
        |e| match e {
            CryptoError::InvalidInput(_) => EngineError::InvalidField(
                "the key is too long for RSA-OAEP under this wrapping key".into(),
            ),
            other => EngineError::Crypto(other),
        },
    )
}
