//! The policy gate every cryptographic operation passes before key material is unsealed: the
//! caller owns the key, its object type fits, its state and its Process Start / Protect Stop
//! dates allow the use, and its Cryptographic Usage Mask grants it. Then the material is
//! unsealed for the length of one operation.
//!
//! KMIP's rule, as this server applies it: operations that apply protection (Encrypt, Sign,
//! MAC, Derive Key) need an Active key before its Protect Stop Date; operations that process
//! protected data (Decrypt, Signature Verify, MAC Verify) also accept a Deactivated key, from
//! its Process Start Date on. Derive Key also accepts a Pre-Active base object (see
//! `load_for`).

use super::*;
use crate::crypto::CryptoError;
use crate::kmip::crypto_parameters::CryptographicParameters;
use crate::kmip::crypto_parameters::values::validity_indicator;
use crate::kmip::crypto_payloads::DataRequest;
use crate::kmip::enums::usage_mask;
use crate::kmip::payload_fields::PayloadError;

/// What the key is about to be used for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Usage {
    Encrypt,
    Decrypt,
    Sign,
    Verify,
    MacGenerate,
    MacVerify,
    DeriveKey,
}

impl Usage {
    fn mask(self) -> i32 {
        match self {
            Usage::Encrypt => usage_mask::ENCRYPT,
            Usage::Decrypt => usage_mask::DECRYPT,
            Usage::Sign => usage_mask::SIGN,
            Usage::Verify => usage_mask::VERIFY,
            Usage::MacGenerate => usage_mask::MACGENERATE,
            Usage::MacVerify => usage_mask::MACVERIFY,
            Usage::DeriveKey => usage_mask::DERIVE_KEY,
        }
    }

    /// Applies protection (rather than processing protected data).
    fn protects(self) -> bool {
        matches!(
            self,
            Usage::Encrypt | Usage::Sign | Usage::MacGenerate | Usage::DeriveKey
        )
    }

    /// The object types whose key may serve the use.
    fn object_types(self) -> &'static [ObjectType] {
        match self {
            Usage::Encrypt | Usage::Decrypt => &[
                ObjectType::SymmetricKey,
                ObjectType::PublicKey,
                ObjectType::PrivateKey,
            ],
            Usage::Sign => &[ObjectType::PrivateKey],
            Usage::Verify => &[ObjectType::PublicKey, ObjectType::PrivateKey],
            Usage::MacGenerate | Usage::MacVerify => &[ObjectType::SymmetricKey],
            Usage::DeriveKey => &[ObjectType::SymmetricKey, ObjectType::SecretData],
        }
    }

    /// The operation takes its data in several requests (Init Indicator, Correlation Value,
    /// Final Indicator); the others refuse a multi-part request as unsupported.
    fn multi_part(self) -> bool {
        matches!(self, Usage::Encrypt | Usage::Decrypt)
    }

    pub(super) fn operation(self) -> &'static str {
        match self {
            Usage::Encrypt => "Encrypt",
            Usage::Decrypt => "Decrypt",
            Usage::Sign => "Sign",
            Usage::Verify => "Signature Verify",
            Usage::MacGenerate => "MAC",
            Usage::MacVerify => "MAC Verify",
            Usage::DeriveKey => "Derive Key",
        }
    }
}

/// A key cleared for one use. `Debug` never shows the material.
pub(super) struct UsableKey {
    pub uid: String,
    pub object_type: ObjectType,
    /// Cryptographic Algorithm attribute.
    pub algorithm: Option<u32>,
    /// Key Format Type of the stored material.
    pub key_format: u32,
    /// The key's Cryptographic Parameters attribute (request parameters fall back to it).
    pub parameters: CryptographicParameters,
    pub material: Zeroizing<Vec<u8>>,
    pub material_generation: u64,
}

impl std::fmt::Debug for UsableKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UsableKey")
            .field("uid", &self.uid)
            .field("object_type", &self.object_type)
            .field("algorithm", &self.algorithm)
            .finish_non_exhaustive()
    }
}

impl From<PayloadError> for EngineError {
    fn from(e: PayloadError) -> Self {
        match e {
            PayloadError::Missing(field) => EngineError::MissingData(field.to_string()),
            other => EngineError::InvalidField(other.to_string()),
        }
    }
}

/// A data operation's request with its key cleared for the use, as every keyed cryptographic
/// operation starts: the request read, the multi-part rule applied, the Unique Identifier (or
/// the ID Placeholder) resolved, the key loaded through the policy gate, and the request's
/// Cryptographic Parameters completed from the key's.
pub(super) struct Prepared {
    pub request: DataRequest,
    pub key: UsableKey,
    /// The request's parameters, each one it leaves out taken from the key's attribute.
    pub params: CryptographicParameters,
}

/// The shared prologue of Encrypt, Decrypt, Sign, Signature Verify, MAC and MAC Verify.
pub(super) fn prepare(ctx: &Ctx, payload: &Item, usage: Usage) -> Result<Prepared, EngineError> {
    let request = DataRequest::read(payload)?;
    if !usage.multi_part() {
        single_part(&request, usage.operation())?;
    }
    let uid = request_uid(ctx, &request.unique_identifier)?;
    let key = load_for(ctx, &uid, usage)?;
    let params = request
        .parameters
        .clone()
        .unwrap_or_default()
        .or(&key.parameters);
    Ok(Prepared {
        request,
        key,
        params,
    })
}

/// The request's Data, which the operation needs.
pub(super) fn required_data(request: &DataRequest) -> Result<&[u8], EngineError> {
    request
        .data
        .as_deref()
        .map(|d| &d[..])
        .ok_or_else(|| EngineError::MissingData("Data".into()))
}

/// A verification's answer: a mismatch is a successful operation whose Validity Indicator
/// says Invalid; only another failure fails the operation.
pub(super) fn validity(checked: Result<(), CryptoError>) -> Result<u32, EngineError> {
    match checked {
        Ok(()) => Ok(validity_indicator::VALID),
        Err(CryptoError::IntegrityCheckFailed) => Ok(validity_indicator::INVALID),
        Err(other) => Err(other.into()),
    }
}

/// Refuses a multi-part request (Correlation Value, or Init Indicator without Final
/// Indicator) to an operation that is offered single-part only.
pub(super) fn single_part(request: &DataRequest, operation: &str) -> Result<(), EngineError> {
    if request.correlation_value.is_some()
        || (request.init_indicator == Some(true) && request.final_indicator != Some(true))
    {
        return Err(EngineError::FeatureNotSupported(format!(
            "multi-part {operation}"
        )));
    }
    Ok(())
}

/// Loads `uid` for `usage` if policy allows it, with its material unsealed.
pub(super) fn load_for(ctx: &Ctx, uid: &str, usage: Usage) -> Result<UsableKey, EngineError> {
    let (stored, mut managed) = ctx.load_live(uid)?;
    if !usage.object_types().contains(&managed.object_type) {
        return Err(EngineError::Illegal(format!(
            "{} cannot be done with a {:?} object",
            usage.operation(),
            managed.object_type
        )));
    }
    // Dates that have passed count even if no operation has stored the transition yet.
    managed.advance_to(ctx.now);
    if !state_and_dates_allow(&managed, usage, ctx.now) {
        return Err(EngineError::WrongState {
            uid: uid.to_string(),
            operation: usage.operation(),
        });
    }
    let mask = managed.int(tag::CRYPTOGRAPHIC_USAGE_MASK).unwrap_or(0);
    if mask & usage.mask() == 0 {
        return Err(EngineError::IncompatibleUsageMask(uid.to_string()));
    }
    let parameters = key_parameters(uid, &managed)?;
    let material = ctx.unseal(&stored, &managed)?;
    Ok(UsableKey {
        uid: uid.to_string(),
        object_type: managed.object_type,
        algorithm: managed.enumeration(tag::CRYPTOGRAPHIC_ALGORITHM),
        key_format: managed.key_format,
        parameters,
        material,
        material_generation: managed.material_generation,
    })
}

/// The key's state and its Process Start / Protect Stop dates allow `usage` at `now`.
fn state_and_dates_allow(managed: &ManagedObject, usage: Usage, now: i64) -> bool {
    let state_allows = match managed.state {
        State::Active => true,
        State::Deactivated => !usage.protects(),
        // Deriving makes a new Pre-Active object and protects or reveals no data; a password
        // or seed registered for derivation is commonly never activated, and KMIP clients
        // (PyKMIP's own suite among them) derive from it as it is.
        State::PreActive => usage == Usage::DeriveKey,
        _ => false,
    };
    let date = |t| match managed.first(t) {
        Some(Value::DateTime(d)) => Some(*d),
        _ => None,
    };
    let dates_allow = if usage.protects() {
        date(tag::PROTECT_STOP_DATE).is_none_or(|stop| now < stop)
    } else {
        date(tag::PROCESS_START_DATE).is_none_or(|start| now >= start)
    };
    state_allows && dates_allow
}

/// The key's Cryptographic Parameters attribute, or none.
fn key_parameters(
    uid: &str,
    managed: &ManagedObject,
) -> Result<CryptographicParameters, EngineError> {
    match managed.first(tag::CRYPTOGRAPHIC_PARAMETERS) {
        Some(value @ Value::Structure(_)) => {
            CryptographicParameters::read(&Item::new(tag::CRYPTOGRAPHIC_PARAMETERS, value.clone()))
                .map_err(|_| EngineError::CorruptMetadata(uid.to_string()))
        }
        _ => Ok(CryptographicParameters::default()),
    }
}

/// The request's Unique Identifier, or the ID Placeholder.
pub(super) fn request_uid(ctx: &Ctx, uid: &Option<String>) -> Result<String, EngineError> {
    match uid {
        Some(uid) => Ok(uid.clone()),
        None => ctx
            .placeholder
            .clone()
            .ok_or_else(|| EngineError::MissingData("Unique Identifier".into())),
    }
}

/// Usage Limits Unit "Byte" (the other unit, "Object", counts one per operation).
const USAGE_LIMITS_UNIT_BYTE: u32 = 0x01;

/// Counts one protecting use of `uid` against its Usage Limits, if it has any: `bytes` of data
/// when the unit is Byte, one use otherwise. A use beyond the limit is refused (Permission
/// Denied) and nothing is counted; otherwise the remaining Usage Limits Count is stored with
/// the operation's write.
pub(super) fn count_usage(ctx: &mut Ctx, uid: &str, bytes: usize) -> Result<(), EngineError> {
    let (stored, mut managed) = ctx.load_live(uid)?;
    let Some(Value::Structure(limits)) = managed.first(tag::USAGE_LIMITS).cloned() else {
        return Ok(());
    };
    let long = |t| {
        limits.iter().find_map(|c| match c.value {
            Value::LongInteger(v) if c.tag == t => Some(v),
            _ => None,
        })
    };
    let unit = limits.iter().find_map(|c| match c.value {
        Value::Enumeration(v) if c.tag == tag::USAGE_LIMITS_UNIT => Some(v),
        _ => None,
    });
    let remaining = long(tag::USAGE_LIMITS_COUNT)
        .or_else(|| long(tag::USAGE_LIMITS_TOTAL))
        .unwrap_or(0);
    let used = if unit == Some(USAGE_LIMITS_UNIT_BYTE) {
        i64::try_from(bytes).unwrap_or(i64::MAX)
    } else {
        1
    };
    if used > remaining {
        return Err(EngineError::PermissionDenied(format!(
            "the Usage Limits of {uid} are exhausted"
        )));
    }
    let mut updated: Vec<Item> = limits
        .into_iter()
        .filter(|c| c.tag != tag::USAGE_LIMITS_COUNT)
        .collect();
    let at = updated
        .iter()
        .position(|c| c.tag == tag::USAGE_LIMITS_UNIT)
        .unwrap_or(updated.len());
    updated.insert(
        at,
        Item::new(
            tag::USAGE_LIMITS_COUNT,
            Value::LongInteger(remaining - used),
        ),
    );
    managed.set(tag::USAGE_LIMITS, Value::Structure(updated));
    ctx.save(stored, &managed);
    Ok(())
}
