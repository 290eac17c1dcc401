//! In what order, and for how long per loop turn, the event loop serves connections that have
//! no client yet. The loop is one thread, and a full TLS handshake costs the server a
//! signature (1-2 ms): served all at once, a burst of ClientHellos from peers without a
//! certificate is one turn of dozens of signatures, and every real client's next request (and
//! every answer the committer sends back) waits for the whole burst. So their readiness is
//! queued here, and each turn serves the queue only until a small time slice is spent; what is
//! left waits for the next turn, which the loop starts without waiting, after serving the
//! authenticated clients again.
//!
//! The queue favours connections likely to be real clients:
//! 1. handshakes already past the server's signature (what is left is the client's
//!    certificate and Finished: cheap to check, and the flight that makes a client);
//! 2. connections from addresses in good standing (none of their full handshakes of the last
//!    10 s remains without the authentication that gives its token back, `admission.rs`);
//! 3. connections from addresses whose full handshakes recently ended without a client;
//!
//! first in, first out within a class. Readiness is edge-triggered, so a queued connection
//! brings no new event: it stays queued (in its place) until it is served or closed.
//!
//! Sans-IO, like `admission.rs`: keys and instants are the caller's, so order, slice ends and
//! removal are unit-tested without a clock.

use std::collections::{BTreeMap, HashMap};
use std::hash::Hash;
use std::time::{Duration, Instant};

/// Which connections are served first; a lower class before a higher one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(super) enum Class {
    /// The server's flight (with its signature, for a full handshake) has left; the client's
    /// certificate and Finished are next.
    PastSignature,
    /// From an address none of whose recent full handshakes ended without a client.
    GoodStanding,
    /// From an address whose recent full handshakes ended without a client.
    RecentlyFailed,
}

/// One turn's time for the queue: it ends at `ends_at`, but always serves one connection,
/// so the queue moves however long a single handshake takes.
#[derive(Debug)]
pub(super) struct Slice {
    ends_at: Instant,
    served: usize,
}

impl Slice {
    pub(super) fn begin(now: Instant, budget: Duration) -> Slice {
        Slice {
            ends_at: now + budget,
            served: 0,
        }
    }

    /// Whether one more piece of work fits at `now` (counted if so): always the first, then
    /// until the slice ends. Also slices the loop's other work for strangers (closing the
    /// connections past their first-byte deadline).
    pub(super) fn take(&mut self, now: Instant) -> bool {
        if self.served > 0 && now >= self.ends_at {
            return false;
        }
        self.served += 1;
        true
    }
}

/// Connections waiting for service, each at most once.
#[derive(Debug)]
pub(super) struct HandshakeQueue<K> {
    /// (class, arrival) → connection: iteration order is service order.
    order: BTreeMap<(Class, u64), K>,
    /// Connection → its place in `order`.
    places: HashMap<K, (Class, u64)>,
    next_arrival: u64,
}

impl<K: Copy + Eq + Hash> HandshakeQueue<K> {
    pub(super) fn new() -> HandshakeQueue<K> {
        HandshakeQueue {
            order: BTreeMap::new(),
            places: HashMap::new(),
            next_arrival: 0,
        }
    }

    /// Connections waiting.
    pub(super) fn len(&self) -> usize {
        self.places.len()
    }

    pub(super) fn is_empty(&self) -> bool {
        self.places.is_empty()
    }

    /// Queues `key`'s readiness in `class`. One already waiting keeps its place: a new event
    /// adds nothing a single service does not take (it reads until the socket is empty).
    pub(super) fn push(&mut self, key: K, class: Class) {
        if self.places.contains_key(&key) {
            return;
        }
        let place = (class, self.next_arrival);
        self.next_arrival += 1;
        self.order.insert(place, key);
        self.places.insert(key, place);
    }

    /// Takes `key` out of the queue (served another way, or closed). Returns whether it was
    /// waiting.
    pub(super) fn remove(&mut self, key: K) -> bool {
        match self.places.remove(&key) {
            Some(place) => {
                self.order.remove(&place);
                true
            }
            None => false,
        }
    }

    /// The next connection to serve in `slice` at `now`, taken out of the queue; `None` when
    /// the queue is empty or the slice is spent (after its first connection).
    pub(super) fn next(&mut self, slice: &mut Slice, now: Instant) -> Option<K> {
        if self.order.is_empty() || !slice.take(now) {
            return None;
        }
        let (_, key) = self.order.pop_first()?;
        self.places.remove(&key);
        Some(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BUDGET: Duration = Duration::from_millis(2);

    /// Everything the queue hands out in one slice that never runs out.
    fn drain(queue: &mut HandshakeQueue<u32>) -> Vec<u32> {
        let now = Instant::now();
        let mut slice = Slice::begin(now, BUDGET);
        std::iter::from_fn(|| queue.next(&mut slice, now)).collect()
    }

    #[test]
    fn classes_in_order_first_in_first_out_within_each() {
        let mut q = HandshakeQueue::new();
        q.push(1, Class::RecentlyFailed);
        q.push(2, Class::GoodStanding);
        q.push(3, Class::RecentlyFailed);
        q.push(4, Class::PastSignature);
        q.push(5, Class::GoodStanding);
        q.push(6, Class::PastSignature);
        assert_eq!(drain(&mut q), [4, 6, 2, 5, 1, 3]);
        assert!(q.is_empty());
    }

    #[test]
    fn a_connection_waits_once_and_keeps_its_place() {
        let mut q = HandshakeQueue::new();
        q.push(1, Class::GoodStanding);
        q.push(2, Class::GoodStanding);
        q.push(1, Class::GoodStanding);
        q.push(1, Class::PastSignature);
        assert_eq!(q.len(), 2);
        assert_eq!(drain(&mut q), [1, 2]);
    }

    #[test]
    fn a_spent_slice_stops_and_what_is_left_waits_for_the_next_turn_in_order() {
        let start = Instant::now();
        let mut q = HandshakeQueue::new();
        for key in 0..5 {
            q.push(key, Class::RecentlyFailed);
        }
        let mut slice = Slice::begin(start, BUDGET);
        assert_eq!(q.next(&mut slice, start), Some(0));
        assert_eq!(q.next(&mut slice, start + BUDGET / 2), Some(1));
        assert_eq!(q.next(&mut slice, start + BUDGET), None, "slice spent");
        assert_eq!(q.next(&mut slice, start + BUDGET * 9), None);
        assert_eq!((slice.served, q.len()), (2, 3), "nothing lost");
        // A newcomer of a better class goes first next turn; the carried ones keep their order.
        q.push(9, Class::PastSignature);
        q.push(10, Class::RecentlyFailed);
        assert_eq!(drain(&mut q), [9, 2, 3, 4, 10]);
    }

    #[test]
    fn every_slice_serves_at_least_one_however_late_it_begins() {
        let start = Instant::now();
        let mut q = HandshakeQueue::new();
        q.push(1, Class::GoodStanding);
        q.push(2, Class::GoodStanding);
        let mut slice = Slice::begin(start, Duration::ZERO);
        assert_eq!(q.next(&mut slice, start + BUDGET), Some(1));
        assert_eq!(q.next(&mut slice, start + BUDGET), None);
        let mut empty = Slice::begin(start, BUDGET);
        assert_eq!(q.next(&mut empty, start), Some(2));
        assert_eq!(q.next(&mut empty, start), None, "queue empty");
    }

    #[test]
    fn a_slice_takes_one_piece_of_work_however_late_then_stops_at_its_end() {
        let start = Instant::now();
        let mut slice = Slice::begin(start, BUDGET);
        assert!(slice.take(start + BUDGET * 5), "the first always fits");
        assert!(!slice.take(start + BUDGET * 5));
        let mut slice = Slice::begin(start, BUDGET);
        assert!(slice.take(start));
        assert!(slice.take(start + BUDGET / 2));
        assert!(!slice.take(start + BUDGET), "spent");
        assert_eq!(slice.served, 2);
    }

    #[test]
    fn a_closed_connection_leaves_the_queue() {
        let mut q = HandshakeQueue::new();
        for key in 1..=3 {
            q.push(key, Class::GoodStanding);
        }
        assert!(q.remove(2));
        assert!(!q.remove(2), "already gone");
        assert!(!q.remove(7), "unknown keys are ignored");
        assert_eq!(q.len(), 2);
        assert_eq!(drain(&mut q), [1, 3]);
        // Queued again after being served: a new arrival, at the back of its class.
        q.push(1, Class::GoodStanding);
        q.push(3, Class::GoodStanding);
        assert!(q.remove(1));
        assert_eq!(drain(&mut q), [3]);
    }

    #[test]
    fn the_queue_never_holds_more_than_the_open_connections() {
        // Every connection re-announced on each of many turns, a few served per turn: the
        // queue holds each key at most once, so the connection budgets bound it.
        let start = Instant::now();
        let mut q = HandshakeQueue::new();
        for turn in 0..100u32 {
            for key in 0..50 {
                let class = if key % 3 == 0 {
                    Class::GoodStanding
                } else {
                    Class::RecentlyFailed
                };
                q.push(key, class);
            }
            let now = start + BUDGET * turn;
            let mut slice = Slice::begin(now, BUDGET);
            for _ in 0..3 {
                assert!(q.next(&mut slice, now).is_some());
            }
            assert!(q.len() <= 50);
            assert_eq!(q.order.len(), q.places.len());
        }
    }
}
