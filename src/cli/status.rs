//! `keyward status [--json]`: asks the running server over the admin socket; with no server
//! answering, reads what it can from the database and says the server is not running.

use std::os::unix::net::UnixStream;
use std::time::{SystemTime, UNIX_EPOCH};

use keyward::admin::protocol::{self, Reply, Request, SOCKET_FILE};
use keyward::admin::status::{self, StatusReport};
use keyward::appliance::setup::DATABASE_FILE;
use keyward::store::redb::RedbStore;

use super::error::{CliError, Context};
use super::setup::{SetupArgs, load_config};

pub fn run(setup: &SetupArgs, json: bool) -> Result<(), CliError> {
    let config = load_config(setup)?;
    let socket = config.data_dir.join(SOCKET_FILE);
    let report = match UnixStream::connect(&socket) {
        Ok(stream) => match protocol::exchange(stream, &socket, &Request::Status)? {
            Reply::Status { status } => *status,
            Reply::Error { message } => return Err(CliError::Server(message)),
            other => return Err(CliError::unexpected(&other)),
        },
        Err(_) => offline(&config.data_dir)?,
    }
    .with_server_certificate(&config.data_dir.join(keyward::pki::SERVER_CERT_FILE));
    if json {
        let text = serde_json::to_string_pretty(&report)?;
        println!("{text}");
    } else {
        print!("{}", status::render(&report, unix_secs_now()));
    }
    Ok(())
}

fn offline(data_dir: &std::path::Path) -> Result<StatusReport, CliError> {
    let path = data_dir.join(DATABASE_FILE);
    if !path.is_file() {
        return Err(CliError::Failed(format!(
            "server not running, and no database in {}",
            data_dir.display()
        )));
    }
    let store = RedbStore::open(&path).hint(format!(
        "the admin socket {} did not answer, yet the database is in use",
        data_dir.join(SOCKET_FILE).display()
    ))?;
    Ok(status::from_store(&store)?)
}

/// Seconds since the Unix epoch (0 before it, which a real clock never shows).
fn unix_secs_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}
