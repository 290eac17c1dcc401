//! Why a `keyward` command failed, and the exit code that tells a script so. Every command
//! returns this one type, so main.rs has a single convention (the table in `exit_code.rs`)
//! instead of one per command; the layers' own errors stay inside it as typed sources, so
//! nothing is flattened to a string before it is printed.

use std::error::Error as StdError;

use keyward::admin::credential::CredentialError;
use keyward::admin::ops::AdminError;
use keyward::admin::registry::RegistryError;
use keyward::admin_http::accounts::AccountError;
use keyward::appliance::ApplianceError;
use keyward::backup::BackupError;
use keyward::bench::BenchError;
use keyward::client::ClientError;
use keyward::config::ConfigError;
use keyward::keyprotect::error::KpError;
use keyward::pki::PkiError;
use keyward::seal::SealError;
use keyward::store::StoreError;

use super::exit_code::{
    EXIT_FAILURE, EXIT_NOT_CONFIRMED, EXIT_NOT_FOUND, EXIT_USAGE, EXIT_WRONG_STATE,
};
use super::import::error::ImportError;

/// A failed command. Variants that wrap a layer's error print it as that layer words it.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// Bad arguments that clap could not catch.
    #[error("{0}")]
    Usage(String),
    /// A time argument (`--since`, `--until`) that is not a time.
    #[error(transparent)]
    BadTime(#[from] keyward::audit::BadTime),
    /// The key or client named does not exist.
    #[error("{0}")]
    NotFound(String),
    /// The key's state does not allow the operation.
    #[error("{0}")]
    WrongState(String),
    /// A destructive command was not confirmed.
    #[error("{0}")]
    NotConfirmed(String),
    /// The command cannot go on, for the reason given.
    #[error("{0}")]
    Failed(String),
    /// The command printed its own report of what went wrong (a broken chain, failed vectors,
    /// objects left out); nothing more is said, only the exit code.
    #[error("{what}")]
    Reported { what: &'static str, code: u8 },
    /// The running server's admin socket failed, or the server refused the request.
    #[error("{0}")]
    Server(String),
    /// The request over the admin socket got no readable reply.
    #[error(transparent)]
    AdminSocket(#[from] keyward::admin::protocol::ExchangeError),
    /// The server answered with something the command did not ask for.
    #[error("unexpected answer from the server: {0}")]
    Unexpected(String),
    /// A failure of a lower layer, said with what the command was doing.
    #[error("{context}: {source}")]
    Context {
        context: String,
        #[source]
        source: Box<dyn StdError + Send + Sync>,
    },
    /// A failure of a lower layer, followed by a hint at the likely cause.
    #[error("{source} ({hint})")]
    Hinted {
        hint: String,
        #[source]
        source: Box<dyn StdError + Send + Sync>,
    },
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Appliance(#[from] ApplianceError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Pki(#[from] PkiError),
    #[error(transparent)]
    Backup(#[from] BackupError),
    #[error(transparent)]
    Admin(#[from] AdminError),
    #[error(transparent)]
    Registry(#[from] RegistryError),
    #[error(transparent)]
    Credential(#[from] CredentialError),
    #[error(transparent)]
    Accounts(#[from] AccountError),
    #[error(transparent)]
    Seal(#[from] SealError),
    #[error(transparent)]
    KeyProtect(#[from] KpError),
    #[error(transparent)]
    Client(#[from] ClientError),
    #[error(transparent)]
    Bench(#[from] BenchError),
    #[error(transparent)]
    Json(#[from] serde_json::Error),
    #[error(transparent)]
    Import(#[from] ImportError),
}

impl CliError {
    /// The process exit code for this failure (see [`super::exit_code::EXIT_CODES_HELP`]).
    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::Usage(_) | CliError::BadTime(_) => EXIT_USAGE,
            CliError::NotFound(_) => EXIT_NOT_FOUND,
            CliError::WrongState(_) => EXIT_WRONG_STATE,
            CliError::NotConfirmed(_) => EXIT_NOT_CONFIRMED,
            CliError::Reported { code, .. } => *code,
            CliError::Import(e) => e.exit_code(),
            _ => EXIT_FAILURE,
        }
    }

    /// Whether main.rs should print the error (a [`CliError::Reported`] was said already).
    pub fn needs_message(&self) -> bool {
        !matches!(self, CliError::Reported { .. })
    }

    pub fn unexpected(reply: &impl std::fmt::Debug) -> CliError {
        CliError::Unexpected(format!("{reply:?}"))
    }
}

/// Says what the command was doing when a lower layer failed: `.context("reading x")?`
/// prints as `reading x: <the layer's error>`.
pub trait Context<T> {
    fn context(self, context: impl Into<String>) -> Result<T, CliError>;
    fn with_context(self, context: impl FnOnce() -> String) -> Result<T, CliError>;
    fn hint(self, hint: impl Into<String>) -> Result<T, CliError>;
}

impl<T, E: StdError + Send + Sync + 'static> Context<T> for Result<T, E> {
    fn context(self, context: impl Into<String>) -> Result<T, CliError> {
        self.map_err(|source| CliError::Context {
            context: context.into(),
            source: Box::new(source),
        })
    }

    fn with_context(self, context: impl FnOnce() -> String) -> Result<T, CliError> {
        self.map_err(|source| CliError::Context {
            context: context(),
            source: Box::new(source),
        })
    }

    fn hint(self, hint: impl Into<String>) -> Result<T, CliError> {
        self.map_err(|source| CliError::Hinted {
            hint: hint.into(),
            source: Box::new(source),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_kind_has_its_exit_code_and_context_keeps_the_source() {
        assert_eq!(CliError::Usage("x".into()).exit_code(), EXIT_USAGE);
        assert_eq!(CliError::NotFound("x".into()).exit_code(), EXIT_NOT_FOUND);
        assert_eq!(CliError::WrongState("x".into()).exit_code(), 4);
        assert_eq!(CliError::NotConfirmed("x".into()).exit_code(), 5);
        assert_eq!(CliError::Failed("x".into()).exit_code(), EXIT_FAILURE);
        let io: Result<(), _> = Err(std::io::Error::other("disk on fire"));
        let error = io.context("writing /x").unwrap_err();
        assert_eq!(error.to_string(), "writing /x: disk on fire");
        assert_eq!(error.source().unwrap().to_string(), "disk on fire");
        assert_eq!(error.exit_code(), EXIT_FAILURE);
        let reported = CliError::Reported {
            what: "broken",
            code: EXIT_NOT_FOUND,
        };
        assert!(!reported.needs_message());
        assert_eq!(reported.exit_code(), 3);
    }
}
