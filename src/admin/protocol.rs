//! The admin socket's wire format: one JSON request line, one JSON response line, then the
//! server closes. Versioned so an older CLI gets a clear refusal, not a misread answer.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::ops::{ClientView, Removed};
use super::registry::ClientEntry;
use super::status::StatusReport;

pub const PROTOCOL_VERSION: u32 = 1;
/// File name of the socket in the data directory.
pub const SOCKET_FILE: &str = "admin.sock";
/// Largest request line accepted (a CA bundle fits easily).
pub const MAX_REQUEST_BYTES: u64 = 1 << 20;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Request {
    CheckClient { entry: ClientEntry },
    AddClient { entry: ClientEntry },
    ListClients,
    ShowClient { name: String },
    RemoveClient { name: String, destroy_keys: bool },
    Status,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum Reply {
    Done,
    Added { entry: ClientEntry },
    Clients { clients: Vec<ClientView> },
    Client { client: ClientView },
    Removed { removed: Removed },
    Error { message: String },
    Status { status: Box<StatusReport> },
}

#[derive(Debug, Serialize, Deserialize)]
pub struct Envelope<T> {
    pub version: u32,
    #[serde(flatten)]
    pub body: T,
}

/// Sends one request over `stream` (connected to the socket at `path`) and waits (bounded)
/// for the reply.
pub fn exchange(mut stream: UnixStream, path: &Path, request: &Request) -> Result<Reply, String> {
    let who = |e: std::io::Error| format!("admin socket {}: {e}", path.display());
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .map_err(who)?;
    let mut line = serde_json::to_vec(&Envelope {
        version: PROTOCOL_VERSION,
        body: request,
    })
    .map_err(|e| e.to_string())?;
    line.push(b'\n');
    stream.write_all(&line).map_err(who)?;
    let mut answer = String::new();
    BufReader::new(stream).read_line(&mut answer).map_err(who)?;
    let envelope: Envelope<Reply> = serde_json::from_str(&answer)
        .map_err(|e| format!("admin socket {}: unreadable reply: {e}", path.display()))?;
    if envelope.version != PROTOCOL_VERSION {
        return Err(format!(
            "the server speaks admin protocol {}, this command {PROTOCOL_VERSION}",
            envelope.version
        ));
    }
    Ok(envelope.body)
}
