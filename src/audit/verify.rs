//! Walks the chain from the oldest kept record and reports the first one that does not fit.

use serde::{Deserialize, Serialize};

use super::AuditError;
use super::chain::{ChainKey, GENESIS};
use super::record::{RecordError, StoredRecord, decode_mac};
use crate::store::ReadView;

/// Records read per store call while walking.
const PAGE: usize = 1024;

/// What a walk found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verification {
    /// Records checked (including a leading checkpoint).
    pub records: u64,
    pub first_seq: Option<u64>,
    /// Sequence number and MAC (hex) of the newest record: compare with a logged chain head.
    pub head_seq: Option<u64>,
    pub head_mac: Option<String>,
    /// The first record that does not verify, if any.
    pub broken: Option<Break>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Break {
    /// Table key where the chain broke.
    pub seq: u64,
    pub problem: String,
}

impl Verification {
    pub fn is_intact(&self) -> bool {
        self.broken.is_none()
    }
}

pub fn verify(view: &dyn ReadView, key: &ChainKey) -> Result<Verification, AuditError> {
    let mut out = Verification {
        records: 0,
        first_seq: None,
        head_seq: None,
        head_mac: None,
        broken: None,
    };
    let mut prev: Option<(u64, [u8; 32])> = None;
    let mut from = 0u64;
    loop {
        let page = view.audit_range(from, PAGE)?;
        let Some((last_key, _)) = page.last() else {
            break;
        };
        from = last_key.saturating_add(1);
        for (key_seq, bytes) in &page {
            if let Err(problem) = check_one(key, *key_seq, bytes, &mut prev, out.records == 0) {
                out.broken = Some(Break {
                    seq: *key_seq,
                    problem: problem.to_string(),
                });
                return Ok(out);
            }
            out.records += 1;
            out.first_seq.get_or_insert(*key_seq);
            out.head_seq = Some(*key_seq);
            out.head_mac = StoredRecord::from_bytes(bytes).ok().map(|r| r.mac);
        }
        if *last_key == u64::MAX {
            break;
        }
    }
    Ok(out)
}

/// Where a walk over records handed over in pieces stands: the last record checked and the
/// chain value (hex) the next record is MACed with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainPoint {
    pub seq: u64,
    pub chain: String,
}

/// Checks exported records (one node's complete export, in order, passed in pieces) against
/// the chain: `after` is where the previous piece ended (`None` for the first). Returns where
/// this piece ends, or the first record that does not fit.
pub fn verify_records(
    key: &ChainKey,
    records: &[StoredRecord],
    after: Option<&ChainPoint>,
) -> Result<Option<ChainPoint>, Break> {
    let mut prev = match after {
        None => None,
        Some(point) => Some((
            point.seq,
            decode_mac(&point.chain).map_err(|problem| Break {
                seq: point.seq,
                problem: problem.to_string(),
            })?,
        )),
    };
    for (i, stored) in records.iter().enumerate() {
        let seq = stored.record.seq;
        let first = after.is_none() && i == 0;
        check_one(key, seq, &stored.to_bytes(), &mut prev, first).map_err(|problem| Break {
            seq,
            problem: problem.to_string(),
        })?;
    }
    Ok(prev.map(|(seq, chain)| ChainPoint {
        seq,
        chain: hex::encode(chain),
    }))
}

fn check_one(
    key: &ChainKey,
    key_seq: u64,
    bytes: &[u8],
    prev: &mut Option<(u64, [u8; 32])>,
    first: bool,
) -> Result<(), ChainProblem> {
    let stored = StoredRecord::from_bytes(bytes)?;
    let record = &stored.record;
    if record.seq != key_seq {
        return Err(ChainProblem::Moved {
            stored_under: key_seq,
            says: record.seq,
        });
    }
    if let Some((prev_seq, _)) = prev
        && key_seq != *prev_seq + 1
    {
        return Err(ChainProblem::Missing {
            first: *prev_seq + 1,
            last: key_seq - 1,
        });
    }
    if stored.mac.is_empty() {
        return Err(ChainProblem::NotYetMaced);
    }
    let mac = decode_mac(&stored.mac)?;
    if record.is_checkpoint() {
        if !first {
            return Err(ChainProblem::CheckpointInTheMiddle);
        }
        if key.checkpoint_mac(record) != mac {
            return Err(ChainProblem::CheckpointMacMismatch);
        }
    } else {
        let expected_prev = match prev {
            Some((_, value)) => *value,
            None if key_seq == 1 => GENESIS,
            None => {
                return Err(ChainProblem::EarlierRemoved { oldest: key_seq });
            }
        };
        if key.mac(&expected_prev, record) != mac {
            return Err(ChainProblem::MacMismatch);
        }
    }
    *prev = Some((key_seq, stored.chain_value()?));
    Ok(())
}

/// Why a record does not fit the chain: the `problem` of a [`Break`], in the words a
/// `keyward audit verify` prints.
#[derive(Debug, thiserror::Error)]
enum ChainProblem {
    #[error(transparent)]
    Record(#[from] RecordError),
    #[error(
        "record stored under sequence {stored_under} says it is {says}: records were moved or swapped"
    )]
    Moved { stored_under: u64, says: u64 },
    #[error("records {first} to {last} are missing: removed")]
    Missing { first: u64, last: u64 },
    #[error(
        "not yet MACed: written while the appliance held no master key (sealed since start); it \
         is chained by the first record written after the unseal"
    )]
    NotYetMaced,
    #[error("a checkpoint in the middle of the chain: inserted")]
    CheckpointInTheMiddle,
    #[error("checkpoint MAC does not match: changed or forged")]
    CheckpointMacMismatch,
    #[error(
        "the oldest record is {oldest}, not 1, and no checkpoint marks a pruning: earlier \
         records were removed"
    )]
    EarlierRemoved { oldest: u64 },
    #[error("MAC does not match the record and its predecessor: changed, inserted or reordered")]
    MacMismatch,
}
