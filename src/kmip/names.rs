//! Names of enumeration values and bit-mask flags, as the KMIP XML and JSON encodings spell
//! them (the specification's name with spaces removed, CamelCase, and characters that cannot
//! appear in an identifier replaced by `_`), plus the 1.x attribute-name ↔ tag table.
//!
//! The enumeration and mask tables are generated into `registry.rs`, one row per value, from the
//! KMIP 1.4 and 2.1 specifications (`scripts/gen-kmip-registry.py`); this module looks them up.

use super::registry::{ENUMERATIONS, MASKS};
use super::tag;

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

fn table<V: 'static>(
    tables: &[(u32, &'static [(V, &'static str)])],
    tag: u32,
) -> Option<&'static [(V, &'static str)]> {
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
    table(ENUMERATIONS, tag)?
        .iter()
        .find(|(v, _)| *v == value)
        .map(|(_, n)| *n)
}

/// The value of the enumeration named `name` in field `tag`.
pub fn enum_value(tag: u32, name: &str) -> Option<u32> {
    if names_tags(tag) {
        return super::tag::by_name(name);
    }
    table(ENUMERATIONS, tag)?
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
    let mut rest = value;
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
        .map(|(v, _)| *v as u32)
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
        for (tag, table) in ENUMERATIONS {
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
