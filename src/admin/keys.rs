//! Keys as the administrator sees them: listing with filters, one key's attributes, and the
//! two lifecycle changes an admin makes (Revoke, Destroy). The changes run through the
//! engine's own Revoke and Destroy as the key's owner would send them, so the states are
//! exactly KMIP's; each is one store write transaction.

use serde::{Deserialize, Serialize};

use super::audit_record::audit_admin;
use super::error::AdminError;
use super::registry::{self, Registry, RegistryError};
use crate::audit::AuditBy;
use crate::audit::AuditEvent;
use crate::engine::EngineError;
use crate::engine::admin::{self as engine_admin, ObjectDetail};
use crate::kmip::enums::RevocationReasonCode;
use crate::store::{ReadView, Store};

/// Which keys `key list` shows; every given condition must hold.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyFilter {
    /// Only this client's keys (by registry name).
    pub client: Option<String>,
    /// Only keys in this state (KMIP name, case and `-`/`_` ignored: `pre-active`, `Active`).
    pub state: Option<String>,
    /// Only keys with an attribute of this name holding this value (`x-Name`, `vm-01`).
    pub attributes: Vec<(String, String)>,
}

/// KMIP Revocation Reason Codes under the names an admin types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum RevokeReason {
    Unspecified,
    KeyCompromise,
    CaCompromise,
    AffiliationChanged,
    Superseded,
    CessationOfOperation,
    PrivilegeWithdrawn,
}

impl RevokeReason {
    pub fn code(self) -> RevocationReasonCode {
        match self {
            RevokeReason::Unspecified => RevocationReasonCode::Unspecified,
            RevokeReason::KeyCompromise => RevocationReasonCode::KeyCompromise,
            RevokeReason::CaCompromise => RevocationReasonCode::CaCompromise,
            RevokeReason::AffiliationChanged => RevocationReasonCode::AffiliationChanged,
            RevokeReason::Superseded => RevocationReasonCode::Superseded,
            RevokeReason::CessationOfOperation => RevocationReasonCode::CessationOfOperation,
            RevokeReason::PrivilegeWithdrawn => RevocationReasonCode::PrivilegeWithdrawn,
        }
    }

    pub fn is_compromise(self) -> bool {
        matches!(
            self,
            RevokeReason::KeyCompromise | RevokeReason::CaCompromise
        )
    }
}

/// KMIP object states, in the spelling `--state` accepts.
pub const STATES: &[&str] = &[
    "pre-active",
    "active",
    "deactivated",
    "compromised",
    "destroyed",
    "destroyed-compromised",
];

/// `PreActive`, `pre-active` and `PRE_ACTIVE` all compare equal.
pub fn normalize_state(state: &str) -> String {
    state
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .collect::<String>()
        .to_ascii_lowercase()
}

/// One key: its owner (and the registered client of that owner), state and attributes.
/// Never carries key material.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyView {
    pub uid: String,
    pub owner: String,
    /// The registered client whose keys are stored under `owner`, if any.
    pub client: Option<String>,
    pub object_type: String,
    pub state: String,
    /// vCenter's custom attributes: which component, VM or host the key protects.
    pub x_component: Option<String>,
    pub x_name: Option<String>,
    pub x_identifier: Option<String>,
    pub attributes: Vec<(String, String)>,
}

impl KeyView {
    fn new(detail: ObjectDetail, registry: &Registry) -> KeyView {
        let first = |name: &str| {
            detail
                .attributes
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.clone())
        };
        KeyView {
            client: registry
                .clients()
                .iter()
                .find(|c| c.owner == detail.owner)
                .map(|c| c.name.clone()),
            x_component: first("x-Component"),
            x_name: first("x-Name"),
            x_identifier: first("x-Identifier"),
            uid: detail.uid,
            owner: detail.owner,
            object_type: detail.object_type,
            state: detail.state,
            attributes: detail.attributes,
        }
    }

    fn matches(&self, filter: &KeyFilter) -> bool {
        filter
            .state
            .as_deref()
            .is_none_or(|s| normalize_state(s) == normalize_state(&self.state))
            && filter.attributes.iter().all(|(name, value)| {
                self.attributes
                    .iter()
                    .any(|(n, v)| n.eq_ignore_ascii_case(name) && v == value)
            })
    }
}

fn key_view(view: &dyn ReadView, uid: &str) -> Result<KeyView, AdminError> {
    let registry = Registry::load(view)?;
    let detail = engine_admin::object_detail(view, uid)?
        .ok_or_else(|| AdminError::KeyNotFound(uid.to_string()))?;
    Ok(KeyView::new(detail, &registry))
}

/// Keys of the registered clients (or of one), in client then UID order. Keys whose owner is
/// not registered (a client trusted by the configuration alone) are reachable by `show_key`.
pub fn list_keys(store: &dyn Store, filter: &KeyFilter) -> Result<Vec<KeyView>, AdminError> {
    let view = store.read()?;
    let registry = Registry::load(&*view)?;
    let owners: Vec<String> = match &filter.client {
        Some(name) => vec![
            registry
                .get(name)
                .ok_or_else(|| RegistryError::UnknownClient(name.clone()))?
                .owner
                .clone(),
        ],
        None => registry.clients().iter().map(|c| c.owner.clone()).collect(),
    };
    let mut out = Vec::new();
    for owner in owners {
        for uid in view.find(&owner, None)? {
            if let Some(detail) = engine_admin::object_detail(&*view, &uid)? {
                let key = KeyView::new(detail, &registry);
                if key.matches(filter) {
                    out.push(key);
                }
            }
        }
    }
    Ok(out)
}

pub fn show_key(store: &dyn Store, uid: &str) -> Result<KeyView, AdminError> {
    key_view(&*store.read()?, uid)
}

/// Revokes `uid` for `reason`: an Active key becomes Deactivated, and a compromise reason makes
/// a key in any state Compromised (Destroyed Compromised once destroyed).
pub fn revoke_key(
    store: &dyn Store,
    uid: &str,
    reason: RevokeReason,
    by: AuditBy<'_>,
) -> Result<KeyView, AdminError> {
    let mut txn = store.write()?;
    let before = key_view(&*txn, uid)?;
    engine_admin::revoke(&mut *txn, uid, reason.code(), registry::now()).map_err(|e| {
        refusal(e, &before, || {
            format!(
                "key {uid} is {}: only an Active key can be revoked for reason {} (KMIP then \
                 makes it Deactivated); a key that was never activated can be destroyed \
                 directly, and key-compromise applies in any state",
                before.state,
                reason_name(reason)
            )
        })
    })?;
    audit_admin(
        &mut *txn,
        by,
        AuditEvent {
            reason: Some(reason_name(reason)),
            ..AuditEvent::success("key.revoke", vec![uid.to_string(), before.owner.clone()])
        },
    )?;
    let after = key_view(&*txn, uid)?;
    txn.commit()?;
    Ok(after)
}

/// Destroys `uid`'s material. KMIP refuses to destroy an Active key: it is revoked first.
pub fn destroy_key(store: &dyn Store, uid: &str, by: AuditBy<'_>) -> Result<KeyView, AdminError> {
    let mut txn = store.write()?;
    let before = key_view(&*txn, uid)?;
    engine_admin::destroy(&mut *txn, uid, registry::now()).map_err(|e| {
        refusal(e, &before, || {
            format!(
                "key {uid} is {}: an Active key cannot be destroyed; revoke it first \
                 (`keyward key revoke {uid} --reason cessation-of-operation`, or key-compromise)",
                before.state
            )
        })
    })?;
    audit_admin(
        &mut *txn,
        by,
        AuditEvent::success("key.destroy", vec![uid.to_string(), before.owner.clone()]),
    )?;
    let after = key_view(&*txn, uid)?;
    txn.commit()?;
    Ok(after)
}

fn reason_name(reason: RevokeReason) -> String {
    serde_json::to_value(reason)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

/// Maps the engine's refusal to what the admin is told.
fn refusal(e: EngineError, before: &KeyView, wrong_state: impl FnOnce() -> String) -> AdminError {
    match e {
        EngineError::NotFound(uid) => AdminError::KeyNotFound(uid),
        EngineError::Destroyed(uid) => {
            AdminError::KeyState(format!("key {uid} is already {}", before.state))
        }
        EngineError::WrongState { .. } => AdminError::KeyState(wrong_state()),
        other => AdminError::Engine(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_compare_loosely_and_reasons_map_to_kmip_codes() {
        assert_eq!(normalize_state("pre-active"), normalize_state("PreActive"));
        assert_eq!(
            normalize_state("DESTROYED_COMPROMISED"),
            normalize_state("DestroyedCompromised")
        );
        assert_ne!(
            normalize_state("destroyed"),
            normalize_state("DestroyedCompromised")
        );
        assert_eq!(RevokeReason::KeyCompromise.code().value(), 2);
        assert_eq!(RevokeReason::PrivilegeWithdrawn.code().value(), 7);
        assert_eq!(reason_name(RevokeReason::CaCompromise), "ca-compromise");
    }
}
