//! Who may connect, kept current: the handshake trust rebuilt from the stored client registry
//! when it changes, and when each client last connected.
//!
//! Why one small service: both follow the client registry and neither is about moving bytes,
//! so the event loop only ticks it. A registry change comes from the admin socket, the HTTPS
//! admin API ([`super::registry_notify`]) or, in a cluster, another node (seen by an etcd
//! watch on the registry, or re-read every 2 s, by `trust_refresh.rs`, off the loop; only a
//! changed one is handed over). Applying it
//! re-checks the open sessions: one the new registry would not let in as the same client is
//! named for the loop to close, and a changed KMIP credential applies to the others at once.
//! Last-seen times are kept in memory (a store write per handshake would cost more than the
//! answer is worth) and stored by `trust_refresh.rs` every 60 s when something changed, and at
//! shutdown.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use mio::{Token, Waker};

use super::Services;
use super::identity::{ClientTrust, resolve_identity};
use super::registry_notify::RegistryNotifier;
use super::session::Session;
use super::trust_refresh::{Fetched, LastSeen, Shared, TrustRefresh, read_registry};

pub(super) struct TrustService {
    shared: Shared,
    /// The stored registry the current trust was built from.
    applied: Option<Vec<u8>>,
    /// Set by other threads after they changed the registry.
    notifier: RegistryNotifier,
    /// The thread doing the store work; `None` once stopped (or if it could not start).
    refresh: Option<TrustRefresh>,
}

impl TrustService {
    /// Starts the service and its thread; `clustered` nodes also re-read the registry.
    pub(super) fn start(
        services: &Services,
        clustered: bool,
        notifier: RegistryNotifier,
        waker: Arc<Waker>,
    ) -> std::io::Result<TrustService> {
        let shared = Shared::default();
        let refresh = TrustRefresh::spawn(services, clustered, shared.clone(), waker)?;
        Ok(TrustService {
            shared,
            applied: None,
            notifier,
            refresh: Some(refresh),
        })
    }

    pub(super) fn last_seen(&self) -> LastSeen {
        self.shared.last_seen.clone()
    }

    /// `owner` completed a handshake now.
    pub(super) fn seen(&mut self, owner: &str) {
        if let Ok(mut seen) = self.shared.last_seen.lock() {
            let now = crate::admin::registry::now();
            // A known owner (every handshake but its first) costs no allocation.
            match seen.get_mut(owner) {
                Some(at) => *at = now,
                None => {
                    seen.insert(owner.to_string(), now);
                }
            }
            self.shared.dirty.store(true, Ordering::Relaxed);
        }
    }

    /// Whether another thread changed the registry since the last call: the loop then
    /// reloads it ([`TrustService::reload`]).
    pub(super) fn changed_elsewhere(&self) -> bool {
        self.notifier.take()
    }

    /// A registry another node changed, read by the refresh thread, if one is waiting and not
    /// older than the loop's own latest reload.
    pub(super) fn fetched(&self) -> Option<Fetched> {
        let refresh = self.refresh.as_ref()?;
        let mut newest = None;
        while let Ok(fetched) = refresh.fetched.try_recv() {
            newest = Some(fetched);
        }
        newest.filter(|f| f.generation >= self.shared.generation.load(Ordering::SeqCst))
    }

    /// Stores the last-seen times a last time and ends the refresh thread (at shutdown).
    pub(super) fn stop(&mut self) {
        if let Some(refresh) = self.refresh.take() {
            refresh.stop();
        }
    }

    /// Rebuilds the handshake trust from the stored registry, on the loop thread (after a
    /// change on this node, whose admin reply waits for it); on failure the previous trust
    /// stays (a registry the server cannot read must not open the door wider). Returns the
    /// sessions the new registry would not let in as the same client.
    pub(super) fn reload<'a>(
        &mut self,
        services: &Services,
        sessions: impl Iterator<Item = (Token, &'a mut Session)>,
    ) -> Vec<Token> {
        self.shared.generation.fetch_add(1, Ordering::SeqCst);
        match read_registry(services, self.applied.as_deref()) {
            Ok(Some((trust, stored))) => self.apply(services, trust, stored, sessions),
            Ok(None) => Vec::new(),
            Err(e) => {
                log::error!("reloading the client registry failed: {e}");
                Vec::new()
            }
        }
    }

    /// Applies a registry the refresh thread read ([`TrustService::fetched`]).
    pub(super) fn apply_fetched<'a>(
        &mut self,
        services: &Services,
        fetched: Fetched,
        sessions: impl Iterator<Item = (Token, &'a mut Session)>,
    ) -> Vec<Token> {
        if self.applied.as_ref() == Some(&fetched.stored) {
            return Vec::new();
        }
        self.apply(services, fetched.trust, fetched.stored, sessions)
    }

    /// Makes `trust` the handshake trust and returns the sessions it no longer admits: in a
    /// cluster the removal may have happened on another node, which cannot reach them.
    fn apply<'a>(
        &mut self,
        services: &Services,
        trust: ClientTrust,
        stored: Vec<u8>,
        sessions: impl Iterator<Item = (Token, &'a mut Session)>,
    ) -> Vec<Token> {
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
