//! Engine unit tests: Discover Versions and Query through the engine.
//! The shared fixture is `support.rs` beside this file.

use super::support::*;
use crate::engine::*;
use crate::kmip::enums::{Operation, ResultReason, ResultStatus};
use crate::kmip::tag;
use crate::ttlv::Value;

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
