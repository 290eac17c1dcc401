//! TLS for the HTTPS admin API: the appliance's server certificate (re-read when `server cert
//! renew` replaces it, like the KMIP listener's), no client certificate asked for (callers
//! authenticate with an account or API token), the same provider and protocol versions.

use std::path::Path;
use std::sync::Arc;

use rustls::ServerConfig;

use super::ServerError;
use super::cert_reload::ReloadingCert;

pub fn server_config(cert: &Path, key: &Path) -> Result<Arc<ServerConfig>, ServerError> {
    let provider = super::tls_provider::provider();
    let certificate = ReloadingCert::open(cert, key, provider.clone())?;
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| ServerError::Tls(format!("protocol versions: {e}")))?
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(certificate));
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}
