//! Measurement, not assertion (`#[ignore]`; run with `--ignored --nocapture`): a well-behaved
//! client's Get latency (p50/p99) against a real server, alone and while two other clients
//! create RSA-4096 key pairs in a loop. The server draws RSA pairs on its key generator thread
//! (src/server/keygen.rs), outside the group commit that Get shares (Get is an audited write),
//! so the loaded figures should stay near the unloaded ones.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::{Appliance, V1_1, op, status};
use keyward::kmip::tag;
use keyward::ttlv::{Item, Value};

const CREATE_KEY_PAIR: u32 = 0x02;
/// Gets measured alone, and while the generators run (each may wait a generation out).
const GETS_ALONE: usize = 300;
const GETS_LOADED: usize = 30;

fn created_uid(item: &Item) -> String {
    let payload = item.child(tag::RESPONSE_PAYLOAD).expect("payload");
    match &payload.child(tag::UNIQUE_IDENTIFIER).expect("uid").value {
        Value::TextString(u) => u.clone(),
        other => panic!("uid {other:?}"),
    }
}

/// Result Status of a response batch item.
fn status_of(item: &Item) -> u32 {
    match item.child(tag::RESULT_STATUS).map(|s| &s.value) {
        Some(Value::Enumeration(s)) => *s,
        _ => u32::MAX,
    }
}

fn percentiles(mut ms: Vec<f64>) -> (f64, f64, f64) {
    ms.sort_by(f64::total_cmp);
    let at = |p: f64| ms[((ms.len() as f64 - 1.0) * p) as usize];
    (at(0.5), at(0.99), at(1.0))
}

#[test]
#[ignore]
fn get_latency_with_and_without_rsa_4096_generation() {
    let mut appliance = Appliance::new(&["reader", "gen-a", "gen-b"]);
    appliance.set_log_filter("warn");
    let server = appliance.start();
    let mut reader = server.connect(appliance.creds("reader"));
    let create = reader.call(
        V1_1,
        op::CREATE,
        common::create_aes_payload(256, 12, vec![]),
    );
    let uid = created_uid(&create);
    let mut measure = |label: &str, gets: usize| {
        let mut ms = Vec::with_capacity(gets);
        for _ in 0..gets {
            let start = Instant::now();
            let got = reader.call(V1_1, op::GET, vec![common::uid(&uid)]);
            ms.push(start.elapsed().as_secs_f64() * 1000.0);
            assert_eq!(status_of(&got), status::SUCCESS);
        }
        let (p50, p99, max) = percentiles(ms);
        println!("Get {label}: p50 {p50:.2} ms, p99 {p99:.2} ms, max {max:.2} ms ({gets} Gets)");
    };
    measure("alone", GETS_ALONE);

    let stop = Arc::new(AtomicBool::new(false));
    let generated = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let generators: Vec<_> = ["gen-a", "gen-b"]
        .iter()
        .map(|name| {
            let mut tls = server.connect(appliance.creds(name));
            let (stop, generated) = (stop.clone(), generated.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let attrs = |n: &str, v: Value| {
                        Item::structure(
                            tag::ATTRIBUTE,
                            vec![
                                Item::new(tag::ATTRIBUTE_NAME, Value::TextString(n.into())),
                                Item::new(tag::ATTRIBUTE_VALUE, v),
                            ],
                        )
                    };
                    let payload = vec![Item::structure(
                        tag::COMMON_TEMPLATE_ATTRIBUTE,
                        vec![
                            attrs("Cryptographic Algorithm", Value::Enumeration(4)),
                            attrs("Cryptographic Length", Value::Integer(4096)),
                        ],
                    )];
                    let r = tls.call(V1_1, CREATE_KEY_PAIR, payload);
                    assert_eq!(status_of(&r), status::SUCCESS, "{r:?}");
                    generated.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(500));
    let started = Instant::now();
    measure("while 2 clients create RSA-4096 pairs", GETS_LOADED);
    let elapsed = started.elapsed();
    stop.store(true, Ordering::Relaxed);
    for g in generators {
        g.join().expect("generator thread");
    }
    println!(
        "{} RSA-4096 pairs created by the other clients (measurement window {:.1} s)",
        generated.load(Ordering::Relaxed),
        elapsed.as_secs_f64()
    );
}
