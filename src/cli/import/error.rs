//! Why a `keyward import` run stopped as a whole (per-object problems are results, not errors),
//! and the exit code each cause maps to (the CLI's one table, src/cli/error.rs), so scripts can
//! tell them apart.

use std::error::Error as StdError;

use keyward::admin::ops::AdminError;
use keyward::appliance::ApplianceError;
use keyward::client::ClientError;
use keyward::config::ConfigError;

use super::super::exit_code::{EXIT_FAILURE, EXIT_NOT_FOUND, EXIT_USAGE};
use super::refusal::Refusal;

/// The run finished but some objects were refused or failed (`verify`: some differ).
pub const EXIT_INCOMPLETE: u8 = EXIT_NOT_FOUND;

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("{0}")]
    Usage(String),
    #[error("{path}: {message}")]
    File { path: String, message: String },
    /// A file that could not be read (or a backup that would not open).
    #[error("{path}: {source}")]
    Read {
        path: String,
        #[source]
        source: Box<dyn StdError + Send + Sync>,
    },
    #[error("{server}: {source}")]
    Connect {
        server: String,
        #[source]
        source: ClientError,
    },
    #[error("{server}: unreadable answer: {what}")]
    BadResponse { server: String, what: String },
    #[error("{server} refused to Locate the objects ({refusal}); list their UIDs with --uids FILE")]
    LocateRefused { server: String, refusal: Refusal },
    #[error("{server} keeps returning the same Locate page; list the UIDs with --uids FILE")]
    PagingIgnored { server: String },
    /// Keyward (its admin socket, or the data directory) refused or failed.
    #[error("Keyward: {0}")]
    Keyward(String),
    #[error("Keyward: {0}")]
    Config(#[from] ConfigError),
    #[error("Keyward: {0}")]
    Appliance(#[from] ApplianceError),
    #[error("Keyward: {0}")]
    Admin(#[from] AdminError),
    #[error("Keyward: {0}")]
    AdminSocket(#[from] keyward::admin::protocol::ExchangeError),
}

impl ImportError {
    /// `path` could not be read because of `source`.
    pub fn read(path: &std::path::Path, source: impl StdError + Send + Sync + 'static) -> Self {
        ImportError::Read {
            path: path.display().to_string(),
            source: Box::new(source),
        }
    }

    pub fn exit_code(&self) -> u8 {
        match self {
            ImportError::Usage(_) => EXIT_USAGE,
            _ => EXIT_FAILURE,
        }
    }
}
