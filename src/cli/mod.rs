//! The subcommands of the `keyward` binary, one file per command (main.rs only parses the
//! arguments and dispatches here), with the error type and exit codes they all share.

pub mod admin_accounts;
mod admin_call;
pub mod audit;
mod audit_merge;
pub mod backup;
pub mod bench;
pub mod client;
pub mod cluster;
mod cluster_nodes;
pub mod error;
pub mod exit_code;
pub mod import;
pub mod init;
mod json_out;
pub mod key;
pub mod kmip_client;
mod kmip_server_args;
pub mod root;
pub mod serve;
pub mod server_cert;
pub mod setup;
pub mod status;
mod table;
pub mod ttlv;
pub mod unseal;
pub mod vectors;
