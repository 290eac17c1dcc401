//! The key hierarchy: root key provider → master key → sealed key material.
//!
//! Contract (fixed; other modules build on it): [`MasterKey`] with `seal`/`unseal`,
//! [`RootKeyProvider`], [`SealError`], [`unwrap_stored`], [`local::LocalRoot`]; reading and storing the
//! wrapped master key is `store::master_key`'s part, so this layer never touches the store.

mod envelope;
mod gate;
mod kdf_params;
pub mod local;
pub mod locked;
mod secret_file;

use zeroize::Zeroizing;

pub use gate::KeyGate;

/// Errors of the seal layer. Never carries key material or passphrases.
#[derive(Debug, thiserror::Error)]
pub enum SealError {
    #[error("sealed data failed authentication (wrong key, wrong object, or tampering)")]
    Authentication,
    #[error("sealed data is malformed: {0}")]
    Malformed(String),
    #[error("root key provider {provider}: {message}")]
    Provider { provider: String, message: String },
    /// Reading or writing the wrapped key failed; the store layer converts its own error
    /// (`store::master_key`), so this layer does not depend on the store.
    #[error("store: {0}")]
    Store(#[source] Box<dyn std::error::Error + Send + Sync>),
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

/// The appliance master key (AES-256-GCM-SIV). Kept on a page locked in RAM where the system
/// allows it (`locked.rs`); zeroized on drop; `Debug` prints nothing secret.
pub struct MasterKey {
    key: locked::LockedKey,
}

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MasterKey(<redacted>)")
    }
}

impl MasterKey {
    /// Takes ownership of 32 secret bytes (an unwrapped master key, or a test key).
    pub fn from_bytes(key: Zeroizing<[u8; 32]>) -> MasterKey {
        MasterKey {
            key: locked::LockedKey::new(&key),
        }
    }

    /// Whether the key's memory is locked against swapping (`mlock`).
    pub fn is_memory_locked(&self) -> bool {
        self.key.is_locked()
    }

    /// A fresh master key from the OS CSPRNG.
    pub fn generate() -> Result<MasterKey, SealError> {
        let mut key = Zeroizing::new([0u8; 32]);
        envelope::random_bytes(&mut key[..])?;
        Ok(MasterKey::from_bytes(key))
    }

    /// Seals `plaintext` with a fresh random nonce; `aad` binds it to its object and version.
    /// Output: format version byte ‖ 96-bit nonce ‖ ciphertext ‖ 128-bit tag.
    pub fn seal(&self, aad: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, SealError> {
        envelope::seal(self.key.bytes(), aad, plaintext)
    }

    pub fn unseal(&self, aad: &[u8], sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>, SealError> {
        envelope::open(self.key.bytes(), aad, sealed)
    }

    /// A key for another purpose, bound to `label`: HMAC-SHA256(master key, label), i.e. one
    /// HKDF-Expand block with the master key as PRK. Knowing it reveals nothing of the master key.
    pub fn derive(&self, label: &[u8]) -> Zeroizing<[u8; 32]> {
        use hmac::{Hmac, Mac};
        let mut mac = <Hmac<sha2::Sha256> as Mac>::new_from_slice(self.key.bytes())
            .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
        mac.update(label);
        let mut out = Zeroizing::new([0u8; 32]);
        out.copy_from_slice(&mac.finalize().into_bytes());
        out
    }
}

/// Provider name recorded beside a master key wrapped by a root key file.
pub const FILE_PROVIDER: &str = "local";
/// Provider name recorded beside a master key wrapped by a passphrase-derived root key.
pub const PASSPHRASE_PROVIDER: &str = "local-passphrase";

/// Meta key of the master key as wrapped by the root key provider.
pub const META_WRAPPED_MASTER_KEY: &str = "seal.master_key.wrapped";
/// Meta key of the name of the provider that wrapped it (UTF-8).
pub const META_MASTER_KEY_PROVIDER: &str = "seal.master_key.provider";

/// A fresh master key wrapped by `provider`, proven to come back out before anything depends
/// on it. Storing the wrapped bytes is the caller's part (`store::master_key`).
pub fn new_wrapped_master_key(
    provider: &dyn RootKeyProvider,
) -> Result<(MasterKey, Vec<u8>), SealError> {
    let master = MasterKey::generate()?;
    let wrapped = provider.wrap(&master.key.bytes()[..])?;
    let check = provider.unwrap(&wrapped)?;
    if check.as_slice() != &master.key.bytes()[..] {
        return Err(SealError::Provider {
            provider: provider.name().to_string(),
            message: "unwrapping the freshly wrapped master key did not return it".into(),
        });
    }
    Ok((master, wrapped))
}

/// The stored master key unwrapped, or `None` when the store has none yet. Never falls back to
/// a new key: a store with a wrapped key that `provider` cannot open is an error.
/// `wrapped` and `stored_provider` are the values of [`META_WRAPPED_MASTER_KEY`] and
/// [`META_MASTER_KEY_PROVIDER`] as the caller read them.
pub fn unwrap_stored(
    wrapped: Option<Vec<u8>>,
    stored_provider: Option<Vec<u8>>,
    provider: &dyn RootKeyProvider,
) -> Result<Option<MasterKey>, SealError> {
    let (wrapped, stored_provider) = match (wrapped, stored_provider) {
        (None, None) => return Ok(None),
        (Some(w), Some(p)) => (w, p),
        _ => {
            return Err(SealError::Malformed(format!(
                "store meta holds only one of {META_WRAPPED_MASTER_KEY} and \
                 {META_MASTER_KEY_PROVIDER}; refusing to guess or replace the master key"
            )));
        }
    };
    let stored_provider = String::from_utf8_lossy(&stored_provider);
    if stored_provider != provider.name() {
        return Err(SealError::Provider {
            provider: provider.name().to_string(),
            message: format!(
                "the store's master key is wrapped by root key provider \"{stored_provider}\"; \
                 configure that provider, or move the master key with the server stopped: \
                 `keyward root migrate --to local|keyprotect`"
            ),
        });
    }
    let key = provider.unwrap(&wrapped).map_err(|err| match err {
        SealError::Authentication => SealError::Provider {
            provider: provider.name().to_string(),
            message: "this root key does not open the store's master key \
                      (wrong root key file or passphrase?)"
                .into(),
        },
        other => other,
    })?;
    if key.len() != 32 {
        return Err(SealError::Malformed(format!(
            "unwrapped master key is {} bytes, expected 32",
            key.len()
        )));
    }
    // Copied straight into zeroizing storage so no stray stack copy outlives this call.
    let mut bytes = Zeroizing::new([0u8; 32]);
    bytes.copy_from_slice(&key);
    Ok(Some(MasterKey::from_bytes(bytes)))
}

#[cfg(test)]
mod tests;
