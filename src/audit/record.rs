//! One audit record and its stored form. Records name who did what to which object and how it
//! ended; they never hold key material, passphrases, API keys or request payloads.

use serde::{Deserialize, Serialize};

/// Who caused an event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Actor {
    /// A KMIP client: its owner id, certificate fingerprint (SHA-256 hex) and peer address.
    Client {
        owner: String,
        fingerprint: String,
        peer: String,
    },
    /// An administrator on this machine (admin socket peer or the offline CLI).
    User { uid: u32, name: String },
    /// The appliance itself (start-up, root key sync, pruning).
    System,
}

impl Actor {
    /// Short text for tables and filters.
    pub fn label(&self) -> String {
        match self {
            Actor::Client { owner, peer, .. } => format!("{owner}@{peer}"),
            Actor::User { name, .. } => format!("user:{name}"),
            Actor::System => "system".to_string(),
        }
    }
}

/// How an event ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Success,
    Failure,
    /// A KMIP batch item that succeeded and was then undone by a later failure.
    Undone,
}

/// What happened, as the caller reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEvent {
    /// KMIP operation name (`Create`, `Get`, …) or a dotted admin/system name (`client.add`,
    /// `root.unwrap`, …).
    pub operation: String,
    pub uids: Vec<String>,
    pub outcome: Outcome,
    /// Result Reason or a short error text; never secret.
    pub reason: Option<String>,
}

impl AuditEvent {
    pub fn success(operation: impl Into<String>, uids: Vec<String>) -> AuditEvent {
        AuditEvent {
            operation: operation.into(),
            uids,
            outcome: Outcome::Success,
            reason: None,
        }
    }

    pub fn failure(operation: impl Into<String>, uids: Vec<String>, reason: String) -> AuditEvent {
        AuditEvent {
            operation: operation.into(),
            uids,
            outcome: Outcome::Failure,
            reason: Some(reason),
        }
    }
}

/// Operation name of the record that marks a pruning cut.
pub const CHECKPOINT: &str = "audit.checkpoint";

/// The MACed content of one record. Field order is the encoding order (see `docs/audit.md`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditRecord {
    pub seq: u64,
    /// Milliseconds since the Unix epoch, UTC.
    pub time_ms: i64,
    pub actor: Actor,
    pub operation: String,
    pub uids: Vec<String>,
    pub outcome: Outcome,
    pub reason: Option<String>,
    /// Only in a checkpoint: the chain MAC of the pruned record it replaces (hex), which the
    /// next record is chained to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chain: Option<String>,
}

impl AuditRecord {
    /// The bytes the MAC covers: compact JSON in declaration order.
    pub fn encode(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }

    pub fn is_checkpoint(&self) -> bool {
        self.operation == CHECKPOINT
    }

    pub fn failed(&self) -> bool {
        self.outcome != Outcome::Success
    }
}

/// A record as stored in the `audit` table: the record and its MAC (hex).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredRecord {
    pub record: AuditRecord,
    pub mac: String,
}

impl StoredRecord {
    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<StoredRecord, RecordError> {
        serde_json::from_slice(bytes).map_err(RecordError::Unreadable)
    }

    /// The MAC the next record is chained to.
    pub fn chain_value(&self) -> Result<[u8; 32], RecordError> {
        let hex_text = match (&self.record.chain, self.record.is_checkpoint()) {
            (Some(chain), true) => chain,
            _ => &self.mac,
        };
        decode_mac(hex_text)
    }
}

/// The stored form of a record already encoded ([`AuditRecord::encode`]) with its MAC (hex, or
/// empty while pending): byte for byte what [`StoredRecord::to_bytes`] writes, without
/// encoding the record a second time. The MAC is hex, which JSON needs no escapes for.
pub fn stored_bytes(encoded_record: &[u8], mac_hex: &str) -> Vec<u8> {
    const HEAD: &[u8] = b"{\"record\":";
    const MIDDLE: &[u8] = b",\"mac\":\"";
    let mut out =
        Vec::with_capacity(HEAD.len() + encoded_record.len() + MIDDLE.len() + mac_hex.len() + 2);
    out.extend_from_slice(HEAD);
    out.extend_from_slice(encoded_record);
    out.extend_from_slice(MIDDLE);
    out.extend_from_slice(mac_hex.as_bytes());
    out.extend_from_slice(b"\"}");
    out
}

/// Why a stored record or its MAC cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    #[error("unreadable audit record: {0}")]
    Unreadable(#[source] serde_json::Error),
    #[error("MAC is not hex")]
    MacNotHex(#[source] hex::FromHexError),
    #[error("MAC is not 32 bytes")]
    MacNotThirtyTwoBytes,
}

pub fn decode_mac(text: &str) -> Result<[u8; 32], RecordError> {
    let bytes = hex::decode(text).map_err(RecordError::MacNotHex)?;
    bytes
        .try_into()
        .map_err(|_| RecordError::MacNotThirtyTwoBytes)
}
