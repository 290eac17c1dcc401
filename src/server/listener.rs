//! The KMIP listening socket, bound with a deep accept backlog. mio's own `bind` asks for a
//! backlog of 128: during a connection flood that queue fills between two loop turns, and
//! the kernel then drops the SYN of a real client, which retries only after a second. The
//! loop drains the queue in bounded batches every turn; the queue only has to absorb what
//! arrives in between.
//!
//! TCP_DEFER_ACCEPT keeps connections that send nothing out of the accept queue: the kernel
//! hands a connection over once its first data (a ClientHello) arrives, or after about
//! `DEFER_ACCEPT_SECS` without it (then `first_byte_timeout_secs` closes it). A real client
//! speaks at once and so never waits behind a crowd of silent sockets.

use std::net::SocketAddr;

use mio::net::TcpListener;
use rustix::net::{AddressFamily, SocketFlags, SocketType, bind, listen, socket_with, sockopt};

/// Requested accept backlog; the kernel caps it at `net.core.somaxconn` (4096 by default).
pub(super) const BACKLOG: i32 = 4096;

/// Seconds the kernel holds a connection that has sent nothing before passing it on.
const DEFER_ACCEPT_SECS: libc::c_int = 2;

/// A non-blocking listening TCP socket on `addr` (SO_REUSEADDR, as std and mio set it).
pub(super) fn bind_listener(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let family = match addr {
        SocketAddr::V4(_) => AddressFamily::INET,
        SocketAddr::V6(_) => AddressFamily::INET6,
    };
    let fd = socket_with(
        family,
        SocketType::STREAM,
        SocketFlags::CLOEXEC | SocketFlags::NONBLOCK,
        None,
    )?;
    sockopt::set_socket_reuseaddr(&fd, true)?;
    defer_accept(&fd);
    bind(&fd, &addr)?;
    listen(&fd, BACKLOG)?;
    Ok(TcpListener::from_std(std::net::TcpListener::from(fd)))
}

/// Sets TCP_DEFER_ACCEPT (rustix has no wrapper for it). A failure only costs the
/// optimisation, so it is logged, not fatal.
fn defer_accept(fd: &std::os::fd::OwnedFd) {
    use std::os::fd::AsRawFd;
    let secs: libc::c_int = DEFER_ACCEPT_SECS;
    // SAFETY: `fd` is an open socket we own for the duration of the call; the option value
    // points to a live c_int and its exact size is passed; setsockopt only reads it.
    let rc = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_DEFER_ACCEPT,
            (&raw const secs).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc != 0 {
        log::warn!(
            "cannot set TCP_DEFER_ACCEPT on the KMIP listener: {}",
            std::io::Error::last_os_error()
        );
    }
}
