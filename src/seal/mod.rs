//! The key hierarchy: root key provider → master key → sealed key material.
//!
//! Contract (fixed; other modules build on it): [`MasterKey`] with `seal`/`unseal`,
//! [`RootKeyProvider`], [`SealError`], [`open_master_key`], [`local::LocalRoot`].

mod envelope;
mod kdf_params;
pub mod local;
pub mod locked;
mod secret_file;

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

/// Meta key of the master key as wrapped by the root key provider.
pub const META_WRAPPED_MASTER_KEY: &str = "seal.master_key.wrapped";
/// Meta key of the name of the provider that wrapped it (UTF-8).
pub const META_MASTER_KEY_PROVIDER: &str = "seal.master_key.provider";

/// Loads the wrapped master key from the store's meta table and unwraps it with `provider`;
/// on a fresh store, generates one from the OS CSPRNG, wraps it and stores it (committed).
pub fn open_master_key(
    store: &dyn Store,
    provider: &dyn RootKeyProvider,
) -> Result<MasterKey, SealError> {
    {
        let view = store.read()?;
        if let Some(key) = unwrap_stored(&*view, provider)? {
            return Ok(key);
        }
    }
    let mut txn = store.write()?;
    // Checked again under the writer lock: another opener may have created it meanwhile, and
    // replacing it would orphan every object sealed under it.
    if let Some(key) = unwrap_stored(&*txn, provider)? {
        return Ok(key);
    }
    let master = MasterKey::generate()?;
    let wrapped = provider.wrap(&master.key.bytes()[..])?;
    // Prove the provider can give the key back before anything depends on it.
    let check = provider.unwrap(&wrapped)?;
    if check.as_slice() != &master.key.bytes()[..] {
        return Err(SealError::Provider {
            provider: provider.name().to_string(),
            message: "unwrapping the freshly wrapped master key did not return it".into(),
        });
    }
    txn.put_meta(META_WRAPPED_MASTER_KEY, &wrapped)?;
    txn.put_meta(META_MASTER_KEY_PROVIDER, provider.name().as_bytes())?;
    txn.commit()?;
    log::info!(
        "generated a new master key, wrapped by root key provider {}",
        provider.name()
    );
    Ok(master)
}

/// Unwraps the master key the store already holds with `provider`; never makes one. For
/// unsealing a running appliance, where a missing key means something is badly wrong.
pub fn open_existing_master_key(
    store: &dyn Store,
    provider: &dyn RootKeyProvider,
) -> Result<MasterKey, SealError> {
    let view = store.read()?;
    unwrap_stored(&*view, provider)?.ok_or_else(|| {
        SealError::Malformed(format!(
            "the store holds no {META_WRAPPED_MASTER_KEY}; there is nothing to unseal"
        ))
    })
}

/// The stored master key unwrapped, or `None` when the store has none yet. Never falls back to
/// a new key: a store with a wrapped key that `provider` cannot open is an error.
fn unwrap_stored(
    view: &dyn crate::store::ReadView,
    provider: &dyn RootKeyProvider,
) -> Result<Option<MasterKey>, SealError> {
    let wrapped = view.get_meta(META_WRAPPED_MASTER_KEY)?;
    let stored_provider = view.get_meta(META_MASTER_KEY_PROVIDER)?;
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
