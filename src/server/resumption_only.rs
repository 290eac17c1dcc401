//! The TLS configuration served to a source address that spent its full-handshake
//! allowance (`handshake_rate_per_ip`): identical to the normal one (same session cache and
//! ticket keys, same client verification) except that the server key refuses to sign. A
//! client resuming a session needs no signature and gets in as usual; a full handshake fails
//! before the private-key operation it would cost, with a handshake_failure alert.

use std::sync::Arc;

use rustls::ServerConfig;
use rustls::SignatureAlgorithm;
use rustls::SignatureScheme;
use rustls::pki_types::SubjectPublicKeyInfoDer;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::{CertifiedKey, Signer, SigningKey};

/// `full` with the server key made unable to sign.
pub(super) fn resumption_only(full: &ServerConfig) -> Arc<ServerConfig> {
    let mut config = full.clone();
    config.cert_resolver = Arc::new(WithoutSigning(full.cert_resolver.clone()));
    Arc::new(config)
}

#[derive(Debug)]
struct WithoutSigning(Arc<dyn ResolvesServerCert>);

impl ResolvesServerCert for WithoutSigning {
    fn resolve(&self, client_hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let certified = self.0.resolve(client_hello)?;
        Some(Arc::new(CertifiedKey {
            cert: certified.cert.clone(),
            key: Arc::new(RefusesToSign(certified.key.clone())),
            ocsp: certified.ocsp.clone(),
        }))
    }
}

/// Reports the real key's algorithm (so the same cipher suites are chosen) but offers no
/// signature scheme.
#[derive(Debug)]
struct RefusesToSign(Arc<dyn SigningKey>);

impl SigningKey for RefusesToSign {
    fn choose_scheme(&self, _offered: &[SignatureScheme]) -> Option<Box<dyn Signer>> {
        None
    }

    fn public_key(&self) -> Option<SubjectPublicKeyInfoDer<'_>> {
        self.0.public_key()
    }

    fn algorithm(&self) -> SignatureAlgorithm {
        self.0.algorithm()
    }
}
