//! Names of enumeration values and bit-mask flags, as the KMIP XML and JSON encodings spell
//! them (the specification's name with spaces removed, CamelCase, and characters that cannot
//! appear in an identifier replaced by `_`), plus the 1.x attribute-name ↔ tag table.
//!
//! Values checked against the KMIP 1.4/2.1 tables as mirrored in PyKMIP `kmip/core/enums.py`.

use super::tag;

type Table = &'static [(u32, &'static str)];

const OPERATION: Table = &[
    (0x01, "Create"),
    (0x02, "CreateKeyPair"),
    (0x03, "Register"),
    (0x04, "ReKey"),
    (0x05, "DeriveKey"),
    (0x06, "Certify"),
    (0x07, "ReCertify"),
    (0x08, "Locate"),
    (0x09, "Check"),
    (0x0A, "Get"),
    (0x0B, "GetAttributes"),
    (0x0C, "GetAttributeList"),
    (0x0D, "AddAttribute"),
    (0x0E, "ModifyAttribute"),
    (0x0F, "DeleteAttribute"),
    (0x10, "ObtainLease"),
    (0x11, "GetUsageAllocation"),
    (0x12, "Activate"),
    (0x13, "Revoke"),
    (0x14, "Destroy"),
    (0x15, "Archive"),
    (0x16, "Recover"),
    (0x17, "Validate"),
    (0x18, "Query"),
    (0x19, "Cancel"),
    (0x1A, "Poll"),
    (0x1B, "Notify"),
    (0x1C, "Put"),
    (0x1D, "ReKeyKeyPair"),
    (0x1E, "DiscoverVersions"),
    (0x1F, "Encrypt"),
    (0x20, "Decrypt"),
    (0x21, "Sign"),
    (0x22, "SignatureVerify"),
    (0x23, "MAC"),
    (0x24, "MACVerify"),
    (0x25, "RNGRetrieve"),
    (0x26, "RNGSeed"),
    (0x27, "Hash"),
    (0x28, "CreateSplitKey"),
    (0x29, "JoinSplitKey"),
    (0x2A, "Import"),
    (0x2B, "Export"),
    (0x2C, "Log"),
    (0x2D, "Login"),
    (0x2E, "Logout"),
    (0x2F, "DelegatedLogin"),
    (0x30, "AdjustAttribute"),
    (0x31, "SetAttribute"),
    (0x32, "SetEndpointRole"),
    (0x33, "PKCS_11"),
    (0x34, "Interop"),
    (0x35, "ReProvision"),
    (0x36, "SetDefaults"),
    (0x37, "SetConstraints"),
    (0x38, "GetConstraints"),
    (0x39, "QueryAsynchronousRequests"),
    (0x3A, "Process"),
    (0x3B, "Ping"),
];

const OBJECT_TYPE: Table = &[
    (0x01, "Certificate"),
    (0x02, "SymmetricKey"),
    (0x03, "PublicKey"),
    (0x04, "PrivateKey"),
    (0x05, "SplitKey"),
    (0x06, "Template"),
    (0x07, "SecretData"),
    (0x08, "OpaqueObject"),
    (0x09, "PGPKey"),
    (0x0A, "CertificateRequest"),
];

const STATE: Table = &[
    (0x01, "PreActive"),
    (0x02, "Active"),
    (0x03, "Deactivated"),
    (0x04, "Compromised"),
    (0x05, "Destroyed"),
    (0x06, "DestroyedCompromised"),
];

const RESULT_STATUS: Table = &[
    (0x00, "Success"),
    (0x01, "OperationFailed"),
    (0x02, "OperationPending"),
    (0x03, "OperationUndone"),
];

const RESULT_REASON: Table = &[
    (0x01, "ItemNotFound"),
    (0x02, "ResponseTooLarge"),
    (0x03, "AuthenticationNotSuccessful"),
    (0x04, "InvalidMessage"),
    (0x05, "OperationNotSupported"),
    (0x06, "MissingData"),
    (0x07, "InvalidField"),
    (0x08, "FeatureNotSupported"),
    (0x09, "OperationCanceledByRequester"),
    (0x0A, "CryptographicFailure"),
    (0x0B, "IllegalOperation"),
    (0x0C, "PermissionDenied"),
    (0x0D, "ObjectArchived"),
    (0x0E, "IndexOutOfBounds"),
    (0x0F, "ApplicationNamespaceNotSupported"),
    (0x10, "KeyFormatTypeNotSupported"),
    (0x11, "KeyCompressionTypeNotSupported"),
    (0x12, "EncodingOptionError"),
    (0x13, "KeyValueNotPresent"),
    (0x14, "AttestationRequired"),
    (0x15, "AttestationFailed"),
    (0x16, "Sensitive"),
    (0x17, "NotExtractable"),
    (0x18, "ObjectAlreadyExists"),
    (0x19, "InvalidTicket"),
    (0x1A, "UsageLimitExceeded"),
    (0x1B, "NumericRange"),
    (0x1C, "InvalidDataType"),
    (0x1D, "ReadOnlyAttribute"),
    (0x1E, "MultiValuedAttribute"),
    (0x1F, "UnsupportedAttribute"),
    (0x20, "AttributeInstanceNotFound"),
    (0x21, "AttributeNotFound"),
    (0x22, "AttributeReadOnly"),
    (0x23, "AttributeSingleValued"),
    (0x24, "BadCryptographicParameters"),
    (0x25, "BadPassword"),
    (0x26, "CodecError"),
    (0x28, "IllegalObjectType"),
    (0x29, "IncompatibleCryptographicUsageMask"),
    (0x2A, "InternalServerError"),
    (0x2B, "InvalidAsynchronousCorrelationValue"),
    (0x2C, "InvalidAttribute"),
    (0x2D, "InvalidAttributeValue"),
    (0x2E, "InvalidCorrelationValue"),
    (0x2F, "InvalidCSR"),
    (0x30, "InvalidObjectType"),
    (0x32, "KeyWrapTypeNotSupported"),
    (0x34, "MissingInitializationVector"),
    (0x35, "NonUniqueNameAttribute"),
    (0x36, "ObjectDestroyed"),
    (0x37, "ObjectNotFound"),
    (0x39, "NotAuthorised"),
    (0x3A, "ServerLimitExceeded"),
    (0x3B, "UnknownEnumeration"),
    (0x3C, "UnknownMessageExtension"),
    (0x3D, "UnknownTag"),
    (0x3E, "UnsupportedCryptographicParameters"),
    (0x3F, "UnsupportedProtocolVersion"),
    (0x40, "WrappingObjectArchived"),
    (0x41, "WrappingObjectDestroyed"),
    (0x42, "WrappingObjectNotFound"),
    (0x43, "WrongKeyLifecycleState"),
    (0x44, "ProtectionStorageUnavailable"),
    (0x45, "PKCS_11CodecError"),
    (0x46, "PKCS_11InvalidFunction"),
    (0x47, "PKCS_11InvalidInterface"),
    (0x100, "GeneralFailure"),
];

const CRYPTOGRAPHIC_ALGORITHM: Table = &[
    (0x01, "DES"),
    (0x02, "DES3"),
    (0x03, "AES"),
    (0x04, "RSA"),
    (0x05, "DSA"),
    (0x06, "ECDSA"),
    (0x07, "HMAC_SHA1"),
    (0x08, "HMAC_SHA224"),
    (0x09, "HMAC_SHA256"),
    (0x0A, "HMAC_SHA384"),
    (0x0B, "HMAC_SHA512"),
    (0x0C, "HMAC_MD5"),
    (0x0D, "DH"),
    (0x0E, "ECDH"),
    (0x0F, "ECMQV"),
    (0x10, "Blowfish"),
    (0x11, "Camellia"),
    (0x12, "CAST5"),
    (0x13, "IDEA"),
    (0x14, "MARS"),
    (0x15, "RC2"),
    (0x16, "RC4"),
    (0x17, "RC5"),
    (0x18, "SKIPJACK"),
    (0x19, "Twofish"),
    (0x1A, "EC"),
    (0x1B, "OneTimePad"),
    (0x1C, "ChaCha20"),
    (0x1D, "Poly1305"),
    (0x1E, "ChaCha20Poly1305"),
    (0x1F, "SHA3_224"),
    (0x20, "SHA3_256"),
    (0x21, "SHA3_384"),
    (0x22, "SHA3_512"),
    (0x23, "HMAC_SHA3_224"),
    (0x24, "HMAC_SHA3_256"),
    (0x25, "HMAC_SHA3_384"),
    (0x26, "HMAC_SHA3_512"),
    (0x27, "SHAKE_128"),
    (0x28, "SHAKE_256"),
    (0x29, "ARIA"),
    (0x2A, "SEED"),
    (0x2B, "SM2"),
    (0x2C, "SM3"),
    (0x2D, "SM4"),
    (0x2E, "GOSTR34_10_2012"),
    (0x2F, "GOSTR34_11_2012"),
    (0x30, "GOSTR34_13_2015"),
    (0x31, "GOST28147_89"),
    (0x32, "XMSS"),
    (0x33, "SPHINCS_256"),
    (0x34, "McEliece"),
    (0x35, "McEliece_6960119"),
    (0x36, "McEliece_8192128"),
    (0x37, "Ed25519"),
    (0x38, "Ed448"),
];

const KEY_FORMAT_TYPE: Table = &[
    (0x01, "Raw"),
    (0x02, "Opaque"),
    (0x03, "PKCS_1"),
    (0x04, "PKCS_8"),
    (0x05, "X_509"),
    (0x06, "ECPrivateKey"),
    (0x07, "TransparentSymmetricKey"),
    (0x08, "TransparentDSAPrivateKey"),
    (0x09, "TransparentDSAPublicKey"),
    (0x0A, "TransparentRSAPrivateKey"),
    (0x0B, "TransparentRSAPublicKey"),
    (0x0C, "TransparentDHPrivateKey"),
    (0x0D, "TransparentDHPublicKey"),
    (0x0E, "TransparentECDSAPrivateKey"),
    (0x0F, "TransparentECDSAPublicKey"),
    (0x10, "TransparentECDHPrivateKey"),
    (0x11, "TransparentECDHPublicKey"),
    (0x12, "TransparentECMQVPrivateKey"),
    (0x13, "TransparentECMQVPublicKey"),
    (0x14, "TransparentECPrivateKey"),
    (0x15, "TransparentECPublicKey"),
    (0x16, "PKCS_12"),
    (0x17, "PKCS_10"),
];

const NAME_TYPE: Table = &[(0x01, "UninterpretedTextString"), (0x02, "URI")];

const REVOCATION_REASON_CODE: Table = &[
    (0x01, "Unspecified"),
    (0x02, "KeyCompromise"),
    (0x03, "CACompromise"),
    (0x04, "AffiliationChanged"),
    (0x05, "Superseded"),
    (0x06, "CessationOfOperation"),
    (0x07, "PrivilegeWithdrawn"),
];

const QUERY_FUNCTION: Table = &[
    (0x01, "QueryOperations"),
    (0x02, "QueryObjects"),
    (0x03, "QueryServerInformation"),
    (0x04, "QueryApplicationNamespaces"),
    (0x05, "QueryExtensionList"),
    (0x06, "QueryExtensionMap"),
    (0x07, "QueryAttestationTypes"),
    (0x08, "QueryRNGs"),
    (0x09, "QueryValidations"),
    (0x0A, "QueryProfiles"),
    (0x0B, "QueryCapabilities"),
    (0x0C, "QueryClientRegistrationMethods"),
    (0x0D, "QueryDefaultsInformation"),
    (0x0E, "QueryStorageProtectionMasks"),
];

const HASHING_ALGORITHM: Table = &[
    (0x01, "MD2"),
    (0x02, "MD4"),
    (0x03, "MD5"),
    (0x04, "SHA_1"),
    (0x05, "SHA_224"),
    (0x06, "SHA_256"),
    (0x07, "SHA_384"),
    (0x08, "SHA_512"),
    (0x09, "RIPEMD_160"),
    (0x0A, "Tiger"),
    (0x0B, "Whirlpool"),
    (0x0C, "SHA_512_224"),
    (0x0D, "SHA_512_256"),
    (0x0E, "SHA3_224"),
    (0x0F, "SHA3_256"),
    (0x10, "SHA3_384"),
    (0x11, "SHA3_512"),
];

const LINK_TYPE: Table = &[
    (0x101, "CertificateLink"),
    (0x102, "PublicKeyLink"),
    (0x103, "PrivateKeyLink"),
    (0x104, "DerivationBaseObjectLink"),
    (0x105, "DerivedKeyLink"),
    (0x106, "ReplacementObjectLink"),
    (0x107, "ReplacedObjectLink"),
    (0x108, "ParentLink"),
    (0x109, "ChildLink"),
    (0x10A, "PreviousLink"),
    (0x10B, "NextLink"),
    (0x10C, "PKCS_12CertificateLink"),
    (0x10D, "PKCS_12PasswordLink"),
    (0x10E, "WrappingKeyLink"),
];

const CREDENTIAL_TYPE: Table = &[
    (0x01, "UsernameAndPassword"),
    (0x02, "Device"),
    (0x03, "Attestation"),
    (0x04, "OneTimePassword"),
    (0x05, "HashedPassword"),
    (0x06, "Ticket"),
];

const BATCH_ERROR_CONTINUATION_OPTION: Table =
    &[(0x01, "Continue"), (0x02, "Stop"), (0x03, "Undo")];

/// 2.x Unique Identifier enumeration (ID placeholder references).
const UNIQUE_IDENTIFIER: Table = &[
    (0x01, "IDPlaceholder"),
    (0x02, "Certify"),
    (0x03, "Create"),
    (0x04, "CreateKeyPair"),
    (0x05, "CreateKeyPairPrivateKey"),
    (0x06, "CreateKeyPairPublicKey"),
    (0x07, "CreateSplitKey"),
    (0x08, "DeriveKey"),
    (0x09, "Import"),
    (0x0A, "JoinSplitKey"),
    (0x0B, "Locate"),
    (0x0C, "Register"),
    (0x0D, "ReKey"),
    (0x0E, "ReCertify"),
    (0x0F, "ReKeyKeyPair"),
    (0x10, "ReKeyKeyPairPrivateKey"),
    (0x11, "ReKeyKeyPairPublicKey"),
];

const PROFILE_NAME: Table = &[
    (0x79, "BaselineServerBasicKMIPv1_4"),
    (0x7A, "BaselineServerTLSv1_2KMIPv1_4"),
    (0x82, "SymmetricKeyLifecycleServerKMIPv1_4"),
    (0x8E, "SymmetricKeyFoundryServerKMIPv1_4"),
    (0x104, "CompleteServerBasic"),
    (0x105, "CompleteServerTLSv1_2"),
    (0x108, "SymmetricKeyLifecycleClient"),
    (0x109, "SymmetricKeyLifecycleServer"),
    (0x112, "BasicSymmetricKeyFoundryClient"),
    (0x115, "SymmetricKeyFoundryServer"),
    (0x126, "QuantumSafeClient"),
    (0x127, "QuantumSafeServer"),
    (0x12A, "BaselineClient"),
    (0x12B, "BaselineServer"),
    (0x12C, "CompleteServer"),
];

const ATTESTATION_TYPE: Table = &[
    (0x01, "TPMQuote"),
    (0x02, "TCGIntegrityReport"),
    (0x03, "SAMLAssertion"),
];

const SECRET_DATA_TYPE: Table = &[(0x01, "Password"), (0x02, "Seed")];

const CERTIFICATE_TYPE: Table = &[(0x01, "X_509"), (0x02, "PGP")];

const RECOMMENDED_CURVE: Table = &[
    (0x01, "P_192"),
    (0x02, "K_163"),
    (0x03, "B_163"),
    (0x04, "P_224"),
    (0x05, "K_233"),
    (0x06, "B_233"),
    (0x07, "P_256"),
    (0x08, "K_283"),
    (0x09, "B_283"),
    (0x0A, "P_384"),
    (0x0B, "K_409"),
    (0x0C, "B_409"),
    (0x0D, "P_521"),
    (0x0E, "K_571"),
    (0x0F, "B_571"),
    (0x45, "CURVE25519"),
    (0x46, "CURVE448"),
];

const VALIDITY_INDICATOR: Table = &[(0x01, "Valid"), (0x02, "Invalid"), (0x03, "Unknown")];

const DIGITAL_SIGNATURE_ALGORITHM: Table = &[
    (0x01, "MD2WithRSAEncryption"),
    (0x02, "MD5WithRSAEncryption"),
    (0x03, "SHA_1WithRSAEncryption"),
    (0x04, "SHA_224WithRSAEncryption"),
    (0x05, "SHA_256WithRSAEncryption"),
    (0x06, "SHA_384WithRSAEncryption"),
    (0x07, "SHA_512WithRSAEncryption"),
    (0x08, "RSASSA_PSS"),
    (0x09, "DSAWithSHA_1"),
    (0x0A, "DSAWithSHA224"),
    (0x0B, "DSAWithSHA256"),
    (0x0C, "ECDSAWithSHA_1"),
    (0x0D, "ECDSAWithSHA224"),
    (0x0E, "ECDSAWithSHA256"),
    (0x0F, "ECDSAWithSHA384"),
    (0x10, "ECDSAWithSHA512"),
];

const PADDING_METHOD: Table = &[
    (0x01, "None"),
    (0x02, "OAEP"),
    (0x03, "PKCS5"),
    (0x04, "SSL3"),
    (0x05, "Zeros"),
    (0x06, "ANSIX9_23"),
    (0x07, "ISO10126"),
    (0x08, "PKCS1V1_5"),
    (0x09, "X9_31"),
    (0x0A, "PSS"),
];

const BLOCK_CIPHER_MODE: Table = &[
    (0x01, "CBC"),
    (0x02, "ECB"),
    (0x03, "PCBC"),
    (0x04, "CFB"),
    (0x05, "OFB"),
    (0x06, "CTR"),
    (0x07, "CMAC"),
    (0x08, "CCM"),
    (0x09, "GCM"),
    (0x0A, "CBC_MAC"),
    (0x0B, "XTS"),
    (0x0C, "AESKeyWrapPadding"),
    (0x0D, "NISTKeyWrap"),
    (0x0E, "X9_102AESKW"),
    (0x0F, "X9_102TDKW"),
    (0x10, "X9_102AKW1"),
    (0x11, "X9_102AKW2"),
    (0x12, "AEAD"),
];

const MASK_GENERATOR: Table = &[(0x01, "MGF1")];

const USAGE_LIMITS_UNIT: Table = &[(0x01, "Byte"), (0x02, "Object")];

const DERIVATION_METHOD: Table = &[
    (0x01, "PBKDF2"),
    (0x02, "HASH"),
    (0x03, "HMAC"),
    (0x04, "ENCRYPT"),
    (0x05, "NIST800_108_C"),
    (0x06, "NIST800_108_F"),
    (0x07, "NIST800_108_DPI"),
    (0x08, "AsymmetricKey"),
    (0x09, "AWSSignatureVersion4"),
    (0x0A, "HKDF"),
];

const KEY_ROLE_TYPE: Table = &[
    (0x01, "BDK"),
    (0x02, "CVK"),
    (0x03, "DEK"),
    (0x04, "MKAC"),
    (0x05, "MKSMC"),
    (0x06, "MKSMI"),
    (0x07, "MKDAC"),
    (0x08, "MKDN"),
    (0x09, "MKCP"),
    (0x0A, "MKOTH"),
    (0x0B, "KEK"),
    (0x0C, "MAC16609"),
    (0x0D, "MAC97971"),
    (0x0E, "MAC97972"),
    (0x0F, "MAC97973"),
    (0x10, "MAC97974"),
    (0x11, "MAC97975"),
    (0x12, "ZPK"),
    (0x13, "PVKIBM"),
    (0x14, "PVKPVV"),
    (0x15, "PVKOTH"),
    (0x16, "DUKPT"),
    (0x17, "IV"),
    (0x18, "TRKBK"),
];

const OBJECT_GROUP_MEMBER: Table = &[(0x01, "GroupMemberFresh"), (0x02, "GroupMemberDefault")];

const INTEROP_FUNCTION: Table = &[(0x01, "Begin"), (0x02, "End"), (0x03, "Reset")];

const PROTECTION_LEVEL: Table = &[(0x01, "High"), (0x02, "Low")];

const RNG_ALGORITHM: Table = &[
    (0x01, "Unspecified"),
    (0x02, "FIPS186_2"),
    (0x03, "DRBG"),
    (0x04, "NRBG"),
    (0x05, "ANSIX9_31"),
    (0x06, "ANSIX9_62"),
];

const KEY_COMPRESSION_TYPE: Table = &[
    (0x01, "ECPublicKeyTypeUncompressed"),
    (0x02, "ECPublicKeyTypeX9_62CompressedPrime"),
    (0x03, "ECPublicKeyTypeX9_62CompressedChar2"),
    (0x04, "ECPublicKeyTypeX9_62Hybrid"),
];

const WRAPPING_METHOD: Table = &[
    (0x01, "Encrypt"),
    (0x02, "MACSign"),
    (0x03, "EncryptThenMACSign"),
    (0x04, "MACSignThenEncrypt"),
    (0x05, "TR_31"),
];

/// Enumeration tables by the tag whose value they name.
const ENUMS: &[(u32, Table)] = &[
    (tag::OPERATION, OPERATION),
    (tag::OBJECT_TYPE, OBJECT_TYPE),
    (tag::STATE, STATE),
    (tag::RESULT_STATUS, RESULT_STATUS),
    (tag::RESULT_REASON, RESULT_REASON),
    (tag::CRYPTOGRAPHIC_ALGORITHM, CRYPTOGRAPHIC_ALGORITHM),
    (tag::KEY_FORMAT_TYPE, KEY_FORMAT_TYPE),
    (tag::NAME_TYPE, NAME_TYPE),
    (tag::REVOCATION_REASON_CODE, REVOCATION_REASON_CODE),
    (tag::QUERY_FUNCTION, QUERY_FUNCTION),
    (tag::HASHING_ALGORITHM, HASHING_ALGORITHM),
    (tag::LINK_TYPE, LINK_TYPE),
    (tag::CREDENTIAL_TYPE, CREDENTIAL_TYPE),
    (
        tag::BATCH_ERROR_CONTINUATION_OPTION,
        BATCH_ERROR_CONTINUATION_OPTION,
    ),
    (tag::UNIQUE_IDENTIFIER, UNIQUE_IDENTIFIER),
    (tag::PROFILE_NAME, PROFILE_NAME),
    (tag::ATTESTATION_TYPE, ATTESTATION_TYPE),
    (tag::SECRET_DATA_TYPE, SECRET_DATA_TYPE),
    (tag::CERTIFICATE_TYPE, CERTIFICATE_TYPE),
    (tag::RECOMMENDED_CURVE, RECOMMENDED_CURVE),
    (tag::VALIDITY_INDICATOR, VALIDITY_INDICATOR),
    (
        tag::DIGITAL_SIGNATURE_ALGORITHM,
        DIGITAL_SIGNATURE_ALGORITHM,
    ),
    (tag::PADDING_METHOD, PADDING_METHOD),
    (tag::BLOCK_CIPHER_MODE, BLOCK_CIPHER_MODE),
    (tag::KEY_ROLE_TYPE, KEY_ROLE_TYPE),
    (tag::OBJECT_GROUP_MEMBER, OBJECT_GROUP_MEMBER),
    (tag::INTEROP_FUNCTION, INTEROP_FUNCTION),
    (tag::PROTECTION_LEVEL, PROTECTION_LEVEL),
    (tag::RNG_ALGORITHM, RNG_ALGORITHM),
    (tag::KEY_COMPRESSION_TYPE, KEY_COMPRESSION_TYPE),
    (tag::WRAPPING_METHOD, WRAPPING_METHOD),
    (tag::MASK_GENERATOR, MASK_GENERATOR),
    (tag::USAGE_LIMITS_UNIT, USAGE_LIMITS_UNIT),
    (tag::MASK_GENERATOR_HASHING_ALGORITHM, HASHING_ALGORITHM),
    (tag::DERIVATION_METHOD, DERIVATION_METHOD),
];

const CRYPTOGRAPHIC_USAGE_MASK: Table = &[
    (0x1, "Sign"),
    (0x2, "Verify"),
    (0x4, "Encrypt"),
    (0x8, "Decrypt"),
    (0x10, "WrapKey"),
    (0x20, "UnwrapKey"),
    (0x40, "Export"),
    (0x80, "MACGenerate"),
    (0x100, "MACVerify"),
    (0x200, "DeriveKey"),
    (0x400, "ContentCommitment"),
    (0x800, "KeyAgreement"),
    (0x1000, "CertificateSign"),
    (0x2000, "CRLSign"),
    (0x4000, "GenerateCryptogram"),
    (0x8000, "ValidateCryptogram"),
    (0x10000, "TranslateEncrypt"),
    (0x20000, "TranslateDecrypt"),
    (0x40000, "TranslateWrap"),
    (0x80000, "TranslateUnwrap"),
    (0x100000, "Authenticate"),
    (0x200000, "Unrestricted"),
    (0x400000, "FPEEncrypt"),
    (0x800000, "FPEDecrypt"),
];

const STORAGE_STATUS_MASK: Table = &[
    (0x1, "OnLineStorage"),
    (0x2, "ArchivalStorage"),
    (0x4, "DestroyedStorage"),
];

const PROTECTION_STORAGE_MASK: Table = &[
    (0x1, "Software"),
    (0x2, "Hardware"),
    (0x4, "OnProcessor"),
    (0x8, "OnSystem"),
    (0x10, "OffSystem"),
    (0x20, "Hypervisor"),
    (0x40, "OperatingSystem"),
    (0x80, "Container"),
    (0x100, "OnPremises"),
    (0x200, "OffPremises"),
    (0x400, "SelfManaged"),
    (0x800, "Outsourced"),
    (0x1000, "Validated"),
    (0x2000, "SameJurisdiction"),
];

/// Integer bit masks whose flags have names.
const MASKS: &[(u32, Table)] = &[
    (tag::CRYPTOGRAPHIC_USAGE_MASK, CRYPTOGRAPHIC_USAGE_MASK),
    (tag::STORAGE_STATUS_MASK, STORAGE_STATUS_MASK),
    (tag::PROTECTION_STORAGE_MASK, PROTECTION_STORAGE_MASK),
];

/// 1.x attribute names (the text in Attribute Name) and the tag of the attribute they denote.
const ATTRIBUTE_NAMES: &[(&str, u32)] = &[
    ("Unique Identifier", tag::UNIQUE_IDENTIFIER),
    ("Name", tag::NAME),
    ("Object Type", tag::OBJECT_TYPE),
    ("Cryptographic Algorithm", tag::CRYPTOGRAPHIC_ALGORITHM),
    ("Cryptographic Length", tag::CRYPTOGRAPHIC_LENGTH),
    ("Cryptographic Parameters", tag::CRYPTOGRAPHIC_PARAMETERS),
    (
        "Cryptographic Domain Parameters",
        tag::CRYPTOGRAPHIC_DOMAIN_PARAMETERS,
    ),
    ("Certificate Type", tag::CERTIFICATE_TYPE),
    ("Certificate Length", tag::CERTIFICATE_LENGTH),
    (
        "Digital Signature Algorithm",
        tag::DIGITAL_SIGNATURE_ALGORITHM,
    ),
    ("Digest", tag::DIGEST),
    ("Operation Policy Name", tag::OPERATION_POLICY_NAME),
    ("Cryptographic Usage Mask", tag::CRYPTOGRAPHIC_USAGE_MASK),
    ("Lease Time", tag::LEASE_TIME),
    ("Usage Limits", tag::USAGE_LIMITS),
    ("State", tag::STATE),
    ("Initial Date", tag::INITIAL_DATE),
    ("Activation Date", tag::ACTIVATION_DATE),
    ("Process Start Date", tag::PROCESS_START_DATE),
    ("Protect Stop Date", tag::PROTECT_STOP_DATE),
    ("Deactivation Date", tag::DEACTIVATION_DATE),
    ("Destroy Date", tag::DESTROY_DATE),
    (
        "Compromise Occurrence Date",
        tag::COMPROMISE_OCCURRENCE_DATE,
    ),
    ("Compromise Date", tag::COMPROMISE_DATE),
    ("Revocation Reason", tag::REVOCATION_REASON),
    ("Archive Date", tag::ARCHIVE_DATE),
    ("Object Group", tag::OBJECT_GROUP),
    ("Fresh", tag::FRESH),
    ("Link", tag::LINK),
    (
        "Application Specific Information",
        tag::APPLICATION_SPECIFIC_INFORMATION,
    ),
    ("Contact Information", tag::CONTACT_INFORMATION),
    ("Last Change Date", tag::LAST_CHANGE_DATE),
    ("Alternative Name", tag::ALTERNATIVE_NAME),
    ("Key Value Present", tag::KEY_VALUE_PRESENT),
    ("Key Value Location", tag::KEY_VALUE_LOCATION),
    ("Original Creation Date", tag::ORIGINAL_CREATION_DATE),
    ("Description", tag::DESCRIPTION),
    ("Comment", tag::COMMENT),
    ("Sensitive", tag::SENSITIVE),
    ("Always Sensitive", tag::ALWAYS_SENSITIVE),
    ("Extractable", tag::EXTRACTABLE),
    ("Never Extractable", tag::NEVER_EXTRACTABLE),
    ("Key Format Type", tag::KEY_FORMAT_TYPE),
    ("Opaque Data Type", tag::OPAQUE_DATA_TYPE),
    ("Certificate Subject CN", tag::CERTIFICATE_SUBJECT_CN),
    ("Protection Level", tag::PROTECTION_LEVEL),
    ("Protection Period", tag::PROTECTION_PERIOD),
    ("Protection Storage Mask", tag::PROTECTION_STORAGE_MASK),
    ("Quantum Safe", tag::QUANTUM_SAFE),
    ("Random Number Generator", tag::RANDOM_NUMBER_GENERATOR),
    ("Short Unique Identifier", tag::SHORT_UNIQUE_IDENTIFIER),
    ("NIST Key Type", tag::NIST_KEY_TYPE),
];

fn table(tables: &[(u32, Table)], tag: u32) -> Option<Table> {
    tables
        .iter()
        .find(|(t, _)| *t == tag)
        .map(|(_, table)| *table)
}

/// Tags whose Enumeration values are themselves tags (2.x Attribute Reference).
fn names_tags(tag: u32) -> bool {
    tag == tag::ATTRIBUTE_REFERENCE
}

/// The name of enumeration `value` in field `tag`, if both are known.
pub fn enum_name(tag: u32, value: u32) -> Option<&'static str> {
    if names_tags(tag) {
        return super::tag::name(value);
    }
    table(ENUMS, tag)?
        .iter()
        .find(|(v, _)| *v == value)
        .map(|(_, n)| *n)
}

/// The value of the enumeration named `name` in field `tag`.
pub fn enum_value(tag: u32, name: &str) -> Option<u32> {
    if names_tags(tag) {
        return super::tag::by_name(name);
    }
    table(ENUMS, tag)?
        .iter()
        .find(|(_, n)| *n == name)
        .map(|(v, _)| *v)
}

/// Whether `tag` is an Integer bit mask with named flags.
pub fn is_mask(tag: u32) -> bool {
    table(MASKS, tag).is_some()
}

/// The flags set in `value`, in ascending bit order; `None` if any set bit has no name.
pub fn mask_names(tag: u32, value: i32) -> Option<Vec<&'static str>> {
    let flags = table(MASKS, tag)?;
    let mut rest = value as u32;
    let mut names = Vec::new();
    for (bit, name) in flags {
        if rest & bit != 0 {
            names.push(*name);
            rest &= !bit;
        }
    }
    (rest == 0).then_some(names)
}

/// The value of one named mask flag.
pub fn mask_flag(tag: u32, name: &str) -> Option<u32> {
    table(MASKS, tag)?
        .iter()
        .find(|(_, n)| *n == name)
        .map(|(v, _)| *v)
}

/// The tag of a 1.x attribute, from its Attribute Name text. Runs of white space inside the
/// name are treated as one space (the 1.1 vector files carry such runs).
pub fn attribute_tag(name: &str) -> Option<u32> {
    let folded = fold_spaces(name);
    ATTRIBUTE_NAMES
        .iter()
        .find(|(n, _)| *n == folded)
        .map(|(_, t)| *t)
}

/// The 1.x Attribute Name text of an attribute tag.
pub fn attribute_name(tag: u32) -> Option<&'static str> {
    ATTRIBUTE_NAMES
        .iter()
        .find(|(_, t)| *t == tag)
        .map(|(n, _)| *n)
}

/// Collapses every run of white space to one space and trims the ends.
pub fn fold_spaces(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enum_names_round_trip_and_are_unique_per_tag() {
        for (tag, table) in ENUMS {
            for (value, name) in *table {
                assert_eq!(enum_value(*tag, name), Some(*value), "{tag:06X} {name}");
                assert_eq!(enum_name(*tag, *value), Some(*name));
            }
        }
    }

    #[test]
    fn vector_spellings() {
        assert_eq!(enum_value(tag::CRYPTOGRAPHIC_ALGORITHM, "DES3"), Some(2));
        assert_eq!(enum_value(tag::HASHING_ALGORITHM, "SHA_256"), Some(6));
        assert_eq!(
            enum_value(tag::RESULT_REASON, "WrongKeyLifecycleState"),
            Some(0x43)
        );
        assert_eq!(enum_value(tag::OPERATION, "Interop"), Some(0x34));
        assert_eq!(
            enum_value(tag::ATTRIBUTE_REFERENCE, "State"),
            Some(tag::STATE)
        );
        assert_eq!(enum_name(tag::STATE, 1), Some("PreActive"));
    }

    #[test]
    fn masks_and_attribute_names() {
        assert_eq!(
            mask_names(tag::CRYPTOGRAPHIC_USAGE_MASK, 12),
            Some(vec!["Encrypt", "Decrypt"])
        );
        assert_eq!(mask_names(tag::CRYPTOGRAPHIC_USAGE_MASK, 0x4000_0000), None);
        assert_eq!(mask_flag(tag::PROTECTION_STORAGE_MASK, "Software"), Some(1));
        assert_eq!(
            attribute_tag("Cryptographic   Usage Mask"),
            Some(tag::CRYPTOGRAPHIC_USAGE_MASK)
        );
        assert_eq!(attribute_name(tag::STATE), Some("State"));
    }
}
