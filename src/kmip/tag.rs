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
    OPAQUE_OBJECT = 0x420058, "OpaqueObject";
    OPAQUE_DATA_TYPE = 0x420059, "OpaqueDataType";
    OPAQUE_DATA_VALUE = 0x42005A, "OpaqueDataValue";
}

/// CamelCase name of `tag`, if known.
pub fn name(tag: u32) -> Option<&'static str> {
    ALL.iter().find(|(t, _)| *t == tag).map(|(_, n)| *n)
}

/// Tag for a CamelCase name, if known.
pub fn by_name(name: &str) -> Option<u32> {
    ALL.iter().find(|(_, n)| *n == name).map(|(t, _)| *t)
}
