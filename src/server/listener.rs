//! The KMIP listening socket, bound with a deep accept backlog. mio's own `bind` asks for a
//! backlog of 128: during a connection flood that queue fills between two loop turns, and
//! the kernel then drops the SYN of a real client, which retries only after a second. The
//! loop drains the queue in bounded batches every turn; the queue only has to absorb what
//! arrives in between.

use std::net::SocketAddr;

use mio::net::TcpListener;
use rustix::net::{AddressFamily, SocketFlags, SocketType, bind, listen, socket_with, sockopt};

/// Requested accept backlog; the kernel caps it at `net.core.somaxconn` (4096 by default).
pub(super) const BACKLOG: i32 = 4096;

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
    bind(&fd, &addr)?;
    listen(&fd, BACKLOG)?;
    Ok(TcpListener::from_std(std::net::TcpListener::from(fd)))
}
