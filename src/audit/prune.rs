//! Retention: drops records older than a cut-off and puts a checkpoint in place of the newest
//! dropped record, so the chain still verifies from the oldest kept record.

use super::chain::ChainKey;
use super::record::{AuditRecord, CHECKPOINT, Outcome, StoredRecord};
use super::{AuditError, now_ms};
use crate::store::WriteView;

const PAGE: usize = 1024;

/// Removes every record older than `cutoff_ms` except the newest record: the log never becomes
/// empty. Returns how many records were removed.
pub fn prune_before(
    txn: &mut dyn WriteView,
    key: &ChainKey,
    cutoff_ms: i64,
) -> Result<u64, AuditError> {
    prune_before_at_most(txn, key, cutoff_ms, u64::MAX)
}

/// Like [`prune_before`], removing at most about `max` records in this transaction (a running
/// server prunes in bites, so no commit grows with the backlog); the rest goes next time.
pub fn prune_before_at_most(
    txn: &mut dyn WriteView,
    key: &ChainKey,
    cutoff_ms: i64,
    max: u64,
) -> Result<u64, AuditError> {
    // The first record at or after the cut-off; records are appended in time order.
    let Some((head_seq, _)) = txn.audit_last()? else {
        return Ok(0);
    };
    let mut cut = None;
    let mut from = 0u64;
    let mut scanned = 0u64;
    'scan: loop {
        let page = txn.audit_range(from, PAGE)?;
        let Some((last, _)) = page.last() else { break };
        from = last.saturating_add(1);
        for (seq, bytes) in &page {
            let stored = StoredRecord::from_bytes(bytes).map_err(AuditError::Record)?;
            scanned += 1;
            // A checkpoint carries the time of the pruning, not of what it stands for.
            if stored.record.is_checkpoint() {
                continue;
            }
            // Past the bite: cut here (everything before is older than the cut-off too).
            if stored.record.time_ms >= cutoff_ms || scanned > max {
                cut = Some(*seq);
                break 'scan;
            }
        }
    }
    let keep_from = cut.unwrap_or(head_seq);
    let Some((first_seq, _)) = txn.audit_range(0, 1)?.into_iter().next() else {
        return Ok(0);
    };
    // The checkpoint takes the place of record keep_from - 1; nothing older than it to drop?
    if keep_from <= first_seq + 1 {
        return Ok(0);
    }
    let replaced_seq = keep_from - 1;
    let replaced = match txn.audit_range(replaced_seq, 1)?.into_iter().next() {
        Some((seq, bytes)) if seq == replaced_seq => {
            StoredRecord::from_bytes(&bytes).map_err(AuditError::Record)?
        }
        _ => {
            return Err(AuditError::Corrupt(format!(
                "audit record {replaced_seq} is missing"
            )));
        }
    };
    let removed = txn.audit_delete_before(replaced_seq)?;
    let checkpoint = AuditRecord {
        seq: replaced_seq,
        time_ms: now_ms(),
        actor: super::Actor::System,
        operation: CHECKPOINT.to_string(),
        uids: Vec::new(),
        outcome: Outcome::Success,
        reason: Some(format!(
            "pruned {} record(s) older than {}",
            removed + 1,
            super::format_time(cutoff_ms)
        )),
        chain: Some(hex::encode(
            replaced.chain_value().map_err(AuditError::Record)?,
        )),
    };
    let stored = StoredRecord {
        mac: hex::encode(key.checkpoint_mac(&checkpoint)),
        record: checkpoint,
    };
    txn.audit_put(replaced_seq, &stored.to_bytes())?;
    Ok(removed + 1)
}

/// Records a running server removes per pruning pass at most.
pub const RUNNING_BITE: u64 = 50_000;
/// How often a running server prunes (while requests arrive).
pub const RUNNING_INTERVAL: std::time::Duration = std::time::Duration::from_secs(10);

/// Applies `retain_days` as of now, removing at most [`RUNNING_BITE`] records: for the running
/// server, every [`RUNNING_INTERVAL`].
pub fn apply_retention_bite(
    txn: &mut dyn WriteView,
    key: &ChainKey,
    retain_days: Option<u32>,
) -> Result<u64, AuditError> {
    match retain_days {
        None => Ok(0),
        Some(days) => prune_before_at_most(
            txn,
            key,
            now_ms() - i64::from(days) * 86_400_000,
            RUNNING_BITE,
        ),
    }
}

/// Applies `retain_days` (none: keep everything) as of now.
pub fn apply_retention(
    txn: &mut dyn WriteView,
    key: &ChainKey,
    retain_days: Option<u32>,
) -> Result<u64, AuditError> {
    match retain_days {
        None => Ok(0),
        Some(days) => prune_before(txn, key, now_ms() - i64::from(days) * 86_400_000),
    }
}
