//! The stable-toolchain fuzz harness: runs every target of `keyward::fuzz` over a seed corpus
//! (every OASIS vector message as TTLV, XML and JSON, admin requests, hostile shapes), the saved
//! regressions in `fuzz/regressions/<target>/`, and deterministic mutations of all of them.
//!
//! Without coverage feedback this finds less than libFuzzer, but it runs in CI on stable Rust
//! and replays the same inputs. `fuzz/run.sh SECONDS` uses cargo-fuzz when a nightly toolchain is
//! installed and otherwise runs `fuzz_each_target_for_a_while` (ignored here) for that long.
//! A failing input is written to `target/fuzz-findings/` and named in the failure.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use keyward::fuzz::TARGETS;
use keyward::kmip::json::to_json_string;
use keyward::kmip::xml::{XmlNode, node_to_item, parse_document, to_xml};
use keyward::ttlv::{Item, Value, encode};

const MANIFEST: &str = env!("CARGO_MANIFEST_DIR");

/// xorshift64*: deterministic, so a CI failure replays exactly.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
}

/// Values that make length and count fields interesting.
const INTERESTING_U32: &[u32] = &[
    0,
    1,
    7,
    8,
    0x7f,
    0x80,
    0xff,
    0x100,
    0xffff,
    0x10_0000,
    0x7fff_ffff,
    0xffff_ffff,
];

fn mutate(input: &[u8], other: &[u8], rng: &mut Rng) -> Vec<u8> {
    let mut out = input.to_vec();
    for _ in 0..=rng.below(3) {
        let len = out.len();
        match rng.below(9) {
            0 if len > 0 => {
                let i = rng.below(len);
                out[i] ^= 1 << rng.below(8);
            }
            1 if len > 0 => {
                let i = rng.below(len);
                out[i] = rng.next() as u8;
            }
            2 if len >= 8 => {
                // A TTLV length field sits at offset 4 of every 8-aligned header.
                let at = (rng.below(len / 8) * 8 + 4).min(len - 4);
                let value = INTERESTING_U32[rng.below(INTERESTING_U32.len())];
                out[at..at + 4].copy_from_slice(&value.to_be_bytes());
            }
            3 => out.truncate(rng.below(len + 1)),
            4 if len > 0 => {
                let start = rng.below(len);
                let end = (start + 1 + rng.below(64)).min(len);
                out.drain(start..end);
            }
            5 if len > 0 => {
                let start = rng.below(len);
                let end = (start + 1 + rng.below(256)).min(len);
                let copy = out[start..end].to_vec();
                let at = rng.below(len + 1);
                out.splice(at..at, copy);
            }
            6 => {
                let at = rng.below(len + 1);
                let bytes: Vec<u8> = (0..1 + rng.below(16)).map(|_| rng.next() as u8).collect();
                out.splice(at..at, bytes);
            }
            7 if !other.is_empty() => {
                let cut = rng.below(len + 1);
                let from = rng.below(other.len());
                out.truncate(cut);
                out.extend_from_slice(&other[from..]);
            }
            _ if len > 0 => {
                let i = rng.below(len);
                out[i] = [0x00, 0x01, 0x7f, 0x80, 0xff, b'<', b'"', b'{'][rng.below(8)];
            }
            _ => out.push(rng.next() as u8),
        }
    }
    out
}

fn vector_messages() -> Vec<Item> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "xml") {
                out.push(path);
            }
        }
    }
    let mut files = Vec::new();
    walk(
        &Path::new(MANIFEST).join("../shared/vectors/oasis-profiles"),
        &mut files,
    );
    files.sort();
    assert!(
        files.len() >= 60,
        "the OASIS vectors are missing (../shared/vectors)"
    );
    let mut items = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).expect("read vector");
        for mut node in parse_document(&text).expect("vector parses") {
            node.walk_mut(&mut |n: &mut XmlNode| {
                if n.value.as_deref().is_some_and(|v| v.starts_with('$')) {
                    n.value = Some(match n.item_type.as_deref() {
                        Some("DateTime") => "2020-01-01T00:00:00+00:00".into(),
                        Some("ByteString") => "00112233".into(),
                        _ => "fuzz-0".into(),
                    });
                }
            });
            if let Ok(item) = node_to_item(&node) {
                items.push(item);
            }
        }
    }
    items
}

/// Structures nested `depth` deep, the innermost holding one integer.
fn nested(depth: usize) -> Vec<u8> {
    let mut item = Item::new(0x42_0001, Value::Integer(1));
    for _ in 0..depth {
        item = Item::structure(0x42_0078, vec![item]);
    }
    encode(&item)
}

fn regressions(target: &str) -> Vec<Vec<u8>> {
    let dir = Path::new(MANIFEST).join("fuzz/regressions").join(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    files.sort();
    files.iter().filter_map(|p| std::fs::read(p).ok()).collect()
}

fn seeds(target: &str, messages: &[Item]) -> Vec<Vec<u8>> {
    let mut seeds = regressions(target);
    match target {
        "ttlv_decode" => {
            seeds.extend(messages.iter().map(encode));
            seeds.extend([
                nested(40),
                nested(200),
                vec![0x42, 0, 0, 1, 1, 0xff, 0xff, 0xff],
            ]);
        }
        "kmip_request" => {
            let requests = messages
                .iter()
                .filter(|m| m.tag == keyward::kmip::tag::REQUEST_MESSAGE);
            seeds.extend(requests.map(encode));
            seeds.push(nested(100));
        }
        "xml_json" => {
            for m in messages.iter().step_by(3) {
                seeds.push(to_xml(m).into_bytes());
                seeds.push(to_json_string(m).into_bytes());
            }
        }
        "admin_request" => seeds.extend(
            [
                r#"{"version":1,"op":"list_clients"}"#,
                r#"{"version":1,"op":"show_client","name":"vcenter-01"}"#,
                r#"{"version":1,"op":"remove_client","name":"x","destroy_keys":true}"#,
                r#"{"version":1,"op":"add_client","entry":{"name":"a"}}"#,
            ]
            .map(|s| s.as_bytes().to_vec()),
        ),
        "backup_reader" => {
            use keyward::backup::header::{Header, KdfSettings};
            use keyward::backup::record::{Counts, ObjectRecord, Record, encode as record};
            let mut stream = record(&Record::Object(ObjectRecord {
                uid: "u".into(),
                owner: "o".into(),
                version: 1,
                metadata: vec![1, 2],
                material: Some(vec![9; 32].into()),
                index_terms: vec![],
            }))
            .to_vec();
            stream.extend_from_slice(&record(&Record::Meta {
                key: "clients.registry".into(),
                value: b"{}".to_vec(),
            }));
            stream.extend_from_slice(&record(&Record::End(Counts {
                objects: 1,
                meta: 1,
                extra: 0,
            })));
            seeds.push(stream);
            let header = Header::new(KdfSettings::TEST_ONLY_WEAK, 1024, 0, "seed").expect("header");
            let mut file = header.encode();
            file.extend_from_slice(&[0u8; 16 + 1040]);
            seeds.push(file);
        }
        other => panic!("no seeds for target {other}"),
    }
    assert!(!seeds.is_empty(), "{target}: no seeds");
    seeds
}

/// Runs `target` on `input`; a panic is saved and reported.
fn run_one(name: &str, target: fn(&[u8]), input: &[u8]) -> Result<(), String> {
    catch_unwind(AssertUnwindSafe(|| target(input))).map_err(|panic| {
        let why = panic
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default();
        let dir = Path::new(MANIFEST).join("target/fuzz-findings");
        let _ = std::fs::create_dir_all(&dir);
        let digest = input.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
            (h ^ u64::from(*b)).wrapping_mul(0x100_0000_01b3)
        });
        let path = dir.join(format!("{name}-{digest:016x}.bin"));
        let _ = std::fs::write(&path, input);
        format!("{name}: {why} (input saved to {})", path.display())
    })
}

/// Seeds, then `mutations_per_seed` mutants of each, cycling the RNG from `seed`.
fn campaign(
    name: &str,
    target: fn(&[u8]),
    seeds: &[Vec<u8>],
    mutations_per_seed: usize,
    rng: &mut Rng,
    deadline: Option<Instant>,
) -> Result<u64, String> {
    let mut executions = 0;
    for input in seeds {
        run_one(name, target, input)?;
        executions += 1;
    }
    loop {
        for (i, input) in seeds.iter().enumerate() {
            let other = &seeds[(i + 1 + rng.below(seeds.len())) % seeds.len()];
            for _ in 0..mutations_per_seed {
                run_one(name, target, &mutate(input, other, rng))?;
                executions += 1;
            }
        }
        match deadline {
            Some(d) if Instant::now() < d => continue,
            _ => return Ok(executions),
        }
    }
}

/// CI's bounded run: every seed and regression, and a fixed number of mutants of each.
#[test]
fn every_target_survives_its_corpus_and_mutations() {
    let messages = vector_messages();
    let mut failures = Vec::new();
    for (name, target) in TARGETS {
        let seeds = seeds(name, &messages);
        let per_seed = if *name == "kmip_request" { 10 } else { 30 };
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ name.len() as u64);
        match campaign(name, *target, &seeds, per_seed, &mut rng, None) {
            Ok(n) => eprintln!("{name}: {n} inputs from {} seeds, no finding", seeds.len()),
            Err(finding) => failures.push(finding),
        }
    }
    assert!(
        failures.is_empty(),
        "fuzz findings:\n{}",
        failures.join("\n")
    );
}

/// The harness must be able to fail: a target that panics on one byte pattern is caught, and
/// the input that did it is saved.
#[test]
fn a_panicking_target_is_reported_with_its_input() {
    fn fragile(data: &[u8]) {
        assert!(!data.starts_with(b"\xde\xad"), "fragile target hit");
    }
    let seeds = vec![b"\xde\xac".to_vec()];
    let mut rng = Rng(1);
    let outcome = campaign("fragile", fragile, &seeds, 5_000, &mut rng, None);
    let finding = outcome.expect_err("bit flips reach 0xdead");
    assert!(finding.contains("fragile target hit"), "{finding}");
    let saved = finding
        .rsplit("saved to ")
        .next()
        .unwrap()
        .trim_end_matches(')');
    assert!(std::fs::read(saved).unwrap().starts_with(b"\xde\xad"));
}

/// `fuzz/run.sh SECONDS` on a stable toolchain: each target (or only `KEYWARD_FUZZ_TARGET`)
/// for `KEYWARD_FUZZ_SECONDS`, seeded from the clock; prints executions per target.
#[test]
#[ignore = "long-running; started by fuzz/run.sh"]
fn fuzz_each_target_for_a_while() {
    let seconds: u64 = std::env::var("KEYWARD_FUZZ_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(60);
    let only = std::env::var("KEYWARD_FUZZ_TARGET").ok();
    let messages = vector_messages();
    let clock = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(1);
    let mut failures = Vec::new();
    for (name, target) in TARGETS
        .iter()
        .filter(|(n, _)| only.as_deref().is_none_or(|o| o == *n))
    {
        let seeds = seeds(name, &messages);
        let mut rng = Rng(clock | 1);
        let start = Instant::now();
        let deadline = start + Duration::from_secs(seconds);
        match campaign(name, *target, &seeds, 16, &mut rng, Some(deadline)) {
            Ok(n) => println!(
                "{name}: {n} executions in {:.0} s, no finding (rng seed {clock:#x})",
                start.elapsed().as_secs_f64()
            ),
            Err(finding) => failures.push(finding),
        }
    }
    assert!(
        failures.is_empty(),
        "fuzz findings:\n{}",
        failures.join("\n")
    );
}

/// Writes the seed corpus for cargo-fuzz into `KEYWARD_FUZZ_CORPUS/<target>/`.
#[test]
#[ignore = "used by fuzz/run.sh to seed libFuzzer"]
fn export_seed_corpus() {
    let Ok(root) = std::env::var("KEYWARD_FUZZ_CORPUS") else {
        panic!("set KEYWARD_FUZZ_CORPUS");
    };
    let messages = vector_messages();
    for (name, _) in TARGETS {
        let dir = Path::new(&root).join(name);
        std::fs::create_dir_all(&dir).expect("corpus dir");
        for (i, seed) in seeds(name, &messages).iter().enumerate() {
            std::fs::write(dir.join(format!("seed-{i:05}")), seed).expect("write seed");
        }
    }
}
