//! Audit forwarding to a SIEM against a real TCP collector on loopback (issue 21, point 5):
//! the collector goes down while the server keeps answering KMIP, then comes back on the same
//! port; every record reaches it (at least once), and KMIP never waited for it.

mod common;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpListener};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use serde_json::Value as Json;

/// A JSON-lines collector: counts every sequence number it receives, until stopped. Going
/// down, it reads what its socket already holds, then closes (a collector restart).
fn collector(
    addr: SocketAddr,
    seen: Arc<Mutex<BTreeMap<u64, usize>>>,
    stop: Arc<AtomicBool>,
) -> std::thread::JoinHandle<()> {
    let listener = TcpListener::bind(addr).expect("collector bind");
    listener.set_nonblocking(true).unwrap();
    std::thread::spawn(move || {
        while !stop.load(Ordering::SeqCst) {
            let Ok((stream, _)) = listener.accept() else {
                std::thread::sleep(Duration::from_millis(5));
                continue;
            };
            stream.set_nonblocking(false).unwrap();
            stream
                .set_read_timeout(Some(Duration::from_millis(20)))
                .unwrap();
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
                    Err(_) if stop.load(Ordering::SeqCst) => break,
                    Err(_) => {}
                }
            }
        }
    })
}

fn free_port() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

#[test]
fn a_collector_that_goes_down_delays_records_but_loses_none_and_never_blocks_kmip() {
    let files = Appliance::new(&["vc"]);
    let collector_addr = free_port();
    let config = keyward::config::Config {
        data_dir: files.data_dir.clone(),
        audit: keyward::audit::settings::AuditSettings {
            forward_address: Some(collector_addr.to_string()),
            forward_format: keyward::audit::forward::ForwardFormat::Jsonl,
            ..Default::default()
        },
        ..Default::default()
    };
    let appliance = keyward::server::setup::Appliance::open(config.clone()).unwrap();
    let services = appliance.services().unwrap();
    let mut options = keyward::server::ServerOptions::from_settings(&config.server);
    options.listen = "127.0.0.1:0".parse().unwrap();
    let server = keyward::server::Server::bind(options, services).unwrap();
    let addr = server.local_addr();
    let shutdown = server.shutdown_handle();
    let thread = std::thread::spawn(move || server.run());

    let seen = Arc::new(Mutex::new(BTreeMap::new()));
    let mut tls = Tls::connect(addr, files.creds("vc")).unwrap();
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
    let head = appliance
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
            "records never forwarded after the collector came back: {missing:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let duplicates: usize = seen.lock().unwrap().values().map(|n| n - 1).sum();
    eprintln!(
        "audit forwarding: {head} records forwarded, {duplicates} duplicate(s) (at least once); \
         60 KMIP requests took {:.1} ms with the collector up, {:.1} ms with it down",
        with_collector.as_secs_f64() * 1e3,
        without_collector.as_secs_f64() * 1e3
    );
    stop.store(true, Ordering::SeqCst);
    back.join().unwrap();
    drop(tls);
    shutdown.shutdown();
    thread.join().unwrap().unwrap();
    // The cursor says how far forwarding got.
    let cursor = std::fs::read_to_string(files.data_dir.join("audit-forward.cursor")).unwrap();
    assert!(cursor.trim().parse::<u64>().unwrap() >= head);
}
