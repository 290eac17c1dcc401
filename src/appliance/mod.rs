//! The appliance: what `keyward serve` and the offline commands stand up before anything
//! runs — the data directory, the store, the root and master keys, the engine and the
//! server's services (`setup.rs`), then the running appliance's wiring: the server, the admin
//! API, the Key Protect root watch and the backup schedule (`serve.rs`, `root_sync.rs`), and
//! the process hardening. It sits above `server` (which it wires) and below `cli` (which only
//! parses arguments and calls it), so the command line never reaches into the server.

pub mod error;
pub mod hardening;
pub mod root_sync;
pub mod serve;
pub mod setup;

/// The health report each cluster node publishes while it serves (read by `keyward cluster
/// status` and the audit merge to know which nodes run).
pub use crate::cluster::NodeReport;
pub use error::ApplianceError;
