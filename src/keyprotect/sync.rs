//! The root key watch: a sans-IO state machine deciding what a metadata poll means, and the
//! thread that polls Key Protect every `sync_interval` and carries the decisions out.
//!
//! Semantics: a new root key version → rewrap the master key and store it; the root key
//! disabled (state 2), deleted (state 5, HTTP 410) or gone (404) → seal (the engine drops its
//! master key and stops releasing or creating key material); active again → unwrap and
//! unseal; Key Protect unreachable → keep serving, warn, and seal only once `max_unreachable`
//! (off by default) has passed.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use super::client::{KeyMetadata, KeyState};
use super::config::KeyProtectConfig;
use super::error::KpError;
use super::open::{master_key_from, replace_wrapped};
use super::provider::{KeyProtectRoot, stored_key_version};
use crate::seal::{META_WRAPPED_MASTER_KEY, MasterKey, SealError};
use crate::store::Store;

/// Why the appliance sealed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SealReason {
    /// The root key is disabled (suspended) in Key Protect.
    Disabled,
    /// The root key was deleted (restorable for 30 days).
    Deleted,
    /// The root key does not exist (purged, or wrong id).
    NotFound,
    /// The root key is in a state that cannot unwrap (the state code).
    NotUsable(i64),
    /// Key Protect was unreachable longer than `max_unreachable`.
    UnreachableTooLong(Duration),
    /// Sealed before the watch started (the master key could not be opened at start-up).
    AtStartup(String),
}

impl std::fmt::Display for SealReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SealReason::Disabled => f.write_str("the root key is disabled in Key Protect"),
            SealReason::Deleted => f.write_str("the root key was deleted in Key Protect"),
            SealReason::NotFound => f.write_str("the root key does not exist in Key Protect"),
            SealReason::NotUsable(state) => {
                write!(f, "the root key is in Key Protect state {state}")
            }
            SealReason::UnreachableTooLong(d) => write!(
                f,
                "Key Protect has been unreachable for {} s (max_unreachable)",
                d.as_secs()
            ),
            SealReason::AtStartup(why) => write!(f, "the root key was unavailable at start: {why}"),
        }
    }
}

/// What the driver must do after an observation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SyncAction {
    /// The root key has a newer version than the stored wrap: rewrap and store.
    Rewrap { new_version: String },
    /// Zeroize the master key; refuse to release or create key material.
    Seal(SealReason),
    /// Unwrap the master key again and resume.
    Unseal,
    /// Key Protect could not be asked; still serving with the master key in memory.
    Warn {
        unreachable_for: Duration,
        error: String,
    },
    /// Key Protect answers again after an outage.
    Recovered { after: Duration },
    /// Needs an operator but does not stop service (reported once per occurrence).
    Alarm(String),
}

/// The sans-IO decision logic.
#[derive(Debug, Clone)]
pub struct SyncMachine {
    wrapped_version: Option<String>,
    sealed: Option<SealReason>,
    unreachable_since: Option<Instant>,
    max_unreachable: Option<Duration>,
    expiry_reported: bool,
}

impl SyncMachine {
    /// `wrapped_version`: root key version of the stored wrap; `sealed`: the reason when the
    /// appliance starts without its master key.
    pub fn new(
        wrapped_version: Option<String>,
        sealed: Option<SealReason>,
        max_unreachable: Option<Duration>,
    ) -> SyncMachine {
        SyncMachine {
            wrapped_version,
            sealed,
            unreachable_since: None,
            max_unreachable,
            expiry_reported: false,
        }
    }

    pub fn sealed(&self) -> Option<&SealReason> {
        self.sealed.as_ref()
    }

    pub fn unreachable_since(&self) -> Option<Instant> {
        self.unreachable_since
    }

    pub fn wrapped_version(&self) -> Option<&str> {
        self.wrapped_version.as_deref()
    }

    /// Feeds the result of a metadata poll (or of a rewrap/unwrap that failed) at `now`.
    pub fn observe(
        &mut self,
        result: &Result<KeyMetadata, KpError>,
        now: Instant,
    ) -> Vec<SyncAction> {
        let mut actions = Vec::new();
        match result {
            Ok(meta) => {
                if let Some(since) = self.unreachable_since.take() {
                    actions.push(SyncAction::Recovered {
                        after: now.saturating_duration_since(since),
                    });
                }
                let expired = meta.state == KeyState::Deactivated;
                if expired && !self.expiry_reported {
                    actions.push(SyncAction::Alarm(format!(
                        "the root key has expired (Key Protect state 3{}): the master key still \
                         unwraps, but nothing new can be wrapped; rotate or replace the root key",
                        meta.expiration_date
                            .as_deref()
                            .map(|d| format!(", expiration {d}"))
                            .unwrap_or_default()
                    )));
                }
                self.expiry_reported = expired;
                match meta.state {
                    // Deactivated (expired) keys still unwrap and rewrap.
                    KeyState::Active | KeyState::Deactivated => {
                        if self.sealed.is_some() {
                            // The unwrap also hands back a fresh wrap if the key was rotated.
                            actions.push(SyncAction::Unseal);
                        } else if let Some(latest) = &meta.key_version
                            && self.wrapped_version.as_deref() != Some(latest.as_str())
                        {
                            actions.push(SyncAction::Rewrap {
                                new_version: latest.clone(),
                            });
                        }
                    }
                    KeyState::Suspended => self.seal(SealReason::Disabled, &mut actions),
                    KeyState::Destroyed => self.seal(SealReason::Deleted, &mut actions),
                    KeyState::PreActivation => self.seal(SealReason::NotUsable(0), &mut actions),
                    KeyState::Other(code) => self.seal(SealReason::NotUsable(code), &mut actions),
                }
            }
            Err(err) => {
                match err {
                    KpError::KeyDisabled { .. } => self.seal(SealReason::Disabled, &mut actions),
                    KpError::KeyDeleted { .. } => self.seal(SealReason::Deleted, &mut actions),
                    KpError::NotFound { .. } => self.seal(SealReason::NotFound, &mut actions),
                    // Outage, refused access, odd answers: the root key's state is unknown, so
                    // keep serving (unless it has been unknown too long).
                    other => {
                        let since = *self.unreachable_since.get_or_insert(now);
                        let unreachable_for = now.saturating_duration_since(since);
                        match self.max_unreachable {
                            Some(max) if unreachable_for >= max => self.seal(
                                SealReason::UnreachableTooLong(unreachable_for),
                                &mut actions,
                            ),
                            _ => {}
                        }
                        actions.push(SyncAction::Warn {
                            unreachable_for,
                            error: other.to_string(),
                        });
                    }
                }
            }
        }
        actions
    }

    fn seal(&mut self, reason: SealReason, actions: &mut Vec<SyncAction>) {
        if self.sealed.is_none() {
            actions.push(SyncAction::Seal(reason.clone()));
        }
        // Already sealed: only the reason shown by `keyward status` moves on (e.g. from an
        // outage to the revocation found once Key Protect answered again).
        self.sealed = Some(reason);
    }

    /// The driver stored a wrap made by root key version `version`.
    pub fn rewrapped(&mut self, version: String) {
        self.wrapped_version = Some(version);
    }

    /// The driver unwrapped the master key and handed it to the engine.
    pub fn unsealed(&mut self, wrapped_version: String) {
        self.sealed = None;
        self.wrapped_version = Some(wrapped_version);
    }
}

/// What the sync thread reports to the appliance (engine, audit, `keyward status`).
pub enum SyncEvent {
    /// The stored master key wrap now uses root key version `key_version`.
    Rewrapped { key_version: String },
    /// The engine must drop its master key and refuse key material.
    Sealed(SealReason),
    /// The engine may resume with this master key.
    Unsealed(MasterKey),
    /// Key Protect is unreachable; still serving.
    Unreachable {
        unreachable_for: Duration,
        error: String,
    },
    /// Key Protect answers again.
    Reachable { after: Duration },
    /// A step failed in a way that needs an operator (e.g. storing a rewrap failed).
    Alarm(String),
    /// A poll finished, whatever it found; the status already shows its outcome. Lets a
    /// status display stay current between state changes.
    Polled,
}

impl std::fmt::Debug for SyncEvent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SyncEvent::Rewrapped { key_version } => write!(f, "Rewrapped({key_version})"),
            SyncEvent::Sealed(reason) => write!(f, "Sealed({reason:?})"),
            SyncEvent::Unsealed(_) => f.write_str("Unsealed(<master key>)"),
            SyncEvent::Unreachable {
                unreachable_for,
                error,
            } => {
                write!(f, "Unreachable({unreachable_for:?}, {error})")
            }
            SyncEvent::Reachable { after } => write!(f, "Reachable({after:?})"),
            SyncEvent::Alarm(text) => write!(f, "Alarm({text})"),
            SyncEvent::Polled => f.write_str("Polled"),
        }
    }
}

/// A snapshot for `keyward status`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncStatus {
    pub sealed: Option<String>,
    pub unreachable_for: Option<Duration>,
    pub last_error: Option<String>,
    pub last_success: Option<SystemTime>,
    pub wrapped_key_version: Option<String>,
    pub polls: u64,
}

/// Poll settings, from `[keyprotect]`.
#[derive(Debug, Clone, Copy)]
pub struct SyncSettings {
    pub interval: Duration,
    pub max_unreachable: Option<Duration>,
}

impl SyncSettings {
    pub fn from_config(config: &KeyProtectConfig) -> SyncSettings {
        SyncSettings {
            interval: config.sync_interval,
            max_unreachable: config.max_unreachable,
        }
    }
}

struct Shared {
    stop: AtomicBool,
    wake: (Mutex<bool>, Condvar),
    status: Mutex<SyncStatus>,
}

/// The running sync thread. Dropping it stops the thread (and waits for it).
pub struct SyncHandle {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

/// Reads the sync thread's status from anywhere, e.g. inside the event sink (which runs before
/// [`spawn`] has returned the handle).
#[derive(Clone)]
pub struct StatusReader(Arc<Shared>);

impl StatusReader {
    pub fn status(&self) -> SyncStatus {
        self.0
            .status
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

impl SyncHandle {
    pub fn status_reader(&self) -> StatusReader {
        StatusReader(Arc::clone(&self.shared))
    }

    pub fn status(&self) -> SyncStatus {
        self.shared
            .status
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Polls now instead of at the end of the current interval (e.g. after an operator
    /// command, or after a Key Protect error seen on another path).
    pub fn poll_now(&self) {
        let (lock, cvar) = &self.shared.wake;
        *lock.lock().unwrap_or_else(|p| p.into_inner()) = true;
        cvar.notify_all();
    }

    /// Stops the thread and waits for it (at most one in-flight Key Protect call).
    pub fn shutdown(mut self) {
        self.stop_and_join();
    }

    fn stop_and_join(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        self.poll_now();
        if let Some(thread) = self.thread.take()
            && thread.join().is_err()
        {
            log::error!("the Key Protect sync thread panicked");
        }
    }
}

impl Drop for SyncHandle {
    fn drop(&mut self) {
        self.stop_and_join();
    }
}

/// Starts the `keyward-kp-sync` thread. `sealed` says whether the appliance starts without
/// its master key (and why). `sink` receives every event; connect it to the engine and wake
/// the event loop from it (e.g. send on a channel, then `mio::Waker::wake`).
pub fn spawn(
    root: Arc<KeyProtectRoot>,
    store: Arc<dyn Store>,
    settings: SyncSettings,
    sealed: Option<SealReason>,
    sink: impl FnMut(SyncEvent) + Send + 'static,
) -> std::io::Result<SyncHandle> {
    let wrapped_version = store
        .read()
        .ok()
        .and_then(|view| view.get_meta(META_WRAPPED_MASTER_KEY).ok().flatten())
        .and_then(|blob| stored_key_version(&blob).ok());
    let machine = SyncMachine::new(wrapped_version, sealed, settings.max_unreachable);
    let shared = Arc::new(Shared {
        stop: AtomicBool::new(false),
        wake: (Mutex::new(false), Condvar::new()),
        status: Mutex::new(SyncStatus::default()),
    });
    let mut driver = Driver {
        root,
        store,
        machine,
        sink: Box::new(sink),
        shared: Arc::clone(&shared),
    };
    let thread = std::thread::Builder::new()
        .name("keyward-kp-sync".into())
        .spawn(move || driver.run(settings.interval))?;
    Ok(SyncHandle {
        shared,
        thread: Some(thread),
    })
}

struct Driver {
    root: Arc<KeyProtectRoot>,
    store: Arc<dyn Store>,
    machine: SyncMachine,
    sink: Box<dyn FnMut(SyncEvent) + Send>,
    shared: Arc<Shared>,
}

impl Driver {
    fn run(&mut self, interval: Duration) {
        while !self.shared.stop.load(Ordering::SeqCst) {
            self.poll_once();
            let (lock, cvar) = &self.shared.wake;
            let mut woken = lock.lock().unwrap_or_else(|p| p.into_inner());
            let deadline = Instant::now() + interval;
            while !*woken && !self.shared.stop.load(Ordering::SeqCst) {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    break;
                }
                woken = cvar
                    .wait_timeout(woken, left)
                    .unwrap_or_else(|p| p.into_inner())
                    .0;
            }
            *woken = false;
        }
    }

    fn poll_once(&mut self) {
        let result = self.root.client().metadata();
        self.update_status(|s| {
            s.polls += 1;
            match &result {
                Ok(_) => {
                    s.last_success = Some(SystemTime::now());
                    s.last_error = None;
                }
                Err(e) => s.last_error = Some(e.to_string()),
            }
        });
        self.apply(&result);
        (self.sink)(SyncEvent::Polled);
    }

    /// Runs the machine on an observation and carries out its actions; a follow-up call that
    /// fails is fed back once more (e.g. a rewrap refused because the key was just disabled).
    fn apply(&mut self, result: &Result<KeyMetadata, KpError>) {
        let mut pending = self.machine.observe(result, Instant::now());
        let mut follow_ups = 0;
        while !pending.is_empty() {
            let mut next = Vec::new();
            for action in pending {
                if let Some(err) = self.execute(action)
                    && follow_ups < 2
                {
                    next.extend(self.machine.observe(&Err(err), Instant::now()));
                }
            }
            follow_ups += 1;
            pending = next;
        }
        self.publish_status();
    }

    /// Copies the machine's state into the shared status; called before every event is sent,
    /// so a receiver that reads the status after an event sees the state behind it.
    fn publish_status(&self) {
        let machine = &self.machine;
        self.update_status(|s| {
            s.sealed = machine.sealed().map(|r| r.to_string());
            s.unreachable_for = machine.unreachable_since().map(|t| t.elapsed());
            s.wrapped_key_version = machine.wrapped_version().map(str::to_string);
        });
    }

    /// Returns a Key Protect error to feed back into the machine, if the action hit one.
    fn execute(&mut self, action: SyncAction) -> Option<KpError> {
        self.publish_status();
        match action {
            SyncAction::Rewrap { new_version } => match self.rewrap() {
                Ok(version) => {
                    log::info!("root key rotated: master key rewrapped under version {version}");
                    self.machine.rewrapped(version.clone());
                    self.publish_status();
                    (self.sink)(SyncEvent::Rewrapped {
                        key_version: version,
                    });
                    None
                }
                Err(RewrapFailure::Kp(err)) => Some(err),
                Err(RewrapFailure::Local(err)) => {
                    self.alarm(format!(
                        "root key rotated to version {new_version}, but rewrapping the master \
                         key failed: {err}"
                    ));
                    None
                }
            },
            SyncAction::Seal(reason) => {
                log::error!("sealing: {reason}; no key material is released until it is back");
                (self.sink)(SyncEvent::Sealed(reason));
                None
            }
            SyncAction::Unseal => match self.unseal() {
                Ok((key, version)) => {
                    log::warn!("root key available again: unsealed");
                    self.machine.unsealed(version);
                    self.publish_status();
                    (self.sink)(SyncEvent::Unsealed(key));
                    None
                }
                Err(RewrapFailure::Kp(err)) => Some(err),
                Err(RewrapFailure::Local(err)) => {
                    self.alarm(format!(
                        "root key active again, but unsealing failed: {err}"
                    ));
                    None
                }
            },
            SyncAction::Warn {
                unreachable_for,
                error,
            } => {
                log::warn!(
                    "Key Protect unreachable for {} s; still serving: {error}",
                    unreachable_for.as_secs()
                );
                (self.sink)(SyncEvent::Unreachable {
                    unreachable_for,
                    error,
                });
                None
            }
            SyncAction::Recovered { after } => {
                log::info!("Key Protect reachable again after {} s", after.as_secs());
                (self.sink)(SyncEvent::Reachable { after });
                None
            }
            SyncAction::Alarm(text) => {
                self.alarm(text);
                None
            }
        }
    }

    fn alarm(&mut self, text: String) {
        log::error!("{text}");
        (self.sink)(SyncEvent::Alarm(text));
    }

    fn stored_blob(&self) -> Result<Vec<u8>, SealError> {
        self.store
            .read()?
            .get_meta(META_WRAPPED_MASTER_KEY)?
            .ok_or_else(|| SealError::Malformed("the store holds no wrapped master key".into()))
    }

    fn rewrap(&self) -> Result<String, RewrapFailure> {
        let old = self.stored_blob()?;
        let (fresh, version) = self.root.rewrap(&old).map_err(RewrapFailure::Kp)?;
        replace_wrapped(&*self.store, &old, &fresh)?;
        // If another writer got there first, theirs is at least as new.
        let stored = self.stored_blob()?;
        Ok(stored_key_version(&stored).unwrap_or(version))
    }

    fn unseal(&self) -> Result<(MasterKey, String), RewrapFailure> {
        let old = self.stored_blob()?;
        let outcome = self.root.try_unwrap(&old).map_err(RewrapFailure::Kp)?;
        let blob = match &outcome.rewrapped {
            Some(fresh) => {
                replace_wrapped(&*self.store, &old, fresh)?;
                fresh.clone()
            }
            None => old,
        };
        let version = stored_key_version(&blob)?;
        Ok((master_key_from(outcome.key)?, version))
    }

    fn update_status(&self, change: impl FnOnce(&mut SyncStatus)) {
        change(&mut self.shared.status.lock().unwrap_or_else(|p| p.into_inner()));
    }
}

enum RewrapFailure {
    Kp(KpError),
    Local(SealError),
}

impl From<SealError> for RewrapFailure {
    fn from(err: SealError) -> Self {
        RewrapFailure::Local(err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(state: i64, version: &str) -> Result<KeyMetadata, KpError> {
        Ok(KeyMetadata {
            state: KeyState::from_code(state),
            key_version: Some(version.into()),
            extractable: Some(false),
            expiration_date: None,
            deleted: None,
        })
    }

    fn outage() -> Result<KeyMetadata, KpError> {
        Err(KpError::Unreachable {
            service: "Key Protect",
            attempts: 3,
            last_error: "connection refused".into(),
        })
    }

    #[test]
    fn same_version_does_nothing_new_version_rewraps() {
        let t0 = Instant::now();
        let mut m = SyncMachine::new(Some("v1".into()), None, None);
        assert!(m.observe(&meta(1, "v1"), t0).is_empty());
        let actions = m.observe(&meta(1, "v2"), t0);
        assert_eq!(
            actions,
            vec![SyncAction::Rewrap {
                new_version: "v2".into()
            }]
        );
        m.rewrapped("v2".into());
        assert!(m.observe(&meta(1, "v2"), t0).is_empty());
    }

    #[test]
    fn disable_seals_once_and_enable_unseals() {
        let t0 = Instant::now();
        let mut m = SyncMachine::new(Some("v1".into()), None, None);
        assert_eq!(
            m.observe(&meta(2, "v1"), t0),
            vec![SyncAction::Seal(SealReason::Disabled)]
        );
        assert!(
            m.observe(&meta(2, "v1"), t0).is_empty(),
            "sealing is reported once"
        );
        assert_eq!(m.observe(&meta(1, "v1"), t0), vec![SyncAction::Unseal]);
        // Until the driver confirms, the machine stays sealed and asks again.
        assert_eq!(m.observe(&meta(1, "v1"), t0), vec![SyncAction::Unseal]);
        m.unsealed("v1".into());
        assert!(m.observe(&meta(1, "v1"), t0).is_empty());
    }

    #[test]
    fn deleted_and_gone_seal() {
        let t0 = Instant::now();
        let mut m = SyncMachine::new(None, None, None);
        assert_eq!(
            m.observe(&meta(5, "v1"), t0),
            vec![SyncAction::Seal(SealReason::Deleted)]
        );
        let mut m = SyncMachine::new(None, None, None);
        let gone = Err(KpError::NotFound {
            message: "key does not exist".into(),
            correlation_id: "c".into(),
        });
        assert_eq!(
            m.observe(&gone, t0),
            vec![SyncAction::Seal(SealReason::NotFound)]
        );
    }

    #[test]
    fn outage_warns_and_seals_only_after_max_unreachable() {
        let t0 = Instant::now();
        let mut m = SyncMachine::new(Some("v1".into()), None, None);
        for i in 0..5 {
            let actions = m.observe(&outage(), t0 + Duration::from_secs(3600 * i));
            assert!(
                matches!(actions.as_slice(), [SyncAction::Warn { .. }]),
                "{actions:?}"
            );
        }
        assert_eq!(
            m.observe(&meta(1, "v1"), t0 + Duration::from_secs(20000)),
            vec![SyncAction::Recovered {
                after: Duration::from_secs(20000)
            }]
        );

        let mut m = SyncMachine::new(Some("v1".into()), None, Some(Duration::from_secs(60)));
        assert!(matches!(
            m.observe(&outage(), t0).as_slice(),
            [SyncAction::Warn { .. }]
        ));
        assert!(matches!(
            m.observe(&outage(), t0 + Duration::from_secs(30))
                .as_slice(),
            [SyncAction::Warn { .. }]
        ));
        let actions = m.observe(&outage(), t0 + Duration::from_secs(61));
        assert!(
            matches!(
                actions.as_slice(),
                [
                    SyncAction::Seal(SealReason::UnreachableTooLong(_)),
                    SyncAction::Warn { .. }
                ]
            ),
            "{actions:?}"
        );
        let actions = m.observe(&meta(1, "v1"), t0 + Duration::from_secs(90));
        assert!(
            matches!(
                actions.as_slice(),
                [SyncAction::Recovered { .. }, SyncAction::Unseal]
            ),
            "{actions:?}"
        );
    }

    #[test]
    fn expiry_alarms_once_and_does_not_seal() {
        let t0 = Instant::now();
        let mut m = SyncMachine::new(Some("v1".into()), None, None);
        let actions = m.observe(&meta(3, "v1"), t0);
        assert!(
            matches!(actions.as_slice(), [SyncAction::Alarm(_)]),
            "{actions:?}"
        );
        assert!(m.observe(&meta(3, "v1"), t0).is_empty());
        assert!(m.sealed().is_none());
    }

    #[test]
    fn sealed_at_start_unseals_when_active() {
        let mut m = SyncMachine::new(None, Some(SealReason::AtStartup("x".into())), None);
        assert_eq!(
            m.observe(&meta(1, "v3"), Instant::now()),
            vec![SyncAction::Unseal]
        );
    }
}
