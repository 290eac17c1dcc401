//! Subcommands of the `keyward` binary that live outside main.rs: administration, the root key,
//! status, and the developer tools for reading KMIP messages and playing conformance vectors.

pub mod admin_accounts;
pub mod audit;
mod audit_merge;
pub mod backup;
pub mod bench;
pub mod client;
pub mod cluster;
mod cluster_nodes;
pub mod import;
pub mod key;
pub mod root;
pub mod server_cert;
pub mod status;
mod table;
pub mod ttlv;
pub mod unseal;
pub mod vectors;
