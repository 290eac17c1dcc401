//! Reads audited without an fsync per read (issue 21, point 1; `docs/audit.md`): the bounded
//! window. A read's record is journalled before its answer (`tests/crash_consistency.rs`
//! shows it survives `kill -9`); this test shows the other half: with no further request, the
//! committer brings every answered read's record into a durable (fsynced) redb commit by
//! itself, so a power loss can lose at most the reads of the last `read_sync_interval_ms`. The
//! lag is printed, never asserted. With `durable_reads = true` the record is durable before
//! the answer, as before.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::in_process::{InProcess, serve_in_process};
use common::*;
use keyward::kmip::tag;
use keyward::store::Store;
use serde_json::Value as Json;

fn get_records(store: &Arc<dyn Store>) -> usize {
    store
        .read()
        .unwrap()
        .audit_range(1, usize::MAX)
        .unwrap()
        .into_iter()
        .filter(|(_, bytes)| {
            let line: Json = serde_json::from_slice(bytes).unwrap();
            line["record"]["operation"] == "Get"
        })
        .count()
}

/// An in-process server whose Gets are audited through the read journal (`durable_reads`
/// false) or before their answer (true).
fn serve(files: &Appliance, durable_reads: bool) -> InProcess {
    serve_every(files, durable_reads, 20)
}

fn serve_every(files: &Appliance, durable_reads: bool, read_sync_interval_ms: u64) -> InProcess {
    serve_in_process(keyward::config::Config {
        data_dir: files.data_dir.clone(),
        audit: keyward::audit::settings::AuditSettings {
            durable_reads,
            read_sync_interval_ms,
            ..Default::default()
        },
        ..Default::default()
    })
}

/// The Fresh attribute of `uid` as Get Attributes reports it.
fn fresh(tls: &mut Tls, uid: &str) -> bool {
    let answer = tls.call(
        V1_1,
        op::GET_ATTRIBUTES,
        vec![
            common::uid(uid),
            keyward::ttlv::Item::new(
                tag::ATTRIBUTE_NAME,
                keyward::ttlv::Value::TextString("Fresh".into()),
            ),
        ],
    );
    let payload = success_payload(&answer);
    match attributes_of(&payload)
        .into_iter()
        .find(|(name, _)| name == "Fresh")
    {
        Some((_, keyward::ttlv::Value::Boolean(fresh))) => fresh,
        other => panic!("no Fresh in {payload:?}: {other:?}"),
    }
}

/// Creates a key and Gets it `gets` times (the first Get clears Fresh: a change); its UID.
fn create_and_get(tls: &mut Tls, gets: usize) -> String {
    let create = tls.call(V1_1, op::CREATE, create_aes_payload(256, 12, vec![]));
    let uid = text_of(
        create
            .child(tag::RESPONSE_PAYLOAD)
            .and_then(|p| p.child(tag::UNIQUE_IDENTIFIER))
            .expect("uid"),
    )
    .to_string();
    for _ in 0..gets {
        let get = tls.call(V1_1, op::GET, vec![common::uid(&uid)]);
        assert_eq!(result_status(&get), status::SUCCESS);
    }
    uid
}

#[test]
fn answered_reads_reach_a_durable_commit_by_themselves_within_the_sync_interval() {
    const GETS: usize = 50;
    let files = Appliance::new(&["vc"]);
    let running = serve(&files, false);
    let mut tls = Tls::connect(running.addr, files.creds("vc")).unwrap();
    create_and_get(&mut tls, GETS);
    let answered = Instant::now();
    // Nothing more is sent: only the committer's own timer can make these records durable.
    // (Bounded wait so a broken timer fails the test instead of hanging it.)
    while get_records(&running.appliance.store) < GETS {
        assert!(
            answered.elapsed() < Duration::from_secs(10),
            "the records of {GETS} answered Gets never reached a durable commit ({} did)",
            get_records(&running.appliance.store)
        );
        std::thread::sleep(Duration::from_millis(1));
    }
    eprintln!(
        "read journal: the last of {GETS} Gets' records was durable {:.1} ms after its answer \
         (read_sync_interval_ms = 20)",
        answered.elapsed().as_secs_f64() * 1e3
    );
    drop(tls);
    let _appliance = running.stop();
    // After a clean shutdown nothing is left to fold: at most the empty current file.
    let left: u64 = std::fs::read_dir(files.data_dir.join("audit-reads"))
        .unwrap()
        .map(|f| f.unwrap().metadata().unwrap().len())
        .sum();
    assert_eq!(
        left, 0,
        "journalled records left unfolded after a clean shutdown"
    );
}

#[test]
fn with_durable_reads_a_read_is_durable_before_its_answer() {
    let files = Appliance::new(&["vc"]);
    let running = serve(&files, true);
    let mut tls = Tls::connect(running.addr, files.creds("vc")).unwrap();
    let uid = create_and_get(&mut tls, 1);
    for gets in 2..=4 {
        // Read in-process right after the answer: no timer could have folded it yet.
        let get = tls.call(V1_1, op::GET, vec![common::uid(&uid)]);
        assert_eq!(result_status(&get), status::SUCCESS);
        assert_eq!(get_records(&running.appliance.store), gets);
    }
    drop(tls);
    let _appliance = running.stop();
}

#[test]
fn a_served_key_is_no_longer_fresh_to_anyone_before_its_clear_is_folded() {
    let files = Appliance::new(&["vc"]);
    // The longest sync interval: no timer folds the Get's record during the first checks.
    let running = serve_every(&files, false, 1000);
    let mut getter = Tls::connect(running.addr, files.creds("vc")).unwrap();
    let mut other = Tls::connect(running.addr, files.creds("vc")).unwrap();
    let uid = create_and_get(&mut getter, 0);
    assert!(fresh(&mut other, &uid), "a key nobody fetched is Fresh");
    let get = getter.call(V1_1, op::GET, vec![common::uid(&uid)]);
    assert_eq!(result_status(&get), status::SUCCESS);
    let answered = Instant::now();
    // Right after the answer, on another connection: not Fresh, though the clear is still in
    // the journal only (the Get's record is not in the audit table yet).
    assert!(!fresh(&mut other, &uid));
    let unfolded = get_records(&running.appliance.store) == 0;
    eprintln!(
        "Fresh read back {:.2} ms after the first Get's answer, its clear {}",
        answered.elapsed().as_secs_f64() * 1e3,
        if unfolded {
            "not folded yet"
        } else {
            "already folded"
        }
    );
    assert!(
        unfolded || answered.elapsed() >= Duration::from_millis(1000),
        "the record was folded before the interval passed, with no change to carry it"
    );
    // Folded by the timer, then after a restart: still served.
    while get_records(&running.appliance.store) < 1 {
        assert!(answered.elapsed() < Duration::from_secs(10), "never folded");
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(!fresh(&mut other, &uid));
    drop((getter, other));
    drop(running.stop());
    let running = serve(&files, false);
    let mut tls = Tls::connect(running.addr, files.creds("vc")).unwrap();
    assert!(!fresh(&mut tls, &uid));
    drop(tls);
    let _appliance = running.stop();
}
