//! Encrypted backups end to end (issue 7): a real server, the real `keyward` commands, a
//! restore into a fresh data directory with the local root (no network), and a real mTLS
//! client that must get the same material for every UID. Tests use the explicit test-only
//! weak KDF option; the default Argon2id parameters are exercised once by the unit tests.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::*;
use keyward::kmip::tag;

const PASSPHRASE: &str = "correct horse battery staple";

fn keyward(args: &[&str], paths: &[(&str, &Path)]) -> Output {
    let mut cmd = Command::new(keyward_bin());
    cmd.args(args);
    for (flag, path) in paths {
        cmd.arg(flag).arg(path);
    }
    cmd.stdin(Stdio::null()).output().expect("run keyward")
}

fn ok(out: Output) -> String {
    assert!(
        out.status.success(),
        "failed:\nstdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn failure(out: Output) -> String {
    assert!(
        !out.status.success(),
        "should have failed; stdout:\n{}",
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn passphrase_file(dir: &Path, text: &str) -> PathBuf {
    let path = dir.join(format!("pass-{}", text.len()));
    std::fs::write(&path, format!("{text}\n")).unwrap();
    path
}

fn create(tls: &mut Tls) -> String {
    let resp = tls.roundtrip(&request(
        V1_1,
        vec![BatchItem::new(
            op::CREATE,
            create_aes_payload(256, 12, vec![]),
        )],
    ));
    let payload = success_payload(batch_items(&resp)[0]);
    text_of(payload.child(tag::UNIQUE_IDENTIFIER).expect("UID")).to_string()
}

fn get(tls: &mut Tls, id: &str) -> Vec<u8> {
    let resp = tls.roundtrip(&request(V1_1, vec![BatchItem::new(op::GET, vec![uid(id)])]));
    key_material(&success_payload(batch_items(&resp)[0]))
}

fn export(data_dir: &Path, out: &Path, pass: &Path) -> String {
    ok(keyward(
        &["backup", "export", "--test-only-weak-kdf"],
        &[
            ("--data-dir", data_dir),
            ("--out", out),
            ("--passphrase-file", pass),
        ],
    ))
}

/// Restores `file` into a new directory and starts a server there; the client keeps its own
/// certificate (the restored registry trusts it) and trusts the new appliance CA.
fn restore_and_start(file: &Path, pass: &Path) -> (Appliance, Server, PathBuf) {
    let mut fresh = Appliance::new(&[]);
    let restored = fresh.root.path().join("restored");
    let out = ok(keyward(
        &["restore", "--root", "local"],
        &[
            ("--from", file),
            ("--data-dir", &restored),
            ("--passphrase-file", pass),
        ],
    ));
    assert!(out.contains("restored"), "{out}");
    fresh.data_dir = restored.clone();
    let server = fresh.start();
    (fresh, server, restored)
}

fn creds_for(original: &ClientCreds, restored: &Path) -> ClientCreds {
    ClientCreds {
        ca: restored.join("ca.crt"),
        ..original.clone()
    }
}

#[test]
fn export_then_restore_offline_serves_the_same_material_for_every_uid() {
    let mut appliance = Appliance::new(&["alice", "bob"]);
    let mut server = appliance.start();
    let mut materials = BTreeMap::new();
    for name in ["alice", "bob"] {
        let mut tls = server.connect(appliance.creds(name));
        for _ in 0..10 {
            let id = create(&mut tls);
            let material = get(&mut tls, &id);
            materials.insert(id, (name, material));
        }
    }
    let work = appliance.root.path().to_path_buf();
    let pass = passphrase_file(&work, PASSPHRASE);
    let file = work.join("online.kwbackup");
    // Online: the server is running and does the export.
    let out = export(&appliance.data_dir, &file, &pass);
    assert!(out.contains("20 object(s)"), "{out}");
    assert!(server.log().contains("exporting a backup"));
    server.terminate();
    // Offline: straight from the data directory, same content.
    let offline = work.join("offline.kwbackup");
    assert!(export(&appliance.data_dir, &offline, &pass).contains("20 object(s)"));

    let verify = ok(Command::new(keyward_bin())
        .args(["backup", "verify"])
        .arg(&file)
        .arg("--passphrase-file")
        .arg(&pass)
        .output()
        .unwrap());
    assert!(
        verify.contains("objects: 20 (20 with key material)"),
        "{verify}"
    );
    assert!(verify.contains("state PreActive: 20"), "{verify}");
    assert!(
        verify.contains("client alice: 10") && verify.contains("client bob: 10"),
        "{verify}"
    );
    assert!(verify.contains("format version: 1"), "{verify}");

    for backup in [&file, &offline] {
        let (_fresh, restored_server, restored) = restore_and_start(backup, &pass);
        for name in ["alice", "bob"] {
            let creds = creds_for(appliance.creds(name), &restored);
            let mut tls = restored_server.connect(&creds);
            for (id, (owner, material)) in &materials {
                if owner == &name {
                    assert_eq!(
                        &get(&mut tls, id),
                        material,
                        "material of {id} after restore"
                    );
                }
            }
        }
        let log = restored_server.log();
        for (_, material) in materials.values() {
            assert!(!log.contains(&hex_upper(material)) && !log.contains(&hex_lower(material)));
        }
    }
}

fn hex_lower(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
fn hex_upper(bytes: &[u8]) -> String {
    hex_lower(bytes).to_uppercase()
}

#[test]
fn damaged_backups_and_wrong_passphrases_fail_with_a_clear_message() {
    let appliance = Appliance::new(&["alice"]);
    let work = appliance.root.path().to_path_buf();
    let pass = passphrase_file(&work, PASSPHRASE);
    let file = work.join("b.kwbackup");
    export(&appliance.data_dir, &file, &pass);
    let bytes = std::fs::read(&file).unwrap();
    let verify = |path: &Path, pass: &Path| {
        Command::new(keyward_bin())
            .args(["backup", "verify"])
            .arg(path)
            .arg("--passphrase-file")
            .arg(pass)
            .output()
            .unwrap()
    };
    let wrong = passphrase_file(&work, "Another passphrase 42!");
    assert!(failure(verify(&file, &wrong)).contains("wrong passphrase"));

    let flipped = work.join("flipped");
    let mut damaged = bytes.clone();
    let last = damaged.len() - 3;
    damaged[last] ^= 1;
    std::fs::write(&flipped, &damaged).unwrap();
    let err = failure(verify(&flipped, &pass));
    assert!(err.contains("failed authentication"), "{err}");

    let truncated = work.join("truncated");
    std::fs::write(&truncated, &bytes[..bytes.len() - 20]).unwrap();
    let err = failure(verify(&truncated, &pass));
    assert!(err.contains("truncated"), "{err}");

    // Restore refuses a directory that is not empty, and says why.
    let err = failure(keyward(
        &["restore", "--root", "local"],
        &[
            ("--from", &file),
            ("--data-dir", &appliance.data_dir),
            ("--passphrase-file", &pass),
        ],
    ));
    assert!(
        err.contains("refusing to restore") && err.contains("--force"),
        "{err}"
    );

    // A weak passphrase is refused for export, with the reason.
    let weak = passphrase_file(&work, "abc");
    let err = failure(keyward(
        &["backup", "export", "--test-only-weak-kdf"],
        &[
            ("--data-dir", &appliance.data_dir),
            ("--out", &work.join("weak.kwbackup")),
            ("--passphrase-file", &weak),
        ],
    ));
    assert!(
        err.contains("weak passphrase") && err.contains("at least 12"),
        "{err}"
    );
}

#[test]
fn online_export_during_creates_restores_a_consistent_state() {
    let mut appliance = Appliance::new(&["writer"]);
    appliance.set_log_filter("info");
    let server = appliance.start();
    let creds = appliance.creds("writer").clone();
    let acked = Mutex::new(Vec::<String>::new());
    let stop = AtomicBool::new(false);
    let work = appliance.root.path().to_path_buf();
    let pass = passphrase_file(&work, PASSPHRASE);
    let file = work.join("busy.kwbackup");
    let mut acked_before_export = Vec::new();
    std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| {
                let mut tls = Tls::connect(server.addr, &creds).expect("connect");
                for _ in 0..400 {
                    if stop.load(Ordering::SeqCst) {
                        return;
                    }
                    let id = create(&mut tls);
                    acked.lock().unwrap().push(id);
                }
            });
        }
        let deadline = Instant::now() + IO_BOUND;
        while acked.lock().unwrap().len() < 30 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        acked_before_export = acked.lock().unwrap().clone();
        export(&appliance.data_dir, &file, &pass);
        stop.store(true, Ordering::SeqCst);
    });
    assert!(acked_before_export.len() >= 30);
    let total_acked = acked.lock().unwrap().len();
    drop(server);

    let verify = ok(Command::new(keyward_bin())
        .args(["backup", "verify"])
        .arg(&file)
        .arg("--passphrase-file")
        .arg(&pass)
        .output()
        .unwrap());
    let (_fresh, restored_server, restored) = restore_and_start(&file, &pass);
    let mut tls = restored_server.connect(&creds_for(&creds, &restored));
    for id in &acked_before_export {
        assert_eq!(
            get(&mut tls, id).len(),
            32,
            "{id} acknowledged before the export"
        );
    }
    // Nothing half-applied: every object in the backup is whole (material included).
    let line = verify
        .lines()
        .find(|l| l.starts_with("objects: "))
        .expect("objects line");
    let count: usize = line["objects: ".len()..]
        .split(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        line.contains(&format!("({count} with key material)")),
        "{line}"
    );
    assert!(
        count >= acked_before_export.len() && count <= total_acked,
        "{line}"
    );
}

#[test]
fn scheduled_backups_are_written_rotated_and_reported_by_status() {
    let mut appliance = Appliance::new(&["alice"]);
    appliance.set_log_filter("info");
    let work = appliance.root.path().to_path_buf();
    let pass = passphrase_file(&work, PASSPHRASE);
    let dir = work.join("backups");
    appliance.set_config(&format!(
        "[backup]\ndir = \"{}\"\ninterval = \"1s\"\nkeep = 2\npassphrase_file = \"{}\"\n\
         test_only_weak_kdf = true\n",
        dir.display(),
        pass.display()
    ));
    let server = appliance.start();
    let mut tls = server.connect(appliance.creds("alice"));
    let id = create(&mut tls);
    let material = get(&mut tls, &id);
    let deadline = Instant::now() + IO_BOUND;
    while server.log().matches("scheduled backup written").count() < 3 {
        assert!(
            Instant::now() < deadline,
            "no rotation; log:\n{}",
            server.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "kwbackup"))
        .collect();
    assert_eq!(files.len(), 2, "{files:?}");
    let status = ok(keyward(&["status"], &[("--data-dir", &appliance.data_dir)]));
    assert!(status.contains("last backup:"), "{status}");
    assert!(!status.contains("last backup:      never"), "{status}");

    // Stop the schedule from catching up, then change a key: status warns.
    drop(tls);
    drop(server);
    appliance.set_config("");
    let server = appliance.start();
    let mut tls = server.connect(appliance.creds("alice"));
    create(&mut tls);
    let status = ok(keyward(&["status"], &[("--data-dir", &appliance.data_dir)]));
    assert!(
        status.contains("keys were created or changed after the newest backup"),
        "{status}"
    );

    let newest = files.iter().max().unwrap();
    let (_fresh, restored_server, restored) = restore_and_start(newest, &pass);
    let mut tls = restored_server.connect(&creds_for(appliance.creds("alice"), &restored));
    assert_eq!(get(&mut tls, &id), material);
}
