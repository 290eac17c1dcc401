//! The one rustls crypto provider the appliance uses, in a file of its own because the TLS
//! configuration (`tls.rs`), the registry trust (`identity.rs`), the admin console and the KMIP
//! client all build on it, and none of them should have to import the others to get it.

use std::sync::Arc;

use rustls::crypto::CryptoProvider;
use rustls::{CipherSuite, SupportedCipherSuite};

/// The crypto provider, named explicitly: ring is never used, whatever else is compiled in.
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

/// The provider of the KMIP listener: the same suites, AES-128-GCM first within each protocol
/// version (the server's order decides, `tls.rs`). Why (README, "Security notes"): every
/// handshake is bounded at 128-bit security by its X25519/P-256 key exchange and the P-256 or
/// RSA-2048 certificates, so AES-256 adds no strength to the session, while its SHA-384
/// transcript and key schedule run without the SHA extensions most x86 CPUs have for SHA-256
/// (measured: `docs/performance.md`, the vCenter row).
pub fn kmip_server_provider() -> Arc<CryptoProvider> {
    let mut provider = rustls::crypto::aws_lc_rs::default_provider();
    provider.cipher_suites.sort_by_key(|suite| {
        (
            matches!(suite, SupportedCipherSuite::Tls12(_)),
            !aes_128_gcm(suite),
        )
    });
    Arc::new(provider)
}

fn aes_128_gcm(suite: &SupportedCipherSuite) -> bool {
    matches!(
        suite.suite(),
        CipherSuite::TLS13_AES_128_GCM_SHA256
            | CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256
            | CipherSuite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kmip_server_prefers_aes_128_gcm_and_keeps_every_suite() {
        let names = |p: &CryptoProvider| -> Vec<String> {
            p.cipher_suites
                .iter()
                .map(|s| format!("{:?}", s.suite()))
                .collect()
        };
        let ours = names(&kmip_server_provider());
        let mut default = names(&provider());
        assert_eq!(ours[0], "TLS13_AES_128_GCM_SHA256");
        let first_tls12 = ours
            .iter()
            .position(|n| n.starts_with("TLS_ECDHE_"))
            .unwrap();
        assert!(ours[..first_tls12].iter().all(|n| n.starts_with("TLS13_")));
        assert!(ours[first_tls12].contains("AES_128_GCM"), "{ours:?}");
        let mut sorted = ours.clone();
        sorted.sort();
        default.sort();
        assert_eq!(sorted, default, "the same suites, only reordered");
    }
}
