//! KMIP username/password credentials of registered clients. vCenter can send one in every
//! request header; when the admin configured one for a client, it must match. Only an
//! Argon2id hash (PHC string) is stored, never the password.
//!
//! Why in the engine: the engine checks the credential a request carries (`client.rs`), so the
//! stored form and its verification live below the admin tools that set it
//! (`admin/credential.rs` re-exports this).

use argon2::{Argon2, PasswordHasher, PasswordVerifier};
use serde::{Deserialize, Serialize};

/// What the registry keeps for a client that must authenticate with a password.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KmipCredential {
    pub username: String,
    /// Argon2id PHC string.
    pub password_hash: String,
}

#[derive(Debug, thiserror::Error)]
pub enum CredentialError {
    #[error("the username must be 1–128 characters without control characters")]
    BadUsername,
    #[error("the password is empty")]
    EmptyPassword,
    #[error("hashing the password failed: {0}")]
    Hash(String),
}

/// Hashes `password` with Argon2id (the crate's default cost: 19 MiB, 2 passes) and a fresh
/// random salt.
pub fn hash_password(username: &str, password: &[u8]) -> Result<KmipCredential, CredentialError> {
    if username.is_empty()
        || username.chars().count() > 128
        || username.chars().any(char::is_control)
    {
        return Err(CredentialError::BadUsername);
    }
    if password.is_empty() {
        return Err(CredentialError::EmptyPassword);
    }
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).map_err(|e| CredentialError::Hash(e.to_string()))?;
    let hash = Argon2::default()
        .hash_password_with_salt(password, &salt)
        .map_err(|e| CredentialError::Hash(e.to_string()))?;
    Ok(KmipCredential {
        username: username.to_string(),
        password_hash: hash.to_string(),
    })
}

/// Whether `password` matches `credential` (an unreadable stored hash matches nothing).
pub fn verify_password(credential: &KmipCredential, password: &[u8]) -> bool {
    Argon2::default()
        .verify_password(password, credential.password_hash.as_str())
        .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_right_password_verifies_and_the_hash_hides_it() {
        let credential = hash_password("vcenter", b"s3cret-pass").unwrap();
        assert!(credential.password_hash.starts_with("$argon2id$"));
        assert!(!credential.password_hash.contains("s3cret"));
        assert!(verify_password(&credential, b"s3cret-pass"));
        assert!(!verify_password(&credential, b"s3cret-pasS"));
        assert!(!verify_password(&credential, b""));
        let again = hash_password("vcenter", b"s3cret-pass").unwrap();
        assert_ne!(again.password_hash, credential.password_hash, "salted");
        assert!(matches!(
            hash_password("", b"x"),
            Err(CredentialError::BadUsername)
        ));
        assert!(matches!(
            hash_password("u", b""),
            Err(CredentialError::EmptyPassword)
        ));
    }
}
