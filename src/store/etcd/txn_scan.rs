//! Whole-prefix scans inside a write transaction (`ReadView::scan_objects` and `scan_meta` on
//! an [`EtcdTxn`]): the snapshot's keys, page by page, with the transaction's own buffered
//! writes laid over them in key order, so a scan sees what the transaction wrote as every other
//! read of it does. The scanned prefix is guarded like a `find`: a concurrent change anywhere
//! under it makes the commit conflict. Apart from `txn.rs`, which is about committing.

use super::keys::prefix_end;
use super::read::KeyVisitor;
use super::txn::EtcdTxn;
use crate::store::StoreError;

impl EtcdTxn<'_> {
    /// Visits every key under `prefix` as this transaction sees it, in ascending key order;
    /// stops early when `visit` answers false.
    pub(super) fn scan_with_own_writes(
        &self,
        prefix: &[u8],
        context: &str,
        visit: &mut KeyVisitor<'_>,
    ) -> Result<(), StoreError> {
        self.guards
            .borrow_mut()
            .insert((prefix.to_vec(), Some(prefix_end(prefix))));
        let mut own = self
            .writes
            .range(prefix.to_vec()..)
            .take_while(|(key, _)| key.starts_with(prefix))
            .peekable();
        let mut more = true;
        self.view()?
            .scan_paged(prefix, context, &mut |key, value| {
                // The transaction's own new keys that sort before this one.
                while let Some((own_key, own_value)) = own.next_if(|(k, _)| k.as_slice() < key) {
                    if let Some(own_value) = own_value
                        && !visit(own_key, own_value)?
                    {
                        more = false;
                        return Ok(false);
                    }
                }
                let value = match own.next_if(|(k, _)| k.as_slice() == key) {
                    Some((_, Some(rewritten))) => rewritten.as_slice(),
                    // Deleted by this transaction.
                    Some((_, None)) => return Ok(true),
                    None => value,
                };
                more = visit(key, value)?;
                Ok(more)
            })?;
        if more {
            for (own_key, own_value) in own {
                if let Some(own_value) = own_value
                    && !visit(own_key, own_value)?
                {
                    break;
                }
            }
        }
        Ok(())
    }
}
