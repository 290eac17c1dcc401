//! Opening the master key with Key Protect as the root, storing a rotated root key's fresh
//! wrap before the key is used.

use zeroize::Zeroizing;

use super::provider::KeyProtectRoot;
use crate::seal::{META_MASTER_KEY_PROVIDER, META_WRAPPED_MASTER_KEY, MasterKey, SealError};
use crate::store::Store;
use crate::store::master_key::open_master_key as open_generic;

/// Like [`crate::store::master_key::open_master_key`] (which it uses for a fresh store): unwraps the stored
/// master key with Key Protect, and when Key Protect hands back a newer wrap (the root key was
/// rotated) replaces the stored blob in one write transaction before returning the key.
pub fn open_master_key(store: &dyn Store, root: &KeyProtectRoot) -> Result<MasterKey, SealError> {
    let (wrapped, provider) = {
        let view = store.read()?;
        (
            view.get_meta(META_WRAPPED_MASTER_KEY)?,
            view.get_meta(META_MASTER_KEY_PROVIDER)?,
        )
    };
    let wrapped = match (wrapped, provider) {
        (Some(wrapped), Some(provider)) if provider == root_name(root).as_bytes() => wrapped,
        // Fresh store, or one wrapped by another provider: the generic path initialises or
        // reports the mismatch.
        _ => return open_generic(store, root),
    };
    let outcome = root.unwrap_with_update(&wrapped)?;
    if let Some(fresh) = &outcome.rewrapped {
        replace_wrapped(store, &wrapped, fresh)?;
    }
    master_key_from(outcome.key)
}

fn root_name(root: &KeyProtectRoot) -> &str {
    crate::seal::RootKeyProvider::name(root)
}

/// Replaces the stored wrapped master key `old` by `new` in one write transaction, unless
/// another writer changed it meanwhile (then theirs stays). Returns whether it wrote.
pub fn replace_wrapped(store: &dyn Store, old: &[u8], new: &[u8]) -> Result<bool, SealError> {
    let mut txn = store.write()?;
    if txn.get_meta(META_WRAPPED_MASTER_KEY)?.as_deref() != Some(old) {
        return Ok(false);
    }
    txn.put_meta(META_WRAPPED_MASTER_KEY, new)?;
    txn.commit()?;
    Ok(true)
}

/// Checks length and moves the key into a [`MasterKey`] without stray copies.
pub(crate) fn master_key_from(key: Zeroizing<Vec<u8>>) -> Result<MasterKey, SealError> {
    if key.len() != 32 {
        return Err(SealError::Malformed(format!(
            "unwrapped master key is {} bytes, expected 32",
            key.len()
        )));
    }
    let mut bytes = Zeroizing::new([0u8; 32]);
    bytes.copy_from_slice(&key);
    Ok(MasterKey::from_bytes(bytes))
}
