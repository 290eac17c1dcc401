//! Disk faults seen by a running server.
//!
//! A full disk: the data directory lives on a small tmpfs mounted by the test (root only; the
//! test says why it skips otherwise). Once a filler file takes the remaining space, mutating
//! requests fail with General Failure and a message saying the disk is full, the log says so,
//! reads keep working and are still audited (on the store's disk reserve), and after the filler
//! is deleted Creates succeed again without a restart. Nothing acknowledged before, during or
//! after is lost across a restart, and the audit chain holds the refusals and the reads.

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;
use keyward::kmip::tag;

const TMPFS_SIZE: &str = "size=24m";
/// Small enough that twice of it is free again once the filler is gone.
const RESERVE: &str = "[store]\ndisk_reserve_mib = 2\n\n[http]\nlisten = \"127.0.0.1:0\"\n";

/// Upper bound on Creates tried while the disk is full, before one must have failed.
const CREATES_WHILE_FULL: usize = 200;

/// Gets with no space left at all: their records (about 300 bytes each) need more than what
/// is left of the read journal's last page.
const GETS_WHILE_FULL: usize = 200;

/// A tmpfs mounted for one test, unmounted on drop.
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    fn mount() -> Result<Tmpfs, String> {
        // SAFETY: geteuid has no preconditions and touches no memory.
        if unsafe { libc::geteuid() } != 0 {
            return Err("not running as root, so no tmpfs can be mounted".into());
        }
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", TMPFS_SIZE, "keyward-disk-full"])
            .arg(dir.path())
            .output()
            .map_err(|e| format!("cannot run mount: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "mount -t tmpfs failed (a container without CAP_SYS_ADMIN?): {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        Ok(Tmpfs { dir })
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.dir.path()).status();
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("create dir");
    for entry in std::fs::read_dir(from).expect("read dir") {
        let entry = entry.expect("dir entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("file type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy file");
            let mode = entry.metadata().expect("metadata").permissions();
            std::fs::set_permissions(&target, mode).expect("chmod");
        }
    }
}

/// Writes zeros into `path` until the file system refuses (ENOSPC).
fn fill(path: &PathBuf) {
    let mut file = std::fs::File::create(path).expect("create filler");
    let chunk = vec![0u8; 64 * 1024];
    loop {
        if file.write_all(&chunk).is_err() {
            break;
        }
    }
    // The last partial chunk may leave a few bytes: take them one by one.
    while file.write_all(&[0]).is_ok() {}
    let _ = file.sync_all();
}

fn try_create(tls: &mut Tls) -> Item {
    tls.call(V1_1, op::CREATE, create_aes_payload(256, 12, vec![]))
}

use keyward::ttlv::Item;

#[test]
fn full_disk_refuses_changes_clearly_keeps_reads_and_recovers_without_restart() {
    let tmpfs = match Tmpfs::mount() {
        Ok(t) => t,
        Err(reason) => {
            eprintln!("SKIPPED full_disk test: {reason}");
            return;
        }
    };
    let mut appliance = Appliance::new(&["vc"]);
    appliance.set_log_filter("info");
    appliance.set_config(RESERVE);
    let data_on_tmpfs = tmpfs.path().join("data");
    copy_dir(&appliance.data_dir, &data_on_tmpfs);
    appliance.data_dir = data_on_tmpfs;
    let creds = appliance.creds("vc").clone();
    let server = appliance.start();
    let mut tls = server.connect(&creds);

    let mut acked = Vec::new();
    for _ in 0..5 {
        let id = create_aes(&mut tls, 256, vec![]);
        let material = get_key(&mut tls, &id);
        acked.push((id, material));
    }

    let filler = tmpfs.path().join("filler");
    fill(&filler);

    let mut refused = None;
    for _ in 0..CREATES_WHILE_FULL {
        let bi = try_create(&mut tls);
        if result_status(&bi) == status::SUCCESS {
            let payload = success_payload(&bi);
            let id = text_of(payload.child(tag::UNIQUE_IDENTIFIER).expect("UID")).to_string();
            acked.push((id, Vec::new()));
            continue;
        }
        refused = Some(bi);
        break;
    }
    let refused = refused.unwrap_or_else(|| {
        panic!(
            "{CREATES_WHILE_FULL} Creates succeeded on a full disk; log:\n{}",
            server.log()
        )
    });
    assert_eq!(result_reason(&refused), Some(GENERAL_FAILURE));
    let message = text_of(refused.child(tag::RESULT_MESSAGE).expect("Result Message"));
    assert!(
        message.contains("disk is full"),
        "Result Message does not say the disk is full: {message:?}"
    );
    assert!(
        server.log().contains("disk is full"),
        "no log line about the full disk:\n{}",
        server.log()
    );

    // Reads keep working while the disk is full, and changes stay refused.
    let listed = locate_all(&mut tls);
    for (id, material) in &acked {
        assert!(
            listed.contains(id),
            "{id} missing from Locate on a full disk"
        );
        assert_eq!(state_of(&mut tls, id), STATE_PRE_ACTIVE);
        if !material.is_empty() {
            assert!(&get_key(&mut tls, id) == material, "{id}: material changed");
        }
    }
    assert_eq!(
        result_reason(&try_create(&mut tls)),
        Some(GENERAL_FAILURE),
        "a Create succeeded while the disk is still full; log:\n{}",
        server.log()
    );
    // The reserve's space taken too: once the read journal needs a page the disk refuses,
    // reads go to the committer, which cannot record them either. A read must then fail
    // rather than be answered without its record: every Get answered is in the audit log
    // (counted below), the others are refused with General Failure.
    let (known, known_material) = &acked[0];
    let filler2 = tmpfs.path().join("filler2");
    fill(&filler2);
    let mut answered_while_full = 0;
    for _ in 0..GETS_WHILE_FULL {
        let bi = tls.call(V1_1, op::GET, vec![uid(known)]);
        if result_status(&bi) == status::SUCCESS {
            assert!(
                &key_material(&success_payload(&bi)) == known_material,
                "material changed"
            );
            answered_while_full += 1;
        } else {
            assert_eq!(result_reason(&bi), Some(GENERAL_FAILURE));
        }
    }
    std::fs::remove_file(&filler2).expect("remove the second filler");
    assert!(
        answered_while_full < GETS_WHILE_FULL
            && server
                .log()
                .contains("reads are recorded through the committer"),
        "{GETS_WHILE_FULL} reads with no space left never failed a journal write; log:\n{}",
        server.log()
    );
    let (code, body) = server.healthz();
    assert!(
        code == 503 && body.contains("disk_full"),
        "/healthz on a full disk: {code} {body}"
    );
    assert!(
        server.log().contains("released the 2 MiB reserve"),
        "no log line about the reserve:\n{}",
        server.log()
    );

    // Space comes back: the same server accepts changes again.
    std::fs::remove_file(&filler).expect("remove filler");
    let after = create_aes(&mut tls, 256, vec![]);
    let after_material = get_key(&mut tls, &after);
    assert_eq!(after_material.len(), 32);
    for (id, material) in &acked {
        let now = get_key(&mut tls, id);
        if !material.is_empty() {
            assert!(&now == material, "{id}: material changed");
        }
    }
    let (code, body) = server.healthz();
    assert_eq!(code, 200, "/healthz after space returned: {body}");
    assert!(
        server.log().contains("reopened after a full disk")
            && server.log().contains("changes are accepted"),
        "no log line about the recovery:\n{}",
        server.log()
    );
    drop(tls);
    drop(server);

    // The refusals and the reads on the full disk are in the audit log, and it verifies.
    let audit = |args: &[&str]| {
        let out = Command::new(keyward_bin())
            .args(args)
            .arg("--data-dir")
            .arg(&appliance.data_dir)
            .output()
            .expect("run keyward audit");
        assert!(out.status.success(), "keyward {args:?} failed: {out:?}");
        String::from_utf8_lossy(&out.stdout).to_string()
    };
    let failed = audit(&["audit", "show", "--json", "--failed", "--op", "Create"]);
    assert!(
        failed.lines().count() >= 2,
        "the refused Creates are not in the audit log:\n{failed}"
    );
    // Gets answered: 5 after the Creates, 5 in the reads on the full disk, those with no
    // space left, 1 + 5 after the space came back.
    let answered_gets = 16 + answered_while_full;
    let gets = audit(&["audit", "show", "--json", "--op", "Get"]);
    assert!(
        gets.lines().count() >= answered_gets,
        "{} Get records in the audit log, fewer than the {answered_gets} Gets answered",
        gets.lines().count()
    );
    let locates = audit(&["audit", "show", "--json", "--op", "Locate"]);
    assert!(
        !locates.trim().is_empty(),
        "the Locate on the full disk is not in the audit log"
    );
    assert!(audit(&["audit", "verify"]).contains("intact"));

    // And nothing acknowledged is lost across a restart.
    let server = appliance.start();
    let mut tls = server.connect(&creds);
    for (id, _) in acked.iter().chain([(after.clone(), after_material)].iter()) {
        assert_eq!(get_key(&mut tls, id).len(), 32, "{id} lost after restart");
    }
}

const GENERAL_FAILURE: u32 = 0x100;
