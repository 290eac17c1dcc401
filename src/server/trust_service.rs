//! Who may connect, kept current: the handshake trust rebuilt from the stored client registry
//! when it changes, and when each client last connected.
//!
//! Why one small service: both follow the client registry, both run on timers, and neither
//! is about moving bytes, so the event loop should only tick them. A registry change comes
//! from the admin socket, the HTTPS admin API ([`super::registry_notify`]) or, in a cluster,
//! another node (re-read every 2 s; only a changed one is applied). Applying it re-checks the
//! open sessions: one the new registry would not let in as the same client is named for the
//! loop to close, and a changed KMIP credential applies to the others at once. Last-seen times
//! are kept in memory (a store write per handshake would cost more than the answer is worth)
//! and stored every 60 s when something changed, and at shutdown.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mio::Token;

use super::identity::{ClientTrust, resolve_identity};
use super::registry_notify::RegistryNotifier;
use super::session::Session;
use super::{ServerError, Services};
use crate::admin::registry::{META_CLIENT_REGISTRY, Registry};

/// How often a cluster node re-reads the shared client registry from etcd.
const CLUSTER_TRUST_REFRESH: Duration = Duration::from_secs(2);

/// How often the last-seen times are stored (and once more at shutdown): often enough for
/// `client list` after a crash, rare enough to cost nothing next to the KMIP traffic.
const PERSIST_LAST_SEEN_EVERY: Duration = Duration::from_secs(60);

/// Owner → last successful handshake (seconds since the epoch), shown by `client list`;
/// shared with the admin thread, which adds it to its replies.
pub(super) type LastSeen = Arc<Mutex<HashMap<String, i64>>>;

pub(super) struct TrustService {
    last_seen: LastSeen,
    /// `last_seen` changed since it was last stored.
    dirty: bool,
    persist_at: Instant,
    /// The stored registry the current trust was built from.
    applied: Option<Vec<u8>>,
    /// When a cluster node re-reads the registry next; `None` on a single node.
    refresh_at: Option<Instant>,
    /// Set by other threads after they changed the registry.
    notifier: RegistryNotifier,
}

impl TrustService {
    pub(super) fn new(clustered: bool, notifier: RegistryNotifier, now: Instant) -> TrustService {
        TrustService {
            last_seen: LastSeen::default(),
            dirty: false,
            persist_at: now + PERSIST_LAST_SEEN_EVERY,
            applied: None,
            refresh_at: clustered.then_some(now + CLUSTER_TRUST_REFRESH),
            notifier,
        }
    }

    pub(super) fn last_seen(&self) -> LastSeen {
        self.last_seen.clone()
    }

    /// `owner` completed a handshake now.
    pub(super) fn seen(&mut self, owner: &str) {
        if let Ok(mut seen) = self.last_seen.lock() {
            seen.insert(owner.to_string(), crate::admin::registry::now());
            self.dirty = true;
        }
    }

    /// The timers: stores the last-seen times when due; says whether the registry must be
    /// read again now (another thread changed it, or a cluster node's refresh is due).
    pub(super) fn tick(&mut self, services: &Services, now: Instant) -> bool {
        if self.dirty && now >= self.persist_at {
            self.persist(services);
        }
        let mut reload = self.notifier.take();
        if let Some(at) = self.refresh_at
            && now >= at
        {
            self.refresh_at = Some(now + CLUSTER_TRUST_REFRESH);
            reload = true;
        }
        reload
    }

    /// Stores the last-seen times (one write transaction); on failure they are kept and tried
    /// again at the next interval.
    pub(super) fn persist(&mut self, services: &Services) {
        if !self.dirty {
            return;
        }
        self.persist_at = Instant::now() + PERSIST_LAST_SEEN_EVERY;
        let seen = match self.last_seen.lock() {
            Ok(seen) => seen.clone(),
            Err(_) => return,
        };
        match crate::admin::ops::persist_last_seen(services.store.as_ref(), &seen) {
            Ok(_) => self.dirty = false,
            Err(e) => log::error!("storing when clients were last seen failed: {e}"),
        }
    }

    /// Rebuilds the handshake trust from the stored registry; on failure the previous trust
    /// stays (a registry the server cannot read must not open the door wider). Returns the
    /// sessions the new registry would not let in as the same client: in a cluster the
    /// removal may have happened on another node, which cannot reach them.
    pub(super) fn reload<'a>(
        &mut self,
        services: &Services,
        sessions: impl Iterator<Item = (Token, &'a mut Session)>,
    ) -> Vec<Token> {
        let loaded = (|| -> Result<Option<(ClientTrust, Vec<u8>)>, ServerError> {
            let view = services.store.read()?;
            let stored = view.get_meta(META_CLIENT_REGISTRY)?.unwrap_or_default();
            if self.applied.as_ref() == Some(&stored) {
                return Ok(None);
            }
            let registry = Registry::load(&*view)?;
            Ok(Some((ClientTrust::from_registry(&registry)?, stored)))
        })();
        let (trust, stored) = match loaded {
            Ok(Some(changed)) => changed,
            Ok(None) => return Vec::new(),
            Err(e) => {
                log::error!("reloading the client registry failed: {e}");
                return Vec::new();
            }
        };
        let Ok(mut shared) = services.trust.write() else {
            log::error!("client trust lock poisoned; registry change not applied");
            return Vec::new();
        };
        let mut refused = Vec::new();
        for (token, session) in sessions {
            let Some(owner) = session.identity().map(|i| i.owner.clone()) else {
                // Still in its handshake: the verifier will use the new registry.
                continue;
            };
            let kept = session
                .peer_certificates()
                .is_some_and(|chain| still_trusted(&shared, &trust, chain, &owner));
            if kept {
                // A changed KMIP credential applies to open connections too.
                session.require_credential(trust.credential_for(&owner));
            } else {
                log::info!(
                    "client {}: owner {owner} is no longer trusted by the client registry \
                     (removed, possibly on another node); closing its connection",
                    session.peer()
                );
                refused.push(token);
            }
        }
        *shared = trust;
        self.applied = Some(stored);
        refused
    }
}

/// Whether a connection that authenticated as `owner` with `chain` under the registry `old`
/// would be let in as the same owner under `new`. An identity the registry gave must still
/// come from it (a removed client's CA may be trusted nowhere else); one the configuration
/// alone trusts stays unless the certificate was revoked since.
fn still_trusted(
    old: &ClientTrust,
    new: &ClientTrust,
    chain: &[rustls::pki_types::CertificateDer<'static>],
    owner: &str,
) -> bool {
    let Some((leaf, intermediates)) = chain.split_first() else {
        return false;
    };
    let now = rustls::pki_types::UnixTime::now();
    let from_registry = old.resolve(leaf, intermediates, now).is_some();
    match new.resolve(leaf, intermediates, now) {
        Some(current) => current == owner,
        None if from_registry => false,
        None => resolve_identity(new, chain).is_some_and(|identity| identity.owner == owner),
    }
}
