//! SIGTERM/SIGINT → graceful shutdown, with the self-pipe trick: the signal handler writes one
//! byte to a socket pair whose other end the event loop polls. (No signal-hook dependency:
//! this is the whole of it.)

use std::io::{self, Read};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream as StdUnixStream;
use std::sync::atomic::{AtomicI32, Ordering};

use mio::net::UnixStream;
use mio::{Interest, Registry, Token};

/// Write end of the pipe for the handler; -1 when no pipe is installed.
static SIGNAL_WRITE_FD: AtomicI32 = AtomicI32::new(-1);

const SIGNALS: [libc::c_int; 2] = [libc::SIGTERM, libc::SIGINT];

pub struct SignalPipe {
    reader: UnixStream,
    writer: StdUnixStream,
}

extern "C" fn on_signal(_signal: libc::c_int) {
    let fd = SIGNAL_WRITE_FD.load(Ordering::SeqCst);
    if fd < 0 {
        return;
    }
    let byte = 1u8;
    // SAFETY: only async-signal-safe calls here (write(2) and errno access). `fd` is the
    // non-blocking write end owned by the live `SignalPipe` (reset to -1 before it is closed);
    // a full pipe makes write fail with EAGAIN, which is fine: a wake-up is already pending.
    // errno is restored so the interrupted code never sees our write's error.
    unsafe {
        let errno = libc::__errno_location();
        let saved = *errno;
        libc::write(fd, (&byte as *const u8).cast::<libc::c_void>(), 1);
        *errno = saved;
    }
}

impl SignalPipe {
    /// Installs handlers for SIGTERM and SIGINT. One pipe per process.
    pub fn install() -> io::Result<SignalPipe> {
        let (reader, writer) = StdUnixStream::pair()?;
        reader.set_nonblocking(true)?;
        writer.set_nonblocking(true)?;
        SIGNAL_WRITE_FD.store(writer.as_raw_fd(), Ordering::SeqCst);
        for signal in SIGNALS {
            set_handler(
                signal,
                on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t,
            )?;
        }
        Ok(SignalPipe {
            reader: UnixStream::from_std(reader),
            writer,
        })
    }

    pub fn register(&mut self, registry: &Registry, token: Token) -> io::Result<()> {
        registry.register(&mut self.reader, token, Interest::READABLE)
    }

    /// Empties the pipe; true when at least one signal arrived.
    pub fn drain(&mut self) -> bool {
        let mut got = false;
        let mut buf = [0u8; 64];
        loop {
            match self.reader.read(&mut buf) {
                Ok(0) => return got,
                Ok(_) => got = true,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => return got,
            }
        }
    }
}

impl Drop for SignalPipe {
    fn drop(&mut self) {
        for signal in SIGNALS {
            let _ = set_handler(signal, libc::SIG_DFL);
        }
        if SIGNAL_WRITE_FD.load(Ordering::SeqCst) == self.writer.as_raw_fd() {
            SIGNAL_WRITE_FD.store(-1, Ordering::SeqCst);
        }
    }
}

fn set_handler(signal: libc::c_int, handler: libc::sighandler_t) -> io::Result<()> {
    // SAFETY: `action` is fully initialised (zeroed, then the handler, flags and an empty mask
    // set through libc); the handler is either SIG_DFL or `on_signal`, which is
    // async-signal-safe. sigaction does not retain pointers to our stack.
    let rc = unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = handler;
        action.sa_flags = libc::SA_RESTART;
        libc::sigemptyset(&mut action.sa_mask);
        libc::sigaction(signal, &action, std::ptr::null_mut())
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}
