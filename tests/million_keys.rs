//! Issue 9's scale figures: a store of one million keys. It measures and prints; it asserts
//! correctness only (every Locate finds its one key), never a time.
//!
//! ```text
//! cargo test --release --test million_keys -- --ignored --nocapture
//! KEYWARD_MILLION_KEYS=200000 cargo test --release --test million_keys -- --ignored --nocapture
//! ```
//!
//! 1. Fills the store in-process through the engine (1,000 Creates per transaction, each with
//!    a Name and an `x-Identifier`), so that filling takes minutes, not the hours one KMIP round
//!    trip per key would.
//! 2. Times Locate by name and by `x-Identifier` in the engine itself, on a read view: the cost
//!    of the index, without TLS or the durable audit commit.
//! 3. Starts the real server on that store and reports the time to its listening line, its
//!    resident set idle, the latency of Locates over TLS (each one commits its audit record
//!    with fsync before it is answered), and the resident set after them.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use keyward::engine::{ClientIdentity, Prepared};
use keyward::kmip::request::RequestItem;
use keyward::ttlv::{Item, Value};

const BATCH: usize = 1_000;
const LOCATES: usize = 1_000;

fn key_count() -> usize {
    std::env::var("KEYWARD_MILLION_KEYS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000)
}

fn name_of(i: usize) -> String {
    format!("bench-key-{i:07}")
}

fn identifier_of(i: usize) -> String {
    format!("vm-{i:07}-disk")
}

fn create_request(i: usize) -> Vec<u8> {
    let template = Item::structure(
        keyward::kmip::tag::TEMPLATE_ATTRIBUTE,
        vec![
            attribute("Cryptographic Algorithm", Value::Enumeration(3)),
            attribute("Cryptographic Length", Value::Integer(256)),
            attribute("Cryptographic Usage Mask", Value::Integer(12)),
            name_attribute(&name_of(i)),
            attribute("x-Identifier", Value::TextString(identifier_of(i))),
        ],
    );
    keyward::bench::messages::request(vec![RequestItem::raw(
        op::CREATE,
        vec![
            Item::new(keyward::kmip::tag::OBJECT_TYPE, Value::Enumeration(2)),
            template,
        ],
    )])
}

fn locate_request(attribute_item: Item) -> Vec<u8> {
    keyward::bench::messages::request(vec![RequestItem::raw(op::LOCATE, vec![attribute_item])])
}

/// The Locate filters measured: what each finds key `i` by.
type Filter = fn(usize) -> Item;
const LOOKUPS: [(&str, Filter); 2] = [
    ("Name", |i| name_attribute(&name_of(i))),
    ("x-Identifier", |i| {
        attribute("x-Identifier", Value::TextString(identifier_of(i)))
    }),
];

/// A cheap, reproducible spread of key numbers for the lookups.
fn probe(n: usize, k: usize) -> usize {
    (k.wrapping_mul(2_654_435_761) ^ 0x9e37) % n
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

fn summary(label: &str, mut samples: Vec<Duration>) {
    samples.sort();
    println!(
        "{label}: p50 {:.3} ms, p99 {:.3} ms, max {:.3} ms ({} lookups)",
        percentile(&samples, 0.50).as_secs_f64() * 1e3,
        percentile(&samples, 0.99).as_secs_f64() * 1e3,
        samples.last().copied().unwrap_or_default().as_secs_f64() * 1e3,
        samples.len()
    );
}

fn rss_mib(pid: u32) -> f64 {
    keyward::bench::resident_kib(pid).unwrap_or(0) as f64 / 1024.0
}

/// The UIDs in a Locate response.
fn located(response: &[u8]) -> usize {
    let item = decode_response(response);
    batch_items(&item)
        .first()
        .and_then(|bi| bi.child(keyward::kmip::tag::RESPONSE_PAYLOAD))
        .map(|payload| uids_of(payload).len())
        .unwrap_or(0)
}

#[test]
#[ignore = "a measurement of minutes; run it in release with --ignored --nocapture"]
fn a_million_keys_start_fast_stay_small_and_locate_through_an_index() {
    let n = key_count();
    let mut appliance = Appliance::new(&["bench"]);
    appliance.set_log_filter("info");
    let client = ClientIdentity {
        owner: "cn:bench".into(),
        fingerprint: [0; 32],
    };

    // 1. Fill.
    let config = keyward::config::Config {
        data_dir: appliance.data_dir.clone(),
        ..Default::default()
    };
    let filling = Instant::now();
    {
        let app = keyward::appliance::setup::Appliance::open(config).expect("open the appliance");
        let engine = Arc::clone(&app.engine);
        for first in (0..n).step_by(BATCH) {
            let mut txn = app.store.write().expect("write transaction");
            for i in first..(first + BATCH).min(n) {
                let Prepared::Write(request) = engine.prepare(&client, &create_request(i)) else {
                    panic!("Create was not prepared as a write");
                };
                engine
                    .execute_write(&request, txn.as_mut())
                    .expect("Create");
            }
            txn.commit().expect("commit");
        }

        // 2. Locate in the engine, on a read view.
        for (by, make) in LOOKUPS {
            let label = format!("engine Locate by {by}");
            let mut samples = Vec::with_capacity(LOCATES);
            for k in 0..LOCATES {
                let Prepared::Read(request) =
                    engine.prepare(&client, &locate_request(make(probe(n, k))))
                else {
                    panic!("Locate was not prepared as a read");
                };
                let started = Instant::now();
                let view = app.store.read().expect("read view");
                let response = engine.execute_read(&request, view.as_ref());
                samples.push(started.elapsed());
                assert_eq!(
                    located(&response),
                    1,
                    "{label} did not find exactly one key"
                );
            }
            summary(&label, samples);
        }
    }
    let file = appliance.data_dir.join("keyward.redb");
    let (size, allocated) = std::fs::metadata(&file)
        .map(|m| (m.len(), std::os::unix::fs::MetadataExt::blocks(&m) * 512))
        .unwrap_or_default();
    println!(
        "filled {n} keys in {:.1} s; store file {:.0} MiB ({:.0} MiB allocated)",
        filling.elapsed().as_secs_f64(),
        size as f64 / (1 << 20) as f64,
        allocated as f64 / (1 << 20) as f64
    );

    // 3. The real server on that store.
    let starting = Instant::now();
    let server = appliance.start();
    let started = starting.elapsed();
    let pid = server.pid().expect("server pid");
    std::thread::sleep(Duration::from_millis(500));
    println!(
        "start-up to the listening line: {:.0} ms; idle RSS {:.1} MiB",
        started.as_secs_f64() * 1e3,
        rss_mib(pid)
    );
    let mut tls = server.connect(appliance.creds("bench"));
    for (by, make) in LOOKUPS {
        let label = format!("KMIP Locate by {by} (TLS, audited)");
        let mut samples = Vec::with_capacity(LOCATES);
        for k in 0..LOCATES {
            let started = Instant::now();
            let reply = tls.call(V1_1, op::LOCATE, vec![make(probe(n, k))]);
            samples.push(started.elapsed());
            assert_eq!(
                uids_of(&success_payload(&reply)).len(),
                1,
                "{label} did not find exactly one key"
            );
        }
        summary(&label, samples);
    }
    println!("RSS after the lookups: {:.1} MiB", rss_mib(pid));
}
