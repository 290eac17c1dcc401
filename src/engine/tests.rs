//! Engine tests over the in-memory store with a real master key. Requests are built as TTLV
//! trees, encoded with the project codec and sent through `prepare`/`execute_*` as the server
//! does. This file holds what concerns whole messages (batches, undo, errors, sizes, the key
//! gate); each operation's tests are in the file of its name under `tests/`, and the shared
//! fixture is `tests/support.rs`.

mod attributes;
mod fresh;
mod key_pair;
mod lifecycle;
mod locate;
mod objects;
mod server_info;
mod support;

use sha2::{Digest as _, Sha256};
use std::sync::Arc;

use super::*;
use crate::kmip::enums::{Operation, ResultReason, ResultStatus, State};
use crate::kmip::tag;
use crate::seal::MasterKey;
use crate::store::Store;
use crate::store::memory::MemoryStore;
use crate::ttlv::{Item, Value};
use support::*;

#[test]
fn vcenter_encrypt_vm_sequence() {
    let h = harness();
    let vc = client("vcenter");
    // Discover Versions, empty payload, no batch id: all versions, highest first.
    let dv = h.one(&vc, V11, Operation::DiscoverVersions, vec![]);
    assert!(dv.child(tag::UNIQUE_BATCH_ITEM_ID).is_none());
    let versions: Vec<_> = payload(&dv)
        .children_with(tag::PROTOCOL_VERSION)
        .map(|v| v.children().to_vec())
        .collect();
    assert_eq!(versions.len(), 7);
    assert_eq!(
        versions[0],
        vec![
            int(tag::PROTOCOL_VERSION_MAJOR, 2),
            int(tag::PROTOCOL_VERSION_MINOR, 1)
        ]
    );
    assert_eq!(
        versions[6],
        vec![
            int(tag::PROTOCOL_VERSION_MAJOR, 1),
            int(tag::PROTOCOL_VERSION_MINOR, 0)
        ]
    );

    let key = h.create_aes(&vc, V11, vec![]);
    assert_eq!(key.len(), 36, "UUID text");

    // Get on the Pre-Active key: Raw, 32 bytes, AES, 256.
    let get = h.one(&vc, V11, Operation::Get, vec![uid(&key)]);
    assert_eq!(status(&get), ResultStatus::Success);
    let block = key_block(&get);
    assert_eq!(
        block.child(tag::KEY_FORMAT_TYPE).unwrap().value,
        Value::Enumeration(1)
    );
    assert_eq!(
        block.child(tag::CRYPTOGRAPHIC_ALGORITHM).unwrap().value,
        Value::Enumeration(3)
    );
    assert_eq!(
        block.child(tag::CRYPTOGRAPHIC_LENGTH).unwrap().value,
        Value::Integer(256)
    );
    let material = key_material(&get);
    assert_eq!(material.len(), 32);
    assert_ne!(material, vec![0u8; 32]);

    // Get Attributes of absent x- names: only the Unique Identifier.
    for name in ["x-Product_Version", "x-Vendor", "x-Product"] {
        let ga = h.get_attribute_v1(&vc, V11, &key, name);
        assert_eq!(status(&ga), ResultStatus::Success);
        assert_eq!(payload(&ga).children(), &[uid(&key)]);
    }

    // The 3-item Add Attribute batch echoes the QLKC batch ids byte for byte.
    let values = [
        ("x-Product_Version", "7.0.3 build-19480866"),
        ("x-Vendor", "VMware, Inc."),
        ("x-Product", "VMware vSphere"),
    ];
    let batch: Vec<BatchItem> = values
        .iter()
        .enumerate()
        .map(|(n, (name, value))| BatchItem {
            op: Operation::AddAttribute,
            id: Some(vec![b'Q', b'L', b'K', b'C', n as u8 + 1, 0, 0, 0]),
            payload: vec![uid(&key), attr1(name, Value::TextString(value.to_string()))],
        })
        .collect();
    let response = h.send(&vc, request(V11, vec![], batch));
    let answers = items(&response);
    assert_eq!(answers.len(), 3);
    for (n, answer) in answers.iter().enumerate() {
        assert_eq!(status(answer), ResultStatus::Success);
        assert_eq!(
            answer.child(tag::OPERATION).unwrap().value,
            Value::Enumeration(Operation::AddAttribute.value())
        );
        assert_eq!(
            answer.child(tag::UNIQUE_BATCH_ITEM_ID).unwrap().value,
            Value::ByteString(vec![b'Q', b'L', b'K', b'C', n as u8 + 1, 0, 0, 0])
        );
        let added = payload(answer).child(tag::ATTRIBUTE).unwrap();
        assert!(
            added.child(tag::ATTRIBUTE_INDEX).is_none(),
            "first instance: index omitted"
        );
        assert_eq!(
            added.child(tag::ATTRIBUTE_VALUE).unwrap().value,
            Value::TextString(values[n].1.into())
        );
    }
    let ga = h.get_attribute_v1(&vc, V11, &key, "x-Vendor");
    assert_eq!(
        attrs_v1(&ga),
        vec![(
            "x-Vendor".to_string(),
            Value::TextString("VMware, Inc.".into())
        )]
    );

    assert_eq!(state_v1(&h, &vc, V11, &key), State::PreActive);
    let act = h.one(&vc, V11, Operation::Activate, vec![uid(&key)]);
    assert_eq!(status(&act), ResultStatus::Success);
    assert_eq!(payload(&act).children(), &[uid(&key)]);
    assert_eq!(state_v1(&h, &vc, V11, &key), State::Active);
    // The material did not change on the way.
    assert_eq!(
        key_material(&h.one(&vc, V11, Operation::Get, vec![uid(&key)])),
        material
    );
}

#[test]
fn other_clients_never_see_an_object() {
    let h = harness();
    let alice = client("alice");
    let bob = client("bob");
    let key = h.create_aes(&alice, V14, vec![attr1("Name", name_value("shared-name"))]);
    for (version, expected) in [
        (V11, ResultReason::ItemNotFound),
        (V14, ResultReason::ItemNotFound),
        (V21, ResultReason::ObjectNotFound),
    ] {
        for op in [
            Operation::Get,
            Operation::GetAttributes,
            Operation::GetAttributeList,
            Operation::Activate,
            Operation::Destroy,
            Operation::Check,
        ] {
            failed_with(&h.one(&bob, version, op, vec![uid(&key)]), expected);
        }
        let revoke = vec![
            uid(&key),
            st(
                tag::REVOCATION_REASON,
                vec![enumeration(tag::REVOCATION_REASON_CODE, 2)],
            ),
        ];
        failed_with(&h.one(&bob, version, Operation::Revoke, revoke), expected);
    }
    failed_with(
        &h.one(
            &bob,
            V11,
            Operation::AddAttribute,
            vec![uid(&key), attr1("x-a", Value::TextString("b".into()))],
        ),
        ResultReason::ItemNotFound,
    );
    // Locate never lists it, not even by its name; bob may reuse the name.
    let loc = h.one(
        &bob,
        V14,
        Operation::Locate,
        vec![attr1("Name", name_value("shared-name"))],
    );
    assert!(payload(&loc).child(tag::UNIQUE_IDENTIFIER).is_none());
    let loc = h.one(&bob, V14, Operation::Locate, vec![]);
    assert!(payload(&loc).child(tag::UNIQUE_IDENTIFIER).is_none());
    h.create_aes(&bob, V14, vec![attr1("Name", name_value("shared-name"))]);
    // Alice's key is untouched.
    assert_eq!(state_v1(&h, &alice, V14, &key), State::PreActive);
    let loc = h.one(
        &alice,
        V14,
        Operation::Locate,
        vec![attr1("Name", name_value("shared-name"))],
    );
    assert_eq!(payload(&loc).children(), &[uid(&key)]);
}

#[test]
fn undo_really_leaves_the_store_unchanged() {
    let h = harness();
    let c = client("a");
    let key = h.create_aes(&c, V14, vec![]);
    let before = h.store.snapshot().unwrap();
    let undo = enumeration(tag::BATCH_ERROR_CONTINUATION_OPTION, 3);
    let response = h.send(
        &c,
        request(
            V14,
            vec![undo],
            vec![
                bi(Operation::Activate, vec![uid(&key)]),
                bi(
                    Operation::AddAttribute,
                    vec![uid(&key), attr1("x-a", Value::TextString("1".into()))],
                ),
                bi(Operation::Create, create_1x_payload(3, 256, vec![])),
                bi(Operation::Get, vec![uid("no-such-object")]),
                bi(Operation::Activate, vec![uid(&key)]),
            ],
        ),
    );
    let answers = items(&response);
    assert_eq!(answers.len(), 4, "processing stops at the failure");
    for a in &answers[..3] {
        assert_eq!(status(a), ResultStatus::OperationUndone);
    }
    // An undone item still says what it did (BL-M-2-21).
    assert_eq!(uid_of(answers[0]), key);
    failed_with(answers[3], ResultReason::ItemNotFound);
    assert!(
        h.store.snapshot().unwrap() == before,
        "store unchanged after Undo"
    );
    assert_eq!(state_v1(&h, &c, V14, &key), State::PreActive);
}

#[test]
fn stop_keeps_completed_items_and_continue_runs_the_rest() {
    let h = harness();
    let c = client("a");
    let k1 = h.create_aes(&c, V14, vec![]);
    let k2 = h.create_aes(&c, V14, vec![]);
    let response = h.send(
        &c,
        request(
            V14,
            vec![],
            vec![
                bi(Operation::Activate, vec![uid(&k1)]),
                bi(Operation::Get, vec![uid("nope")]),
                bi(Operation::Activate, vec![uid(&k2)]),
            ],
        ),
    );
    assert_eq!(items(&response).len(), 2);
    assert_eq!(
        state_v1(&h, &c, V14, &k1),
        State::Active,
        "completed operations are not undone"
    );
    assert_eq!(
        state_v1(&h, &c, V14, &k2),
        State::PreActive,
        "later items are not processed"
    );
    let cont = enumeration(tag::BATCH_ERROR_CONTINUATION_OPTION, 1);
    let response = h.send(
        &c,
        request(
            V14,
            vec![cont],
            vec![
                bi(Operation::Get, vec![uid("nope")]),
                bi(Operation::Activate, vec![uid(&k2)]),
            ],
        ),
    );
    let answers = items(&response);
    assert_eq!(answers.len(), 2);
    failed_with(answers[0], ResultReason::ItemNotFound);
    assert_eq!(status(answers[1]), ResultStatus::Success);
    assert_eq!(state_v1(&h, &c, V14, &k2), State::Active);
}

#[test]
fn id_placeholder_links_items_of_one_batch() {
    let h = harness();
    let c = client("a");
    let create = bi(Operation::Create, create_1x_payload(3, 128, vec![]));
    let response = h.send(
        &c,
        request(
            V14,
            vec![],
            vec![
                create,
                bi(Operation::Activate, vec![]),
                bi(Operation::Get, vec![]),
            ],
        ),
    );
    let answers = items(&response);
    let created = uid_of(answers[0]);
    assert_eq!(uid_of(answers[1]), created);
    assert_eq!(key_material(answers[2]).len(), 16);
    assert_eq!(state_v1(&h, &c, V14, &created), State::Active);
    // Without a placeholder the UID is missing data.
    failed_with(
        &h.one(&c, V14, Operation::Get, vec![]),
        ResultReason::MissingData,
    );
}

#[test]
fn malformed_and_unsupported_messages_get_kmip_errors() {
    let h = harness();
    let c = client("a");
    // Unsupported major: one item without Operation, header in our highest version.
    let r = h.send(
        &c,
        request(
            (3, 0),
            vec![],
            vec![bi(Operation::DiscoverVersions, vec![])],
        ),
    );
    assert_eq!(header_version(&r), (2, 1));
    let only = items(&r);
    assert_eq!(only.len(), 1);
    assert!(only[0].child(tag::OPERATION).is_none());
    failed_with(only[0], ResultReason::InvalidMessage);

    // Undecodable bytes: version 1.0.
    let r = h.send_bytes(&c, &[0x42, 0x00, 0x78, 0x01, 0, 0, 0, 9, 1, 2, 3]);
    assert_eq!(header_version(&r), (1, 0));
    failed_with(items(&r)[0], ResultReason::InvalidMessage);

    // Batch Count disagreeing with the items.
    let mut m = request(V14, vec![], vec![bi(Operation::DiscoverVersions, vec![])]);
    if let Value::Structure(children) = &mut m.value
        && let Value::Structure(header) = &mut children[0].value
    {
        header.last_mut().unwrap().value = Value::Integer(2);
    }
    let r = h.send(&c, m);
    assert_eq!(header_version(&r), (1, 4));
    failed_with(items(&r)[0], ResultReason::InvalidMessage);

    // Unknown operation: that item fails, the others run.
    let mut unknown = request(
        V14,
        vec![enumeration(tag::BATCH_ERROR_CONTINUATION_OPTION, 1)],
        vec![
            bi(Operation::DiscoverVersions, vec![]),
            bi(Operation::DiscoverVersions, vec![]),
        ],
    );
    if let Value::Structure(children) = &mut unknown.value {
        children[1] = st(
            tag::BATCH_ITEM,
            vec![
                enumeration(tag::OPERATION, 0x77),
                st(tag::REQUEST_PAYLOAD, vec![]),
            ],
        );
    }
    let r = h.send(&c, unknown);
    let answers = items(&r);
    failed_with(answers[0], ResultReason::OperationNotSupported);
    assert_eq!(
        answers[0].child(tag::OPERATION).unwrap().value,
        Value::Enumeration(0x77)
    );
    assert_eq!(status(answers[1]), ResultStatus::Success);
    failed_with(
        &h.one(&c, V14, Operation::Certify, vec![]),
        ResultReason::OperationNotSupported,
    );

    // A critical Message Extension we do not understand.
    let mut ext = request(V14, vec![], vec![bi(Operation::DiscoverVersions, vec![])]);
    if let Value::Structure(children) = &mut ext.value
        && let Value::Structure(item) = &mut children[1].value
    {
        item.push(st(
            tag::MESSAGE_EXTENSION,
            vec![
                text(tag::VENDOR_IDENTIFICATION, "acme"),
                Item::new(tag::CRITICALITY_INDICATOR, Value::Boolean(true)),
                st(tag::VENDOR_EXTENSION, vec![]),
            ],
        ));
    }
    failed_with(
        items(&h.send(&c, ext))[0],
        ResultReason::FeatureNotSupported,
    );

    // Same major, newer minor: unknown fields ignored, answered in our newest 1.x.
    let mut newer = request(
        (1, 7),
        vec![int(0x42FFF1, 3)],
        vec![bi(Operation::DiscoverVersions, vec![])],
    );
    if let Value::Structure(children) = &mut newer.value
        && let Value::Structure(item) = &mut children[1].value
    {
        item.push(int(0x42FFF2, 1));
    }
    let r = h.send(&c, newer);
    assert_eq!(header_version(&r), (1, 4));
    assert_eq!(status(items(&r)[0]), ResultStatus::Success);

    // Authentication is parsed and not required to match anything.
    let auth = st(
        tag::AUTHENTICATION,
        vec![st(
            tag::CREDENTIAL,
            vec![
                enumeration(tag::CREDENTIAL_TYPE, 1),
                st(
                    tag::CREDENTIAL_VALUE,
                    vec![text(tag::USERNAME, "u"), text(tag::PASSWORD, "p")],
                ),
            ],
        )],
    );
    let r = h.send(
        &c,
        request(
            V11,
            vec![auth],
            vec![bi(Operation::DiscoverVersions, vec![])],
        ),
    );
    assert_eq!(status(items(&r)[0]), ResultStatus::Success);
}

#[test]
fn response_too_large_discards_writes() {
    let h = harness();
    let c = client("a");
    let before = h.store.snapshot().unwrap();
    let create = bi(Operation::Create, create_1x_payload(3, 128, vec![]));
    let r = h.send(
        &c,
        request(V14, vec![int(tag::MAXIMUM_RESPONSE_SIZE, 64)], vec![create]),
    );
    failed_with(items(&r)[0], ResultReason::ResponseTooLarge);
    assert!(h.store.snapshot().unwrap() == before);
}

#[test]
fn classification_and_failure_response() {
    let h = harness();
    let c = client("a");
    let read = ttlv::encode(&request(
        V14,
        vec![],
        vec![
            bi(Operation::GetAttributes, vec![uid("x")]),
            bi(Operation::Locate, vec![]),
        ],
    ));
    assert!(matches!(h.engine.prepare(&c, &read), Prepared::Read(_)));
    let write = ttlv::encode(&request(
        V14,
        vec![],
        vec![
            bi(Operation::Get, vec![uid("x")]),
            bi(Operation::Destroy, vec![uid("x")]),
        ],
    ));
    let Prepared::Write(req) = h.engine.prepare(&c, &write) else {
        panic!("Destroy must be a write")
    };
    let failure = ttlv::decode(&h.engine.failure_response(&req), &Limits::default()).unwrap();
    let answers = items(&failure);
    assert_eq!(answers.len(), 2);
    for a in answers {
        failed_with(a, ResultReason::GeneralFailure);
    }
}

/// Appendix A of the vCenter reference: our encoder reproduces the captured messages.
#[test]
fn appendix_a_encodings_match_size_and_hash() {
    let qlkc = |n: u8| Some(vec![b'Q', b'L', b'K', b'C', n, 0, 0, 0]);
    let check = |item: &Item, size: usize, sha: &str| {
        let bytes = ttlv::encode(item);
        assert_eq!(bytes.len(), size);
        assert_eq!(hex::encode(Sha256::digest(&bytes)), sha);
        // And the parser reads it back.
        bytes
    };
    let a1 = request(V11, vec![], vec![bi(Operation::DiscoverVersions, vec![])]);
    let bytes = check(
        &a1,
        104,
        "c73883c19713626f022b49cc7b9c34ecd1c8268a73d7966de91e12165fe3b6f9",
    );
    assert!(matches!(
        message::parse_request(&ttlv::decode(&bytes, &Limits::default()).unwrap()),
        message::Parsed::Ok(_)
    ));

    let a2 = request(
        V11,
        vec![],
        vec![BatchItem {
            op: Operation::Create,
            id: qlkc(1),
            payload: vec![
                enumeration(tag::OBJECT_TYPE, 2),
                st(
                    tag::TEMPLATE_ATTRIBUTE,
                    vec![
                        attr1("Cryptographic Algorithm", Value::Enumeration(3)),
                        attr1("Cryptographic Usage Mask", Value::Integer(12)),
                        attr1("Cryptographic Length", Value::Integer(256)),
                    ],
                ),
            ],
        }],
    );
    check(
        &a2,
        312,
        "a2843af15e01829db8744a00dab837d2d9dfb6dbb723c7de5835d4776c573f85",
    );

    let add = |n: u8, name: &str, value: &str| BatchItem {
        op: Operation::AddAttribute,
        id: qlkc(n),
        payload: vec![uid("1"), attr1(name, Value::TextString(value.into()))],
    };
    let a3 = request(
        V11,
        vec![],
        vec![
            add(1, "x-Product_Version", "7.0.3 build-19480866"),
            add(2, "x-Vendor", "VMware, Inc."),
            add(3, "x-Product", "VMware vSphere"),
        ],
    );
    check(
        &a3,
        440,
        "b80d56496b46ebf41304149f92fb6f42df408c4b915b458a597ab870252c659e",
    );

    let v11 = ProtocolVersion::new(1, 1);
    let block = key_block_of(
        1,
        &[0; 32],
        vec![
            enumeration(tag::CRYPTOGRAPHIC_ALGORITHM, 3),
            int(tag::CRYPTOGRAPHIC_LENGTH, 256),
        ],
    );
    let a4 = message::encode_response(
        v11,
        1743675720,
        None,
        &[ResponseBatchItem::success(
            Operation::Get.value(),
            qlkc(1),
            vec![
                enumeration(tag::OBJECT_TYPE, 2),
                uid("2"),
                st(tag::SYMMETRIC_KEY, vec![block]),
            ],
        )],
    );
    check(
        &a4,
        296,
        "f8283d926c5d8c7646d399d2b5c8bdb727181e0c2f88d99962424befc2b86492",
    );

    let a5 = message::encode_response(
        v11,
        1743675720,
        None,
        &[ResponseBatchItem::success(
            Operation::GetAttributes.value(),
            qlkc(1),
            vec![uid("2"), attr1("State", Value::Enumeration(1))],
        )],
    );
    check(
        &a5,
        208,
        "f7a0b5795a4cae46c2b0f8a0e26f6e35ff0f4014aff5a85a09967007e672058c",
    );
}

#[test]
fn undecodable_message_with_a_readable_header_is_answered_in_its_version() {
    let h = harness();
    let c = client("a");
    let mut bytes = ttlv::encode(&request(
        V14,
        vec![],
        vec![bi(Operation::DiscoverVersions, vec![])],
    ));
    // Corrupt the length field of the Batch Count: the message no longer decodes.
    let last = bytes.len() - 41;
    bytes[last] = 0xFF;
    assert!(ttlv::decode(&bytes, &Limits::default()).is_err());
    let r = h.send_bytes(&c, &bytes);
    assert_eq!(header_version(&r), (1, 4));
    failed_with(items(&r)[0], ResultReason::InvalidMessage);
}

/// Damaged variants of valid requests never panic and always get a Response Message.
#[test]
fn mutated_requests_always_get_a_response() {
    let h = harness();
    let c = client("a");
    let key = h.create_aes(&c, V14, vec![]);
    let seeds = [
        ttlv::encode(&request(
            V11,
            vec![],
            vec![bi(Operation::DiscoverVersions, vec![])],
        )),
        ttlv::encode(&request(
            V14,
            vec![],
            vec![
                bi(Operation::Get, vec![uid(&key)]),
                bi(Operation::GetAttributes, vec![uid(&key)]),
            ],
        )),
        ttlv::encode(&request(
            V21,
            vec![enumeration(tag::BATCH_ERROR_CONTINUATION_OPTION, 3)],
            vec![
                bi(
                    Operation::AddAttribute,
                    vec![
                        uid(&key),
                        st(tag::NEW_ATTRIBUTE, vec![text(tag::DESCRIPTION, "d")]),
                    ],
                ),
                bi(Operation::Locate, vec![]),
            ],
        )),
    ];
    // xorshift: deterministic, no dependency.
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for round in 0..600 {
        let mut bytes = seeds[round % seeds.len()].clone();
        for _ in 0..(1 + next() % 4) {
            let at = (next() as usize) % bytes.len();
            bytes[at] = next() as u8;
        }
        let response = h.send_bytes(&c, &bytes);
        assert_eq!(response.tag, tag::RESPONSE_MESSAGE);
        assert!(!items(&response).is_empty());
    }
}

#[test]
fn a_write_whose_response_is_too_large_is_not_applied() {
    let h = harness();
    let c = client("a");
    let key = h.create_aes(&c, V14, vec![]);
    let before = h.store.snapshot().unwrap();
    let long = "v".repeat(400);
    let add = bi(
        Operation::AddAttribute,
        vec![uid(&key), attr1("x-long", Value::TextString(long))],
    );
    // The success answer would exceed 400 bytes; the error answer fits.
    let r = h.send(
        &c,
        request(V14, vec![int(tag::MAXIMUM_RESPONSE_SIZE, 400)], vec![add]),
    );
    assert!(ttlv::encode(&r).len() <= 400);
    failed_with(items(&r)[0], ResultReason::ResponseTooLarge);
    assert!(h.store.snapshot().unwrap() == before);
}

#[test]
fn scrub_wipes_every_byte_string_in_a_tree() {
    let mut tree = st(
        tag::RESPONSE_PAYLOAD,
        vec![
            uid("u"),
            st(
                tag::KEY_VALUE,
                vec![Item::new(
                    tag::KEY_MATERIAL,
                    Value::ByteString(vec![0xAB; 32]),
                )],
            ),
        ],
    );
    super::scrub(&mut tree);
    let material = &tree
        .child(tag::KEY_VALUE)
        .unwrap()
        .child(tag::KEY_MATERIAL)
        .unwrap()
        .value;
    assert!(matches!(material, Value::ByteString(b) if b.iter().all(|x| *x == 0)));
    assert_eq!(tree.child(tag::UNIQUE_IDENTIFIER).unwrap(), &uid("u"));
}

#[test]
fn a_damaged_record_fails_alone() {
    let h = harness();
    let c = client("a");
    let good = h.create_aes(&c, V14, vec![]);
    let bad = h.create_aes(&c, V14, vec![]);
    let mut txn = h.store.write().unwrap();
    let mut record = txn.get(&bad).unwrap().unwrap();
    record.metadata.truncate(5);
    txn.put(&record).unwrap();
    txn.commit().unwrap();
    failed_with(
        &h.one(&c, V14, Operation::Get, vec![uid(&bad)]),
        ResultReason::GeneralFailure,
    );
    let loc = h.one(&c, V14, Operation::Locate, vec![]);
    assert_eq!(located(&loc), vec![good]);
}

#[test]
fn sealed_gate_refuses_key_material_but_answers_metadata_and_unseals_in_place() {
    let key = || MasterKey::from_bytes(zeroize::Zeroizing::new([9u8; 32]));
    let h = Harness {
        engine: Engine::new(EngineConfig::default(), Arc::new(key())),
        store: MemoryStore::new(),
    };
    let c = client("vcenter");
    let u = h.create_aes(&c, V14, vec![]);
    let before = key_material(&h.one(&c, V14, Operation::Get, vec![uid(&u)]));

    h.engine
        .gate()
        .seal("the root key is disabled in Key Protect");
    assert!(h.engine.gate().is_sealed());
    let refused = |item: &Item| {
        failed_with(item, ResultReason::GeneralFailure);
        let Some(Value::TextString(text)) = item.child(tag::RESULT_MESSAGE).map(|m| &m.value)
        else {
            panic!("no Result Message: {item:?}")
        };
        assert!(text.contains("root key is unavailable"), "{text}");
        assert!(text.contains("disabled"), "{text}");
    };
    refused(&h.one(&c, V14, Operation::Get, vec![uid(&u)]));
    refused(&h.one(&c, V21, Operation::Get, vec![uid(&u)]));
    refused(&h.create_1x(&c, 3, 256, vec![]));
    refused(&h.one(&c, V14, Operation::ReKey, vec![uid(&u)]));
    // Nothing that needs no key material is refused.
    let dv = h.one(&c, V14, Operation::DiscoverVersions, vec![]);
    assert_eq!(status(&dv), ResultStatus::Success);
    let q = h.one(
        &c,
        V14,
        Operation::Query,
        vec![enumeration(tag::QUERY_FUNCTION, 1)],
    );
    assert_eq!(status(&q), ResultStatus::Success);
    assert_eq!(state_v1(&h, &c, V14, &u), State::PreActive);
    let activate = h.one(&c, V14, Operation::Activate, vec![uid(&u)]);
    assert_eq!(status(&activate), ResultStatus::Success, "{activate:?}");

    h.engine.gate().install(key());
    assert!(!h.engine.gate().is_sealed());
    let after = h.one(&c, V14, Operation::Get, vec![uid(&u)]);
    assert_eq!(status(&after), ResultStatus::Success, "{after:?}");
    assert_eq!(key_material(&after), before);
}

#[test]
fn degraded_mode_serves_gets_without_clearing_fresh_and_refuses_changes() {
    let h = harness();
    let c = client("a");
    let key = h.create_aes(&c, V21, vec![]);
    let before = h.store.snapshot().unwrap();
    let message = |op, payload| ttlv::encode(&request(V21, vec![], vec![bi(op, payload)]));
    let Prepared::Write(get) = h
        .engine
        .prepare(&c, &message(Operation::Get, vec![uid(&key)]))
    else {
        panic!("Get is routed as a write");
    };
    let view = h.store.read().unwrap();
    let (served, outcomes) = h
        .engine
        .execute_degraded_read(&get, &*view)
        .expect("a Get is answered from a read view");
    assert_eq!(outcomes.len(), 1);
    assert_eq!(outcomes[0].status, ResultStatus::Success);
    assert_eq!(outcomes[0].uids, vec![key.clone()]);
    let served = ttlv::decode(&served, &Limits::default()).unwrap();
    assert_eq!(status(items(&served)[0]), ResultStatus::Success);
    assert_eq!(key_material(items(&served)[0]).len(), 32);
    // Nothing was written: the object is still Fresh.
    assert!(h.store.snapshot().unwrap() == before);

    let Prepared::Write(activate) = h
        .engine
        .prepare(&c, &message(Operation::Activate, vec![uid(&key)]))
    else {
        panic!("Activate is a write");
    };
    assert!(h.engine.execute_degraded_read(&activate, &*view).is_none());
    let refused = h.engine.unavailable_response(&activate);
    let refused = ttlv::decode(&refused, &Limits::default()).unwrap();
    let item = items(&refused)[0];
    assert_eq!(status(item), ResultStatus::OperationFailed);
    let Some(Value::TextString(text)) = item.child(tag::RESULT_MESSAGE).map(|m| &m.value) else {
        panic!("no Result Message");
    };
    assert!(text.contains("quorum"), "{text}");
}
