//! The key hierarchy: root key provider → master key → sealed key material.
//!
//! Contract (fixed; other modules build on it): [`MasterKey`] with `seal`/`unseal`,
//! [`RootKeyProvider`], [`SealError`], [`open_master_key`], [`local::LocalRoot`].

pub mod local;

use zeroize::Zeroizing;

use crate::store::Store;

/// Errors of the seal layer. Never carries key material or passphrases.
#[derive(Debug, thiserror::Error)]
pub enum SealError {
    #[error("sealed data failed authentication (wrong key, wrong object, or tampering)")]
    Authentication,
    #[error("sealed data is malformed: {0}")]
    Malformed(String),
    #[error("root key provider {provider}: {message}")]
    Provider { provider: String, message: String },
    #[error("store: {0}")]
    Store(#[from] crate::store::StoreError),
    #[error("I/O on {path}: {message}")]
    Io { path: String, message: String },
}

/// Wraps and unwraps the master key. Local file/passphrase now; IBM Key Protect later.
pub trait RootKeyProvider: Send + Sync {
    /// Short name recorded beside the wrapped key ("local", "local-passphrase", "keyprotect").
    fn name(&self) -> &str;
    fn wrap(&self, master_key: &[u8]) -> Result<Vec<u8>, SealError>;
    fn unwrap(&self, wrapped: &[u8]) -> Result<Zeroizing<Vec<u8>>, SealError>;
}

/// The appliance master key (AES-256-GCM-SIV). Zeroized on drop; `Debug` prints nothing secret.
pub struct MasterKey {
    _key: Zeroizing<[u8; 32]>,
}

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MasterKey(<redacted>)")
    }
}

impl MasterKey {
    /// Seals `plaintext` with a fresh random nonce; `aad` binds it to its object and version.
    pub fn seal(&self, aad: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, SealError> {
        let _ = (aad, plaintext);
        todo!("MasterKey::seal")
    }

    pub fn unseal(&self, aad: &[u8], sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>, SealError> {
        let _ = (aad, sealed);
        todo!("MasterKey::unseal")
    }
}

/// Loads the wrapped master key from the store's meta table and unwraps it with `provider`;
/// on a fresh store, generates one from the OS CSPRNG, wraps it and stores it (committed).
pub fn open_master_key(
    store: &dyn Store,
    provider: &dyn RootKeyProvider,
) -> Result<MasterKey, SealError> {
    let _ = (store, provider);
    todo!("open_master_key")
}
