//! Ownership: an object belongs to the client identity (certificate CN) that created it.
//! Another identity gets Item Not Found for it in every operation, and Locate never lists it.

mod common;

use common::*;
use keyward::kmip::tag;
use keyward::ttlv::Value;

#[test]
fn another_identity_cannot_see_or_touch_a_key() {
    let mut appliance = Appliance::new(&["alice", "bob"]);
    let server = appliance.start();
    let mut alice = server.connect(appliance.creds("alice"));
    let mut bob = server.connect(appliance.creds("bob"));

    let alices = create_aes(&mut alice, 256, vec![name_attribute("alice-key")]);
    let alices_material = get_key(&mut alice, &alices);

    let attempts = [
        ("Get", op::GET, vec![uid(&alices)]),
        (
            "Get Attributes",
            op::GET_ATTRIBUTES,
            vec![uid(&alices), text(tag::ATTRIBUTE_NAME, "State")],
        ),
        (
            "Get Attributes (all)",
            op::GET_ATTRIBUTES,
            vec![uid(&alices)],
        ),
        (
            "Add Attribute",
            op::ADD_ATTRIBUTE,
            vec![
                uid(&alices),
                attribute("x-Owner", Value::TextString("bob".to_string())),
            ],
        ),
        ("Activate", op::ACTIVATE, vec![uid(&alices)]),
        (
            "Revoke",
            op::REVOKE,
            vec![
                uid(&alices),
                keyward::ttlv::Item::structure(
                    tag::REVOCATION_REASON,
                    vec![keyward::ttlv::Item::new(
                        tag::REVOCATION_REASON_CODE,
                        Value::Enumeration(2),
                    )],
                ),
            ],
        ),
        ("Destroy", op::DESTROY, vec![uid(&alices)]),
    ];
    for (what, operation, payload) in attempts {
        let item = bob.call(V1_1, operation, payload);
        assert_failed(
            &item,
            reason::ITEM_NOT_FOUND,
            &format!("bob's {what} on alice's key"),
        );
        let text = format!("{item:?}");
        assert!(
            !contains_hex(&text, &alices_material),
            "{what} leaked alice's key material"
        );
    }

    // Bob's Locate lists neither by name nor in a full listing.
    assert!(
        locate_by_name(&mut bob, "alice-key").is_empty(),
        "bob located alice's key by name"
    );
    assert!(
        !locate_all(&mut bob).contains(&alices),
        "bob's Locate lists alice's key"
    );

    // Bob's own key is his alone, and alice's view is untouched by his attempts.
    let bobs = create_aes(&mut bob, 128, vec![name_attribute("alice-key")]);
    assert_eq!(
        locate_by_name(&mut bob, "alice-key"),
        vec![bobs.clone()],
        "bob sees only his own key"
    );
    let alice_sees = locate_by_name(&mut alice, "alice-key");
    assert_eq!(
        alice_sees,
        vec![alices.clone()],
        "alice sees only her own key"
    );
    assert!(
        !locate_all(&mut alice).contains(&bobs),
        "alice's Locate lists bob's key"
    );
    assert_failed(
        &alice.call(V1_1, op::GET, vec![uid(&bobs)]),
        reason::ITEM_NOT_FOUND,
        "alice's Get on bob's key",
    );

    assert_eq!(get_key(&mut alice, &alices), alices_material);
    assert_eq!(
        state_of(&mut alice, &alices),
        STATE_PRE_ACTIVE,
        "bob's Activate/Revoke/Destroy must not land"
    );
    let payload = success_payload(&get_attributes(&mut alice, &alices, &["x-Owner"]));
    assert!(
        attributes_of(&payload).is_empty(),
        "bob's Add Attribute must not land"
    );
}

#[test]
fn unknown_uid_and_foreign_uid_look_the_same() {
    let mut appliance = Appliance::new(&["alice", "bob"]);
    let server = appliance.start();
    let mut alice = server.connect(appliance.creds("alice"));
    let mut bob = server.connect(appliance.creds("bob"));
    let alices = create_aes(&mut alice, 256, vec![]);

    let foreign = bob.call(V1_1, op::GET, vec![uid(&alices)]);
    let missing = bob.call(
        V1_1,
        op::GET,
        vec![uid("00000000-0000-0000-0000-000000000000")],
    );
    assert_failed(&foreign, reason::ITEM_NOT_FOUND, "foreign UID");
    assert_failed(&missing, reason::ITEM_NOT_FOUND, "unknown UID");
    // Same status and reason: bob cannot tell alice's key exists.
    assert_eq!(result_reason(&foreign), result_reason(&missing));
}
