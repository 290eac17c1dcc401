//! Engine unit tests: Locate (and the names it finds) through the engine.
//! The shared fixture is `support.rs` beside this file.

use super::support::*;
use crate::engine::*;
use crate::kmip::enums::{Operation, ResultReason, ResultStatus};
use crate::kmip::tag;
use crate::ttlv::Value;

#[test]
fn locate_filters_pages_and_honours_storage_status() {
    let h = harness();
    let c = client("a");
    let mut keys: Vec<String> = (0..5)
        .map(|n| h.create_aes(&c, V14, vec![attr1("Name", name_value(&format!("k{n}")))]))
        .collect();
    let small = h.create_1x(
        &c,
        3,
        128,
        vec![attr1("x-Identifier", Value::TextString("vm-7".into()))],
    );
    let small = uid_of(&small);
    // Locate answers newest first.
    keys.sort();
    keys.reverse();

    let by_name = h.one(
        &c,
        V14,
        Operation::Locate,
        vec![attr1("Name", name_value("k3"))],
    );
    assert_eq!(located(&by_name).len(), 1);
    let by_custom = h.one(
        &c,
        V14,
        Operation::Locate,
        vec![attr1("x-Identifier", Value::TextString("vm-7".into()))],
    );
    assert_eq!(located(&by_custom), vec![small.clone()]);
    let by_length = h.one(
        &c,
        V14,
        Operation::Locate,
        vec![
            attr1("Cryptographic Length", Value::Integer(256)),
            attr1("Object Type", Value::Enumeration(2)),
        ],
    );
    assert_eq!(located(&by_length), keys);
    let by_mask = h.one(
        &c,
        V14,
        Operation::Locate,
        vec![attr1("Cryptographic Usage Mask", Value::Integer(4))],
    );
    assert_eq!(
        located(&by_mask),
        keys,
        "mask matches when every requested bit is set"
    );

    // Paging: stable order, Located Items counts everything.
    let page = h.one(
        &c,
        V14,
        Operation::Locate,
        vec![
            int(tag::MAXIMUM_ITEMS, 2),
            int(tag::OFFSET_ITEMS, 1),
            attr1("Cryptographic Length", Value::Integer(256)),
        ],
    );
    assert_eq!(
        payload(&page).child(tag::LOCATED_ITEMS).unwrap().value,
        Value::Integer(5)
    );
    assert_eq!(located(&page), keys[1..3].to_vec());

    // State filter, then destroyed objects only with the Destroyed storage bit (2.x).
    h.one(&c, V14, Operation::Activate, vec![uid(&keys[0])]);
    let active = h.one(
        &c,
        V14,
        Operation::Locate,
        vec![attr1("State", Value::Enumeration(2))],
    );
    assert_eq!(located(&active), vec![keys[0].clone()]);
    h.one(&c, V14, Operation::Destroy, vec![uid(&keys[1])]);
    let online = h.one(
        &c,
        V21,
        Operation::Locate,
        vec![st(
            tag::ATTRIBUTES,
            vec![int(tag::CRYPTOGRAPHIC_LENGTH, 256)],
        )],
    );
    assert!(!located(&online).contains(&keys[1]));
    assert_eq!(located(&online).len(), 4);
    let with_destroyed = h.one(
        &c,
        V21,
        Operation::Locate,
        vec![
            int(tag::STORAGE_STATUS_MASK, 5),
            st(tag::ATTRIBUTES, vec![int(tag::CRYPTOGRAPHIC_LENGTH, 256)]),
        ],
    );
    assert_eq!(located(&with_destroyed), keys);
    let only_destroyed = h.one(
        &c,
        V21,
        Operation::Locate,
        vec![int(tag::STORAGE_STATUS_MASK, 4)],
    );
    assert_eq!(located(&only_destroyed), vec![keys[1].clone()]);
}

#[test]
fn names_repeat_and_locate_returns_every_holder() {
    let h = harness();
    let c = client("a");
    let first = uid_of(&create_named(&h, &c, "shared"));
    let second = uid_of(&create_named(&h, &c, "shared"));
    let found = h.one(
        &c,
        V14,
        Operation::Locate,
        vec![attr1("Name", name_value("shared"))],
    );
    let mut expected = vec![first.clone(), second];
    expected.sort();
    let mut got = located(&found);
    got.sort();
    assert_eq!(got, expected);
    // A destroyed holder drops out of Locate, though its Name attribute stays readable.
    assert_eq!(
        status(&h.one(&c, V14, Operation::Destroy, vec![uid(&first)])),
        ResultStatus::Success
    );
    let found = h.one(
        &c,
        V14,
        Operation::Locate,
        vec![attr1("Name", name_value("shared"))],
    );
    assert_eq!(located(&found).len(), 1);
}

#[test]
fn unique_names_refuses_a_live_holders_name_only() {
    let h = harness_with(EngineConfig {
        unique_names: true,
        ..EngineConfig::default()
    });
    let c = client("a");
    let first = uid_of(&create_named(&h, &c, "only"));
    // 1.x has no Non Unique Name Attribute reason: Illegal Operation stands for it.
    failed_with(
        &create_named(&h, &c, "only"),
        ResultReason::IllegalOperation,
    );
    // Another client's namespace is its own.
    assert_eq!(
        status(&create_named(&h, &client("b"), "only")),
        ResultStatus::Success
    );
    // Once the holder is destroyed the name is free again.
    assert_eq!(
        status(&h.one(&c, V14, Operation::Destroy, vec![uid(&first)])),
        ResultStatus::Success
    );
    assert_eq!(status(&create_named(&h, &c, "only")), ResultStatus::Success);
}
