//! Continuous retention on a running server: pruning in bounded bites keeps the chain
//! verifiable after every bite and ends with only the records inside the retention.

use zeroize::Zeroizing;

use super::*;
use crate::store::Store;
use crate::store::memory::MemoryStore;

#[test]
fn pruning_in_bites_keeps_the_chain_verifiable_after_each_bite() {
    let store = MemoryStore::new();
    let ctx = AuditContext::from_master(&MasterKey::from_bytes(Zeroizing::new([7u8; 32])));
    let key = ctx.key().unwrap().clone();
    let old = now_ms() - 10 * 86_400_000;
    let mut txn = store.write().unwrap();
    for i in 0..10 {
        let event = AuditEvent::success("Get", vec![format!("old-{i}")]);
        record_at(txn.as_mut(), &ctx, Actor::System, event, old + i).unwrap();
    }
    for i in 0..3 {
        let event = AuditEvent::success("Get", vec![format!("new-{i}")]);
        record(txn.as_mut(), &ctx, Actor::System, event).unwrap();
    }
    txn.commit().unwrap();
    let cutoff = now_ms() - 86_400_000;
    let mut bites = 0;
    loop {
        let mut txn = store.write().unwrap();
        let removed = prune::prune_before_at_most(txn.as_mut(), &key, cutoff, 3).unwrap();
        txn.commit().unwrap();
        let report = verify::verify(&*store.read().unwrap(), &key).unwrap();
        assert!(report.broken.is_none(), "after bite {bites}: {report:?}");
        if removed == 0 {
            break;
        }
        bites += 1;
        assert!(removed <= 4, "a bite removed {removed} records");
    }
    assert!(bites >= 3, "only {bites} bite(s)");
    // What is left: the checkpoint and the three records inside the retention.
    let left = store.read().unwrap().audit_range(0, usize::MAX).unwrap();
    assert_eq!(left.len(), 4);
}
