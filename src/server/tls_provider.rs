//! The one rustls crypto provider the appliance uses, in a file of its own because the TLS
//! configuration (`tls.rs`), the registry trust (`identity.rs`), the admin console and the KMIP
//! client all build on it, and none of them should have to import the others to get it.

use std::sync::Arc;

use rustls::crypto::CryptoProvider;

/// The crypto provider, named explicitly: ring is never used, whatever else is compiled in.
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}
