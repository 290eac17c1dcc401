//! Engine unit tests: the attribute operations and attribute policy through the engine.
//! The shared fixture is `support.rs` beside this file.

use sha2::{Digest as _, Sha256};

use super::support::*;
use crate::kmip::enums::{Operation, ResultReason, ResultStatus};
use crate::kmip::tag;
use crate::ttlv::{Item, Value};

#[test]
fn custom_attributes_are_multi_instance_with_1x_indexes() {
    let h = harness();
    let c = client("a");
    let key = h.create_aes(&c, V11, vec![]);
    for v in ["one", "two"] {
        h.one(
            &c,
            V11,
            Operation::AddAttribute,
            vec![uid(&key), attr1("x-tag", Value::TextString(v.into()))],
        );
    }
    let ga = h.get_attribute_v1(&c, V11, &key, "x-tag");
    let instances: Vec<&Item> = payload(&ga).children_with(tag::ATTRIBUTE).collect();
    assert_eq!(instances.len(), 2);
    assert_eq!(
        instances[1].child(tag::ATTRIBUTE_INDEX).unwrap().value,
        Value::Integer(1)
    );
    // Modify index 1, delete index 0.
    let modify = st(
        tag::ATTRIBUTE,
        vec![
            text(tag::ATTRIBUTE_NAME, "x-tag"),
            int(tag::ATTRIBUTE_INDEX, 1),
            Item::new(tag::ATTRIBUTE_VALUE, Value::TextString("TWO".into())),
        ],
    );
    assert_eq!(
        status(&h.one(&c, V11, Operation::ModifyAttribute, vec![uid(&key), modify])),
        ResultStatus::Success
    );
    let del = h.one(
        &c,
        V11,
        Operation::DeleteAttribute,
        vec![
            uid(&key),
            text(tag::ATTRIBUTE_NAME, "x-tag"),
            int(tag::ATTRIBUTE_INDEX, 0),
        ],
    );
    assert_eq!(
        payload(&del)
            .child(tag::ATTRIBUTE)
            .unwrap()
            .child(tag::ATTRIBUTE_VALUE)
            .unwrap()
            .value,
        Value::TextString("one".into())
    );
    let ga = h.get_attribute_v1(&c, V11, &key, "x-tag");
    assert_eq!(
        attrs_v1(&ga),
        vec![("x-tag".to_string(), Value::TextString("TWO".into()))]
    );
    // A missing index fails; an index in Add fails; read-only attributes are refused.
    let x_tag_at = |index: i32| {
        st(
            tag::ATTRIBUTE,
            vec![
                text(tag::ATTRIBUTE_NAME, "x-tag"),
                int(tag::ATTRIBUTE_INDEX, index),
                Item::new(tag::ATTRIBUTE_VALUE, Value::TextString("x".into())),
            ],
        )
    };
    for (operation, attribute, reason) in [
        (
            Operation::ModifyAttribute,
            x_tag_at(4),
            ResultReason::ItemNotFound,
        ),
        (
            Operation::AddAttribute,
            x_tag_at(0),
            ResultReason::InvalidField,
        ),
        (
            Operation::AddAttribute,
            attr1("y-server", Value::TextString("x".into())),
            ResultReason::PermissionDenied,
        ),
        (
            Operation::ModifyAttribute,
            attr1("Cryptographic Length", Value::Integer(128)),
            ResultReason::PermissionDenied,
        ),
        (
            Operation::AddAttribute,
            attr1("Cryptographic Usage Mask", Value::Integer(4)),
            ResultReason::IllegalOperation,
        ),
    ] {
        failed_with(
            &h.one(&c, V11, operation, vec![uid(&key), attribute]),
            reason,
        );
    }
}

#[test]
fn v2_attribute_operations_use_vendor_attributes_and_2x_reasons() {
    let h = harness();
    let c = client("a");
    let key = h.create_aes(
        &c,
        V21,
        vec![st(
            tag::NAME,
            vec![text(tag::NAME_VALUE, "n1"), enumeration(tag::NAME_TYPE, 1)],
        )],
    );
    let other = h.create_aes(&c, V21, vec![]);
    let vendor = |name: &str, value: &str| {
        st(
            tag::ATTRIBUTE,
            vec![
                text(tag::VENDOR_IDENTIFICATION, "x"),
                text(tag::ATTRIBUTE_NAME, name),
                text(tag::ATTRIBUTE_VALUE, value),
            ],
        )
    };
    let add = h.one(
        &c,
        V21,
        Operation::AddAttribute,
        vec![
            uid(&key),
            st(tag::NEW_ATTRIBUTE, vec![vendor("Vendor", "VMware, Inc.")]),
        ],
    );
    assert_eq!(payload(&add).children(), &[uid(&key)]);
    // The 2.x vendor attribute is the 1.x x-Vendor.
    let ga = h.get_attribute_v1(&c, V11, &key, "x-Vendor");
    assert_eq!(
        attrs_v1(&ga),
        vec![(
            "x-Vendor".to_string(),
            Value::TextString("VMware, Inc.".into())
        )]
    );
    let vendor_reference = || {
        st(
            tag::ATTRIBUTE_REFERENCE,
            vec![
                text(tag::VENDOR_IDENTIFICATION, "x"),
                text(tag::ATTRIBUTE_NAME, "Vendor"),
            ],
        )
    };
    let ga = h.one(
        &c,
        V21,
        Operation::GetAttributes,
        vec![uid(&key), vendor_reference()],
    );
    assert_eq!(
        payload(&ga).child(tag::ATTRIBUTES).unwrap().children(),
        &[vendor("Vendor", "VMware, Inc.")]
    );

    failed_with(
        &h.one(
            &c,
            V21,
            Operation::AddAttribute,
            vec![
                uid(&key),
                st(
                    tag::NEW_ATTRIBUTE,
                    vec![int(tag::CRYPTOGRAPHIC_USAGE_MASK, 4)],
                ),
            ],
        ),
        ResultReason::AttributeSingleValued,
    );
    failed_with(
        &h.one(
            &c,
            V21,
            Operation::ModifyAttribute,
            vec![
                uid(&key),
                st(
                    tag::NEW_ATTRIBUTE,
                    vec![int(tag::CRYPTOGRAPHIC_LENGTH, 128)],
                ),
            ],
        ),
        ResultReason::AttributeReadOnly,
    );
    // Names may repeat across objects (KMIP; `[kmip] unique_names` is off by default).
    let same_name = h.one(
        &c,
        V21,
        Operation::AddAttribute,
        vec![
            uid(&other),
            st(
                tag::NEW_ATTRIBUTE,
                vec![st(
                    tag::NAME,
                    vec![text(tag::NAME_VALUE, "n1"), enumeration(tag::NAME_TYPE, 1)],
                )],
            ),
        ],
    );
    assert_eq!(status(&same_name), ResultStatus::Success, "{same_name:?}");
    let set = h.one(
        &c,
        V21,
        Operation::SetAttribute,
        vec![
            uid(&key),
            st(
                tag::NEW_ATTRIBUTE,
                vec![int(tag::CRYPTOGRAPHIC_USAGE_MASK, 4)],
            ),
        ],
    );
    assert_eq!(status(&set), ResultStatus::Success);
    failed_with(
        &h.one(&c, V14, Operation::SetAttribute, vec![uid(&key)]),
        ResultReason::OperationNotSupported,
    );
    let delete_vendor = || {
        h.one(
            &c,
            V21,
            Operation::DeleteAttribute,
            vec![uid(&key), vendor_reference()],
        )
    };
    assert_eq!(status(&delete_vendor()), ResultStatus::Success);
    failed_with(&delete_vendor(), ResultReason::AttributeNotFound);
    // Check with a usage mask the key lacks.
    failed_with(
        &h.one(
            &c,
            V21,
            Operation::Check,
            vec![uid(&key), int(tag::CRYPTOGRAPHIC_USAGE_MASK, 8)],
        ),
        ResultReason::IncompatibleCryptographicUsageMask,
    );
    assert_eq!(
        status(&h.one(
            &c,
            V21,
            Operation::Check,
            vec![uid(&key), int(tag::CRYPTOGRAPHIC_USAGE_MASK, 4)]
        )),
        ResultStatus::Success
    );
}

#[test]
fn attributes_are_shown_only_in_versions_that_define_them() {
    let h = harness();
    let c = client("a");
    let key = h.create_aes(&c, V14, vec![]);
    let names = |version| -> Vec<String> {
        attrs_v1(&h.one(&c, version, Operation::GetAttributes, vec![uid(&key)]))
            .into_iter()
            .map(|(n, _)| n)
            .collect()
    };
    let v14 = names(V14);
    for n in [
        "Sensitive",
        "Always Sensitive",
        "Extractable",
        "Never Extractable",
        "Original Creation Date",
    ] {
        assert!(v14.contains(&n.to_string()), "{n} in 1.4");
    }
    let v11 = names(V11);
    for n in ["Sensitive", "Original Creation Date"] {
        assert!(!v11.contains(&n.to_string()), "{n} not in 1.1");
    }
    assert_eq!(
        &v14[..4],
        &[
            "Unique Identifier",
            "Object Type",
            "Cryptographic Algorithm",
            "Cryptographic Length"
        ]
    );
    // 2.1 adds the derived Short Unique Identifier and Key Format Type.
    let ga = h.one(&c, V21, Operation::GetAttributes, vec![uid(&key)]);
    let attrs = payload(&ga).child(tag::ATTRIBUTES).unwrap();
    assert_eq!(
        attrs.child(tag::SHORT_UNIQUE_IDENTIFIER).unwrap().value,
        Value::ByteString(Sha256::digest(key.as_bytes()).to_vec())
    );
    assert_eq!(
        attrs.child(tag::KEY_FORMAT_TYPE).unwrap().value,
        Value::Enumeration(1)
    );
    // Making a key non-sensitive later clears Always Sensitive for good.
    let s = h.create_aes(
        &c,
        V21,
        vec![Item::new(tag::SENSITIVE, Value::Boolean(true))],
    );
    h.one(
        &c,
        V21,
        Operation::SetAttribute,
        vec![
            uid(&s),
            st(
                tag::NEW_ATTRIBUTE,
                vec![Item::new(tag::SENSITIVE, Value::Boolean(false))],
            ),
        ],
    );
    let ga = h.one(
        &c,
        V21,
        Operation::GetAttributes,
        vec![
            uid(&s),
            enumeration(tag::ATTRIBUTE_REFERENCE, tag::ALWAYS_SENSITIVE),
        ],
    );
    assert_eq!(
        payload(&ga).child(tag::ATTRIBUTES).unwrap().children(),
        &[Item::new(tag::ALWAYS_SENSITIVE, Value::Boolean(false))]
    );
}

#[test]
fn get_attributes_answers_only_what_was_asked() {
    let h = harness();
    let c = client("a");
    let key = h.create_aes(&c, V11, vec![]);
    // An unknown standard-looking name matches nothing: only the UID comes back.
    let ga = h.get_attribute_v1(&c, V11, &key, "No Such Attribute");
    assert_eq!(payload(&ga).children(), &[uid(&key)]);
    // A repeated name is answered once.
    let ga = h.one(
        &c,
        V11,
        Operation::GetAttributes,
        vec![
            uid(&key),
            text(tag::ATTRIBUTE_NAME, "State"),
            text(tag::ATTRIBUTE_NAME, "State"),
        ],
    );
    assert_eq!(attrs_v1(&ga).len(), 1);
}

#[test]
fn operation_policy_name_from_1x_clients_is_kept() {
    let h = harness();
    let c = client("pykmip");
    let key = h.create_aes(
        &c,
        (1, 2),
        vec![attr1(
            "Operation Policy Name",
            Value::TextString("default".into()),
        )],
    );
    let ga = h.one(
        &c,
        (1, 2),
        Operation::GetAttributes,
        vec![
            uid(&key),
            text(tag::ATTRIBUTE_NAME, "Operation Policy Name"),
        ],
    );
    assert_eq!(
        attrs_v1(&ga),
        vec![(
            "Operation Policy Name".to_string(),
            Value::TextString("default".into())
        )]
    );
}

#[test]
fn v1_attribute_index_names_instances_of_multi_instance_attributes() {
    let h = harness();
    let c = client("a");
    let key = uid_of(&create_named(&h, &c, "first"));
    let index_of = |item: &Item| {
        payload(item)
            .child(tag::ATTRIBUTE)
            .and_then(|a| a.child(tag::ATTRIBUTE_INDEX))
            .map(|i| i.value.clone())
    };
    let got = h.get_attribute_v1(&c, V14, &key, "Name");
    assert_eq!(index_of(&got), Some(Value::Integer(0)), "{got:?}");
    let modified = h.one(
        &c,
        V14,
        Operation::ModifyAttribute,
        vec![
            uid(&key),
            st(
                tag::ATTRIBUTE,
                vec![
                    text(tag::ATTRIBUTE_NAME, "Name"),
                    int(tag::ATTRIBUTE_INDEX, 0),
                    st(
                        tag::ATTRIBUTE_VALUE,
                        vec![
                            text(tag::NAME_VALUE, "renamed"),
                            enumeration(tag::NAME_TYPE, 1),
                        ],
                    ),
                ],
            ),
        ],
    );
    assert_eq!(index_of(&modified), Some(Value::Integer(0)), "{modified:?}");
    // A single-instance attribute keeps the short form (index 0 unsaid), as vCenter saw it.
    let state = h.get_attribute_v1(&c, V14, &key, "State");
    assert_eq!(index_of(&state), None, "{state:?}");
    let deleted = h.one(
        &c,
        V14,
        Operation::DeleteAttribute,
        vec![
            uid(&key),
            text(tag::ATTRIBUTE_NAME, "Name"),
            int(tag::ATTRIBUTE_INDEX, 0),
        ],
    );
    assert_eq!(index_of(&deleted), Some(Value::Integer(0)), "{deleted:?}");
}

#[test]
fn v1_attribute_indexes_stay_put_when_other_instances_go() {
    let h = harness();
    let c = client("a");
    let key = h.create_aes(&c, V14, vec![]);
    for value in ["first", "second"] {
        let added = h.one(
            &c,
            V14,
            Operation::AddAttribute,
            vec![uid(&key), attr1("x-tag", Value::TextString(value.into()))],
        );
        assert_eq!(status(&added), ResultStatus::Success, "{added:?}");
    }
    let deleted = h.one(
        &c,
        V14,
        Operation::DeleteAttribute,
        vec![
            uid(&key),
            text(tag::ATTRIBUTE_NAME, "x-tag"),
            int(tag::ATTRIBUTE_INDEX, 0),
        ],
    );
    assert_eq!(status(&deleted), ResultStatus::Success, "{deleted:?}");
    let got = h.get_attribute_v1(&c, V14, &key, "x-tag");
    let remaining: Vec<(Option<Value>, Option<Value>)> = payload(&got)
        .children_with(tag::ATTRIBUTE)
        .map(|a| {
            (
                a.child(tag::ATTRIBUTE_INDEX).map(|i| i.value.clone()),
                a.child(tag::ATTRIBUTE_VALUE).map(|v| v.value.clone()),
            )
        })
        .collect();
    assert_eq!(
        remaining,
        vec![(
            Some(Value::Integer(1)),
            Some(Value::TextString("second".into()))
        )]
    );
    // Index 0 is gone for good; index 1 still names "second".
    let modify = |index: i32| {
        h.one(
            &c,
            V14,
            Operation::ModifyAttribute,
            vec![
                uid(&key),
                st(
                    tag::ATTRIBUTE,
                    vec![
                        text(tag::ATTRIBUTE_NAME, "x-tag"),
                        int(tag::ATTRIBUTE_INDEX, index),
                        text(tag::ATTRIBUTE_VALUE, "changed"),
                    ],
                ),
            ],
        )
    };
    assert_eq!(status(&modify(0)), ResultStatus::OperationFailed);
    assert_eq!(status(&modify(1)), ResultStatus::Success);
    let third = h.one(
        &c,
        V14,
        Operation::AddAttribute,
        vec![uid(&key), attr1("x-tag", Value::TextString("third".into()))],
    );
    let index = payload(&third)
        .child(tag::ATTRIBUTE)
        .and_then(|a| a.child(tag::ATTRIBUTE_INDEX))
        .map(|i| i.value.clone());
    assert_eq!(index, Some(Value::Integer(2)), "{third:?}");
}
