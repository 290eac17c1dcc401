//! docs/kmip-support.md and Query must not drift apart: this test reads the Operations and
//! Object types tables of the support matrix and compares them with what a running server
//! answers to Query (Operations, Objects) in KMIP 1.4 and 2.1, over mutual TLS. It also checks
//! that nothing the "Not offered" table names is offered, and that Query's Extension List and
//! Extension Map answer the empty list Keyward's (absent) wire extensions make.

mod common;

use std::collections::BTreeSet;

use common::*;
use keyward::kmip::enums::{ObjectType, Operation, QueryFunction};
use keyward::kmip::tag;
use keyward::ttlv::{Item, Value};

const MATRIX: &str = include_str!("../docs/kmip-support.md");

/// The rows of the first table after the heading `## {heading}`, as cells (header and
/// separator rows dropped).
fn table(heading: &str) -> Vec<Vec<String>> {
    let start = MATRIX
        .lines()
        .position(|l| l.trim() == format!("## {heading}"))
        .unwrap_or_else(|| panic!("docs/kmip-support.md has no `## {heading}`"));
    MATRIX
        .lines()
        .skip(start + 1)
        .skip_while(|l| !l.starts_with('|'))
        .take_while(|l| l.starts_with('|'))
        .skip(2)
        .map(|l| {
            l.trim()
                .trim_matches('|')
                .split('|')
                .map(|c| c.trim().to_string())
                .collect()
        })
        .collect()
}

/// Lower case, letters and digits only: "Re-key" and "ReKey" are one name.
fn folded(name: &str) -> String {
    name.chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

fn operation_named(name: &str) -> Option<Operation> {
    Operation::NAMES
        .iter()
        .find(|(_, n)| folded(n) == folded(name))
        .and_then(|(v, _)| Operation::from_u32(*v))
}

fn object_type_named(name: &str) -> Option<ObjectType> {
    ObjectType::NAMES
        .iter()
        .find(|(_, n)| folded(n) == folded(name))
        .and_then(|(v, _)| ObjectType::from_u32(*v))
}

fn query(tls: &mut Tls, version: (i32, i32), functions: &[QueryFunction]) -> Item {
    let payload = functions
        .iter()
        .map(|f| Item::new(tag::QUERY_FUNCTION, Value::Enumeration(f.value())))
        .collect();
    success_payload(&tls.call(version, Operation::Query.value(), payload))
}

fn enumerations(payload: &Item, t: u32) -> BTreeSet<u32> {
    payload.children_with(t).map(enumeration).collect()
}

#[test]
fn query_answers_what_the_support_matrix_says() {
    // The documented lists, per protocol major version.
    let mut documented_ops = [BTreeSet::new(), BTreeSet::new()];
    for row in table("Operations") {
        for name in row[0].split(", ") {
            let op = operation_named(name)
                .unwrap_or_else(|| panic!("`{name}` in the Operations table is no KMIP operation"));
            for (i, cell) in row[1..=2].iter().enumerate() {
                match cell.as_str() {
                    "yes" => {
                        documented_ops[i].insert(op.value());
                    }
                    "—" => {}
                    other => panic!("Operations table, {name}: `{other}` is neither yes nor —"),
                }
            }
        }
    }
    let mut documented_objects = [BTreeSet::new(), BTreeSet::new()];
    for row in table("Object types") {
        let object = object_type_named(&row[0])
            .unwrap_or_else(|| panic!("`{}` in the Object types table is no KMIP object", row[0]));
        let get = row[3].as_str();
        if get != "no" {
            documented_objects[0].insert(object.value());
            if !get.contains("1.x only") {
                documented_objects[1].insert(object.value());
            }
        }
    }
    let refused: Vec<Operation> = table("Not offered, and why")
        .iter()
        .flat_map(|row| row[0].split(", ").map(str::to_string).collect::<Vec<_>>())
        .filter_map(|name| operation_named(&name))
        .collect();
    assert!(
        refused.len() >= 10,
        "the Not offered table names operations: {refused:?}"
    );

    let mut appliance = Appliance::new(&["app"]);
    let server = appliance.start();
    let mut tls = server.connect(appliance.creds("app"));
    for (i, version) in [(1, 4), (2, 1)].into_iter().enumerate() {
        let answer = query(
            &mut tls,
            version,
            &[QueryFunction::Operations, QueryFunction::Objects],
        );
        assert_eq!(
            enumerations(&answer, tag::OPERATION),
            documented_ops[i],
            "KMIP {version:?}: Query Operations vs docs/kmip-support.md"
        );
        assert_eq!(
            enumerations(&answer, tag::OBJECT_TYPE),
            documented_objects[i],
            "KMIP {version:?}: Query Objects vs docs/kmip-support.md"
        );
        for op in &refused {
            assert!(
                !enumerations(&answer, tag::OPERATION).contains(&op.value()),
                "{op:?} is listed as not offered but Query offers it"
            );
        }
        // No wire extensions: both functions answer without any Extension Information.
        let answer = query(
            &mut tls,
            version,
            &[QueryFunction::ExtensionList, QueryFunction::ExtensionMap],
        );
        assert!(
            answer.child(tag::EXTENSION_INFORMATION).is_none(),
            "{answer:?}"
        );
    }
}
