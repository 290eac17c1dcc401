//! Three real etcd members (Debian's etcd-server, installed by `scripts/test`) on loopback ports in
//! a temp dir. Every process is killed when the [`EtcdCluster`] is dropped, also when a test
//! panics. Timings are shortened (heartbeat 50 ms, election 500 ms) so that losing and
//! regaining quorum takes about a second instead of several.

#![allow(dead_code)]

use std::io::Write;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::free_loopback_port;

/// etcd's default of 128 operations per transaction is too small for a group commit of many
/// Creates (each writes an object, an owner entry and its index terms); docs/cluster.md says
/// the same for production.
pub const MAX_TXN_OPS: usize = 4096;

pub fn etcd_bin() -> String {
    std::env::var("KEYWARD_TEST_ETCD").unwrap_or_else(|_| "etcd".into())
}

/// `true` when an etcd binary is on the PATH (the cluster tests need one).
pub fn etcd_available() -> bool {
    Command::new(etcd_bin())
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

/// Whether the calling test can use etcd. With an etcd binary: `true`. Without one, a plain
/// `cargo test` prints one line saying the test was skipped and how to run it (the README's
/// test command, `scripts/test`, installs etcd) and gets `false`; under `scripts/test` and CI,
/// which set `KEYWARD_REQUIRE_ETCD=1`, a missing etcd fails the test instead, so that the
/// cluster tests can never pass there by not running.
pub fn etcd_or_skip() -> bool {
    if etcd_available() {
        return true;
    }
    let thread = std::thread::current();
    let test = thread.name().unwrap_or("this test");
    if std::env::var_os("KEYWARD_REQUIRE_ETCD").is_some_and(|v| v == "1") {
        panic!("{test} needs etcd and KEYWARD_REQUIRE_ETCD=1: apt-get install etcd-server");
    }
    // Written to the process's stderr, not through `eprintln!`, which the test harness
    // captures and shows only for failing tests: a skip must be seen on a passing run.
    // One write, so that lines of tests running in parallel do not interleave.
    let line = format!("skipped: {test}: needs etcd (run scripts/test, which installs it)\n");
    let _ = std::io::stderr().write_all(line.as_bytes());
    false
}

pub struct Member {
    pub name: String,
    pub client_url: String,
    pub peer_url: String,
    pub data_dir: PathBuf,
    pub log: PathBuf,
    child: Option<Child>,
}

pub struct EtcdCluster {
    pub dir: tempfile::TempDir,
    pub members: Vec<Member>,
    initial_cluster: String,
    /// Extra etcd flags for every member (the client TLS flags of [`EtcdCluster::start_tls`]).
    extra_args: Vec<String>,
}

impl EtcdCluster {
    pub fn start(size: usize) -> EtcdCluster {
        EtcdCluster::start_ready(size, "http", Vec::new(), "", |c, i| c.has_leader(i))
    }

    /// Spawns `size` members and waits until `ready` holds for each. A member that could not
    /// bind its port (taken by another process between the probe and etcd's bind) fails the
    /// attempt at once; the whole cluster is then started again on new ports, at most three
    /// times, since the ports are part of every member's `--initial-cluster`.
    fn start_ready(
        size: usize,
        client_scheme: &str,
        extra_args: Vec<String>,
        what: &str,
        ready: impl Fn(&EtcdCluster, usize) -> bool,
    ) -> EtcdCluster {
        const ATTEMPTS: usize = 3;
        for attempt in 1..=ATTEMPTS {
            let mut cluster = EtcdCluster::spawn_all(size, client_scheme, extra_args.clone());
            match cluster.until_ready(&ready) {
                Ok(()) => return cluster,
                Err(NotReady::PortTaken(log)) if attempt < ATTEMPTS => {
                    let line = format!("etcd: a port was taken, starting again: {log}\n");
                    let _ = std::io::stderr().write_all(line.as_bytes());
                    for i in 0..size {
                        cluster.kill(i);
                    }
                }
                Err(not_ready) => panic!("etcd{what}: {not_ready}"),
            }
        }
        unreachable!("the last attempt returns or panics")
    }

    /// `size` members on loopback, serving clients on `client_scheme` URLs with `extra_args`
    /// (peers always on plain http); does not wait for them.
    fn spawn_all(size: usize, client_scheme: &str, extra_args: Vec<String>) -> EtcdCluster {
        let dir = tempfile::tempdir().expect("temp dir");
        let members: Vec<Member> = (0..size)
            .map(|i| Member {
                name: format!("m{i}"),
                client_url: format!("{client_scheme}://127.0.0.1:{}", free_loopback_port()),
                peer_url: format!("http://127.0.0.1:{}", free_loopback_port()),
                data_dir: dir.path().join(format!("m{i}.etcd")),
                log: dir.path().join(format!("m{i}.log")),
                child: None,
            })
            .collect();
        let initial_cluster = members
            .iter()
            .map(|m| format!("{}={}", m.name, m.peer_url))
            .collect::<Vec<_>>()
            .join(",");
        let mut cluster = EtcdCluster {
            dir,
            members,
            initial_cluster,
            extra_args,
        };
        for i in 0..size {
            cluster.spawn(i);
        }
        cluster
    }

    fn spawn(&mut self, i: usize) {
        let m = &mut self.members[i];
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&m.log)
            .expect("etcd log");
        let child = Command::new(etcd_bin())
            .args(["--name", &m.name])
            .arg("--data-dir")
            .arg(&m.data_dir)
            .args(["--listen-client-urls", &m.client_url])
            .args(["--advertise-client-urls", &m.client_url])
            .args(["--listen-peer-urls", &m.peer_url])
            .args(["--initial-advertise-peer-urls", &m.peer_url])
            .args(["--initial-cluster", &self.initial_cluster])
            .args(["--initial-cluster-state", "new"])
            .args(["--initial-cluster-token", "keyward-test"])
            .args(["--heartbeat-interval", "50", "--election-timeout", "500"])
            .args(["--max-txn-ops", &MAX_TXN_OPS.to_string()])
            .args(["--logger", "zap", "--log-level", "warn"])
            .args(&self.extra_args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(log))
            .spawn()
            .expect("spawn etcd (is etcd-server installed? scripts/test installs it)");
        m.child = Some(child);
    }

    pub fn endpoints(&self) -> Vec<String> {
        self.members.iter().map(|m| m.client_url.clone()).collect()
    }

    /// The endpoints with member `first` first (what node `first` is configured with).
    pub fn endpoints_from(&self, first: usize) -> Vec<String> {
        let mut all = self.endpoints();
        all.rotate_left(first);
        all
    }

    /// SIGKILL one member.
    pub fn kill(&mut self, i: usize) {
        if let Some(mut child) = self.members[i].child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Holds member `i` stopped (SIGSTOP): it neither answers nor applies until
    /// [`EtcdCluster::resume`], and then lags behind what the others committed meanwhile.
    pub fn pause(&self, i: usize) {
        self.signal(i, "-STOP");
    }

    /// Lets a paused member run again (SIGCONT).
    pub fn resume(&self, i: usize) {
        self.signal(i, "-CONT");
    }

    fn signal(&self, i: usize, signal: &str) {
        let child = self.members[i].child.as_ref().expect("member is running");
        let status = Command::new("kill")
            .args([signal, &child.id().to_string()])
            .status()
            .expect("kill(1) runs");
        assert!(status.success(), "kill {signal} of etcd member {i}");
    }

    /// Restarts a killed member on its data dir.
    pub fn restart(&mut self, i: usize) {
        assert!(self.members[i].child.is_none(), "member {i} is running");
        self.spawn(i);
    }

    /// Whether member `i` reports a leader (a linearizable read would succeed through it).
    pub fn has_leader(&self, i: usize) -> bool {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_millis(500)))
            .http_status_as_error(false)
            .build()
            .new_agent();
        let url = format!("{}/v3/kv/range", self.members[i].client_url);
        // A linearizable read of any key: answered only with a leader and a quorum.
        match agent
            .post(&url)
            .header("content-type", "application/json")
            .send(r#"{"key":"AA=="}"#)
        {
            Ok(response) => response.status().as_u16() == 200,
            Err(_) => false,
        }
    }

    /// Waits (bounded) until every running member serves linearizable reads.
    pub fn wait_quorum(&self) {
        self.wait_until_ready("", |c, i| c.has_leader(i));
    }

    /// Waits until `ready` holds for every running member; panics with the members' logs
    /// otherwise. `what` names the kind of cluster in that message.
    fn wait_until_ready(&self, what: &str, ready: impl Fn(&EtcdCluster, usize) -> bool) {
        if let Err(not_ready) = self.until_ready(ready) {
            panic!("etcd{what}: {not_ready}");
        }
    }

    /// Waits until `ready` holds for every running member, at most 20 s. A member that logged
    /// a port already in use has exited (etcd stops on it), so that ends the wait at once.
    fn until_ready(&self, ready: impl Fn(&EtcdCluster, usize) -> bool) -> Result<(), NotReady> {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let running = || (0..self.members.len()).filter(|i| self.members[*i].child.is_some());
            if running().all(|i| ready(self, i)) {
                return Ok(());
            }
            let taken = running()
                .filter_map(|i| std::fs::read_to_string(&self.members[i].log).ok())
                .find_map(|log| {
                    log.lines()
                        .find(|l| l.contains("address already in use"))
                        .map(str::to_string)
                });
            if let Some(line) = taken {
                return Err(NotReady::PortTaken(line));
            }
            if Instant::now() > deadline {
                return Err(NotReady::Failed(self.logs()));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn logs(&self) -> String {
        self.members
            .iter()
            .map(|m| std::fs::read_to_string(&m.log).unwrap_or_default())
            .collect()
    }
}

/// Why members did not become ready.
pub enum NotReady {
    /// A member exited because its port was in use; the log line says which.
    PortTaken(String),
    /// A member exited for another reason, or the 20 s ran out; the members' logs.
    Failed(String),
}

impl std::fmt::Display for NotReady {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NotReady::PortTaken(line) => write!(f, "a member's port was taken: {line}"),
            NotReady::Failed(logs) => write!(f, "did not reach quorum in 20 s; logs:\n{logs}"),
        }
    }
}

impl Drop for EtcdCluster {
    fn drop(&mut self) {
        for i in 0..self.members.len() {
            self.kill(i);
        }
    }
}

// ---- one more member, started from an environment file (tests/cluster_join.rs) ------------

/// The variables of an environment file as systemd's `EnvironmentFile=` reads them: `KEY=value`
/// lines, blank lines and `#` comments skipped, one pair of surrounding quotes removed.
pub fn parse_env_file(text: &str) -> Vec<(String, String)> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#') && !l.starts_with(';'))
        .map(|l| {
            let (key, value) = l
                .split_once('=')
                .unwrap_or_else(|| panic!("environment line without '=': {l:?}"));
            let value = value.trim();
            let unquoted = value
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .or_else(|| value.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')))
                .unwrap_or(value);
            (key.trim().to_string(), unquoted.to_string())
        })
        .collect()
}

/// An etcd started like Debian's etcd.service does: no flags, its settings from ETCD_*
/// variables (the environment file's, then the data dir and this suite's short timings, as
/// the unit's `Environment=` lines add). Killed on drop.
pub struct EnvMember {
    pub log: PathBuf,
    child: Option<Child>,
}

impl EnvMember {
    pub fn start(env: &[(String, String)], data_dir: &std::path::Path, log: PathBuf) -> EnvMember {
        let log_file = std::fs::File::create(&log).expect("etcd log");
        let mut cmd = Command::new(etcd_bin());
        // Nothing from the test runner's own environment may configure this etcd.
        for (key, _) in std::env::vars() {
            if key.starts_with("ETCD_") {
                cmd.env_remove(key);
            }
        }
        cmd.envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .env("ETCD_DATA_DIR", data_dir)
            .env("ETCD_HEARTBEAT_INTERVAL", "50")
            .env("ETCD_ELECTION_TIMEOUT", "500")
            .env("ETCD_LOGGER", "zap")
            .env("ETCD_LOG_LEVEL", "warn");
        let child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(log_file))
            .spawn()
            .expect("spawn etcd from environment");
        EnvMember {
            log,
            child: Some(child),
        }
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for EnvMember {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

// ---- mutual TLS on the client URLs ----------------------------------------------------------

/// Certificates for etcd members that serve clients over mutual TLS, made by the test: a CA,
/// the members' certificate (IP SAN 127.0.0.1), a client certificate of that CA, and a client
/// certificate of another CA that the members must refuse.
pub struct EtcdTls {
    pub ca: PathBuf,
    pub server_cert: PathBuf,
    pub server_key: PathBuf,
    pub client_cert: PathBuf,
    pub client_key: PathBuf,
    pub foreign_ca: PathBuf,
    pub foreign_cert: PathBuf,
    pub foreign_key: PathBuf,
}

fn test_ca(name: &str) -> (rcgen::Certificate, rcgen::Issuer<'static, rcgen::KeyPair>) {
    let key = rcgen::KeyPair::generate().expect("CA key");
    let mut params = rcgen::CertificateParams::default();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, name);
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    params.key_usages = vec![
        rcgen::KeyUsagePurpose::KeyCertSign,
        rcgen::KeyUsagePurpose::CrlSign,
        rcgen::KeyUsagePurpose::DigitalSignature,
    ];
    let cert = params.self_signed(&key).expect("self-signed CA");
    (cert, rcgen::Issuer::new(params, key))
}

fn test_leaf(
    issuer: &rcgen::Issuer<'static, rcgen::KeyPair>,
    common_name: &str,
    names: &[&str],
    usages: Vec<rcgen::ExtendedKeyUsagePurpose>,
    cert_path: &std::path::Path,
    key_path: &std::path::Path,
) {
    let key = rcgen::KeyPair::generate().expect("leaf key");
    let mut params =
        rcgen::CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
            .expect("leaf names");
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, common_name);
    params.key_usages = vec![
        rcgen::KeyUsagePurpose::DigitalSignature,
        rcgen::KeyUsagePurpose::KeyEncipherment,
    ];
    params.extended_key_usages = usages;
    let cert = params.signed_by(&key, issuer).expect("sign leaf");
    std::fs::write(cert_path, cert.pem()).expect("write certificate");
    std::fs::write(key_path, key.serialize_pem()).expect("write key");
}

impl EtcdTls {
    /// Writes every certificate and key into `dir`.
    pub fn generate(dir: &std::path::Path) -> EtcdTls {
        use rcgen::ExtendedKeyUsagePurpose::{ClientAuth, ServerAuth};
        let files = EtcdTls {
            ca: dir.join("etcd-ca.crt"),
            server_cert: dir.join("etcd-server.crt"),
            server_key: dir.join("etcd-server.key"),
            client_cert: dir.join("etcd-client.crt"),
            client_key: dir.join("etcd-client.key"),
            foreign_ca: dir.join("foreign-ca.crt"),
            foreign_cert: dir.join("foreign-client.crt"),
            foreign_key: dir.join("foreign-client.key"),
        };
        let (ca, issuer) = test_ca("etcd test CA");
        std::fs::write(&files.ca, ca.pem()).expect("write CA");
        // clientAuth too: etcd's JSON gateway dials the member's own gRPC port presenting
        // the member's certificate, which --client-cert-auth then checks like any client's.
        test_leaf(
            &issuer,
            "etcd member",
            &["127.0.0.1", "localhost"],
            vec![ServerAuth, ClientAuth],
            &files.server_cert,
            &files.server_key,
        );
        test_leaf(
            &issuer,
            "keyward node",
            &[],
            vec![ClientAuth],
            &files.client_cert,
            &files.client_key,
        );
        let (foreign, foreign_issuer) = test_ca("another CA");
        std::fs::write(&files.foreign_ca, foreign.pem()).expect("write foreign CA");
        test_leaf(
            &foreign_issuer,
            "keyward node",
            &[],
            vec![ClientAuth],
            &files.foreign_cert,
            &files.foreign_key,
        );
        files
    }

    /// A ureq agent presenting the good client certificate (readiness checks only).
    fn agent(&self, timeout: Duration) -> ureq::Agent {
        use ureq::tls::{Certificate, ClientCert, PrivateKey, RootCerts, TlsConfig, TlsProvider};
        let read = |path: &PathBuf| std::fs::read(path).expect("read PEM");
        let ca = Certificate::from_pem(&read(&self.ca)).expect("CA PEM");
        let cert = Certificate::from_pem(&read(&self.client_cert)).expect("client PEM");
        let key = PrivateKey::from_pem(&read(&self.client_key)).expect("key PEM");
        let tls = TlsConfig::builder()
            .provider(TlsProvider::Rustls)
            .unversioned_rustls_crypto_provider(std::sync::Arc::new(
                rustls::crypto::aws_lc_rs::default_provider(),
            ))
            .root_certs(RootCerts::new_with_certs(&[ca]))
            .client_cert(Some(ClientCert::new_with_certs(&[cert], key)))
            .build();
        ureq::Agent::config_builder()
            .timeout_global(Some(timeout))
            .http_status_as_error(false)
            .tls_config(tls)
            .build()
            .new_agent()
    }
}

impl EtcdCluster {
    /// Like [`EtcdCluster::start`], but every member serves clients on an https URL and asks
    /// for a client certificate of `tls.ca` (`--client-cert-auth`). Peer traffic stays plain
    /// http on loopback.
    pub fn start_tls(size: usize, tls: &EtcdTls) -> EtcdCluster {
        let path = |p: &PathBuf| p.to_string_lossy().into_owned();
        let args = vec![
            "--client-cert-auth".into(),
            "--trusted-ca-file".into(),
            path(&tls.ca),
            "--cert-file".into(),
            path(&tls.server_cert),
            "--key-file".into(),
            path(&tls.server_key),
        ];
        let agent = tls.agent(Duration::from_millis(500));
        EtcdCluster::start_ready(size, "https", args, " (TLS)", |c, i| {
            c.serves_over(&agent, i)
        })
    }

    /// [`EtcdCluster::wait_quorum`] over mutual TLS.
    pub fn wait_quorum_tls(&self, tls: &EtcdTls) {
        let agent = tls.agent(Duration::from_millis(500));
        self.wait_until_ready(" (TLS)", |c, i| c.serves_over(&agent, i));
    }

    /// Whether member `i` answers a linearizable read through `agent`.
    fn serves_over(&self, agent: &ureq::Agent, i: usize) -> bool {
        agent
            .post(format!("{}/v3/kv/range", self.members[i].client_url))
            .header("content-type", "application/json")
            .send(r#"{"key":"AA=="}"#)
            .is_ok_and(|r| r.status().as_u16() == 200)
    }
}
