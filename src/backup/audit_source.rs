//! The audit log as an extra record source of a backup (`backup export --with-audit`).
//!
//! Each record is written as its sequence number (8 bytes, big-endian) followed by the stored
//! record bytes, exactly as they sit in the audit table, MAC included. A restore does not put
//! them back into the new appliance's log: that log is chained under the new master key, and
//! the old records can only be checked against the old one. They stay in the backup file as
//! an archive of what the old appliance did.

use super::BackupError;
use super::export::ExtraSource;
use crate::store::ReadView;

/// Records read per store call, so memory stays bounded whatever the log's length.
const PAGE: usize = 512;

pub struct AuditSource;

impl ExtraSource for AuditSource {
    fn name(&self) -> &str {
        "audit"
    }

    fn visit(
        &self,
        view: &dyn ReadView,
        emit: &mut dyn FnMut(&[u8]) -> Result<(), BackupError>,
    ) -> Result<(), BackupError> {
        let mut from = 0u64;
        loop {
            let page = view.audit_range(from, PAGE)?;
            let Some((last, _)) = page.last() else {
                return Ok(());
            };
            let next = last.saturating_add(1);
            for (seq, record) in &page {
                let mut payload = Vec::with_capacity(8 + record.len());
                payload.extend_from_slice(&seq.to_be_bytes());
                payload.extend_from_slice(record);
                emit(&payload)?;
            }
            if page.len() < PAGE || next == 0 {
                return Ok(());
            }
            from = next;
        }
    }
}
