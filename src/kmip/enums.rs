//! KMIP enumerations and bit masks the typed layer and the engine reason about.
//!
//! Values follow the KMIP 1.4 / 2.1 tables; the XML/JSON spellings live in `names.rs`.

/// Declares a `u32`-backed enumeration with a checked conversion from the wire value.
macro_rules! kmip_enum {
    ($(#[$meta:meta])* $name:ident { $($variant:ident = $value:expr,)* }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        #[repr(u32)]
        pub enum $name { $($variant = $value,)* }

        impl $name {
            /// The variant for a wire value, if this build knows it.
            pub fn from_u32(value: u32) -> Option<$name> {
                match value { $($value => Some($name::$variant),)* _ => None }
            }
            pub fn value(self) -> u32 {
                self as u32
            }
        }
    };
}

kmip_enum!(Operation {
    Create = 0x01,
    CreateKeyPair = 0x02,
    Register = 0x03,
    ReKey = 0x04,
    DeriveKey = 0x05,
    Certify = 0x06,
    ReCertify = 0x07,
    Locate = 0x08,
    Check = 0x09,
    Get = 0x0A,
    GetAttributes = 0x0B,
    GetAttributeList = 0x0C,
    AddAttribute = 0x0D,
    ModifyAttribute = 0x0E,
    DeleteAttribute = 0x0F,
    ObtainLease = 0x10,
    GetUsageAllocation = 0x11,
    Activate = 0x12,
    Revoke = 0x13,
    Destroy = 0x14,
    Archive = 0x15,
    Recover = 0x16,
    Validate = 0x17,
    Query = 0x18,
    Cancel = 0x19,
    Poll = 0x1A,
    Notify = 0x1B,
    Put = 0x1C,
    ReKeyKeyPair = 0x1D,
    DiscoverVersions = 0x1E,
    Encrypt = 0x1F,
    Decrypt = 0x20,
    Sign = 0x21,
    SignatureVerify = 0x22,
    Mac = 0x23,
    MacVerify = 0x24,
    RngRetrieve = 0x25,
    RngSeed = 0x26,
    Hash = 0x27,
    CreateSplitKey = 0x28,
    JoinSplitKey = 0x29,
    Import = 0x2A,
    Export = 0x2B,
    Log = 0x2C,
    Login = 0x2D,
    Logout = 0x2E,
    DelegatedLogin = 0x2F,
    AdjustAttribute = 0x30,
    SetAttribute = 0x31,
    SetEndpointRole = 0x32,
    Pkcs11 = 0x33,
    Interop = 0x34,
    ReProvision = 0x35,
    SetDefaults = 0x36,
    SetConstraints = 0x37,
    GetConstraints = 0x38,
    QueryAsynchronousRequests = 0x39,
    Process = 0x3A,
    Ping = 0x3B,
});

kmip_enum!(ObjectType {
    Certificate = 1,
    SymmetricKey = 2,
    PublicKey = 3,
    PrivateKey = 4,
    SplitKey = 5,
    Template = 6,
    SecretData = 7,
    OpaqueObject = 8,
    PgpKey = 9,
    CertificateRequest = 10,
});

kmip_enum!(State {
    PreActive = 1,
    Active = 2,
    Deactivated = 3,
    Compromised = 4,
    Destroyed = 5,
    DestroyedCompromised = 6,
});

impl State {
    pub fn is_destroyed(self) -> bool {
        matches!(self, State::Destroyed | State::DestroyedCompromised)
    }
}

kmip_enum!(ResultStatus {
    Success = 0,
    OperationFailed = 1,
    OperationPending = 2,
    OperationUndone = 3,
});

kmip_enum!(
    /// 1.x reasons are 0x01–0x18 and 0x100; 2.x adds 0x19–0x47.
    ResultReason {
        ItemNotFound = 0x01,
        ResponseTooLarge = 0x02,
        AuthenticationNotSuccessful = 0x03,
        InvalidMessage = 0x04,
        OperationNotSupported = 0x05,
        MissingData = 0x06,
        InvalidField = 0x07,
        FeatureNotSupported = 0x08,
        OperationCanceledByRequester = 0x09,
        CryptographicFailure = 0x0A,
        IllegalOperation = 0x0B,
        PermissionDenied = 0x0C,
        ObjectArchived = 0x0D,
        IndexOutOfBounds = 0x0E,
        ApplicationNamespaceNotSupported = 0x0F,
        KeyFormatTypeNotSupported = 0x10,
        KeyCompressionTypeNotSupported = 0x11,
        EncodingOptionError = 0x12,
        KeyValueNotPresent = 0x13,
        AttestationRequired = 0x14,
        AttestationFailed = 0x15,
        Sensitive = 0x16,
        NotExtractable = 0x17,
        ObjectAlreadyExists = 0x18,
        InvalidTicket = 0x19,
        UsageLimitExceeded = 0x1A,
        NumericRange = 0x1B,
        InvalidDataType = 0x1C,
        ReadOnlyAttribute = 0x1D,
        MultiValuedAttribute = 0x1E,
        UnsupportedAttribute = 0x1F,
        AttributeInstanceNotFound = 0x20,
        AttributeNotFound = 0x21,
        AttributeReadOnly = 0x22,
        AttributeSingleValued = 0x23,
        BadCryptographicParameters = 0x24,
        BadPassword = 0x25,
        CodecError = 0x26,
        IllegalObjectType = 0x28,
        IncompatibleCryptographicUsageMask = 0x29,
        InternalServerError = 0x2A,
        InvalidAsynchronousCorrelationValue = 0x2B,
        InvalidAttribute = 0x2C,
        InvalidAttributeValue = 0x2D,
        InvalidCorrelationValue = 0x2E,
        InvalidCsr = 0x2F,
        InvalidObjectType = 0x30,
        KeyWrapTypeNotSupported = 0x32,
        MissingInitializationVector = 0x34,
        NonUniqueNameAttribute = 0x35,
        ObjectDestroyed = 0x36,
        ObjectNotFound = 0x37,
        NotAuthorised = 0x39,
        ServerLimitExceeded = 0x3A,
        UnknownEnumeration = 0x3B,
        UnknownMessageExtension = 0x3C,
        UnknownTag = 0x3D,
        UnsupportedCryptographicParameters = 0x3E,
        UnsupportedProtocolVersion = 0x3F,
        WrappingObjectArchived = 0x40,
        WrappingObjectDestroyed = 0x41,
        WrappingObjectNotFound = 0x42,
        WrongKeyLifecycleState = 0x43,
        ProtectionStorageUnavailable = 0x44,
        PkcsElevenCodecError = 0x45,
        PkcsElevenInvalidFunction = 0x46,
        PkcsElevenInvalidInterface = 0x47,
        GeneralFailure = 0x100,
    }
);

kmip_enum!(CryptographicAlgorithm {
    Des = 1,
    TripleDes = 2,
    Aes = 3,
    Rsa = 4,
    Dsa = 5,
    Ecdsa = 6,
    HmacSha1 = 7,
    HmacSha224 = 8,
    HmacSha256 = 9,
    HmacSha384 = 10,
    HmacSha512 = 11,
    HmacMd5 = 12,
    Skipjack = 0x18,
});

kmip_enum!(KeyFormatType {
    Raw = 1,
    Opaque = 2,
    Pkcs1 = 3,
    Pkcs8 = 4,
    X509 = 5,
    EcPrivateKey = 6,
    TransparentSymmetricKey = 7,
});

kmip_enum!(NameType {
    UninterpretedTextString = 1,
    Uri = 2,
});

kmip_enum!(RevocationReasonCode {
    Unspecified = 1,
    KeyCompromise = 2,
    CaCompromise = 3,
    AffiliationChanged = 4,
    Superseded = 5,
    CessationOfOperation = 6,
    PrivilegeWithdrawn = 7,
});

kmip_enum!(QueryFunction {
    Operations = 1,
    Objects = 2,
    ServerInformation = 3,
    ApplicationNamespaces = 4,
    ExtensionList = 5,
    ExtensionMap = 6,
    AttestationTypes = 7,
    Rngs = 8,
    Validations = 9,
    Profiles = 10,
    Capabilities = 11,
    ClientRegistrationMethods = 12,
    DefaultsInformation = 13,
    StorageProtectionMasks = 14,
});

kmip_enum!(BatchErrorContinuationOption {
    Continue = 1,
    Stop = 2,
    Undo = 3,
});

kmip_enum!(HashingAlgorithm {
    Md2 = 1,
    Md4 = 2,
    Md5 = 3,
    Sha1 = 4,
    Sha224 = 5,
    Sha256 = 6,
    Sha384 = 7,
    Sha512 = 8,
});

kmip_enum!(LinkType {
    Certificate = 0x101,
    PublicKey = 0x102,
    PrivateKey = 0x103,
    DerivationBaseObject = 0x104,
    DerivedKey = 0x105,
    ReplacementObject = 0x106,
    ReplacedObject = 0x107,
    Parent = 0x108,
    Child = 0x109,
    Previous = 0x10A,
    Next = 0x10B,
});

kmip_enum!(CredentialType {
    UsernameAndPassword = 1,
    Device = 2,
    Attestation = 3,
    OneTimePassword = 4,
    HashedPassword = 5,
    Ticket = 6,
});

/// Storage Status Mask bits (Locate).
pub mod storage_status {
    pub const ON_LINE: i32 = 0x1;
    pub const ARCHIVAL: i32 = 0x2;
    /// KMIP 2.0+.
    pub const DESTROYED: i32 = 0x4;
}

/// Cryptographic Usage Mask bits.
pub mod usage_mask {
    pub const SIGN: i32 = 0x1;
    pub const VERIFY: i32 = 0x2;
    pub const ENCRYPT: i32 = 0x4;
    pub const DECRYPT: i32 = 0x8;
    pub const WRAP_KEY: i32 = 0x10;
    pub const UNWRAP_KEY: i32 = 0x20;
    pub const EXPORT: i32 = 0x40;
    pub const MAC_GENERATE: i32 = 0x80;
    pub const MAC_VERIFY: i32 = 0x100;
    pub const DERIVE_KEY: i32 = 0x200;
}

/// Profile Name values advertised by Query(Profiles).
pub mod profile_name {
    /// KMIP 1.3/1.4 numbering.
    pub const BASELINE_SERVER_TLS12_V1: u32 = 0x7A;
    pub const SYMMETRIC_KEY_LIFECYCLE_SERVER_V1: u32 = 0x82;
    pub const SYMMETRIC_KEY_FOUNDRY_SERVER_V1: u32 = 0x8E;
    /// KMIP 2.0/2.1 numbering (1.x values are reserved there).
    pub const SYMMETRIC_KEY_LIFECYCLE_SERVER_V2: u32 = 0x109;
    pub const BASELINE_SERVER_V2: u32 = 0x12B;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_values_round_trip() {
        assert_eq!(Operation::from_u32(0x1E), Some(Operation::DiscoverVersions));
        assert_eq!(Operation::from_u32(0x3C), None);
        assert_eq!(ResultReason::WrongKeyLifecycleState.value(), 0x43);
        assert_eq!(
            ResultReason::from_u32(0x100),
            Some(ResultReason::GeneralFailure)
        );
        assert_eq!(State::from_u32(6), Some(State::DestroyedCompromised));
        assert!(State::Destroyed.is_destroyed());
        assert!(!State::Compromised.is_destroyed());
    }
}
