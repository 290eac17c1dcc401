//! Why a `keyward import` run stopped as a whole (per-object problems are results, not errors),
//! and the exit code each cause maps to, so scripts can tell them apart.

use keyward::client::ClientError;

use super::source::Refusal;

/// Every object imported, already present or listed as destroyed; `verify`: no difference.
pub const EXIT_OK: u8 = 0;
/// The run could not go on: the old server, Keyward or a file failed.
pub const EXIT_FAILURE: u8 = 1;
/// Bad arguments.
pub const EXIT_USAGE: u8 = 2;
/// The run finished but some objects were refused or failed (`verify`: some differ).
pub const EXIT_INCOMPLETE: u8 = 3;

pub const EXIT_CODES_HELP: &str = "Exit codes: 0 every object imported or already present \
    (verify: identical), 1 the run could not go on (server unreachable, Keyward refused), \
    2 usage error, 3 some objects were refused or failed (verify: some differ).";

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
}

impl ImportError {
    pub fn exit_code(&self) -> u8 {
        match self {
            ImportError::Usage(_) => EXIT_USAGE,
            _ => EXIT_FAILURE,
        }
    }
}
