//! The systemd notification protocol (`sd_notify(3)`), without libsystemd: one datagram of
//! `KEY=VALUE` lines to the Unix socket named by `$NOTIFY_SOCKET`. A name starting with `@` is
//! a Linux abstract socket. Without `$NOTIFY_SOCKET` (not started by systemd) every call does
//! nothing, so the server needs no separate code path outside systemd.
//!
//! What the server sends: `READY=1` once the listener is bound and the master key is unwrapped
//! (or the appliance knows it starts sealed, with a `STATUS=` saying why), `WATCHDOG=1` from the
//! event loop at half of `$WATCHDOG_USEC`, and `STOPPING=1` when a graceful shutdown begins.
//!
//! Why not the `sd-notify` crate (0.5.0, checked): it opens a blocking socket per message, so a
//! stuck service manager could stall the event loop's watchdog ping, and it passes `@name` to
//! `connect` as a path, so abstract sockets (`tests/systemd_notify.rs`) would go unheard.

use std::io;
use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The service manager's socket, opened once per process.
struct Notifier {
    socket: UnixDatagram,
    addr: SocketAddr,
}

static NOTIFIER: OnceLock<Option<Notifier>> = OnceLock::new();

fn notifier() -> Option<&'static Notifier> {
    NOTIFIER
        .get_or_init(|| {
            let name = std::env::var_os("NOTIFY_SOCKET")?;
            match open(&name) {
                Ok(notifier) => Some(notifier),
                Err(e) => {
                    log::warn!(
                        "NOTIFY_SOCKET={}: cannot use it ({e}); systemd will not hear from us",
                        name.to_string_lossy()
                    );
                    None
                }
            }
        })
        .as_ref()
}

fn open(name: &std::ffi::OsStr) -> io::Result<Notifier> {
    use std::os::unix::ffi::OsStrExt;
    let bytes = name.as_bytes();
    let addr = match bytes.split_first() {
        Some((b'@', abstract_name)) => {
            use std::os::linux::net::SocketAddrExt;
            SocketAddr::from_abstract_name(abstract_name)?
        }
        Some((b'/', _)) => SocketAddr::from_pathname(std::path::Path::new(name))?,
        _ => {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "neither an absolute path nor an abstract name (@...)",
            ));
        }
    };
    let socket = UnixDatagram::unbound()?;
    // A stuck service manager must not stall the event loop.
    socket.set_nonblocking(true)?;
    Ok(Notifier { socket, addr })
}

/// Sends `state` (newline-separated `KEY=VALUE` lines) to the service manager. True when sent;
/// false outside systemd or on failure (logged: a lost notification is not fatal to serving,
/// though systemd may act on it, e.g. a missed watchdog ping).
pub fn notify(state: &str) -> bool {
    let Some(notifier) = notifier() else {
        return false;
    };
    match notifier
        .socket
        .send_to_addr(state.as_bytes(), &notifier.addr)
    {
        Ok(_) => true,
        Err(e) => {
            log::warn!("sd_notify: sending {state:?} failed: {e}");
            false
        }
    }
}

/// `READY=1`, with a `STATUS=` line for `systemctl status`.
pub fn ready(status: &str) -> bool {
    notify(&format!("READY=1\nSTATUS={}", one_line(status)))
}

/// `STOPPING=1`: a graceful shutdown has begun.
pub fn stopping() -> bool {
    notify("STOPPING=1\nSTATUS=stopping: answering requests already received")
}

fn one_line(s: &str) -> String {
    s.replace(['\n', '\r'], " ")
}

/// The watchdog interval systemd asked for (`$WATCHDOG_USEC`), if it is meant for this process
/// (`$WATCHDOG_PID` absent or equal to our pid).
pub fn watchdog_interval() -> Option<Duration> {
    parse_watchdog(
        std::env::var("WATCHDOG_USEC").ok().as_deref(),
        std::env::var("WATCHDOG_PID").ok().as_deref(),
        std::process::id(),
    )
}

fn parse_watchdog(usec: Option<&str>, pid: Option<&str>, own_pid: u32) -> Option<Duration> {
    if let Some(pid) = pid
        && pid.trim().parse::<u32>().ok() != Some(own_pid)
    {
        return None;
    }
    let usec: u64 = usec?.trim().parse().ok()?;
    (usec > 0).then(|| Duration::from_micros(usec))
}

/// Watchdog pings on the event loop's clock: the loop asks how long it may sleep, and ticks
/// after every wake-up. Pinging at half the interval leaves room for one slow turn.
pub struct Watchdog {
    every: Option<Duration>,
    next: Instant,
}

impl Watchdog {
    pub fn from_env() -> Watchdog {
        Watchdog::with_interval(watchdog_interval())
    }

    pub fn with_interval(interval: Option<Duration>) -> Watchdog {
        let every = interval.map(|i| (i / 2).max(Duration::from_millis(1)));
        Watchdog {
            every,
            next: Instant::now(),
        }
    }

    /// How long the loop may sleep before the next ping is due (`None`: no watchdog).
    pub fn until_next(&self, now: Instant) -> Option<Duration> {
        self.every.map(|_| self.next.saturating_duration_since(now))
    }

    /// Pings when due. A loop stuck elsewhere never gets here, which is the point.
    pub fn tick(&mut self, now: Instant) {
        if let Some(every) = self.every
            && now >= self.next
        {
            notify("WATCHDOG=1");
            self.next = now + every;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn watchdog_interval_is_for_this_pid_only() {
        assert_eq!(
            parse_watchdog(Some("2000000"), None, 7),
            Some(Duration::from_secs(2))
        );
        assert_eq!(
            parse_watchdog(Some("2000000"), Some("7"), 7),
            Some(Duration::from_secs(2))
        );
        assert_eq!(parse_watchdog(Some("2000000"), Some("8"), 7), None);
        assert_eq!(parse_watchdog(Some("0"), None, 7), None);
        assert_eq!(parse_watchdog(Some("soon"), None, 7), None);
        assert_eq!(parse_watchdog(None, None, 7), None);
    }

    #[test]
    fn watchdog_pings_at_half_the_interval() {
        let mut dog = Watchdog::with_interval(Some(Duration::from_secs(10)));
        let start = Instant::now();
        assert_eq!(dog.until_next(start), Some(Duration::ZERO));
        dog.tick(start);
        assert_eq!(dog.until_next(start), Some(Duration::from_secs(5)));
        assert!(Watchdog::with_interval(None).until_next(start).is_none());
    }

    #[test]
    fn abstract_and_path_names_are_accepted_others_refused() {
        assert!(open(std::ffi::OsStr::new("@keyward-test-notify")).is_ok());
        assert!(open(std::ffi::OsStr::new("/run/systemd/notify")).is_ok());
        assert!(open(std::ffi::OsStr::new("relative/path")).is_err());
        assert!(open(std::ffi::OsStr::new("")).is_err());
    }
}
