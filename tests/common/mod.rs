//! Shared harness for the integration tests: a real `keyward` process on a temp data dir, a
//! small blocking mutual-TLS client, and builders/readers for KMIP messages.
//!
//! Nothing here builds or mocks the server: the binary comes from Cargo
//! (`CARGO_BIN_EXE_keyward`) and every exchange goes over real TLS on 127.0.0.1.
//!
//! What lives where (every test crate says `mod common;` and uses what it needs):
//! - this file: running the binary ([`keyward`], [`keyward_ok`]), an initialised data dir with
//!   issued clients ([`Appliance`]), a served process ([`Server`], [`spawn_server`]), the TLS
//!   client ([`Tls`]), and KMIP request builders and response readers;
//! - [`in_process`]: a server on a thread of the test process, its appliance open to inspect;
//! - [`etcd`]: three real etcd members on loopback, and the skip rule for tests that need etcd;
//! - [`nodes`]: three `keyward serve` nodes on one etcd cluster;
//! - [`kp_emulator`]: a loopback IBM Cloud IAM and Key Protect emulator;
//! - [`one_item`]: one-item KMIP requests as bytes, for tests that use `keyward::client`.
//!
//! Helpers that only one test file needs stay in that file.

// Each test crate uses a different subset of these helpers.
#![allow(dead_code)]

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::Arc;
use std::sync::mpsc;
use std::time::Duration;

use keyward::kmip::message::ProtocolVersion;
use keyward::kmip::request::{Request, RequestItem};
use keyward::kmip::tag;
use keyward::ttlv::{Item, Limits, Value, decode, encode};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};

/// Safety bound on every blocking wait, so a server that hangs fails the test instead of
/// hanging it. Not a performance assertion: healthy exchanges take milliseconds.
pub const IO_BOUND: Duration = Duration::from_secs(30);

/// Largest response the client accepts (the server's own message bound).
pub const MAX_FRAME: usize = 1 << 20;

pub mod etcd;
pub mod in_process;
pub mod kp_emulator;
pub mod nodes;
pub mod one_item;

/// A self-signed certificate (PEM) that expires at midnight UTC `days` days from now (valid
/// since midnight yesterday), for the expiry warnings of the console, the API and the metrics.
pub fn cert_expiring_in(days: i64, name: &str) -> String {
    let today = time::OffsetDateTime::now_utc().replace_time(time::Time::MIDNIGHT);
    let mut params = rcgen::CertificateParams::new(vec![name.to_string()]).expect("params");
    params.not_after = today + time::Duration::days(days);
    params.not_before = today - time::Duration::days(1);
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, name);
    let key = rcgen::KeyPair::generate().expect("key pair");
    params.self_signed(&key).expect("self-signed").pem()
}

/// A loopback address whose port was free a moment ago (for a listener the test starts next).
pub fn free_loopback_addr() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], free_loopback_port()))
}

/// A loopback port that was free a moment ago, for a listener that the test, or a process it
/// starts, binds next. Between the probe and that bind the port is unguarded. A port the kernel
/// picks (`127.0.0.1:0`) comes from its ephemeral range, where every other test's `:0`
/// listener and every outgoing connection's source port come from too, and CI once lost an
/// etcd member that way. So the port is taken from below that range (32768-60999 on Linux by
/// default, read from /proc), where only ports named explicitly land; the first one tried
/// depends on the process id, and a counter moves on, so that tests in parallel threads and
/// processes try different ports.
pub fn free_loopback_port() -> u16 {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    const LOW: u32 = 10_000;
    let ephemeral_low = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|r| {
            r.split_whitespace()
                .next()
                .and_then(|l| l.parse::<u32>().ok())
        })
        .unwrap_or(32_768);
    if ephemeral_low <= LOW + 1_000 {
        // No room below the ephemeral range: let the kernel choose.
        let probe = std::net::TcpListener::bind("127.0.0.1:0").expect("bind probe");
        return probe.local_addr().expect("probe addr").port();
    }
    let span = ephemeral_low - LOW;
    let start = std::process::id().wrapping_mul(7_919) % span;
    for _ in 0..span {
        let step = NEXT.fetch_add(1, Ordering::Relaxed);
        let port = LOW + (start + step.wrapping_mul(13)) % span;
        let port = u16::try_from(port).expect("below the ephemeral range");
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free loopback port below {ephemeral_low}");
}

pub fn keyward_bin() -> &'static str {
    env!("CARGO_BIN_EXE_keyward")
}

/// Runs `keyward ARGS --data-dir DATA_DIR` with stdin closed and returns what it did.
pub fn keyward(data_dir: &Path, args: &[&str]) -> Output {
    Command::new(keyward_bin())
        .args(args)
        .arg("--data-dir")
        .arg(data_dir)
        .stdin(Stdio::null())
        .output()
        .expect("run keyward")
}

/// [`keyward`] that must succeed; returns its standard output.
pub fn keyward_ok(data_dir: &Path, args: &[&str]) -> String {
    let out = keyward(data_dir, args);
    assert!(
        out.status.success(),
        "keyward {args:?} failed:\nstdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8 output")
}

// ---------------------------------------------------------------------------------------------
// The appliance under test
// ---------------------------------------------------------------------------------------------

/// Files a client needs to talk to the appliance.
#[derive(Clone, Debug)]
pub struct ClientCreds {
    pub name: String,
    pub cert: PathBuf,
    pub key: PathBuf,
    pub ca: PathBuf,
}

/// A data directory initialised with `keyward init`, plus issued client certificates.
/// Outlives server processes so a test can restart on the same data.
pub struct Appliance {
    pub root: tempfile::TempDir,
    pub data_dir: PathBuf,
    pub clients: HashMap<String, ClientCreds>,
    config: Option<PathBuf>,
    log_filter: &'static str,
    starts: usize,
}

impl Appliance {
    /// `keyward init`, then `keyward client issue` for each name.
    pub fn new(client_names: &[&str]) -> Appliance {
        let root = tempfile::tempdir().expect("temp dir");
        let data_dir = root.path().join("data");
        run_ok(
            Command::new(keyward_bin())
                .arg("init")
                .arg("--data-dir")
                .arg(&data_dir),
        );
        let mut clients = HashMap::new();
        for name in client_names {
            let out = root.path().join(format!("client-{name}"));
            run_ok(
                Command::new(keyward_bin())
                    .args(["client", "issue", "--name", name, "--out"])
                    .arg(&out)
                    .arg("--data-dir")
                    .arg(&data_dir),
            );
            let creds = ClientCreds {
                name: name.to_string(),
                cert: out.join("client.crt"),
                key: out.join("client.key"),
                ca: out.join("ca.crt"),
            };
            for f in [&creds.cert, &creds.key, &creds.ca] {
                assert!(f.is_file(), "`client issue` did not write {}", f.display());
            }
            clients.insert(name.to_string(), creds);
        }
        Appliance {
            root,
            data_dir,
            clients,
            config: None,
            log_filter: "trace",
            starts: 0,
        }
    }

    /// Writes `toml` as the configuration file passed to every later `start`.
    pub fn set_config(&mut self, toml: &str) {
        let path = self.root.path().join("keyward.toml");
        std::fs::write(&path, toml).expect("write config");
        self.config = Some(path);
    }

    /// `RUST_LOG` for later starts when the environment sets none (default: trace).
    pub fn set_log_filter(&mut self, filter: &'static str) {
        self.log_filter = filter;
    }

    pub fn creds(&self, name: &str) -> &ClientCreds {
        self.clients
            .get(name)
            .unwrap_or_else(|| panic!("no client {name} issued"))
    }

    /// Starts `keyward serve` on an ephemeral loopback port and waits for its
    /// `listening on ADDR` line.
    pub fn start(&mut self) -> Server {
        self.starts += 1;
        let log_path = self.root.path().join(format!("server-{}.log", self.starts));
        let mut cmd = Command::new(keyward_bin());
        cmd.arg("serve")
            .arg("--data-dir")
            .arg(&self.data_dir)
            .args(["--listen", "127.0.0.1:0"]);
        if let Some(config) = &self.config {
            cmd.arg("--config").arg(config);
        }
        // Log at every level: tests read the log to prove no key material reaches it.
        spawn_logging(&mut cmd, &log_path, self.log_filter)
    }
}

/// Spawns `cmd` (a `keyward serve …`) logging to `log_path`, and waits for its
/// `listening on ADDR` line. For tests that build their own command line (cluster nodes).
pub fn spawn_server(cmd: &mut Command, log_path: &Path) -> Server {
    spawn_logging(cmd, log_path, "debug")
}

/// Spawns `cmd` with its stderr in `log_path` (at `log_filter` unless RUST_LOG says otherwise)
/// and waits for its `listening on ADDR` line, draining its stdout after it so the server never
/// blocks on a full pipe.
fn spawn_logging(cmd: &mut Command, log_path: &Path, log_filter: &str) -> Server {
    let log = File::create(log_path).expect("create server log");
    if std::env::var_os("RUST_LOG").is_none() {
        cmd.env("RUST_LOG", log_filter);
    }
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::from(log))
        .spawn()
        .expect("spawn keyward serve");
    let stdout = child.stdout.take().expect("piped stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut tx = Some(tx);
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if let Some(rest) = line.strip_prefix("listening on ")
                && let Some(tx) = tx.take()
            {
                let _ = tx.send(rest.trim().to_string());
            }
        }
    });
    let Ok(addr) = rx.recv_timeout(IO_BOUND) else {
        let _ = child.kill();
        let _ = child.wait();
        panic!(
            "keyward serve never printed `listening on`; log:\n{}",
            std::fs::read_to_string(log_path).unwrap_or_default()
        );
    };
    Server {
        child: Some(child),
        addr: addr
            .parse()
            .unwrap_or_else(|e| panic!("bad address {addr:?}: {e}")),
        log_path: log_path.to_path_buf(),
    }
}

/// A running `keyward serve`; SIGKILLed on drop unless stopped first.
pub struct Server {
    child: Option<Child>,
    pub addr: SocketAddr,
    pub log_path: PathBuf,
}

impl Server {
    pub fn connect(&self, creds: &ClientCreds) -> Tls {
        Tls::connect(self.addr, creds).unwrap_or_else(|e| {
            panic!(
                "TLS connect as {} failed: {e}\nserver log:\n{}",
                creds.name,
                self.log()
            )
        })
    }

    /// `GET /healthz` on the `[http]` listener the log announces: status code and reply.
    pub fn healthz(&self) -> (u16, String) {
        let log = self.log();
        let addr = log
            .lines()
            .find_map(|l| l.split("health and metrics on http://").nth(1))
            .and_then(|rest| rest.split_whitespace().next())
            .unwrap_or_else(|| panic!("the [http] listener is not announced:\n{log}"))
            .to_string();
        let mut stream = TcpStream::connect(&addr).expect("connect to /healthz");
        stream
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            .expect("send");
        let mut reply = String::new();
        let _ = stream.read_to_string(&mut reply);
        let code = reply
            .split(' ')
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        (code, reply)
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    /// `true` while the process has not exited.
    pub fn is_running(&mut self) -> bool {
        match self.child.as_mut() {
            Some(child) => matches!(child.try_wait(), Ok(None)),
            None => false,
        }
    }

    /// The server's process id while it runs (for /proc measurements).
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// SIGKILL: no chance to flush or commit anything.
    pub fn kill_hard(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGTERM, then waits (bounded) for the exit status.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let mut child = self.child.take().expect("server already stopped");
        let pid = libc::pid_t::try_from(child.id()).expect("pid fits pid_t");
        // SAFETY: kill(2) with a pid we spawned and still own (not yet waited on), so it
        // cannot have been reused; it touches no memory of ours.
        let rc = unsafe { libc::kill(pid, libc::SIGTERM) };
        assert_eq!(rc, 0, "kill(SIGTERM) failed");
        let deadline = std::time::Instant::now() + IO_BOUND;
        loop {
            if let Some(status) = child.try_wait().expect("wait on server") {
                return status;
            }
            if std::time::Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "server ignored SIGTERM; log:\n{}",
                    std::fs::read_to_string(&self.log_path).unwrap_or_default()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill_hard();
    }
}

/// Runs `cmd` (stdin closed), which must succeed; returns its standard output.
pub fn run_ok(cmd: &mut Command) -> String {
    let out = cmd.stdin(Stdio::null()).output().expect("run keyward");
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}):\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

// ---------------------------------------------------------------------------------------------
// A minimal blocking mTLS client
// ---------------------------------------------------------------------------------------------

pub fn client_config(creds: &ClientCreds) -> Arc<ClientConfig> {
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(&creds.ca).expect("read ca.crt") {
        roots.add(cert.expect("parse ca.crt")).expect("add CA root");
    }
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&creds.cert)
        .expect("read client.crt")
        .collect::<Result<_, _>>()
        .expect("parse client.crt");
    let key = PrivateKeyDer::from_pem_file(&creds.key).expect("read client.key");
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("protocol versions")
        .with_root_certificates(roots)
        .with_client_auth_cert(chain, key)
        .expect("client auth cert");
    Arc::new(config)
}

/// What the server did with a request.
#[derive(Debug)]
pub enum Reply {
    /// One whole framed message (header included).
    Message(Vec<u8>),
    /// The server closed the connection (close_notify, FIN or reset) before a full message.
    Closed,
}

pub struct Tls {
    stream: StreamOwned<ClientConnection, TcpStream>,
}

impl Tls {
    /// TCP connect and complete the TLS handshake.
    pub fn connect(addr: SocketAddr, creds: &ClientCreds) -> std::io::Result<Tls> {
        Tls::connect_timed(addr, creds).map(|(tls, _)| tls)
    }

    /// [`Tls::connect`], also returning how long the TCP connect and the TLS handshake took.
    pub fn connect_timed(
        addr: SocketAddr,
        creds: &ClientCreds,
    ) -> std::io::Result<(Tls, [std::time::Duration; 2])> {
        let started = std::time::Instant::now();
        let sock = TcpStream::connect_timeout(&addr, IO_BOUND)?;
        let connected = started.elapsed();
        sock.set_read_timeout(Some(IO_BOUND))?;
        sock.set_write_timeout(Some(IO_BOUND))?;
        sock.set_nodelay(true)?;
        let name = ServerName::try_from("localhost").expect("server name");
        let conn = ClientConnection::new(client_config(creds), name)
            .map_err(|e| std::io::Error::other(e.to_string()))?;
        let mut stream = StreamOwned::new(conn, sock);
        while stream.conn.is_handshaking() {
            stream.conn.complete_io(&mut stream.sock)?;
        }
        Ok((Tls { stream }, [connected, started.elapsed() - connected]))
    }

    pub fn send_raw(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.stream.write_all(bytes)?;
        self.stream.flush()
    }

    /// Sends close_notify and shuts our write side, keeping the read side open.
    pub fn close_write(&mut self) {
        self.stream.conn.send_close_notify();
        let _ = self.stream.conn.complete_io(&mut self.stream.sock);
        let _ = self.stream.sock.shutdown(std::net::Shutdown::Write);
    }

    /// Reads one framed message (8-byte header, then the body it announces), or reports
    /// that the server closed. Panics if the server neither answers nor closes within
    /// [`IO_BOUND`], or announces more than [`MAX_FRAME`].
    pub fn read_reply(&mut self) -> Reply {
        let mut header = [0u8; 8];
        match self.read_full(&mut header) {
            Ok(()) => {}
            Err(ReadEnd::Closed) => return Reply::Closed,
            Err(ReadEnd::Hung) => panic!("server neither answered nor closed within {IO_BOUND:?}"),
        }
        let len = u32::from_be_bytes([header[4], header[5], header[6], header[7]]) as usize;
        assert!(len <= MAX_FRAME, "server announced a {len}-byte response");
        let mut msg = Vec::with_capacity(8 + len);
        msg.extend_from_slice(&header);
        msg.resize(8 + len, 0);
        match self.read_full(&mut msg[8..]) {
            Ok(()) => Reply::Message(msg),
            Err(ReadEnd::Closed) => panic!("server closed in the middle of a response"),
            Err(ReadEnd::Hung) => panic!("server stalled in the middle of a response"),
        }
    }

    /// Like [`Tls::roundtrip`] but `None` when the connection breaks at any point (the
    /// server was killed, for instance) instead of panicking.
    pub fn try_roundtrip(&mut self, request: &Item) -> Option<Item> {
        self.send_raw(&encode(request)).ok()?;
        let mut header = [0u8; 8];
        match self.read_full(&mut header) {
            Ok(()) => {}
            Err(ReadEnd::Closed) => return None,
            Err(ReadEnd::Hung) => panic!("server neither answered nor closed within {IO_BOUND:?}"),
        }
        let len = u32::from_be_bytes([header[4], header[5], header[6], header[7]]) as usize;
        assert!(len <= MAX_FRAME, "server announced a {len}-byte response");
        let mut msg = header.to_vec();
        msg.resize(8 + len, 0);
        match self.read_full(&mut msg[8..]) {
            Ok(()) => Some(decode_response(&msg)),
            Err(ReadEnd::Closed) => None,
            Err(ReadEnd::Hung) => panic!("server stalled in the middle of a response"),
        }
    }

    /// After a close: `true` if nothing more arrives and the stream ends.
    pub fn expect_closed(&mut self) -> bool {
        let mut byte = [0u8; 1];
        matches!(self.read_full(&mut byte), Err(ReadEnd::Closed))
    }

    fn read_full(&mut self, buf: &mut [u8]) -> Result<(), ReadEnd> {
        let mut filled = 0;
        while filled < buf.len() {
            match self.stream.read(&mut buf[filled..]) {
                Ok(0) => return Err(ReadEnd::Closed),
                Ok(n) => filled += n,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                    return Err(ReadEnd::Hung);
                }
                // FIN without close_notify, RST, or a TLS alert: all end the connection.
                Err(_) => return Err(ReadEnd::Closed),
            }
        }
        Ok(())
    }

    /// Encodes and sends `request`, reads and decodes the response.
    pub fn roundtrip(&mut self, request: &Item) -> Item {
        self.send_raw(&encode(request)).expect("send request");
        match self.read_reply() {
            Reply::Message(bytes) => decode_response(&bytes),
            Reply::Closed => panic!("server closed instead of answering {request:?}"),
        }
    }

    /// Sends one single-item request and returns the (only) response batch item.
    pub fn call(&mut self, version: (i32, i32), op: u32, payload: Vec<Item>) -> Item {
        let resp = self.roundtrip(&request(version, vec![BatchItem::new(op, payload)]));
        let items = batch_items(&resp);
        assert_eq!(items.len(), 1, "expected one batch item in {resp:?}");
        items[0].clone()
    }
}

enum ReadEnd {
    Closed,
    Hung,
}

pub fn decode_response(bytes: &[u8]) -> Item {
    let item =
        decode(bytes, &Limits::default()).unwrap_or_else(|e| panic!("undecodable response: {e}"));
    assert_eq!(
        item.tag,
        tag::RESPONSE_MESSAGE,
        "not a Response Message: {item:?}"
    );
    item
}

// ---------------------------------------------------------------------------------------------
// KMIP constants used by the tests
// ---------------------------------------------------------------------------------------------

pub mod op {
    pub const CREATE: u32 = 0x01;
    pub const REGISTER: u32 = 0x03;
    pub const LOCATE: u32 = 0x08;
    pub const GET: u32 = 0x0A;
    pub const GET_ATTRIBUTES: u32 = 0x0B;
    pub const ADD_ATTRIBUTE: u32 = 0x0D;
    pub const ACTIVATE: u32 = 0x12;
    pub const REVOKE: u32 = 0x13;
    pub const DESTROY: u32 = 0x14;
    pub const ARCHIVE: u32 = 0x15;
    pub const QUERY: u32 = 0x18;
    pub const POLL: u32 = 0x1A;
    pub const DISCOVER_VERSIONS: u32 = 0x1E;
}

pub mod status {
    pub const SUCCESS: u32 = 0;
    pub const OPERATION_FAILED: u32 = 1;
}

pub mod reason {
    pub const ITEM_NOT_FOUND: u32 = 0x01;
    pub const INVALID_MESSAGE: u32 = 0x04;
    pub const OPERATION_NOT_SUPPORTED: u32 = 0x05;
    pub const INVALID_FIELD: u32 = 0x07;
}

pub const OBJECT_SYMMETRIC_KEY: u32 = 2;
pub const ALG_AES: u32 = 3;
pub const KEY_FORMAT_RAW: u32 = 1;
pub const STATE_PRE_ACTIVE: u32 = 1;
pub const STATE_ACTIVE: u32 = 2;
pub const V1_1: (i32, i32) = (1, 1);

// ---------------------------------------------------------------------------------------------
// Request builders
// ---------------------------------------------------------------------------------------------

pub struct BatchItem {
    pub operation: u32,
    pub id: Option<Vec<u8>>,
    pub payload: Vec<Item>,
}

impl BatchItem {
    pub fn new(operation: u32, payload: Vec<Item>) -> BatchItem {
        BatchItem {
            operation,
            id: None,
            payload,
        }
    }

    pub fn with_id(mut self, id: &[u8]) -> BatchItem {
        self.id = Some(id.to_vec());
        self
    }
}

pub fn protocol_version((major, minor): (i32, i32)) -> Item {
    Item::structure(
        tag::PROTOCOL_VERSION,
        vec![
            Item::new(tag::PROTOCOL_VERSION_MAJOR, Value::Integer(major)),
            Item::new(tag::PROTOCOL_VERSION_MINOR, Value::Integer(minor)),
        ],
    )
}

/// A Request Message whose header carries only Protocol Version and Batch Count, as vCenter
/// sends it.
pub fn request(version: (i32, i32), items: Vec<BatchItem>) -> Item {
    request_with_count(version, items.len() as i32, items)
}

/// Like [`request`] but with an arbitrary (possibly wrong) Batch Count. Written by the one
/// request encoder (`keyward::kmip::request`).
pub fn request_with_count(version: (i32, i32), count: i32, items: Vec<BatchItem>) -> Item {
    Request::new(ProtocolVersion::new(version.0, version.1))
        .batch_count(count)
        .items(items.into_iter().map(|item| {
            let wire = RequestItem::raw(item.operation, item.payload);
            match item.id {
                Some(id) => wire.with_id(id),
                None => wire,
            }
        }))
        .encode()
}

pub fn text(t: u32, s: &str) -> Item {
    Item::new(t, Value::TextString(s.to_string()))
}

pub fn uid(s: &str) -> Item {
    text(tag::UNIQUE_IDENTIFIER, s)
}

/// KMIP 1.x `Attribute{Name, Value}`.
pub fn attribute(name: &str, value: Value) -> Item {
    Item::structure(
        tag::ATTRIBUTE,
        vec![
            text(tag::ATTRIBUTE_NAME, name),
            Item::new(tag::ATTRIBUTE_VALUE, value),
        ],
    )
}

/// KMIP 1.x Name attribute (Uninterpreted Text String).
pub fn name_attribute(name: &str) -> Item {
    attribute(
        "Name",
        Value::Structure(vec![
            text(tag::NAME_VALUE, name),
            Item::new(tag::NAME_TYPE, Value::Enumeration(1)),
        ]),
    )
}

/// vCenter's Create payload: AES, usage mask `mask`, `bits` long, plus any extra attributes.
pub fn create_aes_payload(bits: i32, mask: i32, extra: Vec<Item>) -> Vec<Item> {
    let mut attrs = vec![
        attribute("Cryptographic Algorithm", Value::Enumeration(ALG_AES)),
        attribute("Cryptographic Usage Mask", Value::Integer(mask)),
        attribute("Cryptographic Length", Value::Integer(bits)),
    ];
    attrs.extend(extra);
    vec![
        Item::new(tag::OBJECT_TYPE, Value::Enumeration(OBJECT_SYMMETRIC_KEY)),
        Item::structure(tag::TEMPLATE_ATTRIBUTE, attrs),
    ]
}

/// `QLKC` + little-endian counter: vCenter's Unique Batch Item ID.
pub fn qlkc(n: u32) -> Vec<u8> {
    let mut id = b"QLKC".to_vec();
    id.extend_from_slice(&n.to_le_bytes());
    id
}

// ---------------------------------------------------------------------------------------------
// Response readers
// ---------------------------------------------------------------------------------------------

pub fn batch_items(resp: &Item) -> Vec<&Item> {
    resp.children_with(tag::BATCH_ITEM).collect()
}

pub fn header(resp: &Item) -> &Item {
    resp.child(tag::RESPONSE_HEADER)
        .unwrap_or_else(|| panic!("no Response Header in {resp:?}"))
}

pub fn response_version(resp: &Item) -> (i32, i32) {
    let pv = header(resp)
        .child(tag::PROTOCOL_VERSION)
        .expect("Protocol Version");
    (
        int(pv.child(tag::PROTOCOL_VERSION_MAJOR).expect("major")),
        int(pv.child(tag::PROTOCOL_VERSION_MINOR).expect("minor")),
    )
}

pub fn int(item: &Item) -> i32 {
    match item.value {
        Value::Integer(v) => v,
        ref other => panic!("expected Integer, got {other:?} (tag {:06X})", item.tag),
    }
}

pub fn enumeration(item: &Item) -> u32 {
    match item.value {
        Value::Enumeration(v) => v,
        ref other => panic!("expected Enumeration, got {other:?} (tag {:06X})", item.tag),
    }
}

pub fn text_of(item: &Item) -> &str {
    match &item.value {
        Value::TextString(s) => s,
        other => panic!("expected Text String, got {other:?} (tag {:06X})", item.tag),
    }
}

pub fn bytes_of(item: &Item) -> &[u8] {
    match &item.value {
        Value::ByteString(b) => b,
        other => panic!("expected Byte String, got {other:?} (tag {:06X})", item.tag),
    }
}

pub fn result_status(bi: &Item) -> u32 {
    enumeration(
        bi.child(tag::RESULT_STATUS)
            .unwrap_or_else(|| panic!("no Result Status in {bi:?}")),
    )
}

pub fn result_reason(bi: &Item) -> Option<u32> {
    bi.child(tag::RESULT_REASON).map(enumeration)
}

/// Panics unless `bi` succeeded; returns its Response Payload (empty structure if absent).
pub fn success_payload(bi: &Item) -> Item {
    assert_eq!(
        result_status(bi),
        status::SUCCESS,
        "operation failed: reason {:?}, message {:?}",
        result_reason(bi),
        bi.child(tag::RESULT_MESSAGE).map(text_of)
    );
    bi.child(tag::RESPONSE_PAYLOAD)
        .cloned()
        .unwrap_or_else(|| Item::structure(tag::RESPONSE_PAYLOAD, vec![]))
}

/// Panics unless `bi` failed with `expected` reason.
pub fn assert_failed(bi: &Item, expected: u32, what: &str) {
    assert_eq!(
        result_status(bi),
        status::OPERATION_FAILED,
        "{what}: expected failure, got {bi:?}"
    );
    assert_eq!(
        result_reason(bi),
        Some(expected),
        "{what}: wrong result reason in {bi:?}"
    );
}

/// 1.x attributes in a payload, as (name, value).
pub fn attributes_of(payload: &Item) -> Vec<(String, Value)> {
    payload
        .children_with(tag::ATTRIBUTE)
        .map(|a| {
            let name = text_of(a.child(tag::ATTRIBUTE_NAME).expect("Attribute Name")).to_string();
            let value = a
                .child(tag::ATTRIBUTE_VALUE)
                .expect("Attribute Value")
                .value
                .clone();
            (name, value)
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Operation shortcuts (KMIP 1.1, one item per message)
// ---------------------------------------------------------------------------------------------

pub fn discover_versions(tls: &mut Tls) -> Vec<(i32, i32)> {
    let resp = tls.roundtrip(&request(
        V1_1,
        vec![BatchItem::new(op::DISCOVER_VERSIONS, vec![])],
    ));
    let items = batch_items(&resp);
    assert_eq!(items.len(), 1);
    assert!(
        items[0].child(tag::UNIQUE_BATCH_ITEM_ID).is_none(),
        "batch id invented for DV"
    );
    let payload = success_payload(items[0]);
    payload
        .children_with(tag::PROTOCOL_VERSION)
        .map(|pv| {
            (
                int(pv.child(tag::PROTOCOL_VERSION_MAJOR).expect("major")),
                int(pv.child(tag::PROTOCOL_VERSION_MINOR).expect("minor")),
            )
        })
        .collect()
}

pub fn create_aes(tls: &mut Tls, bits: i32, extra: Vec<Item>) -> String {
    let bi = tls.call(V1_1, op::CREATE, create_aes_payload(bits, 12, extra));
    let payload = success_payload(&bi);
    text_of(
        payload
            .child(tag::UNIQUE_IDENTIFIER)
            .expect("UID in Create response"),
    )
    .to_string()
}

/// Get → raw key material.
pub fn get_key(tls: &mut Tls, id: &str) -> Vec<u8> {
    let bi = tls.call(V1_1, op::GET, vec![uid(id)]);
    key_material(&success_payload(&bi))
}

/// The Symmetric Key's raw Key Material in a Get response payload.
pub fn key_material(get_payload: &Item) -> Vec<u8> {
    let km = symmetric_key_block(get_payload)
        .child(tag::KEY_VALUE)
        .and_then(|v| v.child(tag::KEY_MATERIAL))
        .unwrap_or_else(|| panic!("no Key Material in {get_payload:?}"));
    bytes_of(km).to_vec()
}

/// The Key Block of the Symmetric Key in a Get response payload.
pub fn symmetric_key_block(get_payload: &Item) -> &Item {
    get_payload
        .child(tag::SYMMETRIC_KEY)
        .and_then(|k| k.child(tag::KEY_BLOCK))
        .unwrap_or_else(|| panic!("no Symmetric Key Block in {get_payload:?}"))
}

/// The Key Block of whatever key object (by its Object Type) a Get response payload holds.
pub fn key_block(get_payload: &Item) -> &Item {
    let object_type = enumeration(
        get_payload
            .child(tag::OBJECT_TYPE)
            .unwrap_or_else(|| panic!("no Object Type in {get_payload:?}")),
    );
    let object_tag = match object_type {
        2 => tag::SYMMETRIC_KEY,
        3 => tag::PUBLIC_KEY,
        4 => tag::PRIVATE_KEY,
        7 => tag::SECRET_DATA,
        other => panic!("object type {other} has no Key Block"),
    };
    get_payload
        .child(object_tag)
        .and_then(|o| o.child(tag::KEY_BLOCK))
        .unwrap_or_else(|| panic!("no Key Block in {get_payload:?}"))
}

pub fn get_attributes(tls: &mut Tls, id: &str, names: &[&str]) -> Item {
    let mut payload = vec![uid(id)];
    payload.extend(names.iter().map(|n| text(tag::ATTRIBUTE_NAME, n)));
    tls.call(V1_1, op::GET_ATTRIBUTES, payload)
}

pub fn state_of(tls: &mut Tls, id: &str) -> u32 {
    let payload = success_payload(&get_attributes(tls, id, &["State"]));
    let attrs = attributes_of(&payload);
    assert_eq!(
        attrs.len(),
        1,
        "expected exactly the State attribute: {payload:?}"
    );
    assert_eq!(attrs[0].0, "State");
    match attrs[0].1 {
        Value::Enumeration(v) => v,
        ref other => panic!("State is not an Enumeration: {other:?}"),
    }
}

/// Locate by Name; returns the UIDs.
pub fn locate_by_name(tls: &mut Tls, name: &str) -> Vec<String> {
    let bi = tls.call(V1_1, op::LOCATE, vec![name_attribute(name)]);
    uids_of(&success_payload(&bi))
}

/// Locate with no criteria: every object the caller may see.
pub fn locate_all(tls: &mut Tls) -> Vec<String> {
    let bi = tls.call(V1_1, op::LOCATE, vec![]);
    uids_of(&success_payload(&bi))
}

pub fn uids_of(payload: &Item) -> Vec<String> {
    payload
        .children_with(tag::UNIQUE_IDENTIFIER)
        .map(|u| text_of(u).to_string())
        .collect()
}

/// `true` if `needle` shows up in `haystack` as lower- or upper-case hex.
pub fn contains_hex(haystack: &str, needle: &[u8]) -> bool {
    let lower = hex::encode(needle);
    haystack.contains(&lower) || haystack.contains(&lower.to_uppercase())
}

pub fn read_to_string(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}
