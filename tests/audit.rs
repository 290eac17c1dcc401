//! The audit log against a real server and real redb files: what a vCenter-like session
//! records, tampering found by `keyward audit verify`, a forced audit-write failure, pruning,
//! and that no key material ever reaches a record.

mod common;

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use common::*;
use keyward::kmip::tag;
use keyward::store::{IndexTerm, ReadView, Store, StoreError, StoredObject, WriteTxn, WriteView};
use keyward::ttlv::{Item, Value};
use redb::{ReadableDatabase, ReadableTable, TableDefinition};
use serde_json::Value as Json;

const AUDIT: TableDefinition<u64, &[u8]> = TableDefinition::new("audit");

fn find(item: &Item, wanted: u32) -> Option<&Item> {
    if item.tag == wanted {
        return Some(item);
    }
    item.children().iter().find_map(|c| find(c, wanted))
}

fn created_uid(bi: &Item) -> String {
    assert_eq!(result_status(bi), status::SUCCESS, "create failed: {bi:?}");
    text_of(find(bi, tag::UNIQUE_IDENTIFIER).expect("uid")).to_string()
}

/// Runs `keyward ARGS` on `data_dir`: whether it succeeded, and stdout then stderr.
fn keyward_said(data_dir: &Path, args: &[&str]) -> (bool, String) {
    let out = keyward(data_dir, args);
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let stderr = String::from_utf8_lossy(&out.stderr);
    (out.status.success(), format!("{stdout}{stderr}"))
}

fn export(data_dir: &Path) -> Vec<Json> {
    let (ok, out) = keyward_said(data_dir, &["audit", "export", "--format", "jsonl"]);
    assert!(ok, "export failed: {out}");
    out.lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).expect("jsonl line"))
        .collect()
}

/// A vCenter-like session: Discover Versions, Create, Add Attribute, Get, Get Attributes, a
/// failing Get. Returns the created UID and the key bytes.
fn session(server: &Server, creds: &ClientCreds) -> (String, Vec<u8>) {
    let mut tls = server.connect(creds);
    let dv = tls.call(V1_1, op::DISCOVER_VERSIONS, vec![]);
    assert_eq!(result_status(&dv), status::SUCCESS);
    let uid = created_uid(&tls.call(V1_1, op::CREATE, create_aes_payload(256, 12, vec![])));
    let add = tls.call(
        V1_1,
        op::ADD_ATTRIBUTE,
        vec![
            common::uid(&uid),
            attribute("x-vcenter-key", Value::TextString("abc".into())),
        ],
    );
    assert_eq!(result_status(&add), status::SUCCESS, "{add:?}");
    let get = tls.call(V1_1, op::GET, vec![common::uid(&uid)]);
    assert_eq!(result_status(&get), status::SUCCESS);
    let key = bytes_of(find(&get, tag::KEY_MATERIAL).expect("key material")).to_vec();
    let ga = tls.call(V1_1, op::GET_ATTRIBUTES, vec![common::uid(&uid)]);
    assert_eq!(result_status(&ga), status::SUCCESS);
    let missing = tls.call(V1_1, op::GET, vec![common::uid("no-such-uid")]);
    assert_eq!(result_status(&missing), status::OPERATION_FAILED);
    (uid, key)
}

fn ops_of(records: &[Json]) -> Vec<String> {
    records
        .iter()
        .map(|r| r["record"]["operation"].as_str().unwrap_or("").to_string())
        .collect()
}

#[test]
fn a_session_is_recorded_item_by_item_with_who_what_and_how_it_ended() {
    let mut appliance = Appliance::new(&["vc"]);
    let mut server = appliance.start();
    let (uid, _) = session(&server, appliance.creds("vc"));
    // Reads are recorded before they are answered: the running server already has them.
    let (ok, out) = keyward_said(
        &appliance.data_dir,
        &["audit", "show", "--json", "--uid", &uid],
    );
    assert!(ok, "{out}");
    let live: Vec<Json> = out
        .lines()
        .map(|l| serde_json::from_str(l).expect("json"))
        .collect();
    assert_eq!(
        ops_of(&live),
        ["Create", "AddAttribute", "Get", "GetAttributes"]
    );
    for record in &live {
        let actor = &record["record"]["actor"];
        assert_eq!(actor["kind"], "client");
        assert_eq!(actor["owner"], "cn:vc");
        assert!(actor["peer"].as_str().unwrap().starts_with("127.0.0.1:"));
        assert_eq!(record["record"]["outcome"], "success");
    }
    let (ok, out) = keyward_said(
        &appliance.data_dir,
        &["audit", "show", "--json", "--failed"],
    );
    assert!(ok, "{out}");
    let failed: Vec<Json> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(ops_of(&failed), ["Get"]);
    assert_eq!(failed[0]["record"]["reason"], "ItemNotFound");
    assert_eq!(failed[0]["record"]["uids"][0], "no-such-uid");
    let (ok, out) = keyward_said(&appliance.data_dir, &["audit", "verify"]);
    assert!(ok && out.contains("intact"), "{out}");
    server.terminate();
    assert!(
        server.log().contains("audit chain head: seq"),
        "no chain head logged at shutdown"
    );

    // Offline, the same records, and the whole session in order.
    let all = export(&appliance.data_dir);
    let ops = ops_of(&all);
    let start = ops.iter().position(|o| o == "DiscoverVersions").unwrap();
    assert_eq!(
        &ops[start..start + 6],
        [
            "DiscoverVersions",
            "Create",
            "AddAttribute",
            "Get",
            "GetAttributes",
            "Get"
        ]
    );
    assert_eq!(ops[0], "root.unwrap");
    let seqs: Vec<u64> = all
        .iter()
        .map(|r| r["record"]["seq"].as_u64().unwrap())
        .collect();
    assert_eq!(seqs, (1..=seqs.len() as u64).collect::<Vec<_>>());
}

/// Rewrites the audit table of a stopped server's database.
fn edit_audit(data_dir: &Path, edit: impl FnOnce(&mut redb::Table<u64, &[u8]>)) {
    let db = redb::Database::open(data_dir.join("keyward.redb")).expect("open redb");
    let txn = db.begin_write().unwrap();
    {
        let mut table = txn.open_table(AUDIT).unwrap();
        edit(&mut table);
    }
    txn.commit().unwrap();
}

fn read_audit(data_dir: &Path) -> Vec<(u64, Vec<u8>)> {
    let db = redb::Database::open(data_dir.join("keyward.redb")).expect("open redb");
    let txn = db.begin_read().unwrap();
    let table = txn.open_table(AUDIT).unwrap();
    table
        .iter()
        .unwrap()
        .map(|e| {
            let (k, v) = e.unwrap();
            (k.value(), v.value().to_vec())
        })
        .collect()
}

fn broken_at(data_dir: &Path) -> Option<u64> {
    let (ok, out) = keyward_said(data_dir, &["audit", "verify", "--json"]);
    let line = out
        .lines()
        .find(|l| l.starts_with('{'))
        .unwrap_or_else(|| panic!("{out}"));
    let v: Json = serde_json::from_str(line).unwrap();
    assert_eq!(ok, v["broken"].is_null(), "exit status disagrees with {v}");
    v["broken"]["seq"].as_u64()
}

#[test]
fn changed_removed_and_swapped_records_are_found_by_verify() {
    let mut appliance = Appliance::new(&["vc"]);
    let mut server = appliance.start();
    session(&server, appliance.creds("vc"));
    server.terminate();
    let dir = appliance.data_dir.clone();
    let original = read_audit(&dir);
    assert!(original.len() >= 8, "{} records", original.len());
    assert_eq!(broken_at(&dir), None);
    let restore = |dir: &Path| {
        edit_audit(dir, |t| {
            t.retain(|_, _| false).unwrap();
            for (k, v) in &original {
                t.insert(*k, v.as_slice()).unwrap();
            }
        })
    };

    // Changed: a failed Get turned into a success.
    let (seq, bytes) = original[original.len() - 1].clone();
    let text = String::from_utf8(bytes).unwrap();
    assert!(text.contains("\"outcome\":\"failure\""), "{text}");
    let forged = text.replace("\"outcome\":\"failure\"", "\"outcome\":\"success\"");
    edit_audit(&dir, |t| {
        t.insert(seq, forged.as_bytes()).unwrap();
    });
    assert_eq!(broken_at(&dir), Some(seq));
    restore(&dir);
    assert_eq!(broken_at(&dir), None);

    // Removed: record 4 deleted.
    edit_audit(&dir, |t| {
        t.remove(4).unwrap();
    });
    assert_eq!(broken_at(&dir), Some(5));
    restore(&dir);

    // Swapped: the values of records 4 and 5 exchanged.
    edit_audit(&dir, |t| {
        t.insert(4, original[4].1.as_slice()).unwrap();
        t.insert(5, original[3].1.as_slice()).unwrap();
    });
    assert_eq!(broken_at(&dir), Some(4));
    restore(&dir);

    // Renumbered: record 5 moved into 4's place with its seq rewritten (inserted/reordered).
    let five = String::from_utf8(original[4].1.clone()).unwrap();
    let renumbered = five.replacen("\"seq\":5", "\"seq\":4", 1);
    edit_audit(&dir, |t| {
        t.remove(5).unwrap();
        t.insert(4, renumbered.as_bytes()).unwrap();
    });
    assert_eq!(broken_at(&dir), Some(4));
}

#[test]
fn pruning_keeps_the_chain_verifiable_from_the_oldest_kept_record() {
    let mut appliance = Appliance::new(&["vc"]);
    let mut server = appliance.start();
    session(&server, appliance.creds("vc"));
    server.terminate();
    let before = read_audit(&appliance.data_dir).len() as u64;
    appliance.set_config("[audit]\nretain_days = 0\n");
    let mut server = appliance.start();
    server.terminate();
    let after = read_audit(&appliance.data_dir);
    // Everything before the new start-up record went; a checkpoint replaced the newest of it.
    assert_eq!(after.len(), 2, "{after:?}");
    let first: Json = serde_json::from_slice(&after[0].1).unwrap();
    assert_eq!(first["record"]["operation"], "audit.checkpoint");
    assert_eq!(after[0].0, before);
    assert_eq!(broken_at(&appliance.data_dir), None);
    // The checkpoint is MACed like any record.
    let forged = String::from_utf8(after[0].1.clone())
        .unwrap()
        .replace("pruned", "kept");
    edit_audit(&appliance.data_dir, |t| {
        t.insert(after[0].0, forged.as_bytes()).unwrap();
    });
    assert_eq!(broken_at(&appliance.data_dir), Some(after[0].0));
}

#[test]
fn no_record_holds_key_material() {
    let mut appliance = Appliance::new(&["vc"]);
    let mut server = appliance.start();
    let mut keys = Vec::new();
    for _ in 0..3 {
        keys.push(session(&server, appliance.creds("vc")).1);
    }
    server.terminate();
    let raw: Vec<u8> = read_audit(&appliance.data_dir)
        .into_iter()
        .flat_map(|(_, v)| v)
        .collect();
    let exported = serde_json::to_string(&export(&appliance.data_dir)).unwrap();
    assert!(raw.len() > 1000);
    for key in &keys {
        assert_eq!(key.len(), 32);
        let hex_lower = hex::encode(key);
        let hex_upper = hex_lower.to_uppercase();
        for haystack in [&raw[..], exported.as_bytes()] {
            assert!(!haystack.windows(32).any(|w| w == &key[..]));
            assert!(
                !haystack.windows(8).any(|w| w == &key[..8]),
                "key prefix in a record"
            );
            let text = String::from_utf8_lossy(haystack);
            assert!(!text.contains(&hex_lower) && !text.contains(&hex_upper));
            assert!(!text.contains(&hex_lower[..16]));
        }
    }
}

// ---- forced audit-write failure --------------------------------------------------------------

/// The real redb store with one switch: while `fail` is set, audit writes fail. Only this test
/// uses it; everything else about the store is the real file.
struct FailingAudit {
    inner: Arc<dyn Store>,
    fail: Arc<AtomicBool>,
}

struct FailingTxn<'a> {
    inner: Box<dyn WriteTxn + 'a>,
    fail: Arc<AtomicBool>,
}

impl ReadView for FailingTxn<'_> {
    fn get(&self, uid: &str) -> Result<Option<StoredObject>, StoreError> {
        self.inner.get(uid)
    }
    fn find(&self, owner: &str, term: Option<&IndexTerm>) -> Result<Vec<String>, StoreError> {
        self.inner.find(owner, term)
    }
    fn get_meta(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.inner.get_meta(key)
    }
    fn audit_last(&self) -> Result<Option<(u64, Vec<u8>)>, StoreError> {
        self.inner.audit_last()
    }
    fn audit_range(&self, from: u64, limit: usize) -> Result<Vec<(u64, Vec<u8>)>, StoreError> {
        self.inner.audit_range(from, limit)
    }
    fn change_sequence(&self) -> Result<Option<u64>, StoreError> {
        self.inner.change_sequence()
    }
    fn objects_changed_since(&self, sequence: u64) -> Result<Option<u64>, StoreError> {
        self.inner.objects_changed_since(sequence)
    }
    fn scan_objects(&self, visit: &mut dyn FnMut(StoredObject) -> bool) -> Result<(), StoreError> {
        self.inner.scan_objects(visit)
    }
    fn scan_meta(&self, visit: &mut dyn FnMut(&str, &[u8]) -> bool) -> Result<(), StoreError> {
        self.inner.scan_meta(visit)
    }
}

impl WriteView for FailingTxn<'_> {
    fn put(&mut self, object: &StoredObject) -> Result<(), StoreError> {
        self.inner.put(object)
    }
    fn put_meta(&mut self, key: &str, value: &[u8]) -> Result<(), StoreError> {
        self.inner.put_meta(key, value)
    }
    fn audit_put(&mut self, seq: u64, record: &[u8]) -> Result<(), StoreError> {
        if self.fail.load(Ordering::SeqCst) {
            return Err(StoreError::Io("injected audit write failure".into()));
        }
        self.inner.audit_put(seq, record)
    }
    fn audit_delete_before(&mut self, seq: u64) -> Result<u64, StoreError> {
        self.inner.audit_delete_before(seq)
    }
}

impl WriteTxn for FailingTxn<'_> {
    fn commit(self: Box<Self>) -> Result<(), StoreError> {
        self.inner.commit()
    }
}

impl Store for FailingAudit {
    fn read(&self) -> Result<Box<dyn ReadView + '_>, StoreError> {
        self.inner.read()
    }
    fn write(&self) -> Result<Box<dyn WriteTxn + '_>, StoreError> {
        Ok(Box::new(FailingTxn {
            inner: self.inner.write()?,
            fail: self.fail.clone(),
        }))
    }
    fn failure(&self) -> Option<String> {
        self.inner.failure()
    }
    fn space_low(&self) -> bool {
        self.inner.space_low()
    }
    fn audit_only_write(&self) -> Result<Option<Box<dyn WriteTxn + '_>>, StoreError> {
        self.inner.audit_only_write()
    }
    fn shared_write(&self) -> Result<Option<Box<dyn WriteTxn + '_>>, StoreError> {
        self.inner.shared_write()
    }
    fn replicated(&self) -> bool {
        self.inner.replicated()
    }
}

#[test]
fn a_failed_audit_write_fails_the_operation_and_changes_nothing() {
    let files = Appliance::new(&["vc"]);
    // Reads commit their records like changes here (with the read journal, the default, a
    // read is answered once its record is in the journal; `tests/read_journal.rs`).
    let config = keyward::config::Config {
        data_dir: files.data_dir.clone(),
        audit: keyward::audit::settings::AuditSettings {
            durable_reads: true,
            ..Default::default()
        },
        ..Default::default()
    };
    let appliance = keyward::appliance::setup::Appliance::open(config.clone()).unwrap();
    let fail = Arc::new(AtomicBool::new(true));
    let mut services = appliance.services().unwrap();
    services.store = Arc::new(FailingAudit {
        inner: appliance.store.clone(),
        fail: fail.clone(),
    });
    let mut options = keyward::server::ServerOptions::from_settings(&config.server);
    options.listen = "127.0.0.1:0".parse().unwrap();
    let server = keyward::server::Server::bind(options, services).unwrap();
    let addr = server.local_addr();
    let shutdown = server.shutdown_handle();
    let thread = std::thread::spawn(move || server.run());
    let records_before = appliance.store.read().unwrap().audit_last().unwrap();

    let mut tls = Tls::connect(addr, files.creds("vc")).unwrap();
    let create = tls.call(V1_1, op::CREATE, create_aes_payload(256, 12, vec![]));
    assert_eq!(
        result_status(&create),
        status::OPERATION_FAILED,
        "{create:?}"
    );
    // A read is refused too: nothing is answered without its record.
    let dv = tls.call(V1_1, op::DISCOVER_VERSIONS, vec![]);
    assert_eq!(result_status(&dv), status::OPERATION_FAILED, "{dv:?}");
    {
        let view = appliance.store.read().unwrap();
        assert_eq!(view.find("cn:vc", None).unwrap(), Vec::<String>::new());
        assert_eq!(view.audit_last().unwrap(), records_before);
    }

    fail.store(false, Ordering::SeqCst);
    let uid = created_uid(&tls.call(V1_1, op::CREATE, create_aes_payload(256, 12, vec![])));
    {
        let view = appliance.store.read().unwrap();
        assert_eq!(view.find("cn:vc", None).unwrap(), vec![uid.clone()]);
        let (_, last) = view.audit_last().unwrap().unwrap();
        let last: Json = serde_json::from_slice(&last).unwrap();
        assert_eq!(last["record"]["operation"], "Create");
        assert_eq!(last["record"]["uids"][0], uid.as_str());
    }
    drop(tls);
    shutdown.shutdown();
    thread.join().unwrap().unwrap();
}

/// Admin key actions, a backup and a restore each leave a record naming the Unix user who ran
/// them; the restored appliance's own log starts with the restore.
#[test]
fn admin_key_actions_backups_and_restores_are_recorded() {
    let mut appliance = Appliance::new(&["vc"]);
    let server = appliance.start();
    let creds = appliance.creds("vc");
    let (uid, _key) = session(&server, creds);

    let (ok, out) = keyward_said(
        &appliance.data_dir,
        &["key", "revoke", &uid, "--reason", "key-compromise"],
    );
    assert!(ok, "revoke: {out}");
    let (ok, out) = keyward_said(&appliance.data_dir, &["key", "destroy", &uid, "--yes"]);
    assert!(ok, "destroy: {out}");

    let work = appliance.root.path().to_path_buf();
    let pass = work.join("backup.pass");
    std::fs::write(&pass, "correct horse battery staple 42\n").unwrap();
    let file = work.join("audit-test.kwbackup");
    let (ok, out) = keyward_said(
        &appliance.data_dir,
        &[
            "backup",
            "export",
            "--test-only-weak-kdf",
            "--with-audit",
            "--out",
            file.to_str().unwrap(),
            "--passphrase-file",
            pass.to_str().unwrap(),
        ],
    );
    assert!(ok, "backup export: {out}");

    let records = export(&appliance.data_dir);
    let ops = ops_of(&records);
    for wanted in ["key.revoke", "key.destroy", "backup.export"] {
        let record = records
            .iter()
            .find(|r| r["record"]["operation"] == wanted)
            .unwrap_or_else(|| panic!("no {wanted} record in {ops:?}"));
        let actor = record["record"]["actor"].to_string();
        assert!(
            actor.contains("uid"),
            "{wanted} must name the Unix user: {actor}"
        );
        assert!(
            record["record"]["uids"].to_string().contains(&uid) || wanted == "backup.export",
            "{wanted} must name the key: {record}"
        );
    }
    let (ok, out) = keyward_said(&appliance.data_dir, &["audit", "verify"]);
    assert!(ok && out.contains("intact"), "{out}");
    drop(server);

    let restored = work.join("restored");
    let out = Command::new(keyward_bin())
        .args(["restore", "--root", "local", "--from"])
        .arg(&file)
        .arg("--data-dir")
        .arg(&restored)
        .arg("--passphrase-file")
        .arg(&pass)
        .output()
        .expect("run keyward restore");
    assert!(
        out.status.success(),
        "restore: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let restored_ops = ops_of(&export(&restored));
    assert!(
        restored_ops.iter().any(|o| o == "restore"),
        "the restored appliance's log must record the restore: {restored_ops:?}"
    );
    let (ok, out) = keyward_said(&restored, &["audit", "verify"]);
    assert!(ok && out.contains("intact"), "{out}");
}

/// An admin action taken while the server is stopped is recorded too: stored pending (the CLI
/// does not unwrap the master key) and chained when the appliance next starts.
#[test]
fn offline_admin_actions_are_recorded_and_chained_at_the_next_start() {
    let mut appliance = Appliance::new(&["vc"]);
    let out_dir = appliance.root.path().join("issued");
    let (ok, out) = keyward_said(
        &appliance.data_dir,
        &[
            "client",
            "issue",
            "--name",
            "offline-vc",
            "--out",
            out_dir.to_str().unwrap(),
        ],
    );
    assert!(ok, "client issue: {out}");
    let server = appliance.start();
    drop(server);

    let records = export(&appliance.data_dir);
    let added = records
        .iter()
        .find(|r| {
            r["record"]["operation"] == "client.add"
                && r["record"]["uids"].to_string().contains("offline-vc")
        })
        .unwrap_or_else(|| panic!("no client.add record: {:?}", ops_of(&records)));
    assert!(
        added["record"]["actor"].to_string().contains("uid"),
        "{added}"
    );
    assert!(
        !added["mac"].as_str().unwrap_or("").is_empty(),
        "chained at start: {added}"
    );
    let (ok, out) = keyward_said(&appliance.data_dir, &["audit", "verify"]);
    assert!(ok && out.contains("intact"), "{out}");
}
