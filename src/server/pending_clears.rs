//! The objects whose first Get the loop answered while the clear of their Fresh flag still
//! waits in the read journal (`engine/fresh.rs`): until the committer has folded it, the
//! store's snapshots still say Fresh, and the loop's reads must not.
//!
//! Why the loop owns it, unshared: it is the only thread that opens snapshots for these reads
//! and the only one that adds to the set, and it forgets an object only once the journal
//! reports the fold durable ([`ReadJournal::folded`](crate::audit::read_journal::ReadJournal::folded)),
//! so every snapshot it opens afterwards holds the clear: no snapshot taken before the fold can
//! be read after its entry is gone. An entry kept a little longer only says "not Fresh" once
//! more, which stays true: Fresh is server-managed and never set again.
//!
//! Bounded by the journal itself: it refuses records beyond its backlog
//! ([`MAX_PENDING`](crate::audit::read_journal::MAX_PENDING)), and a read it refuses goes to
//! the committer, whose Get clears Fresh durably instead.

use std::collections::{HashMap, VecDeque};

#[derive(Default)]
pub(super) struct PendingClears {
    /// The journal's count of appended records after each clear's record, in append order.
    order: VecDeque<(u64, String)>,
    /// How many clears of each object wait (a second Get in the same loop turn, before the
    /// first's record was written, clears it again).
    waiting: HashMap<String, usize>,
}

impl PendingClears {
    /// Whether a clear of `uid` waits in the journal.
    pub(super) fn contains(&self, uid: &str) -> bool {
        self.waiting.contains_key(uid)
    }

    pub(super) fn is_empty(&self) -> bool {
        self.order.is_empty()
    }

    /// The records clearing `uids` were appended; `appended` is the journal's count of
    /// appended records after them.
    pub(super) fn journalled(&mut self, uids: Vec<String>, appended: u64) {
        for uid in uids {
            *self.waiting.entry(uid.clone()).or_default() += 1;
            self.order.push_back((appended, uid));
        }
    }

    /// Forgets the clears whose fold is durable: those among the first `folded` records.
    pub(super) fn folded(&mut self, folded: u64) {
        while let Some((appended, _)) = self.order.front()
            && *appended <= folded
        {
            let Some((_, uid)) = self.order.pop_front() else {
                break;
            };
            if let Some(count) = self.waiting.get_mut(&uid) {
                *count -= 1;
                if *count == 0 {
                    self.waiting.remove(&uid);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn uids(names: &[&str]) -> Vec<String> {
        names.iter().map(|n| n.to_string()).collect()
    }

    #[test]
    fn a_clear_is_kept_until_the_fold_reaches_its_record_exactly() {
        let mut pending = PendingClears::default();
        pending.journalled(uids(&["a"]), 3);
        pending.journalled(uids(&["b", "c"]), 5);
        pending.folded(2);
        assert!(pending.contains("a"), "one record short of a's");
        pending.folded(3);
        assert!(!pending.contains("a"));
        assert!(pending.contains("b") && pending.contains("c"));
        pending.folded(4);
        assert!(pending.contains("b"), "one record short of b's and c's");
        pending.folded(5);
        assert!(!pending.contains("b") && !pending.contains("c"));
        assert!(pending.is_empty());
    }

    #[test]
    fn an_object_cleared_twice_waits_for_its_second_clear() {
        let mut pending = PendingClears::default();
        pending.journalled(uids(&["a"]), 1);
        pending.journalled(uids(&["a"]), 2);
        pending.folded(1);
        assert!(pending.contains("a"));
        pending.folded(2);
        assert!(!pending.contains("a"));
        assert!(pending.is_empty());
    }

    #[test]
    fn a_fold_that_has_not_moved_forgets_nothing() {
        let mut pending = PendingClears::default();
        pending.journalled(uids(&["a"]), 10);
        pending.folded(0);
        pending.folded(9);
        assert!(pending.contains("a"));
        assert!(!pending.is_empty());
    }
}
