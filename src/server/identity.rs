//! Who a verified client is. The client registry decides first (an added or removed client
//! applies to the next handshake); certificates trusted only by the configuration keep the
//! identity they always had, derived from the certificate.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, RwLock};

use rustls::RootCertStore;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, UnixTime};
use rustls::server::WebPkiClientVerifier;
use rustls::server::danger::ClientCertVerifier;

use super::ServerError;
use super::tls_provider::provider;
use crate::admin::registry::{ClientKind, Registry};
use crate::engine::ClientIdentity;
use crate::engine::credential::KmipCredential;
use crate::pki;
use crate::store::Store;

/// The registry, shared by the TLS verifier and the event loop; replaced whole on change.
pub type SharedTrust = Arc<RwLock<ClientTrust>>;

/// The registry in the form a handshake needs.
#[derive(Debug, Default)]
pub struct ClientTrust {
    /// Certificate fingerprint → owner (pinned, issued and CSR-signed clients).
    by_fingerprint: HashMap<[u8; 32], String>,
    cas: Vec<CaTrust>,
    /// Certificates of removed clients: refused even where the configuration would trust them.
    revoked: HashSet<[u8; 32]>,
    /// Owner → the KMIP username and password its requests must carry.
    credentials: HashMap<String, Arc<KmipCredential>>,
}

#[derive(Debug)]
struct CaTrust {
    verifier: Arc<dyn ClientCertVerifier>,
    subject: Option<String>,
    owner: String,
}

fn parse_fingerprint(hex_text: &str) -> Option<[u8; 32]> {
    hex::decode(hex_text).ok()?.try_into().ok()
}

impl ClientTrust {
    pub fn from_registry(registry: &Registry) -> Result<ClientTrust, ServerError> {
        let mut trust = ClientTrust::default();
        for entry in registry.clients() {
            if let (Some(username), Some(password_hash)) =
                (&entry.kmip_username, &entry.kmip_password_hash)
            {
                trust.credentials.insert(
                    entry.owner.clone(),
                    Arc::new(KmipCredential {
                        username: username.clone(),
                        password_hash: password_hash.clone(),
                    }),
                );
            }
            for fingerprint in entry
                .fingerprints
                .iter()
                .filter_map(|f| parse_fingerprint(f))
            {
                trust
                    .by_fingerprint
                    .insert(fingerprint, entry.owner.clone());
            }
            if let ClientKind::TrustedCa { ca_pem, subject } = &entry.kind {
                let bad = |message: String| {
                    ServerError::Tls(format!(
                        "CA of registered client {:?}: {message}",
                        entry.name
                    ))
                };
                let mut roots = RootCertStore::empty();
                for cert in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
                    let cert = cert.map_err(|e| bad(e.to_string()))?;
                    roots.add(cert).map_err(|e| bad(e.to_string()))?;
                }
                let verifier =
                    WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider())
                        .build()
                        .map_err(|e| bad(e.to_string()))?;
                trust.cas.push(CaTrust {
                    verifier,
                    subject: subject.clone(),
                    owner: entry.owner.clone(),
                });
            }
        }
        trust.revoked = registry
            .revoked_fingerprints()
            .iter()
            .filter_map(|f| parse_fingerprint(f))
            .collect();
        Ok(trust)
    }

    /// The trust the registry in `store` describes.
    pub fn load(store: &dyn Store) -> Result<ClientTrust, ServerError> {
        let registry = Registry::load(&*store.read()?)?;
        ClientTrust::from_registry(&registry)
    }

    /// The credential `owner`'s requests must carry, if the admin configured one.
    pub fn credential_for(&self, owner: &str) -> Option<Arc<KmipCredential>> {
        self.credentials.get(owner).cloned()
    }

    pub fn is_revoked(&self, fingerprint: &[u8; 32]) -> bool {
        self.revoked.contains(fingerprint)
    }

    /// The owner of the registered client presenting this chain, if any. For a trusted-CA
    /// client the chain is verified here; a pinned certificate is matched exactly (its
    /// handshake signature is checked by the TLS verifier).
    pub fn resolve(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Option<&str> {
        self.resolve_fingerprinted(
            &pki::fingerprint(end_entity),
            end_entity,
            intermediates,
            now,
        )
    }

    /// [`ClientTrust::resolve`] for a caller that already holds the leaf's fingerprint (the
    /// handshake path: one SHA-256 of the certificate fewer per connection).
    pub fn resolve_fingerprinted(
        &self,
        fingerprint: &[u8; 32],
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Option<&str> {
        if self.is_revoked(fingerprint) {
            return None;
        }
        if let Some(owner) = self.by_fingerprint.get(fingerprint) {
            return Some(owner);
        }
        self.cas
            .iter()
            .filter(|ca| {
                ca.subject
                    .as_deref()
                    .is_none_or(|wanted| subject_matches(end_entity, wanted))
            })
            .find(|ca| {
                ca.verifier
                    .verify_client_cert(end_entity, intermediates, now)
                    .is_ok()
            })
            .map(|ca| ca.owner.as_str())
    }
}

/// `wanted` is the leaf's whole subject (`CN=…, O=…`, as x509-parser prints it) or its CN.
fn subject_matches(leaf_der: &[u8], wanted: &str) -> bool {
    let Ok((_, cert)) = x509_parser::parse_x509_certificate(leaf_der) else {
        return false;
    };
    cert.subject().to_string() == wanted || pki::common_name(leaf_der).as_deref() == Some(wanted)
}

/// Identity of a client whose chain passed the TLS verifier: the registered client's owner,
/// or the certificate-derived id for a client trusted by the configuration alone.
pub fn resolve_identity(
    trust: &ClientTrust,
    chain: &[CertificateDer<'_>],
) -> Option<ClientIdentity> {
    let (leaf, intermediates) = chain.split_first()?;
    let fingerprint = pki::fingerprint(leaf);
    match trust.resolve_fingerprinted(&fingerprint, leaf, intermediates, UnixTime::now()) {
        Some(owner) => Some(ClientIdentity {
            owner: owner.to_string(),
            fingerprint,
        }),
        None if trust.is_revoked(&fingerprint) => None,
        None => Some(pki::client_identity(leaf)),
    }
}
