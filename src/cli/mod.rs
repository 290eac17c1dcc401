//! Subcommands of the `keyward` binary that live outside main.rs.

pub mod client;
pub mod root;
pub mod server_cert;
pub mod status;
mod table;
