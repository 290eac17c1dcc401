//! The typed shapes of the admin API's resources: one view per answer, borrowing from the
//! records they show, serialized by serde instead of maps built by hand. Field names are the
//! API's (camelCase, as in `openapi.json` and docs/admin-api.md). Views that carry a secret the
//! caller asked for (a session token, an issued private key, a TOTP URI) derive no `Debug`, so
//! they cannot reach a log line.

use serde::Serialize;

use crate::admin::keys::KeyView;
use crate::admin::ops::ClientView;
use crate::admin::registry::ClientKind;
use crate::engine::admin::ObjectSummary;

/// GET /api/v1/health.
#[derive(Serialize)]
pub struct Health<'a> {
    pub state: &'a str,
    pub reason: Option<String>,
}

/// POST /api/v1/sessions: the token goes in the body, or (console) in a cookie with the CSRF
/// token in the body instead.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Session<'a> {
    pub username: &'a str,
    pub role: &'a str,
    pub expires_in: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub csrf_token: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token: Option<&'a str>,
}

/// GET /api/v1/whoami.
#[derive(Serialize)]
pub struct CallerView<'a> {
    pub name: &'a str,
    pub role: &'a str,
}

/// A registered client; `keys` only when one client is shown, `subject` only for a trusted CA.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Client<'a> {
    pub name: &'a str,
    #[serde(rename = "type")]
    pub kind: &'a str,
    pub owner: &'a str,
    pub fingerprints: &'a [String],
    pub creation_date: i64,
    pub last_seen: Option<i64>,
    pub kmip_username: Option<&'a str>,
    pub keys_total: usize,
    pub keys_live: usize,
    pub certificate_not_after: Option<i64>,
    /// Present (possibly `null`) for a trusted CA only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject: Option<Option<&'a str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keys: Option<&'a [ObjectSummary]>,
}

impl<'a> Client<'a> {
    pub fn new(view: &'a ClientView, with_keys: bool) -> Self {
        let entry = &view.entry;
        Client {
            name: &entry.name,
            kind: entry.kind.label(),
            owner: &entry.owner,
            fingerprints: &entry.fingerprints,
            creation_date: entry.created,
            last_seen: entry.last_seen,
            kmip_username: entry.kmip_username.as_deref(),
            keys_total: view.keys.len(),
            keys_live: view.live_keys(),
            certificate_not_after: crate::admin::expiry::client_not_after(entry),
            subject: match &entry.kind {
                ClientKind::TrustedCa { subject, .. } => Some(subject.as_deref()),
                _ => None,
            },
            keys: with_keys.then_some(view.keys.as_slice()),
        }
    }
}

/// POST /api/v1/clients/issue: the new client with its certificate and private key.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct IssuedClient<'a> {
    pub client: Client<'a>,
    pub certificate: &'a str,
    pub private_key: &'a str,
    pub ca_certificate: &'a str,
}

/// POST /api/v1/clients/sign: the new client with the certificate signed from its CSR.
#[derive(Serialize)]
pub struct SignedClient<'a> {
    pub client: Client<'a>,
    pub certificate: &'a str,
}

/// DELETE /api/v1/clients/{name}.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RemovedClient<'a> {
    pub name: &'a str,
    pub owner: &'a str,
    pub destroyed_keys: usize,
}

/// A managed object as the key endpoints show it. Never carries key material.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Key<'a> {
    pub id: &'a str,
    pub owner: &'a str,
    pub client: Option<&'a str>,
    #[serde(rename = "type")]
    pub object_type: &'a str,
    pub state: &'a str,
    pub x_component: Option<&'a str>,
    pub x_name: Option<&'a str>,
    pub x_identifier: Option<&'a str>,
    pub attributes: Vec<KeyAttribute<'a>>,
}

#[derive(Serialize)]
pub struct KeyAttribute<'a> {
    pub name: &'a str,
    pub value: &'a str,
}

impl<'a> Key<'a> {
    pub fn new(key: &'a KeyView) -> Self {
        Key {
            id: &key.uid,
            owner: &key.owner,
            client: key.client.as_deref(),
            object_type: &key.object_type,
            state: &key.state,
            x_component: key.x_component.as_deref(),
            x_name: key.x_name.as_deref(),
            x_identifier: key.x_identifier.as_deref(),
            attributes: key
                .attributes
                .iter()
                .map(|(name, value)| KeyAttribute { name, value })
                .collect(),
        }
    }
}

/// GET /api/v1/audit/verify.
#[derive(Serialize)]
pub struct AuditVerification<'a, V: Serialize> {
    pub intact: bool,
    pub verification: &'a V,
}

/// GET /api/v1/server/certificate.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ServerCertificate<'a> {
    pub subject: String,
    pub issuer: String,
    pub not_before: i64,
    pub not_after: i64,
    pub expires_in_days: i64,
    pub fingerprint: String,
    pub pem: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub renewed: Option<bool>,
}
