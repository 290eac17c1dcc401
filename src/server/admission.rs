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

/// The bookkeeping of every open connection, keyed by the caller's connection key.
pub(super) struct Admission<K> {
    budgets: Budgets,
    next_seq: u64,
    unauthenticated: HashMap<K, Pending>,
    /// Per source, its unauthenticated connections oldest first.
    by_source: HashMap<IpAddr, BTreeMap<u64, K>>,
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

    /// Takes a new connection from `ip` into the unauthenticated budget. Never refuses: when
    /// its source or the budget is full, returns the connection the caller must close.
    pub(super) fn admit(&mut self, key: K, ip: IpAddr, now: Instant) -> Option<(K, Eviction)> {
        let source = source_of(ip);
        let from_source = self.by_source.get(&source).map_or(0, BTreeMap::len);
        let evicted = if from_source >= self.budgets.max_unauthenticated_per_source {
            self.oldest_of(source).map(|k| (k, Eviction::SourceCap))
        } else if self.unauthenticated.len() >= self.budgets.max_unauthenticated {
            self.heaviest_source()
                .and_then(|heaviest| self.oldest_of(heaviest))
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

    fn oldest_of(&self, source: IpAddr) -> Option<K> {
        self.by_source
            .get(&source)
            .and_then(|conns| conns.values().next().copied())
    }

    /// The source with the most unauthenticated connections; among equals, the one whose
    /// oldest connection is oldest.
    fn heaviest_source(&self) -> Option<IpAddr> {
        self.by_source
            .iter()
            .filter_map(|(source, conns)| {
                let oldest = conns.keys().next()?;
                Some((conns.len(), std::cmp::Reverse(*oldest), *source))
            })
            .max()
            .map(|(_, _, source)| source)
    }

    /// The first byte of an unauthenticated connection arrived.
    pub(super) fn spoke(&mut self, key: K) {
        if let Some(pending) = self.unauthenticated.get_mut(&key) {
            pending.spoke = true;
        }
    }

    /// Unauthenticated connections that sent nothing within `timeout` of being accepted.
    pub(super) fn silent(&self, now: Instant, timeout: Duration) -> Vec<K> {
        self.unauthenticated
            .iter()
            .filter(|(_, p)| !p.spoke && now.saturating_duration_since(p.admitted_at) >= timeout)
            .map(|(k, _)| *k)
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
        if let Some(pending) = self.unauthenticated.remove(&key)
            && let Some(conns) = self.by_source.get_mut(&pending.source)
        {
            conns.remove(&pending.seq);
            if conns.is_empty() {
                self.by_source.remove(&pending.source);
            }
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
}
