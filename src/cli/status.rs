//! `keyward status [--json]`: asks the running server over the admin socket; with no server
//! answering, reads what it can from the database and says the server is not running.

use std::os::unix::net::UnixStream;
use std::time::SystemTime;

use keyward::admin::protocol::{self, Reply, Request, SOCKET_FILE};
use keyward::admin::status::{self, StatusReport};
use keyward::server::metrics::unix_secs;
use keyward::server::setup::DATABASE_FILE;
use keyward::store::redb::RedbStore;

use crate::{SetupArgs, load_config};

pub fn run(setup: &SetupArgs, json: bool) -> Result<(), String> {
    let config = load_config(setup)?;
    let socket = config.data_dir.join(SOCKET_FILE);
    let report = match UnixStream::connect(&socket) {
        Ok(stream) => match protocol::exchange(stream, &socket, &Request::Status)? {
            Reply::Status { status } => *status,
            Reply::Error { message } => return Err(message),
            other => return Err(format!("unexpected reply from the server: {other:?}")),
        },
        Err(_) => offline(&config.data_dir)?,
    }
    .with_server_certificate(&config.data_dir.join(keyward::pki::SERVER_CERT_FILE));
    if json {
        let text = serde_json::to_string_pretty(&report).map_err(|e| e.to_string())?;
        println!("{text}");
    } else {
        print!("{}", status::render(&report, unix_secs(SystemTime::now())));
    }
    Ok(())
}

fn offline(data_dir: &std::path::Path) -> Result<StatusReport, String> {
    let path = data_dir.join(DATABASE_FILE);
    if !path.is_file() {
        return Err(format!(
            "server not running, and no database in {}",
            data_dir.display()
        ));
    }
    let store = RedbStore::open(&path).map_err(|e| {
        format!(
            "{e} (the admin socket {} did not answer, yet the database is in use)",
            data_dir.join(SOCKET_FILE).display()
        )
    })?;
    status::from_store(&store).map_err(|e| e.to_string())
}
