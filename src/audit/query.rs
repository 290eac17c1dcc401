//! Filters for `keyward audit show` and `export`.

use serde::{Deserialize, Serialize};

use super::AuditError;
use super::record::{Actor, AuditRecord, StoredRecord};
use crate::store::ReadView;

const PAGE: usize = 1024;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Filter {
    /// Milliseconds since the epoch, inclusive.
    pub since_ms: Option<i64>,
    /// Milliseconds since the epoch, exclusive.
    pub until_ms: Option<i64>,
    /// Client owner id (`cn:…`), or a part of it, or an admin user name.
    pub client: Option<String>,
    pub uid: Option<String>,
    /// Operation name, case-insensitive.
    pub op: Option<String>,
    pub failed: bool,
}

impl Filter {
    pub fn matches(&self, record: &AuditRecord) -> bool {
        if self.since_ms.is_some_and(|t| record.time_ms < t)
            || self.until_ms.is_some_and(|t| record.time_ms >= t)
            || (self.failed && !record.failed())
        {
            return false;
        }
        if let Some(uid) = &self.uid
            && !record.uids.iter().any(|u| u == uid)
        {
            return false;
        }
        if let Some(op) = &self.op
            && !record.operation.eq_ignore_ascii_case(op)
        {
            return false;
        }
        if let Some(client) = &self.client {
            let hit = match &record.actor {
                Actor::Client { owner, .. } => owner.contains(client.as_str()),
                Actor::User { name, .. } => name == client,
                Actor::System => client == "system",
            };
            if !hit {
                return false;
            }
        }
        true
    }
}

/// Every stored record matching `filter`, oldest first, at most `limit`.
pub fn select(
    view: &dyn ReadView,
    filter: &Filter,
    limit: usize,
) -> Result<Vec<StoredRecord>, AuditError> {
    let mut out = Vec::new();
    let mut from = 0u64;
    loop {
        let page = view.audit_range(from, PAGE)?;
        let Some((last, _)) = page.last() else { break };
        from = last.saturating_add(1);
        for (_, bytes) in &page {
            let stored = StoredRecord::from_bytes(bytes).map_err(AuditError::Record)?;
            if filter.matches(&stored.record) {
                out.push(stored);
                if out.len() >= limit {
                    return Ok(out);
                }
            }
        }
        if *last == u64::MAX {
            break;
        }
    }
    Ok(out)
}
