//! `keyward serve`: sets the appliance up like `init`, then runs it (`keyward::appliance::serve`:
//! the KMIP server with its admin socket, the optional health/metrics and admin API listeners,
//! the root key sync and scheduled backups) until a signal stops it.

use std::net::SocketAddr;

use super::error::CliError;
use super::setup::{SetupArgs, load_config};

pub fn run(setup: &SetupArgs, listen: Option<SocketAddr>) -> Result<(), CliError> {
    // The configured `[log] level` applies to the server (RUST_LOG still wins). A configuration
    // that does not load logs at info here; `init` below reports why it does not load.
    let level = load_config(setup)
        .map(|config| config.log.level)
        .unwrap_or_else(|_| "info".into());
    keyward::logging::init(&level);
    // Before the master key exists in this process: no core dump may ever hold it.
    keyward::appliance::hardening::refuse_core_dumps();
    let appliance = super::init::init(setup, None, None)?;
    keyward::appliance::serve::serve(appliance, listen)?;
    Ok(())
}
