//! Keyward: a KMIP key manager for VMware vCenter and vSAN.
//!
//! Dependencies point inward: `server` → `engine` → (`store`, `seal`, `kmip` → `ttlv`).
//! The codec knows nothing of operations; the engine never touches a socket.

pub mod admin;
pub mod admin_http;
pub mod appliance;
pub mod audit;
pub mod backup;
pub mod bench;
pub mod client;
pub mod cluster;
pub mod config;
pub mod conformance;
pub mod crypto;
pub mod duration;
pub mod engine;
pub mod fuzz;
pub mod keyprotect;
pub mod kmip;
pub mod logging;
pub mod pki;
pub mod seal;
pub mod server;
pub mod store;
pub mod ttlv;
pub mod uuid;
