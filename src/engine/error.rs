//! The engine's one error type, mapped to a KMIP Result Reason at the response boundary.

use crate::kmip::enums::ResultReason;
use crate::seal::SealError;
use crate::store::StoreError;

/// Why one batch item failed. Messages name the field or object at fault, never key material.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("object {0} not found")]
    NotFound(String),
    #[error("object {0} has been destroyed")]
    Destroyed(String),
    #[error("object {uid} is in the wrong state for {operation}")]
    WrongState {
        uid: String,
        operation: &'static str,
    },
    #[error("client request is missing {0}")]
    MissingData(String),
    #[error("client sent an invalid field: {0}")]
    InvalidField(String),
    #[error("client sent an invalid message: {0}")]
    InvalidMessage(String),
    #[error("operation {0:#x} is not supported by this server")]
    OperationNotSupported(u32),
    #[error("feature not supported: {0}")]
    FeatureNotSupported(String),
    #[error("key format type {0} is not supported for this object")]
    KeyFormatNotSupported(u32),
    #[error("attribute {0} is read-only for clients")]
    ReadOnly(String),
    #[error("attribute {0} may have only one instance")]
    SingleValued(String),
    #[error("attribute {0} instance not found")]
    AttributeNotFound(String),
    #[error("the name {0:?} is already used by another object")]
    NonUniqueName(String),
    #[error("operation not permitted: {0}")]
    PermissionDenied(String),
    #[error("illegal operation: {0}")]
    Illegal(String),
    #[error("store failure: {0}")]
    Store(#[from] StoreError),
    #[error("sealing failure: {0}")]
    Seal(#[from] SealError),
    #[error("stored metadata of {0} is unreadable")]
    CorruptMetadata(String),
    #[error("server random generator failed")]
    Random,
    #[error("object {0} is Sensitive: its material cannot be exported")]
    Sensitive(String),
    #[error("NOT_SAFE")]
    NotQuantumSafe,
    #[error("object {0} lacks the requested cryptographic usage")]
    IncompatibleUsageMask(String),
    #[error("the root key is unavailable, so no key material is released or created: {0}")]
    RootKeyUnavailable(String),
    /// A cryptographic operation failed or was refused (see `crate::crypto::CryptoError`).
    #[error("{0}")]
    Crypto(#[from] crate::crypto::CryptoError),
    #[error("the Correlation Value does not continue an operation of this client and key")]
    InvalidCorrelationValue,
}

impl EngineError {
    /// The Result Reason for this error in protocol major version `major`.
    pub fn reason(&self, major: i32) -> ResultReason {
        let v2 = major >= 2;
        match self {
            EngineError::NotFound(_) if v2 => ResultReason::ObjectNotFound,
            // 1.x has no Object Destroyed: a destroyed object is simply not found.
            EngineError::NotFound(_) | EngineError::Destroyed(_) if !v2 => {
                ResultReason::ItemNotFound
            }
            EngineError::NotFound(_) => ResultReason::ObjectNotFound,
            EngineError::Destroyed(_) => ResultReason::ObjectDestroyed,
            EngineError::WrongState { .. } if v2 => ResultReason::WrongKeyLifecycleState,
            EngineError::WrongState { .. } => ResultReason::PermissionDenied,
            EngineError::MissingData(_) => ResultReason::MissingData,
            EngineError::InvalidField(_) => ResultReason::InvalidField,
            EngineError::InvalidMessage(_) => ResultReason::InvalidMessage,
            EngineError::OperationNotSupported(_) => ResultReason::OperationNotSupported,
            EngineError::FeatureNotSupported(_) => ResultReason::FeatureNotSupported,
            EngineError::KeyFormatNotSupported(_) => ResultReason::KeyFormatTypeNotSupported,
            EngineError::ReadOnly(_) if v2 => ResultReason::AttributeReadOnly,
            EngineError::ReadOnly(_) => ResultReason::PermissionDenied,
            EngineError::SingleValued(_) if v2 => ResultReason::AttributeSingleValued,
            EngineError::SingleValued(_) => ResultReason::IllegalOperation,
            EngineError::AttributeNotFound(_) if v2 => ResultReason::AttributeNotFound,
            EngineError::AttributeNotFound(_) => ResultReason::ItemNotFound,
            EngineError::NonUniqueName(_) if v2 => ResultReason::NonUniqueNameAttribute,
            EngineError::NonUniqueName(_) => ResultReason::IllegalOperation,
            EngineError::PermissionDenied(_) => ResultReason::PermissionDenied,
            EngineError::Illegal(_) => ResultReason::IllegalOperation,
            EngineError::Sensitive(_) => ResultReason::Sensitive,
            // The Quantum Safe profile vector expects General Failure for this policy refusal.
            EngineError::NotQuantumSafe => ResultReason::GeneralFailure,
            EngineError::IncompatibleUsageMask(_) if v2 => {
                ResultReason::IncompatibleCryptographicUsageMask
            }
            EngineError::IncompatibleUsageMask(_) => ResultReason::PermissionDenied,
            EngineError::Crypto(e) => crypto_reason(e, v2),
            EngineError::InvalidCorrelationValue if v2 => ResultReason::InvalidCorrelationValue,
            EngineError::InvalidCorrelationValue => ResultReason::InvalidField,
            EngineError::Store(_)
            | EngineError::Seal(_)
            | EngineError::CorruptMetadata(_)
            | EngineError::Random
            | EngineError::RootKeyUnavailable(_) => ResultReason::GeneralFailure,
        }
    }

    /// Text for Result Message. Server-side failures stay vague on the wire (details go to the log).
    pub fn wire_message(&self) -> String {
        match self {
            EngineError::Store(StoreError::Unavailable(_)) => {
                crate::engine::UNAVAILABLE_TEXT.into()
            }
            EngineError::Store(_)
            | EngineError::Seal(_)
            | EngineError::CorruptMetadata(_)
            | EngineError::Random => "internal server error".to_string(),
            EngineError::Crypto(e) if crypto_is_server_fault(e) => {
                "internal server error".to_string()
            }
            other => other.to_string(),
        }
    }

    pub fn is_server_fault(&self) -> bool {
        matches!(
            self,
            EngineError::Store(_)
                | EngineError::Seal(_)
                | EngineError::CorruptMetadata(_)
                | EngineError::Random
        ) || matches!(self, EngineError::Crypto(e) if crypto_is_server_fault(e))
    }
}

/// Result Reason of a cryptographic failure: a failed check (tag, padding, unwrap) is a
/// Cryptographic Failure; an algorithm or parameter Keyward does not offer is Unsupported
/// Cryptographic Parameters in 2.x (1.x lacks it: Invalid Field).
fn crypto_reason(e: &crate::crypto::CryptoError, v2: bool) -> ResultReason {
    use crate::crypto::CryptoError as C;
    match e {
        C::IntegrityCheckFailed | C::KeyLength { .. } | C::KeyRejected(_) => {
            ResultReason::CryptographicFailure
        }
        C::Unsupported(_) if v2 => ResultReason::UnsupportedCryptographicParameters,
        C::Unsupported(_) | C::InvalidInput(_) => ResultReason::InvalidField,
        // The CS-BC GCM and ChaCha20-Poly1305 vectors expect General Failure here.
        C::Random | C::Library(_) | C::InvalidTagLength(_) => ResultReason::GeneralFailure,
    }
}

fn crypto_is_server_fault(e: &crate::crypto::CryptoError) -> bool {
    matches!(
        e,
        crate::crypto::CryptoError::Random | crate::crypto::CryptoError::Library(_)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_follow_the_protocol_major() {
        let destroyed = EngineError::Destroyed("u".into());
        assert_eq!(destroyed.reason(1), ResultReason::ItemNotFound);
        assert_eq!(destroyed.reason(2), ResultReason::ObjectDestroyed);
        let missing = EngineError::NotFound("u".into());
        assert_eq!(missing.reason(1), ResultReason::ItemNotFound);
        assert_eq!(missing.reason(2), ResultReason::ObjectNotFound);
        let state = EngineError::WrongState {
            uid: "u".into(),
            operation: "Destroy",
        };
        assert_eq!(state.reason(1), ResultReason::PermissionDenied);
        assert_eq!(state.reason(2), ResultReason::WrongKeyLifecycleState);
        assert_eq!(EngineError::Random.wire_message(), "internal server error");
    }
}
