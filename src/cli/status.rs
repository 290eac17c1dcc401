//! `keyward status`: prints the root key state the running server last wrote to
//! `DATA_DIR/status.json` (an admin socket will replace the file in a later issue).

use std::time::SystemTime;

use keyward::server::status_file::{self, unix_secs};

use crate::{SetupArgs, load_config};

pub fn run(setup: &SetupArgs) -> Result<(), String> {
    let config = load_config(setup)?;
    backup_status(&config);
    let status = status_file::read(&config.data_dir)
        .map_err(|e| format!("{e}; the server writes this file when it starts (is it running?)"))?;
    let age = unix_secs(SystemTime::now()).saturating_sub(status.written_unix);
    println!("root key provider: {}", status.provider);
    println!(
        "server: {}",
        if status.serving { "running" } else { "stopped" }
    );
    match &status.sealed_reason {
        Some(reason) if status.sealed => println!("SEALED: {reason}"),
        _ => println!("unsealed: key material is served"),
    }
    if let Some(version) = &status.wrapped_key_version {
        println!("master key wrapped under root key version: {version}");
    }
    if let Some(secs) = status.unreachable_for_secs {
        println!("Key Protect UNREACHABLE for {secs} s (still serving with the key it holds)");
    }
    if let Some(when) = status.last_success_unix {
        println!(
            "last answer from Key Protect: {} s ago",
            unix_secs(SystemTime::now()).saturating_sub(when)
        );
    }
    if let Some(error) = &status.last_error {
        println!("last error: {error}");
    }
    println!("(as of {age} s ago; updated at start and on every root key event)");
    Ok(())
}

/// Prints the newest backup and warns when keys changed after it. Through the admin socket when
/// the server runs, else from the database; silent when neither is there.
fn backup_status(config: &keyward::config::Config) {
    use keyward::admin::protocol::{self, Reply, Request, SOCKET_FILE};
    let socket = config.data_dir.join(SOCKET_FILE);
    let status = match std::os::unix::net::UnixStream::connect(&socket) {
        Ok(stream) => match protocol::exchange(stream, &socket, &Request::BackupStatus) {
            Ok(Reply::BackupStatus(status)) => status,
            _ => return,
        },
        Err(_) => {
            let database = config.data_dir.join(keyward::server::setup::DATABASE_FILE);
            if !database.exists() {
                return;
            }
            let Ok(store) = keyward::store::redb::RedbStore::open(&database) else {
                return;
            };
            let Ok(view) = keyward::store::Store::read(&store) else {
                return;
            };
            match keyward::backup::changes::status(&*view) {
                Ok(status) => status,
                Err(_) => return,
            }
        }
    };
    match &status.last_backup {
        None => println!("WARNING: no backup has been taken (`keyward backup export`)"),
        Some(last) => println!(
            "newest backup: {} ({} s ago, {} objects)",
            last.file,
            unix_secs(SystemTime::now()).saturating_sub(last.unix),
            last.objects
        ),
    }
    if status.last_backup.is_some() && status.changes_since > 0 {
        println!(
            "WARNING: keys were created or changed after the newest backup ({} committed \
             change(s) since); take a new backup",
            status.changes_since
        );
    }
}
