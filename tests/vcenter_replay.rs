//! Replays the vCenter 7.0.3 key-creation sequence (spec §5 and Appendix A) against a real
//! server over real mutual TLS, on several parallel short connections, each opening with a
//! Discover Versions without batch id — as vCenter does.
//!
//! The requests are re-encoded with our codec and first checked against the sizes and
//! SHA-256 digests the appendix gives for the captured messages; the server's Get and Get
//! Attributes(State) responses are compared byte for byte with the captured shapes, with
//! only the fields that must differ (UID, key bytes, time stamp) substituted.

mod common;

use common::*;
use keyward::kmip::tag;
use keyward::ttlv::{Item, Value, encode};
use sha2::{Digest, Sha256};

const QLKC_1: [u8; 8] = *b"QLKC\x01\x00\x00\x00";
const CAPTURE_TIME: i64 = 1_743_675_720;

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

// ---- the captured messages, rebuilt (UID parameterised where the server chooses it) -------

fn a1_discover_versions() -> Item {
    request(V1_1, vec![BatchItem::new(op::DISCOVER_VERSIONS, vec![])])
}

fn a2_create() -> Item {
    request(
        V1_1,
        vec![BatchItem::new(op::CREATE, create_aes_payload(256, 12, vec![])).with_id(&qlkc(1))],
    )
}

/// vCenter's Add Attribute batch: three items, ids QLKC 1..3.
fn add_attribute_batch(id: &str, attrs: [(&str, &str); 3]) -> Item {
    let items = attrs
        .iter()
        .zip(1u32..)
        .map(|((name, value), n)| {
            BatchItem::new(
                op::ADD_ATTRIBUTE,
                vec![
                    uid(id),
                    attribute(name, Value::TextString(value.to_string())),
                ],
            )
            .with_id(&qlkc(n))
        })
        .collect();
    request(V1_1, items)
}

const FIRST_THREE: [(&str, &str); 3] = [
    ("x-Product_Version", "7.0.3 build-19480866"),
    ("x-Vendor", "VMware, Inc."),
    ("x-Product", "VMware vSphere"),
];

const HOST_THREE: [(&str, &str); 3] = [
    ("x-Identifier", "8c164d56-7f1c-5960-63e6-4451c6181844"),
    ("x-Component", "ESXi Server"),
    ("x-Name", "172.16.220.132"),
];

const VM_THREE: [(&str, &str); 3] = [
    ("x-Identifier", "4226f566-3ed5-1c8f-cda3-b0b037b6dc97"),
    ("x-Component", "Virtual Machine"),
    ("x-Name", "test01"),
];

fn response_header(time: i64) -> Item {
    Item::structure(
        tag::RESPONSE_HEADER,
        vec![
            protocol_version(V1_1),
            Item::new(tag::TIME_STAMP, Value::DateTime(time)),
            Item::new(tag::BATCH_COUNT, Value::Integer(1)),
        ],
    )
}

fn success_item(operation: u32, payload: Vec<Item>) -> Item {
    Item::structure(
        tag::BATCH_ITEM,
        vec![
            Item::new(tag::OPERATION, Value::Enumeration(operation)),
            Item::new(
                tag::UNIQUE_BATCH_ITEM_ID,
                Value::ByteString(QLKC_1.to_vec()),
            ),
            Item::new(tag::RESULT_STATUS, Value::Enumeration(status::SUCCESS)),
            Item::structure(tag::RESPONSE_PAYLOAD, payload),
        ],
    )
}

/// A.4: the Get response vCenter accepted.
fn a4_get_response(id: &str, key: &[u8], time: i64) -> Item {
    let key_block = Item::structure(
        tag::KEY_BLOCK,
        vec![
            Item::new(tag::KEY_FORMAT_TYPE, Value::Enumeration(KEY_FORMAT_RAW)),
            Item::structure(
                tag::KEY_VALUE,
                vec![Item::new(
                    tag::KEY_MATERIAL,
                    Value::ByteString(key.to_vec()),
                )],
            ),
            Item::new(tag::CRYPTOGRAPHIC_ALGORITHM, Value::Enumeration(ALG_AES)),
            Item::new(tag::CRYPTOGRAPHIC_LENGTH, Value::Integer(256)),
        ],
    );
    let payload = vec![
        Item::new(tag::OBJECT_TYPE, Value::Enumeration(OBJECT_SYMMETRIC_KEY)),
        uid(id),
        Item::structure(tag::SYMMETRIC_KEY, vec![key_block]),
    ];
    Item::structure(
        tag::RESPONSE_MESSAGE,
        vec![response_header(time), success_item(op::GET, payload)],
    )
}

/// A.5: the Get Attributes(State) response vCenter accepted.
fn a5_state_response(id: &str, state: u32, time: i64) -> Item {
    let payload = vec![uid(id), attribute("State", Value::Enumeration(state))];
    Item::structure(
        tag::RESPONSE_MESSAGE,
        vec![
            response_header(time),
            success_item(op::GET_ATTRIBUTES, payload),
        ],
    )
}

fn padded(len: usize) -> usize {
    len.div_ceil(8) * 8
}

// ---- codec checks against the appendix (no server) ------------------------------------------

#[test]
fn appendix_a_requests_reencode_to_the_captured_bytes() {
    let a1 = encode(&a1_discover_versions());
    let a1_hex = "42007801 00000060 42007701 00000038 42006901 00000020 42006a02 00000004 \
                  00000001 00000000 42006b02 00000004 00000001 00000000 42000d02 00000004 \
                  00000001 00000000 42000f01 00000018 42005c05 00000004 0000001e 00000000 \
                  42007901 00000000";
    let a1_expected = hex::decode(a1_hex.replace(' ', "")).expect("hex");
    assert_eq!(a1, a1_expected, "A.1 differs from the captured bytes");
    assert_eq!(a1.len(), 104);
    assert_eq!(
        sha256_hex(&a1),
        "c73883c19713626f022b49cc7b9c34ecd1c8268a73d7966de91e12165fe3b6f9"
    );

    let a2 = encode(&a2_create());
    assert_eq!(a2.len(), 312, "A.2 size");
    assert_eq!(
        sha256_hex(&a2),
        "a2843af15e01829db8744a00dab837d2d9dfb6dbb723c7de5835d4776c573f85"
    );

    let a3 = encode(&add_attribute_batch("1", FIRST_THREE));
    assert_eq!(a3.len(), 440, "A.3 size");
    assert_eq!(
        sha256_hex(&a3),
        "b80d56496b46ebf41304149f92fb6f42df408c4b915b458a597ab870252c659e"
    );
}

#[test]
fn appendix_a_responses_reencode_to_the_captured_bytes() {
    let a4 = encode(&a4_get_response("2", &[0u8; 32], CAPTURE_TIME));
    assert_eq!(a4.len(), 296, "A.4 size");
    assert_eq!(
        sha256_hex(&a4),
        "f8283d926c5d8c7646d399d2b5c8bdb727181e0c2f88d99962424befc2b86492"
    );

    let a5 = encode(&a5_state_response("2", STATE_PRE_ACTIVE, CAPTURE_TIME));
    assert_eq!(a5.len(), 208, "A.5 size");
    assert_eq!(
        sha256_hex(&a5),
        "f7a0b5795a4cae46c2b0f8a0e26f6e35ff0f4014aff5a85a09967007e672058c"
    );
}

// ---- the replay ----------------------------------------------------------------------------

/// Opens a connection the way vCenter does: handshake, then Discover Versions without batch id.
fn vcenter_connection(server: &Server, creds: &ClientCreds) -> Tls {
    let mut tls = server.connect(creds);
    let resp = tls.roundtrip(&a1_discover_versions());
    assert_eq!(
        response_version(&resp),
        V1_1,
        "DV must be answered in the request's version"
    );
    let items = batch_items(&resp);
    assert_eq!(items.len(), 1);
    assert!(
        items[0].child(tag::UNIQUE_BATCH_ITEM_ID).is_none(),
        "DV had no batch id; none may be echoed"
    );
    assert_eq!(
        items[0].child(tag::OPERATION).map(enumeration),
        Some(op::DISCOVER_VERSIONS)
    );
    let payload = success_payload(items[0]);
    let versions: Vec<(i32, i32)> = payload
        .children_with(tag::PROTOCOL_VERSION)
        .map(|pv| {
            (
                int(pv.child(tag::PROTOCOL_VERSION_MAJOR).expect("major")),
                int(pv.child(tag::PROTOCOL_VERSION_MINOR).expect("minor")),
            )
        })
        .collect();
    assert!(
        versions.contains(&(1, 1)),
        "1.1 must be offered: {versions:?}"
    );
    let mut sorted = versions.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(versions, sorted, "versions must be listed highest first");
    tls
}

/// Sends one vCenter-style item (batch id QLKC 1) and checks the echo and the operation.
fn vcenter_call(tls: &mut Tls, operation: u32, payload: Vec<Item>) -> (Vec<u8>, Item) {
    let req = request(
        V1_1,
        vec![BatchItem::new(operation, payload).with_id(&QLKC_1)],
    );
    tls.send_raw(&encode(&req)).expect("send");
    let bytes = match tls.read_reply() {
        Reply::Message(bytes) => bytes,
        Reply::Closed => panic!("server closed instead of answering operation {operation:#x}"),
    };
    let resp = decode_response(&bytes);
    assert_eq!(response_version(&resp), V1_1);
    assert!(
        header(&resp).child(tag::TIME_STAMP).is_some(),
        "responses carry a Time Stamp"
    );
    let items = batch_items(&resp);
    assert_eq!(items.len(), 1);
    let item = items[0].clone();
    assert_eq!(item.child(tag::OPERATION).map(enumeration), Some(operation));
    assert_eq!(
        item.child(tag::UNIQUE_BATCH_ITEM_ID).map(bytes_of),
        Some(&QLKC_1[..]),
        "batch id echo"
    );
    (bytes, item)
}

fn time_stamp_of(resp: &Item) -> i64 {
    match header(resp).child(tag::TIME_STAMP).map(|t| &t.value) {
        Some(Value::DateTime(t)) => *t,
        other => panic!("Time Stamp is not a Date-Time: {other:?}"),
    }
}

/// s51/s53: Create(AES, 256, mask 12) → UID, key Pre-Active.
fn vcenter_create(server: &Server, creds: &ClientCreds) -> String {
    let mut tls = vcenter_connection(server, creds);
    let (_, item) = vcenter_call(&mut tls, op::CREATE, create_aes_payload(256, 12, vec![]));
    let payload = success_payload(&item);
    assert_eq!(
        payload.child(tag::OBJECT_TYPE).map(enumeration),
        Some(OBJECT_SYMMETRIC_KEY)
    );
    assert!(
        payload.child(tag::TEMPLATE_ATTRIBUTE).is_none(),
        "vCenter's Create response has no Template-Attribute"
    );
    let id = text_of(payload.child(tag::UNIQUE_IDENTIFIER).expect("UID")).to_string();
    assert!(!id.is_empty());
    id
}

/// Get Attributes of one name that is absent: Success with only the UID.
fn expect_absent(tls: &mut Tls, id: &str, name: &str) {
    let (_, item) = vcenter_call(
        tls,
        op::GET_ATTRIBUTES,
        vec![uid(id), text(tag::ATTRIBUTE_NAME, name)],
    );
    let payload = success_payload(&item);
    assert_eq!(
        payload.children(),
        &[uid(id)][..],
        "absent {name}: payload must be the UID only"
    );
}

/// s52/s55/s56/s58: probe three names, then the 3-item Add Attribute batch.
fn vcenter_tag(server: &Server, creds: &ClientCreds, id: &str, attrs: [(&str, &str); 3]) {
    let mut tls = vcenter_connection(server, creds);
    for (name, _) in attrs {
        expect_absent(&mut tls, id, name);
    }
    let resp = tls.roundtrip(&add_attribute_batch(id, attrs));
    assert_eq!(response_version(&resp), V1_1);
    let items = batch_items(&resp);
    assert_eq!(items.len(), 3, "three Success items in request order");
    assert_eq!(header(&resp).child(tag::BATCH_COUNT).map(int), Some(3));
    for (n, (item, (name, value))) in (1u32..).zip(items.iter().zip(attrs)) {
        assert_eq!(
            item.child(tag::OPERATION).map(enumeration),
            Some(op::ADD_ATTRIBUTE)
        );
        assert_eq!(
            item.child(tag::UNIQUE_BATCH_ITEM_ID).map(bytes_of),
            Some(&qlkc(n)[..]),
            "echo of item {n}"
        );
        let payload = success_payload(item);
        assert_eq!(payload.child(tag::UNIQUE_IDENTIFIER).map(text_of), Some(id));
        let attr = payload
            .child(tag::ATTRIBUTE)
            .expect("the added Attribute is returned");
        assert_eq!(attr.child(tag::ATTRIBUTE_NAME).map(text_of), Some(name));
        assert_eq!(attr.child(tag::ATTRIBUTE_VALUE).map(text_of), Some(value));
        if let Some(index) = attr.child(tag::ATTRIBUTE_INDEX) {
            assert_eq!(int(index), 0, "first instance of {name}");
        }
    }
}

/// s54/s57: Get on the Pre-Active key, State, Activate. Returns the key material.
fn vcenter_fetch_and_activate(server: &Server, creds: &ClientCreds, id: &str) -> Vec<u8> {
    let mut tls = vcenter_connection(server, creds);

    let (bytes, item) = vcenter_call(&mut tls, op::GET, vec![uid(id)]);
    let payload = success_payload(&item);
    let block = payload
        .child(tag::SYMMETRIC_KEY)
        .and_then(|k| k.child(tag::KEY_BLOCK))
        .expect("Key Block");
    assert_eq!(
        block.child(tag::KEY_FORMAT_TYPE).map(enumeration),
        Some(KEY_FORMAT_RAW)
    );
    assert_eq!(
        block.child(tag::CRYPTOGRAPHIC_ALGORITHM).map(enumeration),
        Some(ALG_AES)
    );
    assert_eq!(block.child(tag::CRYPTOGRAPHIC_LENGTH).map(int), Some(256));
    let key = key_material(&payload);
    assert_eq!(key.len(), 32);
    assert_ne!(key, vec![0u8; 32], "key material must come from the CSPRNG");
    assert_eq!(
        bytes.len(),
        296 - 8 + padded(id.len()),
        "Get response size (A.4 with this UID)"
    );
    let expected = encode(&a4_get_response(
        id,
        &key,
        time_stamp_of(&decode_response(&bytes)),
    ));
    assert!(bytes == expected, "Get response differs from the A.4 shape");

    let (bytes, item) = vcenter_call(
        &mut tls,
        op::GET_ATTRIBUTES,
        vec![uid(id), text(tag::ATTRIBUTE_NAME, "State")],
    );
    let payload = success_payload(&item);
    assert_eq!(
        attributes_of(&payload),
        vec![("State".to_string(), Value::Enumeration(STATE_PRE_ACTIVE))]
    );
    assert_eq!(
        bytes.len(),
        208 - 8 + padded(id.len()),
        "Get Attributes(State) size (A.5 with this UID)"
    );
    let expected = encode(&a5_state_response(
        id,
        STATE_PRE_ACTIVE,
        time_stamp_of(&decode_response(&bytes)),
    ));
    assert!(
        bytes == expected,
        "Get Attributes(State) response differs from the A.5 shape"
    );

    let (_, item) = vcenter_call(&mut tls, op::ACTIVATE, vec![uid(id)]);
    let payload = success_payload(&item);
    assert_eq!(
        payload.children(),
        &[uid(id)][..],
        "Activate answers with the UID"
    );
    key
}

fn state_on_new_connection(server: &Server, creds: &ClientCreds, id: &str) -> u32 {
    let mut tls = vcenter_connection(server, creds);
    let (_, item) = vcenter_call(
        &mut tls,
        op::GET_ATTRIBUTES,
        vec![uid(id), text(tag::ATTRIBUTE_NAME, "State")],
    );
    match attributes_of(&success_payload(&item)).as_slice() {
        [(name, Value::Enumeration(state))] if name == "State" => *state,
        other => panic!("unexpected State answer {other:?}"),
    }
}

#[test]
fn vcenter_7_0_3_encrypts_a_vm() {
    let mut appliance = Appliance::new(&["vcenter"]);
    let server = appliance.start();
    let vc = appliance.creds("vcenter").clone();

    // s51 ∥ s53: the VM key and the host key are created on parallel connections.
    let (vm_key, host_key) = std::thread::scope(|s| {
        let a = s.spawn(|| vcenter_create(&server, &vc));
        let b = s.spawn(|| vcenter_create(&server, &vc));
        (a.join().expect("s51"), b.join().expect("s53"))
    });
    assert_ne!(vm_key, host_key, "UIDs are never reused");

    // s52 ∥ s54 ∥ s55: tag the VM key while the host key is fetched, activated and tagged.
    // Every one of these needs the Creates above to be visible on other connections.
    let host_material = std::thread::scope(|s| {
        let s52 = s.spawn(|| vcenter_tag(&server, &vc, &vm_key, FIRST_THREE));
        let s54 = s.spawn(|| vcenter_fetch_and_activate(&server, &vc, &host_key));
        let s55 = s.spawn(|| vcenter_tag(&server, &vc, &host_key, FIRST_THREE));
        s52.join().expect("s52");
        s55.join().expect("s55");
        s54.join().expect("s54")
    });

    // s56 ∥ s57, then s58.
    let vm_material = std::thread::scope(|s| {
        let s56 = s.spawn(|| vcenter_tag(&server, &vc, &host_key, HOST_THREE));
        let s57 = s.spawn(|| vcenter_fetch_and_activate(&server, &vc, &vm_key));
        s56.join().expect("s56");
        s57.join().expect("s57")
    });
    vcenter_tag(&server, &vc, &vm_key, VM_THREE);
    assert_ne!(vm_material, host_material);

    for id in [&vm_key, &host_key] {
        assert_eq!(
            state_on_new_connection(&server, &vc, id),
            STATE_ACTIVE,
            "{id} after Activate"
        );
    }

    // What vCenter stored is read back as written, on a fresh connection.
    let mut tls = vcenter_connection(&server, &vc);
    for (id, attrs) in [(&vm_key, VM_THREE), (&host_key, HOST_THREE)] {
        for (name, value) in FIRST_THREE.iter().chain(attrs.iter()) {
            let (_, item) = vcenter_call(
                &mut tls,
                op::GET_ATTRIBUTES,
                vec![uid(id), text(tag::ATTRIBUTE_NAME, name)],
            );
            let attrs = attributes_of(&success_payload(&item));
            assert_eq!(
                attrs,
                vec![(name.to_string(), Value::TextString(value.to_string()))],
                "{id} {name}"
            );
        }
    }
    // The key served after activation is the one served while Pre-Active.
    assert_eq!(get_key(&mut tls, &host_key), host_material);

    // Every exchange of the replay is in the audit log: per key, the operations vCenter ran
    // on it, all successful, none carrying key material; and the chain verifies.
    let exported = std::process::Command::new(keyward_bin())
        .args(["audit", "export", "--format", "jsonl", "--data-dir"])
        .arg(&appliance.data_dir)
        .output()
        .expect("run keyward audit export");
    assert!(exported.status.success(), "audit export failed");
    let records: Vec<serde_json::Value> = String::from_utf8_lossy(&exported.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    for id in [&vm_key, &host_key] {
        let ops: std::collections::BTreeSet<String> = records
            .iter()
            .filter(|r| r["record"]["uids"].to_string().contains(id.as_str()))
            .map(|r| r["record"]["operation"].as_str().unwrap_or("").to_string())
            .collect();
        for wanted in ["Create", "AddAttribute", "GetAttributes", "Get", "Activate"] {
            assert!(ops.contains(wanted), "{id}: no {wanted} record in {ops:?}");
        }
    }
    let client_records: Vec<&serde_json::Value> = records
        .iter()
        .filter(|r| r["record"]["actor"].to_string().contains("peer"))
        .collect();
    assert!(
        client_records.len() >= 20,
        "{} client records",
        client_records.len()
    );
    for record in &client_records {
        assert_eq!(record["record"]["outcome"], "success", "{record}");
    }
    let text = String::from_utf8_lossy(&exported.stdout);
    for key in [&vm_material, &host_material] {
        assert!(!contains_hex(&text, key), "key material in the audit log");
    }
    let verify = std::process::Command::new(keyward_bin())
        .args(["audit", "verify", "--data-dir"])
        .arg(&appliance.data_dir)
        .output()
        .expect("run keyward audit verify");
    assert!(verify.status.success(), "audit verify failed");

    // No key material in the server log, at trace level.
    let log = server.log();
    for key in [&vm_material, &host_material] {
        assert!(
            !contains_hex(&log, key),
            "key material (hex) found in the server log"
        );
        assert!(
            !log.contains(&format!("{:?}", key)),
            "key material (debug) found in the server log"
        );
    }
}

#[test]
fn health_check_probe_leaves_the_server_serving() {
    let mut appliance = Appliance::new(&["vcenter"]);
    let mut server = appliance.start();
    let vc = appliance.creds("vcenter").clone();

    // vCenter's 5-minute health check: a TLS-only connection that closes without KMIP data…
    for _ in 0..3 {
        let mut probe = server.connect(&vc);
        probe.close_write();
        assert!(
            probe.expect_closed(),
            "server must close its side after the client's close_notify"
        );
    }
    // …a TCP connection that never starts TLS…
    drop(std::net::TcpStream::connect(server.addr).expect("tcp probe"));

    // …then one connection with two Discover Versions.
    let mut tls = vcenter_connection(&server, &vc);
    assert!(!discover_versions(&mut tls).is_empty());
    assert!(
        server.is_running(),
        "the probe must not take the server down"
    );

    // vCenter's Query(Server Information) when a KMS is added: Vendor Identification comes back.
    let (_, item) = vcenter_call(
        &mut tls,
        op::QUERY,
        vec![Item::new(tag::QUERY_FUNCTION, Value::Enumeration(3))],
    );
    let payload = success_payload(&item);
    let vendor = payload
        .child(tag::VENDOR_IDENTIFICATION)
        .map(text_of)
        .unwrap_or_default();
    assert!(
        !vendor.is_empty(),
        "Query(Server Information) must name the vendor: {payload:?}"
    );

    // And a real request still works afterwards.
    let id = create_aes(&mut tls, 256, vec![]);
    assert_eq!(get_key(&mut tls, &id).len(), 32);
    drop(tls);

    let status = server.terminate();
    assert!(
        status.success(),
        "SIGTERM must give a clean exit 0, got {status}"
    );
}
