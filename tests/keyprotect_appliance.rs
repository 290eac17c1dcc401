//! The `keyward` binary with Key Protect as its root of trust, against the loopback emulator:
//! init, restart, rotation, revocation (disable, delete), outages, throttling, and moving the
//! master key between the local root and Key Protect.
//!
//! Short intervals come from the configuration file only (the settings an operator uses):
//! sync_interval 200ms, request_timeout 1s, max_attempts 3, retry_backoff 20ms,
//! retry_backoff_max 100ms, and max_unreachable 1s in its own test. Every wait is a bounded
//! poll (at most `WAIT`); no assertion depends on how long something took.

mod common;
use common::kp_emulator;
use common::one_item::{create_aes256, find, get, outcome, request};

use std::io::BufRead;
use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use keyward::admin::protocol::{self, Reply, Request, SOCKET_FILE};
use keyward::appliance::setup::DATABASE_FILE;
use keyward::client::{self, KmipClient};
use keyward::keyprotect::provider::stored_key_version;
use keyward::kmip::tag;
use keyward::pki::{self, IssuedClient};
use keyward::seal::{META_MASTER_KEY_PROVIDER, META_WRAPPED_MASTER_KEY};
use keyward::store::Store;
use keyward::store::redb::RedbStore;
use keyward::ttlv::{Item, Value};
use kp_emulator::{API_KEY, Emulator, INSTANCE_ID, Outage, ROOT_KEY_ID};

const BIN: &str = env!("CARGO_BIN_EXE_keyward");
/// Upper bound of every wait; the sync interval is 200ms, so this is dozens of intervals.
const WAIT: Duration = Duration::from_secs(20);
const OPERATION_FAILED: u32 = 1;

/// A data directory, a client certificate, and configuration files for both roots.
struct Site {
    _dir: tempfile::TempDir,
    data: PathBuf,
    kp_config: PathBuf,
    local_config: PathBuf,
    client: Option<IssuedClient>,
    out: PathBuf,
}

impl Site {
    fn new(emu: &Emulator) -> Site {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let api_key = dir.path().join("kp.apikey");
        std::fs::write(&api_key, format!("{API_KEY}\n")).unwrap();
        std::fs::set_permissions(&api_key, std::fs::Permissions::from_mode(0o600)).unwrap();
        let kp_config = dir.path().join("keyprotect.toml");
        std::fs::write(
            &kp_config,
            format!(
                r#"
[root]
provider = "keyprotect"

[keyprotect]
instance_id = "{INSTANCE_ID}"
root_key_id = "{ROOT_KEY_ID}"
endpoint = "{}"
iam_endpoint = "{}"
api_key_file = "{}"
sync_interval = "200ms"
request_timeout = "1s"
max_attempts = 3
retry_backoff = "20ms"
retry_backoff_max = "100ms"
"#,
                emu.base_url(),
                emu.iam_url(),
                api_key.display()
            ),
        )
        .unwrap();
        // The [keyprotect] table stays, so `root migrate --to local` can still open the
        // Key Protect wrap it moves away from.
        let local_config = dir.path().join("local.toml");
        let text = std::fs::read_to_string(&kp_config)
            .unwrap()
            .replace("provider = \"keyprotect\"", "provider = \"local\"");
        std::fs::write(&local_config, text).unwrap();
        let out = dir.path().join("client");
        Site {
            _dir: dir,
            data,
            kp_config,
            local_config,
            client: None,
            out,
        }
    }

    /// Trusts `ca_pem` for Key Protect and IAM (an HTTPS emulator's certificate).
    fn trust_ca(&self, ca_pem: &str) {
        let ca = self._dir.path().join("kp-ca.pem");
        std::fs::write(&ca, ca_pem).unwrap();
        // The [keyprotect] table is the file's last: a line appended lands in it.
        let mut text = std::fs::read_to_string(&self.kp_config).unwrap();
        text.push_str(&format!("ca_file = \"{}\"\n", ca.display()));
        std::fs::write(&self.kp_config, text).unwrap();
    }

    fn keyward(&self, args: &[&str], config: &Path) -> Output {
        Command::new(BIN)
            .args(args)
            .arg("--data-dir")
            .arg(&self.data)
            .arg("--config")
            .arg(config)
            .output()
            .unwrap()
    }

    fn init(&mut self, root: &str) {
        let config = if root == "keyprotect" {
            self.kp_config.clone()
        } else {
            self.local_config.clone()
        };
        let output = self.keyward(&["init", "--root", root], &config);
        assert!(output.status.success(), "{}", text(&output.stderr));
        assert!(text(&output.stdout).contains("appliance id: "));
        self.client = Some(pki::issue_client(&self.data, "vcenter", &self.out).unwrap());
    }

    fn serve(&self, config: &Path) -> Server {
        // Appended to, so the log covers every run of the test.
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.data.join("serve.log"))
            .unwrap();
        let mut child = Command::new(BIN)
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(&self.data)
            .arg("--config")
            .arg(config)
            .env("RUST_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .unwrap();
        let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
        let addr = loop {
            match lines.next() {
                Some(Ok(line)) => {
                    if let Some(addr) = line.strip_prefix("listening on ") {
                        break addr.parse::<SocketAddr>().unwrap();
                    }
                }
                _ => {
                    let status = child.wait().unwrap();
                    panic!(
                        "server exited ({status}) before listening: {}",
                        std::fs::read_to_string(self.data.join("serve.log")).unwrap()
                    );
                }
            }
        };
        Server {
            child: Some(child),
            addr,
            client: self.client.clone().expect("init issued a client"),
            data: self.data.clone(),
        }
    }

    /// (provider name, root key version of the stored wrap) read from the stopped store.
    fn stored_wrap(&self) -> (String, Option<String>) {
        let store = RedbStore::open(&self.data.join(DATABASE_FILE)).unwrap();
        let view = store.read().unwrap();
        let provider = view.get_meta(META_MASTER_KEY_PROVIDER).unwrap().unwrap();
        let blob = view.get_meta(META_WRAPPED_MASTER_KEY).unwrap().unwrap();
        (
            String::from_utf8(provider).unwrap(),
            stored_key_version(&blob).ok(),
        )
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

struct Server {
    child: Option<Child>,
    addr: SocketAddr,
    client: IssuedClient,
    data: PathBuf,
}

impl Server {
    fn roundtrip(&self, request: &[u8]) -> (u32, Item) {
        let tls =
            client::tls_config(&self.client.ca_cert, &self.client.cert, &self.client.key).unwrap();
        let mut connection = KmipClient::connect(
            &format!("localhost:{}", self.addr.port()),
            tls,
            Duration::from_secs(10),
        )
        .unwrap();
        let response = connection.roundtrip(request).unwrap();
        connection.close();
        outcome(&response)
    }

    fn create(&self) -> String {
        let (status, item) = self.roundtrip(&create_aes256());
        assert_eq!(status, 0, "create failed: {item:?}");
        match &find(&item, tag::UNIQUE_IDENTIFIER).unwrap().value {
            Value::TextString(uid) => uid.clone(),
            other => panic!("uid {other:?}"),
        }
    }

    fn get(&self, uid: &str) -> Result<Vec<u8>, String> {
        let (status, item) = self.roundtrip(&get(uid));
        if status != 0 {
            assert_eq!(status, OPERATION_FAILED, "{item:?}");
            return Err(result_message(&item));
        }
        match &find(&item, tag::KEY_MATERIAL).unwrap().value {
            Value::ByteString(bytes) => Ok(bytes.clone()),
            other => panic!("material {other:?}"),
        }
    }

    fn discover_versions_answers(&self) -> bool {
        let (status, item) = self.roundtrip(&request("DiscoverVersions", vec![]));
        status == 0 && find(&item, tag::PROTOCOL_VERSION).is_some()
    }

    /// The running server's own account, asked over its admin socket (`keyward status`).
    fn status(&self) -> ApplianceStatus {
        let socket = self.data.join(SOCKET_FILE);
        let stream = std::os::unix::net::UnixStream::connect(&socket).unwrap();
        match protocol::exchange(stream, &socket, &Request::Status).unwrap() {
            Reply::Status { status } => ApplianceStatus {
                provider: status.root_provider.unwrap_or_default(),
                sealed: status.root_state.as_deref() == Some("sealed"),
                sealed_reason: status.sealed_reason,
                unreachable_for_secs: status.keyprotect_unreachable_secs,
                last_error: status.keyprotect_last_error,
                last_success_unix: status.keyprotect_last_sync_unix,
                wrapped_key_version: status.wrapped_key_version,
            },
            other => panic!("unexpected reply {other:?}"),
        }
    }

    /// SIGTERM; the server must stop the sync thread and exit 0.
    fn stop(mut self) {
        let mut child = self.child.take().unwrap();
        // SAFETY: plain kill(2) on the child we spawned and have not waited for.
        assert_eq!(
            unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) },
            0
        );
        let status = child.wait().unwrap();
        assert_eq!(status.code(), Some(0), "SIGTERM ends the server cleanly");
        assert!(
            !self.data.join(SOCKET_FILE).exists(),
            "the admin socket is gone with the server"
        );
    }
}

/// The fields of the status the tests look at.
struct ApplianceStatus {
    provider: String,
    sealed: bool,
    sealed_reason: Option<String>,
    unreachable_for_secs: Option<u64>,
    last_error: Option<String>,
    last_success_unix: Option<u64>,
    wrapped_key_version: Option<String>,
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Polls `check` until it holds, at most `WAIT`.
fn wait_until(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + WAIT;
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn result_message(item: &Item) -> String {
    match item.child(tag::RESULT_MESSAGE).map(|m| &m.value) {
        Some(Value::TextString(text)) => text.clone(),
        other => panic!("no Result Message: {other:?}"),
    }
}

fn refused_as_sealed(result: Result<Vec<u8>, String>) -> bool {
    match result {
        Ok(_) => false,
        Err(message) => {
            assert!(message.contains("root key is unavailable"), "{message}");
            true
        }
    }
}

/// Lets the emulator's "once per hour" rotation and 30-second state rules pass at once.
fn after_an_hour(emu: &Emulator) {
    emu.advance_clock(Duration::from_secs(3601));
}

#[test]
fn init_restart_rotation_and_outage_keep_keys_served() {
    let emu = Emulator::start();
    let mut site = Site::new(&emu);
    site.init("keyprotect");
    let (provider, first_version) = site.stored_wrap();
    assert_eq!(provider, "keyprotect");
    assert_eq!(
        first_version.as_deref(),
        Some(emu.latest_version().as_str())
    );

    let server = site.serve(&site.kp_config);
    let uid = server.create();
    let material = server.get(&uid).unwrap();
    server.stop();

    // Restart: the master key is unwrapped by Key Protect again.
    let server = site.serve(&site.kp_config);
    assert_eq!(server.get(&uid).unwrap(), material);
    wait_until("the sync thread has polled", || {
        server.status().last_success_unix.is_some()
    });
    assert!(!server.status().sealed);

    // Rotation is noticed by the metadata poll and the wrap is replaced.
    after_an_hour(&emu);
    emu.rotate().unwrap();
    let rotated = emu.latest_version();
    assert_ne!(Some(rotated.clone()), first_version);
    wait_until("the rotated root key version is stored", || {
        server.status().wrapped_key_version.as_deref() == Some(rotated.as_str())
    });
    assert_eq!(server.get(&uid).unwrap(), material);
    // The hour that passed expired the server's IAM token; it was renewed, not fatal.
    let counters = emu.counters();
    assert!(counters.unauthorized >= 1, "{counters:?}");
    assert!(counters.token_requests >= 2, "{counters:?}");

    // Outage of many intervals: keys are still served, and the outage is visible.
    emu.set_outage(Outage::Refuse);
    wait_until("the outage shows in the status", || {
        server.status().unreachable_for_secs.is_some_and(|s| s >= 2)
    });
    assert_eq!(server.get(&uid).unwrap(), material);
    let created_during_outage = server.create();
    let status = site.keyward(&["status"], &site.kp_config);
    assert!(status.status.success(), "{}", text(&status.stderr));
    let printed = text(&status.stdout);
    assert!(printed.contains("UNREACHABLE"), "{printed}");
    assert!(printed.contains("unsealed"), "{printed}");
    emu.set_outage(Outage::None);
    wait_until("Key Protect is reachable again", || {
        server.status().unreachable_for_secs.is_none()
    });
    assert!(server.get(&created_during_outage).is_ok());
    server.stop();

    let (provider, stored_version) = site.stored_wrap();
    assert_eq!(provider, "keyprotect");
    assert_eq!(stored_version, Some(rotated));
}

#[test]
fn disable_enable_delete_seal_and_unseal_without_restart() {
    let emu = Emulator::start();
    let mut site = Site::new(&emu);
    site.init("keyprotect");
    let server = site.serve(&site.kp_config);
    let uid = server.create();
    let material = server.get(&uid).unwrap();

    after_an_hour(&emu);
    emu.disable().unwrap();
    wait_until("Get is refused after the root key is disabled", || {
        refused_as_sealed(server.get(&uid))
    });
    assert!(server.discover_versions_answers());
    let (status, item) = server.roundtrip(&create_aes256());
    assert_eq!(status, OPERATION_FAILED, "Create is refused while sealed");
    assert!(result_message(&item).contains("root key is unavailable"));
    // The engine is sealed first, then the status is rewritten.
    wait_until("the status shows the seal and names the revocation", || {
        let recorded = server.status();
        recorded.sealed
            && recorded
                .sealed_reason
                .unwrap_or_default()
                .contains("disabled")
    });
    let printed = text(&site.keyward(&["status"], &site.kp_config).stdout);
    assert!(printed.contains("SEALED"), "{printed}");

    after_an_hour(&emu);
    emu.enable().unwrap();
    wait_until("Get works again after the root key is enabled", || {
        server.get(&uid).is_ok()
    });
    assert_eq!(server.get(&uid).unwrap(), material);
    wait_until("the status shows the unseal", || !server.status().sealed);

    after_an_hour(&emu);
    emu.delete().unwrap();
    wait_until("Get is refused after the root key is deleted", || {
        refused_as_sealed(server.get(&uid))
    });
    assert!(server.discover_versions_answers());
    wait_until("the status shows the seal", || server.status().sealed);
    server.stop();

    // Starting while the root key is deleted: the server comes up sealed and answers what
    // needs no key material; restoring the key unseals it without a restart.
    let server = site.serve(&site.kp_config);
    assert!(server.status().sealed);
    assert!(refused_as_sealed(server.get(&uid)));
    assert!(server.discover_versions_answers());
    after_an_hour(&emu);
    emu.restore().unwrap();
    wait_until("the restored root key unseals the server", || {
        server.get(&uid).is_ok()
    });
    assert_eq!(server.get(&uid).unwrap(), material);
    server.stop();
    let log = std::fs::read_to_string(site.data.join("serve.log")).unwrap();
    assert!(log.contains("appliance SEALED"), "the seal is logged");
    assert!(log.contains("appliance UNSEALED"), "the unseal is logged");
    assert!(!log.contains(API_KEY), "the API key never reaches the log");

    // Each root-key event is in the audit log too, and the chain holds (offline: the CLI
    // unwraps the master key through the emulator itself).
    let exported = text(
        &site
            .keyward(&["audit", "export", "--format", "jsonl"], &site.kp_config)
            .stdout,
    );
    let ops: Vec<String> = exported
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .map(|r| r["record"]["operation"].as_str().unwrap_or("").to_string())
        .collect();
    for wanted in ["root.unwrap", "root.seal", "root.unseal"] {
        assert!(ops.iter().any(|o| o == wanted), "no {wanted} in {ops:?}");
    }
    let verified = text(&site.keyward(&["audit", "verify"], &site.kp_config).stdout);
    assert!(verified.contains("intact"), "{verified}");
    assert!(
        !exported.contains(API_KEY),
        "the API key never reaches the audit log"
    );
}

#[test]
fn throttling_storm_is_retried_and_recovered() {
    let emu = Emulator::start();
    let mut site = Site::new(&emu);
    site.init("keyprotect");
    let server = site.serve(&site.kp_config);
    let uid = server.create();
    let material = server.get(&uid).unwrap();
    wait_until("the sync thread has polled", || {
        server.status().last_success_unix.is_some()
    });

    // Enough 429s to exhaust several polls' retries.
    emu.fail_next(20, 429);
    wait_until("every injected 429 was answered", || {
        emu.counters().injected_failures >= 20
    });
    assert_eq!(
        server.get(&uid).unwrap(),
        material,
        "served through the storm"
    );
    wait_until("polls succeed again", || {
        let status = server.status();
        status.unreachable_for_secs.is_none() && status.last_error.is_none()
    });
    // Recovered for real: a rotation after the storm is still picked up.
    after_an_hour(&emu);
    emu.rotate().unwrap();
    let rotated = emu.latest_version();
    wait_until("the rotation after the storm is stored", || {
        server.status().wrapped_key_version.as_deref() == Some(rotated.as_str())
    });
    assert!(!server.status().sealed);
    assert_eq!(server.get(&uid).unwrap(), material);
    server.stop();
}

#[test]
fn root_migration_local_to_keyprotect_and_back_keeps_every_key() {
    let emu = Emulator::start();
    let mut site = Site::new(&emu);
    site.init("local");
    let server = site.serve(&site.local_config);
    let uids: Vec<String> = (0..3).map(|_| server.create()).collect();
    let materials: Vec<Vec<u8>> = uids.iter().map(|u| server.get(u).unwrap()).collect();
    server.stop();
    assert_eq!(site.stored_wrap().0, "local");

    let migrated = site.keyward(&["root", "migrate", "--to", "keyprotect"], &site.kp_config);
    assert!(migrated.status.success(), "{}", text(&migrated.stderr));
    assert!(text(&migrated.stdout).contains("provider = \"keyprotect\""));
    let (provider, version) = site.stored_wrap();
    assert_eq!(provider, "keyprotect");
    assert_eq!(version, Some(emu.latest_version()));

    // The old configuration no longer opens the store, and says what to do.
    let refused = site.keyward(&["init"], &site.local_config);
    assert!(!refused.status.success());
    assert!(
        text(&refused.stderr).contains("keyward root migrate"),
        "{}",
        text(&refused.stderr)
    );

    let server = site.serve(&site.kp_config);
    for (uid, material) in uids.iter().zip(&materials) {
        assert_eq!(&server.get(uid).unwrap(), material);
    }
    let made_under_keyprotect = server.create();
    let its_material = server.get(&made_under_keyprotect).unwrap();
    server.stop();

    let again = site.keyward(&["root", "migrate", "--to", "keyprotect"], &site.kp_config);
    assert!(
        !again.status.success(),
        "migrating to the current root is refused"
    );

    let back = site.keyward(&["root", "migrate", "--to", "local"], &site.local_config);
    assert!(back.status.success(), "{}", text(&back.stderr));
    assert_eq!(site.stored_wrap().0, "local");

    // Key Protect is no longer needed: even with it unreachable every key is served.
    emu.set_outage(Outage::Refuse);
    let server = site.serve(&site.local_config);
    for (uid, material) in uids.iter().zip(&materials) {
        assert_eq!(&server.get(uid).unwrap(), material);
    }
    assert_eq!(server.get(&made_under_keyprotect).unwrap(), its_material);
    assert_eq!(server.status().provider, "local");
    server.stop();
}

#[test]
fn max_unreachable_seals_a_long_outage_and_reachability_unseals() {
    let emu = Emulator::start();
    let mut site = Site::new(&emu);
    let mut config = std::fs::read_to_string(&site.kp_config).unwrap();
    config.push_str("max_unreachable = \"1s\"\n");
    std::fs::write(&site.kp_config, config).unwrap();
    site.init("keyprotect");
    let server = site.serve(&site.kp_config);
    let uid = server.create();
    let material = server.get(&uid).unwrap();

    emu.set_outage(Outage::Refuse);
    wait_until("the long outage seals the server", || {
        refused_as_sealed(server.get(&uid))
    });
    assert!(server.discover_versions_answers());
    wait_until("the status names the outage as the reason", || {
        server
            .status()
            .sealed_reason
            .is_some_and(|reason| reason.contains("unreachable"))
    });

    emu.set_outage(Outage::None);
    wait_until("Key Protect answering again unseals the server", || {
        server.get(&uid).is_ok()
    });
    assert_eq!(server.get(&uid).unwrap(), material);
    server.stop();
}

/// TLS errors on the way to Key Protect (something that does not speak TLS answers the
/// ClientHello): KMIP keeps being served, the sync thread reports Key Protect unreachable and
/// recovers by itself once TLS works again.
#[test]
fn tls_errors_never_block_kmip_and_the_sync_recovers() {
    let (emu, ca_pem) = Emulator::start_tls();
    let mut site = Site::new(&emu);
    site.trust_ca(&ca_pem);
    site.init("keyprotect");
    let server = site.serve(&site.kp_config);
    let uid = server.create();
    let material = server.get(&uid).unwrap();
    wait_until("the sync thread has polled over TLS", || {
        server.status().last_success_unix.is_some()
    });

    emu.set_outage(Outage::BadTls);
    wait_until("the sync notices the TLS errors", || {
        server.status().unreachable_for_secs.is_some()
    });
    for _ in 0..5 {
        assert_eq!(server.get(&uid).unwrap(), material, "during TLS errors");
        std::thread::sleep(Duration::from_millis(100));
    }
    let created = server.create();
    assert!(server.get(&created).is_ok(), "Create during TLS errors");
    assert!(
        emu.counters().dropped_or_hung > 0,
        "no connection met the TLS fault"
    );

    emu.set_outage(Outage::None);
    wait_until("recovery after the TLS errors", || {
        let status = server.status();
        status.unreachable_for_secs.is_none() && !status.sealed
    });
    assert_eq!(server.get(&uid).unwrap(), material, "after TLS errors");
    let log = std::fs::read_to_string(site.data.join("serve.log")).unwrap();
    assert!(
        log.to_lowercase().contains("tls"),
        "the log does not name the TLS failure:\n{log}"
    );
    assert!(!log.contains(API_KEY), "the API key reached the log");
}

/// Key Protect hangs (accepts, reads, never answers), drops connections, answers slowly, and
/// answers with malformed JSON, one after the other: KMIP Gets and Creates are served during
/// each fault (the sync thread never blocks the event loop), the server never panics, and the
/// sync recovers when the emulator is healthy again.
#[test]
fn network_faults_never_block_kmip_and_the_sync_recovers() {
    let emu = Emulator::start();
    let mut site = Site::new(&emu);
    site.init("keyprotect");
    let server = site.serve(&site.kp_config);
    let uid = server.create();
    let material = server.get(&uid).unwrap();
    wait_until("the sync thread has polled", || {
        server.status().last_success_unix.is_some()
    });

    for fault in [Outage::Hang, Outage::Drop, Outage::MalformedJson] {
        emu.set_outage(fault);
        wait_until(&format!("the sync notices {fault:?}"), || {
            server.status().unreachable_for_secs.is_some() || server.status().sealed
        });
        // Served while the sync thread is stuck in (or just failed) a request.
        for _ in 0..5 {
            assert_eq!(server.get(&uid).unwrap(), material, "during {fault:?}");
            std::thread::sleep(Duration::from_millis(100));
        }
        let created = server.create();
        assert!(server.get(&created).is_ok(), "during {fault:?}");
        emu.set_outage(Outage::None);
        wait_until(&format!("recovery after {fault:?}"), || {
            let status = server.status();
            status.unreachable_for_secs.is_none() && !status.sealed
        });
        assert_eq!(server.get(&uid).unwrap(), material, "after {fault:?}");
    }

    // Slow but within request_timeout (1 s): the polls succeed, KMIP is unaffected.
    emu.set_outage(Outage::SlowMillis(600));
    let before = server.status().last_success_unix;
    wait_until("a slow poll succeeds", || {
        server.status().last_success_unix > before
    });
    assert_eq!(server.get(&uid).unwrap(), material);
    assert!(server.status().unreachable_for_secs.is_none());
    // Slower than request_timeout: counted as an outage, then recovered.
    emu.set_outage(Outage::SlowMillis(3000));
    wait_until("a too slow Key Protect counts as unreachable", || {
        server.status().unreachable_for_secs.is_some()
    });
    assert_eq!(server.get(&uid).unwrap(), material);
    emu.set_outage(Outage::None);
    wait_until("recovery after slow answers", || {
        server.status().unreachable_for_secs.is_none()
    });
    server.stop();
}

/// A backup taken on an appliance with the local root restores under Key Protect: the new
/// master key is wrapped by the customer root key, and every key is served with the same
/// material; disabling the root key then seals the restored appliance like any other.
#[test]
fn a_backup_restores_under_the_keyprotect_root() {
    let emu = Emulator::start();
    let mut site = Site::new(&emu);
    site.init("local");
    let server = site.serve(&site.local_config);
    let uids: Vec<String> = (0..3).map(|_| server.create()).collect();
    let materials: Vec<Vec<u8>> = uids.iter().map(|u| server.get(u).unwrap()).collect();
    server.stop();

    let pass = site.out.with_file_name("backup.pass");
    std::fs::write(&pass, "correct horse battery staple 42\n").unwrap();
    let file = site.out.with_file_name("site.kwbackup");
    let exported = Command::new(BIN)
        .args(["backup", "export", "--test-only-weak-kdf", "--out"])
        .arg(&file)
        .arg("--passphrase-file")
        .arg(&pass)
        .arg("--data-dir")
        .arg(&site.data)
        .arg("--config")
        .arg(&site.local_config)
        .output()
        .unwrap();
    assert!(exported.status.success(), "{}", text(&exported.stderr));

    let restored = site.out.with_file_name("restored");
    let output = Command::new(BIN)
        .args(["restore", "--root", "keyprotect", "--from"])
        .arg(&file)
        .arg("--passphrase-file")
        .arg(&pass)
        .arg("--data-dir")
        .arg(&restored)
        .arg("--config")
        .arg(&site.kp_config)
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", text(&output.stderr));

    site.data = restored.clone();
    let (provider, version) = site.stored_wrap();
    assert_eq!(provider, "keyprotect");
    assert_eq!(version, Some(emu.latest_version()));
    // This site's client was trusted for its signature by the old appliance CA, which a
    // restore does not carry over (registered clients are); the new CA issues it again.
    let reissued = site.out.with_file_name("client-restored");
    site.client = Some(pki::issue_client(&restored, "vcenter", &reissued).unwrap());
    let server = site.serve(&site.kp_config);
    for (uid, material) in uids.iter().zip(&materials) {
        assert_eq!(
            &server.get(uid).unwrap(),
            material,
            "{uid} after the restore"
        );
    }
    after_an_hour(&emu);
    emu.disable().unwrap();
    wait_until(
        "the restored appliance seals when the root key is disabled",
        || refused_as_sealed(server.get(&uids[0])),
    );
    server.stop();
}
