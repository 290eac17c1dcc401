//! Crash consistency: SIGKILL at a random moment under mixed writes loses nothing that was
//! acknowledged and leaves nothing half-applied.
//!
//! Each iteration starts the real `keyward` on the same redb file, lets several connections
//! run Creates (with two custom attributes in the template), batches of three Add Attributes
//! in one request, and Destroys, and SIGKILLs the server after a delay drawn from a seeded RNG.
//! The next start must show: every acknowledged Create, every attribute of every acknowledged
//! batch, every acknowledged Destroy; the one request per connection that was in flight at the
//! kill either fully applied or not at all (three of three attributes or none; two of two
//! template attributes on every object, including Creates whose answer was lost). Gets run
//! among the changes: every Get answered before the kill has its audit record after the
//! restart, though reads are answered without waiting for an fsync (the read journal), and
//! every object a Get was answered for is no longer Fresh (the first Get's clear rides in the
//! journal with its record: `src/engine/fresh.rs`).
//!
//! CI runs a few iterations; `KEYWARD_CRASH_ITERATIONS=500 cargo test --release --test
//! crash_consistency -- --nocapture` runs many. `KEYWARD_CRASH_SEED` replays one run.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use common::*;
use keyward::kmip::tag;
use keyward::ttlv::{Item, Value};

/// Worker 0 reads only (Gets); the others mix changes and Gets.
const WORKERS: usize = 4;
const DEFAULT_ITERATIONS: usize = 4;
/// Items of one Add Attribute request: all or none must survive.
const BATCH: usize = 3;
/// A fresh data directory after this many kills keeps the verification pass short.
const ITERATIONS_PER_APPLIANCE: usize = 25;
/// The kill comes this many milliseconds after the workers start, drawn uniformly.
const KILL_WINDOW_MS: (u64, u64) = (10, 400);
const STATE_DESTROYED: u32 = 5;

/// xorshift64*: a seedable RNG so a failing run can be replayed from the printed seed.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed.max(1))
    }
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Destroy {
    No,
    InFlight,
    Acked,
}

/// What the clients know about one object.
#[derive(Clone, Debug)]
struct Known {
    acked_batches: BTreeSet<u64>,
    /// An Add Attribute request sent but not answered before the kill.
    in_flight_batch: Option<u64>,
    destroy: Destroy,
    /// Gets of this object answered with success: each must have its audit record.
    acked_gets: usize,
}

impl Known {
    fn new() -> Known {
        Known {
            acked_batches: BTreeSet::new(),
            in_flight_batch: None,
            destroy: Destroy::No,
            acked_gets: 0,
        }
    }
}

type Model = BTreeMap<String, Known>;

fn custom(name: &str, value: &str) -> Item {
    attribute(name, Value::TextString(value.to_string()))
}

fn batch_attribute_name(batch: u64, i: usize) -> String {
    format!("x-crash-{batch}-{i}")
}

fn single_success(resp: &Item, what: &str) -> Item {
    let items = batch_items(resp);
    assert_eq!(items.len(), 1, "{what}: one batch item expected");
    success_payload(items[0])
}

/// Runs random mutations until the connection breaks (the kill) or `deadline` passes.
/// Batch numbers are unique across workers: `next_batch` hands them out.
fn worker(
    addr: std::net::SocketAddr,
    creds: &ClientCreds,
    seed: u64,
    model: &Mutex<Model>,
    next_batch: &Mutex<u64>,
    deadline: Instant,
    reader: bool,
) {
    let mut rng = Rng::new(seed);
    let Ok(mut tls) = Tls::connect(addr, creds) else {
        return;
    };
    // Objects this worker created in this iteration and may still modify.
    let mut live: Vec<String> = Vec::new();
    while Instant::now() < deadline {
        // A reader creates one object, then only reads it: its last answers before the kill
        // are the ones most likely to have no durable commit yet.
        let roll = if reader { 13 } else { rng.below(14) };
        if !live.is_empty() && roll >= 10 {
            // A read: answered without an fsync, but its audit record must survive the kill.
            let id = live[rng.below(live.len() as u64) as usize].clone();
            let Some(resp) = tls.try_roundtrip(&request(
                V1_1,
                vec![BatchItem::new(op::GET, vec![uid(&id)])],
            )) else {
                return;
            };
            single_success(&resp, "Get");
            model
                .lock()
                .expect("lock")
                .get_mut(&id)
                .expect("known")
                .acked_gets += 1;
        } else if live.is_empty() || roll < 4 {
            let create = request(
                V1_1,
                vec![BatchItem::new(
                    op::CREATE,
                    create_aes_payload(
                        256,
                        12,
                        vec![custom("x-born-a", "a"), custom("x-born-b", "b")],
                    ),
                )],
            );
            let Some(resp) = tls.try_roundtrip(&create) else {
                return;
            };
            let payload = single_success(&resp, "Create");
            let id = text_of(payload.child(tag::UNIQUE_IDENTIFIER).expect("UID")).to_string();
            model.lock().expect("lock").insert(id.clone(), Known::new());
            live.push(id);
        } else if roll < 8 {
            let id = live[rng.below(live.len() as u64) as usize].clone();
            let batch = {
                let mut n = next_batch.lock().expect("lock");
                *n += 1;
                *n
            };
            let items = (0..BATCH)
                .map(|i| {
                    BatchItem::new(
                        op::ADD_ATTRIBUTE,
                        vec![
                            uid(&id),
                            custom(&batch_attribute_name(batch, i), &format!("v{batch}")),
                        ],
                    )
                })
                .collect();
            model
                .lock()
                .expect("lock")
                .get_mut(&id)
                .expect("known")
                .in_flight_batch = Some(batch);
            let Some(resp) = tls.try_roundtrip(&request(V1_1, items)) else {
                return;
            };
            let answered = batch_items(&resp);
            assert_eq!(answered.len(), BATCH, "Add Attribute batch answered partly");
            for item in answered {
                success_payload(item);
            }
            let mut model = model.lock().expect("lock");
            let known = model.get_mut(&id).expect("known");
            known.in_flight_batch = None;
            known.acked_batches.insert(batch);
        } else {
            let id = live.swap_remove(rng.below(live.len() as u64) as usize);
            model
                .lock()
                .expect("lock")
                .get_mut(&id)
                .expect("known")
                .destroy = Destroy::InFlight;
            let Some(resp) = tls.try_roundtrip(&request(
                V1_1,
                vec![BatchItem::new(op::DESTROY, vec![uid(&id)])],
            )) else {
                return;
            };
            single_success(&resp, "Destroy");
            model
                .lock()
                .expect("lock")
                .get_mut(&id)
                .expect("known")
                .destroy = Destroy::Acked;
        }
    }
}

/// Everything the restarted server holds about one object.
struct Found {
    state: u32,
    custom: BTreeSet<String>,
    fresh: Option<bool>,
}

fn fetch(tls: &mut Tls, id: &str) -> Found {
    let payload = success_payload(&tls.call(V1_1, op::GET_ATTRIBUTES, vec![uid(id)]));
    let mut state = None;
    let mut custom = BTreeSet::new();
    let mut fresh = None;
    for (name, value) in attributes_of(&payload) {
        if name == "State" {
            if let Value::Enumeration(v) = value {
                state = Some(v);
            }
        } else if name == "Fresh" {
            if let Value::Boolean(b) = value {
                fresh = Some(b);
            }
        } else if name.starts_with("x-") {
            custom.insert(name);
        }
    }
    Found {
        state: state.unwrap_or_else(|| panic!("{id} has no State: {payload:?}")),
        custom,
        fresh,
    }
}

/// Locate with no filter and a Storage Status Mask of on-line plus destroyed objects.
fn locate_including_destroyed(tls: &mut Tls) -> Vec<String> {
    let mask = Item::new(tag::STORAGE_STATUS_MASK, Value::Integer(1 | 4));
    uids_of(&success_payload(&tls.call(V1_1, op::LOCATE, vec![mask])))
}

/// Checks the restarted server against the model, then resolves every in-flight operation to
/// what actually happened so the next iteration starts from exact knowledge. Returns the
/// number of acknowledged changes checked.
fn verify(tls: &mut Tls, model: &mut Model, seed: u64, data_dir: &std::path::Path) -> usize {
    let mut checked = verify_read_records(model, seed, data_dir);
    let listed: BTreeSet<String> = locate_including_destroyed(tls).into_iter().collect();
    for (id, known) in model.iter_mut() {
        assert!(
            listed.contains(id),
            "seed {seed}: acknowledged Create {id} lost"
        );
        checked += 1;
        let found = fetch(tls, id);
        if known.acked_gets > 0 {
            // The first Get's clear of Fresh rode in the read journal with its record.
            assert_eq!(
                found.fresh,
                Some(false),
                "seed {seed}: {id} was served ({} acknowledged Gets) but is Fresh again",
                known.acked_gets
            );
            checked += 1;
        }
        for born in ["x-born-a", "x-born-b"] {
            assert!(
                found.custom.contains(born),
                "seed {seed}: {id} lost template attribute {born}"
            );
        }
        let mut batches: BTreeMap<u64, usize> = BTreeMap::new();
        for name in &found.custom {
            if let Some(rest) = name.strip_prefix("x-crash-") {
                let (batch, _) = rest.split_once('-').expect("batch-index");
                *batches
                    .entry(batch.parse().expect("batch number"))
                    .or_default() += 1;
            }
        }
        for batch in &known.acked_batches {
            assert_eq!(
                batches.get(batch).copied().unwrap_or(0),
                BATCH,
                "seed {seed}: {id} lost attributes of acknowledged batch {batch}"
            );
            checked += 1;
        }
        for (batch, count) in &batches {
            let expected =
                known.acked_batches.contains(batch) || known.in_flight_batch == Some(*batch);
            assert!(
                expected,
                "seed {seed}: {id} has attributes of batch {batch} that was never sent to it"
            );
            assert_eq!(
                *count, BATCH,
                "seed {seed}: {id} has {count} of {BATCH} attributes of batch {batch}: half-applied"
            );
        }
        if let Some(batch) = known.in_flight_batch.take()
            && batches.contains_key(&batch)
        {
            known.acked_batches.insert(batch);
        }
        match known.destroy {
            Destroy::Acked => {
                assert_eq!(
                    found.state, STATE_DESTROYED,
                    "seed {seed}: acknowledged Destroy of {id} lost"
                );
                checked += 1;
            }
            Destroy::InFlight => {
                known.destroy = if found.state == STATE_DESTROYED {
                    Destroy::Acked
                } else {
                    Destroy::No
                };
            }
            Destroy::No => assert_ne!(
                found.state, STATE_DESTROYED,
                "seed {seed}: {id} destroyed though no Destroy was sent"
            ),
        }
    }
    // Creates whose answer the kill swallowed: present or not, but never without their
    // template attributes.
    let unknown: Vec<String> = listed
        .iter()
        .filter(|id| !model.contains_key(*id))
        .cloned()
        .collect();
    for id in &unknown {
        let found = fetch(tls, id);
        assert!(
            found.custom.contains("x-born-a") && found.custom.contains("x-born-b"),
            "seed {seed}: unacknowledged Create {id} is half-applied: {:?}",
            found.custom
        );
        let mut known = Known::new();
        if found.state == STATE_DESTROYED {
            known.destroy = Destroy::Acked;
        }
        model.insert(id.clone(), known);
    }
    checked
}

/// Every Get answered before a kill has its audit record after the restart (the read journal
/// is folded at start-up). Returns the number of answered Gets checked.
fn verify_read_records(model: &Model, seed: u64, data_dir: &std::path::Path) -> usize {
    let out = std::process::Command::new(keyward_bin())
        .args([
            "audit",
            "export",
            "--format",
            "jsonl",
            "--op",
            "Get",
            "--data-dir",
        ])
        .arg(data_dir)
        .output()
        .expect("run keyward audit export");
    assert!(
        out.status.success(),
        "audit export: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut recorded: BTreeMap<String, usize> = BTreeMap::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let Ok(line) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        let record = &line["record"];
        if record["operation"] == "Get"
            && record["outcome"] == "success"
            && let Some(id) = record["uids"][0].as_str()
        {
            *recorded.entry(id.to_string()).or_default() += 1;
        }
    }
    let mut checked = 0;
    for (id, known) in model {
        let have = recorded.get(id).copied().unwrap_or(0);
        assert!(
            have >= known.acked_gets,
            "seed {seed}: {id}: {} Get(s) answered, only {have} audit record(s) after the kill",
            known.acked_gets
        );
        checked += known.acked_gets;
    }
    checked
}

fn iterations() -> usize {
    std::env::var("KEYWARD_CRASH_ITERATIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(DEFAULT_ITERATIONS)
}

fn seed() -> u64 {
    std::env::var("KEYWARD_CRASH_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(1)
        })
}

#[test]
fn sigkill_under_mixed_writes_loses_nothing_acknowledged() {
    let seed = seed();
    let iterations = iterations();
    eprintln!(
        "crash consistency: seed {seed} (replay with KEYWARD_CRASH_SEED={seed}), {iterations} iteration(s)"
    );
    let mut rng = Rng::new(seed);
    let next_batch = Mutex::new(0u64);
    let mut appliance = Appliance::new(&["writer"]);
    appliance.set_log_filter("info");
    let mut model = Model::new();
    let (mut kills, mut checked_total, mut repaired_starts) = (0usize, 0usize, 0usize);
    for iteration in 0..iterations {
        if iteration > 0 && iteration % ITERATIONS_PER_APPLIANCE == 0 {
            appliance = Appliance::new(&["writer"]);
            appliance.set_log_filter("info");
            model.clear();
        }
        let creds = appliance.creds("writer").clone();
        let mut server = appliance.start();
        if server.log().contains("not shut down cleanly") {
            repaired_starts += 1;
        }
        {
            let mut tls = server.connect(&creds);
            checked_total += verify(&mut tls, &mut model, seed, &appliance.data_dir);
        }
        let model_lock = Mutex::new(std::mem::take(&mut model));
        let kill_after = Duration::from_millis(
            KILL_WINDOW_MS.0 + rng.below(KILL_WINDOW_MS.1 - KILL_WINDOW_MS.0),
        );
        let deadline = Instant::now() + kill_after + IO_BOUND;
        std::thread::scope(|s| {
            for w in 0..WORKERS {
                let worker_seed = rng.next() ^ w as u64;
                let (creds, model, next_batch) = (&creds, &model_lock, &next_batch);
                s.spawn(move || {
                    worker(
                        server.addr,
                        creds,
                        worker_seed,
                        model,
                        next_batch,
                        deadline,
                        w == 0,
                    )
                });
            }
            std::thread::sleep(kill_after);
            server.kill_hard();
        });
        kills += 1;
        model = model_lock.into_inner().expect("lock");
    }
    let creds = appliance.creds("writer").clone();
    let server = appliance.start();
    let mut tls = server.connect(&creds);
    checked_total += verify(&mut tls, &mut model, seed, &appliance.data_dir);
    eprintln!(
        "crash consistency: {kills} SIGKILL(s), {checked_total} acknowledged changes checked after restarts, 0 lost, 0 half-applied; {repaired_starts} start(s) after a kill logged redb's repair"
    );
    assert!(checked_total > 0, "no change was acknowledged at all");
}
