//! Engine unit tests: Create, Register, Get, Re-key and Check through the engine.
//! The shared fixture is `support.rs` beside this file.

use sha2::{Digest as _, Sha256};

use super::support::*;
use crate::engine::*;
use crate::kmip::enums::{ObjectType, Operation, ResultReason, ResultStatus, State};
use crate::kmip::tag;
use crate::store::Store;
use crate::ttlv::{Item, Value};

#[test]
fn stored_record_holds_sealed_material_and_no_plaintext() {
    let h = harness();
    let vc = client("vcenter");
    let key = h.create_aes(&vc, V14, vec![]);
    let material = key_material(&h.one(&vc, V14, Operation::Get, vec![uid(&key)]));
    let stored = h.store.read().unwrap().get(&key).unwrap().unwrap();
    assert_eq!(stored.owner, "cn:vcenter");
    // Create stored version 1; the first Get cleared Fresh (version 2).
    assert_eq!(stored.version, 2);
    let sealed = stored.sealed_material.clone().unwrap();
    assert!(
        !sealed
            .windows(material.len())
            .any(|w| w == material.as_slice())
    );
    assert!(
        !stored
            .metadata
            .windows(material.len())
            .any(|w| w == material.as_slice())
    );
    // Digest = SHA-256 of the key material, in Raw format.
    let ga = h.get_attribute_v1(&vc, V14, &key, "Digest");
    let attrs = attrs_v1(&ga);
    let Value::Structure(digest) = &attrs[0].1 else {
        panic!()
    };
    assert!(digest.contains(&Item::new(
        tag::DIGEST_VALUE,
        Value::ByteString(Sha256::digest(&material).to_vec())
    )));
    assert!(digest.contains(&enumeration(tag::HASHING_ALGORITHM, 6)));
    // Each write bumps the record version.
    h.one(&vc, V14, Operation::Activate, vec![uid(&key)]);
    assert_eq!(
        h.store.read().unwrap().get(&key).unwrap().unwrap().version,
        3
    );
}

#[test]
fn create_sets_dates_and_get_attributes_lists_them() {
    let h = harness();
    let c = client("a");
    let key = h.create_aes(&c, V14, vec![attr1("Name", name_value("k-dates"))]);
    let all = attrs_v1(&h.one(&c, V14, Operation::GetAttributes, vec![uid(&key)]));
    let names: Vec<&str> = all.iter().map(|(n, _)| n.as_str()).collect();
    for expected in [
        "Unique Identifier",
        "Object Type",
        "State",
        "Cryptographic Algorithm",
        "Cryptographic Length",
        "Cryptographic Usage Mask",
        "Name",
        "Initial Date",
        "Last Change Date",
        "Original Creation Date",
        "Digest",
    ] {
        assert!(
            names.contains(&expected),
            "{expected} missing from {names:?}"
        );
    }
    assert!(
        !names.contains(&"Activation Date"),
        "Pre-Active keys have no Activation Date"
    );
    let list = h.one(&c, V14, Operation::GetAttributeList, vec![uid(&key)]);
    let listed: Vec<Value> = payload(&list)
        .children_with(tag::ATTRIBUTE_NAME)
        .map(|i| i.value.clone())
        .collect();
    assert!(listed.contains(&Value::TextString("Digest".into())));
    assert_eq!(listed.len(), names.len());
}

#[test]
fn activation_date_in_the_past_creates_an_active_key() {
    let h = harness();
    let c = client("a");
    let key = h.create_aes(
        &c,
        V14,
        vec![attr1("Activation Date", Value::DateTime(1000))],
    );
    assert_eq!(state_v1(&h, &c, V14, &key), State::Active);
    let future = h.create_aes(
        &c,
        V14,
        vec![attr1("Activation Date", Value::DateTime(i64::MAX / 2))],
    );
    assert_eq!(state_v1(&h, &c, V14, &future), State::PreActive);
}

#[test]
fn get_formats_register_and_rekey() {
    let h = harness();
    let c = client("a");
    let key = h.create_aes(&c, V14, vec![attr1("Name", name_value("rk"))]);
    let raw = key_material(&h.one(&c, V14, Operation::Get, vec![uid(&key)]));
    let transparent = h.one(
        &c,
        V14,
        Operation::Get,
        vec![uid(&key), enumeration(tag::KEY_FORMAT_TYPE, 7)],
    );
    let block = key_block(&transparent);
    assert_eq!(
        block.child(tag::KEY_FORMAT_TYPE).unwrap().value,
        Value::Enumeration(7)
    );
    assert_eq!(
        block
            .child(tag::KEY_VALUE)
            .unwrap()
            .child(tag::KEY_MATERIAL)
            .unwrap()
            .child(tag::KEY)
            .unwrap()
            .value,
        Value::ByteString(raw.clone())
    );
    failed_with(
        &h.one(
            &c,
            V14,
            Operation::Get,
            vec![uid(&key), enumeration(tag::KEY_FORMAT_TYPE, 4)],
        ),
        ResultReason::KeyFormatTypeNotSupported,
    );

    // Register a symmetric key, secret data and an opaque object; Get returns what was given.
    let material = vec![0x11u8; 16];
    let block = key_block_of(
        1,
        &material,
        vec![
            enumeration(tag::CRYPTOGRAPHIC_ALGORITHM, 3),
            int(tag::CRYPTOGRAPHIC_LENGTH, 128),
        ],
    );
    let reg = h.one(
        &c,
        V14,
        Operation::Register,
        vec![
            enumeration(tag::OBJECT_TYPE, 2),
            st(tag::TEMPLATE_ATTRIBUTE, vec![]),
            st(tag::SYMMETRIC_KEY, vec![block]),
        ],
    );
    let registered = uid_of(&reg);
    assert_eq!(
        key_material(&h.one(&c, V14, Operation::Get, vec![uid(&registered)])),
        material
    );
    let secret = st(
        tag::SECRET_DATA,
        vec![
            enumeration(tag::SECRET_DATA_TYPE, 1),
            st(
                tag::KEY_BLOCK,
                vec![
                    enumeration(tag::KEY_FORMAT_TYPE, 2),
                    st(
                        tag::KEY_VALUE,
                        vec![Item::new(
                            tag::KEY_MATERIAL,
                            Value::ByteString(b"pw".to_vec()),
                        )],
                    ),
                ],
            ),
        ],
    );
    let opaque = st(
        tag::OPAQUE_OBJECT,
        vec![
            enumeration(tag::OPAQUE_DATA_TYPE, 0x8000_0001),
            Item::new(tag::OPAQUE_DATA_VALUE, Value::ByteString(vec![1, 2, 3])),
        ],
    );
    for (object_type, object) in [
        (ObjectType::SecretData, secret),
        (ObjectType::OpaqueObject, opaque),
    ] {
        let reg = h.one(
            &c,
            V21,
            Operation::Register,
            vec![
                enumeration(tag::OBJECT_TYPE, object_type.value()),
                st(tag::ATTRIBUTES, vec![]),
                object.clone(),
            ],
        );
        let got = h.one(&c, V21, Operation::Get, vec![uid(&uid_of(&reg))]);
        assert_eq!(payload(&got).child(object.tag).unwrap(), &object);
    }

    // Re-key: a new key with new material takes the Name; the two are linked.
    let rk = h.one(&c, V14, Operation::ReKey, vec![uid(&key)]);
    let new_key = uid_of(&rk);
    assert_ne!(new_key, key);
    assert_ne!(
        key_material(&h.one(&c, V14, Operation::Get, vec![uid(&new_key)])),
        raw
    );
    let loc = h.one(
        &c,
        V14,
        Operation::Locate,
        vec![attr1("Name", name_value("rk"))],
    );
    assert_eq!(located(&loc), vec![new_key.clone()]);
    let links = attrs_v1(&h.get_attribute_v1(&c, V14, &key, "Link"));
    assert_eq!(links.len(), 1);
    let Value::Structure(link) = &links[0].1 else {
        panic!()
    };
    assert!(link.contains(&text(tag::LINKED_OBJECT_IDENTIFIER, &new_key)));
}

#[test]
fn create_rejects_what_it_cannot_make() {
    let h = harness();
    let c = client("a");
    let create = |attrs: Vec<Item>| {
        h.one(
            &c,
            V14,
            Operation::Create,
            vec![
                enumeration(tag::OBJECT_TYPE, 2),
                st(tag::TEMPLATE_ATTRIBUTE, attrs),
            ],
        )
    };
    failed_with(
        &create(vec![attr1(
            "Cryptographic Algorithm",
            Value::Enumeration(3),
        )]),
        ResultReason::MissingData,
    );
    failed_with(
        &create(vec![
            attr1("Cryptographic Algorithm", Value::Enumeration(3)),
            attr1("Cryptographic Length", Value::Integer(100)),
        ]),
        ResultReason::InvalidField,
    );
    failed_with(
        &create(vec![attr1("Unknown Thing", Value::Integer(1))]),
        ResultReason::InvalidField,
    );
    let des3 = create(vec![
        attr1("Cryptographic Algorithm", Value::Enumeration(2)),
        attr1("Cryptographic Length", Value::Integer(168)),
    ]);
    assert_eq!(
        key_material(&h.one(&c, V14, Operation::Get, vec![uid(&uid_of(&des3))])).len(),
        24
    );
    let wrong_type = h.one(
        &c,
        V14,
        Operation::Create,
        vec![enumeration(tag::OBJECT_TYPE, 4)],
    );
    failed_with(&wrong_type, ResultReason::InvalidField);
}

#[test]
fn the_first_get_clears_fresh_and_later_gets_write_nothing() {
    let h = harness();
    let c = client("a");
    let key = h.create_aes(&c, V21, vec![]);
    let fresh = |h: &Harness| {
        let item = h.one(&c, V21, Operation::GetAttributes, vec![uid(&key)]);
        payload(&item)
            .child(tag::ATTRIBUTES)
            .and_then(|a| a.child(tag::FRESH))
            .map(|f| f.value.clone())
    };
    assert_eq!(fresh(&h), Some(Value::Boolean(true)));
    let get = ttlv::encode(&request(
        V21,
        vec![],
        vec![bi(Operation::Get, vec![uid(&key)])],
    ));
    assert!(
        matches!(h.engine.prepare(&c, &get), Prepared::Write(_)),
        "Get may clear Fresh, so it runs as a write"
    );
    let first = h.one(&c, V21, Operation::Get, vec![uid(&key)]);
    assert_eq!(status(&first), ResultStatus::Success);
    assert_eq!(fresh(&h), Some(Value::Boolean(false)));
    let version = |h: &Harness| h.store.read().unwrap().get(&key).unwrap().unwrap().version;
    let after_first = version(&h);
    let second = h.one(&c, V21, Operation::Get, vec![uid(&key)]);
    assert_eq!(key_material(&second), key_material(&first));
    assert_eq!(version(&h), after_first, "a second Get stores nothing");
}

/// The engine's Get response for a vCenter key has exactly the captured shape (A.4 length).
#[test]
fn get_response_has_the_captured_shape() {
    let h = harness();
    let vc = client("vcenter");
    let key = h.create_aes(&vc, V11, vec![]);
    let r = h.send(
        &vc,
        request(
            V11,
            vec![],
            vec![BatchItem {
                op: Operation::Get,
                id: Some(b"QLKC\x01\x00\x00\x00".to_vec()),
                payload: vec![uid(&key)],
            }],
        ),
    );
    // A.4 carries UID "2" (1 byte, padded to 8); ours is a 36-byte UUID (padded to 40): +32.
    assert_eq!(ttlv::encode(&r).len(), 296 + 32);
    let r = h.send(
        &vc,
        request(
            V11,
            vec![],
            vec![BatchItem {
                op: Operation::GetAttributes,
                id: Some(b"QLKC\x01\x00\x00\x00".to_vec()),
                payload: vec![uid(&key), text(tag::ATTRIBUTE_NAME, "State")],
            }],
        ),
    );
    assert_eq!(ttlv::encode(&r).len(), 208 + 32);
}

#[test]
fn dates_in_the_past_drive_the_state_and_sensitive_keys_are_not_served() {
    let h = harness();
    let c = client("a");
    let both = h.create_aes(
        &c,
        V14,
        vec![
            attr1("Activation Date", Value::DateTime(1000)),
            attr1("Deactivation Date", Value::DateTime(2000)),
        ],
    );
    assert_eq!(state_v1(&h, &c, V14, &both), State::Deactivated);
    let sensitive = h.create_aes(
        &c,
        V21,
        vec![Item::new(tag::SENSITIVE, Value::Boolean(true))],
    );
    failed_with(
        &h.one(&c, V21, Operation::Get, vec![uid(&sensitive)]),
        ResultReason::Sensitive,
    );
    // Its attributes stay readable.
    assert_eq!(state_v2(&h, &c, &sensitive), State::PreActive);
    // A Deactivation Date set on an Active key that is already past deactivates it.
    let key = h.create_aes(&c, V14, vec![]);
    h.one(&c, V14, Operation::Activate, vec![uid(&key)]);
    let add = h.one(
        &c,
        V14,
        Operation::AddAttribute,
        vec![uid(&key), attr1("Deactivation Date", Value::DateTime(3000))],
    );
    assert_eq!(status(&add), ResultStatus::Success);
    assert_eq!(state_v1(&h, &c, V14, &key), State::Deactivated);
}

#[test]
fn quantum_safe_requests_need_aes_256() {
    let h = harness();
    let c = client("a");
    let create = |length: i32| {
        h.one(
            &c,
            V21,
            Operation::Create,
            vec![
                enumeration(tag::OBJECT_TYPE, 2),
                st(
                    tag::ATTRIBUTES,
                    vec![
                        enumeration(tag::CRYPTOGRAPHIC_ALGORITHM, 3),
                        int(tag::CRYPTOGRAPHIC_LENGTH, length),
                        Item::new(tag::QUANTUM_SAFE, Value::Boolean(true)),
                    ],
                ),
            ],
        )
    };
    failed_with(&create(128), ResultReason::GeneralFailure);
    assert_eq!(status(&create(256)), ResultStatus::Success);
}

#[test]
fn created_keys_are_fresh_leased_and_name_their_generator() {
    let h = harness();
    let c = client("a");
    let key = h.create_aes(&c, V21, vec![]);
    let item = h.one(&c, V21, Operation::GetAttributes, vec![uid(&key)]);
    let attributes = payload(&item).child(tag::ATTRIBUTES).expect("attributes");
    assert_eq!(
        attributes.child(tag::FRESH).map(|i| &i.value),
        Some(&Value::Boolean(true))
    );
    assert_eq!(
        attributes.child(tag::LEASE_TIME).map(|i| &i.value),
        Some(&Value::Interval(3600))
    );
    let rng = attributes
        .child(tag::RANDOM_NUMBER_GENERATOR)
        .expect("generated keys name their RNG");
    assert!(matches!(
        rng.child(tag::RNG_ALGORITHM).map(|i| &i.value),
        Some(Value::Enumeration(_))
    ));
}

#[test]
fn registered_transparent_key_is_served_in_its_format_without_an_rng() {
    let h = harness();
    let c = client("a");
    let material = vec![0x5a; 16];
    let block = st(
        tag::KEY_BLOCK,
        vec![
            enumeration(tag::KEY_FORMAT_TYPE, 0x07),
            st(
                tag::KEY_VALUE,
                vec![st(
                    tag::KEY_MATERIAL,
                    vec![Item::new(tag::KEY, Value::ByteString(material.clone()))],
                )],
            ),
            enumeration(tag::CRYPTOGRAPHIC_ALGORITHM, 3),
            int(tag::CRYPTOGRAPHIC_LENGTH, 128),
        ],
    );
    let item = h.one(
        &c,
        V21,
        Operation::Register,
        vec![
            enumeration(tag::OBJECT_TYPE, 2),
            st(
                tag::ATTRIBUTES,
                vec![int(tag::CRYPTOGRAPHIC_USAGE_MASK, 12)],
            ),
            st(tag::SYMMETRIC_KEY, vec![block]),
        ],
    );
    assert_eq!(status(&item), ResultStatus::Success, "{item:?}");
    let key = uid_of(&item);
    let got = h.one(&c, V21, Operation::Get, vec![uid(&key)]);
    let block = key_block(&got);
    assert_eq!(
        block.child(tag::KEY_FORMAT_TYPE).map(|i| &i.value),
        Some(&Value::Enumeration(0x07))
    );
    let key_bytes = block
        .child(tag::KEY_VALUE)
        .and_then(|v| v.child(tag::KEY_MATERIAL))
        .and_then(|m| m.child(tag::KEY))
        .map(|k| &k.value);
    assert_eq!(key_bytes, Some(&Value::ByteString(material)));
    let item = h.one(&c, V21, Operation::GetAttributes, vec![uid(&key)]);
    let attributes = payload(&item).child(tag::ATTRIBUTES).expect("attributes");
    assert!(attributes.child(tag::RANDOM_NUMBER_GENERATOR).is_none());
}

#[test]
fn create_generates_keys_for_algorithms_keyward_does_not_run() {
    let h = harness();
    let c = client("a");
    let idea = h.create_1x(&c, 0x13, 128, vec![]);
    assert_eq!(status(&idea), ResultStatus::Success, "{idea:?}");
    let got = h.one(&c, V14, Operation::Get, vec![uid(&uid_of(&idea))]);
    let material = key_block(&got)
        .child(tag::KEY_VALUE)
        .and_then(|v| v.child(tag::KEY_MATERIAL))
        .map(|m| m.value.clone());
    assert!(matches!(material, Some(Value::ByteString(b)) if b.len() == 16));
}

#[test]
fn a_1x_template_lends_its_attributes_to_create() {
    let h = harness();
    let c = client("a");
    let registered = h.one(
        &c,
        V14,
        Operation::Register,
        vec![
            enumeration(tag::OBJECT_TYPE, 6),
            st(
                tag::TEMPLATE_ATTRIBUTE,
                vec![attr1("Name", name_value("aes-128-template"))],
            ),
            st(
                tag::TEMPLATE,
                vec![
                    attr1("Cryptographic Algorithm", Value::Enumeration(3)),
                    attr1("Cryptographic Length", Value::Integer(128)),
                ],
            ),
        ],
    );
    assert_eq!(status(&registered), ResultStatus::Success, "{registered:?}");
    // A Create that names a Template in its Template-Attribute, and nothing else.
    let create_from = |template: &str| {
        let name = st(
            tag::NAME,
            vec![
                text(tag::NAME_VALUE, template),
                enumeration(tag::NAME_TYPE, 1),
            ],
        );
        h.one(
            &c,
            V14,
            Operation::Create,
            vec![
                enumeration(tag::OBJECT_TYPE, 2),
                st(tag::TEMPLATE_ATTRIBUTE, vec![name]),
            ],
        )
    };
    let created = create_from("aes-128-template");
    assert_eq!(status(&created), ResultStatus::Success, "{created:?}");
    let length = h.one(
        &c,
        V14,
        Operation::GetAttributes,
        vec![
            uid(&uid_of(&created)),
            text(tag::ATTRIBUTE_NAME, "Cryptographic Length"),
        ],
    );
    let value = payload(&length)
        .child(tag::ATTRIBUTE)
        .and_then(|a| a.child(tag::ATTRIBUTE_VALUE))
        .map(|v| v.value.clone());
    assert_eq!(value, Some(Value::Integer(128)));
    // A name no Template holds is an error, not an empty template.
    let unknown = create_from("nope");
    assert_eq!(status(&unknown), ResultStatus::OperationFailed);
}

#[test]
fn pgp_and_split_keys_come_back_as_registered() {
    let h = harness();
    let c = client("a");
    let block = |material: &[u8], format: u32| key_block_of(format, material, vec![]);
    let pgp = st(
        tag::PGP_KEY,
        vec![int(tag::PGP_KEY_VERSION, 4), block(b"openpgp-bytes", 2)],
    );
    let split_key = |parts: i32, part: i32, threshold: i32| {
        st(
            tag::SPLIT_KEY,
            vec![
                int(tag::SPLIT_KEY_PARTS, parts),
                int(tag::KEY_PART_IDENTIFIER, part),
                int(tag::SPLIT_KEY_THRESHOLD, threshold),
                enumeration(tag::SPLIT_KEY_METHOD, 1),
                block(&[7; 16], 1),
            ],
        )
    };
    let split = split_key(3, 2, 2);
    for (object_type, object) in [(9, pgp), (5, split)] {
        let registered = h.one(
            &c,
            V21,
            Operation::Register,
            vec![
                enumeration(tag::OBJECT_TYPE, object_type),
                st(tag::ATTRIBUTES, vec![]),
                object.clone(),
            ],
        );
        assert_eq!(status(&registered), ResultStatus::Success, "{registered:?}");
        let got = h.one(&c, V21, Operation::Get, vec![uid(&uid_of(&registered))]);
        let served = payload(&got).child(object.tag).expect("object").clone();
        // The same fields and the same material; the Key Block may add algorithm and length.
        for field in object.children() {
            if field.tag == tag::KEY_BLOCK {
                let block = served.child(tag::KEY_BLOCK).expect("key block");
                assert_eq!(block.child(tag::KEY_VALUE), field.child(tag::KEY_VALUE));
            } else {
                assert_eq!(served.child(field.tag), Some(field), "{got:?}");
            }
        }
    }
    // A split key whose threshold exceeds its parts is refused.
    let bad = h.one(
        &c,
        V21,
        Operation::Register,
        vec![enumeration(tag::OBJECT_TYPE, 5), split_key(2, 1, 3)],
    );
    failed_with(&bad, ResultReason::InvalidField);
}

#[test]
fn get_wraps_a_key_under_an_active_wrapping_key_with_aes_key_wrap() {
    use aws_lc_rs::key_wrap::{AES_256, AesKek, KeyWrap};
    let h = harness();
    let c = client("a");
    let key = h.create_aes(&c, V21, vec![]);
    // Usage mask 0x10 | 0x20: Wrap Key, Unwrap Key.
    let kek = h.one(
        &c,
        V21,
        Operation::Create,
        vec![
            enumeration(tag::OBJECT_TYPE, 2),
            st(
                tag::ATTRIBUTES,
                vec![
                    enumeration(tag::CRYPTOGRAPHIC_ALGORITHM, 3),
                    int(tag::CRYPTOGRAPHIC_LENGTH, 256),
                    int(tag::CRYPTOGRAPHIC_USAGE_MASK, 0x30),
                ],
            ),
        ],
    );
    let kek = uid_of(&kek);
    let spec = |wrapping: &str| {
        st(
            tag::KEY_WRAPPING_SPECIFICATION,
            vec![
                enumeration(tag::WRAPPING_METHOD, 1),
                st(
                    tag::ENCRYPTION_KEY_INFORMATION,
                    vec![
                        text(tag::UNIQUE_IDENTIFIER, wrapping),
                        st(
                            tag::CRYPTOGRAPHIC_PARAMETERS,
                            vec![enumeration(tag::BLOCK_CIPHER_MODE, 0x0D)],
                        ),
                    ],
                ),
                enumeration(tag::ENCODING_OPTION, 1),
            ],
        )
    };
    // A wrapping key must be Active first.
    let early = h.one(&c, V21, Operation::Get, vec![uid(&key), spec(&kek)]);
    failed_with(&early, ResultReason::WrongKeyLifecycleState);
    h.one(&c, V21, Operation::Activate, vec![uid(&kek)]);
    let wrapped = h.one(&c, V21, Operation::Get, vec![uid(&key), spec(&kek)]);
    assert_eq!(status(&wrapped), ResultStatus::Success, "{wrapped:?}");
    let block = key_block(&wrapped);
    assert!(block.child(tag::KEY_WRAPPING_DATA).is_some(), "{wrapped:?}");
    let plain = key_material(&h.one(&c, V21, Operation::Get, vec![uid(&key)]));
    let kek_bytes = key_material(&h.one(&c, V21, Operation::Get, vec![uid(&kek)]));
    let mut unwrapped = vec![0u8; plain.len() + 8];
    let unwrapped = AesKek::new(&AES_256, &kek_bytes)
        .expect("kek")
        .unwrap(&key_material(&wrapped), &mut unwrapped)
        .expect("unwraps");
    assert_eq!(unwrapped, plain.as_slice());
    // A key without Wrap Key in its usage mask may not wrap.
    let not_a_kek = h.create_aes(&c, V21, vec![]);
    h.one(&c, V21, Operation::Activate, vec![uid(&not_a_kek)]);
    let refused = h.one(&c, V21, Operation::Get, vec![uid(&key), spec(&not_a_kek)]);
    failed_with(&refused, ResultReason::IncompatibleCryptographicUsageMask);
}
