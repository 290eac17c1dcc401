//! `keyward bench` against a real server: every workload runs a few iterations and the JSON
//! report must account for each exchange. Counts only; no assertion about time.

mod common;

use std::process::Command;

use common::*;
use serde_json::Value as Json;

fn bench(server: &Server, creds: &ClientCreds, args: &[&str]) -> Json {
    let dir = tempfile::tempdir().expect("temp dir");
    let json = dir.path().join("report.json");
    let out = Command::new(keyward_bin())
        .arg("bench")
        .args(["--server", &format!("localhost:{}", server.addr.port())])
        .arg("--ca")
        .arg(&creds.ca)
        .arg("--cert")
        .arg(&creds.cert)
        .arg("--key")
        .arg(&creds.key)
        .arg("--json")
        .arg(&json)
        .args(args)
        .output()
        .expect("run keyward bench");
    assert!(
        out.status.success(),
        "keyward bench {args:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("ops/s"), "no text report: {text}");
    serde_json::from_str(&std::fs::read_to_string(&json).expect("JSON report")).expect("JSON")
}

fn count(report: &Json, operation: &str) -> u64 {
    report["per_operation"][operation]["count"]
        .as_u64()
        .unwrap_or(0)
}

fn assert_clean(report: &Json, iterations: u64) {
    assert_eq!(report["errors_total"], 0, "errors: {report:#}");
    assert_eq!(report["iterations"], iterations, "{report:#}");
    assert_eq!(report["iterations_ok"], iterations, "{report:#}");
}

#[test]
fn every_workload_reports_every_exchange() {
    let mut appliance = Appliance::new(&["bench"]);
    appliance.set_log_filter("warn");
    let server = appliance.start();
    let creds = appliance.creds("bench").clone();

    let r = bench(
        &server,
        &creds,
        &["--workload", "create-get", "--conns", "2", "--ops", "20"],
    );
    assert_clean(&r, 20);
    assert_eq!((count(&r, "create"), count(&r, "get")), (20, 20));
    assert_eq!(r["operations"], 40);
    assert_eq!(
        r["handshakes"], 2,
        "kept connections: one handshake per client"
    );
    let p = &r["per_operation"]["get"];
    assert!(p["p50_us"].as_u64() <= p["p99_us"].as_u64());
    assert!(p["p99_us"].as_u64() <= p["max_us"].as_u64());

    // Paced: the same count, whatever the pace (no assertion about time).
    let r = bench(
        &server,
        &creds,
        &[
            "--workload",
            "create",
            "--conns",
            "2",
            "--ops",
            "10",
            "--rate",
            "200",
        ],
    );
    assert_clean(&r, 10);
    assert_eq!((count(&r, "create"), count(&r, "get")), (10, 0));

    let r = bench(
        &server,
        &creds,
        &[
            "--workload",
            "get",
            "--conns",
            "3",
            "--ops",
            "20",
            "--keys",
            "4",
        ],
    );
    assert_clean(&r, 20);
    assert_eq!(count(&r, "get"), 20);
    assert_eq!(
        count(&r, "create"),
        0,
        "keys are created before the clock starts"
    );

    let r = bench(
        &server,
        &creds,
        &[
            "--workload",
            "vcenter",
            "--conns",
            "2",
            "--ops",
            "4",
            "--new-conn",
        ],
    );
    assert_clean(&r, 4);
    // Per iteration: Create, Get Attributes ×3, Add Attribute batch, Get, Activate, each
    // after a Discover Versions on its own connection.
    assert_eq!(count(&r, "get-attributes"), 12);
    assert_eq!(count(&r, "discover-versions"), 28);
    assert_eq!(r["operations"], 56);
    assert_eq!(r["handshakes"], 28);

    let r = bench(
        &server,
        &creds,
        &["--workload", "mixed", "--conns", "2", "--ops", "10"],
    );
    assert_clean(&r, 10);
    for op in ["create", "activate", "get-attributes", "get", "locate"] {
        assert_eq!(count(&r, op), 10, "{op}: {r:#}");
    }

    let r = bench(
        &server,
        &creds,
        &[
            "--workload",
            "boot-storm",
            "--conns",
            "4",
            "--ops",
            "8",
            "--keys",
            "3",
        ],
    );
    assert_clean(&r, 8);
    assert_eq!(count(&r, "get"), 24);
    assert_eq!(r["handshakes"], 8, "one connection per client per round");

    let r = bench(
        &server,
        &creds,
        &["--bare-handshake", "--conns", "2", "--ops", "10"],
    );
    assert_clean(&r, 10);
    assert_eq!(r["handshakes"], 10);
    assert_eq!(r["operations"], 0);
}

#[test]
fn failed_handshakes_are_counted_as_errors() {
    let mut appliance = Appliance::new(&["bench"]);
    appliance.set_log_filter("warn");
    let server = appliance.start();
    let mut creds = appliance.creds("bench").clone();
    // Another appliance's CA: the client refuses the server's certificate, so every
    // handshake fails and must be counted (a refused client certificate would only show
    // after a TLS 1.3 handshake completes on the client side).
    let other = Appliance::new(&["stranger"]);
    creds.ca = other.creds("stranger").ca.clone();
    let r = bench(
        &server,
        &creds,
        &["--bare-handshake", "--conns", "1", "--ops", "3"],
    );
    assert_eq!(r["iterations"], 3);
    assert_eq!(r["iterations_ok"], 0);
    assert_eq!(r["handshakes"], 0);
    assert_eq!(r["errors"]["handshake"], 3, "{r:#}");
}
