//! The appliance: what `keyward serve` and the offline commands stand up before anything
//! runs — the data directory, the store, the root and master keys, the engine and the
//! server's services (`setup.rs`), the Key Protect root watch (`root_sync.rs`) and the
//! process hardening. It sits above `server` (which it wires) and below `cli` (which only
//! parses arguments and calls it), so the command line never reaches into the server.

pub mod hardening;
pub mod root_sync;
pub mod setup;
