//! The one error type of `crate::crypto`: the engine maps each variant to a KMIP Result
//! Reason, so a variant says what kind of fault it is (client input, unsupported choice,
//! failed authentication, library fault), never which bytes caused it.

/// Why a cryptographic operation did not produce a result.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CryptoError {
    /// The algorithm, mode, curve or parameter combination is not offered.
    #[error("{0} is not supported")]
    Unsupported(String),
    /// A key of this length cannot be used with the algorithm.
    #[error("a key of {len} bytes cannot be used for {algorithm}")]
    KeyLength { len: usize, algorithm: &'static str },
    /// Input the algorithm cannot take (wrong IV length, data not a whole number of blocks...).
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// Key material that does not parse in the expected encoding.
    #[error("the key is not a valid {0}")]
    KeyRejected(&'static str),
    /// An authenticated decryption, unwrap, MAC or padding check failed. Deliberately one
    /// variant: telling the reasons apart would help an attacker (padding oracles).
    #[error("the data failed its integrity check")]
    IntegrityCheckFailed,
    /// An authentication tag length that is not offered (4, 8 and 12 to 16 bytes are).
    #[error("a tag of {0} bytes is not offered (4, 8 or 12 to 16)")]
    InvalidTagLength(usize),
    /// The random generator failed.
    #[error("the random generator failed")]
    Random,
    /// aws-lc-rs refused an operation whose inputs were already checked.
    #[error("the cryptographic library refused the operation ({0})")]
    Library(&'static str),
}

impl From<aws_lc_rs::error::Unspecified> for CryptoError {
    fn from(_: aws_lc_rs::error::Unspecified) -> Self {
        CryptoError::Library("unspecified")
    }
}
