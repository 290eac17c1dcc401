//! The four options every command that talks KMIP to a server takes — where the server is and
//! the mutual-TLS material to reach it — written once and flattened into `kmip`, `bench`,
//! `vectors run` and `import kmip|verify`, so the flags and their help cannot drift apart.

use std::path::PathBuf;
use std::sync::Arc;

use clap::Args;
use rustls::ClientConfig;

use keyward::client::{self, ClientError};

/// A KMIP server and the client certificate it trusts.
#[derive(Args)]
pub struct KmipServerArgs {
    /// Server address, HOST:PORT, e.g. localhost:5696. The host name must match the server
    /// certificate.
    #[arg(long, value_name = "HOST:PORT")]
    pub server: String,
    /// CA certificate(s) that signed the server certificate (PEM; ca.crt from `client issue`).
    #[arg(long, value_name = "FILE")]
    pub ca: PathBuf,
    /// A client certificate the server trusts (PEM; client.crt from `client issue`).
    #[arg(long, value_name = "FILE")]
    pub cert: PathBuf,
    /// Its private key (PEM; client.key).
    #[arg(long, value_name = "FILE")]
    pub key: PathBuf,
}

impl KmipServerArgs {
    /// The client TLS settings built from `--ca`, `--cert` and `--key`.
    pub fn tls_config(&self) -> Result<Arc<ClientConfig>, ClientError> {
        client::tls_config(&self.ca, &self.cert, &self.key)
    }
}
