//! Engine unit tests: Create Key Pair through the engine.
//! The shared fixture is `support.rs` beside this file.

use super::support::*;
use crate::kmip::enums::{Operation, ResultStatus};
use crate::kmip::tag;
use crate::ttlv::{Item, Value};

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
