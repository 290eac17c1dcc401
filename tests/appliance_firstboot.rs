//! The appliance's first-boot dialogue (packaging/appliance/firstboot.sh) run for real by bash
//! against a scratch root (KEYWARD_FIRSTBOOT_ROOT), with answers on stdin and systemctl,
//! runuser, keyward and the network tools stubbed on PATH (the stubs log every call). openssl,
//! sed and tar are the real ones. Checked: a single appliance never touches etcd; "new
//! cluster" writes a valid [cluster] table and /etc/default/etcd, starts etcd before `cluster
//! init`, and makes etcd certificates that a real etcd serves and Keyward's etcd client (rustls)
//! accepts; "join" uses the first node's bundle, adds the member as root with --wait 0, starts
//! etcd, then finishes the join as keyward.

mod common;
use common::etcd;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use common::free_loopback_port;
use etcd::{EnvMember, etcd_or_skip, parse_env_file};
use keyward::config::Config;
use keyward::store::etcd::ClusterConfig;
use keyward::store::etcd::gateway::Gateway;

const SCRIPT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/packaging/appliance/firstboot.sh"
);

/// Every stub appends `NAME [as keyward] ARGS` to $STUB_LOG.
const STUBS: &[(&str, &str)] = &[
    ("systemctl", "echo \"systemctl $*\" >>\"$STUB_LOG\""),
    // runuser -u USER -- CMD...: runs CMD, marked as that user for the log.
    (
        "runuser",
        "while [[ $# -gt 0 && $1 != -- ]]; do shift; done; shift; STUB_AS=keyward exec \"$@\"",
    ),
    (
        "keyward",
        r#"echo "keyward${STUB_AS:+ [as $STUB_AS]} $*" >>"$STUB_LOG"
args=" $* "
if [[ $args == *" init "* ]]; then
    mkdir -p "$STUB_DATA" && echo argon2-params >"$STUB_DATA/root.argon2"
fi
if [[ $args == *" --passphrase-stdin "* || $args == *" --password-stdin "* ]]; then
    IFS= read -r line
    echo "stdin passphrase of ${#line} characters" >>"$STUB_LOG"
fi
if [[ $args == *" server cert show "* ]]; then
    echo "SHA-256 fingerprint: AB:CD:EF:01"
fi
out=""
while [[ $# -gt 0 ]]; do
    if [[ $1 == --etcd-env-out ]]; then
        printf 'ETCD_NAME=joined\nETCD_INITIAL_CLUSTER_STATE=existing\n' >"$2"
    fi
    [[ $1 == --out ]] && out=$2
    shift
done
if [[ $args == *" client issue "* ]]; then
    mkdir -p "$out"
    echo "-----BEGIN CERTIFICATE-----" >"$out/client.crt"
    echo "-----BEGIN PRIVATE KEY-----" >"$out/client.key"
    echo "-----BEGIN CERTIFICATE-----" >"$out/ca.crt"
fi
exit 0"#,
    ),
    ("chown", "exit 0"),
    (
        "hostname",
        "if [[ ${1:-} == -I ]]; then echo 192.0.2.99; fi; exit 0",
    ),
    (
        "ip",
        "echo '1: lo: <LOOPBACK,UP> mtu 65536'; echo '2: ens192: <BROADCAST,UP> mtu 1500'",
    ),
    ("ifup", "exit 0"),
    ("ifdown", "exit 0"),
    ("timedatectl", "exit 0"),
    ("vmtoolsd", "exit 1"),
    ("ssh-keygen", "exit 0"),
];

struct Run {
    root: PathBuf,
    log: String,
    output: String,
}

impl Run {
    fn file(&self, path: &str) -> String {
        std::fs::read_to_string(self.path(path))
            .unwrap_or_else(|e| panic!("{path}: {e}\ndialogue output:\n{}", self.output))
    }

    fn path(&self, path: &str) -> PathBuf {
        self.root.join(path.trim_start_matches('/'))
    }

    fn mode(&self, path: &str) -> u32 {
        std::fs::metadata(self.path(path))
            .unwrap_or_else(|e| panic!("{path}: {e}"))
            .permissions()
            .mode()
            & 0o777
    }

    fn config(&self) -> Config {
        let text = self.file("/etc/keyward/config.toml");
        Config::from_toml(&text, "the dialogue's config.toml")
            .unwrap_or_else(|e| panic!("{e}\n{text}"))
    }

    /// Index of the first log line containing `needle`.
    fn logged(&self, needle: &str) -> usize {
        self.log
            .lines()
            .position(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("no call with {needle:?} in the stub log:\n{}", self.log))
    }
}

/// The appliance's /etc/shadow as the image build leaves it: root locked until the dialogue,
/// system accounts without a password, and one passwordless account the dialogue must lock.
const SHADOW: &str = "root:!:20000:0:99999:7:::\n\
daemon:*:20000:0:99999:7:::\n\
keyward:!:20000::::::\n\
leftover::20000:0:99999:7:::\n";

/// The console password the tests set (strong enough for the dialogue's check).
const CONSOLE_PASSWORD: &str = "Blue-Lantern-42-quietly";

/// Runs the dialogue in a fresh scratch root with `answers` (one a line) on stdin; it must
/// succeed.
fn dialogue(dir: &Path, name: &str, answers: &[&str]) -> Run {
    let (run, status) = dialogue_status(dir, name, answers);
    assert!(
        status.success(),
        "dialogue failed ({status}):\n{}",
        run.output
    );
    run
}

/// Runs the dialogue and returns how it ended.
fn dialogue_status(dir: &Path, name: &str, answers: &[&str]) -> (Run, std::process::ExitStatus) {
    let root = dir.join(name);
    for sub in [
        "etc/keyward",
        "etc/network/interfaces.d",
        "etc/default",
        "etc/systemd/system",
        "var/lib/keyward",
        "var/tmp",
        "root",
        "bin",
    ] {
        std::fs::create_dir_all(root.join(sub)).expect("scratch root");
    }
    std::fs::write(root.join("etc/shadow"), SHADOW).expect("shadow");
    std::fs::set_permissions(
        root.join("etc/shadow"),
        std::fs::Permissions::from_mode(0o640),
    )
    .expect("chmod shadow");
    // The packaged configuration, as packaging/build-deb.sh makes it.
    let example =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/config.example.toml"))
            .expect("config.example.toml");
    let packaged = example
        .lines()
        .map(|l| {
            if l.starts_with("data_dir = ") {
                "data_dir = \"/var/lib/keyward\"".to_string()
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    std::fs::write(root.join("etc/keyward/config.toml"), packaged + "\n").expect("config");
    std::fs::write(
        root.join("etc/hosts"),
        "127.0.0.1\tlocalhost\n127.0.1.1\tkeyward\n",
    )
    .expect("hosts");
    let bin = root.join("bin");
    for (stub, body) in STUBS {
        let path = bin.join(stub);
        std::fs::write(&path, format!("#!/bin/bash\n{body}\n")).expect("stub");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    }
    let log = root.join("stub.log");
    std::fs::write(&log, "").expect("stub log");
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut input = answers.join("\n");
    input.push('\n');
    let stdin_file = root.join("answers");
    std::fs::write(&stdin_file, input).expect("answers");
    let mut child = Command::new("bash")
        .arg(SCRIPT)
        .env("KEYWARD_FIRSTBOOT_ROOT", &root)
        .env("PATH", path)
        .env("STUB_LOG", &log)
        .env("STUB_DATA", root.join("var/lib/keyward"))
        .stdin(std::fs::File::open(&stdin_file).expect("answers"))
        .stdout(std::fs::File::create(root.join("output")).expect("output"))
        .stderr(Stdio::from(
            std::fs::File::create(root.join("errors")).expect("errors"),
        ))
        .spawn()
        .expect("run bash");
    // An answer missing or too many would leave `ask_secret` looping: bounded.
    let status = finished_within(&mut child, 30, "the dialogue", &root.join("output"));
    let output = format!(
        "{}\n--- stderr:\n{}",
        std::fs::read_to_string(root.join("output")).unwrap_or_default(),
        std::fs::read_to_string(root.join("errors")).unwrap_or_default()
    );
    let run = Run {
        log: std::fs::read_to_string(&log).expect("stub log"),
        root,
        output,
    };
    (run, status)
}

fn env_of(run: &Run) -> Vec<(String, String)> {
    parse_env_file(&run.file("/etc/default/etcd"))
}

fn value<'a>(env: &'a [(String, String)], key: &str) -> &'a str {
    env.iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
        .unwrap_or_else(|| panic!("no {key} in {env:?}"))
}

/// The console password, network, NTP and a stored local passphrase: the answers before the
/// store question.
fn first_steps<'a>(host: &'a str, address: &'a str) -> Vec<&'a str> {
    vec![
        CONSOLE_PASSWORD,
        CONSOLE_PASSWORD,
        host,
        address,
        "192.0.2.1",
        "192.0.2.53",
        "",
        "1",
        "correct horse battery staple",
        "correct horse battery staple",
    ]
}

/// Waits for the script `child` at most `seconds`; past that, kills it and fails with what
/// it had written to `output` so far (a dialogue waiting for an answer would never end).
fn finished_within(child: &mut Child, seconds: u64, what: &str, output: &Path) -> ExitStatus {
    let deadline = Instant::now() + Duration::from_secs(seconds);
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "{what} did not finish within {seconds} s; output:\n{}",
                std::fs::read_to_string(output).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_single_appliance_does_not_touch_etcd() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut answers = first_steps("kms0", "192.0.2.10/24");
    // Store 1; no scheduled backups; first client: paste (an empty certificate), SSH off.
    answers.extend(["1", "n", "1", "vcenter", "", "n"]);
    let run = dialogue(dir.path(), "single", &answers);
    assert!(run.config().cluster.is_none(), "{}", run.output);
    assert!(
        run.log.contains("keyward [as keyward] init --config"),
        "{}",
        run.log
    );
    assert!(!run.log.contains("etcd"), "{}", run.log);
    assert!(!run.path("/etc/default/etcd").exists());
    assert!(run.path("/var/lib/keyward-firstboot.done").exists());
    web_console_is_on_with_a_first_admin(&run);
}

/// The appliance turns the HTTPS admin listener on (the package leaves it off) and makes the
/// first admin account with a generated password, handed to `keyward admin-user add` on its
/// standard input and shown once in the closing summary, never written to a file.
fn web_console_is_on_with_a_first_admin(run: &Run) {
    let config = run.config();
    assert_eq!(
        config.admin_http.listen.map(|a| a.to_string()).as_deref(),
        Some("0.0.0.0:8443"),
        "{}",
        run.file("/etc/keyward/config.toml")
    );
    run.logged("keyward [as keyward] admin-user add admin --role admin --password-stdin --config");
    assert!(
        run.log.contains("stdin passphrase of 20 characters"),
        "{}",
        run.log
    );
    let line = run
        .output
        .lines()
        .find(|l| l.contains("user: admin   password: "))
        .unwrap_or_else(|| panic!("no first admin password shown:\n{}", run.output));
    let password = line.rsplit(' ').next().expect("a password");
    assert_eq!(password.len(), 20, "{line}");
    assert!(
        password.chars().all(|c| c.is_ascii_alphanumeric()),
        "{line}"
    );
    assert_eq!(run.output.matches(password).count(), 1, "{}", run.output);
    assert!(run.output.contains("https://kms0:8443/"), "{}", run.output);
    for path in files_under(&run.root) {
        let text = String::from_utf8_lossy(&std::fs::read(&path).expect("read")).into_owned();
        if path.file_name().is_some_and(|n| n == "output") {
            continue;
        }
        assert!(
            !text.contains(password),
            "{} holds the web console password",
            path.display()
        );
    }
    let issue = run.file("/etc/issue");
    assert!(issue.contains(":8443/"), "{issue}");
}

#[test]
fn a_new_cluster_and_a_joining_node_get_etcd_settings_keyward_can_use() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut answers = first_steps("kms1", "192.0.2.11/24");
    // New cluster; etcd name and IP: the defaults (host name, the static address).
    answers.extend(["2", "", "", "n", "1", "vcenter", "", "n"]);
    let first = dialogue(dir.path(), "first", &answers);

    let env = env_of(&first);
    assert_eq!(first.mode("/etc/default/etcd"), 0o644);
    assert_eq!(value(&env, "ETCD_NAME"), "kms1");
    assert_eq!(
        value(&env, "ETCD_INITIAL_CLUSTER"),
        "kms1=https://192.0.2.11:2380"
    );
    assert_eq!(value(&env, "ETCD_INITIAL_CLUSTER_STATE"), "new");
    assert_eq!(
        value(&env, "ETCD_INITIAL_ADVERTISE_PEER_URLS"),
        "https://192.0.2.11:2380"
    );
    assert_eq!(
        value(&env, "ETCD_LISTEN_PEER_URLS"),
        "https://192.0.2.11:2380"
    );
    assert_eq!(
        value(&env, "ETCD_LISTEN_CLIENT_URLS"),
        "https://192.0.2.11:2379,http://127.0.0.1:2379"
    );
    assert_eq!(
        value(&env, "ETCD_ADVERTISE_CLIENT_URLS"),
        "https://192.0.2.11:2379"
    );
    assert_eq!(value(&env, "ETCD_MAX_TXN_OPS"), "4096");
    assert_eq!(value(&env, "ETCD_AUTO_COMPACTION_MODE"), "periodic");
    assert_eq!(value(&env, "ETCD_AUTO_COMPACTION_RETENTION"), "1h");
    let config = first.config();
    let cluster = config.cluster.clone().expect("a [cluster] table");
    assert_eq!(cluster.endpoints, ["http://127.0.0.1:2379"]);
    assert_eq!(cluster.max_txn_ops, 4096);
    assert_eq!(
        config.root.passphrase_file.as_deref(),
        Some(Path::new("/etc/keyward/passphrase"))
    );
    let tls = first.file("/etc/systemd/system/etcd.service.d/keyward-tls.conf");
    assert!(tls.contains("ETCD_CLIENT_CERT_AUTH=true"), "{tls}");
    assert!(tls.contains("ETCD_PEER_CLIENT_CERT_AUTH=true"), "{tls}");
    let order = first.file("/etc/systemd/system/keyward.service.d/cluster.conf");
    assert!(order.contains("After=etcd.service"), "{order}");
    // etcd runs before `cluster init` needs it; never the single appliance's `init`.
    assert!(
        first.logged("systemctl enable etcd") < first.logged("keyward [as keyward] cluster init")
    );
    assert!(first.logged("systemctl restart etcd") < first.logged("cluster init"));
    assert!(
        !first.log.contains("keyward [as keyward] init"),
        "{}",
        first.log
    );
    assert_eq!(first.mode("/root/keyward-join.tar.gz"), 0o600);
    assert_eq!(first.mode("/etc/keyward/etcd-ca.key"), 0o600);
    assert_eq!(first.mode("/etc/etcd/keyward-member-key.pem"), 0o600);
    // etcd's user cannot enter /etc/keyward: everything etcd reads is under /etc/etcd.
    for line in tls.lines().filter(|l| l.starts_with("Environment=")) {
        for path in line.split(['=', ' ']).filter(|w| w.starts_with('/')) {
            assert!(path.starts_with("/etc/etcd/"), "{line}");
            assert!(first.path(path).is_file(), "{path}");
        }
    }
    assert!(first.path("/var/lib/keyward-firstboot.done").exists());

    // The second appliance joins with the first one's bundle.
    let mut answers = first_steps("kms2", "192.0.2.12/24");
    let bundle = first.path("/root/keyward-join.tar.gz");
    let bundle = bundle.to_str().expect("utf-8");
    answers.extend(["3", "", "", bundle, "https://192.0.2.11:2379", "n", "n"]);
    let second = dialogue(dir.path(), "second", &answers);
    let cluster = second.config().cluster.expect("a [cluster] table");
    assert_eq!(
        cluster.endpoints,
        ["http://127.0.0.1:2379", "https://192.0.2.11:2379"]
    );
    let env_out = second.path("/etc/default/etcd");
    let add = second.logged(&format!(
        "keyward cluster join --peer https://192.0.2.11:2379 --etcd-name kms2 \
         --etcd-peer-url https://192.0.2.12:2380 --etcd-client-url https://192.0.2.12:2379 \
         --etcd-listen-client-url https://192.0.2.12:2379 --etcd-listen-client-url \
         http://127.0.0.1:2379 --config {}/etc/keyward/config.toml --etcd-env-out {} --wait 0",
        second.root.display(),
        env_out.display()
    ));
    let start = second.logged("systemctl restart etcd");
    let finish = second.logged("keyward [as keyward] cluster join --peer https://192.0.2.11:2379");
    assert!(add < start && start < finish, "{}", second.log);
    let finish_line = second.log.lines().nth(finish).expect("line");
    assert!(
        finish_line.contains("--wait 180s --passphrase-params "),
        "{finish_line}"
    );
    assert!(finish_line.ends_with("/root.argon2"), "{finish_line}");
    // The first client is the cluster's already.
    assert!(!second.log.contains("client add"), "{}", second.log);
    assert_eq!(
        value(&env_of(&second), "ETCD_INITIAL_CLUSTER_STATE"),
        "existing"
    );
    let openssl = Command::new("openssl")
        .arg("verify")
        .arg("-CAfile")
        .arg(first.path("/etc/keyward/etcd-ca.pem"))
        .arg(second.path("/etc/etcd/keyward-member.pem"))
        .arg(second.path("/etc/keyward/etcd-client.pem"))
        .output()
        .expect("openssl verify");
    assert!(
        openssl.status.success(),
        "the joining node's certificates are not signed by the first node's etcd CA: {}",
        String::from_utf8_lossy(&openssl.stdout)
    );

    // The certificates work for real: an etcd with the dialogue's TLS settings (on loopback,
    // which the member certificate names too) answers Keyward's client over mutual TLS.
    if !etcd_or_skip() {
        return;
    }
    let client_url = format!("https://127.0.0.1:{}", free_loopback_port());
    let peer_url = format!("https://127.0.0.1:{}", free_loopback_port());
    let mut env: Vec<(String, String)> = tls
        .lines()
        .filter_map(|l| l.strip_prefix("Environment="))
        .flat_map(|l| l.split(' '))
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| {
            // The unit names the appliance's paths; here they are under the scratch root.
            let v = if v.starts_with('/') {
                first.path(v).display().to_string()
            } else {
                v.to_string()
            };
            (k.to_string(), v)
        })
        .collect();
    for (k, v) in [
        ("ETCD_NAME", "kms1".to_string()),
        ("ETCD_INITIAL_CLUSTER", format!("kms1={peer_url}")),
        ("ETCD_INITIAL_CLUSTER_STATE", "new".into()),
        ("ETCD_INITIAL_ADVERTISE_PEER_URLS", peer_url.clone()),
        ("ETCD_LISTEN_PEER_URLS", peer_url.clone()),
        ("ETCD_LISTEN_CLIENT_URLS", client_url.clone()),
        ("ETCD_ADVERTISE_CLIENT_URLS", client_url.clone()),
    ] {
        env.push((k.into(), v));
    }
    let member = EnvMember::start(
        &env,
        &dir.path().join("tls.etcd"),
        dir.path().join("tls.log"),
    );
    let keyward_side = ClusterConfig {
        endpoints: vec![client_url],
        ca_file: Some(first.path("/etc/keyward/etcd-ca.pem")),
        cert_file: Some(first.path("/etc/keyward/etcd-client.pem")),
        key_file: Some(first.path("/etc/keyward/etcd-client-key.pem")),
        request_timeout_ms: 1000,
        ..ClusterConfig::default()
    };
    let gateway = Gateway::new(&keyward_side).expect("Keyward's etcd client takes the files");
    let deadline = Instant::now() + Duration::from_secs(20);
    let listed = loop {
        match gateway.member_list() {
            Ok(list) => break list,
            Err(e) => {
                assert!(
                    Instant::now() < deadline,
                    "no answer over mutual TLS within 20 s: {e}\netcd log:\n{}",
                    member.log_text()
                );
                std::thread::sleep(Duration::from_millis(200));
            }
        }
    };
    assert_eq!(listed.members.len(), 1);
    assert_eq!(listed.members[0].name, "kms1");
}

/// Whether `password` is the one `hash` (a crypt(3) string from /etc/shadow) was made from,
/// checked with openssl the way the dialogue made it.
fn hash_matches(hash: &str, password: &str) -> bool {
    let salt = hash
        .strip_prefix("$6$")
        .and_then(|rest| rest.split('$').next())
        .unwrap_or_else(|| panic!("not a SHA-512 crypt hash: {hash}"));
    let mut child = Command::new("openssl")
        .args(["passwd", "-6", "-salt", salt, "-stdin"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("openssl passwd");
    use std::io::Write;
    writeln!(child.stdin.take().expect("stdin"), "{password}").expect("write");
    let out = child.wait_with_output().expect("openssl passwd");
    String::from_utf8_lossy(&out.stdout).trim() == hash
}

/// `user`'s password field in the scratch root's /etc/shadow.
fn shadow_field(run: &Run, user: &str) -> String {
    run.file("/etc/shadow")
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{user}:")))
        .and_then(|rest| rest.split(':').next())
        .unwrap_or_else(|| panic!("no {user} in /etc/shadow"))
        .to_string()
}

/// Every file under `dir`, recursively.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).expect("read_dir").flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(files_under(&path));
        } else {
            out.push(path);
        }
    }
    out
}

#[test]
fn first_boot_sets_a_strong_console_password_and_leaves_no_passwordless_account() {
    let dir = tempfile::tempdir().expect("temp dir");
    // A weak password first: refused, asked again.
    let mut answers = vec!["keyward-password"];
    answers.extend(first_steps("kms0", "192.0.2.10/24"));
    // Store 1; scheduled backups every 12 h into the default directory, 5 kept; first client
    // pasted (empty); SSH off; idle lock after 15 minutes.
    answers.extend([
        "1",
        "y",
        "",
        "12h",
        "5",
        "Backup-Passphrase-77",
        "Backup-Passphrase-77",
        "1",
        "vcenter",
        "",
        "n",
        "15",
    ]);
    let run = dialogue(dir.path(), "password", &answers);
    assert!(
        run.output.contains("refused: it contains \"keyward\""),
        "{}",
        run.output
    );
    let hash = shadow_field(&run, "root");
    assert!(hash.starts_with("$6$"), "{hash}");
    assert!(hash_matches(&hash, CONSOLE_PASSWORD), "{hash}");
    assert!(!hash_matches(&hash, "something else entirely 1"));
    for line in run.file("/etc/shadow").lines() {
        let field = line.split(':').nth(1).expect("a password field");
        assert!(!field.is_empty(), "a passwordless account remains: {line}");
    }
    assert_eq!(shadow_field(&run, "leftover"), "!");
    assert_eq!(shadow_field(&run, "daemon"), "*");
    assert_eq!(run.mode("/etc/shadow"), 0o640);
    // Stored only as its hash: no file of the root holds the password itself.
    for path in files_under(&run.root) {
        let bytes = std::fs::read(&path).expect("read");
        let text = String::from_utf8_lossy(&bytes);
        if path.file_name().is_some_and(|n| n == "answers") {
            continue;
        }
        assert!(
            !text.contains(CONSOLE_PASSWORD),
            "{} holds the console password",
            path.display()
        );
    }
    // Scheduled backups, as the server reads them.
    let backup = run.config().backup.expect("a [backup] table");
    assert_eq!(backup.dir, Path::new("/var/backups/keyward"));
    assert_eq!(backup.interval, Duration::from_secs(12 * 3600));
    assert_eq!(backup.keep, 5);
    assert_eq!(
        run.file("/etc/keyward/backup.pass"),
        "Backup-Passphrase-77\n"
    );
    assert_eq!(run.mode("/etc/keyward/backup.pass"), 0o600);
    assert_eq!(run.mode("/var/backups/keyward"), 0o700);
    let dropin = run.file("/etc/systemd/system/keyward.service.d/backup.conf");
    assert!(
        dropin.contains("ReadWritePaths=/var/backups/keyward"),
        "{dropin}"
    );
    // Idle lock and banner.
    let idle = run.file("/etc/profile.d/keyward-idle.sh");
    assert!(
        idle.contains("TMOUT=900") && idle.contains("readonly TMOUT"),
        "{idle}"
    );
    let issue = run.file("/etc/issue");
    assert!(issue.contains("kms0:5696"), "{issue}");
    assert!(issue.contains("AB:CD:EF:01"), "{issue}");
    assert!(issue.contains("\\4"), "agetty's address escape: {issue}");
    assert!(run.path("/var/lib/keyward-firstboot.done").exists());
}

#[test]
fn the_dialogue_does_not_finish_without_a_console_password() {
    let dir = tempfile::tempdir().expect("temp dir");
    // Two weak ones, then the input ends.
    let (run, status) = dialogue_status(dir.path(), "nopassword", &["short", "aaaaaaaaaaaaaaaaaa"]);
    assert!(!status.success(), "{}", run.output);
    assert!(
        run.output.contains("does not finish without one"),
        "{}",
        run.output
    );
    assert!(!run.path("/var/lib/keyward-firstboot.done").exists());
    assert_eq!(shadow_field(&run, "root"), "!", "root stays locked");
    assert!(!run.log.contains("init"), "{}", run.log);
}

#[test]
fn sealed_at_boot_never_stores_the_passphrase_and_prints_the_issued_key_once() {
    let dir = tempfile::tempdir().expect("temp dir");
    let root_passphrase = "Granite-Orchard-19-river";
    let answers = [
        CONSOLE_PASSWORD,
        CONSOLE_PASSWORD,
        "kms9",
        "",
        "",
        "3",
        root_passphrase,
        root_passphrase,
        // Backups: the default (n) with a sealed root.
        "",
        // First client: issued here, printed; Enter once copied.
        "2",
        "vcenter",
        "",
        "n",
    ];
    let run = dialogue(dir.path(), "sealed", &answers);
    let config = run.config();
    assert!(
        config.root.seal_at_start,
        "{}",
        run.file("/etc/keyward/config.toml")
    );
    assert_eq!(config.root.passphrase_file, None);
    assert!(config.backup.is_none());
    assert!(!run.path("/etc/keyward/passphrase").exists());
    // Given once to `keyward init` on its standard input, as the service user; no cluster.
    let init = run.logged("keyward [as keyward] init --passphrase-stdin --config");
    assert!(
        run.log.lines().nth(init + 1).is_some_and(
            |l| l == format!("stdin passphrase of {} characters", root_passphrase.len())
        ),
        "{}",
        run.log
    );
    assert!(!run.log.contains("etcd"), "{}", run.log);
    for path in files_under(&run.root) {
        if path.file_name().is_some_and(|n| n == "answers") {
            continue;
        }
        let text = String::from_utf8_lossy(&std::fs::read(&path).expect("read")).into_owned();
        assert!(
            !text.contains(root_passphrase),
            "{} holds the root key passphrase",
            path.display()
        );
    }
    assert!(
        run.output.contains("keyward starts SEALED"),
        "{}",
        run.output
    );
    // The issued key went to the screen, not to /root.
    assert!(
        run.output.contains("WARNING: the PRIVATE KEY"),
        "{}",
        run.output
    );
    assert!(
        run.output.contains("-----BEGIN PRIVATE KEY-----"),
        "{}",
        run.output
    );
    assert!(
        run.path("/root/keyward-client-vcenter/client.crt")
            .is_file()
    );
    assert!(!run.path("/root/keyward-client-vcenter/client.key").exists());
    let staging: Vec<_> = std::fs::read_dir(run.path("/var/tmp"))
        .expect("var/tmp")
        .flatten()
        .collect();
    assert!(staging.is_empty(), "left behind: {staging:?}");
}

const MENU: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/packaging/appliance/console-menu"
);
const ROOT_PASSPHRASE: &str = "Granite-Orchard-19-river";

/// The console menu's stubs: only what would change the host itself (services, network,
/// clock). `keyward`, openssl, perl and shred are the real ones.
const MENU_STUBS: &[(&str, &str)] = &[
    ("systemctl", "echo \"systemctl $*\" >>\"$STUB_LOG\""),
    ("systemd-run", "echo \"systemd-run $*\" >>\"$STUB_LOG\""),
    ("logger", "echo \"logger $*\" >>\"$STUB_LOG\""),
    (
        "ip",
        "echo '1: lo: <LOOPBACK,UP> mtu 65536'; echo '2: ens192: <BROADCAST,UP> mtu 1500'",
    ),
    ("ifup", "exit 0"),
    ("ifdown", "exit 0"),
    ("timedatectl", "exit 0"),
    ("ssh-keygen", "exit 0"),
    ("hostname", "echo kms0"),
    ("chown", "exit 0"),
    // runuser -u USER -- CMD...: runs CMD (the test runs as one user anyway), logged.
    (
        "runuser",
        "echo \"runuser $*\" >>\"$STUB_LOG\"; while [[ $# -gt 0 && $1 != -- ]]; do shift; done; shift; exec \"$@\"",
    ),
];

/// A scratch root for the console menu with a real, initialised `[root] seal_at_start` data
/// directory, root's console password in its /etc/shadow, and the stubs.
struct Console {
    root: PathBuf,
    config: PathBuf,
    data: PathBuf,
    stub_log: PathBuf,
    path: String,
    sessions: usize,
}

impl Console {
    fn new(dir: &Path) -> Console {
        let root = dir.join("console");
        for sub in [
            "etc/keyward",
            "etc/network/interfaces.d",
            "etc/systemd",
            "root",
            "tmp",
            "bin",
        ] {
            std::fs::create_dir_all(root.join(sub)).expect("scratch root");
        }
        let hash = {
            let mut child = Command::new("openssl")
                .args(["passwd", "-6", "-stdin"])
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .spawn()
                .expect("openssl passwd");
            use std::io::Write;
            writeln!(child.stdin.take().expect("stdin"), "{CONSOLE_PASSWORD}").expect("write");
            let out = child.wait_with_output().expect("openssl passwd");
            String::from_utf8(out.stdout)
                .expect("utf-8")
                .trim()
                .to_string()
        };
        std::fs::write(
            root.join("etc/shadow"),
            format!("root:{hash}:20000:0:99999:7:::\ndaemon:*:20000:0:99999:7:::\n"),
        )
        .expect("shadow");
        let data = dir.join("data");
        let config = root.join("etc/keyward/config.toml");
        std::fs::write(
            &config,
            format!(
                "data_dir = \"{}\"\n\n[root]\nseal_at_start = true\n\n[http]\nlisten = \"127.0.0.1:0\"\n",
                data.display()
            ),
        )
        .expect("config");
        let bin = root.join("bin");
        for (stub, body) in MENU_STUBS {
            let path = bin.join(stub);
            std::fs::write(&path, format!("#!/bin/bash\n{body}\n")).expect("stub");
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        }
        std::os::unix::fs::symlink(common::keyward_bin(), bin.join("keyward")).expect("symlink");
        let stub_log = root.join("stub.log");
        std::fs::write(&stub_log, "").expect("stub log");
        let path = format!(
            "{}:{}",
            bin.display(),
            std::env::var("PATH").unwrap_or_default()
        );
        Console {
            root,
            config,
            data,
            stub_log,
            path,
            sessions: 0,
        }
    }

    /// `keyward ARGS --config CONFIG` with `input` on stdin.
    fn keyward(&self, args: &[&str], input: &str) -> std::process::Output {
        use std::io::Write;
        let mut child = Command::new(common::keyward_bin())
            .args(args)
            .arg("--config")
            .arg(&self.config)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run keyward");
        let _ = child
            .stdin
            .take()
            .expect("stdin")
            .write_all(input.as_bytes());
        child.wait_with_output().expect("keyward")
    }

    /// `keyward init` with the root key passphrase on stdin, as the first-boot dialogue runs it.
    fn init_with_passphrase(&self) {
        let init = self.keyward(
            &["init", "--passphrase-stdin"],
            &format!("{ROOT_PASSPHRASE}\n"),
        );
        assert!(
            init.status.success(),
            "{}",
            String::from_utf8_lossy(&init.stderr)
        );
    }

    fn start(&self, n: usize) -> common::Server {
        let mut cmd = Command::new(common::keyward_bin());
        cmd.arg("serve")
            .arg("--config")
            .arg(&self.config)
            .args(["--listen", "127.0.0.1:0"]);
        common::spawn_server(&mut cmd, &self.root.join(format!("server-{n}.log")))
    }

    /// One login's menu session with `answers` on stdin; its screen (stdout and stderr).
    fn session(&mut self, answers: &[&str]) -> String {
        self.sessions += 1;
        let input = self.root.join(format!("menu-answers-{}", self.sessions));
        let screen = self.root.join(format!("menu-screen-{}", self.sessions));
        std::fs::write(&input, answers.join("\n") + "\n").expect("answers");
        let out = std::fs::File::create(&screen).expect("screen");
        let mut child = Command::new("bash")
            .arg(MENU)
            .env("KEYWARD_CONSOLE_ROOT", &self.root)
            .env("PATH", &self.path)
            .env("STUB_LOG", &self.stub_log)
            .env_remove("TMOUT")
            .stdin(std::fs::File::open(&input).expect("answers"))
            .stdout(out.try_clone().expect("dup"))
            .stderr(out)
            .spawn()
            .expect("run the console menu");
        let status = finished_within(&mut child, 60, "the menu", &screen);
        let text = std::fs::read_to_string(&screen).expect("screen");
        assert!(status.success(), "menu failed ({status}):\n{text}");
        text
    }

    /// A session nobody types into (standard input open, silent), with `TMOUT=secs`.
    fn session_idle(&mut self, secs: u32) -> String {
        let mut child = Command::new("bash")
            .arg(MENU)
            .env("KEYWARD_CONSOLE_ROOT", &self.root)
            .env("PATH", &self.path)
            .env("STUB_LOG", &self.stub_log)
            .env("TMOUT", secs.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run the console menu");
        // Held open (and silent) until the menu has given up on it.
        let keyboard = child.stdin.take();
        let deadline = Instant::now() + Duration::from_secs(30);
        while child.try_wait().expect("try_wait").is_none() {
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!("the idle menu did not log out within 30 s");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        drop(keyboard);
        let out = child.wait_with_output().expect("menu output");
        assert!(out.status.success());
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// (operation, outcome, uids) of every audit record, oldest first.
    fn audit(&self) -> Vec<(String, String, Vec<String>)> {
        let out = self.keyward(&["audit", "show", "--json"], "");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|line| {
                let value: serde_json::Value = serde_json::from_str(line).expect("JSON line");
                let record = &value["record"];
                (
                    record["operation"].as_str().unwrap_or_default().to_string(),
                    record["outcome"].as_str().unwrap_or_default().to_string(),
                    record["uids"]
                        .as_array()
                        .map(|a| {
                            a.iter()
                                .filter_map(|v| v.as_str().map(str::to_string))
                                .collect()
                        })
                        .unwrap_or_default(),
                )
            })
            .collect()
    }
}

/// The PEM blocks on `screen`, in order.
fn pem_blocks(screen: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in screen.lines() {
        if line.starts_with("-----BEGIN ") {
            current = Some(String::new());
        }
        if let Some(block) = current.as_mut() {
            block.push_str(line);
            block.push('\n');
            if line.starts_with("-----END ") {
                blocks.extend(current.take());
            }
        }
    }
    blocks
}

/// `keyward kmip … create` with the given client files against `server`.
fn kmip_create(
    console: &Console,
    server: &common::Server,
    cert: &Path,
    key: &Path,
) -> std::process::Output {
    Command::new(common::keyward_bin())
        .arg("kmip")
        .arg("--server")
        .arg(format!("localhost:{}", server.addr.port()))
        .arg("--ca")
        .arg(console.data.join("ca.crt"))
        .arg("--cert")
        .arg(cert)
        .arg("--key")
        .arg(key)
        .arg("create")
        .output()
        .expect("keyward kmip")
}

#[test]
fn the_console_menu_unseals_a_sealed_boot_prints_a_working_client_and_audits_every_action() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut console = Console::new(dir.path());
    console.init_with_passphrase();

    // Sealed at every start, a restart included: the passphrase is nowhere to be read.
    let mut first = console.start(1);
    let (code, body) = first.healthz();
    assert_eq!(code, 503, "{body}");
    assert!(body.contains("\"sealed\""), "{body}");
    first.terminate();
    let server = console.start(2);
    let (code, body) = server.healthz();
    assert_eq!(code, 503, "{body}");
    assert!(body.contains("keyward unseal"), "{body}");

    // Session 1, still sealed: issue a client; its certificate and key are printed.
    let screen = console.session(&["6", "vcenter-01", "", "", "q"]);
    assert!(screen.contains("service sealed"), "{screen}");
    assert!(screen.contains("WARNING: the PRIVATE KEY"), "{screen}");
    let blocks = pem_blocks(&screen);
    assert_eq!(blocks.len(), 2, "{screen}");
    assert!(
        blocks[0].starts_with("-----BEGIN CERTIFICATE-----"),
        "{}",
        blocks[0]
    );
    assert!(blocks[1].contains("PRIVATE KEY-----"), "{}", blocks[1]);
    let cert = dir.path().join("pasted.crt");
    let key = dir.path().join("pasted.key");
    std::fs::write(&cert, &blocks[0]).expect("cert");
    std::fs::write(&key, &blocks[1]).expect("key");
    // Nothing of it stays on the appliance.
    let left: Vec<_> = std::fs::read_dir(console.root.join("tmp"))
        .expect("tmp")
        .flatten()
        .map(|e| e.path())
        .collect();
    assert!(left.is_empty(), "left behind: {left:?}");
    // The KMIP answer while sealed is a clear refusal.
    let sealed = kmip_create(&console, &server, &cert, &key);
    assert!(!sealed.status.success());
    let said = String::from_utf8_lossy(&sealed.stderr).to_lowercase();
    assert!(said.contains("sealed"), "{said}");

    // Session 2: a wrong passphrase, the right one, then every other action.
    let vcenter = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
        ])
        .args([
            "-nodes",
            "-keyout",
            "/dev/null",
            "-subj",
            "/CN=vcenter-02",
            "-days",
            "30",
        ])
        .output()
        .expect("openssl req");
    assert!(vcenter.status.success());
    let vcenter_pem = String::from_utf8(vcenter.stdout).expect("PEM");
    let mut answers = vec![
        "u",
        "Not-The-Passphrase-1",
        "",
        "u",
        ROOT_PASSPHRASE,
        "",
        "1",
        "",
        "2",
        "n",
        "",
        "3",
        "192.0.2.123",
        "",
        "4",
        "",
        "5",
        "vcenter-02",
    ];
    answers.extend(vcenter_pem.lines());
    answers.extend([
        "",
        "",
        "7",
        "Backup-Passphrase-77",
        "Backup-Passphrase-77",
        "",
        "8",
        "",
        "9",
        "15",
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKeywardConsoleTestKey test@example",
        "",
        "s",
        "not the password",
        "",
        "q",
    ]);
    let mut screen = console.session(&answers);
    // Session 3: the shell, with the console password. The shell reads ahead of what it
    // runs, so it takes the rest of the input; the menu then logs out at its end.
    screen += &console.session(&[
        "s",
        CONSOLE_PASSWORD,
        "echo in-the-$((6 * 7))-shell",
        "exit",
    ]);
    // Session 4: nobody types; the idle lock logs out after TMOUT seconds.
    let started = Instant::now();
    let idle = console.session_idle(1);
    assert!(idle.contains("idle for 1 s: logging out"), "{idle}");
    assert!(started.elapsed() < Duration::from_secs(20));
    assert!(screen.contains("wrong passphrase"), "{screen}");
    assert!(
        screen.contains("unsealed: key material is served again"),
        "{screen}"
    );
    assert!(screen.contains("root key:"), "the status screen: {screen}");
    assert!(screen.contains("wrong password."), "{screen}");
    assert!(
        screen.contains("in-the-42-shell"),
        "the shell ran: {screen}"
    );
    let (code, body) = server.healthz();
    assert_eq!(code, 200, "{body}");
    // The printed certificate and key are the issued client's: KMIP works with them now.
    let created = kmip_create(&console, &server, &cert, &key);
    assert!(
        created.status.success(),
        "{}",
        String::from_utf8_lossy(&created.stderr)
    );
    let backups: Vec<_> = std::fs::read_dir(console.data.join("backups"))
        .expect("the backup directory")
        .flatten()
        .collect();
    assert_eq!(backups.len(), 1, "{screen}");
    let ntp = std::fs::read_to_string(
        console
            .root
            .join("etc/systemd/timesyncd.conf.d/keyward.conf"),
    )
    .expect("timesyncd drop-in");
    assert!(ntp.contains("NTP=192.0.2.123"), "{ntp}");
    let stubs = std::fs::read_to_string(&console.stub_log).expect("stub log");
    assert!(stubs.contains("systemctl restart keyward"), "{stubs}");
    assert!(
        stubs.contains("systemd-run --unit=keyward-ssh-off --on-active=15m"),
        "{stubs}"
    );
    assert!(
        !stubs.contains("logger"),
        "an action went unaudited: {stubs}"
    );

    // Every action is in the audit log, by root, in order; the chain holds.
    let audit = console.audit();
    let expected: &[(&str, &str)] = &[
        ("client.add", "success"),
        ("console.client.key.printed", "success"),
        ("console.logout", "success"),
        ("root.unseal", "failure"),
        ("root.unseal", "success"),
        ("console.status", "success"),
        ("console.network.view", "success"),
        ("console.ntp.change", "success"),
        ("console.cert.fingerprint", "success"),
        ("client.add", "success"),
        ("backup.export", "success"),
        ("console.service.restart", "success"),
        ("console.ssh.enable", "success"),
        ("console.shell", "failure"),
        ("console.logout", "success"),
        ("console.shell", "success"),
        ("console.shell", "success"),
        ("console.logout", "success"),
        ("console.logout", "success"),
    ];
    let seen: Vec<(&str, &str)> = audit
        .iter()
        .map(|(op, outcome, _)| (op.as_str(), outcome.as_str()))
        // KMIP operations (capitalised) and the start-up unwrap are not console actions.
        .filter(|(op, _)| op.starts_with(|c: char| c.is_ascii_lowercase()))
        .filter(|(op, _)| *op != "root.unwrap")
        .collect();
    assert_eq!(seen, expected, "{audit:#?}");
    assert!(
        audit
            .iter()
            .any(|(op, _, uids)| op == "console.client.key.printed" && uids[0] == "vcenter-01")
    );
    let logouts: Vec<&Vec<String>> = audit
        .iter()
        .filter(|(op, _, _)| op == "console.logout")
        .map(|(_, _, uids)| uids)
        .collect();
    assert_eq!(
        logouts.last().map(|u| u.as_slice()),
        Some(&["idle 1 s".to_string()][..])
    );
    assert!(
        logouts[0].is_empty(),
        "q logs out without idling: {logouts:?}"
    );
    let verify = console.keyward(&["audit", "verify"], "");
    assert!(
        verify.status.success(),
        "{}",
        String::from_utf8_lossy(&verify.stdout)
    );
}

/// The password shown on the menu's screen for `account`.
fn shown_web_password(screen: &str, account: &str) -> String {
    let needle = format!("user: {account}  password: ");
    let at = screen
        .find(&needle)
        .unwrap_or_else(|| panic!("no password shown:\n{screen}"));
    screen[at + needle.len()..]
        .split_whitespace()
        .next()
        .expect("a password")
        .to_string()
}

#[test]
fn the_console_menu_sets_a_new_web_console_password_after_the_console_password() {
    use keyward::admin_http::accounts::{Accounts, Role};
    let dir = tempfile::tempdir().expect("temp dir");
    let mut console = Console::new(dir.path());
    console.init_with_passphrase();
    std::fs::write(
        &console.config,
        std::fs::read_to_string(&console.config).expect("config")
            + "\n[admin_http]\nlisten = \"127.0.0.1:8443\"\n",
    )
    .expect("config");

    // A wrong console password changes nothing.
    let screen = console.session(&["w", "not the password", "", "q"]);
    assert!(screen.contains("wrong password."), "{screen}");
    assert!(
        Accounts::load(&console.data)
            .expect("accounts")
            .users
            .is_empty()
    );

    // No account yet: made with the admin role.
    let screen = console.session(&["w", CONSOLE_PASSWORD, "", "", "q"]);
    assert!(screen.contains("https://kms0:8443/"), "{screen}");
    let first = shown_web_password(&screen, "admin");
    assert_eq!(first.len(), 20, "{screen}");
    let accounts = Accounts::load(&console.data).expect("accounts");
    let admin = accounts
        .check_password("admin", first.as_bytes())
        .expect("the shown password logs in");
    assert_eq!(admin.role, Role::Admin);

    // Again: a new password replaces it; the old one no longer logs in.
    let screen = console.session(&["w", CONSOLE_PASSWORD, "admin", "", "q"]);
    let second = shown_web_password(&screen, "admin");
    assert_ne!(first, second);
    let accounts = Accounts::load(&console.data).expect("accounts");
    assert!(
        accounts
            .check_password("admin", second.as_bytes())
            .is_some()
    );
    assert!(accounts.check_password("admin", first.as_bytes()).is_none());
    assert_eq!(accounts.users.len(), 1);
    let stubs = std::fs::read_to_string(&console.stub_log).expect("stub log");
    assert!(
        stubs.contains("runuser -u keyward -- keyward admin-user"),
        "{stubs}"
    );

    let audit = console.audit();
    let outcomes: Vec<&str> = audit
        .iter()
        .filter(|(op, _, _)| op == "console.web.password")
        .map(|(_, outcome, _)| outcome.as_str())
        .collect();
    assert_eq!(outcomes, ["failure", "success", "success"], "{audit:?}");
    // The account commands the menu ran are audit records of their own.
    for operation in ["admin_user.add", "admin_user.passwd"] {
        assert!(
            audit.iter().any(|(op, outcome, uids)| op == operation
                && outcome == "success"
                && uids.first().is_some_and(|u| u == "admin")),
            "no {operation} record: {audit:?}"
        );
    }
}
