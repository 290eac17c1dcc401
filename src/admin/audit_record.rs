//! The audit record of an admin action, written inside the action's own transaction. Shared by
//! every admin operation module; kept apart from the dispatcher (`ops.rs`) for the same reason
//! as `error.rs`.

use super::error::AdminError;
use crate::audit::{self, AuditBy, AuditEvent};
use crate::store::{StoreError, WriteView};

/// Appends the audit record of an admin action inside its transaction.
pub(crate) fn audit_admin(
    txn: &mut dyn WriteView,
    by: AuditBy<'_>,
    event: AuditEvent,
) -> Result<(), AdminError> {
    if let Some((ctx, actor)) = by {
        audit::record(txn, ctx, actor.clone(), event).map_err(StoreError::from)?;
    }
    Ok(())
}
