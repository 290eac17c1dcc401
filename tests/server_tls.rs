//! The listener over real TLS on 127.0.0.1: who gets in, who is refused, and that a refused
//! or misbehaving peer never stops the server from serving the next one.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use keyward::appliance::setup::Appliance;
use keyward::config::{Config, ServerKeyType};
use keyward::pki;
use keyward::server::{Server, ServerError, ServerOptions, ShutdownHandle};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};

const TIMEOUT: Duration = Duration::from_secs(20);

struct Running {
    addr: SocketAddr,
    handle: ShutdownHandle,
    thread: Option<JoinHandle<Result<(), ServerError>>>,
    data_dir: PathBuf,
}

impl Running {
    fn stop(mut self) -> Result<(), ServerError> {
        self.handle.shutdown();
        self.thread.take().unwrap().join().unwrap()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(thread) = self.thread.take() {
            self.handle.shutdown();
            let _ = thread.join();
        }
    }
}

fn start(data_dir: &Path, pinned: &[[u8; 32]], tweak: impl FnOnce(&mut ServerOptions)) -> Running {
    let _ = env_logger::builder().is_test(true).try_init();
    let mut config = Config {
        data_dir: data_dir.to_path_buf(),
        ..Config::default()
    };
    config.tls.server_key_type = ServerKeyType::EcdsaP256;
    config.tls.pinned_client_fingerprints = pinned.iter().map(pki::fingerprint_hex).collect();
    config.server.listen = "127.0.0.1:0".parse().unwrap();
    let appliance = Appliance::open(config).unwrap();
    let mut options = ServerOptions::from_settings(&appliance.config.server);
    tweak(&mut options);
    let server = Server::bind(options, appliance.services().unwrap()).unwrap();
    let addr = server.local_addr();
    let handle = server.shutdown_handle();
    let thread = std::thread::spawn(move || server.run());
    Running {
        addr,
        handle,
        thread: Some(thread),
        data_dir: data_dir.to_path_buf(),
    }
}

fn client_config(
    ca: &Path,
    identity: Option<(&Path, &Path)>,
    tls12_only: bool,
) -> Arc<ClientConfig> {
    let mut roots = RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_file(ca).unwrap())
        .unwrap();
    let versions: &[&rustls::SupportedProtocolVersion] = if tls12_only {
        &[&rustls::version::TLS12]
    } else {
        &[&rustls::version::TLS13, &rustls::version::TLS12]
    };
    let builder = ClientConfig::builder_with_provider(keyward::server::tls::provider())
        .with_protocol_versions(versions)
        .unwrap()
        .with_root_certificates(roots);
    Arc::new(match identity {
        Some((cert, key)) => builder
            .with_client_auth_cert(
                vec![CertificateDer::from_pem_file(cert).unwrap()],
                PrivateKeyDer::from_pem_file(key).unwrap(),
            )
            .unwrap(),
        None => builder.with_no_client_auth(),
    })
}

/// Runs a handshake to completion. Under TLS 1.2 the server sends its Finished only after
/// accepting the client certificate, so success here means the server let the client in.
fn handshake(
    addr: SocketAddr,
    config: Arc<ClientConfig>,
) -> Result<StreamOwned<ClientConnection, TcpStream>, String> {
    let sock = TcpStream::connect_timeout(&addr, TIMEOUT).map_err(|e| e.to_string())?;
    sock.set_read_timeout(Some(TIMEOUT)).unwrap();
    sock.set_write_timeout(Some(TIMEOUT)).unwrap();
    let conn = ClientConnection::new(config, ServerName::try_from("localhost").unwrap()).unwrap();
    let mut stream = StreamOwned::new(conn, sock);
    while stream.conn.is_handshaking() {
        stream
            .conn
            .complete_io(&mut stream.sock)
            .map_err(|e| e.to_string())?;
    }
    Ok(stream)
}

fn issue(data_dir: &Path, name: &str, out: &Path) -> pki::IssuedClient {
    pki::issue_client(data_dir, name, out).unwrap()
}

/// Under TLS 1.2 and 1.3 alike; the server picks AES-128-GCM although rustls' client lists
/// AES-256-GCM-SHA384 first (the server's order decides: `src/server/tls_provider.rs`).
fn good_client_is_served(server: &Running, client: &pki::IssuedClient) {
    for tls12_only in [true, false] {
        let config = client_config(
            &client.ca_cert,
            Some((&client.cert, &client.key)),
            tls12_only,
        );
        let mut stream = handshake(server.addr, config).expect("a trusted client is let in");
        let suite = format!(
            "{:?}",
            stream.conn.negotiated_cipher_suite().unwrap().suite()
        );
        assert!(suite.ends_with("AES_128_GCM_SHA256"), "negotiated {suite}");
        assert_eq!(
            suite.starts_with("TLS13_"),
            !tls12_only,
            "negotiated {suite}"
        );
        stream.conn.send_close_notify();
        let _ = stream.conn.complete_io(&mut stream.sock);
    }
}

#[test]
fn pki_first_run_issue_and_chain() {
    let dir = tempfile::tempdir().unwrap();
    let first = pki::ensure_appliance_pki(dir.path(), ServerKeyType::Rsa2048).unwrap();
    assert!(first.created);
    for secret in [pki::CA_KEY_FILE, pki::SERVER_KEY_FILE] {
        let mode = std::fs::metadata(dir.path().join(secret))
            .unwrap()
            .permissions();
        assert_eq!(
            std::os::unix::fs::PermissionsExt::mode(&mode) & 0o777,
            0o600,
            "{secret}"
        );
    }
    let again = pki::ensure_appliance_pki(dir.path(), ServerKeyType::Rsa2048).unwrap();
    assert!(!again.created);
    assert_eq!(again.server_fingerprint, first.server_fingerprint);

    let out = dir.path().join("vcenter");
    let issued = issue(dir.path(), "vcenter-01", &out);
    let key_mode = std::fs::metadata(&issued.key).unwrap().permissions();
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&key_mode) & 0o777,
        0o600
    );
    let der = CertificateDer::from_pem_file(&issued.cert).unwrap();
    assert_eq!(pki::common_name(&der).as_deref(), Some("vcenter-01"));
    assert_eq!(pki::fingerprint(&der), issued.fingerprint);
    let (_, parsed) = x509_parser::parse_x509_certificate(&der).unwrap();
    let eku = parsed.extended_key_usage().unwrap().unwrap().value;
    assert!(eku.client_auth && !eku.server_auth);
    assert_eq!(
        std::fs::read(&issued.ca_cert).unwrap(),
        std::fs::read(&first.ca_cert).unwrap()
    );

    // The issued certificate chains to the CA the client is told to trust.
    let mut roots = RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_file(&issued.ca_cert).unwrap())
        .unwrap();
    let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
        Arc::new(roots),
        keyward::server::tls::provider(),
    )
    .build()
    .unwrap();
    let now = rustls::pki_types::UnixTime::now();
    verifier
        .verify_client_cert(&der, &[], now)
        .expect("issued client certificate chains to ca.crt");
    let server_der = CertificateDer::from_pem_file(&first.server_cert).unwrap();
    let (_, server) = x509_parser::parse_x509_certificate(&server_der).unwrap();
    let server_eku = server.extended_key_usage().unwrap().unwrap().value;
    assert!(server_eku.server_auth && server_eku.client_auth);

    // A certificate from another appliance's CA does not chain.
    let other = tempfile::tempdir().unwrap();
    pki::ensure_appliance_pki(other.path(), ServerKeyType::EcdsaP256).unwrap();
    let stranger = issue(other.path(), "vcenter-01", &other.path().join("c"));
    let stranger_der = CertificateDer::from_pem_file(&stranger.cert).unwrap();
    assert!(
        verifier
            .verify_client_cert(&stranger_der, &[], now)
            .is_err()
    );
}

#[test]
fn foreign_ca_and_missing_certificate_are_refused_while_others_are_served() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), &[], |_| {});
    let good = issue(&server.data_dir, "good", &dir.path().join("good"));
    good_client_is_served(&server, &good);

    let other = tempfile::tempdir().unwrap();
    pki::ensure_appliance_pki(other.path(), ServerKeyType::EcdsaP256).unwrap();
    let stranger = issue(other.path(), "stranger", &other.path().join("c"));
    // Trusts our server, presents a certificate from a CA we don't trust.
    let config = client_config(&good.ca_cert, Some((&stranger.cert, &stranger.key)), true);
    assert!(
        handshake(server.addr, config).is_err(),
        "a certificate from another CA must be refused"
    );
    good_client_is_served(&server, &good);

    // TLS 1.3: the client finishes first and learns of the refusal on its first read.
    let config = client_config(&good.ca_cert, Some((&stranger.cert, &stranger.key)), false);
    if let Ok(mut stream) = handshake(server.addr, config) {
        let _ = stream.write_all(&[0u8; 8]);
        let mut buf = [0u8; 8];
        assert!(
            !matches!(stream.read(&mut buf), Ok(n) if n > 0),
            "refused client must not get data"
        );
    }

    let config = client_config(&good.ca_cert, None, true);
    assert!(
        handshake(server.addr, config).is_err(),
        "a client without a certificate must be refused"
    );
    good_client_is_served(&server, &good);
    server.stop().unwrap();
}

#[test]
fn tls_only_probe_and_silent_client_leave_the_server_serving() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), &[], |options| {
        options.handshake_timeout = Duration::from_secs(1)
    });
    let good = issue(&server.data_dir, "probe", &dir.path().join("probe"));

    // vCenter's certificate check: handshake, then close without a request.
    for tls12_only in [true, false] {
        let config = client_config(&good.ca_cert, Some((&good.cert, &good.key)), tls12_only);
        let stream = handshake(server.addr, config).unwrap();
        drop(stream);
    }
    // A TCP client that never speaks is closed once the handshake timeout passes.
    let mut silent = TcpStream::connect(server.addr).unwrap();
    silent.set_read_timeout(Some(TIMEOUT)).unwrap();
    let mut buf = [0u8; 1];
    assert!(
        matches!(silent.read(&mut buf), Ok(0) | Err(_)),
        "silent client must be disconnected"
    );
    // Garbage instead of a ClientHello.
    let mut garbage = TcpStream::connect(server.addr).unwrap();
    garbage.set_read_timeout(Some(TIMEOUT)).unwrap();
    garbage.write_all(b"GET / HTTP/1.0\r\n\r\n").unwrap();
    let mut sink = Vec::new();
    let _ = garbage.read_to_end(&mut sink);
    good_client_is_served(&server, &good);
    server.stop().unwrap();
}

#[test]
fn pinned_self_signed_client_certificate_is_accepted() {
    // A self-signed certificate marked as a CA: webpki refuses it as a leaf, pinning accepts it.
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(vec!["vcenter.example".to_string()]).unwrap();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "vcenter-self-signed");
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let cert = params.self_signed(&key).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cert_path = dir.path().join("self.crt");
    let key_path = dir.path().join("self.key");
    std::fs::write(&cert_path, cert.pem()).unwrap();
    std::fs::write(&key_path, key.serialize_pem()).unwrap();
    let pinned = pki::fingerprint(cert.der());

    let data = tempfile::tempdir().unwrap();
    let server = start(data.path(), &[pinned], |_| {});
    let ca = data.path().join(pki::CA_CERT_FILE);
    let config = client_config(&ca, Some((&cert_path, &key_path)), true);
    let mut stream = handshake(server.addr, config).expect("pinned certificate is accepted");
    stream.conn.send_close_notify();
    let _ = stream.conn.complete_io(&mut stream.sock);
    server.stop().unwrap();

    // Without the pin the same certificate is refused.
    let server = start(data.path(), &[], |_| {});
    let config = client_config(&ca, Some((&cert_path, &key_path)), true);
    assert!(handshake(server.addr, config).is_err());
    server.stop().unwrap();
}

#[test]
fn connections_beyond_the_cap_are_closed_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), &[], |options| options.max_connections = 1);
    let good = issue(&server.data_dir, "capped", &dir.path().join("c"));
    let config = client_config(&good.ca_cert, Some((&good.cert, &good.key)), true);
    let first = handshake(server.addr, config.clone()).unwrap();
    assert!(
        handshake(server.addr, config.clone()).is_err(),
        "second connection is over the cap"
    );
    drop(first);
    // The slot frees once the server sees the close; retry a bounded number of times.
    let mut served = false;
    for _ in 0..50 {
        if handshake(server.addr, config.clone()).is_ok() {
            served = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        served,
        "a connection is accepted again after the first one closed"
    );
    server.stop().unwrap();
}

#[test]
fn binary_first_run_serves_and_stops_cleanly_on_sigterm() {
    use std::io::BufRead;
    use std::process::{Command, Stdio};
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let bin = env!("CARGO_BIN_EXE_keyward");
    let init = Command::new(bin)
        .args(["init", "--data-dir"])
        .arg(&data)
        .output()
        .unwrap();
    assert!(init.status.success());
    let text = String::from_utf8(init.stdout).unwrap();
    assert!(
        text.contains("keyward client issue --name NAME --out DIR"),
        "{text}"
    );
    let mode = std::fs::metadata(&data).unwrap().permissions();
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&mode) & 0o777,
        0o700
    );
    let out = dir.path().join("client");
    let issued = Command::new(bin)
        .args(["client", "issue", "--name", "admin", "--out"])
        .arg(&out)
        .arg("--data-dir")
        .arg(&data)
        .output()
        .unwrap();
    assert!(issued.status.success());

    let mut child = Command::new(bin)
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(&data)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let addr: SocketAddr = loop {
        let line = lines.next().expect("server printed its address").unwrap();
        if let Some(addr) = line.strip_prefix("listening on ") {
            break addr.parse().unwrap();
        }
    };
    let config = client_config(
        &out.join("ca.crt"),
        Some((&out.join("client.crt"), &out.join("client.key"))),
        false,
    );
    let stream = handshake(addr, config).unwrap();
    drop(stream);
    // SAFETY: plain kill(2) on the child we spawned.
    assert_eq!(
        unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) },
        0
    );
    let status = child.wait().unwrap();
    assert_eq!(
        status.code(),
        Some(0),
        "SIGTERM ends the server with exit status 0"
    );
}

// ---- KMIP over the listener (needs the engine) ----

use common::one_item::{create_aes256, find, get, outcome};
use keyward::client::{self, KmipClient};
use keyward::kmip::tag;
use keyward::ttlv::Value;

/// Vendor-captured vCenter Discover Versions (vcenter-kmip.md A.1).
const DISCOVER_VERSIONS_A1: &str = "42007801000000604200770100000038420069010000002042006a0200000004\
    000000010000000042006b0200000004000000010000000042000d0200000004\
    000000010000000042000f010000001842005c05000000040000001e00000000\
    4200790100000000";

fn kmip_client(server: &Running, issued: &pki::IssuedClient) -> KmipClient {
    let tls = client::tls_config(&issued.ca_cert, &issued.cert, &issued.key).unwrap();
    KmipClient::connect(&format!("localhost:{}", server.addr.port()), tls, TIMEOUT).unwrap()
}

fn created_uid(response: &[u8]) -> String {
    let (status, item) = outcome(response);
    assert_eq!(status, 0, "create failed: {item:?}");
    match &find(&item, tag::UNIQUE_IDENTIFIER).unwrap().value {
        Value::TextString(uid) => uid.clone(),
        other => panic!("uid {other:?}"),
    }
}

fn material(response: &[u8]) -> Vec<u8> {
    let (status, item) = outcome(response);
    assert_eq!(status, 0, "get failed: {item:?}");
    match &find(&item, tag::KEY_MATERIAL).unwrap().value {
        Value::ByteString(bytes) => bytes.clone(),
        other => panic!("material {other:?}"),
    }
}

#[test]
fn discover_versions_pipelined_requests_answered_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), &[], |_| {});
    let issued = issue(&server.data_dir, "vcenter", &dir.path().join("c"));
    let mut kmip = kmip_client(&server, &issued);
    let dv: Vec<u8> = hex::decode(DISCOVER_VERSIONS_A1.replace(' ', "")).unwrap();
    let (status, _) = outcome(&kmip.roundtrip(&dv).unwrap());
    assert_eq!(status, 0);
    // Two requests in one write: a read-only one and a mutation, answered in order.
    let mut both = dv.clone();
    both.extend_from_slice(&create_aes256());
    kmip.send(&both).unwrap();
    let first = kmip.receive().unwrap();
    assert!(
        find(&outcome(&first).1, tag::PROTOCOL_VERSION).is_some(),
        "first answer is Discover Versions"
    );
    let uid = created_uid(&kmip.receive().unwrap());
    assert_eq!(material(&kmip.roundtrip(&get(&uid)).unwrap()).len(), 32);
    kmip.close();
    server.stop().unwrap();
}

#[test]
fn concurrent_creates_are_committed_and_survive_a_restart_and_stay_private() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let server = start(&data, &[], |_| {});
    let alice = issue(&data, "alice", &dir.path().join("alice"));
    let mallory = issue(&data, "mallory", &dir.path().join("mallory"));
    let tls = client::tls_config(&alice.ca_cert, &alice.cert, &alice.key).unwrap();
    let addr = format!("localhost:{}", server.addr.port());
    let workers: Vec<_> = (0..6)
        .map(|_| {
            let (tls, addr) = (tls.clone(), addr.clone());
            std::thread::spawn(move || {
                let mut kmip = KmipClient::connect(&addr, tls, TIMEOUT).unwrap();
                let mut keys = Vec::new();
                for _ in 0..5 {
                    let uid = created_uid(&kmip.roundtrip(&create_aes256()).unwrap());
                    let key = material(&kmip.roundtrip(&get(&uid)).unwrap());
                    keys.push((uid, key));
                }
                keys
            })
        })
        .collect();
    let keys: Vec<(String, Vec<u8>)> = workers
        .into_iter()
        .flat_map(|w| w.join().unwrap())
        .collect();
    assert_eq!(keys.len(), 30);
    let distinct: std::collections::HashSet<&String> = keys.iter().map(|(uid, _)| uid).collect();
    assert_eq!(distinct.len(), 30, "every Create gets its own UID");
    server.stop().unwrap();

    let server = start(&data, &[], |_| {});
    let mut kmip = kmip_client(&server, &alice);
    for (uid, key) in &keys {
        assert_eq!(
            &material(&kmip.roundtrip(&get(uid)).unwrap()),
            key,
            "{uid} after restart"
        );
    }
    let mut other = kmip_client(&server, &mallory);
    let (status, item) = outcome(&other.roundtrip(&get(&keys[0].0)).unwrap());
    assert_ne!(status, 0, "another client must not get alice's key");
    assert!(find(&item, tag::KEY_MATERIAL).is_none());
    server.stop().unwrap();
}

#[test]
fn oversized_or_foreign_headers_get_an_error_or_a_close_and_the_server_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), &[], |_| {});
    let issued = issue(&server.data_dir, "fuzzer", &dir.path().join("c"));
    let headers: [&[u8]; 3] = [
        &[0x42, 0x00, 0x78, 0x01, 0x7F, 0xFF, 0xFF, 0xF8], // 2 GiB declared
        &[0x42, 0x00, 0x7B, 0x01, 0x00, 0x00, 0x00, 0x08], // a response, not a request
        &[0x42, 0x00, 0x78, 0x02, 0x00, 0x00, 0x00, 0x04], // not a structure
    ];
    for header in headers {
        let mut kmip = kmip_client(&server, &issued);
        kmip.send(header).unwrap();
        // Either an error response or a close without an answer.
        if let Ok(response) = kmip.receive() {
            assert_ne!(outcome(&response).0, 0, "an error response");
        }
        // Nothing more is read from a connection that sent a bad header.
        let dv: Vec<u8> = hex::decode(DISCOVER_VERSIONS_A1.replace(' ', "")).unwrap();
        let _ = kmip.send(&dv);
        assert!(
            kmip.receive().is_err(),
            "the connection is closed after a bad header"
        );
    }
    let mut kmip = kmip_client(&server, &issued);
    let dv: Vec<u8> = hex::decode(DISCOVER_VERSIONS_A1.replace(' ', "")).unwrap();
    assert_eq!(outcome(&kmip.roundtrip(&dv).unwrap()).0, 0);
    server.stop().unwrap();
}

#[test]
fn cli_create_and_get_against_a_running_server() {
    use std::io::BufRead;
    use std::process::{Command, Stdio};
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let bin = env!("CARGO_BIN_EXE_keyward");
    assert!(
        Command::new(bin)
            .args(["init", "--data-dir"])
            .arg(&data)
            .output()
            .unwrap()
            .status
            .success()
    );
    let out = dir.path().join("c");
    pki::issue_client(&data, "cli", &out).unwrap();
    let mut child = Command::new(bin)
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(&data)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let addr: SocketAddr = loop {
        let line = lines.next().unwrap().unwrap();
        if let Some(addr) = line.strip_prefix("listening on ") {
            break addr.parse().unwrap();
        }
    };
    let kmip = |args: &[&str]| {
        let output = Command::new(bin)
            .args(["kmip", "--server", &format!("localhost:{}", addr.port())])
            .arg("--ca")
            .arg(out.join("ca.crt"))
            .arg("--cert")
            .arg(out.join("client.crt"))
            .arg("--key")
            .arg(out.join("client.key"))
            .args(args)
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).unwrap().trim().to_string()
    };
    let uid = kmip(&["create"]);
    assert!(!uid.is_empty());
    let key_hex = kmip(&["get", &uid]);
    assert_eq!(key_hex.len(), 64);
    assert!(key_hex.chars().all(|c| c.is_ascii_hexdigit()));
    // SAFETY: plain kill(2) on the child we spawned.
    assert_eq!(
        unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) },
        0
    );
    assert_eq!(child.wait().unwrap().code(), Some(0));
}

#[test]
fn idle_connection_is_closed_and_the_server_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), &[], |options| {
        options.idle_timeout = Duration::from_secs(1)
    });
    let good = issue(&server.data_dir, "idle", &dir.path().join("c"));
    let config = client_config(&good.ca_cert, Some((&good.cert, &good.key)), false);
    let mut stream = handshake(server.addr, config).unwrap();
    // Blocks (bounded by the read timeout) until the server gives up on the silent client.
    let mut buf = [0u8; 1];
    let read = stream.read(&mut buf);
    assert!(
        matches!(read, Ok(0)),
        "expected a clean close (close_notify), got {read:?}"
    );
    good_client_is_served(&server, &good);
    server.stop().unwrap();
}
