//! The replicated backend: the same store traits over etcd v3 (Raft), one etcd member beside
//! each appliance. Design, consistency and failure modes: `docs/cluster.md`.
//!
//! - [`gateway`]: the etcd JSON gateway client (ureq, mutual TLS);
//! - [`keys`]: where objects, index entries and meta values live under the prefix;
//! - [`read`]: a read view pinned at one revision;
//! - [`first_read`]: the view a batch of reads gets, pinned by its first read, which is
//!   linearizable;
//! - [`txn`]: a buffered write transaction committed as one guarded etcd transaction;
//! - [`txn_scan`]: whole-prefix scans inside such a transaction, its own writes included.
//!
//! Degraded mode: when no member can serve a linearizable read (no quorum), the store records
//! it, serves reads from the first member that still answers (serializable: its last applied
//! state), and refuses every write transaction with [`StoreError::Unavailable`]. While degraded
//! it probes quorum again at most every `probe_interval`, on demand (no thread of its own),
//! and resumes by itself.

pub mod config;
mod first_read;
pub mod gateway;
pub mod gather;
pub mod keys;
pub mod migrate;
mod node_reports;
mod read;
mod read_index;
mod resolver;
mod txn;
mod txn_scan;
pub mod watch;

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

pub use config::ClusterConfig;
use gateway::{Gateway, RangeRequest, StatusResponse, b64};
use keys::KeyLayout;
pub use read::SCAN_PAGE;
use read::{PinnedView, gateway_error};

use super::redb::META_SCHEMA_VERSION;
use super::{ReadView, Store, StoreError, WriteTxn};

/// Schema version of the keys a cluster keeps in etcd (`docs/clustering.md`). Its own number:
/// the redb file's layout (`store::redb::SCHEMA_VERSION`) changes independently of it.
pub const SCHEMA_VERSION: u32 = 1;

/// What `/healthz` and `keyward cluster status` show about this node's view of etcd.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterHealth {
    /// False while etcd has no quorum as seen from here: reads are served, writes refused.
    pub quorum: bool,
    /// Seconds since the epoch when degraded mode began (None when healthy).
    pub degraded_since: Option<i64>,
    /// Why the last etcd exchange failed, if it did.
    pub last_error: Option<String>,
    /// The newest etcd revision this node has seen.
    pub revision: i64,
}

struct Degraded {
    since: i64,
    last_probe: Instant,
    reason: String,
}

pub struct EtcdStore {
    gateway: Gateway,
    keys: KeyLayout,
    config: ClusterConfig,
    degraded_flag: AtomicBool,
    degraded: Mutex<Option<Degraded>>,
    revision: std::sync::atomic::AtomicI64,
    /// Linearizable reads shared by the views and transactions asked for together.
    read_index: read_index::ReadIndex,
}

fn epoch_seconds() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

impl EtcdStore {
    /// Connects (no traffic yet beyond the schema check) and records the schema version on
    /// first use of the prefix. Fails when etcd cannot be reached at all: a node does not
    /// start without ever having seen the cluster.
    pub fn open(config: &ClusterConfig) -> Result<EtcdStore, StoreError> {
        let gateway = Gateway::new(config).map_err(|e| StoreError::Io(e.to_string().into()))?;
        let store = EtcdStore {
            gateway,
            keys: KeyLayout::new(&config.prefix),
            config: config.clone(),
            degraded_flag: AtomicBool::new(false),
            degraded: Mutex::new(None),
            revision: std::sync::atomic::AtomicI64::new(0),
            read_index: read_index::ReadIndex::default(),
        };
        store.check_or_write_schema()?;
        Ok(store)
    }

    fn check_or_write_schema(&self) -> Result<(), StoreError> {
        let found = self.read()?.get_meta(META_SCHEMA_VERSION)?;
        match found {
            Some(bytes) => {
                let raw: [u8; 4] = bytes.as_slice().try_into().map_err(|_| {
                    StoreError::Corrupt("etcd schema version is not 4 bytes".into())
                })?;
                let found = u32::from_be_bytes(raw);
                if found != SCHEMA_VERSION {
                    return Err(StoreError::UnsupportedSchema {
                        found,
                        supported: SCHEMA_VERSION,
                    });
                }
                Ok(())
            }
            None => {
                let mut txn = self.write()?;
                if txn.get_meta(META_SCHEMA_VERSION)?.is_none() {
                    txn.put_meta(META_SCHEMA_VERSION, &SCHEMA_VERSION.to_be_bytes())?;
                }
                match txn.commit() {
                    // Another node wrote it at the same moment: fine, it wrote the same.
                    Ok(()) | Err(StoreError::Conflict(_)) => Ok(()),
                    Err(e) => Err(e),
                }
            }
        }
    }

    pub fn config(&self) -> &ClusterConfig {
        &self.config
    }

    pub fn gateway(&self) -> &Gateway {
        &self.gateway
    }

    pub fn keys(&self) -> &KeyLayout {
        &self.keys
    }

    /// This node's view of etcd, for `/healthz` and `cluster status`. Cheap: no network.
    pub fn health(&self) -> ClusterHealth {
        let degraded = self.degraded.lock().ok();
        let state = degraded.as_ref().and_then(|d| d.as_ref());
        ClusterHealth {
            quorum: state.is_none(),
            degraded_since: state.map(|d| d.since),
            last_error: state.map(|d| d.reason.clone()),
            revision: self.revision.load(Ordering::Relaxed),
        }
    }

    /// Whether the store is currently degraded (no quorum). Cheap: no network.
    pub fn is_degraded(&self) -> bool {
        self.degraded_flag.load(Ordering::Relaxed)
    }

    /// Status of every configured endpoint (None = unreachable), in configuration order.
    pub fn member_status(&self) -> Vec<(String, Option<StatusResponse>)> {
        (0..self.gateway.endpoints().len())
            .map(|i| {
                (
                    self.gateway.endpoints()[i].clone(),
                    self.gateway.status(i).ok(),
                )
            })
            .collect()
    }

    /// Records an Unavailable error as the start (or continuation) of degraded mode.
    fn note_failure(&self, err: StoreError) -> StoreError {
        if let StoreError::Unavailable(why) = &err
            && let Ok(mut degraded) = self.degraded.lock()
        {
            match degraded.as_mut() {
                Some(d) => {
                    d.last_probe = Instant::now();
                    d.reason = why.to_string();
                }
                None => {
                    log::error!(
                        "etcd has no quorum or cannot be reached; {}; DEGRADED: existing keys \
                         are served from the local member, changes are refused until quorum \
                         returns (what failed: {why})",
                        self.census()
                    );
                    *degraded = Some(Degraded {
                        since: epoch_seconds(),
                        last_probe: Instant::now(),
                        reason: why.to_string(),
                    });
                    self.degraded_flag.store(true, Ordering::Relaxed);
                }
            }
        }
        err
    }

    fn note_success(&self, revision: i64) {
        self.revision.fetch_max(revision, Ordering::Relaxed);
        if self.degraded_flag.load(Ordering::Relaxed)
            && let Ok(mut degraded) = self.degraded.lock()
            && let Some(d) = degraded.take()
        {
            log::warn!(
                "etcd quorum is back after {} s; changes are accepted again",
                epoch_seconds() - d.since
            );
            self.degraded_flag.store(false, Ordering::Relaxed);
        }
    }

    /// Which members this node lost and which still answer, asked of every configured member
    /// (`/v3/maintenance/status`, answered even without quorum). Once, when degraded mode
    /// begins: the failure that started it may name only the member it was sent to.
    fn census(&self) -> String {
        let mut lost = Vec::new();
        let mut answering = Vec::new();
        for (i, endpoint) in self.gateway.endpoints().iter().enumerate() {
            match self.gateway.status(i) {
                Ok(status) => answering.push(format!(
                    "{endpoint} (member {:016x}, {})",
                    status.header.member_id,
                    if status.leader == 0 {
                        "sees no leader".to_string()
                    } else {
                        format!("leader {:016x}", status.leader)
                    }
                )),
                Err(e) => lost.push(format!("{endpoint} ({e})")),
            }
        }
        let total = lost.len() + answering.len();
        let mut text = format!("lost {} of {total} etcd member(s)", lost.len());
        if !lost.is_empty() {
            text.push_str(&format!(": {}", lost.join(", ")));
        }
        if !answering.is_empty() {
            text.push_str(&format!("; still answering: {}", answering.join(", ")));
        }
        text
    }

    /// When degraded: `Some(reason)` while quorum should not be tried yet — the last probe is
    /// recent, or no member reports a leader. The leader check (`/v3/maintenance/status`) is
    /// answered at once even without quorum, whereas a linearizable read would wait for its
    /// timeout; the event loop, which makes read views, must not sit in that wait.
    fn skip_probe(&self) -> Option<String> {
        let reason = {
            let mut degraded = self.degraded.lock().ok()?;
            let d = degraded.as_mut()?;
            if d.last_probe.elapsed() < self.config.probe_interval() {
                return Some(d.reason.clone());
            }
            d.last_probe = Instant::now();
            d.reason.clone()
        };
        let leader_seen = (0..self.gateway.endpoints().len())
            .any(|i| self.gateway.status(i).is_ok_and(|s| s.leader != 0));
        (!leader_seen).then_some(reason)
    }

    /// A linearizable request (`request`, read without `serializable`) to the first member
    /// that can serve it: the answer and that member. It also keeps degraded mode's book: a
    /// failure is noted (and may begin it), an answer ends it (`revision` names the revision
    /// the answer was served at).
    fn linearizable<Req: serde::Serialize, Resp: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        request: &Req,
        revision: impl Fn(&Resp) -> i64,
        context: &str,
    ) -> Result<(Resp, usize), StoreError> {
        let (answer, member) = self
            .gateway
            .call::<_, Resp>(path, request, false)
            .map_err(|e| self.note_failure(gateway_error(context, e)))?;
        self.note_success(revision(&answer));
        Ok((answer, member))
    }

    /// A linearizable read of one small key: the newest committed revision and the member
    /// that vouched for it.
    fn linearizable_head(&self) -> Result<(i64, usize), StoreError> {
        let request = RangeRequest {
            key: b64(&self.keys.meta(META_SCHEMA_VERSION)),
            serializable: false,
            count_only: true,
            ..RangeRequest::default()
        };
        let (answer, member) = self.linearizable(
            "/v3/kv/range",
            &request,
            |answer: &gateway::RangeResponse| answer.header.revision,
            "linearizable read from etcd",
        )?;
        Ok((answer.header.revision, member))
    }

    /// The local member's last applied revision, without asking the leader.
    fn serializable_head(&self) -> Result<(i64, usize), StoreError> {
        let request = RangeRequest {
            key: b64(&self.keys.meta(META_SCHEMA_VERSION)),
            serializable: true,
            count_only: true,
            ..RangeRequest::default()
        };
        let (answer, member) = self
            .gateway
            .call::<_, gateway::RangeResponse>("/v3/kv/range", &request, true)
            .map_err(|e| gateway_error("serializable read from etcd", e))?;
        Ok((answer.header.revision, member))
    }

    /// The revision (and member) a read view is pinned at when opened, or when its first read
    /// cannot pin it: linearizable, shared with the callers asking at the same time, unless
    /// `linearizable` is false or there is no quorum (degraded: the local member's last
    /// applied revision).
    fn head_for_read(&self, linearizable: bool) -> Result<(i64, usize), StoreError> {
        if linearizable {
            match self.read_index.head(|| self.linearizable_head()) {
                Ok(head) => return Ok(head),
                Err(StoreError::Unavailable(_)) => {}
                Err(e) => return Err(e),
            }
        }
        self.serializable_head()
    }

    fn view_at(&self, (revision, member): (i64, usize)) -> PinnedView<'_> {
        PinnedView {
            gateway: &self.gateway,
            keys: &self.keys,
            member,
            revision,
        }
    }
}

impl Store for EtcdStore {
    // The snapshot as of this call (a backup export, a view read after later writes): pinned
    // now by a linearizable read of its own.
    fn read(&self) -> Result<Box<dyn ReadView + '_>, StoreError> {
        let linearizable = self.skip_probe().is_none();
        Ok(Box::new(self.view_at(self.head_for_read(linearizable)?)))
    }

    // No request yet: the view's first read is the linearizable read (`first_read.rs`), and
    // fetches every object named (and the key it was asked for) in one read-only transaction:
    // one round trip for a batch of Gets.
    fn read_expecting(&self, objects: &[String]) -> Result<Box<dyn ReadView + '_>, StoreError> {
        let linearizable = self.skip_probe().is_none();
        // etcd refuses a transaction of more than --max-txn-ops operations (128 by default);
        // one place is kept for the key the first read asks for.
        let limit = self.config.max_txn_ops.clamp(1, 128) - 1;
        let mut keys: Vec<Vec<u8>> = Vec::new();
        for uid in objects {
            let key = self.keys.object(uid);
            if keys.len() < limit && !keys.contains(&key) {
                keys.push(key);
            }
        }
        Ok(Box::new(first_read::FirstReadView::new(
            self,
            linearizable,
            keys,
        )))
    }

    fn write(&self) -> Result<Box<dyn WriteTxn + '_>, StoreError> {
        if let Some(reason) = self.skip_probe() {
            return Err(StoreError::Unavailable(reason.into()));
        }
        // Pinned by its first read (`txn.rs`): a group that reads nothing needs no revision.
        Ok(Box::new(txn::EtcdTxn::new(self)))
    }

    // An outage is not a failure of the store: it is degraded mode (`health`), and clears.
    fn failure(&self) -> Option<String> {
        None
    }

    // etcd keeps its own quota; the local disk is the node store's (`crate::store::node`).
    fn space_low(&self) -> bool {
        false
    }

    // etcd holds no audit records (`NO_AUDIT`): there is nothing to write without it.
    fn audit_only_write(&self) -> Result<Option<Box<dyn WriteTxn + '_>>, StoreError> {
        Ok(None)
    }

    fn shared_write(&self) -> Result<Option<Box<dyn WriteTxn + '_>>, StoreError> {
        Ok(None)
    }

    fn replicated(&self) -> bool {
        true
    }

    fn watch_meta(
        &self,
        name: &str,
        hold: std::time::Duration,
    ) -> Option<Result<Box<dyn crate::store::MetaWatch>, StoreError>> {
        let member = self.gateway.preferred_member();
        Some(
            watch::KeyWatch::open(&self.gateway, member, &self.keys.meta(name), hold)
                .map(|w| Box::new(w) as Box<dyn crate::store::MetaWatch>)
                .map_err(|e| StoreError::Io(e.to_string().into())),
        )
    }
}

impl crate::store::MetaWatch for watch::KeyWatch {
    fn changed(&mut self) -> bool {
        watch::KeyWatch::changed(self)
    }
}

/// Why the etcd store refuses audit writes: the audit chain is per node, in the node's local
/// redb beside etcd (`crate::store::node::ClusterNodeStore`), never shared.
const NO_AUDIT: &str = "the audit log is not kept in etcd but in each node's local database";
