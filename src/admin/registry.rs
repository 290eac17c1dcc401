//! The client registry: every KMIP client (vCenter) allowed to connect, how it is trusted, and
//! the owner id its keys are stored under.
//!
//! Stored as one versioned JSON document under a meta key, so it needs nothing from the store
//! beyond the meta table every backend already has. A registry holds tens of clients, not
//! thousands; one document keeps every change a single atomic write.

use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::store::{ReadView, StoreError, WriteView};

/// Meta key of the registry document.
pub const META_CLIENT_REGISTRY: &str = "clients.registry";
const FORMAT_VERSION: u32 = 1;

/// How a client's certificate is trusted — the four "Make KMS trust vCenter" methods.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum ClientKind {
    /// vCenter's own (usually self-signed) certificate, pinned by fingerprint.
    PinnedCertificate,
    /// Any certificate chaining to this CA (vCenter's root CA), optionally only with this
    /// subject (full DN as `CN=…, O=…` or just the Common Name).
    TrustedCa {
        ca_pem: String,
        subject: Option<String>,
    },
    /// A certificate and key this appliance issued for vCenter to upload.
    Issued,
    /// A certificate this appliance signed from vCenter's CSR.
    SignedCsr,
}

impl ClientKind {
    pub fn label(&self) -> &'static str {
        match self {
            ClientKind::PinnedCertificate => "pinned-cert",
            ClientKind::TrustedCa { .. } => "trusted-ca",
            ClientKind::Issued => "issued",
            ClientKind::SignedCsr => "signed-csr",
        }
    }
}

/// One registered client.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientEntry {
    /// Unique, chosen by the admin.
    pub name: String,
    pub kind: ClientKind,
    /// Owner id stored with this client's keys. For certificate-based kinds it is the id the
    /// server derived from the certificate before the registry existed (`cn:<CN>`), so keys
    /// created earlier stay with their client.
    pub owner: String,
    /// SHA-256 (lowercase hex) of the certificates this client may present; empty for a CA.
    pub fingerprints: Vec<String>,
    /// Seconds since the Unix epoch.
    pub created: i64,
    pub last_seen: Option<i64>,
    /// Optional KMIP Credential (vCenter can send a username and password).
    pub kmip_username: Option<String>,
    /// Argon2id PHC string of the KMIP password; never the password itself.
    pub kmip_password_hash: Option<String>,
    /// When the client's certificate expires (seconds since the epoch), where the registry
    /// saw it (added, issued or signed over the admin API); a CA's is read from `ca_pem`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cert_not_after: Option<i64>,
}

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("store: {0}")]
    Store(#[from] StoreError),
    #[error("the stored client registry is unreadable: {0}")]
    Corrupt(String),
    #[error("the stored client registry has format {0}; this build reads {FORMAT_VERSION}")]
    UnsupportedFormat(u32),
    #[error("a client named {0:?} already exists")]
    DuplicateName(String),
    #[error("client {existing:?} already stores its keys under owner {owner:?}")]
    DuplicateOwner { existing: String, owner: String },
    #[error("certificate {fingerprint} is already registered for client {existing:?}")]
    DuplicateCertificate {
        existing: String,
        fingerprint: String,
    },
    #[error("no client named {0:?}")]
    UnknownClient(String),
    #[error("client name {0:?} is not usable (1–64 characters, no control characters)")]
    BadName(String),
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Registry {
    format: u32,
    clients: Vec<ClientEntry>,
    /// Fingerprints of removed clients' certificates: those chaining to the appliance CA would
    /// otherwise still be accepted by the CA trust that predates the registry.
    revoked_fingerprints: Vec<String>,
}

pub fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

pub fn check_name(name: &str) -> Result<(), RegistryError> {
    if name.is_empty() || name.chars().count() > 64 || name.chars().any(char::is_control) {
        return Err(RegistryError::BadName(name.to_string()));
    }
    Ok(())
}

/// The owner a client trusted through a CA stores its keys under: with a fixed subject, the
/// one the configuration-trusted CA gave the same certificate before (`cn:<CN>`), so earlier
/// keys stay with it; else `client:<name>`.
pub fn trusted_ca_owner(name: &str, subject: Option<&str>) -> String {
    match subject.map(subject_cn) {
        Some(cn) if !cn.is_empty() => format!("cn:{cn}"),
        _ => format!("client:{name}"),
    }
}

/// The Common Name in a subject given as `CN=x, O=y`, or the whole text when it is a bare CN.
fn subject_cn(subject: &str) -> String {
    match subject
        .split(',')
        .map(str::trim)
        .find_map(|part| part.strip_prefix("CN="))
    {
        Some(cn) => cn.to_string(),
        None if !subject.contains('=') => subject.trim().to_string(),
        None => String::new(),
    }
}

impl Registry {
    /// The registry in `view`; an empty one when none was ever written.
    pub fn load(view: &dyn ReadView) -> Result<Registry, RegistryError> {
        let Some(bytes) = view.get_meta(META_CLIENT_REGISTRY)? else {
            return Ok(Registry {
                format: FORMAT_VERSION,
                ..Registry::default()
            });
        };
        let registry: Registry =
            serde_json::from_slice(&bytes).map_err(|e| RegistryError::Corrupt(e.to_string()))?;
        if registry.format != FORMAT_VERSION {
            return Err(RegistryError::UnsupportedFormat(registry.format));
        }
        Ok(registry)
    }

    pub fn save(&self, txn: &mut dyn WriteView) -> Result<(), RegistryError> {
        let bytes = serde_json::to_vec(self).map_err(|e| RegistryError::Corrupt(e.to_string()))?;
        txn.put_meta(META_CLIENT_REGISTRY, &bytes)?;
        Ok(())
    }

    pub fn clients(&self) -> &[ClientEntry] {
        &self.clients
    }

    pub fn get(&self, name: &str) -> Option<&ClientEntry> {
        self.clients.iter().find(|c| c.name == name)
    }

    pub fn get_mut(&mut self, name: &str) -> Option<&mut ClientEntry> {
        self.clients.iter_mut().find(|c| c.name == name)
    }

    /// Records that `owner` was seen at `at` unless a later time is stored; true if it changed.
    pub fn note_last_seen(&mut self, owner: &str, at: i64) -> bool {
        match self.clients.iter_mut().find(|c| c.owner == owner) {
            Some(entry) if entry.last_seen.is_none_or(|stored| stored < at) => {
                entry.last_seen = Some(at);
                true
            }
            _ => false,
        }
    }

    pub fn revoked_fingerprints(&self) -> &[String] {
        &self.revoked_fingerprints
    }

    /// Adds `entry` unless its name, owner or a certificate is already taken.
    pub fn add(&mut self, entry: ClientEntry) -> Result<(), RegistryError> {
        check_name(&entry.name)?;
        if self.get(&entry.name).is_some() {
            return Err(RegistryError::DuplicateName(entry.name));
        }
        if let Some(existing) = self.clients.iter().find(|c| c.owner == entry.owner) {
            return Err(RegistryError::DuplicateOwner {
                existing: existing.name.clone(),
                owner: entry.owner,
            });
        }
        for fingerprint in &entry.fingerprints {
            if let Some(existing) = self
                .clients
                .iter()
                .find(|c| c.fingerprints.contains(fingerprint))
            {
                return Err(RegistryError::DuplicateCertificate {
                    existing: existing.name.clone(),
                    fingerprint: fingerprint.clone(),
                });
            }
        }
        // Registering a certificate again (after a removal) lifts its revocation.
        self.revoked_fingerprints
            .retain(|r| !entry.fingerprints.contains(r));
        self.clients.push(entry);
        Ok(())
    }

    /// Removes the client `name`; its certificates stay refused from now on.
    pub fn remove(&mut self, name: &str) -> Result<ClientEntry, RegistryError> {
        let position = self
            .clients
            .iter()
            .position(|c| c.name == name)
            .ok_or_else(|| RegistryError::UnknownClient(name.to_string()))?;
        let entry = self.clients.remove(position);
        for fingerprint in &entry.fingerprints {
            if !self.revoked_fingerprints.contains(fingerprint) {
                self.revoked_fingerprints.push(fingerprint.clone());
            }
        }
        Ok(entry)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;
    use crate::store::memory::MemoryStore;

    fn entry(name: &str, owner: &str, fingerprint: &str) -> ClientEntry {
        ClientEntry {
            name: name.into(),
            kind: ClientKind::PinnedCertificate,
            owner: owner.into(),
            fingerprints: vec![fingerprint.into()],
            created: 1,
            last_seen: None,
            kmip_username: None,
            kmip_password_hash: None,
            cert_not_after: None,
        }
    }

    #[test]
    fn round_trips_through_the_store_and_refuses_duplicates() {
        let store = MemoryStore::new();
        let mut registry = Registry::load(&*store.read().unwrap()).unwrap();
        assert!(registry.clients().is_empty());
        registry.add(entry("vc1", "cn:vc1", "aa")).unwrap();
        assert!(matches!(
            registry.add(entry("vc1", "cn:other", "bb")),
            Err(RegistryError::DuplicateName(_))
        ));
        assert!(matches!(
            registry.add(entry("vc2", "cn:vc1", "bb")),
            Err(RegistryError::DuplicateOwner { .. })
        ));
        assert!(matches!(
            registry.add(entry("vc2", "cn:vc2", "aa")),
            Err(RegistryError::DuplicateCertificate { .. })
        ));
        let mut txn = store.write().unwrap();
        registry.save(&mut *txn).unwrap();
        txn.commit().unwrap();
        let loaded = Registry::load(&*store.read().unwrap()).unwrap();
        assert_eq!(loaded, registry);
    }

    #[test]
    fn removal_revokes_the_certificates_until_registered_again() {
        let mut registry = Registry::load(&*MemoryStore::new().read().unwrap()).unwrap();
        registry.add(entry("vc1", "cn:vc1", "aa")).unwrap();
        assert_eq!(registry.remove("vc1").unwrap().name, "vc1");
        assert_eq!(registry.revoked_fingerprints(), ["aa".to_string()]);
        assert!(matches!(
            registry.remove("vc1"),
            Err(RegistryError::UnknownClient(_))
        ));
        registry.add(entry("vc1b", "cn:vc1", "aa")).unwrap();
        assert!(registry.revoked_fingerprints().is_empty());
    }
}
