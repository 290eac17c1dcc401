//! KMIP tag values and their XML/JSON names (KMIP 2.1 spelling, CamelCase).
//!
//! One table drives both the constants and the name lookup; append rows, never renumber.

macro_rules! tags {
    ($($name:ident = $value:expr, $text:expr;)*) => {
        $(pub const $name: u32 = $value;)*
        /// (tag, CamelCase name) for every tag this build knows.
        pub const ALL: &[(u32, &str)] = &[$(($value, $text)),*];
    };
}

tags! {
    REQUEST_MESSAGE = 0x420078, "RequestMessage";
    REQUEST_HEADER = 0x420077, "RequestHeader";
    RESPONSE_MESSAGE = 0x42007B, "ResponseMessage";
    RESPONSE_HEADER = 0x42007A, "ResponseHeader";
    PROTOCOL_VERSION = 0x420069, "ProtocolVersion";
    PROTOCOL_VERSION_MAJOR = 0x42006A, "ProtocolVersionMajor";
    PROTOCOL_VERSION_MINOR = 0x42006B, "ProtocolVersionMinor";
    MAXIMUM_RESPONSE_SIZE = 0x420050, "MaximumResponseSize";
    ASYNCHRONOUS_INDICATOR = 0x420007, "AsynchronousIndicator";
    AUTHENTICATION = 0x42000C, "Authentication";
    CREDENTIAL = 0x420023, "Credential";
    CREDENTIAL_TYPE = 0x420024, "CredentialType";
    CREDENTIAL_VALUE = 0x420025, "CredentialValue";
    USERNAME = 0x420099, "Username";
    PASSWORD = 0x4200A1, "Password";
    BATCH_ERROR_CONTINUATION_OPTION = 0x42000E, "BatchErrorContinuationOption";
    BATCH_ORDER_OPTION = 0x420010, "BatchOrderOption";
    TIME_STAMP = 0x420092, "TimeStamp";
    BATCH_COUNT = 0x42000D, "BatchCount";
    BATCH_ITEM = 0x42000F, "BatchItem";
    OPERATION = 0x42005C, "Operation";
    UNIQUE_BATCH_ITEM_ID = 0x420093, "UniqueBatchItemID";
    REQUEST_PAYLOAD = 0x420079, "RequestPayload";
    RESPONSE_PAYLOAD = 0x42007C, "ResponsePayload";
    RESULT_STATUS = 0x42007F, "ResultStatus";
    RESULT_REASON = 0x42007E, "ResultReason";
    RESULT_MESSAGE = 0x42007D, "ResultMessage";
    ASYNCHRONOUS_CORRELATION_VALUE = 0x420006, "AsynchronousCorrelationValue";
    MESSAGE_EXTENSION = 0x420051, "MessageExtension";
    VENDOR_IDENTIFICATION = 0x42009D, "VendorIdentification";
    CRITICALITY_INDICATOR = 0x420026, "CriticalityIndicator";
    VENDOR_EXTENSION = 0x42009C, "VendorExtension";
    CLIENT_CORRELATION_VALUE = 0x420105, "ClientCorrelationValue";
    SERVER_CORRELATION_VALUE = 0x420106, "ServerCorrelationValue";
    EPHEMERAL = 0x420154, "Ephemeral";
    OBJECT_TYPE = 0x420057, "ObjectType";
    UNIQUE_IDENTIFIER = 0x420094, "UniqueIdentifier";
    SYMMETRIC_KEY = 0x42008F, "SymmetricKey";
    KEY_BLOCK = 0x420040, "KeyBlock";
    KEY_FORMAT_TYPE = 0x420042, "KeyFormatType";
    KEY_COMPRESSION_TYPE = 0x420041, "KeyCompressionType";
    KEY_VALUE = 0x420045, "KeyValue";
    KEY_MATERIAL = 0x420043, "KeyMaterial";
    KEY_WRAPPING_DATA = 0x420046, "KeyWrappingData";
    KEY_WRAPPING_SPECIFICATION = 0x420047, "KeyWrappingSpecification";
    WRAPPING_METHOD = 0x42009E, "WrappingMethod";
    TEMPLATE_ATTRIBUTE = 0x420091, "TemplateAttribute";
    COMMON_TEMPLATE_ATTRIBUTE = 0x42001F, "CommonTemplateAttribute";
    ATTRIBUTE = 0x420008, "Attribute";
    ATTRIBUTE_NAME = 0x42000A, "AttributeName";
    ATTRIBUTE_INDEX = 0x420009, "AttributeIndex";
    ATTRIBUTE_VALUE = 0x42000B, "AttributeValue";
    CUSTOM_ATTRIBUTE = 0x42002D, "CustomAttribute";
    ATTRIBUTES = 0x420125, "Attributes";
    ATTRIBUTE_REFERENCE = 0x42013B, "AttributeReference";
    CURRENT_ATTRIBUTE = 0x42013C, "CurrentAttribute";
    NEW_ATTRIBUTE = 0x42013D, "NewAttribute";
    CRYPTOGRAPHIC_ALGORITHM = 0x420028, "CryptographicAlgorithm";
    CRYPTOGRAPHIC_LENGTH = 0x42002A, "CryptographicLength";
    CRYPTOGRAPHIC_USAGE_MASK = 0x42002C, "CryptographicUsageMask";
    CRYPTOGRAPHIC_PARAMETERS = 0x42002B, "CryptographicParameters";
    NAME = 0x420053, "Name";
    NAME_VALUE = 0x420055, "NameValue";
    NAME_TYPE = 0x420054, "NameType";
    STATE = 0x42008D, "State";
    INITIAL_DATE = 0x420039, "InitialDate";
    ACTIVATION_DATE = 0x420001, "ActivationDate";
    DEACTIVATION_DATE = 0x42002F, "DeactivationDate";
    DESTROY_DATE = 0x420033, "DestroyDate";
    COMPROMISE_DATE = 0x420020, "CompromiseDate";
    COMPROMISE_OCCURRENCE_DATE = 0x420021, "CompromiseOccurrenceDate";
    LAST_CHANGE_DATE = 0x420048, "LastChangeDate";
    ORIGINAL_CREATION_DATE = 0x4200BC, "OriginalCreationDate";
    PROCESS_START_DATE = 0x420067, "ProcessStartDate";
    PROTECT_STOP_DATE = 0x420068, "ProtectStopDate";
    REVOCATION_REASON = 0x420081, "RevocationReason";
    REVOCATION_REASON_CODE = 0x420082, "RevocationReasonCode";
    REVOCATION_MESSAGE = 0x420080, "RevocationMessage";
    DIGEST = 0x420034, "Digest";
    HASHING_ALGORITHM = 0x420038, "HashingAlgorithm";
    DIGEST_VALUE = 0x420035, "DigestValue";
    OBJECT_GROUP = 0x420056, "ObjectGroup";
    LINK = 0x42004A, "Link";
    LINK_TYPE = 0x42004B, "LinkType";
    LINKED_OBJECT_IDENTIFIER = 0x42004C, "LinkedObjectIdentifier";
    APPLICATION_SPECIFIC_INFORMATION = 0x420004, "ApplicationSpecificInformation";
    APPLICATION_NAMESPACE = 0x420003, "ApplicationNamespace";
    APPLICATION_DATA = 0x420002, "ApplicationData";
    CONTACT_INFORMATION = 0x420022, "ContactInformation";
    OPERATION_POLICY_NAME = 0x42005D, "OperationPolicyName";
    DESCRIPTION = 0x4200FC, "Description";
    COMMENT = 0x4200FD, "Comment";
    SENSITIVE = 0x420120, "Sensitive";
    EXTRACTABLE = 0x420122, "Extractable";
    FRESH = 0x4200A8, "Fresh";
    MAXIMUM_ITEMS = 0x42004F, "MaximumItems";
    OFFSET_ITEMS = 0x4200D4, "OffsetItems";
    LOCATED_ITEMS = 0x4200D5, "LocatedItems";
    STORAGE_STATUS_MASK = 0x42008E, "StorageStatusMask";
    OBJECT_GROUP_MEMBER = 0x4200AC, "ObjectGroupMember";
    QUERY_FUNCTION = 0x420074, "QueryFunction";
    SERVER_INFORMATION = 0x420088, "ServerInformation";
    PROFILE_INFORMATION = 0x4200EB, "ProfileInformation";
    PROFILE_NAME = 0x4200EC, "ProfileName";
    KEY_PART_IDENTIFIER = 0x420044, "KeyPartIdentifier";
    CERTIFICATE = 0x420013, "Certificate";
    SECRET_DATA = 0x420085, "SecretData";
    SECRET_DATA_TYPE = 0x420086, "SecretDataType";
    OPAQUE_OBJECT = 0x42005B, "OpaqueObject";
    OPAQUE_DATA_TYPE = 0x420059, "OpaqueDataType";
    OPAQUE_DATA_VALUE = 0x42005A, "OpaqueDataValue";
    ALWAYS_SENSITIVE = 0x420121, "AlwaysSensitive";
    NEVER_EXTRACTABLE = 0x420123, "NeverExtractable";
    CRT_COEFFICIENT = 0x420027, "CRTCoefficient";
    CERTIFICATE_LENGTH = 0x4200AD, "CertificateLength";
    CERTIFICATE_SUBJECT_CN = 0x420108, "CertificateSubjectCN";
    CERTIFICATE_TYPE = 0x42001D, "CertificateType";
    CERTIFICATE_VALUE = 0x42001E, "CertificateValue";
    D = 0x42002E, "D";
    G = 0x420037, "G";
    P = 0x42005E, "P";
    Q = 0x420071, "Q";
    X = 0x42009F, "X";
    Y = 0x4200A0, "Y";
    KEY = 0x42003F, "Key";
    MODULUS = 0x420052, "Modulus";
    PUBLIC_EXPONENT = 0x42006C, "PublicExponent";
    PRIVATE_EXPONENT = 0x420063, "PrivateExponent";
    PRIME_EXPONENT_P = 0x420060, "PrimeExponentP";
    PRIME_EXPONENT_Q = 0x420061, "PrimeExponentQ";
    PRIVATE_KEY = 0x420064, "PrivateKey";
    PUBLIC_KEY = 0x42006D, "PublicKey";
    INTEROP_FUNCTION = 0x420160, "InteropFunction";
    INTEROP_IDENTIFIER = 0x420161, "InteropIdentifier";
    LEASE_TIME = 0x420049, "LeaseTime";
    LOG_MESSAGE = 0x420141, "LogMessage";
    PROTECTION_LEVEL = 0x420145, "ProtectionLevel";
    PROTECTION_PERIOD = 0x420146, "ProtectionPeriod";
    PROTECTION_STORAGE_MASK = 0x42015E, "ProtectionStorageMask";
    PROTECTION_STORAGE_MASKS = 0x42015F, "ProtectionStorageMasks";
    QUANTUM_SAFE = 0x420147, "QuantumSafe";
    RNG_ALGORITHM = 0x4200DA, "RNGAlgorithm";
    RANDOM_NUMBER_GENERATOR = 0x4200DE, "RandomNumberGenerator";
    SHORT_UNIQUE_IDENTIFIER = 0x420136, "ShortUniqueIdentifier";
    ARCHIVE_DATE = 0x420005, "ArchiveDate";
    BLOCK_CIPHER_MODE = 0x420011, "BlockCipherMode";
    PADDING_METHOD = 0x42005F, "PaddingMethod";
    KEY_ROLE_TYPE = 0x420083, "KeyRoleType";
    DIGITAL_SIGNATURE_ALGORITHM = 0x4200AE, "DigitalSignatureAlgorithm";
    RECOMMENDED_CURVE = 0x420075, "RecommendedCurve";
    VALIDITY_INDICATOR = 0x42009B, "ValidityIndicator";
    ATTESTATION_TYPE = 0x4200C7, "AttestationType";
    OFFSET = 0x420058, "Offset";
    USAGE_LIMITS = 0x420095, "UsageLimits";
    KEY_VALUE_PRESENT = 0x4200BB, "KeyValuePresent";
    CERTIFICATE_REQUEST = 0x420018, "CertificateRequest";
    SPLIT_KEY = 0x420089, "SplitKey";
    TEMPLATE = 0x420090, "Template";
    PGP_KEY = 0x4200BD, "PGPKey";
    REPLACED_UNIQUE_IDENTIFIER = 0x420076, "ReplacedUniqueIdentifier";
    PRIVATE_KEY_UNIQUE_IDENTIFIER = 0x420066, "PrivateKeyUniqueIdentifier";
    PUBLIC_KEY_UNIQUE_IDENTIFIER = 0x42006F, "PublicKeyUniqueIdentifier";
    CRYPTOGRAPHIC_DOMAIN_PARAMETERS = 0x420029, "CryptographicDomainParameters";
    NIST_KEY_TYPE = 0x42013A, "NISTKeyType";
    KEY_WRAP_TYPE = 0x4200F8, "KeyWrapType";
    ENCODING_OPTION = 0x4200A3, "EncodingOption";
    EXTENSION_INFORMATION = 0x4200A4, "ExtensionInformation";
    CAPABILITY_INFORMATION = 0x4200F7, "CapabilityInformation";
    PROFILE_VERSION = 0x420142, "ProfileVersion";
    PROFILE_VERSION_MAJOR = 0x420143, "ProfileVersionMajor";
    PROFILE_VERSION_MINOR = 0x420144, "ProfileVersionMinor";
    SERVER_URI = 0x4200ED, "ServerURI";
    SERVER_PORT = 0x4200EE, "ServerPort";
    DEFAULTS_INFORMATION = 0x420152, "DefaultsInformation";
    OBJECT_DEFAULTS = 0x420153, "ObjectDefaults";
    OPERATIONS = 0x42014F, "Operations";
    OBJECTS = 0x42014E, "Objects";
    CORRELATION_VALUE = 0x4200D6, "CorrelationValue";
    REPLACE_EXISTING = 0x420124, "ReplaceExisting";
    KEY_VALUE_LOCATION = 0x4200B8, "KeyValueLocation";
    ALTERNATIVE_NAME = 0x4200BF, "AlternativeName";
    USAGE_LIMITS_COUNT = 0x420096, "UsageLimitsCount";
    USAGE_LIMITS_TOTAL = 0x420097, "UsageLimitsTotal";
    USAGE_LIMITS_UNIT = 0x420098, "UsageLimitsUnit";
    ENCRYPTION_KEY_INFORMATION = 0x420036, "EncryptionKeyInformation";
    MAC_SIGNATURE_KEY_INFORMATION = 0x42004E, "MACSignatureKeyInformation";
    MAC_SIGNATURE = 0x42004D, "MACSignature";
    IV_COUNTER_NONCE = 0x42003D, "IVCounterNonce";
    ATTESTATION_CAPABLE_INDICATOR = 0x4200D3, "AttestationCapableIndicator";
    // Cryptographic services (Encrypt ... RNG Seed, Derive Key).
    DATA = 0x4200C2, "Data";
    SIGNATURE_DATA = 0x4200C3, "SignatureData";
    DATA_LENGTH = 0x4200C4, "DataLength";
    RANDOM_IV = 0x4200C5, "RandomIV";
    MAC_DATA = 0x4200C6, "MACData";
    IV_LENGTH = 0x4200CD, "IVLength";
    TAG_LENGTH = 0x4200CE, "TagLength";
    FIXED_FIELD_LENGTH = 0x4200CF, "FixedFieldLength";
    COUNTER_LENGTH = 0x4200D0, "CounterLength";
    INITIAL_COUNTER_VALUE = 0x4200D1, "InitialCounterValue";
    INVOCATION_FIELD_LENGTH = 0x4200D2, "InvocationFieldLength";
    INIT_INDICATOR = 0x4200D7, "InitIndicator";
    FINAL_INDICATOR = 0x4200D8, "FinalIndicator";
    AUTHENTICATED_ENCRYPTION_ADDITIONAL_DATA = 0x4200FE, "AuthenticatedEncryptionAdditionalData";
    AUTHENTICATED_ENCRYPTION_TAG = 0x4200FF, "AuthenticatedEncryptionTag";
    SALT_LENGTH = 0x420100, "SaltLength";
    MASK_GENERATOR = 0x420101, "MaskGenerator";
    MASK_GENERATOR_HASHING_ALGORITHM = 0x420102, "MaskGeneratorHashingAlgorithm";
    P_SOURCE = 0x420103, "PSource";
    TRAILER_FIELD = 0x420104, "TrailerField";
    DIGESTED_DATA = 0x420107, "DigestedData";
    DERIVATION_DATA = 0x420030, "DerivationData";
    INITIALIZATION_VECTOR = 0x42003A, "InitializationVector";
    DERIVATION_METHOD = 0x420031, "DerivationMethod";
    DERIVATION_PARAMETERS = 0x420032, "DerivationParameters";
    ITERATION_COUNT = 0x42003C, "IterationCount";
    SALT = 0x420084, "Salt";
    // Create Key Pair.
    COMMON_ATTRIBUTES = 0x420126, "CommonAttributes";
    PRIVATE_KEY_ATTRIBUTES = 0x420127, "PrivateKeyAttributes";
    PUBLIC_KEY_ATTRIBUTES = 0x420128, "PublicKeyAttributes";
    PRIVATE_KEY_TEMPLATE_ATTRIBUTE = 0x420065, "PrivateKeyTemplateAttribute";
    PUBLIC_KEY_TEMPLATE_ATTRIBUTE = 0x42006E, "PublicKeyTemplateAttribute";
}

/// CamelCase name of `tag`, if known.
pub fn name(tag: u32) -> Option<&'static str> {
    ALL.iter().find(|(t, _)| *t == tag).map(|(_, n)| *n)
}

/// Tag for a CamelCase name, if known.
pub fn by_name(name: &str) -> Option<u32> {
    ALL.iter().find(|(_, n)| *n == name).map(|(t, _)| *t)
}
