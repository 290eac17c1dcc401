//! Why the appliance could not be set up or run: its own files and ids, the configuration,
//! the certificates, the key hierarchy, the store, Key Protect, and — wrapped whole — the
//! server it wires. Each wording is what `keyward` printed before the set-up moved here, so a
//! script that reads the messages sees no change.

use crate::backup::BackupError;
use crate::server::ServerError;

#[derive(Debug, thiserror::Error)]
pub enum ApplianceError {
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{what}: {message}")]
    Invalid { what: String, message: String },
    #[error("configuration: {0}")]
    Config(#[from] crate::config::ConfigError),
    #[error("certificates: {0}")]
    Pki(#[from] crate::pki::PkiError),
    #[error("key hierarchy: {0}")]
    Seal(#[from] crate::seal::SealError),
    #[error("store: {0}")]
    Store(#[from] crate::store::StoreError),
    #[error("IBM Key Protect: {0}")]
    KeyProtect(#[source] crate::keyprotect::KpError),
    #[error("generating the appliance id: {0}")]
    Random(getrandom::Error),
    /// The scheduled backups could not start.
    #[error("scheduled backups: {0}")]
    Schedule(#[source] BackupError),
    /// The server the appliance wires failed (binding, TLS material, the loop itself).
    #[error(transparent)]
    Server(#[from] ServerError),
}

impl ApplianceError {
    pub(crate) fn io(what: impl Into<String>, source: std::io::Error) -> ApplianceError {
        ApplianceError::Io {
            what: what.into(),
            source,
        }
    }
}
