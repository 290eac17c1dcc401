//! Admin requests never run on the event loop. The admin socket has a thread of its own
//! ("keyward-admin") that accepts and answers its connections one at a time (a blocking
//! exchange of up to 2 s, store reads and writes); what a request means for open KMIP
//! connections (a removed client, a changed registry) goes to the loop as [`EffectsRequest`],
//! and the reply leaves only once the loop has applied it. Requests that take long (a backup
//! export, an import batch, an unseal's passphrase derivation) get a thread of their own on
//! top, so that other admin requests do not wait for them either: one function starts,
//! answers and logs each of them alike.

use std::io::Write;
use std::os::unix::net::UnixStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Sender, channel};
use std::thread::JoinHandle;
use std::time::Duration;

use mio::{Events, Interest, Poll, Token, Waker};
use zeroize::Zeroizing;

use super::Services;
use super::admin_socket::{self, AdminSocket, Effects};
use super::trust_refresh::LastSeen;
use crate::admin::protocol::{Envelope, PROTOCOL_VERSION, Reply, Request};

const ACCEPT: Token = Token(0);
const STOP: Token = Token(1);

/// The longest an admin reply waits for the event loop to apply its effects (the loop answers
/// within a turn; this only bounds a loop that is stopping).
const APPLY_WAIT: Duration = Duration::from_secs(5);
/// How often the certificate expiry gauge is computed again without an admin request.
const EXPIRY_REFRESH: Duration = Duration::from_secs(3600);

/// Effects for the event loop to apply; it says so on `applied`.
pub(super) struct EffectsRequest {
    pub effects: Effects,
    pub applied: Sender<()>,
}

/// The running admin thread.
pub(super) struct AdminThread {
    stop: Arc<AtomicBool>,
    waker: Arc<Waker>,
    thread: JoinHandle<()>,
}

impl AdminThread {
    /// Stops accepting, lets a request being answered finish, removes the socket file.
    pub(super) fn stop(self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Err(e) = self.waker.wake() {
            log::error!("cannot wake the admin thread to stop it: {e}");
        }
        if self.thread.join().is_err() {
            log::error!("the admin thread panicked");
        }
    }
}

/// Starts answering `admin` on its own thread; effects go to `to_loop`, announced by
/// `loop_waker`.
pub(super) fn spawn(
    mut admin: AdminSocket,
    services: &Services,
    last_seen: LastSeen,
    to_loop: Sender<EffectsRequest>,
    loop_waker: Arc<Waker>,
) -> std::io::Result<AdminThread> {
    let mut poll = Poll::new()?;
    let waker = Arc::new(Waker::new(poll.registry(), STOP)?);
    poll.registry()
        .register(&mut admin.listener, ACCEPT, Interest::READABLE)?;
    let stop = Arc::new(AtomicBool::new(false));
    let stopping = stop.clone();
    let services = services.clone();
    let server_cert = admin.data_dir().join(crate::pki::SERVER_CERT_FILE);
    let thread = std::thread::Builder::new()
        .name("keyward-admin".into())
        .spawn(move || {
            let mut events = Events::with_capacity(8);
            while !stopping.load(Ordering::SeqCst) {
                // The expiry gauge: at start, after every admin request, at least hourly.
                match crate::admin::expiry::count_now(services.store.as_ref(), &server_cert) {
                    Ok(n) => services.metrics.set_certificates_expiring(n),
                    Err(e) => log::warn!("certificate expiry gauge not updated: {e}"),
                }
                if let Err(e) = poll.poll(&mut events, Some(EXPIRY_REFRESH))
                    && e.kind() != std::io::ErrorKind::Interrupted
                {
                    log::error!("admin socket: waiting for connections failed: {e}");
                    return;
                }
                accept_all(
                    &admin,
                    &services,
                    &last_seen,
                    &to_loop,
                    &loop_waker,
                    &stopping,
                );
            }
            // `admin` drops here: the socket file goes with it.
        })?;
    Ok(AdminThread {
        stop,
        waker,
        thread,
    })
}

fn accept_all(
    admin: &AdminSocket,
    services: &Services,
    last_seen: &LastSeen,
    to_loop: &Sender<EffectsRequest>,
    loop_waker: &Waker,
    stopping: &AtomicBool,
) {
    while !stopping.load(Ordering::SeqCst) {
        let stream = match admin.listener.accept() {
            Ok((stream, _)) => stream,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => {
                log::warn!("admin socket: accept failed: {e}");
                return;
            }
        };
        admin_socket::handle(stream.into(), services, last_seen, |effects| {
            let (applied, done) = channel();
            if to_loop.send(EffectsRequest { effects, applied }).is_err() {
                return;
            }
            if let Err(e) = loop_waker.wake() {
                log::error!("admin socket: cannot wake the event loop: {e}");
            }
            let _ = done.recv_timeout(APPLY_WAIT);
        });
    }
}

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
