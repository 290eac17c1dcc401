//! The engine's unit-test fixture, shared by the test module of each operation: an engine
//! over the in-memory store with a real master key, TTLV request builders, and response readers.
//! Requests are built as TTLV trees, encoded with the project codec and sent through
//! `prepare`/`execute_*` as the server does.

use std::sync::Arc;

use crate::engine::*;
use crate::kmip::enums::{Operation, ResultReason, ResultStatus, State};
use crate::kmip::tag;
use crate::seal::MasterKey;
use crate::store::Store;
use crate::store::memory::MemoryStore;
use crate::ttlv::{Item, Value};

pub(crate) const V11: (i32, i32) = (1, 1);
pub(crate) const V14: (i32, i32) = (1, 4);
pub(crate) const V21: (i32, i32) = (2, 1);

pub(crate) struct Harness {
    pub(crate) engine: Engine,
    pub(crate) store: MemoryStore,
}

pub(crate) fn harness() -> Harness {
    harness_with(EngineConfig::default())
}

pub(crate) fn harness_with(config: EngineConfig) -> Harness {
    let master = MasterKey::generate().expect("master key");
    Harness {
        engine: Engine::new(config, Arc::new(master)),
        store: MemoryStore::new(),
    }
}

pub(crate) fn client(name: &str) -> ClientIdentity {
    ClientIdentity {
        owner: format!("cn:{name}"),
        fingerprint: [7; 32],
    }
}

pub(crate) fn text(t: u32, s: &str) -> Item {
    Item::new(t, Value::TextString(s.to_string()))
}
pub(crate) fn enumeration(t: u32, v: u32) -> Item {
    Item::new(t, Value::Enumeration(v))
}
pub(crate) fn int(t: u32, v: i32) -> Item {
    Item::new(t, Value::Integer(v))
}
pub(crate) fn st(t: u32, children: Vec<Item>) -> Item {
    Item::structure(t, children)
}
pub(crate) fn uid(u: &str) -> Item {
    text(tag::UNIQUE_IDENTIFIER, u)
}

/// 1.x Attribute{Name, Value}.
pub(crate) fn attr1(name: &str, value: Value) -> Item {
    st(
        tag::ATTRIBUTE,
        vec![
            text(tag::ATTRIBUTE_NAME, name),
            Item::new(tag::ATTRIBUTE_VALUE, value),
        ],
    )
}

pub(crate) fn name_value(name: &str) -> Value {
    Value::Structure(vec![
        text(tag::NAME_VALUE, name),
        enumeration(tag::NAME_TYPE, 1),
    ])
}

pub(crate) struct BatchItem {
    pub(crate) op: Operation,
    pub(crate) id: Option<Vec<u8>>,
    pub(crate) payload: Vec<Item>,
}

pub(crate) fn bi(op: Operation, payload: Vec<Item>) -> BatchItem {
    BatchItem {
        op,
        id: None,
        payload,
    }
}

pub(crate) fn request(version: (i32, i32), header_extra: Vec<Item>, items: Vec<BatchItem>) -> Item {
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
    pub(crate) fn send_bytes(&self, who: &ClientIdentity, bytes: &[u8]) -> Item {
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

    pub(crate) fn send(&self, who: &ClientIdentity, message: Item) -> Item {
        self.send_bytes(who, &ttlv::encode(&message))
    }

    /// One-item request; returns the response batch item.
    pub(crate) fn one(
        &self,
        who: &ClientIdentity,
        version: (i32, i32),
        op: Operation,
        payload: Vec<Item>,
    ) -> Item {
        let response = self.send(who, request(version, vec![], vec![bi(op, payload)]));
        items(&response).remove(0).clone()
    }

    /// 1.x Get Attributes of the one attribute `name` of object `u`; returns the response
    /// batch item.
    pub(crate) fn get_attribute_v1(
        &self,
        who: &ClientIdentity,
        version: (i32, i32),
        u: &str,
        name: &str,
    ) -> Item {
        self.one(
            who,
            version,
            Operation::GetAttributes,
            vec![uid(u), text(tag::ATTRIBUTE_NAME, name)],
        )
    }

    /// Create over KMIP 1.4 with a Template-Attribute: a Symmetric Key of `algorithm` and
    /// `bits`, then `extra` attributes; returns the response batch item.
    pub(crate) fn create_1x(
        &self,
        who: &ClientIdentity,
        algorithm: u32,
        bits: i32,
        extra: Vec<Item>,
    ) -> Item {
        self.one(
            who,
            V14,
            Operation::Create,
            create_1x_payload(algorithm, bits, extra),
        )
    }

    pub(crate) fn create_aes(
        &self,
        who: &ClientIdentity,
        version: (i32, i32),
        extra: Vec<Item>,
    ) -> String {
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

pub(crate) fn items(response: &Item) -> Vec<&Item> {
    response.children_with(tag::BATCH_ITEM).collect()
}
pub(crate) fn status(item: &Item) -> ResultStatus {
    match item.child(tag::RESULT_STATUS).map(|i| &i.value) {
        Some(Value::Enumeration(v)) => ResultStatus::from_u32(*v).unwrap(),
        other => panic!("no result status: {other:?}"),
    }
}
pub(crate) fn reason(item: &Item) -> Option<ResultReason> {
    match item.child(tag::RESULT_REASON).map(|i| &i.value) {
        Some(Value::Enumeration(v)) => ResultReason::from_u32(*v),
        _ => None,
    }
}
pub(crate) fn payload(item: &Item) -> &Item {
    item.child(tag::RESPONSE_PAYLOAD).expect("payload")
}
pub(crate) fn uid_of(item: &Item) -> String {
    match &payload(item)
        .child(tag::UNIQUE_IDENTIFIER)
        .expect("uid")
        .value
    {
        Value::TextString(u) => u.clone(),
        other => panic!("uid {other:?}"),
    }
}
pub(crate) fn failed_with(item: &Item, expected: ResultReason) {
    assert_eq!(status(item), ResultStatus::OperationFailed, "{item:?}");
    assert_eq!(reason(item), Some(expected), "{item:?}");
}
pub(crate) fn header_version(response: &Item) -> (i32, i32) {
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
pub(crate) fn attrs_v1(item: &Item) -> Vec<(String, Value)> {
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

pub(crate) fn state_v1(h: &Harness, who: &ClientIdentity, version: (i32, i32), u: &str) -> State {
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

pub(crate) fn state_v2(h: &Harness, who: &ClientIdentity, u: &str) -> State {
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

/// The Key Block of the Symmetric Key a Get answered.
pub(crate) fn key_block(item: &Item) -> &Item {
    payload(item)
        .child(tag::SYMMETRIC_KEY)
        .and_then(|k| k.child(tag::KEY_BLOCK))
        .unwrap_or_else(|| panic!("no key block in {item:?}"))
}

/// The Key Material bytes of the Symmetric Key a Get answered.
pub(crate) fn key_material(item: &Item) -> Vec<u8> {
    match key_block(item)
        .child(tag::KEY_VALUE)
        .and_then(|v| v.child(tag::KEY_MATERIAL))
        .map(|m| &m.value)
    {
        Some(Value::ByteString(b)) => b.clone(),
        other => panic!("no key material: {other:?} in {item:?}"),
    }
}

/// A Key Block of `format` holding `material` as its Key Material, then `extra` fields.
pub(crate) fn key_block_of(format: u32, material: &[u8], extra: Vec<Item>) -> Item {
    let mut fields = vec![
        enumeration(tag::KEY_FORMAT_TYPE, format),
        st(
            tag::KEY_VALUE,
            vec![Item::new(
                tag::KEY_MATERIAL,
                Value::ByteString(material.to_vec()),
            )],
        ),
    ];
    fields.extend(extra);
    st(tag::KEY_BLOCK, fields)
}

pub(crate) fn revoke_payload(u: &str, code: u32, occurrence: Option<i64>) -> Vec<Item> {
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

pub(crate) fn located(item: &Item) -> Vec<String> {
    payload(item)
        .children_with(tag::UNIQUE_IDENTIFIER)
        .map(|i| match &i.value {
            Value::TextString(u) => u.clone(),
            _ => panic!(),
        })
        .collect()
}

/// A 1.x Create payload: a Symmetric Key of `algorithm` and `bits` in a Template-Attribute,
/// then `extra` attributes.
pub(crate) fn create_1x_payload(algorithm: u32, bits: i32, extra: Vec<Item>) -> Vec<Item> {
    let mut attrs = vec![
        attr1("Cryptographic Algorithm", Value::Enumeration(algorithm)),
        attr1("Cryptographic Length", Value::Integer(bits)),
    ];
    attrs.extend(extra);
    vec![
        enumeration(tag::OBJECT_TYPE, 2),
        st(tag::TEMPLATE_ATTRIBUTE, attrs),
    ]
}

/// Create with a name, as PyKMIP does (1.x Template-Attribute).
pub(crate) fn create_named(h: &Harness, c: &ClientIdentity, name: &str) -> Item {
    h.create_1x(c, 3, 128, vec![attr1("Name", name_value(name))])
}

pub(crate) fn payload_of(item: &Item) -> &Item {
    payload(item)
}
