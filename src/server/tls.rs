//! The rustls server configuration: aws-lc-rs, TLS 1.2 and 1.3 with ECDHE-AEAD suites only,
//! and mutual TLS with two ways to trust a client certificate:
//! - it chains to a trusted CA (the appliance CA, plus CA files from the configuration);
//! - its SHA-256 fingerprint is pinned in the configuration (self-signed vCenter certificates,
//!   which webpki refuses as trust anchors when they carry cA=true or a serverAuth-only EKU);
//! - it belongs to a client in the registry (consulted first, on every handshake; a removed
//!   client's certificates are refused even where the configuration would trust them).

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Arc;

use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::{CertificateDer, UnixTime};
use rustls::server::WebPkiClientVerifier;
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{
    DigitallySignedStruct, DistinguishedName, RootCertStore, ServerConfig, SignatureScheme,
};

use super::ServerError;
use super::cert_reload::ReloadingCert;
use super::identity::SharedTrust;
use super::pem_certs::{read_certs, tls_file_err};
use super::tls_provider::kmip_server_provider;
pub use super::tls_provider::provider;
use crate::pki;

/// What the TLS layer needs from the configuration and the data directory.
#[derive(Debug, Clone)]
pub struct TlsMaterial {
    pub server_cert: PathBuf,
    pub server_key: PathBuf,
    /// The appliance CA first, then operator-configured CA files.
    pub trusted_ca_files: Vec<PathBuf>,
    pub pinned_fingerprints: Vec<[u8; 32]>,
    /// Registered clients, consulted before the configured trust on every handshake.
    pub client_trust: SharedTrust,
}

pub fn server_config(material: &TlsMaterial) -> Result<Arc<ServerConfig>, ServerError> {
    let provider = kmip_server_provider();
    let mut roots = RootCertStore::empty();
    for path in &material.trusted_ca_files {
        for cert in read_certs(path)? {
            roots
                .add(cert)
                .map_err(|e| tls_file_err(path, format!("not a usable CA certificate: {e}")))?;
        }
    }
    let chained = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .build()
        .map_err(|e| ServerError::Tls(format!("client certificate verifier: {e}")))?;
    let verifier = Arc::new(ClientVerifier {
        chained,
        pinned: material.pinned_fingerprints.iter().copied().collect(),
        registry: material.client_trust.clone(),
        algorithms: provider.signature_verification_algorithms,
    });

    // Re-read when `server cert renew` replaces the files: no restart needed.
    let certificate = ReloadingCert::open(
        &material.server_cert,
        &material.server_key,
        provider.clone(),
    )?;
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| ServerError::Tls(format!("protocol versions: {e}")))?
        .with_client_cert_verifier(verifier)
        .with_cert_resolver(Arc::new(certificate));
    // Session resumption for known clients: a resumed handshake costs no private-key
    // operation. Stateless tickets (AES-256 + HMAC-SHA256 from aws-lc-rs, keys rotated every
    // 6 hours) instead of the default 256-entry session cache, so any number of clients can
    // resume without server memory. A resumed connection's identity is still resolved from
    // the current registry (event_loop.rs), so a removed client cannot resume its way in.
    config.ticketer = rustls::crypto::aws_lc_rs::Ticketer::new()
        .map_err(|e| ServerError::Tls(format!("session ticket keys: {e}")))?;
    // One TLS 1.3 ticket per connection, not rustls' two: a client that reconnects for every
    // exchange (vCenter) gets a fresh ticket on each connection, and each ticket costs a key
    // derivation, an encryption and a record on every full handshake.
    config.send_tls13_tickets = 1;
    // Our suite order, not the client's: AES-128-GCM first (tls_provider.rs says why).
    // OpenSSL's and rustls' default client lists put AES-256-GCM-SHA384 first.
    config.ignore_client_order = true;
    Ok(Arc::new(config))
}

/// Accepts a pinned leaf as it is, otherwise requires a chain to a trusted CA. Either way the
/// handshake signature is checked with the provider's algorithms, so a pinned certificate
/// proves possession of its key exactly like a chained one.
#[derive(Debug)]
struct ClientVerifier {
    chained: Arc<dyn ClientCertVerifier>,
    pinned: HashSet<[u8; 32]>,
    registry: SharedTrust,
    algorithms: WebPkiSupportedAlgorithms,
}

impl ClientCertVerifier for ClientVerifier {
    fn client_auth_mandatory(&self) -> bool {
        true
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        // An empty hint list makes clients send their certificate even when it was not issued
        // by one of our CAs (pinned certificates, registered clients' own CAs).
        &[]
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        let fingerprint = pki::fingerprint(end_entity);
        {
            // A poisoned lock means a writer panicked mid-update: refuse rather than guess.
            let registry = self
                .registry
                .read()
                .map_err(|_| rustls::Error::General("client registry unavailable".into()))?;
            if registry.is_revoked(&fingerprint) {
                return Err(rustls::Error::InvalidCertificate(
                    rustls::CertificateError::Revoked,
                ));
            }
            if registry
                .resolve_fingerprinted(&fingerprint, end_entity, intermediates, now)
                .is_some()
            {
                x509_parser::parse_x509_certificate(end_entity).map_err(|_| {
                    rustls::Error::InvalidCertificate(rustls::CertificateError::BadEncoding)
                })?;
                return Ok(ClientCertVerified::assertion());
            }
        }
        if self.pinned.contains(&fingerprint) {
            // Must still be a certificate we can take a public key from.
            x509_parser::parse_x509_certificate(end_entity).map_err(|_| {
                rustls::Error::InvalidCertificate(rustls::CertificateError::BadEncoding)
            })?;
            return Ok(ClientCertVerified::assertion());
        }
        self.chained
            .verify_client_cert(end_entity, intermediates, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_forward_secret_aead_suites() {
        for suite in &provider().cipher_suites {
            let name = format!("{:?}", suite.suite());
            let tls13 = name.starts_with("TLS13_");
            let ecdhe = name.starts_with("TLS_ECDHE_");
            let aead = name.contains("_GCM_") || name.contains("CHACHA20_POLY1305");
            assert!((tls13 || ecdhe) && aead, "unexpected suite {name}");
        }
    }
}
