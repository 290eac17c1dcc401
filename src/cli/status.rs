//! `keyward status`: prints the root key state the running server last wrote to
//! `DATA_DIR/status.json` (an admin socket will replace the file in a later issue).

use std::time::SystemTime;

use keyward::server::status_file::{self, unix_secs};

use crate::{SetupArgs, load_config};

pub fn run(setup: &SetupArgs) -> Result<(), String> {
    let config = load_config(setup)?;
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
