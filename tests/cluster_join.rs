//! `keyward cluster join` adding this node's etcd member, on real etcd (Debian's etcd-server)
//! and real `keyward serve` processes, all on loopback in temp dirs: the member is added as a
//! learner, started from the environment file the join writes (as systemd's EnvironmentFile=
//! would), promoted, and the new node then serves the first node's keys and the reverse.
//! Joining again adds nothing; `cluster remove-member` takes a member back but never the last.
//! Every etcd, join and serve process is killed by a Drop guard, also when a test fails.

mod common;
use common::etcd;
use common::nodes;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::*;
use etcd::{EnvMember, EtcdCluster, etcd_or_skip, parse_env_file};
use keyward::store::etcd::ClusterConfig;
use keyward::store::etcd::gateway::{Gateway, Member};
use nodes::{run_ok, write_config};

fn members(endpoint: &str) -> Vec<Member> {
    let gateway = Gateway::new(&ClusterConfig {
        endpoints: vec![endpoint.to_string()],
        ..ClusterConfig::default()
    })
    .expect("gateway");
    gateway.member_list().expect("member list").members
}

/// A process SIGKILLed on drop unless it was waited for.
struct ChildGuard(Option<Child>);

impl ChildGuard {
    /// Waits at most `bound`; the output, or a panic naming what hung.
    fn wait(&mut self, bound: Duration, what: &str) -> Output {
        let deadline = Instant::now() + bound;
        let child = self.0.as_mut().expect("not waited for yet");
        while child.try_wait().expect("try_wait").is_none() {
            if Instant::now() > deadline {
                let _ = child.kill();
                let out = self.0.take().expect("child").wait_with_output();
                panic!("{what} did not finish within {bound:?}: {out:?}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        self.0
            .take()
            .expect("child")
            .wait_with_output()
            .expect("output")
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        if let Some(mut child) = self.0.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn text(out: &Output) -> String {
    format!(
        "status {}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// `keyward ARGS… --config … --data-dir …` (the setup options belong to the subcommand).
fn keyward<S: AsRef<std::ffi::OsStr>>(setup: &Home, args: impl IntoIterator<Item = S>) -> Command {
    let mut cmd = Command::new(keyward_bin());
    cmd.args(args)
        .arg("--config")
        .arg(&setup.config)
        .arg("--data-dir")
        .arg(&setup.data_dir);
    cmd
}

struct Home {
    config: PathBuf,
    data_dir: PathBuf,
}

fn home(dir: &Path, name: &str, endpoints: &[String]) -> Home {
    let config = dir.join(format!("{name}.toml"));
    write_config(&config, endpoints, "/keyward-join-test/");
    Home {
        config,
        data_dir: dir.join(name),
    }
}

/// The first node: `cluster init` on a one-member etcd.
fn first_node(etcd: &EtcdCluster, dir: &Path) -> Home {
    let first = home(dir, "node0", &etcd.endpoints());
    run_ok(&mut keyward(&first, ["cluster", "init"]));
    first
}

/// The new member's URLs on fresh loopback ports.
struct NewMember {
    peer_url: String,
    client_url: String,
}

fn new_member() -> NewMember {
    NewMember {
        peer_url: format!("http://127.0.0.1:{}", free_loopback_port()),
        client_url: format!("http://127.0.0.1:{}", free_loopback_port()),
    }
}

/// `keyward cluster join` for member `m1` (subcommand arguments after `cluster join`).
fn join_args(existing: &str, member: &NewMember, env_out: &Path, wait: &str) -> Vec<String> {
    join_args_named("m1", existing, member, env_out, wait)
}

fn join_args_named(
    name: &str,
    existing: &str,
    member: &NewMember,
    env_out: &Path,
    wait: &str,
) -> Vec<String> {
    [
        "cluster",
        "join",
        "--peer",
        existing,
        "--etcd-name",
        name,
        "--etcd-peer-url",
        &member.peer_url,
        "--etcd-client-url",
        &member.client_url,
        "--etcd-env-out",
        env_out.to_str().expect("utf-8 path"),
        "--wait",
        wait,
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

fn env_value<'a>(env: &'a [(String, String)], key: &str) -> &'a str {
    env.iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
        .unwrap_or_else(|| panic!("the environment file has no {key}: {env:?}"))
}

#[test]
fn join_adds_the_etcd_member_and_both_nodes_serve_the_same_keys() {
    if !etcd_or_skip() {
        return;
    }
    let etcd = EtcdCluster::start(1);
    let dir = tempfile::tempdir().expect("temp dir");
    let first = first_node(&etcd, dir.path());
    let issued = dir.path().join("client");
    run_ok(
        keyward(&first, ["client", "issue", "--name", "vcenter"])
            .arg("--out")
            .arg(&issued),
    );
    let client = ClientCreds {
        name: "vcenter".into(),
        cert: issued.join("client.crt"),
        key: issued.join("client.key"),
        ca: issued.join("ca.crt"),
    };
    let node0 = spawn_server(
        &mut keyward(&first, ["serve", "--listen", "127.0.0.1:0"]),
        &dir.path().join("node0.log"),
    );
    let mut on0 = node0.connect(&client);
    let made_on_0: Vec<(String, Vec<u8>)> = (0..3)
        .map(|_| {
            let id = create_aes(&mut on0, 256, vec![]);
            let material = get_key(&mut on0, &id);
            (id, material)
        })
        .collect();

    // The second node lists its own (new) member first, as a node should.
    let member = new_member();
    let second = home(
        dir.path(),
        "node1",
        &[
            member.client_url.clone(),
            etcd.members[0].client_url.clone(),
        ],
    );
    let env_file = dir.path().join("etcd-m1.env");
    let mut join = ChildGuard(Some(
        keyward(
            &second,
            join_args(&etcd.members[0].client_url, &member, &env_file, "30s"),
        )
        .arg("--root-key-file")
        .arg(first.data_dir.join("root.key"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn keyward cluster join"),
    ));
    // The join waits for the member; meanwhile the operator (here: the test) starts etcd with
    // the file it wrote.
    let deadline = Instant::now() + Duration::from_secs(15);
    while !env_file.exists() {
        if join
            .0
            .as_mut()
            .expect("join")
            .try_wait()
            .expect("try_wait")
            .is_some()
        {
            let out = join.wait(Duration::from_secs(1), "join");
            panic!("join ended before writing the env file: {}", text(&out));
        }
        assert!(Instant::now() < deadline, "no env file within 15 s");
        std::thread::sleep(Duration::from_millis(50));
    }
    let mode = std::fs::metadata(&env_file)
        .expect("env file")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o644, "env file mode");
    let env = parse_env_file(&std::fs::read_to_string(&env_file).expect("env file"));
    assert_eq!(env_value(&env, "ETCD_NAME"), "m1");
    assert_eq!(env_value(&env, "ETCD_INITIAL_CLUSTER_STATE"), "existing");
    let mut initial: Vec<&str> = env_value(&env, "ETCD_INITIAL_CLUSTER").split(',').collect();
    initial.sort();
    assert_eq!(
        initial,
        [
            format!("m0={}", etcd.members[0].peer_url),
            format!("m1={}", member.peer_url)
        ]
    );
    assert_eq!(
        env_value(&env, "ETCD_ADVERTISE_CLIENT_URLS"),
        member.client_url
    );
    assert_eq!(env_value(&env, "ETCD_MAX_TXN_OPS"), "4096");
    assert_eq!(env_value(&env, "ETCD_AUTO_COMPACTION_MODE"), "periodic");
    // Before etcd starts, the new member is a learner: the first node keeps its quorum.
    let listed = members(&etcd.members[0].client_url);
    assert_eq!(listed.len(), 2, "{listed:?}");
    assert!(
        listed.iter().any(|m| m.is_learner && !m.is_started()),
        "{listed:?}"
    );
    let _ = create_aes(&mut on0, 128, vec![]);

    let m1 = EnvMember::start(&env, &dir.path().join("m1.etcd"), dir.path().join("m1.log"));
    let out = join.wait(Duration::from_secs(40), "keyward cluster join");
    assert!(
        out.status.success(),
        "{}\netcd m1 log:\n{}",
        text(&out),
        m1.log_text()
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("promoted to a voter"), "{stdout}");
    assert!(stdout.contains("joined the cluster"), "{stdout}");

    let listed = members(&member.client_url);
    assert_eq!(listed.len(), 2, "{listed:?}");
    for m in &listed {
        assert!(m.is_started() && !m.is_learner, "{listed:?}");
    }
    let mut names: Vec<&str> = listed.iter().map(|m| m.name.as_str()).collect();
    names.sort();
    assert_eq!(names, ["m0", "m1"]);

    // Joining again once the member runs (before this node serves: a running node holds its
    // local database): said, not added twice, and it still succeeds.
    let again = keyward(
        &second,
        join_args(&etcd.members[0].client_url, &member, &env_file, "10s"),
    )
    .arg("--root-key-file")
    .arg(first.data_dir.join("root.key"))
    .stdin(Stdio::null())
    .output()
    .expect("run join again");
    assert!(again.status.success(), "{}", text(&again));
    assert!(
        String::from_utf8_lossy(&again.stdout).contains("already in the etcd cluster"),
        "{}",
        text(&again)
    );
    assert_eq!(members(&etcd.members[0].client_url).len(), 2);

    // The next node's join, seconds after m1's promotion: etcd answers "unhealthy cluster"
    // until m1 has been connected for 5 s; the join waits for that and says so.
    let third = new_member();
    let third_home = home(
        dir.path(),
        "node2",
        &[third.client_url.clone(), etcd.members[0].client_url.clone()],
    );
    let started = Instant::now();
    let out = keyward(
        &third_home,
        join_args_named(
            "m2",
            &etcd.members[0].client_url,
            &third,
            &dir.path().join("etcd-m2.env"),
            "0",
        ),
    )
    .stdin(Stdio::null())
    .output()
    .expect("run the third join");
    assert!(out.status.success(), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    eprintln!(
        "third join right after a promotion: {} after {:.1} s",
        if stdout.contains("unhealthy cluster") {
            "waited for etcd's 5 s health window"
        } else {
            "accepted at once"
        },
        started.elapsed().as_secs_f64()
    );
    let listed = members(&etcd.members[0].client_url);
    assert_eq!(listed.len(), 3, "{listed:?}");
    assert!(
        listed.iter().any(|m| m.is_learner && !m.is_started()),
        "{listed:?}"
    );

    let node1 = spawn_server(
        &mut keyward(&second, ["serve", "--listen", "127.0.0.1:0"]),
        &dir.path().join("node1.log"),
    );
    let mut on1 = node1.connect(&client);
    for (id, material) in &made_on_0 {
        assert_eq!(&get_key(&mut on1, id), material, "key {id} on node 1");
    }
    let id = create_aes(&mut on1, 256, vec![]);
    let material = get_key(&mut on1, &id);
    assert_eq!(get_key(&mut on0, &id), material, "node 1's key on node 0");

    drop(m1);
}

#[test]
fn joining_twice_adds_one_member_and_remove_member_keeps_the_last() {
    if !etcd_or_skip() {
        return;
    }
    let etcd = EtcdCluster::start(1);
    let dir = tempfile::tempdir().expect("temp dir");
    let first = first_node(&etcd, dir.path());
    let existing = etcd.members[0].client_url.clone();
    let member = new_member();
    let second = home(
        dir.path(),
        "node1",
        &[member.client_url.clone(), existing.clone()],
    );
    let env_file = dir.path().join("etcd-m1.env");

    // --wait 0: add, write the settings and stop (the systemd flow's first step), twice.
    let once = run_ok(&mut keyward(
        &second,
        join_args(&existing, &member, &env_file, "0"),
    ));
    assert!(once.contains("added etcd member"), "{once}");
    let env_once = std::fs::read_to_string(&env_file).expect("env file");
    let twice = run_ok(&mut keyward(
        &second,
        join_args(&existing, &member, &env_file, "0"),
    ));
    assert!(twice.contains("already in the etcd cluster"), "{twice}");
    assert!(!twice.contains("added etcd member"), "{twice}");
    assert_eq!(
        std::fs::read_to_string(&env_file).expect("env file"),
        env_once
    );
    let listed = members(&existing);
    assert_eq!(listed.len(), 2, "one member added, not two: {listed:?}");
    let pending = listed
        .iter()
        .find(|m| m.peer_urls == [member.peer_url.clone()])
        .expect("the new member is listed");
    assert!(pending.is_learner && !pending.is_started(), "{listed:?}");
    assert!(
        !second.data_dir.join("root.key").exists(),
        "the Keyward part waits until the member runs"
    );

    // The learner does not count for quorum: the first node stays healthy, and says so.
    let status = run_ok(&mut keyward(&first, ["cluster", "status"]));
    assert!(status.contains("(unstarted)"), "{status}");
    assert!(status.contains("learner"), "{status}");
    assert!(status.contains("this node: healthy"), "{status}");

    // A second new member while the first has not finished joining is refused.
    let other = new_member();
    let refused = keyward(
        &second,
        [
            "cluster",
            "join",
            "--peer",
            &existing,
            "--etcd-name",
            "m2",
            "--etcd-peer-url",
            &other.peer_url,
            "--etcd-client-url",
            &other.client_url,
            "--wait",
            "0",
        ],
    )
    .stdin(Stdio::null())
    .output()
    .expect("run join");
    assert!(!refused.status.success(), "{}", text(&refused));
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("has not finished joining"),
        "{}",
        text(&refused)
    );
    assert_eq!(members(&existing).len(), 2);

    // remove-member takes the unstarted one back (by peer URL: it has no name yet) ...
    let removed = run_ok(&mut keyward(
        &first,
        ["cluster", "remove-member", &member.peer_url],
    ));
    assert!(removed.contains("removed"), "{removed}");
    assert_eq!(members(&existing).len(), 1);
    // ... but never the last member.
    let last = keyward(&first, ["cluster", "remove-member", "m0"])
        .stdin(Stdio::null())
        .output()
        .expect("run remove-member");
    assert!(!last.status.success(), "{}", text(&last));
    assert!(
        String::from_utf8_lossy(&last.stderr).contains("last voting member"),
        "{}",
        text(&last)
    );
    assert_eq!(members(&existing).len(), 1);
}
