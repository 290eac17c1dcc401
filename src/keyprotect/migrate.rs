//! Moving the master key from one root key provider to another (local ↔ Key Protect).
//!
//! Only the wrapped master key changes: every sealed object stays byte-for-byte as it is,
//! because the master key itself does not change.

use crate::seal::{META_MASTER_KEY_PROVIDER, META_WRAPPED_MASTER_KEY, RootKeyProvider, SealError};
use crate::store::Store;

/// Rewraps the stored master key, currently wrapped by `from`, under `to`, and records `to`
/// as its provider, in one write transaction. The new wrap is proven to unwrap to the same
/// key before anything is written. Fails without writing when the store's master key is not
/// wrapped by `from`, or when it changed while the (slow, remote) wraps ran.
pub fn migrate_root(
    store: &dyn Store,
    from: &dyn RootKeyProvider,
    to: &dyn RootKeyProvider,
) -> Result<(), SealError> {
    let (wrapped, provider) = {
        let view = store.read()?;
        (
            view.get_meta(META_WRAPPED_MASTER_KEY)?,
            view.get_meta(META_MASTER_KEY_PROVIDER)?,
        )
    };
    let (wrapped, provider) = match (wrapped, provider) {
        (Some(w), Some(p)) => (w, String::from_utf8_lossy(&p).into_owned()),
        _ => {
            return Err(SealError::Malformed(
                "the store has no wrapped master key to migrate (run init first)".into(),
            ));
        }
    };
    if provider != from.name() {
        return Err(SealError::Provider {
            provider: from.name().to_string(),
            message: format!(
                "the store's master key is wrapped by \"{provider}\", not by \"{}\"",
                from.name()
            ),
        });
    }
    let key = from.unwrap(&wrapped)?;
    if key.len() != 32 {
        return Err(SealError::Malformed(format!(
            "unwrapped master key is {} bytes, expected 32",
            key.len()
        )));
    }
    let rewrapped = to.wrap(&key)?;
    let back = to.unwrap(&rewrapped)?;
    if back.as_slice() != key.as_slice() {
        return Err(SealError::Provider {
            provider: to.name().to_string(),
            message: "unwrapping the new wrap did not return the master key; nothing changed"
                .into(),
        });
    }

    let mut txn = store.write()?;
    if txn.get_meta(META_WRAPPED_MASTER_KEY)?.as_deref() != Some(wrapped.as_slice()) {
        return Err(SealError::Malformed(
            "the wrapped master key changed during the migration; nothing written, retry".into(),
        ));
    }
    txn.put_meta(META_WRAPPED_MASTER_KEY, &rewrapped)?;
    txn.put_meta(META_MASTER_KEY_PROVIDER, to.name().as_bytes())?;
    txn.commit()?;
    log::info!(
        "master key moved from root key provider \"{}\" to \"{}\"",
        from.name(),
        to.name()
    );
    Ok(())
}
