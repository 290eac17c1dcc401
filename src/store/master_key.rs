//! Where the wrapped master key lives: two meta entries of the store. Reading and writing them
//! is the store's part, unwrapping is the seal layer's ([`seal::unwrap_stored`]), so `seal`
//! stays below the store and never reads it.

use crate::seal::{
    self, META_MASTER_KEY_PROVIDER, META_WRAPPED_MASTER_KEY, MasterKey, RootKeyProvider, SealError,
};

use super::{ReadView, Store, StoreError};

impl From<StoreError> for SealError {
    fn from(e: StoreError) -> SealError {
        SealError::Store(Box::new(e))
    }
}

/// Loads the wrapped master key from the store's meta table and unwraps it with `provider`;
/// on a fresh store, generates one from the OS CSPRNG, wraps it and stores it (committed).
pub fn open_master_key(
    store: &dyn Store,
    provider: &dyn RootKeyProvider,
) -> Result<MasterKey, SealError> {
    {
        let view = store.read()?;
        if let Some(key) = unwrap_in(&*view, provider)? {
            return Ok(key);
        }
    }
    let mut txn = store.write()?;
    // Checked again under the writer lock: another opener may have created it meanwhile, and
    // replacing it would orphan every object sealed under it.
    if let Some(key) = unwrap_in(&*txn, provider)? {
        return Ok(key);
    }
    let (master, wrapped) = seal::new_wrapped_master_key(provider)?;
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
    unwrap_in(&*view, provider)?.ok_or_else(|| {
        SealError::Malformed(format!(
            "the store holds no {META_WRAPPED_MASTER_KEY}; there is nothing to unseal"
        ))
    })
}

/// The master key `view` holds, unwrapped; `None` when it holds none yet.
fn unwrap_in(
    view: &dyn ReadView,
    provider: &dyn RootKeyProvider,
) -> Result<Option<MasterKey>, SealError> {
    seal::unwrap_stored(
        view.get_meta(META_WRAPPED_MASTER_KEY)?,
        view.get_meta(META_MASTER_KEY_PROVIDER)?,
        provider,
    )
}

#[cfg(test)]
#[path = "master_key_tests.rs"]
mod tests;
