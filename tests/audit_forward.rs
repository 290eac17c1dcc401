//! Audit forwarding to a SIEM against a real TCP collector on loopback (issue 21, point 5):
//! the collector goes down while the server keeps answering KMIP, then comes back on the same
//! port; every record reaches it (at least once), and KMIP never waited for it.

mod common;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::in_process::{InProcess, serve_in_process};
use common::*;
use serde_json::Value as Json;

/// A JSON-lines collector: counts every sequence number it receives, until stopped. Going
/// down, it closes gracefully, as a collector restart does: it says so first (a FIN), then
/// reads what its socket holds and whatever the forwarder sent before it saw the FIN, and
/// closes only when the forwarder has closed or been quiet for a while (`read_until_quiet`).
fn collector(
    addr: SocketAddr,
    seen: Arc<Mutex<BTreeMap<u64, usize>>>,
    stop: Arc<AtomicBool>,
) -> std::thread::JoinHandle<()> {
    accept_until_stopped(addr, stop, move |stream, stop| {
        let mut closing = None;
        let mut reader = BufReader::new(stream);
        let mut line = String::new();
        loop {
            match reader.read_line(&mut line) {
                Ok(0) => break,
                Ok(_) if line.ends_with('\n') => {
                    let json: Json = serde_json::from_str(&line).expect("a JSON line");
                    let seq = json["record"]["seq"].as_u64().expect("seq");
                    *seen.lock().unwrap().entry(seq).or_default() += 1;
                    line.clear();
                }
                Ok(_) => {}
                Err(_) if stop.load(Ordering::SeqCst) => {
                    if !read_until_quiet(reader.get_ref(), &mut closing) {
                        break;
                    }
                }
                Err(_) => {}
            }
        }
    })
}

/// Called after a read timed out while the collector is stopping: the first time it half-closes
/// the connection (the forwarder sees the FIN after its next batch is acknowledged and keeps
/// that batch for the next connection); true while the connection should still be read, that
/// is for 300 ms after the FIN, time for anything the forwarder sent before it to arrive.
fn read_until_quiet(stream: &TcpStream, closing: &mut Option<Instant>) -> bool {
    let since = *closing.get_or_insert_with(|| {
        let _ = stream.shutdown(std::net::Shutdown::Write);
        Instant::now()
    });
    since.elapsed() < Duration::from_millis(300)
}

/// Listens on `addr` and, on a thread of its own, hands each connection (blocking, with a
/// 20 ms read timeout) to `serve`, until `stop` is set. Then it serves what is still waiting in
/// the listen backlog: the kernel has acknowledged the data of a connection there, so closing
/// the listener over it would lose records the forwarder counts as delivered.
fn accept_until_stopped(
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    mut serve: impl FnMut(TcpStream, &AtomicBool) + Send + 'static,
) -> std::thread::JoinHandle<()> {
    let listener = TcpListener::bind(addr).expect("collector bind");
    listener.set_nonblocking(true).unwrap();
    std::thread::spawn(move || {
        loop {
            let stopping = stop.load(Ordering::SeqCst);
            let Ok((stream, _)) = listener.accept() else {
                if stopping {
                    return;
                }
                std::thread::sleep(Duration::from_millis(5));
                continue;
            };
            stream.set_nonblocking(false).unwrap();
            stream
                .set_read_timeout(Some(Duration::from_millis(20)))
                .unwrap();
            serve(stream, &stop);
        }
    })
}

/// Waits (at most 20 s) until the collector has seen every record up to the last one in
/// `running`'s store; fails the test, naming the missing sequence numbers, if it never does.
/// Returns that last sequence number and how many records arrived more than once.
fn wait_until_all_forwarded(
    running: &InProcess,
    seen: &Mutex<BTreeMap<u64, usize>>,
    how: &str,
) -> (u64, usize) {
    let head = running
        .appliance
        .store
        .read()
        .unwrap()
        .audit_last()
        .unwrap()
        .expect("records")
        .0;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let missing: Vec<u64> = {
            let seen = seen.lock().unwrap();
            (1..=head).filter(|s| !seen.contains_key(s)).collect()
        };
        if missing.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "records never forwarded {how}: {missing:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let duplicates = seen.lock().unwrap().values().map(|n| n - 1).sum();
    (head, duplicates)
}

#[test]
fn a_collector_that_goes_down_delays_records_but_loses_none_and_never_blocks_kmip() {
    let files = Appliance::new(&["vc"]);
    let collector_addr = free_loopback_addr();
    let config = keyward::config::Config {
        data_dir: files.data_dir.clone(),
        audit: keyward::audit::settings::AuditSettings {
            forward_address: Some(collector_addr.to_string()),
            forward_format: keyward::audit::forward::ForwardFormat::Jsonl,
            ..Default::default()
        },
        ..Default::default()
    };
    let running = serve_in_process(config);

    let seen = Arc::new(Mutex::new(BTreeMap::new()));
    let mut tls = Tls::connect(running.addr, files.creds("vc")).unwrap();
    let work = |tls: &mut Tls, rounds: usize| {
        let started = Instant::now();
        for _ in 0..rounds {
            let create = tls.call(V1_1, op::CREATE, create_aes_payload(256, 12, vec![]));
            assert_eq!(result_status(&create), status::SUCCESS);
            let dv = tls.call(V1_1, op::DISCOVER_VERSIONS, vec![]);
            assert_eq!(result_status(&dv), status::SUCCESS);
        }
        started.elapsed()
    };
    // Up.
    let stop = Arc::new(AtomicBool::new(false));
    let up = collector(collector_addr, seen.clone(), stop.clone());
    let with_collector = work(&mut tls, 30);
    // Down: KMIP goes on.
    stop.store(true, Ordering::SeqCst);
    up.join().unwrap();
    let without_collector = work(&mut tls, 30);
    std::thread::sleep(Duration::from_millis(300)); // the forwarder meets the closed port
    // Back on the same port.
    let stop = Arc::new(AtomicBool::new(false));
    let back = collector(collector_addr, seen.clone(), stop.clone());
    work(&mut tls, 10);
    let (head, duplicates) =
        wait_until_all_forwarded(&running, &seen, "after the collector came back");
    eprintln!(
        "audit forwarding: {head} records forwarded, {duplicates} duplicate(s) (at least once); \
         60 KMIP requests took {:.1} ms with the collector up, {:.1} ms with it down",
        with_collector.as_secs_f64() * 1e3,
        without_collector.as_secs_f64() * 1e3
    );
    stop.store(true, Ordering::SeqCst);
    back.join().unwrap();
    drop(tls);
    let _appliance = running.stop();
    // The cursor says how far forwarding got.
    let cursor = std::fs::read_to_string(files.data_dir.join("audit-forward.cursor")).unwrap();
    assert!(cursor.trim().parse::<u64>().unwrap() >= head);
}

// ---------------------------------------------------------------------------------------------
// Syslog over TLS (RFC 5425): a real rustls collector on loopback that verifies the forwarder's
// client certificate, and is verified against the configured CA.
// ---------------------------------------------------------------------------------------------

struct Pki {
    dir: tempfile::TempDir,
    ca: rcgen::Issuer<'static, rcgen::KeyPair>,
    ca_pem: String,
}

impl Pki {
    fn new(name: &str) -> Pki {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, name);
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let ca_pem = params.self_signed(&key).unwrap().pem();
        Pki {
            dir: tempfile::tempdir().unwrap(),
            ca: rcgen::Issuer::new(params, key),
            ca_pem,
        }
    }

    /// Writes `<name>.crt` and `<name>.key` for a certificate with these SANs; returns the paths.
    fn issue(&self, name: &str, sans: &[&str]) -> (std::path::PathBuf, std::path::PathBuf) {
        let key = rcgen::KeyPair::generate().unwrap();
        let sans: Vec<String> = sans.iter().map(|s| s.to_string()).collect();
        let mut params = rcgen::CertificateParams::new(sans).unwrap();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, name);
        let cert = params.signed_by(&key, &self.ca).unwrap();
        let crt = self.dir.path().join(format!("{name}.crt"));
        let pem_key = self.dir.path().join(format!("{name}.key"));
        std::fs::write(&crt, cert.pem()).unwrap();
        std::fs::write(&pem_key, key.serialize_pem()).unwrap();
        (crt, pem_key)
    }

    fn ca_file(&self) -> std::path::PathBuf {
        let path = self.dir.path().join("ca.crt");
        std::fs::write(&path, &self.ca_pem).unwrap();
        path
    }
}

/// The collector's TLS settings: its certificate, and client certificates from `clients_ca`.
fn collector_tls(pki: &Pki, clients_ca: &Pki) -> Arc<rustls::ServerConfig> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let (crt, key) = pki.issue("collector", &["127.0.0.1"]);
    let chain = CertificateDer::pem_file_iter(&crt)
        .unwrap()
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    let key = PrivateKeyDer::from_pem_file(&key).unwrap();
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(clients_ca.ca_file()).unwrap() {
        roots.add(cert.unwrap()).unwrap();
    }
    let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
        Arc::new(roots),
        provider.clone(),
    )
    .build()
    .unwrap();
    Arc::new(
        rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_client_cert_verifier(verifier)
            .with_single_cert(chain, key)
            .unwrap(),
    )
}

/// The `seq` of each octet-counted RFC 5424 message (RFC 5425 framing) at the front of `buf`,
/// which keeps an incomplete last frame.
fn take_frames(buf: &mut Vec<u8>, seen: &Mutex<BTreeMap<u64, usize>>) {
    loop {
        let Some(space) = buf.iter().position(|&b| b == b' ') else {
            return;
        };
        let len: usize = std::str::from_utf8(&buf[..space])
            .unwrap()
            .parse()
            .expect("an RFC 5425 MSG-LEN");
        if buf.len() < space + 1 + len {
            return;
        }
        let message = String::from_utf8(buf[space + 1..space + 1 + len].to_vec()).unwrap();
        assert!(message.starts_with("<8"), "an RFC 5424 PRI: {message}");
        let seq: u64 = message
            .split("seq=\"")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .and_then(|n| n.parse().ok())
            .expect("a seq in the structured data");
        *seen.lock().unwrap().entry(seq).or_default() += 1;
        buf.drain(..space + 1 + len);
    }
}

/// A syslog-over-TLS collector, until stopped; counts handshakes that failed.
fn tls_collector(
    addr: SocketAddr,
    config: Arc<rustls::ServerConfig>,
    seen: Arc<Mutex<BTreeMap<u64, usize>>>,
    refused: Arc<std::sync::atomic::AtomicUsize>,
    stop: Arc<AtomicBool>,
) -> std::thread::JoinHandle<()> {
    use std::io::Read;
    accept_until_stopped(addr, stop, move |stream, stop| {
        let conn = rustls::ServerConnection::new(config.clone()).unwrap();
        let mut tls = rustls::StreamOwned::new(conn, stream);
        let mut closing = None;
        let mut buf = Vec::new();
        let mut chunk = [0u8; 16 * 1024];
        loop {
            match tls.read(&mut chunk) {
                Ok(0) => break,
                Ok(n) => {
                    buf.extend_from_slice(&chunk[..n]);
                    take_frames(&mut buf, &seen);
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) =>
                {
                    if stop.load(Ordering::SeqCst) {
                        if closing.is_none() && !tls.conn.is_handshaking() {
                            tls.conn.send_close_notify();
                            let _ = tls.conn.write_tls(&mut tls.sock);
                        }
                        if !read_until_quiet(&tls.sock, &mut closing) {
                            break;
                        }
                    }
                }
                Err(_) => {
                    if tls.conn.is_handshaking() {
                        refused.fetch_add(1, Ordering::SeqCst);
                    }
                    break;
                }
            }
        }
    })
}

fn tls_forwarding_config(
    files: &Appliance,
    collector: SocketAddr,
    ca: &Pki,
    client: (std::path::PathBuf, std::path::PathBuf),
) -> keyward::config::Config {
    keyward::config::Config {
        data_dir: files.data_dir.clone(),
        audit: keyward::audit::settings::AuditSettings {
            forward_address: Some(collector.to_string()),
            forward_format: keyward::audit::forward::ForwardFormat::Syslog,
            forward_ca_file: Some(ca.ca_file()),
            forward_cert_file: Some(client.0),
            forward_key_file: Some(client.1),
            ..Default::default()
        },
        ..Default::default()
    }
}

fn creates(tls: &mut Tls, rounds: usize) {
    for _ in 0..rounds {
        let create = tls.call(V1_1, op::CREATE, create_aes_payload(256, 12, vec![]));
        assert_eq!(result_status(&create), status::SUCCESS);
    }
}

#[test]
fn syslog_over_tls_survives_a_collector_restart_and_presents_the_client_certificate() {
    let files = Appliance::new(&["vc"]);
    let collector_addr = free_loopback_addr();
    let pki = Pki::new("SIEM CA");
    let client = pki.issue("keyward-forwarder", &["keyward.example"]);
    let running = serve_in_process(tls_forwarding_config(&files, collector_addr, &pki, client));
    let config = collector_tls(&pki, &pki);
    let seen = Arc::new(Mutex::new(BTreeMap::new()));
    let refused = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut tls = Tls::connect(running.addr, files.creds("vc")).unwrap();

    let stop = Arc::new(AtomicBool::new(false));
    let up = tls_collector(
        collector_addr,
        config.clone(),
        seen.clone(),
        refused.clone(),
        stop.clone(),
    );
    creates(&mut tls, 20);
    stop.store(true, Ordering::SeqCst);
    up.join().unwrap();
    // Down: KMIP is answered all the same.
    creates(&mut tls, 20);
    std::thread::sleep(Duration::from_millis(300));
    let stop = Arc::new(AtomicBool::new(false));
    let back = tls_collector(
        collector_addr,
        config,
        seen.clone(),
        refused.clone(),
        stop.clone(),
    );
    creates(&mut tls, 5);
    let (head, duplicates) = wait_until_all_forwarded(&running, &seen, "over TLS");
    eprintln!(
        "audit forwarding over TLS: {head} records, {duplicates} duplicate(s), {} refused handshake(s)",
        refused.load(Ordering::SeqCst)
    );
    assert_eq!(refused.load(Ordering::SeqCst), 0);
    stop.store(true, Ordering::SeqCst);
    back.join().unwrap();
    drop(tls);
    let _appliance = running.stop();
    let cursor = std::fs::read_to_string(files.data_dir.join("audit-forward.cursor")).unwrap();
    assert!(cursor.trim().parse::<u64>().unwrap() >= head);
}

#[test]
fn a_collector_the_ca_does_not_vouch_for_gets_nothing() {
    let files = Appliance::new(&["vc"]);
    let collector_addr = free_loopback_addr();
    let trusted = Pki::new("SIEM CA");
    let impostor = Pki::new("someone else's CA");
    let client = trusted.issue("keyward-forwarder", &["keyward.example"]);
    let running = serve_in_process(tls_forwarding_config(
        &files,
        collector_addr,
        &trusted,
        client,
    ));
    // The collector's certificate comes from a CA the forwarder was not told to trust; it
    // would accept the forwarder's client certificate.
    let config = collector_tls(&impostor, &trusted);
    let seen = Arc::new(Mutex::new(BTreeMap::new()));
    let refused = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let listening = tls_collector(
        collector_addr,
        config,
        seen.clone(),
        refused.clone(),
        stop.clone(),
    );
    let mut tls = Tls::connect(running.addr, files.creds("vc")).unwrap();
    creates(&mut tls, 5);
    let deadline = Instant::now() + Duration::from_secs(10);
    while refused.load(Ordering::SeqCst) == 0 {
        assert!(
            Instant::now() < deadline,
            "the forwarder never tried the collector"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(200));
    assert!(
        seen.lock().unwrap().is_empty(),
        "records went to an unverified collector"
    );
    stop.store(true, Ordering::SeqCst);
    listening.join().unwrap();
    drop(tls);
    let _appliance = running.stop();
    assert!(!files.data_dir.join("audit-forward.cursor").exists());
}
