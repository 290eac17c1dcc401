//! Engine unit tests: Activate, Revoke and Destroy through the engine.
//! The shared fixture is `support.rs` beside this file.

use super::support::*;
use crate::kmip::enums::{Operation, ResultReason, ResultStatus, State};
use crate::kmip::tag;
use crate::store::Store;
use crate::ttlv::{Item, Value};

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
