//! Audit records of changes to the admin API's accounts and tokens (`keyward admin-user …`,
//! `keyward api-token …`). Those commands edit a file of the data directory, with or without a
//! running server; the record goes through the admin socket when the server runs (it holds the
//! database) and into the database directly when it does not, like every other admin request.
//! The operation is one of a closed set (`admin_user.add`, `api_token.revoke`, …), never free
//! text, so the record cannot pass for another kind of event.

use serde::{Deserialize, Serialize};

use super::audit_record::audit_admin;
use super::error::AdminError;
use crate::audit::AuditBy;
use crate::audit::AuditEvent;
use crate::store::Store;

/// What changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AccountChange {
    UserAdd,
    UserRemove,
    UserPasswd,
    UserTotpEnable,
    UserTotpDisable,
    TokenCreate,
    TokenRevoke,
}

impl AccountChange {
    /// The operation name in the audit log.
    pub fn operation(self) -> &'static str {
        match self {
            AccountChange::UserAdd => "admin_user.add",
            AccountChange::UserRemove => "admin_user.remove",
            AccountChange::UserPasswd => "admin_user.passwd",
            AccountChange::UserTotpEnable => "admin_user.totp.enable",
            AccountChange::UserTotpDisable => "admin_user.totp.disable",
            AccountChange::TokenCreate => "api_token.create",
            AccountChange::TokenRevoke => "api_token.revoke",
        }
    }
}

/// One change: the account or token it concerned, and its role where one was given.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountEvent {
    pub change: AccountChange,
    pub name: String,
    #[serde(default)]
    pub role: Option<String>,
}

/// Records `event` as `by`. Names are checked by the accounts file before any change is made;
/// here they are only bounded, so a record stays a short single line.
pub fn record(store: &dyn Store, event: &AccountEvent, by: AuditBy<'_>) -> Result<(), AdminError> {
    let printable = |t: &str| t.len() <= 128 && !t.chars().any(char::is_control);
    if !printable(&event.name) || !event.role.as_deref().is_none_or(printable) {
        return Err(AdminError::ConsoleEvent(
            "account names and roles are single lines of at most 128 bytes".into(),
        ));
    }
    let mut details = vec![event.name.clone()];
    details.extend(event.role.iter().map(|r| format!("role {r}")));
    let mut txn = store.write()?;
    audit_admin(
        &mut *txn,
        by,
        AuditEvent::success(event.change.operation(), details),
    )?;
    txn.commit()?;
    Ok(())
}
