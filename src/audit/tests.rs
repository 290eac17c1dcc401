use std::sync::Arc;

use zeroize::Zeroizing;

use super::record::StoredRecord;
use super::*;
use crate::store::Store;
use crate::store::memory::MemoryStore;

fn context() -> AuditContext {
    AuditContext::from_master(&MasterKey::from_bytes(Zeroizing::new([7u8; 32])))
}

fn append(store: &MemoryStore, ctx: &AuditContext, n: usize) {
    for i in 0..n {
        let mut txn = store.write().unwrap();
        record(
            txn.as_mut(),
            ctx,
            Actor::System,
            AuditEvent::success(format!("op{i}"), vec![format!("uid-{i}")]),
        )
        .unwrap();
        txn.commit().unwrap();
    }
}

fn rewrite(store: &MemoryStore, seq: u64, edit: impl FnOnce(&mut StoredRecord)) {
    let mut txn = store.write().unwrap();
    let (_, bytes) = txn.audit_range(seq, 1).unwrap().remove(0);
    let mut stored = StoredRecord::from_bytes(&bytes).unwrap();
    edit(&mut stored);
    txn.audit_put(seq, &stored.to_bytes()).unwrap();
    txn.commit().unwrap();
}

fn broken_at(store: &MemoryStore, ctx: &AuditContext) -> Option<u64> {
    verify::verify(&*store.read().unwrap(), ctx.key().unwrap())
        .unwrap()
        .broken
        .map(|b| b.seq)
}

#[test]
fn an_untouched_chain_verifies_and_a_changed_record_is_found() {
    let store = MemoryStore::new();
    let ctx = context();
    append(&store, &ctx, 5);
    let v = verify::verify(&*store.read().unwrap(), ctx.key().unwrap()).unwrap();
    assert_eq!((v.records, v.head_seq, v.broken), (5, Some(5), None));
    rewrite(&store, 3, |r| r.record.operation = "Destroy".into());
    assert_eq!(broken_at(&store, &ctx), Some(3));
}

#[test]
fn a_removed_record_is_found() {
    let store = MemoryStore::new();
    let ctx = context();
    append(&store, &ctx, 5);
    let mut txn = store.write().unwrap();
    let kept: Vec<_> = txn.audit_range(4, 10).unwrap();
    txn.audit_delete_before(5).unwrap();
    let older = {
        let s = MemoryStore::new();
        append(&s, &ctx, 3);
        s.read().unwrap().audit_range(0, 10).unwrap()
    };
    drop(kept);
    for (seq, bytes) in older {
        txn.audit_put(seq, &bytes).unwrap();
    }
    txn.commit().unwrap();
    // 1..3 and 5 remain, 4 is gone.
    assert_eq!(broken_at(&store, &ctx), Some(5));
}

#[test]
fn a_wrong_key_fails_at_the_first_record() {
    let store = MemoryStore::new();
    append(&store, &context(), 2);
    let other = AuditContext::from_master(&MasterKey::from_bytes(Zeroizing::new([8u8; 32])));
    assert_eq!(broken_at(&store, &other), Some(1));
}

#[test]
fn pruning_leaves_a_checkpoint_and_a_verifiable_chain() {
    let store = MemoryStore::new();
    let ctx = context();
    append(&store, &ctx, 6);
    // Back-date records 1..4.
    for seq in 1..=4 {
        let mut txn = store.write().unwrap();
        let (_, bytes) = txn.audit_range(seq, 1).unwrap().remove(0);
        let mut stored = StoredRecord::from_bytes(&bytes).unwrap();
        stored.record.time_ms = 1000;
        let prev = if seq == 1 {
            chain::GENESIS
        } else {
            let (_, b) = txn.audit_range(seq - 1, 1).unwrap().remove(0);
            StoredRecord::from_bytes(&b).unwrap().chain_value().unwrap()
        };
        stored.mac = hex::encode(ctx.key().unwrap().mac(&prev, &stored.record));
        txn.audit_put(seq, &stored.to_bytes()).unwrap();
        txn.commit().unwrap();
    }
    // Record 5 was chained to the old MAC of 4: re-chain it for this test set-up.
    rewrite(&store, 5, |r| {
        let _ = r;
    });
    let mut txn = store.write().unwrap();
    let (_, b4) = txn.audit_range(4, 1).unwrap().remove(0);
    let prev = StoredRecord::from_bytes(&b4)
        .unwrap()
        .chain_value()
        .unwrap();
    for seq in 5..=6 {
        let (_, b) = txn.audit_range(seq, 1).unwrap().remove(0);
        let mut s = StoredRecord::from_bytes(&b).unwrap();
        let p = if seq == 5 {
            prev
        } else {
            let (_, b5) = txn.audit_range(5, 1).unwrap().remove(0);
            StoredRecord::from_bytes(&b5)
                .unwrap()
                .chain_value()
                .unwrap()
        };
        s.mac = hex::encode(ctx.key().unwrap().mac(&p, &s.record));
        txn.audit_put(seq, &s.to_bytes()).unwrap();
    }
    txn.commit().unwrap();
    assert_eq!(broken_at(&store, &ctx), None);

    let mut txn = store.write().unwrap();
    let removed = prune::prune_before(txn.as_mut(), ctx.key().unwrap(), 2000).unwrap();
    txn.commit().unwrap();
    assert_eq!(removed, 4);
    let view = store.read().unwrap();
    let rows = view.audit_range(0, 10).unwrap();
    assert_eq!(rows.iter().map(|r| r.0).collect::<Vec<_>>(), vec![4, 5, 6]);
    assert!(
        StoredRecord::from_bytes(&rows[0].1)
            .unwrap()
            .record
            .is_checkpoint()
    );
    drop(view);
    assert_eq!(broken_at(&store, &ctx), None);
    // The checkpoint itself is MACed.
    rewrite(&store, 4, |r| {
        r.record.reason = Some("nothing pruned".into())
    });
    assert_eq!(broken_at(&store, &ctx), Some(4));
}

#[test]
fn records_written_while_sealed_since_start_are_chained_after_the_unseal() {
    let gate = Arc::new(crate::seal::KeyGate::sealed("test"));
    let ctx = AuditContext::from_gate(gate.clone());
    let store = MemoryStore::new();
    append(&store, &ctx, 2);
    let view = store.read().unwrap();
    let pending = StoredRecord::from_bytes(&view.audit_range(2, 1).unwrap()[0].1).unwrap();
    assert_eq!(pending.mac, "");
    drop(view);
    gate.install(MasterKey::from_bytes(Zeroizing::new([7u8; 32])));
    let reference = context();
    assert_eq!(broken_at(&store, &reference), Some(1));
    append(&store, &ctx, 1);
    assert_eq!(broken_at(&store, &reference), None);
    let v = verify::verify(&*store.read().unwrap(), reference.key().unwrap()).unwrap();
    assert_eq!(v.records, 3);
}

/// The export line from its typed view is the text the hand-built map gave: the stored record
/// with `time` added inside `record` and `node` beside it, keys sorted.
#[test]
fn export_line_is_the_stored_record_with_time_and_node_added() {
    let stored = StoredRecord {
        record: AuditRecord {
            seq: 42,
            time_ms: 1_700_000_000_123,
            actor: Actor::User {
                uid: 1000,
                name: "alice".into(),
            },
            operation: "client.add".into(),
            uids: vec!["vc".into()],
            outcome: Outcome::Success,
            reason: None,
            chain: None,
        },
        mac: "ab".repeat(32),
    };
    let mut expected = serde_json::to_value(&stored).unwrap();
    expected["record"]["time"] = serde_json::Value::String(format_time(stored.record.time_ms));
    assert_eq!(
        export_line(&stored, None).unwrap(),
        serde_json::to_string(&expected).unwrap()
    );
    expected["node"] = serde_json::Value::String("node-b".into());
    assert_eq!(
        export_line(&stored, Some("node-b")).unwrap(),
        serde_json::to_string(&expected).unwrap()
    );
}

/// The stored form built around the once-encoded record is what serialising the whole
/// [`StoredRecord`] gives (the format in `docs/audit.md`), with a MAC and pending without one;
/// escapes in the record's strings included.
#[test]
fn stored_bytes_are_the_serialised_stored_record() {
    let record = AuditRecord {
        seq: 7,
        time_ms: 1_700_000_000_123,
        actor: Actor::Client {
            owner: "o\"wn\\er".into(),
            fingerprint: "ab".repeat(32),
            peer: "127.0.0.1:5696".into(),
        },
        operation: "Create".into(),
        uids: vec!["u-1".into(), "ü\n".into()],
        outcome: Outcome::Failure,
        reason: Some("ItemNotFound".into()),
        chain: None,
    };
    for mac in ["cd".repeat(32), String::new()] {
        let stored = StoredRecord {
            record: record.clone(),
            mac: mac.clone(),
        };
        assert_eq!(
            record::stored_bytes(&record.encode(), &mac),
            stored.to_bytes()
        );
    }
}

/// Many records appended in one transaction through one [`ChainTail`] (as the write pipeline
/// does for a group) chain exactly like records written one by one: the chain verifies, and a
/// record written later by [`record`] continues it. A tail that started while sealed picks the
/// key up and chains the pending records first.
#[test]
fn a_chain_tail_appends_a_group_that_verifies() {
    let gate = Arc::new(crate::seal::KeyGate::sealed("test"));
    let ctx = AuditContext::from_gate(gate.clone());
    let store = MemoryStore::new();
    let mut txn = store.write().unwrap();
    let mut tail = ChainTail::default();
    let event = |i: usize| AuditEvent::success(format!("op{i}"), vec![format!("uid-{i}")]);
    for i in 0..2 {
        tail.append(txn.as_mut(), &ctx, Actor::System, event(i), now_ms())
            .unwrap();
    }
    gate.install(MasterKey::from_bytes(Zeroizing::new([7u8; 32])));
    for i in 2..6 {
        tail.append(txn.as_mut(), &ctx, Actor::System, event(i), now_ms())
            .unwrap();
    }
    txn.commit().unwrap();
    append(&store, &ctx, 1);
    let v = verify::verify(&*store.read().unwrap(), context().key().unwrap()).unwrap();
    assert_eq!((v.records, v.head_seq, v.broken), (7, Some(7), None));
    rewrite(&store, 4, |r| r.record.operation = "Destroy".into());
    assert_eq!(broken_at(&store, &context()), Some(4));
}

/// A batch through one [`ChainTail`] (the read journal's fold) stores exactly what
/// [`record_at`] stores one record at a time.
#[test]
fn a_batch_through_one_chain_tail_stores_what_one_record_at_a_time_stores() {
    let ctx = context();
    let actor = Actor::Client {
        owner: "o\"wner".into(),
        fingerprint: "ab".repeat(32),
        peer: "127.0.0.1:1".into(),
    };
    let events = [
        AuditEvent::success("Get", vec!["uid-1".into()]),
        AuditEvent::failure("Get", vec![], "Item \\ Not Found\n".into()),
        AuditEvent::success("Get Attributes", vec!["ü".into()]),
    ];
    let one_by_one = MemoryStore::new();
    let batched = MemoryStore::new();
    for store in [&one_by_one, &batched] {
        let mut txn = store.write().unwrap();
        for i in 0..2 {
            let event = AuditEvent::success(format!("op{i}"), vec![]);
            record_at(txn.as_mut(), &ctx, Actor::System, event, 1000).unwrap();
        }
        txn.commit().unwrap();
    }
    let mut txn = one_by_one.write().unwrap();
    for event in &events {
        record_at(txn.as_mut(), &ctx, actor.clone(), event.clone(), 1234).unwrap();
    }
    txn.commit().unwrap();
    let mut txn = batched.write().unwrap();
    let mut tail = ChainTail::default();
    for event in &events {
        tail.append(txn.as_mut(), &ctx, actor.clone(), event.clone(), 1234)
            .unwrap();
    }
    txn.commit().unwrap();
    let stored = |store: &MemoryStore| store.read().unwrap().audit_range(1, 10).unwrap();
    assert_eq!(stored(&one_by_one), stored(&batched));
    for (_, bytes) in stored(&batched) {
        // The hand-assembled stored form is serde's, byte for byte.
        assert_eq!(StoredRecord::from_bytes(&bytes).unwrap().to_bytes(), bytes);
    }
    assert_eq!(broken_at(&batched, &ctx), None);
    // Pending records (no key) take the same form with an empty MAC.
    let pending = StoredRecord {
        record: StoredRecord::from_bytes(&stored(&batched)[3].1)
            .unwrap()
            .record,
        mac: String::new(),
    };
    assert_eq!(
        record::stored_bytes(&pending.record.encode(), ""),
        pending.to_bytes()
    );
}
