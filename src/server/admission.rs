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
    /// When the latest full handshake was charged that no authentication has given back
    /// (`None` once one did): the source's standing.
    charged_at: Option<Instant>,
}

/// How long a full handshake that ended without a client (or has not ended yet) costs its
/// source its good standing. Not the bucket's refill time: at the default 10 tokens a second
/// a bucket is full again 100 ms after a failure, and an attacker failing just under the rate
/// would look good most of the time.
const STANDING_MEMORY: Duration = Duration::from_secs(10);

impl Bucket {
    fn full(budgets: &Budgets, now: Instant) -> Bucket {
        Bucket {
            tokens: budgets.handshake_burst_per_source,
            updated: now,
            charged_at: None,
        }
    }

    /// A charge no authentication gave back, within [`STANDING_MEMORY`] of `now`.
    fn recently_charged(&self, now: Instant) -> bool {
        self.charged_at
            .is_some_and(|at| now.saturating_duration_since(at) < STANDING_MEMORY)
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
        let evicted = displaced(
            &self.parked_by_source,
            source,
            (self.parked.len(), self.budgets.max_silent),
            self.budgets.max_silent_per_source(),
        )
        .map(|(k, limit)| match limit {
            Limit::Source => (k, Eviction::SilentSourceCap),
            Limit::Pool => (k, Eviction::SilentPoolFull),
        });
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
        let evicted = displaced(
            &self.by_source,
            source,
            (self.unauthenticated.len(), self.budgets.max_unauthenticated),
            self.budgets.max_unauthenticated_per_source,
        )
        .map(|(k, limit)| match limit {
            Limit::Source => (k, Eviction::SourceCap),
            Limit::Pool => (k, Eviction::BudgetFull),
        });
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

    /// Whether `key` has still sent nothing: a connection named by [`silent`](Self::silent)
    /// whose first byte arrived before it was closed keeps its slot.
    pub(super) fn still_silent(&self, key: K) -> bool {
        self.parked.contains_key(&key) || self.unauthenticated.get(&key).is_some_and(|p| !p.spoke)
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

    /// Whether `ip`'s source is in good standing at `now`: no full handshake of it charged
    /// within [`STANDING_MEMORY`] remains without the authentication that gives its token
    /// back. The event loop serves such sources' handshakes before those of sources that
    /// recently failed (`handshake_queue.rs`).
    pub(super) fn in_good_standing(&self, ip: IpAddr, now: Instant) -> bool {
        self.buckets
            .get(&source_of(ip))
            .is_none_or(|bucket| !bucket.recently_charged(now))
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
        bucket.charged_at = Some(now);
    }

    /// The full handshake charged for `ip` produced an authenticated client.
    pub(super) fn refund_full_handshake(&mut self, ip: IpAddr, now: Instant) {
        let budgets = self.budgets;
        if let Some(bucket) = self.buckets.get_mut(&source_of(ip)) {
            bucket.refill(&budgets, now);
            bucket.tokens = (bucket.tokens + 1.0).min(budgets.handshake_burst_per_source);
            bucket.charged_at = None;
        }
    }

    /// Drops buckets that have refilled completely and whose source is in good standing
    /// (they equal a fresh one), so the map only holds sources seen recently.
    pub(super) fn forget_full_buckets(&mut self, now: Instant) {
        let budgets = self.budgets;
        self.buckets.retain(|_, bucket| {
            bucket.refill(&budgets, now);
            bucket.tokens < budgets.handshake_burst_per_source || bucket.recently_charged(now)
        });
    }
}

/// Which limit of a pool (the silent pool, the unauthenticated budget) a newcomer hit.
enum Limit {
    /// Its source holds its share already.
    Source,
    /// The pool is full.
    Pool,
}

/// The connection a newcomer from `source` displaces from a pool whose connections are
/// `by_source`, holding `(held, capacity)`, at most `per_source` per source: at its source's
/// cap that source's oldest, else when the pool is full the oldest of the heaviest source.
fn displaced<K: Copy>(
    by_source: &BySource<K>,
    source: IpAddr,
    (held, capacity): (usize, usize),
    per_source: usize,
) -> Option<(K, Limit)> {
    let from_source = by_source.get(&source).map_or(0, BTreeMap::len);
    if from_source >= per_source {
        oldest_of(by_source, source).map(|k| (k, Limit::Source))
    } else if held >= capacity {
        heaviest_source(by_source)
            .and_then(|heaviest| oldest_of(by_source, heaviest))
            .map(|k| (k, Limit::Pool))
    } else {
        None
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

    /// The silent pool and the unauthenticated budget have the same shape (a size, a cap per
    /// source, a first-byte deadline); their common edges are tested on both.
    #[derive(Debug, Clone, Copy)]
    enum Pool {
        Unauthenticated,
        Silent,
    }

    const POOLS: [Pool; 2] = [Pool::Unauthenticated, Pool::Silent];

    impl Pool {
        /// A new connection `key` from 127.0.0.`last` into this pool.
        fn enter(
            self,
            a: &mut Admission<u32>,
            key: u32,
            last: u8,
            now: Instant,
        ) -> Option<(u32, Eviction)> {
            match self {
                Pool::Unauthenticated => a.admit(key, ip(last), now),
                Pool::Silent => a.park(key, ip(last), now),
            }
        }

        fn held(self, a: &Admission<u32>) -> usize {
            match self {
                Pool::Unauthenticated => a.unauthenticated(),
                Pool::Silent => a.parked(),
            }
        }

        fn capacity(self, budgets: &Budgets) -> usize {
            match self {
                Pool::Unauthenticated => budgets.max_unauthenticated,
                Pool::Silent => budgets.max_silent,
            }
        }

        fn full(self) -> Eviction {
            match self {
                Pool::Unauthenticated => Eviction::BudgetFull,
                Pool::Silent => Eviction::SilentPoolFull,
            }
        }

        fn source_cap(self) -> Eviction {
            match self {
                Pool::Unauthenticated => Eviction::SourceCap,
                Pool::Silent => Eviction::SilentSourceCap,
            }
        }
    }

    #[test]
    fn exactly_full_evicts_nothing_and_one_over_evicts_the_oldest_of_the_heaviest_source() {
        let now = Instant::now();
        for pool in POOLS {
            let mut a = Admission::new(budgets());
            let capacity = pool.capacity(&budgets());
            // .2 holds one, .3 two, every further source one.
            let sources = [2u8, 3, 3].into_iter().chain(4..);
            for (key, last) in (1..=capacity as u32).zip(sources) {
                assert_eq!(pool.enter(&mut a, key, last, now), None, "{pool:?}");
            }
            assert_eq!(pool.held(&a), capacity, "{pool:?} exactly full");
            assert_eq!(
                a.unauthenticated() + a.parked(),
                capacity,
                "{pool:?}: a connection is in one pool only"
            );
            // One over: .3 holds two, the others one; its oldest (2) goes.
            let next = capacity as u32 + 1;
            assert_eq!(pool.enter(&mut a, next, 100, now), Some((2, pool.full())));
            assert_eq!(pool.held(&a), capacity);
            // Now every source holds one: the oldest overall (1, from .2) goes.
            assert_eq!(
                pool.enter(&mut a, next + 1, 101, now),
                Some((1, pool.full()))
            );
            assert_eq!(pool.held(&a), capacity);
        }
    }

    #[test]
    fn a_source_at_its_cap_replaces_its_own_oldest_never_another_sources() {
        let now = Instant::now();
        for pool in POOLS {
            // Two per source in both pools (a quarter of the silent pool of 8).
            let mut a = Admission::new(budgets());
            let cap = pool.source_cap();
            assert_eq!(pool.enter(&mut a, 1, 9, now), None);
            assert_eq!(pool.enter(&mut a, 2, 2, now), None);
            assert_eq!(pool.enter(&mut a, 3, 2, now), None);
            assert_eq!(pool.enter(&mut a, 4, 2, now), Some((2, cap)));
            assert_eq!(pool.enter(&mut a, 5, 2, now), Some((3, cap)));
            assert_eq!(pool.held(&a), 3, "{pool:?}: connection 1 of .9 untouched");
            a.release(4);
            assert_eq!(
                pool.enter(&mut a, 6, 2, now),
                None,
                "a freed slot is taken first"
            );
        }
    }

    #[test]
    fn silent_connections_are_named_at_their_deadline_not_before() {
        let start = Instant::now();
        let timeout = Duration::from_secs(2);
        for pool in POOLS {
            let mut a = Admission::new(budgets());
            pool.enter(&mut a, 1, 2, start);
            pool.enter(&mut a, 2, 3, start);
            a.spoke(2);
            let just_before = start + timeout - Duration::from_millis(1);
            assert!(a.silent(just_before, timeout).is_empty(), "{pool:?}");
            assert_eq!(a.silent(start + timeout, timeout), vec![1], "{pool:?}");
            assert!(a.still_silent(1), "{pool:?}");
            assert!(!a.still_silent(2), "{pool:?}: spoke");
            a.release(1);
            assert!(!a.still_silent(1), "{pool:?}: closed");
            assert_eq!(a.unauthenticated() + a.parked(), 1, "{pool:?}: 1 forgotten");
            assert!(a.silent(start + timeout * 10, timeout).is_empty());
        }
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
    fn a_source_is_in_good_standing_until_a_full_handshake_ends_without_a_client() {
        let start = Instant::now();
        let mut a: Admission<u32> = Admission::new(budgets());
        let source = ip(7);
        assert!(a.in_good_standing(source, start), "never seen");
        a.charge_full_handshake(source, start);
        assert!(!a.in_good_standing(source, start), "a handshake under way");
        assert!(a.in_good_standing(ip(8), start), "other sources unaffected");
        a.refund_full_handshake(source, start);
        assert!(a.in_good_standing(source, start), "it authenticated");
        // One that ends without a client: good again STANDING_MEMORY later, not when the
        // bucket is full again (2/s: after 0.5 s), nor when the sweep runs meanwhile.
        a.charge_full_handshake(source, start);
        let refilled = start + Duration::from_millis(500);
        a.forget_full_buckets(refilled);
        assert!(!a.in_good_standing(source, refilled));
        let just_before = start + STANDING_MEMORY - Duration::from_millis(1);
        assert!(!a.in_good_standing(source, just_before));
        assert!(a.in_good_standing(source, start + STANDING_MEMORY));
    }

    #[test]
    fn refilled_buckets_are_forgotten() {
        let start = Instant::now();
        let mut a: Admission<u32> = Admission::new(budgets());
        a.charge_full_handshake(ip(7), start);
        a.forget_full_buckets(start);
        assert_eq!(a.buckets.len(), 1);
        a.forget_full_buckets(start + Duration::from_millis(500));
        assert_eq!(
            a.buckets.len(),
            1,
            "full, but its source's failure is remembered"
        );
        a.forget_full_buckets(start + STANDING_MEMORY);
        assert!(a.buckets.is_empty());
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
}
