//! The ids an appliance keeps in the store's meta table: its own (Key Protect wraps of the
//! master key and backups are bound to it) and, on a cluster node, the node's. Here rather
//! than in the appliance's set-up, which makes them, because the server's and the admin
//! API's backup exports read the appliance id too, and they sit below the appliance.

use super::{Store, StoreError};

/// Meta key of this appliance's id (a UUID made on first run). Key Protect wraps of the
/// master key are bound to it, so another appliance's wrapped key does not open here.
pub const META_APPLIANCE_ID: &str = "appliance.id";
/// Meta key, in a cluster node's local database, of the node's own id (a UUID made on first
/// start): it labels the node's audit records when the nodes' logs are gathered.
pub const META_NODE_ID: &str = "node.id";

/// The appliance id, if the appliance has been set up.
pub fn read_appliance_id(store: &dyn Store) -> Result<Option<String>, StoreError> {
    let view = store.read()?;
    Ok(view
        .get_meta(META_APPLIANCE_ID)?
        .map(|id| String::from_utf8_lossy(&id).into_owned()))
}
