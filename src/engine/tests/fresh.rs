//! The first Get's clear of Fresh, handed to a read journal instead of a commit (`fresh.rs`).

use super::support::*;
use crate::audit::read_journal::FoldEffects;
use crate::engine::{FreshClears, JournalledClears, Prepared};
use crate::kmip::enums::{Operation, ResultStatus};
use crate::store::Store;
use crate::ttlv::{self, Limits, Value};

const V14: (i32, i32) = (1, 4);

fn prepared(
    h: &Harness,
    c: &crate::engine::ClientIdentity,
    op: Operation,
    payload: Vec<crate::ttlv::Item>,
) -> crate::engine::ParsedRequest {
    let message = ttlv::encode(&request(V14, vec![], vec![bi(op, payload)]));
    match h.engine.prepare(c, &message) {
        Prepared::Read(request) | Prepared::Write(request) => request,
        Prepared::Respond(_) => panic!("{op:?} refused at preparation"),
    }
}

/// The object's Fresh attribute as a Get Attributes on a snapshot reports it, with the clears
/// `waiting` says are journalled.
fn fresh_seen(
    h: &Harness,
    c: &crate::engine::ClientIdentity,
    key: &str,
    waiting: &dyn Fn(&str) -> bool,
) -> Value {
    let request = prepared(
        h,
        c,
        Operation::GetAttributes,
        vec![uid(key), text(crate::kmip::tag::ATTRIBUTE_NAME, "Fresh")],
    );
    let view = h.store.read().unwrap();
    let answered = h
        .engine
        .execute_if_unchanging(&request, &*view, FreshClears::Journalled(waiting))
        .expect("Get Attributes changes nothing");
    assert!(answered.fresh_cleared.is_empty());
    let response = ttlv::decode(&answered.response.encode(), &Limits::default()).unwrap();
    let item = items(&response)[0].clone();
    attrs_v1(&item)
        .into_iter()
        .find(|(name, _)| name == "Fresh")
        .map(|(_, value)| value)
        .expect("Fresh is reported")
}

#[test]
fn a_first_get_hands_its_clear_of_fresh_to_the_caller_and_changes_nothing() {
    let h = harness();
    let c = client("a");
    let key = h.create_aes(&c, V14, vec![]);
    let get = prepared(&h, &c, Operation::Get, vec![uid(&key)]);
    let before = h.store.snapshot().unwrap();
    let view = h.store.read().unwrap();
    // A caller that cannot journal the clear: the first Get is a change.
    assert!(
        h.engine
            .execute_if_unchanging(&get, &*view, FreshClears::Committed)
            .is_none()
    );
    let nothing_waits = |_: &str| false;
    let served = h
        .engine
        .execute_if_unchanging(&get, &*view, FreshClears::Journalled(&nothing_waits))
        .expect("a first Get is answered when its clear can be journalled");
    assert_eq!(served.fresh_cleared, vec![key.clone()]);
    assert_eq!(served.response.outcomes()[0].status, ResultStatus::Success);
    drop(view);
    assert!(h.store.snapshot().unwrap() == before, "nothing was written");

    // Until it is folded, reads that know of the clear see the object as served.
    assert_eq!(
        fresh_seen(&h, &c, &key, &nothing_waits),
        Value::Boolean(true)
    );
    let key_waits = |uid: &str| uid == key;
    assert_eq!(fresh_seen(&h, &c, &key, &key_waits), Value::Boolean(false));
    // ... and a second Get is a pure read: nothing more to clear.
    let view = h.store.read().unwrap();
    let again = h
        .engine
        .execute_if_unchanging(&get, &*view, FreshClears::Journalled(&key_waits))
        .expect("answered");
    assert!(again.fresh_cleared.is_empty());
}

#[test]
fn the_fold_clears_fresh_once_and_skips_what_is_gone() {
    let h = harness();
    let c = client("a");
    let key = h.create_aes(&c, V14, vec![]);
    let version = |h: &Harness| h.store.read().unwrap().get(&key).unwrap().unwrap().version;
    let created = version(&h);
    for _ in 0..2 {
        let mut txn = h.store.write().unwrap();
        JournalledClears.clear_fresh(&mut *txn, &key).unwrap();
        JournalledClears
            .clear_fresh(&mut *txn, "no-such-object")
            .unwrap();
        txn.commit().unwrap();
    }
    let nothing_waits = |_: &str| false;
    assert_eq!(
        fresh_seen(&h, &c, &key, &nothing_waits),
        Value::Boolean(false)
    );
    assert_eq!(version(&h), created + 1, "the second clear wrote nothing");
    // The object is otherwise as it was: its Get still serves the key.
    let got = h.one(&c, V14, Operation::Get, vec![uid(&key)]);
    assert_eq!(status(&got), ResultStatus::Success);
    assert_eq!(key_material(&got).len(), 32);
}

#[test]
fn a_first_get_refused_as_too_large_clears_nothing() {
    let h = harness();
    let c = client("a");
    let key = h.create_aes(&c, V14, vec![]);
    let message = ttlv::encode(&request(
        V14,
        vec![int(crate::kmip::tag::MAXIMUM_RESPONSE_SIZE, 64)],
        vec![bi(Operation::Get, vec![uid(&key)])],
    ));
    let Prepared::Write(get) = h.engine.prepare(&c, &message) else {
        panic!("Get is routed as a write");
    };
    let view = h.store.read().unwrap();
    let nothing_waits = |_: &str| false;
    let refused = h
        .engine
        .execute_if_unchanging(&get, &*view, FreshClears::Journalled(&nothing_waits))
        .expect("answered");
    assert!(
        refused.fresh_cleared.is_empty(),
        "a refused Get served nothing"
    );
    assert_eq!(
        refused.response.outcomes()[0].status,
        ResultStatus::OperationFailed
    );
    drop(view);
    assert_eq!(
        fresh_seen(&h, &c, &key, &nothing_waits),
        Value::Boolean(true)
    );
}
