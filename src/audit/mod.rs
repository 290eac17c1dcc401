//! The tamper-evident audit log (issue 6; format and chain in `docs/audit.md`).
//!
//! Every KMIP operation, admin action and root-key event appends one record to the `audit`
//! table in the same store write transaction as the change it records, so a change without its
//! record can never be committed. Records are chained with HMAC-SHA256 under a key derived
//! from the master key ([`chain`]); [`verify`] walks the chain.

pub mod chain;
pub mod forward;
pub mod prune;
pub mod query;
pub mod read_journal;
pub mod record;
pub mod settings;
pub mod time;
pub mod verify;

use std::sync::{Arc, OnceLock};
use std::time::{SystemTime, UNIX_EPOCH};

pub use self::time::{BadTime, format_time, parse_time};
pub use chain::ChainKey;
pub use record::{Actor, AuditEvent, AuditRecord, Outcome, RecordError, StoredRecord};

use crate::seal::{KeyGate, MasterKey};
use crate::store::{StoreError, WriteView};

#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error("store: {0}")]
    Store(#[from] StoreError),
    #[error("the audit chain key is unavailable: {0}")]
    NoKey(String),
    #[error("the audit log is corrupt: {0}")]
    Corrupt(String),
    #[error("the audit log is corrupt: {0}")]
    Record(#[from] RecordError),
}

impl From<AuditError> for StoreError {
    /// The committer treats a failed audit write like a failed store write: nothing commits.
    fn from(e: AuditError) -> StoreError {
        match e {
            AuditError::Store(e) => e,
            other => StoreError::Io(format!("writing the audit record: {other}").into()),
        }
    }
}

/// Who performs an admin action and the audit log it goes to; `None` records nothing (tests,
/// and the offline CLI until it holds the master key).
pub type AuditBy<'a> = Option<(&'a AuditContext, &'a Actor)>;

/// Where the chain key comes from: derived once from the master key, as soon as one is held.
/// Kept while the appliance is sealed, so the log keeps recording (it cannot decrypt keys).
pub struct AuditContext {
    gate: Option<Arc<KeyGate>>,
    key: OnceLock<ChainKey>,
    /// How often a running server logs the chain head.
    pub head_log_interval: std::time::Duration,
    /// Where reads are audited without an fsync (`docs/audit.md`); `None`: every read's
    /// record commits durably before its answer (`durable_reads = true`, clusters, tools).
    pub reads: Option<Arc<read_journal::ReadJournal>>,
    /// At most this long between a read's journal append and the durable commit holding it.
    pub read_sync_interval: std::time::Duration,
    /// `[audit] retain_days`: the running server prunes continuously (`prune.rs`).
    pub retain_days: Option<u32>,
    /// `[audit] forward_address`: the running server forwards every record (`forward.rs`).
    pub forward: Option<forward::ForwardTarget>,
}

impl AuditContext {
    /// For a running server: the key is derived from the gate's master key on first use.
    pub fn from_gate(gate: Arc<KeyGate>) -> AuditContext {
        let context = AuditContext {
            gate: Some(gate),
            key: OnceLock::new(),
            head_log_interval: settings::AuditSettings::default().head_log_interval(),
            reads: None,
            read_sync_interval: settings::AuditSettings::default().read_sync_interval(),
            retain_days: None,
            forward: None,
        };
        // Derive now if unsealed, so a later seal does not stop the log.
        let _ = context.key();
        context
    }

    /// For offline admin tools that do not unwrap the master key (`client add` on a stopped
    /// server): their records are stored pending, without a MAC, and chained in order by the
    /// next record written with the key, at the latest when the appliance next starts.
    pub fn without_key() -> AuditContext {
        AuditContext {
            gate: None,
            key: OnceLock::new(),
            head_log_interval: settings::AuditSettings::default().head_log_interval(),
            reads: None,
            read_sync_interval: settings::AuditSettings::default().read_sync_interval(),
            retain_days: None,
            forward: None,
        }
    }

    /// For offline tools holding the master key.
    pub fn from_master(master: &MasterKey) -> AuditContext {
        let key = OnceLock::new();
        let _ = key.set(ChainKey::derive(master));
        AuditContext {
            gate: None,
            key,
            head_log_interval: settings::AuditSettings::default().head_log_interval(),
            reads: None,
            read_sync_interval: settings::AuditSettings::default().read_sync_interval(),
            retain_days: None,
            forward: None,
        }
    }

    /// Before an audit query (or a key listing) reads the store: waits (at most a few sync
    /// intervals) until the reads answered so far are folded in from the read journal, so it
    /// sees them (and the first Gets' clears of Fresh they carry).
    pub fn wait_reads_recorded(&self) {
        if let Some(journal) = &self.reads
            && !journal.wait_folded(self.read_sync_interval * 4)
        {
            log::warn!(
                "journalled reads are not folded yet: this answer from the store may miss them"
            );
        }
    }

    pub fn key(&self) -> Result<&ChainKey, AuditError> {
        if let Some(key) = self.key.get() {
            return Ok(key);
        }
        let gate = self
            .gate
            .as_ref()
            .ok_or_else(|| AuditError::NoKey("no master key".into()))?;
        let master = gate.current().map_err(AuditError::NoKey)?;
        Ok(self.key.get_or_init(|| ChainKey::derive(&master)))
    }
}

pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Appends one record for `event` inside `txn`. If this fails the caller must abandon the
/// transaction: the change it records must not happen without it.
pub fn record(
    txn: &mut dyn WriteView,
    ctx: &AuditContext,
    actor: Actor,
    event: AuditEvent,
) -> Result<(), AuditError> {
    record_at(txn, ctx, actor, event, now_ms())
}

/// Like [`record`], for an event that happened at `time_ms` (a journalled read, folded later).
pub fn record_at(
    txn: &mut dyn WriteView,
    ctx: &AuditContext,
    actor: Actor,
    event: AuditEvent,
    time_ms: i64,
) -> Result<(), AuditError> {
    let mut tail = ChainTail::default();
    tail.append(txn, ctx, actor, event, time_ms)
}

/// The end of the chain as one write transaction leaves it: the next sequence number and the
/// chain value the next record is MACed with. A group of requests appends many records in one
/// transaction; reading and parsing the last stored record once, not once per record, saves the
/// committer a read and a JSON parse per request. Valid only inside the transaction it was read
/// in, and only while nothing else appends there (the write pipeline holds one per group).
#[derive(Debug, Default)]
pub struct ChainTail {
    /// `None`: not read yet (or the last record is pending, unMACed): the next append reads it.
    known: Option<(u64, [u8; 32])>,
}

impl ChainTail {
    /// Appends one record for `event` inside `txn`, chained to the tail. If this fails the
    /// caller must abandon the transaction: the change it records must not happen without it.
    pub fn append(
        &mut self,
        txn: &mut dyn WriteView,
        ctx: &AuditContext,
        actor: Actor,
        event: AuditEvent,
        time_ms: i64,
    ) -> Result<(), AuditError> {
        // An appliance that started sealed holds no chain key yet; it must still answer
        // Discover Versions and Query, so their records are stored unMACed ("pending") and
        // chained in order by the first record written once the key is held.
        let key = ctx.key().ok();
        let (seq, prev) = match (self.known.take(), key) {
            (Some(known), Some(_)) => known,
            _ => read_tail(txn, key)?,
        };
        let record = AuditRecord {
            seq,
            time_ms,
            actor,
            operation: event.operation,
            uids: event.uids,
            outcome: event.outcome,
            reason: event.reason,
            chain: None,
        };
        // Encoded once: the MAC covers these bytes and the stored form embeds them.
        let encoded = record.encode();
        let mac = key.map(|key| key.mac_encoded(&prev, &encoded));
        let mac_hex = mac.map(hex::encode).unwrap_or_default();
        txn.audit_put(seq, &record::stored_bytes(&encoded, &mac_hex))?;
        if let Some(mac) = mac {
            let next = seq
                .checked_add(1)
                .ok_or_else(|| AuditError::Corrupt("sequence numbers exhausted".into()))?;
            self.known = Some((next, mac));
        }
        Ok(())
    }
}

/// The next record's sequence number and chain value, from the last stored record; with the
/// key, pending records before it are MACed first.
fn read_tail(
    txn: &mut dyn WriteView,
    key: Option<&ChainKey>,
) -> Result<(u64, [u8; 32]), AuditError> {
    let last = match txn.audit_last()? {
        None => return Ok((1, chain::GENESIS)),
        Some((seq, bytes)) => (
            seq,
            StoredRecord::from_bytes(&bytes).map_err(AuditError::Record)?,
        ),
    };
    let (last_seq, last) = last;
    let seq = last_seq
        .checked_add(1)
        .ok_or_else(|| AuditError::Corrupt("sequence numbers exhausted".into()))?;
    let prev = match (key, last.mac.is_empty()) {
        (Some(key), true) => chain_pending(txn, key, last_seq)?,
        (Some(_), false) => last.chain_value().map_err(AuditError::Record)?,
        (None, _) => chain::GENESIS,
    };
    Ok((seq, prev))
}

/// MACs the pending records ending at `last_seq`, oldest first; returns the new chain value.
fn chain_pending(
    txn: &mut dyn WriteView,
    key: &ChainKey,
    last_seq: u64,
) -> Result<[u8; 32], AuditError> {
    let mut first = last_seq;
    let mut prev = chain::GENESIS;
    while first > 1 {
        let Some((_, bytes)) = txn.audit_range(first - 1, 1)?.into_iter().next() else {
            break;
        };
        let before = StoredRecord::from_bytes(&bytes).map_err(AuditError::Record)?;
        if !before.mac.is_empty() {
            prev = before.chain_value().map_err(AuditError::Record)?;
            break;
        }
        first -= 1;
    }
    for (seq, bytes) in txn.audit_range(first, usize::MAX)? {
        let mut stored = StoredRecord::from_bytes(&bytes).map_err(AuditError::Record)?;
        let mac = key.mac(&prev, &stored.record);
        stored.mac = hex::encode(mac);
        txn.audit_put(seq, &stored.to_bytes())?;
        prev = mac;
    }
    Ok(prev)
}

/// The chain head (sequence number and MAC) for the system log.
pub fn head(view: &dyn crate::store::ReadView) -> Result<Option<(u64, String)>, AuditError> {
    match view.audit_last()? {
        None => Ok(None),
        Some((seq, bytes)) => {
            let stored = StoredRecord::from_bytes(&bytes).map_err(AuditError::Record)?;
            Ok(Some((seq, stored.mac)))
        }
    }
}

/// The Unix user running this process (offline CLI).
pub fn current_user() -> Actor {
    user_actor(rustix::process::getuid().as_raw())
}

/// The actor for Unix user `uid`, named from the password database when possible.
pub fn user_actor(uid: u32) -> Actor {
    Actor::User {
        uid,
        name: user_name(uid).unwrap_or_else(|| format!("uid {uid}")),
    }
}

fn user_name(uid: u32) -> Option<String> {
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|line| {
        let mut fields = line.split(':');
        let name = fields.next()?;
        let id = fields.nth(1)?.parse::<u32>().ok()?;
        (id == uid).then(|| name.to_string())
    })
}

#[cfg(test)]
mod tests;

/// One line of `keyward audit export`: the stored record (what the MAC covers, and the MAC),
/// its time in words, and on a cluster the node it comes from. The added fields lie outside
/// the MACed record, so a reader can check the chain from the line alone.
#[derive(serde::Serialize)]
struct ExportLine<'a> {
    record: ExportRecord<'a>,
    mac: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    node: Option<&'a str>,
}

/// The MACed record's fields and, beside them, its `time` in words.
#[derive(serde::Serialize)]
struct ExportRecord<'a> {
    #[serde(flatten)]
    record: &'a AuditRecord,
    time: String,
}

/// [`ExportLine`] as text. It goes through `serde_json::Value`, so the keys come out sorted,
/// as exports have always had them.
pub fn export_line(stored: &StoredRecord, node: Option<&str>) -> Result<String, serde_json::Error> {
    let line = ExportLine {
        record: ExportRecord {
            record: &stored.record,
            time: format_time(stored.record.time_ms),
        },
        mac: &stored.mac,
        node,
    };
    let value = serde_json::to_value(&line)?;
    serde_json::to_string(&value)
}

#[cfg(test)]
mod read_journal_tests;

#[cfg(test)]
mod prune_bite_tests;

#[cfg(test)]
mod forward_tests;
