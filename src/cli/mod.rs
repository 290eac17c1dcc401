//! Subcommands of the `keyward` binary that live outside main.rs.

pub mod root;
pub mod status;
