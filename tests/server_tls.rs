//! The listener over real TLS on 127.0.0.1: who gets in, who is refused, and that a refused
//! or misbehaving peer never stops the server from serving the next one.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use keyward::config::{Config, ServerKeyType};
use keyward::pki;
use keyward::server::setup::Appliance;
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

fn good_client_is_served(server: &Running, client: &pki::IssuedClient) {
    let config = client_config(&client.ca_cert, Some((&client.cert, &client.key)), true);
    let mut stream = handshake(server.addr, config).expect("a trusted client is let in");
    stream.conn.send_close_notify();
    let _ = stream.conn.complete_io(&mut stream.sock);
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
