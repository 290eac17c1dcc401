//! The systemd notification protocol as the real binary speaks it: `keyward serve` started with
//! `NOTIFY_SOCKET` pointing at a datagram socket this test owns (as systemd would for a
//! `Type=notify` unit). READY=1 must come only once the KMIP port accepts, WATCHDOG=1 at half
//! of `WATCHDOG_USEC`, STOPPING=1 on SIGTERM. Also checks the process refuses core dumps.

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::net::UnixDatagram;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn keyward_bin() -> &'static str {
    env!("CARGO_BIN_EXE_keyward")
}

struct Running {
    child: Child,
    addr: SocketAddr,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn init(data_dir: &std::path::Path) {
    let out = Command::new(keyward_bin())
        .arg("init")
        .arg("--data-dir")
        .arg(data_dir)
        .output()
        .expect("run keyward init");
    assert!(out.status.success(), "init failed: {out:?}");
}

/// Starts `keyward serve` with `envs`; returns once it printed its address.
fn serve(data_dir: &std::path::Path, envs: &[(&str, &str)]) -> Running {
    let mut cmd = Command::new(keyward_bin());
    cmd.arg("serve")
        .arg("--data-dir")
        .arg(data_dir)
        .args(["--listen", "127.0.0.1:0"])
        .env_remove("NOTIFY_SOCKET")
        .env_remove("WATCHDOG_USEC")
        .env_remove("WATCHDOG_PID")
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("spawn keyward serve");
    let stdout = child.stdout.take().expect("stdout");
    let mut running = Running {
        child,
        addr: "0.0.0.0:0".parse().unwrap(),
    };
    for line in BufReader::new(stdout).lines() {
        let line = line.expect("read stdout");
        if let Some(addr) = line.strip_prefix("listening on ") {
            running.addr = addr.trim().parse().expect("listen address");
            return running;
        }
    }
    panic!("keyward serve exited before listening");
}

/// Every datagram received until `deadline` or until `stop` matches one.
fn receive_until(
    socket: &UnixDatagram,
    deadline: Duration,
    mut stop: impl FnMut(&str) -> bool,
) -> Vec<String> {
    let end = Instant::now() + deadline;
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while let Some(left) = end.checked_duration_since(Instant::now()) {
        socket
            .set_read_timeout(Some(left.max(Duration::from_millis(1))))
            .unwrap();
        match socket.recv(&mut buf) {
            Ok(n) => {
                let message = String::from_utf8_lossy(&buf[..n]).into_owned();
                let done = stop(&message);
                got.push(message);
                if done {
                    break;
                }
            }
            Err(e)
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.kind() == std::io::ErrorKind::TimedOut =>
            {
                break;
            }
            Err(e) => panic!("recv: {e}"),
        }
    }
    got
}

fn sigterm(running: &mut Running) -> std::process::ExitStatus {
    let pid = running.child.id() as libc::pid_t;
    // SAFETY: kill(2) with our own child's pid and a valid signal number.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
    let end = Instant::now() + Duration::from_secs(15);
    loop {
        if let Some(status) = running.child.try_wait().unwrap() {
            return status;
        }
        assert!(Instant::now() < end, "server did not stop after SIGTERM");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn ready_after_the_port_accepts_then_stopping_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    init(&data_dir);
    let socket_path = dir.path().join("notify.sock");
    let socket = UnixDatagram::bind(&socket_path).unwrap();
    let mut running = serve(
        &data_dir,
        &[("NOTIFY_SOCKET", socket_path.to_str().unwrap())],
    );

    let before_ready = receive_until(&socket, Duration::from_secs(20), |m| {
        m.lines().any(|l| l == "READY=1")
    });
    let ready = before_ready.last().expect("READY=1 within 20 s");
    assert!(ready.lines().any(|l| l == "READY=1"), "{before_ready:?}");
    assert!(
        ready.contains("STATUS=serving KMIP on"),
        "READY carries a status line: {ready:?}"
    );
    // READY means the port accepts now, without retries.
    TcpStream::connect_timeout(&running.addr, Duration::from_secs(2))
        .expect("the KMIP port accepts once READY=1 was sent");
    // No watchdog was asked for, so none is sent.
    let idle = receive_until(&socket, Duration::from_millis(500), |_| false);
    assert!(idle.iter().all(|m| !m.contains("WATCHDOG=1")), "{idle:?}");

    let limits = std::fs::read_to_string(format!("/proc/{}/limits", running.child.id()))
        .expect("read /proc/PID/limits");
    let core = limits
        .lines()
        .find(|l| l.starts_with("Max core file size"))
        .expect("core limit line");
    let fields: Vec<&str> = core.split_whitespace().collect();
    assert_eq!(&fields[4..6], &["0", "0"], "RLIMIT_CORE is 0: {core}");

    let status = sigterm(&mut running);
    assert!(status.success(), "clean exit after SIGTERM: {status:?}");
    let after = receive_until(&socket, Duration::from_millis(200), |_| false);
    assert!(
        after.iter().any(|m| m.lines().any(|l| l == "STOPPING=1")),
        "STOPPING=1 on SIGTERM: {after:?}"
    );
}

#[test]
fn watchdog_pings_at_half_the_interval_on_an_abstract_socket() {
    use std::os::linux::net::SocketAddrExt;
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    init(&data_dir);
    let name = format!("keyward-notify-test-{}", std::process::id());
    let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
    let socket = UnixDatagram::bind_addr(&addr).unwrap();
    let notify_socket = format!("@{name}");
    // 400 ms: pings every 200 ms.
    let mut running = serve(
        &data_dir,
        &[
            ("NOTIFY_SOCKET", &notify_socket),
            ("WATCHDOG_USEC", "400000"),
        ],
    );
    let ready = receive_until(&socket, Duration::from_secs(20), |m| {
        m.lines().any(|l| l == "READY=1")
    });
    assert!(
        ready.iter().any(|m| m.lines().any(|l| l == "READY=1")),
        "{ready:?}"
    );
    let window = Duration::from_millis(1500);
    let pings = receive_until(&socket, window, |_| false)
        .iter()
        .filter(|m| m.lines().any(|l| l == "WATCHDOG=1"))
        .count();
    // 7 due in 1.5 s; a loaded 2-core CI machine may delay some, never most.
    assert!(
        (3..=9).contains(&pings),
        "WATCHDOG=1 pings in {window:?}: {pings}"
    );

    // A watchdog meant for another process (WATCHDOG_PID) is ignored.
    let status = sigterm(&mut running);
    assert!(status.success(), "{status:?}");
    drop(running);
    let mut other = serve(
        &data_dir,
        &[
            ("NOTIFY_SOCKET", &notify_socket),
            ("WATCHDOG_USEC", "400000"),
            ("WATCHDOG_PID", "1"),
        ],
    );
    let seen = receive_until(&socket, Duration::from_millis(1500), |_| false);
    assert!(
        seen.iter().any(|m| m.contains("READY=1")),
        "READY from the second run: {seen:?}"
    );
    assert!(
        seen.iter().all(|m| !m.contains("WATCHDOG=1")),
        "no pings for WATCHDOG_PID=1: {seen:?}"
    );
    sigterm(&mut other);
}
