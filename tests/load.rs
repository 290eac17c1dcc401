//! A small load run: durable Creates per second with 1 and with 32 client connections.
//! Ignored by default (it measures, it does not judge); run it with
//! `cargo test --release --test load -- --ignored --nocapture`.
//! Figures are printed as rates and as a ratio; the only assertions are about correctness
//! (every Create succeeded, no UID handed out twice), never about time.

mod common;

use std::time::Instant;

use common::*;

const TOTAL_CREATES: usize = 640;

fn run(server: &Server, creds: &ClientCreds, connections: usize) -> (f64, Vec<String>) {
    let per_connection = TOTAL_CREATES / connections;
    let started = Instant::now();
    let uids: Vec<String> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..connections)
            .map(|_| {
                s.spawn(move || {
                    let mut tls = server.connect(creds);
                    (0..per_connection)
                        .map(|_| create_aes(&mut tls, 256, vec![]))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().expect("worker"))
            .collect()
    });
    let rate = uids.len() as f64 / started.elapsed().as_secs_f64();
    (rate, uids)
}

#[test]
#[ignore = "measurement, not a check; run explicitly"]
fn creates_per_second_with_1_and_32_connections() {
    let mut appliance = Appliance::new(&["load"]);
    // Trace logging would dominate the measurement.
    appliance.set_log_filter("warn");
    let server = appliance.start();
    let creds = appliance.creds("load").clone();

    let (single, mut all) = run(&server, &creds, 1);
    let (many, uids) = run(&server, &creds, 32);
    all.extend(uids);
    let total = all.len();
    all.sort_unstable();
    all.dedup();
    assert_eq!(all.len(), total, "a UID was handed out twice");

    println!("Creates/s with 1 connection:   {single:.0}");
    println!("Creates/s with 32 connections: {many:.0}");
    println!("ratio 32:1 = {:.1}", many / single);
}
