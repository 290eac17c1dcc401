//! The two-person rule for destruction (`[admin_http] destroy_approval = true`): destroying a
//! key or removing a client with its keys becomes a pending request that a second admin (a
//! different account or token name) approves before it runs. Pending requests live in this
//! process's memory and expire; a restart forgets them, which fails safe: nothing is
//! destroyed without a fresh approval.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::Serialize;

/// Most requests pending at once; more are refused until some are approved or expire.
const MAX_PENDING: usize = 1000;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    DestroyKey { uid: String },
    RemoveClientWithKeys { name: String },
}

impl Action {
    pub fn describe(&self) -> (&'static str, &str) {
        match self {
            Action::DestroyKey { uid } => ("key.destroy", uid),
            Action::RemoveClientWithKeys { name } => ("client.remove-with-keys", name),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Pending {
    pub id: String,
    pub action: Action,
    pub requested_by: String,
    pub created_unix: i64,
    expires: Instant,
}

/// A pending request as GET /api/v1/approvals lists it.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PendingView<'a> {
    pub id: &'a str,
    pub action: &'static str,
    pub target: &'a str,
    pub requested_by: &'a str,
    pub creation_date: i64,
    pub expires_in: u64,
}

impl Pending {
    /// How the API shows this request at `now`.
    pub fn view(&self, now: Instant) -> PendingView<'_> {
        let (action, target) = self.action.describe();
        PendingView {
            id: &self.id,
            action,
            target,
            requested_by: &self.requested_by,
            creation_date: self.created_unix,
            expires_in: self.expires.saturating_duration_since(now).as_secs(),
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ApprovalError {
    #[error("no pending request {0:?} (approved, rejected, expired or never made)")]
    Unknown(String),
    #[error("request {0:?} expired before it was approved; make it again")]
    Expired(String),
    #[error("{0} made this request; a second admin must approve it")]
    SamePerson(String),
    #[error("{MAX_PENDING} requests are pending already")]
    Full,
    #[error("random numbers: {0}")]
    Random(String),
}

pub struct Approvals {
    ttl: Duration,
    pending: Mutex<HashMap<String, Pending>>,
}

impl Approvals {
    pub fn new(ttl: Duration) -> Approvals {
        Approvals {
            ttl,
            pending: Mutex::new(HashMap::new()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Pending>> {
        // A panic while holding the map leaves it consistent (inserts and removes only).
        self.pending.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn request(&self, action: Action, requested_by: &str) -> Result<Pending, ApprovalError> {
        let now = Instant::now();
        let mut pending = self.lock();
        pending.retain(|_, p| p.expires > now);
        if pending.len() >= MAX_PENDING {
            return Err(ApprovalError::Full);
        }
        let mut random = [0u8; 16];
        getrandom::fill(&mut random).map_err(|e| ApprovalError::Random(e.to_string()))?;
        let request = Pending {
            id: hex::encode(random),
            action,
            requested_by: requested_by.to_string(),
            created_unix: crate::admin::registry::now(),
            expires: now + self.ttl,
        };
        pending.insert(request.id.clone(), request.clone());
        Ok(request)
    }

    /// The requests still pending, oldest first.
    pub fn list(&self) -> Vec<Pending> {
        let now = Instant::now();
        let mut pending = self.lock();
        pending.retain(|_, p| p.expires > now);
        let mut list: Vec<Pending> = pending.values().cloned().collect();
        list.sort_by_key(|p| p.created_unix);
        list
    }

    /// Takes the request `id` out for `approver` to run; refused for its own requester.
    pub fn approve(&self, id: &str, approver: &str) -> Result<Pending, ApprovalError> {
        let mut pending = self.lock();
        let request = pending
            .get(id)
            .ok_or_else(|| ApprovalError::Unknown(id.to_string()))?;
        if request.expires <= Instant::now() {
            pending.remove(id);
            return Err(ApprovalError::Expired(id.to_string()));
        }
        if request.requested_by == approver {
            return Err(ApprovalError::SamePerson(approver.to_string()));
        }
        pending
            .remove(id)
            .ok_or_else(|| ApprovalError::Unknown(id.to_string()))
    }

    pub fn reject(&self, id: &str) -> Result<Pending, ApprovalError> {
        self.lock()
            .remove(id)
            .ok_or_else(|| ApprovalError::Unknown(id.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_person_approves_once_and_requests_expire() {
        let approvals = Approvals::new(Duration::from_secs(60));
        let action = Action::DestroyKey { uid: "k1".into() };
        let request = approvals.request(action.clone(), "alice").unwrap();
        assert_eq!(approvals.list().len(), 1);
        assert_eq!(
            approvals.approve(&request.id, "alice").unwrap_err(),
            ApprovalError::SamePerson("alice".into())
        );
        assert_eq!(
            approvals.approve(&request.id, "dave").unwrap().action,
            action
        );
        assert!(matches!(
            approvals.approve(&request.id, "dave"),
            Err(ApprovalError::Unknown(_))
        ));
        let short = Approvals::new(Duration::ZERO);
        let request = short.request(action, "alice").unwrap();
        assert!(matches!(
            short.approve(&request.id, "dave"),
            Err(ApprovalError::Expired(_))
        ));
    }
}
