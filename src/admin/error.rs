//! The error of the admin operations, in a file of its own so that the operation modules
//! (`keys`, `console_event`, `account_event`, …) and the dispatcher in `ops.rs` that calls them
//! share it without importing each other.

use super::registry::RegistryError;
use crate::engine::EngineError;
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error(transparent)]
    Registry(#[from] RegistryError),
    #[error("store: {0}")]
    Store(#[from] StoreError),
    #[error("reading keys: {0}")]
    Engine(#[from] EngineError),
    #[error(
        "client {name:?} owns {live} key(s) that are not destroyed; nothing changed. Pass \
         --destroy-keys to destroy them with the client (see `keyward client show {name}`)"
    )]
    OwnsKeys { name: String, live: usize },
    #[error("no key with Unique Identifier {0:?}")]
    KeyNotFound(String),
    /// The key's KMIP state does not allow the change; the text says why and what to do.
    #[error("{0}")]
    KeyState(String),
    #[error("KMIP credential: {0}")]
    Credential(#[from] super::credential::CredentialError),
    #[error("console event: {0}")]
    ConsoleEvent(String),
    #[error("import: {0}")]
    Import(#[from] crate::engine::import::ImportError),
}
