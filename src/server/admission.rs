//! Who gets a connection slot. A peer without a certificate must never be able to lock the
//! real clients (vCenter, ESXi hosts) out, so connections live in two separate budgets:
//! - **unauthenticated** (accepted, TLS handshake not yet completed with a trusted
//!   certificate): small, capped per source address, and never refusing a newcomer: when
//!   full, the oldest connection of the source holding the most slots is evicted, so a real
//!   client's handshake always gets its turn;
//! - **authenticated**: `max_connections`, optionally capped per client identity. Only a
//!   completed mutual-TLS handshake moves a connection here, so no flood of strangers can
//!   take these slots.
//!
//! In front of the unauthenticated budget sits a large, cheap **silent pool**: a connection
//! that has sent nothing yet waits there (an idle socket, no TLS work), and enters the
//! unauthenticated budget only with its first byte. Silent sockets are the cheapest way to
//! hold connections, and the kernel's queues behind the listener are only 4096 deep: were
//! the server to close one silent connection for every one it accepts, an attacker
//! re-opening them would keep the accept queue full, and a real client's SYN would be
//! dropped (and retried a second later). Holding more silent connections than an attacker
//! re-opens keeps that queue empty; the first-byte deadline closes them. The pool has the
//! same shape as the budget: a per-source cap (a quarter of the pool) where a newcomer
//! replaces its own address's oldest, and when full the oldest of the heaviest source goes.
//!
//! It also keeps, per source address, a token bucket of full handshakes that did not end in
//! an authenticated client (each costs a private-key operation): an address that spent its
//! tokens is served session resumption only until the bucket refills.
//!
//! Pure bookkeeping, no sockets and no clock of its own (the caller passes `now`), so the
//! edges are unit-tested exactly. The event loop (`event_loop.rs`) applies the decisions.

use std::collections::{BTreeMap, HashMap};
use std::hash::Hash;
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// The limits, from `[server]` in the configuration.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Budgets {
    /// Authenticated connections (`max_connections`).
    pub max_authenticated: usize,
    /// Authenticated connections of one client identity; `None`: no cap of its own.
    pub max_per_identity: Option<usize>,
    pub max_unauthenticated: usize,
    pub max_unauthenticated_per_source: usize,
    /// Tokens added per second to a source's full-handshake bucket.
    pub handshake_rate_per_source: f64,
    /// Bucket capacity: full handshakes a source may start in a burst.
    pub handshake_burst_per_source: f64,
    /// Connections that have sent nothing yet (`max_silent_connections`).
    pub max_silent: usize,
}

impl Budgets {
    /// Silent connections one source may hold: a quarter of the pool, as
    /// `max_unauthenticated_per_ip` is by default a quarter of its budget.
    pub fn max_silent_per_source(&self) -> usize {
        (self.max_silent / 4).max(1)
    }
}

/// Why an unauthenticated connection was closed to make room.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Eviction {
    /// Its source address reached `max_unauthenticated_per_ip`: the newcomer from the same
    /// address replaces that address's oldest connection, and no other address's.
    SourceCap,
    /// The whole unauthenticated budget was full: the oldest connection of the source
    /// holding the most slots made room.
    BudgetFull,
    /// Its source holds a quarter of the silent pool: the newcomer replaces that source's
    /// oldest silent connection.
    SilentSourceCap,
    /// The silent pool was full: the oldest silent connection of the source holding the most
    /// made room.
    SilentPoolFull,
}

/// The outcome of a completed handshake's request for an authenticated slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Promotion {
    Admitted,
    /// `max_connections` authenticated connections are open already.
    BudgetFull,
    /// This client identity holds its maximum already.
    IdentityCap,
}

/// What counts as one source: an IPv4 address, or the /64 of an IPv6 address (a single host
/// is commonly given a whole /64, so counting each address would make the caps meaningless).
pub(super) fn source_of(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(v4) => IpAddr::V4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let prefix = u128::from(v6) & !((1u128 << 64) - 1);
                IpAddr::V6(prefix.into())
            }
        },
    }
}

#[derive(Debug)]
struct Pending {
    source: IpAddr,
    /// Admission order, for "oldest first".
    seq: u64,
    admitted_at: Instant,
    /// At least one byte arrived (the first-byte deadline no longer applies).
    spoke: bool,
}

/// A token bucket: `tokens` as of `updated`.
#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    updated: Instant,
}

impl Bucket {
    fn full(budgets: &Budgets, now: Instant) -> Bucket {
        Bucket {
            tokens: budgets.handshake_burst_per_source,
            updated: now,
        }
    }

    fn refill(&mut self, budgets: &Budgets, now: Instant) {
        let elapsed = now.saturating_duration_since(self.updated).as_secs_f64();
        self.tokens = (self.tokens + elapsed * budgets.handshake_rate_per_source)
            .min(budgets.handshake_burst_per_source);
        self.updated = now;
    }
}

/// Connections per source, oldest first (admission order).
type BySource<K> = HashMap<IpAddr, BTreeMap<u64, K>>;

/// A connection in the silent pool: accepted, nothing received yet.
#[derive(Debug)]
struct Parked {
    ip: IpAddr,
    seq: u64,
    parked_at: Instant,
}

/// The bookkeeping of every open connection, keyed by the caller's connection key.
pub(super) struct Admission<K> {
    budgets: Budgets,
    next_seq: u64,
    /// The silent pool, in front of the unauthenticated budget.
    parked: HashMap<K, Parked>,
    parked_by_source: BySource<K>,
    unauthenticated: HashMap<K, Pending>,
    /// Per source, its unauthenticated connections oldest first.
    by_source: BySource<K>,
    /// Authenticated connection → its identity.
    authenticated: HashMap<K, String>,
    per_identity: HashMap<String, usize>,
    buckets: HashMap<IpAddr, Bucket>,
}

impl<K: Copy + Eq + Hash> Admission<K> {
    pub(super) fn new(budgets: Budgets) -> Admission<K> {
        Admission {
            budgets,
            next_seq: 0,
            parked: HashMap::new(),
            parked_by_source: HashMap::new(),
            unauthenticated: HashMap::new(),
            by_source: HashMap::new(),
            authenticated: HashMap::new(),
            per_identity: HashMap::new(),
            buckets: HashMap::new(),
        }
    }

    pub(super) fn unauthenticated(&self) -> usize {
        self.unauthenticated.len()
    }

    pub(super) fn authenticated(&self) -> usize {
        self.authenticated.len()
    }

    /// Connections in the silent pool.
    pub(super) fn parked(&self) -> usize {
        self.parked.len()
    }

    /// Takes a new connection from `ip` into the silent pool; its first byte moves it into
    /// the unauthenticated budget (`spoke`). Never refuses: when its source or the pool is
    /// full, returns the connection the caller must close.
    pub(super) fn park(&mut self, key: K, ip: IpAddr, now: Instant) -> Option<(K, Eviction)> {
        let source = source_of(ip);
        let from_source = self.parked_by_source.get(&source).map_or(0, BTreeMap::len);
        let evicted = if from_source >= self.budgets.max_silent_per_source() {
            oldest_of(&self.parked_by_source, source).map(|k| (k, Eviction::SilentSourceCap))
        } else if self.parked.len() >= self.budgets.max_silent {
            heaviest_source(&self.parked_by_source)
                .and_then(|heaviest| oldest_of(&self.parked_by_source, heaviest))
                .map(|k| (k, Eviction::SilentPoolFull))
        } else {
            None
        };
        if let Some((old, _)) = evicted {
            self.release(old);
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        self.parked.insert(
            key,
            Parked {
                ip,
                seq,
                parked_at: now,
            },
        );
        self.parked_by_source
            .entry(source)
            .or_default()
            .insert(seq, key);
        evicted
    }

    /// Takes a new connection from `ip` into the unauthenticated budget. Never refuses: when
    /// its source or the budget is full, returns the connection the caller must close.
    pub(super) fn admit(&mut self, key: K, ip: IpAddr, now: Instant) -> Option<(K, Eviction)> {
        let source = source_of(ip);
        let from_source = self.by_source.get(&source).map_or(0, BTreeMap::len);
        let evicted = if from_source >= self.budgets.max_unauthenticated_per_source {
            oldest_of(&self.by_source, source).map(|k| (k, Eviction::SourceCap))
        } else if self.unauthenticated.len() >= self.budgets.max_unauthenticated {
            heaviest_source(&self.by_source)
                .and_then(|heaviest| oldest_of(&self.by_source, heaviest))
                .map(|k| (k, Eviction::BudgetFull))
        } else {
            None
        };
        if let Some((old, _)) = evicted {
            self.release(old);
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        self.unauthenticated.insert(
            key,
            Pending {
                source,
                seq,
                admitted_at: now,
                spoke: false,
            },
        );
        self.by_source.entry(source).or_default().insert(seq, key);
        evicted
    }

    /// The first byte of an unauthenticated connection arrived. A connection leaving the
    /// silent pool enters the unauthenticated budget, which may give up an older
    /// connection for it: returned for the caller to close.
    pub(super) fn spoke(&mut self, key: K) -> Option<(K, Eviction)> {
        let evicted = match self.parked.get(&key) {
            Some(parked) => {
                let (ip, parked_at) = (parked.ip, parked.parked_at);
                self.release(key);
                self.admit(key, ip, parked_at)
            }
            None => None,
        };
        if let Some(pending) = self.unauthenticated.get_mut(&key) {
            pending.spoke = true;
        }
        evicted
    }

    /// Connections that sent nothing within `timeout` of being accepted.
    pub(super) fn silent(&self, now: Instant, timeout: Duration) -> Vec<K> {
        let expired = |since: Instant| now.saturating_duration_since(since) >= timeout;
        let parked = self
            .parked
            .iter()
            .filter(|(_, p)| expired(p.parked_at))
            .map(|(k, _)| *k);
        self.unauthenticated
            .iter()
            .filter(|(_, p)| !p.spoke && expired(p.admitted_at))
            .map(|(k, _)| *k)
            .chain(parked)
            .collect()
    }

    /// Moves a connection whose handshake completed as `identity` into the authenticated
    /// budget. On refusal it is no longer tracked at all: the caller closes it.
    pub(super) fn promote(&mut self, key: K, identity: &str) -> Promotion {
        self.release(key);
        if self.authenticated.len() >= self.budgets.max_authenticated {
            return Promotion::BudgetFull;
        }
        let held = self.per_identity.get(identity).copied().unwrap_or(0);
        if self.budgets.max_per_identity.is_some_and(|cap| held >= cap) {
            return Promotion::IdentityCap;
        }
        self.authenticated.insert(key, identity.to_string());
        *self.per_identity.entry(identity.to_string()).or_insert(0) += 1;
        Promotion::Admitted
    }

    /// Forgets a closed connection, whichever budget held it.
    pub(super) fn release(&mut self, key: K) {
        if let Some(parked) = self.parked.remove(&key) {
            forget(&mut self.parked_by_source, source_of(parked.ip), parked.seq);
        }
        if let Some(pending) = self.unauthenticated.remove(&key) {
            forget(&mut self.by_source, pending.source, pending.seq);
        }
        if let Some(identity) = self.authenticated.remove(&key)
            && let Some(held) = self.per_identity.get_mut(&identity)
        {
            *held -= 1;
            if *held == 0 {
                self.per_identity.remove(&identity);
            }
        }
    }

    /// Whether a new connection from `ip` may run a full handshake (a private-key operation);
    /// when not, only session resumption is served to it.
    pub(super) fn may_handshake_fully(&mut self, ip: IpAddr, now: Instant) -> bool {
        let budgets = self.budgets;
        match self.buckets.get_mut(&source_of(ip)) {
            Some(bucket) => {
                bucket.refill(&budgets, now);
                bucket.tokens >= 1.0
            }
            None => budgets.handshake_burst_per_source >= 1.0,
        }
    }

    /// A full handshake from `ip` began: one token, given back if it ends authenticated.
    pub(super) fn charge_full_handshake(&mut self, ip: IpAddr, now: Instant) {
        let budgets = self.budgets;
        let bucket = self
            .buckets
            .entry(source_of(ip))
            .or_insert_with(|| Bucket::full(&budgets, now));
        bucket.refill(&budgets, now);
        bucket.tokens = (bucket.tokens - 1.0).max(0.0);
    }

    /// The full handshake charged for `ip` produced an authenticated client.
    pub(super) fn refund_full_handshake(&mut self, ip: IpAddr, now: Instant) {
        let budgets = self.budgets;
        if let Some(bucket) = self.buckets.get_mut(&source_of(ip)) {
            bucket.refill(&budgets, now);
            bucket.tokens = (bucket.tokens + 1.0).min(budgets.handshake_burst_per_source);
        }
    }

    /// Drops buckets that have refilled completely (they equal a fresh one), so the map only
    /// holds sources seen recently.
    pub(super) fn forget_full_buckets(&mut self, now: Instant) {
        let budgets = self.budgets;
        self.buckets.retain(|_, bucket| {
            bucket.refill(&budgets, now);
            bucket.tokens < budgets.handshake_burst_per_source
        });
    }
}

/// The oldest connection of `source`.
fn oldest_of<K: Copy>(by_source: &BySource<K>, source: IpAddr) -> Option<K> {
    by_source
        .get(&source)
        .and_then(|conns| conns.values().next().copied())
}

/// The source with the most connections; among equals, the one whose oldest connection is
/// oldest.
fn heaviest_source<K>(by_source: &BySource<K>) -> Option<IpAddr> {
    by_source
        .iter()
        .filter_map(|(source, conns)| {
            let oldest = conns.keys().next()?;
            Some((conns.len(), std::cmp::Reverse(*oldest), *source))
        })
        .max()
        .map(|(_, _, source)| source)
}

/// Removes connection `seq` from its source's list, and the source once it holds none.
fn forget<K>(by_source: &mut BySource<K>, source: IpAddr, seq: u64) {
    if let Some(conns) = by_source.get_mut(&source) {
        conns.remove(&seq);
        if conns.is_empty() {
            by_source.remove(&source);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn budgets() -> Budgets {
        Budgets {
            max_authenticated: 3,
            max_per_identity: None,
            max_unauthenticated: 4,
            max_unauthenticated_per_source: 2,
            handshake_rate_per_source: 2.0,
            handshake_burst_per_source: 3.0,
            max_silent: 8,
        }
    }

    fn ip(last: u8) -> IpAddr {
        IpAddr::from([127, 0, 0, last])
    }

    #[test]
    fn exactly_full_evicts_nothing_and_one_over_evicts_the_oldest_of_the_heaviest_source() {
        let now = Instant::now();
        let mut a = Admission::new(budgets());
        assert_eq!(a.admit(1, ip(2), now), None);
        assert_eq!(a.admit(2, ip(3), now), None);
        assert_eq!(a.admit(3, ip(3), now), None);
        assert_eq!(a.admit(4, ip(4), now), None);
        assert_eq!(a.unauthenticated(), 4, "exactly full");
        // One over: source .3 holds two, the others one; its oldest (2) goes.
        assert_eq!(a.admit(5, ip(5), now), Some((2, Eviction::BudgetFull)));
        assert_eq!(a.unauthenticated(), 4);
        // Now every source holds one: the oldest overall (1, from .2) goes.
        assert_eq!(a.admit(6, ip(6), now), Some((1, Eviction::BudgetFull)));
        assert_eq!(a.unauthenticated(), 4);
    }

    #[test]
    fn a_source_at_its_cap_replaces_its_own_oldest_never_another_sources() {
        let now = Instant::now();
        let mut a = Admission::new(budgets());
        assert_eq!(a.admit(1, ip(9), now), None);
        assert_eq!(a.admit(2, ip(2), now), None);
        assert_eq!(a.admit(3, ip(2), now), None);
        assert_eq!(a.admit(4, ip(2), now), Some((2, Eviction::SourceCap)));
        assert_eq!(a.admit(5, ip(2), now), Some((3, Eviction::SourceCap)));
        assert_eq!(a.unauthenticated(), 3, "connection 1 of .9 untouched");
        a.release(4);
        assert_eq!(a.admit(6, ip(2), now), None, "a freed slot is taken first");
    }

    #[test]
    fn ipv6_counts_per_slash_64() {
        let a: IpAddr = "2001:db8:1:2::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:ffff::9".parse().unwrap();
        let c: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(source_of(a), source_of(b));
        assert_ne!(source_of(a), source_of(c));
        let mapped: IpAddr = "::ffff:10.0.0.1".parse().unwrap();
        assert_eq!(source_of(mapped), IpAddr::from([10, 0, 0, 1]));
    }

    #[test]
    fn the_authenticated_budget_is_untouched_by_unauthenticated_churn() {
        let now = Instant::now();
        let mut a = Admission::new(budgets());
        for key in 0..3 {
            assert_eq!(a.admit(key, ip(1), now), None);
            assert_eq!(a.promote(key, "cn:vc"), Promotion::Admitted);
        }
        // A flood of strangers cycles through the unauthenticated budget only.
        for key in 100..200 {
            if let Some((evicted, _)) = a.admit(key, ip(2 + (key % 7) as u8), now) {
                assert!(evicted >= 100, "evicted authenticated connection {evicted}");
            }
        }
        assert_eq!(a.authenticated(), 3);
        assert!(a.unauthenticated() <= 4);
    }

    #[test]
    fn authenticated_budget_exactly_full_then_one_over_is_refused() {
        let now = Instant::now();
        let mut a = Admission::new(budgets());
        for key in 0..3 {
            a.admit(key, ip(1), now);
            a.release(key + 100); // unknown keys are ignored
            assert_eq!(a.promote(key, &format!("cn:c{key}")), Promotion::Admitted);
        }
        a.admit(3, ip(1), now);
        assert_eq!(a.promote(3, "cn:c3"), Promotion::BudgetFull);
        assert_eq!(a.unauthenticated(), 0, "a refused promotion is forgotten");
        a.release(0);
        a.admit(4, ip(1), now);
        assert_eq!(a.promote(4, "cn:c4"), Promotion::Admitted);
    }

    #[test]
    fn per_identity_cap() {
        let now = Instant::now();
        let mut a = Admission::new(Budgets {
            max_per_identity: Some(2),
            ..budgets()
        });
        for key in 0..2 {
            a.admit(key, ip(1), now);
            assert_eq!(a.promote(key, "cn:vc"), Promotion::Admitted);
        }
        a.admit(2, ip(1), now);
        assert_eq!(a.promote(2, "cn:vc"), Promotion::IdentityCap);
        a.admit(3, ip(1), now);
        assert_eq!(a.promote(3, "cn:other"), Promotion::Admitted);
        a.release(1);
        a.admit(4, ip(1), now);
        assert_eq!(a.promote(4, "cn:vc"), Promotion::Admitted);
    }

    #[test]
    fn silent_connections_are_named_at_their_deadline_not_before() {
        let start = Instant::now();
        let timeout = Duration::from_secs(2);
        let mut a = Admission::new(budgets());
        a.admit(1, ip(2), start);
        a.admit(2, ip(3), start);
        a.spoke(2);
        assert!(
            a.silent(start + timeout - Duration::from_millis(1), timeout)
                .is_empty()
        );
        assert_eq!(a.silent(start + timeout, timeout), vec![1]);
        a.release(1);
        assert!(a.silent(start + timeout * 10, timeout).is_empty());
    }

    #[test]
    fn handshake_bucket_drains_refills_and_refunds() {
        let start = Instant::now();
        let mut a: Admission<u32> = Admission::new(budgets());
        let source = ip(7);
        for _ in 0..3 {
            assert!(a.may_handshake_fully(source, start));
            a.charge_full_handshake(source, start);
        }
        assert!(!a.may_handshake_fully(source, start), "burst of 3 spent");
        assert!(
            a.may_handshake_fully(ip(8), start),
            "other sources unaffected"
        );
        // 2 tokens per second: one is back after half a second, not before.
        assert!(!a.may_handshake_fully(source, start + Duration::from_millis(499)));
        assert!(a.may_handshake_fully(source, start + Duration::from_millis(500)));
        // Never more than the burst, however long the pause.
        let later = start + Duration::from_secs(3600);
        for _ in 0..3 {
            assert!(a.may_handshake_fully(source, later));
            a.charge_full_handshake(source, later);
        }
        assert!(!a.may_handshake_fully(source, later));
        // A handshake that authenticated gives its token back.
        a.refund_full_handshake(source, later);
        assert!(a.may_handshake_fully(source, later));
    }

    #[test]
    fn refilled_buckets_are_forgotten() {
        let start = Instant::now();
        let mut a: Admission<u32> = Admission::new(budgets());
        a.charge_full_handshake(ip(7), start);
        a.forget_full_buckets(start);
        assert_eq!(a.buckets.len(), 1);
        a.forget_full_buckets(start + Duration::from_millis(500));
        assert!(a.buckets.is_empty());
    }

    #[test]
    fn silent_pool_exactly_full_evicts_nothing_and_one_over_evicts_the_heaviest_sources_oldest() {
        let now = Instant::now();
        let mut a = Admission::new(budgets());
        // Pool of 8, a quarter (2) per source.
        for (key, last) in [
            (1, 2),
            (2, 2),
            (3, 3),
            (4, 3),
            (5, 4),
            (6, 4),
            (7, 5),
            (8, 6),
        ] {
            assert_eq!(a.park(key, ip(last), now), None);
        }
        assert_eq!(a.parked(), 8, "exactly full");
        assert_eq!(
            a.unauthenticated(),
            0,
            "silent connections hold no budget slot"
        );
        // One over: .2, .3 and .4 hold two each; .2's oldest is the oldest among them.
        assert_eq!(a.park(9, ip(7), now), Some((1, Eviction::SilentPoolFull)));
        assert_eq!(a.parked(), 8);
    }

    #[test]
    fn a_source_at_its_silent_cap_replaces_its_own_oldest() {
        let now = Instant::now();
        let mut a = Admission::new(budgets());
        assert_eq!(a.park(1, ip(9), now), None);
        assert_eq!(a.park(2, ip(2), now), None);
        assert_eq!(a.park(3, ip(2), now), None);
        assert_eq!(a.park(4, ip(2), now), Some((2, Eviction::SilentSourceCap)));
        assert_eq!(a.parked(), 3, "connection 1 of .9 untouched");
        a.release(3);
        assert_eq!(a.park(5, ip(2), now), None, "a freed slot is taken first");
    }

    #[test]
    fn the_first_byte_moves_a_silent_connection_into_the_budget_which_may_evict() {
        let now = Instant::now();
        let mut a = Admission::new(budgets());
        // The budget (4, 2 per source) holds two from .3 and two from .4: exactly full.
        for (key, last) in [(1, 3), (2, 3), (3, 4), (4, 4)] {
            assert_eq!(a.admit(key, ip(last), now), None);
        }
        assert_eq!(a.park(10, ip(5), now), None);
        assert_eq!(a.park(11, ip(5), now), None);
        assert_eq!(a.unauthenticated(), 4);
        // Speaking takes a budget slot: the oldest of the heaviest source (.3) goes.
        assert_eq!(a.spoke(10), Some((1, Eviction::BudgetFull)));
        assert_eq!((a.parked(), a.unauthenticated()), (1, 4));
        // Speaking again changes nothing; a silent one is not in the budget until it speaks.
        assert_eq!(a.spoke(10), None);
        assert_eq!(a.spoke(99), None, "unknown keys are ignored");
        assert_eq!(a.promote(10, "cn:vc"), Promotion::Admitted);
        assert_eq!(
            (a.parked(), a.unauthenticated(), a.authenticated()),
            (1, 3, 1)
        );
        assert_eq!(a.spoke(11), None, "a freed budget slot is taken first");
    }

    #[test]
    fn silent_pool_connections_are_named_at_their_deadline_not_before() {
        let start = Instant::now();
        let timeout = Duration::from_secs(2);
        let mut a = Admission::new(budgets());
        a.park(1, ip(2), start);
        a.park(2, ip(3), start);
        a.spoke(2);
        let just_before = start + timeout - Duration::from_millis(1);
        assert!(a.silent(just_before, timeout).is_empty());
        assert_eq!(a.silent(start + timeout, timeout), vec![1]);
        a.release(1);
        assert_eq!(a.parked(), 0);
        assert!(a.silent(start + timeout * 10, timeout).is_empty());
    }
}
