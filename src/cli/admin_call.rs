//! One admin request from the command line: over the running server's admin socket, or, when
//! no server listens, on the data directory directly. In a file of its own because `audit`,
//! `audit merge` and `admin-accounts` all send requests this way, and `audit.rs` dispatches to
//! `audit_merge.rs`: keeping the call in `audit.rs` made the two import each other.

use std::os::unix::net::UnixStream;

use keyward::admin::ops;
use keyward::admin::protocol::{self, Reply, Request, SOCKET_FILE};
use keyward::appliance::setup::Appliance;
use keyward::audit;

use super::error::CliError;
use super::setup::{SetupArgs, load_config};

/// Over the admin socket if a server listens, otherwise on the database directly.
pub(crate) fn call(setup: &SetupArgs, request: Request) -> Result<Reply, CliError> {
    call_reusing(setup, request, &mut None)
}

/// [`call`] for a series of requests: without a server, the appliance (database and master
/// key) is opened on the first request and kept in `offline` for the next ones, instead of
/// unwrapping the master key again for each.
pub(crate) fn call_reusing(
    setup: &SetupArgs,
    request: Request,
    offline: &mut Option<Appliance>,
) -> Result<Reply, CliError> {
    let config = load_config(setup)?;
    let socket = config.data_dir.join(SOCKET_FILE);
    let reply = match offline {
        Some(appliance) => execute_offline(appliance, request)?,
        None => match UnixStream::connect(&socket) {
            Ok(stream) => protocol::exchange(stream, &socket, &request)?,
            Err(_) => {
                let appliance = offline.insert(Appliance::open(config)?);
                execute_offline(appliance, request)?
            }
        },
    };
    match reply {
        Reply::Error { message } => Err(CliError::Server(message)),
        reply => Ok(reply),
    }
}

fn execute_offline(appliance: &Appliance, request: Request) -> Result<Reply, CliError> {
    let actor = audit::current_user();
    let by = Some((appliance.audit.as_ref(), &actor));
    let node = appliance
        .cluster
        .as_deref()
        .map(|cluster| cluster.node_id());
    Ok(ops::execute_by(
        appliance.store.as_ref(),
        node,
        request,
        by,
    )?)
}
