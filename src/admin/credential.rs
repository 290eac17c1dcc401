//! Setting and clearing the KMIP username/password of a registered client. The stored form
//! and its check belong to the engine, which verifies the credential a request carries
//! (`engine/credential.rs`); the admin side only says which client gets which.

use serde::{Deserialize, Serialize};

pub use crate::engine::credential::{
    CredentialError, KmipCredential, hash_password, verify_password,
};

/// Sets (`Some`) or clears (`None`) the credential of the registered client `client`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CredentialChange {
    pub client: String,
    pub credential: Option<KmipCredential>,
}
