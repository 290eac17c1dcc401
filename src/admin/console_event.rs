//! Audit records of what an administrator does on the appliance console outside Keyward's own
//! commands (network and NTP changes, SSH for a while, a service restart, a shell, a printed
//! client key). Keyward's commands audit themselves; these actions would otherwise leave no
//! trace in the same tamper-evident log. Recorded as `console.<action>`, in a namespace of
//! their own, so a note can never pass for a real `client.add` or `root.unseal`.

use serde::{Deserialize, Serialize};

use super::audit_record::audit_admin;
use super::error::AdminError;
use crate::audit::AuditBy;
use crate::audit::AuditEvent;
use crate::store::Store;

/// Prefix of every console event's operation name.
pub const PREFIX: &str = "console.";
const MAX_ACTION_LEN: usize = 48;
const MAX_DETAILS: usize = 8;
const MAX_DETAIL_LEN: usize = 256;

/// One console action: `action` (lower-case letters, digits, `.`, `-`, `_`), what it concerned,
/// and why it failed when it did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsoleEvent {
    pub action: String,
    #[serde(default)]
    pub details: Vec<String>,
    #[serde(default)]
    pub failure: Option<String>,
}

impl ConsoleEvent {
    /// Refuses what does not fit the audit log's short, printable fields.
    pub fn validate(&self) -> Result<(), AdminError> {
        let bad = |why: String| Err(AdminError::ConsoleEvent(why));
        let action_ok = !self.action.is_empty()
            && self.action.len() <= MAX_ACTION_LEN
            && self.action.starts_with(|c: char| c.is_ascii_lowercase())
            && self
                .action
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || ".-_".contains(c));
        if !action_ok {
            return bad(format!(
                "action {:?}: 1 to {MAX_ACTION_LEN} characters, a-z first, then a-z 0-9 . - _",
                self.action
            ));
        }
        if self.details.len() > MAX_DETAILS {
            return bad(format!("at most {MAX_DETAILS} details"));
        }
        for text in self.details.iter().chain(&self.failure) {
            if text.len() > MAX_DETAIL_LEN || text.chars().any(char::is_control) {
                return bad(format!(
                    "details and reasons are single lines of at most {MAX_DETAIL_LEN} bytes"
                ));
            }
        }
        Ok(())
    }

    /// The operation name in the audit log.
    pub fn operation(&self) -> String {
        format!("{PREFIX}{}", self.action)
    }
}

/// Records `event` as `by` (checked first).
pub fn record(store: &dyn Store, event: &ConsoleEvent, by: AuditBy<'_>) -> Result<(), AdminError> {
    event.validate()?;
    let audit_event = match &event.failure {
        None => AuditEvent::success(event.operation(), event.details.clone()),
        Some(reason) => {
            AuditEvent::failure(event.operation(), event.details.clone(), reason.clone())
        }
    };
    let mut txn = store.write()?;
    audit_admin(&mut *txn, by, audit_event)?;
    txn.commit()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(action: &str, details: &[&str]) -> ConsoleEvent {
        ConsoleEvent {
            action: action.into(),
            details: details.iter().map(|d| d.to_string()).collect(),
            failure: None,
        }
    }

    #[test]
    fn only_short_plain_names_and_single_line_details_pass() {
        assert!(event("ssh.enable", &["30 min"]).validate().is_ok());
        assert_eq!(event("network", &[]).operation(), "console.network");
        for bad in ["", "Shell", "1shell", "a b", "x/y", &"a".repeat(49)] {
            assert!(event(bad, &[]).validate().is_err(), "{bad:?}");
        }
        assert!(event("shell", &["two\nlines"]).validate().is_err());
        assert!(event("shell", &[&"x".repeat(257)]).validate().is_err());
        assert!(event("shell", &["a"; 9]).validate().is_err());
    }
}
