//! Health, metrics and status of a real `keyward serve` with real TLS: the counters match the
//! operations this test made, a handshake without a certificate is counted by its cause,
//! `/healthz` follows the Key Protect root (loopback emulator) to 503 and back, bad HTTP gets
//! 400/431/408 and a close, and `keyward status --json` answers running and stopped.

mod common;
use common::kp_emulator;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::*;
use keyward::kmip::tag;
use keyward::ttlv::{Item, Value};
use kp_emulator::{API_KEY, Emulator, INSTANCE_ID, ROOT_KEY_ID};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};

const WAIT: Duration = Duration::from_secs(20);

/// `keyward serve` with a configuration file; returns once both listeners are announced.
struct Served {
    child: Child,
    kmip: SocketAddr,
    http: SocketAddr,
}

impl Served {
    fn start(data: &Path, config: &Path, log: &Path, invocation_id: Option<&str>) -> Served {
        let mut command = Command::new(keyward_bin());
        command
            .env_remove("INVOCATION_ID")
            .env_remove("JOURNAL_STREAM");
        if let Some(id) = invocation_id {
            command.env("INVOCATION_ID", id);
        }
        let mut child = command
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(data)
            .arg("--config")
            .arg(config)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(log).unwrap())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let _ = tx.send(line);
            }
        });
        let mut http = None;
        let deadline = Instant::now() + WAIT;
        let kmip = loop {
            let line = rx
                .recv_timeout(deadline.saturating_duration_since(Instant::now()))
                .unwrap_or_else(|_| {
                    panic!(
                        "no listening line; log:\n{}",
                        std::fs::read_to_string(log).unwrap()
                    )
                });
            if let Some(addr) = line.strip_prefix("health and metrics on http://") {
                http = Some(addr.parse::<SocketAddr>().unwrap());
            }
            if let Some(addr) = line.strip_prefix("listening on ") {
                break addr.parse::<SocketAddr>().unwrap();
            }
        };
        Served {
            child,
            kmip,
            http: http.expect("the [http] listener is announced before `listening on`"),
        }
    }

    fn stop(mut self) {
        // SAFETY: kill(2) on our own child, not yet waited for.
        assert_eq!(
            unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM) },
            0
        );
        assert!(self.child.wait().unwrap().success());
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Sends `raw` and reads until the server closes: (status code, body). Panics on a hang.
fn http_raw(addr: SocketAddr, raw: &[u8]) -> (u16, String) {
    let mut sock = TcpStream::connect_timeout(&addr, WAIT).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(15)))
        .unwrap();
    sock.write_all(raw).unwrap();
    let mut answer = Vec::new();
    sock.read_to_end(&mut answer)
        .expect("the server answers and closes, never hangs");
    let text = String::from_utf8(answer).unwrap();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP response: {text:?}"));
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
    (status, body.to_string())
}

fn get(addr: SocketAddr, path: &str) -> (u16, String) {
    http_raw(
        addr,
        format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n").as_bytes(),
    )
}

/// The value of one exact series line in a metrics exposition.
fn series(metrics: &str, name_and_labels: &str) -> f64 {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(name_and_labels)?.strip_prefix(' '))
        .unwrap_or_else(|| panic!("no series {name_and_labels} in:\n{metrics}"))
        .parse()
        .unwrap()
}

fn status_json(data: &Path, config: &Path) -> serde_json::Value {
    let out = Command::new(keyward_bin())
        .args(["status", "--json", "--data-dir"])
        .arg(data)
        .arg("--config")
        .arg(config)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn uid_of(item: &Item) -> String {
    let payload = item.child(tag::RESPONSE_PAYLOAD).expect("payload");
    match &payload.child(tag::UNIQUE_IDENTIFIER).expect("uid").value {
        Value::TextString(s) => s.clone(),
        other => panic!("uid {other:?}"),
    }
}

fn result_status(item: &Item) -> i64 {
    match item.child(tag::RESULT_STATUS).map(|i| &i.value) {
        Some(Value::Enumeration(v)) => i64::from(*v),
        other => panic!("result status {other:?}"),
    }
}

#[test]
fn metrics_count_what_the_test_did_and_status_answers_running_and_stopped() {
    let appliance = Appliance::new(&["vcenter"]);
    let config = appliance.root.path().join("observability.toml");
    std::fs::write(&config, "[http]\nlisten = \"127.0.0.1:0\"\n").unwrap();
    let log = appliance.root.path().join("serve.log");
    let server = Served::start(&appliance.data_dir, &config, &log, None);
    let creds = appliance.creds("vcenter");

    let (code, body) = get(server.http, "/healthz");
    assert_eq!((code, body.trim()), (200, "{\"status\":\"serving\"}"));

    let mut tls = Tls::connect(server.kmip, creds).unwrap();
    let mut uids = Vec::new();
    for _ in 0..3 {
        let item = tls.call(V1_1, op::CREATE, create_aes_payload(256, 12, vec![]));
        assert_eq!(result_status(&item), 0);
        uids.push(uid_of(&item));
    }
    for uid in &uids[..2] {
        let item = tls.call(V1_1, op::GET, vec![common::uid(uid)]);
        assert_eq!(result_status(&item), 0);
    }
    let missing = tls.call(V1_1, op::GET, vec![common::uid("no-such-key")]);
    assert_ne!(result_status(&missing), 0);

    let (code, metrics) = get(server.http, "/metrics");
    assert_eq!(code, 200);
    let ops = "keyward_operations_total";
    assert_eq!(
        series(
            &metrics,
            &format!("{ops}{{operation=\"Create\",result=\"success\"}}")
        ),
        3.0
    );
    assert_eq!(
        series(
            &metrics,
            &format!("{ops}{{operation=\"Get\",result=\"success\"}}")
        ),
        2.0
    );
    assert_eq!(
        series(
            &metrics,
            &format!("{ops}{{operation=\"Get\",result=\"ItemNotFound\"}}")
        ),
        1.0
    );
    assert_eq!(
        metrics.lines().filter(|l| l.starts_with(ops)).count(),
        3,
        "no other operation was counted:\n{metrics}"
    );
    let latency = "keyward_operation_duration_seconds";
    assert_eq!(
        series(
            &metrics,
            &format!("{latency}_count{{operation=\"Create\"}}")
        ),
        3.0
    );
    assert_eq!(
        series(&metrics, &format!("{latency}_count{{operation=\"Get\"}}")),
        3.0
    );
    assert_eq!(
        series(
            &metrics,
            &format!("{latency}_bucket{{le=\"+Inf\",operation=\"Get\"}}")
        ),
        3.0
    );
    // The three Creates are the only mutations. The Gets change nothing a commit must hold
    // first: answered from a snapshot, their records journalled (docs/audit.md, read
    // journal), the first Gets' clears of Fresh with them (src/engine/fresh.rs).
    assert_eq!(series(&metrics, "keyward_commit_batch_size_sum"), 3.0);
    assert_eq!(series(&metrics, "keyward_open_connections"), 1.0);
    assert_eq!(
        series(&metrics, "keyward_root_key_sealed{provider=\"local\"}"),
        0.0
    );
    assert_eq!(series(&metrics, "keyward_backup_age_seconds"), -1.0);
    assert_eq!(
        series(
            &metrics,
            "keyward_connection_failures_total{cause=\"no_certificate\"}"
        ),
        0.0
    );
    drop(tls);

    // A client that sends no certificate (TLS 1.2: the server decides before Finished).
    let mut roots = RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_file(&creds.ca).unwrap())
        .unwrap();
    let anonymous = ClientConfig::builder_with_provider(keyward::server::tls::provider())
        .with_protocol_versions(&[&rustls::version::TLS12])
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let sock = TcpStream::connect(server.kmip).unwrap();
    sock.set_read_timeout(Some(WAIT)).unwrap();
    let conn = ClientConnection::new(
        Arc::new(anonymous),
        ServerName::try_from("localhost").unwrap(),
    )
    .unwrap();
    let mut stream = StreamOwned::new(conn, sock);
    let mut refused = false;
    while stream.conn.is_handshaking() {
        if stream.conn.complete_io(&mut stream.sock).is_err() {
            refused = true;
            break;
        }
    }
    assert!(refused, "a client without a certificate is refused");
    let deadline = Instant::now() + WAIT;
    loop {
        let (_, metrics) = get(server.http, "/metrics");
        let counted = series(
            &metrics,
            "keyward_connection_failures_total{cause=\"no_certificate\"}",
        );
        if counted == 1.0 {
            assert_eq!(
                series(
                    &metrics,
                    "keyward_connection_failures_total{cause=\"unknown_client\"}"
                ),
                0.0
            );
            assert_eq!(series(&metrics, "keyward_open_connections"), 0.0);
            break;
        }
        assert!(Instant::now() < deadline, "the failure was never counted");
        std::thread::sleep(Duration::from_millis(50));
    }

    // A certificate from another appliance's CA: refused as an unknown client.
    let stranger = Appliance::new(&["stranger"]);
    let stranger = stranger.creds("stranger").clone();
    let foreign = StreamOwned::new(
        ClientConnection::new(
            tls12_client(&creds.ca, Some(&stranger)),
            ServerName::try_from("localhost").unwrap(),
        )
        .unwrap(),
        TcpStream::connect(server.kmip).unwrap(),
    );
    assert!(handshake_fails(foreign), "an unknown client is refused");
    wait_for_series(
        server.http,
        "keyward_connection_failures_total{cause=\"unknown_client\"}",
        1.0,
    );

    // Bad HTTP: an answer and a close, never a hang.
    let (code, _) = http_raw(server.http, b"HELLO THERE\r\n\r\n");
    assert_eq!(code, 400);
    let (code, _) = http_raw(server.http, b"\x16\x03\x01\x00\xa5\x01");
    assert_eq!(code, 400);
    let mut huge = b"GET /metrics HTTP/1.1\r\nX-Padding: ".to_vec();
    huge.resize(8 * 1024, b'a');
    let (code, _) = http_raw(server.http, &huge);
    assert_eq!(code, 431);
    let (code, _) = http_raw(server.http, b"POST /metrics HTTP/1.1\r\n\r\n");
    assert_eq!(code, 405);
    let (code, _) = get(server.http, "/nothing-here");
    assert_eq!(code, 404);
    // A request head that never ends is timed out.
    let (code, _) = http_raw(server.http, b"GET /healthz HTTP/1.1\r\n");
    assert_eq!(code, 408);

    let running = status_json(&appliance.data_dir, &config);
    assert_eq!(running["running"], true);
    assert_eq!(running["listen"], server.kmip.to_string());
    assert_eq!(running["root_provider"], "local");
    assert_eq!(running["root_state"], "unsealed");
    assert_eq!(running["clients"], 1);
    assert_eq!(running["live_keys"], 3);
    assert_eq!(running["last_backup_unix"], serde_json::Value::Null);
    assert_eq!(running["version"], env!("CARGO_PKG_VERSION"));
    assert!(running["uptime_secs"].as_u64().is_some());

    server.stop();
    let log_text = std::fs::read_to_string(&log).unwrap();
    assert!(
        log_text.contains("connection failure: no client certificate"),
        "the refusal is logged with its cause:\n{log_text}"
    );
    assert!(
        log_text.lines().all(|l| !l.starts_with('<')),
        "no journald prefixes outside systemd"
    );

    let offline = status_json(&appliance.data_dir, &config);
    assert_eq!(offline["running"], false);
    assert_eq!(offline["root_state"], serde_json::Value::Null);
    assert_eq!(offline["clients"], 1);
    assert_eq!(offline["live_keys"], 3);
    let screen = Command::new(keyward_bin())
        .args(["status", "--data-dir"])
        .arg(&appliance.data_dir)
        .output()
        .unwrap();
    assert!(screen.status.success());
    let screen = String::from_utf8(screen.stdout).unwrap();
    assert!(screen.contains("not running"), "{screen}");
    assert!(screen.contains("last backup:      never"), "{screen}");
}

#[test]
fn healthz_follows_the_key_protect_root_and_logs_for_journald() {
    let emu = Emulator::start();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let api_key = dir.path().join("kp.apikey");
    std::fs::write(&api_key, format!("{API_KEY}\n")).unwrap();
    std::fs::set_permissions(&api_key, std::fs::Permissions::from_mode(0o600)).unwrap();
    let config = dir.path().join("keyprotect.toml");
    std::fs::write(
        &config,
        format!(
            "[root]\nprovider = \"keyprotect\"\n\n[keyprotect]\ninstance_id = \"{INSTANCE_ID}\"\n\
             root_key_id = \"{ROOT_KEY_ID}\"\nendpoint = \"{}\"\niam_endpoint = \"{}\"\n\
             api_key_file = \"{}\"\nsync_interval = \"200ms\"\nrequest_timeout = \"1s\"\n\
             max_attempts = 3\nretry_backoff = \"20ms\"\nretry_backoff_max = \"100ms\"\n\n\
             [http]\nlisten = \"127.0.0.1:0\"\n\n[log]\nlevel = \"info\"\n",
            emu.base_url(),
            emu.iam_url(),
            api_key.display()
        ),
    )
    .unwrap();
    let init = Command::new(keyward_bin())
        .args(["init", "--root", "keyprotect", "--data-dir"])
        .arg(&data)
        .arg("--config")
        .arg(&config)
        .output()
        .unwrap();
    assert!(
        init.status.success(),
        "{}",
        String::from_utf8_lossy(&init.stderr)
    );
    let log = dir.path().join("serve.log");
    // Started as systemd would: the log lines carry priorities and no timestamps.
    let server = Served::start(&data, &config, &log, Some("0123456789abcdef"));

    let healthy = |server: &Served| get(server.http, "/healthz");
    let deadline = Instant::now() + WAIT;
    while Instant::now() < deadline {
        let (_, metrics) = get(server.http, "/metrics");
        if series(&metrics, "keyward_keyprotect_last_sync_timestamp_seconds") > 0.0 {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(healthy(&server).0, 200);

    emu.advance_clock(Duration::from_secs(3601));
    emu.disable().unwrap();
    let deadline = Instant::now() + WAIT;
    let body = loop {
        let (code, body) = healthy(&server);
        if code == 503 {
            break body;
        }
        assert!(Instant::now() < deadline, "/healthz never turned 503");
        std::thread::sleep(Duration::from_millis(50));
    };
    let reason: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(reason["status"], "sealed");
    assert!(
        reason["reason"].as_str().unwrap().contains("disabled"),
        "{body}"
    );
    let (_, metrics) = get(server.http, "/metrics");
    assert_eq!(
        series(&metrics, "keyward_root_key_sealed{provider=\"keyprotect\"}"),
        1.0
    );
    let status = status_json(&data, &config);
    assert_eq!(status["root_state"], "sealed");
    assert!(status["keyprotect_last_sync_unix"].as_u64().is_some());

    emu.advance_clock(Duration::from_secs(3601));
    emu.enable().unwrap();
    let deadline = Instant::now() + WAIT;
    while healthy(&server).0 != 200 {
        assert!(Instant::now() < deadline, "/healthz never came back to 200");
        std::thread::sleep(Duration::from_millis(50));
    }
    server.stop();

    let log_text = std::fs::read_to_string(&log).unwrap();
    assert!(
        log_text
            .lines()
            .any(|l| l.starts_with("<3>") && l.contains("appliance SEALED")),
        "the seal is an error-priority journal line:\n{log_text}"
    );
    assert!(
        log_text.lines().all(|l| l.starts_with('<')),
        "every line has a priority prefix under systemd:\n{log_text}"
    );
}

fn tls12_client(ca: &Path, identity: Option<&ClientCreds>) -> Arc<ClientConfig> {
    let mut roots = RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_file(ca).unwrap())
        .unwrap();
    let builder = ClientConfig::builder_with_provider(keyward::server::tls::provider())
        .with_protocol_versions(&[&rustls::version::TLS12])
        .unwrap()
        .with_root_certificates(roots);
    Arc::new(match identity {
        Some(creds) => builder
            .with_client_auth_cert(
                vec![CertificateDer::from_pem_file(&creds.cert).unwrap()],
                rustls::pki_types::PrivateKeyDer::from_pem_file(&creds.key).unwrap(),
            )
            .unwrap(),
        None => builder.with_no_client_auth(),
    })
}

/// Drives a TLS 1.2 handshake (the server decides before its Finished); true when it fails.
fn handshake_fails(mut stream: StreamOwned<ClientConnection, TcpStream>) -> bool {
    stream.sock.set_read_timeout(Some(WAIT)).unwrap();
    while stream.conn.is_handshaking() {
        if stream.conn.complete_io(&mut stream.sock).is_err() {
            return true;
        }
    }
    false
}

/// Polls `/metrics` until `name_and_labels` shows `value` (bounded by `WAIT`).
fn wait_for_series(http: SocketAddr, name_and_labels: &str, value: f64) {
    let deadline = Instant::now() + WAIT;
    loop {
        let (_, metrics) = get(http, "/metrics");
        if series(&metrics, name_and_labels) == value {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{name_and_labels} never reached {value}:\n{metrics}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}
