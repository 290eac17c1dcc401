//! Why a `keyward import` run stopped as a whole (per-object problems are results, not errors),
//! and the exit code each cause maps to (the CLI's one table, src/cli/error.rs), so scripts can
//! tell them apart.

use keyward::client::ClientError;
use keyward::config::ConfigError;

use super::super::error::{EXIT_FAILURE, EXIT_NOT_FOUND, EXIT_USAGE};
use super::source::Refusal;

/// The run finished but some objects were refused or failed (`verify`: some differ).
pub const EXIT_INCOMPLETE: u8 = EXIT_NOT_FOUND;

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("{0}")]
    Usage(String),
    #[error("{path}: {message}")]
    File { path: String, message: String },
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
}

impl ImportError {
    pub fn exit_code(&self) -> u8 {
        match self {
            ImportError::Usage(_) => EXIT_USAGE,
            _ => EXIT_FAILURE,
        }
    }
}
