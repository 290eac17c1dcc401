//! Engine tests over the in-memory store with a real master key. Requests are built as TTLV
//! trees, encoded with the project codec and sent through `prepare`/`execute_*` as the server
//! does.

use std::sync::Arc;

use sha2::{Digest as _, Sha256};

use super::*;
use crate::kmip::enums::{ObjectType, Operation, ResultReason, ResultStatus, State};
use crate::kmip::tag;
use crate::seal::MasterKey;
use crate::store::Store;
use crate::store::memory::MemoryStore;
use crate::ttlv::{Item, Value};

const V11: (i32, i32) = (1, 1);
const V14: (i32, i32) = (1, 4);
const V21: (i32, i32) = (2, 1);

struct Harness {
    engine: Engine,
    store: MemoryStore,
}

fn harness() -> Harness {
    harness_with(EngineConfig::default())
}

fn harness_with(config: EngineConfig) -> Harness {
    let master = MasterKey::generate().expect("master key");
    Harness {
        engine: Engine::new(config, Arc::new(master)),
        store: MemoryStore::new(),
    }
}

fn client(name: &str) -> ClientIdentity {
    ClientIdentity {
        owner: format!("cn:{name}"),
        fingerprint: [7; 32],
    }
}

fn text(t: u32, s: &str) -> Item {
    Item::new(t, Value::TextString(s.to_string()))
}
fn enumeration(t: u32, v: u32) -> Item {
    Item::new(t, Value::Enumeration(v))
}
fn int(t: u32, v: i32) -> Item {
    Item::new(t, Value::Integer(v))
}
fn st(t: u32, children: Vec<Item>) -> Item {
    Item::structure(t, children)
}
fn uid(u: &str) -> Item {
    text(tag::UNIQUE_IDENTIFIER, u)
}

/// 1.x Attribute{Name, Value}.
fn attr1(name: &str, value: Value) -> Item {
    st(
        tag::ATTRIBUTE,
        vec![
            text(tag::ATTRIBUTE_NAME, name),
            Item::new(tag::ATTRIBUTE_VALUE, value),
        ],
    )
}

fn name_value(name: &str) -> Value {
    Value::Structure(vec![
        text(tag::NAME_VALUE, name),
        enumeration(tag::NAME_TYPE, 1),
    ])
}

struct BatchItem {
    op: Operation,
    id: Option<Vec<u8>>,
    payload: Vec<Item>,
}

fn bi(op: Operation, payload: Vec<Item>) -> BatchItem {
    BatchItem {
        op,
        id: None,
        payload,
    }
}

fn request(version: (i32, i32), header_extra: Vec<Item>, items: Vec<BatchItem>) -> Item {
    let mut header = vec![st(
        tag::PROTOCOL_VERSION,
        vec![
            int(tag::PROTOCOL_VERSION_MAJOR, version.0),
            int(tag::PROTOCOL_VERSION_MINOR, version.1),
        ],
    )];
    header.extend(header_extra);
    header.push(int(tag::BATCH_COUNT, items.len() as i32));
    let mut children = vec![st(tag::REQUEST_HEADER, header)];
    for i in items {
        let mut c = vec![enumeration(tag::OPERATION, i.op.value())];
        if let Some(id) = i.id {
            c.push(Item::new(tag::UNIQUE_BATCH_ITEM_ID, Value::ByteString(id)));
        }
        c.push(st(tag::REQUEST_PAYLOAD, i.payload));
        children.push(st(tag::BATCH_ITEM, c));
    }
    st(tag::REQUEST_MESSAGE, children)
}

impl Harness {
    fn send_bytes(&self, who: &ClientIdentity, bytes: &[u8]) -> Item {
        let out = match self.engine.prepare(who, bytes) {
            Prepared::Respond(response) => response.encode(),
            Prepared::Read(req) => {
                let view = self.store.read().unwrap();
                self.engine.execute_read(&req, &*view)
            }
            Prepared::Write(req) => {
                let mut txn = self.store.write().unwrap();
                let out = self.engine.execute_write(&req, &mut *txn).unwrap();
                txn.commit().unwrap();
                out
            }
        };
        ttlv::decode(&out, &Limits::default()).expect("response decodes")
    }

    fn send(&self, who: &ClientIdentity, message: Item) -> Item {
        self.send_bytes(who, &ttlv::encode(&message))
    }

    /// One-item request; returns the response batch item.
    fn one(
        &self,
        who: &ClientIdentity,
        version: (i32, i32),
        op: Operation,
        payload: Vec<Item>,
    ) -> Item {
        let response = self.send(who, request(version, vec![], vec![bi(op, payload)]));
        items(&response).remove(0).clone()
    }

    fn create_aes(&self, who: &ClientIdentity, version: (i32, i32), extra: Vec<Item>) -> String {
        let payload = if version.0 >= 2 {
            let mut attrs = vec![
                enumeration(tag::CRYPTOGRAPHIC_ALGORITHM, 3),
                int(tag::CRYPTOGRAPHIC_LENGTH, 256),
                int(tag::CRYPTOGRAPHIC_USAGE_MASK, 12),
            ];
            attrs.extend(extra);
            vec![enumeration(tag::OBJECT_TYPE, 2), st(tag::ATTRIBUTES, attrs)]
        } else {
            let mut attrs = vec![
                attr1("Cryptographic Algorithm", Value::Enumeration(3)),
                attr1("Cryptographic Usage Mask", Value::Integer(12)),
                attr1("Cryptographic Length", Value::Integer(256)),
            ];
            attrs.extend(extra);
            vec![
                enumeration(tag::OBJECT_TYPE, 2),
                st(tag::TEMPLATE_ATTRIBUTE, attrs),
            ]
        };
        let item = self.one(who, version, Operation::Create, payload);
        assert_eq!(status(&item), ResultStatus::Success, "{item:?}");
        uid_of(&item)
    }
}

fn items(response: &Item) -> Vec<&Item> {
    response.children_with(tag::BATCH_ITEM).collect()
}
fn status(item: &Item) -> ResultStatus {
    match item.child(tag::RESULT_STATUS).map(|i| &i.value) {
        Some(Value::Enumeration(v)) => ResultStatus::from_u32(*v).unwrap(),
        other => panic!("no result status: {other:?}"),
    }
}
fn reason(item: &Item) -> Option<ResultReason> {
    match item.child(tag::RESULT_REASON).map(|i| &i.value) {
        Some(Value::Enumeration(v)) => ResultReason::from_u32(*v),
        _ => None,
    }
}
fn payload(item: &Item) -> &Item {
    item.child(tag::RESPONSE_PAYLOAD).expect("payload")
}
fn uid_of(item: &Item) -> String {
    match &payload(item)
        .child(tag::UNIQUE_IDENTIFIER)
        .expect("uid")
        .value
    {
        Value::TextString(u) => u.clone(),
        other => panic!("uid {other:?}"),
    }
}
fn failed_with(item: &Item, expected: ResultReason) {
    assert_eq!(status(item), ResultStatus::OperationFailed, "{item:?}");
    assert_eq!(reason(item), Some(expected), "{item:?}");
}
fn header_version(response: &Item) -> (i32, i32) {
    let v = response
        .child(tag::RESPONSE_HEADER)
        .unwrap()
        .child(tag::PROTOCOL_VERSION)
        .unwrap();
    let get = |t| match v.child(t).unwrap().value {
        Value::Integer(i) => i,
        _ => panic!(),
    };
    (
        get(tag::PROTOCOL_VERSION_MAJOR),
        get(tag::PROTOCOL_VERSION_MINOR),
    )
}

/// 1.x Get Attributes → (name, value) pairs.
fn attrs_v1(item: &Item) -> Vec<(String, Value)> {
    payload(item)
        .children_with(tag::ATTRIBUTE)
        .map(|a| {
            let Value::TextString(n) = &a.child(tag::ATTRIBUTE_NAME).unwrap().value else {
                panic!()
            };
            (
                n.clone(),
                a.child(tag::ATTRIBUTE_VALUE).unwrap().value.clone(),
            )
        })
        .collect()
}

fn state_v1(h: &Harness, who: &ClientIdentity, version: (i32, i32), u: &str) -> State {
    let item = h.one(
        who,
        version,
        Operation::GetAttributes,
        vec![uid(u), text(tag::ATTRIBUTE_NAME, "State")],
    );
    match attrs_v1(&item).as_slice() {
        [(n, Value::Enumeration(s))] if n == "State" => State::from_u32(*s).unwrap(),
        other => panic!("state {other:?}"),
    }
}

fn state_v2(h: &Harness, who: &ClientIdentity, u: &str) -> State {
    let item = h.one(
        who,
        V21,
        Operation::GetAttributes,
        vec![uid(u), enumeration(tag::ATTRIBUTE_REFERENCE, tag::STATE)],
    );
    match &payload(&item)
        .child(tag::ATTRIBUTES)
        .unwrap()
        .child(tag::STATE)
        .unwrap()
        .value
    {
        Value::Enumeration(s) => State::from_u32(*s).unwrap(),
        other => panic!("{other:?}"),
    }
}

fn key_material(item: &Item) -> Vec<u8> {
    let block = payload(item)
        .child(tag::SYMMETRIC_KEY)
        .unwrap()
        .child(tag::KEY_BLOCK)
        .unwrap();
    match &block
        .child(tag::KEY_VALUE)
        .unwrap()
        .child(tag::KEY_MATERIAL)
        .unwrap()
        .value
    {
        Value::ByteString(b) => b.clone(),
        other => panic!("{other:?}"),
    }
}

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
    let block = payload(&get)
        .child(tag::SYMMETRIC_KEY)
        .unwrap()
        .child(tag::KEY_BLOCK)
        .unwrap();
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
        let ga = h.one(
            &vc,
            V11,
            Operation::GetAttributes,
            vec![uid(&key), text(tag::ATTRIBUTE_NAME, name)],
        );
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
    let ga = h.one(
        &vc,
        V11,
        Operation::GetAttributes,
        vec![uid(&key), text(tag::ATTRIBUTE_NAME, "x-Vendor")],
    );
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
    let ga = h.one(
        &vc,
        V14,
        Operation::GetAttributes,
        vec![uid(&key), text(tag::ATTRIBUTE_NAME, "Digest")],
    );
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

fn revoke_payload(u: &str, code: u32, occurrence: Option<i64>) -> Vec<Item> {
    let mut p = vec![
        uid(u),
        st(
            tag::REVOCATION_REASON,
            vec![enumeration(tag::REVOCATION_REASON_CODE, code)],
        ),
    ];
    if let Some(d) = occurrence {
        p.push(Item::new(
            tag::COMPROMISE_OCCURRENCE_DATE,
            Value::DateTime(d),
        ));
    }
    p
}

#[test]
fn destroy_and_modify_on_active_fail_with_the_versions_reason() {
    let h = harness();
    let c = client("a");
    for (version, expected) in [
        (V11, ResultReason::PermissionDenied),
        (V14, ResultReason::PermissionDenied),
        (V21, ResultReason::WrongKeyLifecycleState),
    ] {
        let key = h.create_aes(&c, version, vec![]);
        h.one(&c, version, Operation::Activate, vec![uid(&key)]);
        failed_with(
            &h.one(&c, version, Operation::Destroy, vec![uid(&key)]),
            expected,
        );
        let modify = if version.0 >= 2 {
            vec![
                uid(&key),
                st(
                    tag::NEW_ATTRIBUTE,
                    vec![Item::new(tag::ACTIVATION_DATE, Value::DateTime(5))],
                ),
            ]
        } else {
            vec![uid(&key), attr1("Activation Date", Value::DateTime(5))]
        };
        failed_with(
            &h.one(&c, version, Operation::ModifyAttribute, modify),
            expected,
        );
        failed_with(
            &h.one(&c, version, Operation::Activate, vec![uid(&key)]),
            expected,
        );
        // Revoke (compromise) → Compromised → Destroy → Destroyed Compromised.
        let r = h.one(
            &c,
            version,
            Operation::Revoke,
            revoke_payload(&key, 2, Some(6)),
        );
        assert_eq!(status(&r), ResultStatus::Success);
        let compromised = if version.0 >= 2 {
            state_v2(&h, &c, &key)
        } else {
            state_v1(&h, &c, version, &key)
        };
        assert_eq!(compromised, State::Compromised);
        assert_eq!(
            status(&h.one(&c, version, Operation::Get, vec![uid(&key)])),
            ResultStatus::Success,
            "compromised keys are still served"
        );
        assert_eq!(
            status(&h.one(&c, version, Operation::Destroy, vec![uid(&key)])),
            ResultStatus::Success
        );
        let destroyed = if version.0 >= 2 {
            state_v2(&h, &c, &key)
        } else {
            state_v1(&h, &c, version, &key)
        };
        assert_eq!(destroyed, State::DestroyedCompromised);
    }
}

#[test]
fn revoke_records_dates_and_reasons() {
    let h = harness();
    let c = client("a");
    let key = h.create_aes(&c, V14, vec![]);
    // Non-compromise revocation of a Pre-Active key is not a permitted transition.
    failed_with(
        &h.one(&c, V14, Operation::Revoke, revoke_payload(&key, 5, None)),
        ResultReason::PermissionDenied,
    );
    h.one(&c, V14, Operation::Activate, vec![uid(&key)]);
    // Compromise Occurrence Date is only for compromise reasons.
    failed_with(
        &h.one(&c, V14, Operation::Revoke, revoke_payload(&key, 5, Some(9))),
        ResultReason::InvalidField,
    );
    assert_eq!(
        status(&h.one(&c, V14, Operation::Revoke, revoke_payload(&key, 5, None))),
        ResultStatus::Success
    );
    let attrs = attrs_v1(&h.one(&c, V14, Operation::GetAttributes, vec![uid(&key)]));
    let find = |n: &str| attrs.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone());
    assert_eq!(
        find("State"),
        Some(Value::Enumeration(State::Deactivated.value()))
    );
    assert!(matches!(
        find("Deactivation Date"),
        Some(Value::DateTime(_))
    ));
    assert!(find("Compromise Date").is_none());
    assert_eq!(
        find("Revocation Reason"),
        Some(Value::Structure(vec![enumeration(
            tag::REVOCATION_REASON_CODE,
            5
        )]))
    );
    // Deactivated → Compromised: dates recorded; occurrence defaults to the Initial Date.
    h.one(&c, V14, Operation::Revoke, revoke_payload(&key, 2, None));
    let attrs = attrs_v1(&h.one(&c, V14, Operation::GetAttributes, vec![uid(&key)]));
    let find = |n: &str| attrs.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone());
    assert_eq!(
        find("State"),
        Some(Value::Enumeration(State::Compromised.value()))
    );
    assert!(matches!(find("Compromise Date"), Some(Value::DateTime(_))));
    assert_eq!(find("Compromise Occurrence Date"), find("Initial Date"));
}

#[test]
fn destroy_wipes_material_keeps_metadata_and_reports_per_version() {
    let h = harness();
    let c = client("a");
    for (version, gone) in [
        (V11, ResultReason::ItemNotFound),
        (V14, ResultReason::ItemNotFound),
        (V21, ResultReason::ObjectDestroyed),
    ] {
        let key = h.create_aes(&c, version, vec![]);
        assert_eq!(
            status(&h.one(&c, version, Operation::Destroy, vec![uid(&key)])),
            ResultStatus::Success
        );
        let stored = h.store.read().unwrap().get(&key).unwrap().unwrap();
        assert!(stored.sealed_material.is_none(), "material wiped");
        failed_with(&h.one(&c, version, Operation::Get, vec![uid(&key)]), gone);
        failed_with(
            &h.one(&c, version, Operation::Destroy, vec![uid(&key)]),
            gone,
        );
        // Metadata stays readable: State and Destroy Date.
        let state = if version.0 >= 2 {
            state_v2(&h, &c, &key)
        } else {
            state_v1(&h, &c, version, &key)
        };
        assert_eq!(state, State::Destroyed);
        if version.0 < 2 {
            let ga = h.one(
                &c,
                version,
                Operation::GetAttributes,
                vec![uid(&key), text(tag::ATTRIBUTE_NAME, "Destroy Date")],
            );
            assert!(matches!(attrs_v1(&ga)[0].1, Value::DateTime(_)));
        }
        // A destroyed key may still be marked compromised.
        assert_eq!(
            status(&h.one(
                &c,
                version,
                Operation::Revoke,
                revoke_payload(&key, 2, None)
            )),
            ResultStatus::Success
        );
    }
}

fn located(item: &Item) -> Vec<String> {
    payload(item)
        .children_with(tag::UNIQUE_IDENTIFIER)
        .map(|i| match &i.value {
            Value::TextString(u) => u.clone(),
            _ => panic!(),
        })
        .collect()
}

#[test]
fn locate_filters_pages_and_honours_storage_status() {
    let h = harness();
    let c = client("a");
    let mut keys: Vec<String> = (0..5)
        .map(|n| h.create_aes(&c, V14, vec![attr1("Name", name_value(&format!("k{n}")))]))
        .collect();
    let small = h.one(
        &c,
        V14,
        Operation::Create,
        vec![
            enumeration(tag::OBJECT_TYPE, 2),
            st(
                tag::TEMPLATE_ATTRIBUTE,
                vec![
                    attr1("Cryptographic Algorithm", Value::Enumeration(3)),
                    attr1("Cryptographic Length", Value::Integer(128)),
                    attr1("x-Identifier", Value::TextString("vm-7".into())),
                ],
            ),
        ],
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
                bi(
                    Operation::Create,
                    vec![
                        enumeration(tag::OBJECT_TYPE, 2),
                        st(
                            tag::TEMPLATE_ATTRIBUTE,
                            vec![
                                attr1("Cryptographic Algorithm", Value::Enumeration(3)),
                                attr1("Cryptographic Length", Value::Integer(256)),
                            ],
                        ),
                    ],
                ),
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
    let create = bi(
        Operation::Create,
        vec![
            enumeration(tag::OBJECT_TYPE, 2),
            st(
                tag::TEMPLATE_ATTRIBUTE,
                vec![
                    attr1("Cryptographic Algorithm", Value::Enumeration(3)),
                    attr1("Cryptographic Length", Value::Integer(128)),
                ],
            ),
        ],
    );
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
    let ga = h.one(
        &c,
        V11,
        Operation::GetAttributes,
        vec![uid(&key), text(tag::ATTRIBUTE_NAME, "x-tag")],
    );
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
    let ga = h.one(
        &c,
        V11,
        Operation::GetAttributes,
        vec![uid(&key), text(tag::ATTRIBUTE_NAME, "x-tag")],
    );
    assert_eq!(
        attrs_v1(&ga),
        vec![("x-tag".to_string(), Value::TextString("TWO".into()))]
    );
    // A missing index fails; an index in Add fails; read-only attributes are refused.
    let modify = st(
        tag::ATTRIBUTE,
        vec![
            text(tag::ATTRIBUTE_NAME, "x-tag"),
            int(tag::ATTRIBUTE_INDEX, 4),
            Item::new(tag::ATTRIBUTE_VALUE, Value::TextString("x".into())),
        ],
    );
    failed_with(
        &h.one(&c, V11, Operation::ModifyAttribute, vec![uid(&key), modify]),
        ResultReason::ItemNotFound,
    );
    let indexed = st(
        tag::ATTRIBUTE,
        vec![
            text(tag::ATTRIBUTE_NAME, "x-tag"),
            int(tag::ATTRIBUTE_INDEX, 0),
            Item::new(tag::ATTRIBUTE_VALUE, Value::TextString("x".into())),
        ],
    );
    failed_with(
        &h.one(&c, V11, Operation::AddAttribute, vec![uid(&key), indexed]),
        ResultReason::InvalidField,
    );
    failed_with(
        &h.one(
            &c,
            V11,
            Operation::AddAttribute,
            vec![uid(&key), attr1("y-server", Value::TextString("x".into()))],
        ),
        ResultReason::PermissionDenied,
    );
    failed_with(
        &h.one(
            &c,
            V11,
            Operation::ModifyAttribute,
            vec![
                uid(&key),
                attr1("Cryptographic Length", Value::Integer(128)),
            ],
        ),
        ResultReason::PermissionDenied,
    );
    failed_with(
        &h.one(
            &c,
            V11,
            Operation::AddAttribute,
            vec![
                uid(&key),
                attr1("Cryptographic Usage Mask", Value::Integer(4)),
            ],
        ),
        ResultReason::IllegalOperation,
    );
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
    let ga = h.one(
        &c,
        V11,
        Operation::GetAttributes,
        vec![uid(&key), text(tag::ATTRIBUTE_NAME, "x-Vendor")],
    );
    assert_eq!(
        attrs_v1(&ga),
        vec![(
            "x-Vendor".to_string(),
            Value::TextString("VMware, Inc.".into())
        )]
    );
    let reference = st(
        tag::ATTRIBUTE_REFERENCE,
        vec![
            text(tag::VENDOR_IDENTIFICATION, "x"),
            text(tag::ATTRIBUTE_NAME, "Vendor"),
        ],
    );
    let ga = h.one(
        &c,
        V21,
        Operation::GetAttributes,
        vec![uid(&key), reference],
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
    let del = h.one(
        &c,
        V21,
        Operation::DeleteAttribute,
        vec![
            uid(&key),
            st(
                tag::ATTRIBUTE_REFERENCE,
                vec![
                    text(tag::VENDOR_IDENTIFICATION, "x"),
                    text(tag::ATTRIBUTE_NAME, "Vendor"),
                ],
            ),
        ],
    );
    assert_eq!(status(&del), ResultStatus::Success);
    failed_with(
        &h.one(
            &c,
            V21,
            Operation::DeleteAttribute,
            vec![
                uid(&key),
                st(
                    tag::ATTRIBUTE_REFERENCE,
                    vec![
                        text(tag::VENDOR_IDENTIFICATION, "x"),
                        text(tag::ATTRIBUTE_NAME, "Vendor"),
                    ],
                ),
            ],
        ),
        ResultReason::AttributeNotFound,
    );
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
    let block = payload(&transparent)
        .child(tag::SYMMETRIC_KEY)
        .unwrap()
        .child(tag::KEY_BLOCK)
        .unwrap();
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
    let block = st(
        tag::KEY_BLOCK,
        vec![
            enumeration(tag::KEY_FORMAT_TYPE, 1),
            st(
                tag::KEY_VALUE,
                vec![Item::new(
                    tag::KEY_MATERIAL,
                    Value::ByteString(material.clone()),
                )],
            ),
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
    let reg = h.one(
        &c,
        V21,
        Operation::Register,
        vec![
            enumeration(tag::OBJECT_TYPE, ObjectType::SecretData.value()),
            st(tag::ATTRIBUTES, vec![]),
            secret.clone(),
        ],
    );
    let got = h.one(&c, V21, Operation::Get, vec![uid(&uid_of(&reg))]);
    assert_eq!(payload(&got).child(tag::SECRET_DATA).unwrap(), &secret);
    let opaque = st(
        tag::OPAQUE_OBJECT,
        vec![
            enumeration(tag::OPAQUE_DATA_TYPE, 0x8000_0001),
            Item::new(tag::OPAQUE_DATA_VALUE, Value::ByteString(vec![1, 2, 3])),
        ],
    );
    let reg = h.one(
        &c,
        V21,
        Operation::Register,
        vec![
            enumeration(tag::OBJECT_TYPE, ObjectType::OpaqueObject.value()),
            st(tag::ATTRIBUTES, vec![]),
            opaque.clone(),
        ],
    );
    let got = h.one(&c, V21, Operation::Get, vec![uid(&uid_of(&reg))]);
    assert_eq!(payload(&got).child(tag::OPAQUE_OBJECT).unwrap(), &opaque);

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
    let links = attrs_v1(&h.one(
        &c,
        V14,
        Operation::GetAttributes,
        vec![uid(&key), text(tag::ATTRIBUTE_NAME, "Link")],
    ));
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
fn discover_versions_and_query() {
    let h = harness();
    let c = client("a");
    let pv = |a, b| {
        st(
            tag::PROTOCOL_VERSION,
            vec![
                int(tag::PROTOCOL_VERSION_MAJOR, a),
                int(tag::PROTOCOL_VERSION_MINOR, b),
            ],
        )
    };
    let dv = h.one(
        &c,
        V14,
        Operation::DiscoverVersions,
        vec![pv(1, 1), pv(3, 0), pv(2, 0)],
    );
    assert_eq!(
        payload(&dv).children(),
        &[pv(1, 1), pv(2, 0)],
        "intersection in the client's order"
    );
    let none = h.one(&c, V14, Operation::DiscoverVersions, vec![pv(9, 9)]);
    assert!(payload(&none).children().is_empty());

    let q = h.one(
        &c,
        V11,
        Operation::Query,
        vec![enumeration(tag::QUERY_FUNCTION, 3)],
    );
    assert_eq!(
        payload(&q).children(),
        &[text(
            tag::VENDOR_IDENTIFICATION,
            &EngineConfig::default().vendor_identification
        )]
    );
    let q = h.one(
        &c,
        V21,
        Operation::Query,
        vec![
            enumeration(tag::QUERY_FUNCTION, 1),
            enumeration(tag::QUERY_FUNCTION, 2),
            enumeration(tag::QUERY_FUNCTION, 10),
        ],
    );
    let ops: Vec<_> = payload(&q).children_with(tag::OPERATION).collect();
    assert!(ops.contains(&&enumeration(
        tag::OPERATION,
        Operation::SetAttribute.value()
    )));
    assert!(ops.contains(&&enumeration(tag::OPERATION, Operation::Locate.value())));
    assert!(
        payload(&q)
            .children_with(tag::OBJECT_TYPE)
            .any(|o| o.value == Value::Enumeration(2))
    );
    let profile = payload(&q).child(tag::PROFILE_INFORMATION).unwrap();
    assert_eq!(
        profile.child(tag::PROFILE_NAME).unwrap().value,
        Value::Enumeration(0x109)
    );
    let q = h.one(
        &c,
        V11,
        Operation::Query,
        vec![enumeration(tag::QUERY_FUNCTION, 10)],
    );
    assert!(payload(&q).children().is_empty(), "1.1 has no profiles");
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
    let create = bi(
        Operation::Create,
        vec![
            enumeration(tag::OBJECT_TYPE, 2),
            st(
                tag::TEMPLATE_ATTRIBUTE,
                vec![
                    attr1("Cryptographic Algorithm", Value::Enumeration(3)),
                    attr1("Cryptographic Length", Value::Integer(128)),
                ],
            ),
        ],
    );
    let r = h.send(
        &c,
        request(V14, vec![int(tag::MAXIMUM_RESPONSE_SIZE, 64)], vec![create]),
    );
    failed_with(items(&r)[0], ResultReason::ResponseTooLarge);
    assert!(h.store.snapshot().unwrap() == before);
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
    let block = st(
        tag::KEY_BLOCK,
        vec![
            enumeration(tag::KEY_FORMAT_TYPE, 1),
            st(
                tag::KEY_VALUE,
                vec![Item::new(tag::KEY_MATERIAL, Value::ByteString(vec![0; 32]))],
            ),
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
fn get_attributes_answers_only_what_was_asked() {
    let h = harness();
    let c = client("a");
    let key = h.create_aes(&c, V11, vec![]);
    // An unknown standard-looking name matches nothing: only the UID comes back.
    let ga = h.one(
        &c,
        V11,
        Operation::GetAttributes,
        vec![uid(&key), text(tag::ATTRIBUTE_NAME, "No Such Attribute")],
    );
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
    refused(&h.one(
        &c,
        V14,
        Operation::Create,
        vec![
            enumeration(tag::OBJECT_TYPE, 2),
            st(
                tag::TEMPLATE_ATTRIBUTE,
                vec![
                    attr1("Cryptographic Algorithm", Value::Enumeration(3)),
                    attr1("Cryptographic Length", Value::Integer(256)),
                ],
            ),
        ],
    ));
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
    let block = payload(&got)
        .child(tag::SYMMETRIC_KEY)
        .and_then(|k| k.child(tag::KEY_BLOCK))
        .expect("key block");
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
fn interop_and_log_answer_2x_clients_only() {
    let h = harness();
    let c = client("a");
    let begin = vec![
        enumeration(tag::INTEROP_FUNCTION, 1),
        text(tag::INTEROP_IDENTIFIER, "BL-M-1-21"),
    ];
    let item = h.one(&c, V21, Operation::Interop, begin.clone());
    assert_eq!(status(&item), ResultStatus::Success, "{item:?}");
    let item = h.one(&c, V21, Operation::Interop, vec![]);
    failed_with(&item, ResultReason::MissingData);
    let item = h.one(
        &c,
        V21,
        Operation::Log,
        vec![text(tag::LOG_MESSAGE, "line\nforged")],
    );
    assert_eq!(status(&item), ResultStatus::Success, "{item:?}");
    let item = h.one(&c, V14, Operation::Interop, begin);
    failed_with(&item, ResultReason::OperationNotSupported);
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

/// Create with a name, as PyKMIP does (1.x Template-Attribute).
fn create_named(h: &Harness, c: &ClientIdentity, name: &str) -> Item {
    h.one(
        c,
        V14,
        Operation::Create,
        vec![
            enumeration(tag::OBJECT_TYPE, 2),
            st(
                tag::TEMPLATE_ATTRIBUTE,
                vec![
                    attr1("Cryptographic Algorithm", Value::Enumeration(3)),
                    attr1("Cryptographic Length", Value::Integer(128)),
                    attr1("Name", name_value(name)),
                ],
            ),
        ],
    )
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
    let got = h.one(
        &c,
        V14,
        Operation::GetAttributes,
        vec![uid(&key), text(tag::ATTRIBUTE_NAME, "Name")],
    );
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
    let state = h.one(
        &c,
        V14,
        Operation::GetAttributes,
        vec![uid(&key), text(tag::ATTRIBUTE_NAME, "State")],
    );
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
fn create_generates_keys_for_algorithms_keyward_does_not_run() {
    let h = harness();
    let c = client("a");
    let idea = h.one(
        &c,
        V14,
        Operation::Create,
        vec![
            enumeration(tag::OBJECT_TYPE, 2),
            st(
                tag::TEMPLATE_ATTRIBUTE,
                vec![
                    attr1("Cryptographic Algorithm", Value::Enumeration(0x13)),
                    attr1("Cryptographic Length", Value::Integer(128)),
                ],
            ),
        ],
    );
    assert_eq!(status(&idea), ResultStatus::Success, "{idea:?}");
    let got = h.one(&c, V14, Operation::Get, vec![uid(&uid_of(&idea))]);
    let material = payload(&got)
        .child(tag::SYMMETRIC_KEY)
        .and_then(|k| k.child(tag::KEY_BLOCK))
        .and_then(|b| b.child(tag::KEY_VALUE))
        .and_then(|v| v.child(tag::KEY_MATERIAL))
        .map(|m| m.value.clone());
    assert!(matches!(material, Some(Value::ByteString(b)) if b.len() == 16));
}

#[test]
fn create_key_pair_links_the_halves_in_both_versions() {
    let h = harness();
    let c = client("a");
    for version in [V14, V21] {
        let payload = if version.0 >= 2 {
            vec![
                st(
                    tag::COMMON_ATTRIBUTES,
                    vec![
                        enumeration(tag::CRYPTOGRAPHIC_ALGORITHM, 0x06),
                        int(tag::CRYPTOGRAPHIC_LENGTH, 256),
                    ],
                ),
                st(
                    tag::PRIVATE_KEY_ATTRIBUTES,
                    vec![int(tag::CRYPTOGRAPHIC_USAGE_MASK, 1)],
                ),
                st(
                    tag::PUBLIC_KEY_ATTRIBUTES,
                    vec![int(tag::CRYPTOGRAPHIC_USAGE_MASK, 2)],
                ),
            ]
        } else {
            vec![st(
                tag::COMMON_TEMPLATE_ATTRIBUTE,
                vec![
                    attr1("Cryptographic Algorithm", Value::Enumeration(0x04)),
                    attr1("Cryptographic Length", Value::Integer(2048)),
                ],
            )]
        };
        let made = h.one(&c, version, Operation::CreateKeyPair, payload);
        assert_eq!(status(&made), ResultStatus::Success, "{made:?}");
        let text_of = |t: u32| match &payload_of(&made).child(t).expect("uid").value {
            Value::TextString(u) => u.clone(),
            other => panic!("{other:?}"),
        };
        let private = text_of(tag::PRIVATE_KEY_UNIQUE_IDENTIFIER);
        let public = text_of(tag::PUBLIC_KEY_UNIQUE_IDENTIFIER);
        for (id, object, other) in [
            (&private, tag::PRIVATE_KEY, &public),
            (&public, tag::PUBLIC_KEY, &private),
        ] {
            let got = h.one(&c, version, Operation::Get, vec![uid(id)]);
            assert!(payload_of(&got).child(object).is_some(), "{got:?}");
            let attributes = h.one(&c, V21, Operation::GetAttributes, vec![uid(id)]);
            let links: Vec<&Item> = payload_of(&attributes)
                .child(tag::ATTRIBUTES)
                .expect("attributes")
                .children_with(tag::LINK)
                .collect();
            assert_eq!(links.len(), 1, "{attributes:?}");
            assert_eq!(
                links[0]
                    .child(tag::LINKED_OBJECT_IDENTIFIER)
                    .map(|l| &l.value),
                Some(&Value::TextString(other.clone()))
            );
        }
    }
    // Algorithms Keyward cannot generate pairs for are refused, not guessed.
    let dsa = h.one(
        &c,
        V21,
        Operation::CreateKeyPair,
        vec![st(
            tag::COMMON_ATTRIBUTES,
            vec![
                enumeration(tag::CRYPTOGRAPHIC_ALGORITHM, 0x05),
                int(tag::CRYPTOGRAPHIC_LENGTH, 2048),
            ],
        )],
    );
    assert_eq!(status(&dsa), ResultStatus::OperationFailed);
}

fn payload_of(item: &Item) -> &Item {
    payload(item)
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
    let created = h.one(
        &c,
        V14,
        Operation::Create,
        vec![
            enumeration(tag::OBJECT_TYPE, 2),
            st(
                tag::TEMPLATE_ATTRIBUTE,
                vec![st(
                    tag::NAME,
                    vec![
                        text(tag::NAME_VALUE, "aes-128-template"),
                        enumeration(tag::NAME_TYPE, 1),
                    ],
                )],
            ),
        ],
    );
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
    let unknown = h.one(
        &c,
        V14,
        Operation::Create,
        vec![
            enumeration(tag::OBJECT_TYPE, 2),
            st(
                tag::TEMPLATE_ATTRIBUTE,
                vec![st(
                    tag::NAME,
                    vec![
                        text(tag::NAME_VALUE, "nope"),
                        enumeration(tag::NAME_TYPE, 1),
                    ],
                )],
            ),
        ],
    );
    assert_eq!(status(&unknown), ResultStatus::OperationFailed);
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
    let got = h.one(
        &c,
        V14,
        Operation::GetAttributes,
        vec![uid(&key), text(tag::ATTRIBUTE_NAME, "x-tag")],
    );
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

#[test]
fn pgp_and_split_keys_come_back_as_registered() {
    let h = harness();
    let c = client("a");
    let block = |material: &[u8], format: u32| {
        st(
            tag::KEY_BLOCK,
            vec![
                enumeration(tag::KEY_FORMAT_TYPE, format),
                st(
                    tag::KEY_VALUE,
                    vec![Item::new(
                        tag::KEY_MATERIAL,
                        Value::ByteString(material.to_vec()),
                    )],
                ),
            ],
        )
    };
    let pgp = st(
        tag::PGP_KEY,
        vec![int(tag::PGP_KEY_VERSION, 4), block(b"openpgp-bytes", 2)],
    );
    let split = st(
        tag::SPLIT_KEY,
        vec![
            int(tag::SPLIT_KEY_PARTS, 3),
            int(tag::KEY_PART_IDENTIFIER, 2),
            int(tag::SPLIT_KEY_THRESHOLD, 2),
            enumeration(tag::SPLIT_KEY_METHOD, 1),
            block(&[7; 16], 1),
        ],
    );
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
        vec![
            enumeration(tag::OBJECT_TYPE, 5),
            st(
                tag::SPLIT_KEY,
                vec![
                    int(tag::SPLIT_KEY_PARTS, 2),
                    int(tag::KEY_PART_IDENTIFIER, 1),
                    int(tag::SPLIT_KEY_THRESHOLD, 3),
                    enumeration(tag::SPLIT_KEY_METHOD, 1),
                    block(&[7; 16], 1),
                ],
            ),
        ],
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
    let material_of = |got: &Item| -> Vec<u8> {
        match payload(got)
            .child(tag::SYMMETRIC_KEY)
            .and_then(|k| k.child(tag::KEY_BLOCK))
            .and_then(|b| b.child(tag::KEY_VALUE))
            .and_then(|v| v.child(tag::KEY_MATERIAL))
            .map(|m| &m.value)
        {
            Some(Value::ByteString(b)) => b.clone(),
            other => panic!("no key material: {other:?} in {got:?}"),
        }
    };
    // A wrapping key must be Active first.
    let early = h.one(&c, V21, Operation::Get, vec![uid(&key), spec(&kek)]);
    failed_with(&early, ResultReason::WrongKeyLifecycleState);
    h.one(&c, V21, Operation::Activate, vec![uid(&kek)]);
    let wrapped = h.one(&c, V21, Operation::Get, vec![uid(&key), spec(&kek)]);
    assert_eq!(status(&wrapped), ResultStatus::Success, "{wrapped:?}");
    let block = payload(&wrapped)
        .child(tag::SYMMETRIC_KEY)
        .and_then(|k| k.child(tag::KEY_BLOCK))
        .expect("key block");
    assert!(block.child(tag::KEY_WRAPPING_DATA).is_some(), "{wrapped:?}");
    let plain = material_of(&h.one(&c, V21, Operation::Get, vec![uid(&key)]));
    let kek_bytes = material_of(&h.one(&c, V21, Operation::Get, vec![uid(&kek)]));
    let mut unwrapped = vec![0u8; plain.len() + 8];
    let unwrapped = AesKek::new(&AES_256, &kek_bytes)
        .expect("kek")
        .unwrap(&material_of(&wrapped), &mut unwrapped)
        .expect("unwraps");
    assert_eq!(unwrapped, plain.as_slice());
    // A key without Wrap Key in its usage mask may not wrap.
    let not_a_kek = h.create_aes(&c, V21, vec![]);
    h.one(&c, V21, Operation::Activate, vec![uid(&not_a_kek)]);
    let refused = h.one(&c, V21, Operation::Get, vec![uid(&key), spec(&not_a_kek)]);
    failed_with(&refused, ResultReason::IncompatibleCryptographicUsageMask);
}
