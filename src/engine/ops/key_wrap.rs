//! Get with a Key Wrapping Specification: the key comes back wrapped under another key of the
//! same client, with AES Key Wrap (RFC 3394, NIST Key Wrap) or AES Key Wrap with Padding
//! (RFC 5649), both from aws-lc-rs.
//!
//! Why a file of its own: wrapping has its own policy (the wrapping key must be the caller's,
//! an Active AES key allowed to Wrap Key) and its own answer shape (Key Wrapping Data beside
//! the wrapped Key Material). Only Wrapping Method Encrypt with No Encoding is offered; the
//! others (MAC/sign, TTLV-encoded Key Value, RSA-OAEP) are refused as not supported.

use aws_lc_rs::key_wrap::{AES_128, AES_256, AesKek, KeyWrap, KeyWrapPadded};

use super::*;

/// Wrapping Method "Encrypt".
const WRAPPING_METHOD_ENCRYPT: u32 = 0x01;
/// Encoding Option "No Encoding".
const NO_ENCODING: u32 = 0x01;
/// Block Cipher Mode values.
const AES_KEY_WRAP_PADDING: u32 = 0x0C;
const NIST_KEY_WRAP: u32 = 0x0D;

/// A parsed Key Wrapping Specification.
pub(super) struct WrappingRequest {
    wrapping_key: String,
    padded: bool,
    /// The Cryptographic Parameters the client gave, echoed in the Key Wrapping Data.
    parameters: Option<Item>,
}

fn unsupported(what: &str) -> EngineError {
    EngineError::FeatureNotSupported(format!("key wrapping: {what}"))
}

impl WrappingRequest {
    pub(super) fn read(spec: &Item) -> Result<WrappingRequest, EngineError> {
        if enum_field(spec, tag::WRAPPING_METHOD)? != Some(WRAPPING_METHOD_ENCRYPT) {
            return Err(unsupported("only Wrapping Method Encrypt"));
        }
        if let Some(encoding) = enum_field(spec, tag::ENCODING_OPTION)?
            && encoding != NO_ENCODING
        {
            return Err(unsupported("only Encoding Option No Encoding"));
        }
        if spec.child(tag::MAC_SIGNATURE_KEY_INFORMATION).is_some() {
            return Err(unsupported("MAC/signature keys"));
        }
        let info = spec
            .child(tag::ENCRYPTION_KEY_INFORMATION)
            .ok_or_else(|| EngineError::MissingData("Encryption Key Information".into()))?;
        let wrapping_key = match info.child(tag::UNIQUE_IDENTIFIER) {
            Some(Item {
                value: Value::TextString(uid),
                ..
            }) => uid.clone(),
            _ => {
                return Err(EngineError::MissingData(
                    "wrapping key Unique Identifier".into(),
                ));
            }
        };
        let parameters = info.child(tag::CRYPTOGRAPHIC_PARAMETERS).cloned();
        let padded = match parameters
            .as_ref()
            .map(|p| enum_field(p, tag::BLOCK_CIPHER_MODE))
            .transpose()?
            .flatten()
        {
            None | Some(NIST_KEY_WRAP) => false,
            Some(AES_KEY_WRAP_PADDING) => true,
            Some(mode) => return Err(unsupported(&format!("Block Cipher Mode {mode}"))),
        };
        Ok(WrappingRequest {
            wrapping_key,
            padded,
            parameters,
        })
    }

    pub(super) fn wraps_itself(&self, uid: &str) -> bool {
        self.wrapping_key == uid
    }

    /// Wraps `material` under the wrapping key; returns the wrapped bytes and the Key Wrapping
    /// Data to put beside them.
    pub(super) fn wrap(&self, ctx: &Ctx, material: &[u8]) -> Result<(Vec<u8>, Item), EngineError> {
        let (stored, managed) = ctx.load_live(&self.wrapping_key)?;
        if managed.object_type != ObjectType::SymmetricKey
            || managed.enumeration(tag::CRYPTOGRAPHIC_ALGORITHM)
                != Some(CryptographicAlgorithm::Aes.value())
        {
            return Err(unsupported("the wrapping key must be an AES key"));
        }
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
        let kek_bytes = ctx.unseal(&stored, &managed)?;
        let kek = match kek_bytes.len() {
            16 => AesKek::new(&AES_128, &kek_bytes),
            32 => AesKek::new(&AES_256, &kek_bytes),
            _ => return Err(unsupported("AES-192 wrapping keys")),
        }
        .map_err(|_| unsupported("the wrapping key"))?;
        let mut out = vec![0u8; material.len() + 16];
        let wrapped = if self.padded {
            kek.wrap_with_padding(material, &mut out)
        } else {
            kek.wrap(material, &mut out)
        }
        .map_err(|_| {
            EngineError::InvalidField(
                "AES Key Wrap needs key material of a multiple of 8 bytes, at least 16 \
                 (AES Key Wrap with Padding takes any length)"
                    .into(),
            )
        })?
        .to_vec();
        let mut info = vec![Item::new(
            tag::UNIQUE_IDENTIFIER,
            Value::TextString(self.wrapping_key.clone()),
        )];
        info.extend(self.parameters.clone());
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
