//! Admin requests that take long (a backup export, an import batch, an unseal's passphrase
//! derivation) run on a thread of their own, so that the event loop never waits for them; the
//! thread answers the admin connection itself when it is done. One function does that for
//! each of them, so they start, answer and log alike.

use std::io::Write;
use std::os::unix::net::UnixStream;
use std::time::Duration;

use zeroize::Zeroizing;

use super::Services;
use crate::admin::protocol::{Envelope, PROTOCOL_VERSION, Reply, Request};

/// Runs `run(request)` on a thread named `thread` and writes its reply to `stream`; returns at
/// once. `what` names the request in log lines ("backup export", "import batch", ...).
pub(super) fn answer_on_thread(
    stream: UnixStream,
    request: Request,
    services: &Services,
    uid: u32,
    (thread, what): (&str, &'static str),
    run: fn(Request, &Services, u32) -> Reply,
) {
    let services = services.clone();
    let spawned = std::thread::Builder::new()
        .name(thread.into())
        .spawn(move || {
            let reply = run(request, &services, uid);
            answer(&stream, reply, uid, what);
        });
    if let Err(e) = spawned {
        log::error!("admin uid {uid}: cannot start the {what} thread: {e}");
    }
}

fn answer(mut stream: &UnixStream, reply: Reply, uid: u32, what: &str) {
    let _ = stream.set_write_timeout(Some(Duration::from_secs(5)));
    // Zeroized when dropped, as every admin line is: replies may name key facts.
    let mut line = match serde_json::to_vec(&Envelope {
        version: PROTOCOL_VERSION,
        body: reply,
    }) {
        Ok(line) => Zeroizing::new(line),
        Err(e) => {
            log::error!("admin socket: cannot encode a reply: {e}");
            return;
        }
    };
    line.push(b'\n');
    if let Err(e) = stream.write_all(&line) {
        log::warn!("admin uid {uid} left before its {what} was answered: {e}");
    }
}
