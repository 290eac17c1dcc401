//! What the audit log costs: durable Creates and Gets per second with the audit log on and
//! off (`[audit] enabled = false`, a switch that exists only for this measurement), same
//! machine, same session. Ignored by default (it measures, it does not judge); run it with
//! `cargo test --release --test audit_load -- --ignored --nocapture`.
//! The only assertions are about correctness (every operation succeeded).

mod common;

use std::time::Instant;

use common::*;

const CONNECTIONS: usize = 16;
const PER_CONNECTION: usize = 50;

/// (creates/s, gets/s) with `CONNECTIONS` clients each creating, then getting, its keys.
fn measure(audit: bool) -> (f64, f64) {
    let mut appliance = Appliance::new(&["vc"]);
    appliance.set_log_filter("warn");
    if !audit {
        appliance.set_config("[audit]\nenabled = false\n");
    }
    let mut server = appliance.start();
    let creds = appliance.creds("vc");
    let server_ref = &server;
    let mut connections: Vec<Tls> = (0..CONNECTIONS)
        .map(|_| server_ref.connect(creds))
        .collect();
    let started = Instant::now();
    let uids: Vec<Vec<String>> = std::thread::scope(|s| {
        let workers: Vec<_> = connections
            .iter_mut()
            .map(|tls| {
                s.spawn(move || {
                    (0..PER_CONNECTION)
                        .map(|_| create_aes(tls, 256, vec![]))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|w| w.join().expect("worker"))
            .collect()
    });
    let creates = (CONNECTIONS * PER_CONNECTION) as f64 / started.elapsed().as_secs_f64();
    let started = Instant::now();
    std::thread::scope(|s| {
        for (tls, uids) in connections.iter_mut().zip(&uids) {
            s.spawn(move || {
                for uid in uids {
                    let get = tls.call(V1_1, op::GET, vec![common::uid(uid)]);
                    assert_eq!(result_status(&get), status::SUCCESS);
                }
            });
        }
    });
    let gets = (CONNECTIONS * PER_CONNECTION) as f64 / started.elapsed().as_secs_f64();
    drop(connections);
    server.terminate();
    (creates, gets)
}

#[test]
#[ignore = "measurement, not a check; run explicitly"]
fn creates_and_gets_per_second_with_and_without_the_audit_log() {
    // Alternate and keep the better of two runs each, to damp noise from a shared machine.
    let mut off = (0f64, 0f64);
    let mut on = (0f64, 0f64);
    for _ in 0..2 {
        let (c, g) = measure(false);
        off = (off.0.max(c), off.1.max(g));
        let (c, g) = measure(true);
        on = (on.0.max(c), on.1.max(g));
    }
    println!(
        "{CONNECTIONS} connections x {PER_CONNECTION}: audit off: {:.0} Creates/s, {:.0} Gets/s",
        off.0, off.1
    );
    println!(
        "{CONNECTIONS} connections x {PER_CONNECTION}: audit on:  {:.0} Creates/s, {:.0} Gets/s",
        on.0, on.1
    );
    println!(
        "ratio on/off: Creates {:.2}, Gets {:.2}",
        on.0 / off.0,
        on.1 / off.1
    );
}
