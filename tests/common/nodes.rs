//! Three Keyward nodes (`keyward serve` processes) on one etcd cluster, each in its own temp
//! data dir, on loopback. Node A is initialised first (`keyward init`, publishes the cluster
//! CA, makes the master key) and issues the test client; B and C join with A's root key file,
//! as `keyward cluster join` documents for the local root. Dropping [`Nodes`] SIGKILLs every
//! node (the [`super::Server`] guard) and then etcd.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use super::etcd::EtcdCluster;
pub use super::run_ok;
use super::{ClientCreds, Server, keyward_bin, spawn_server};

pub struct NodeHome {
    pub data_dir: PathBuf,
    pub config: PathBuf,
}

pub struct Nodes {
    pub homes: Vec<NodeHome>,
    pub servers: Vec<Option<Server>>,
    pub client: ClientCreds,
    /// Declared after the servers: Rust drops fields in order, so nodes die before etcd.
    pub etcd: EtcdCluster,
    pub dir: tempfile::TempDir,
}

pub fn write_config(path: &Path, endpoints: &[String], prefix: &str) {
    write_config_with(path, endpoints, prefix, "");
}

/// The node configuration with `extra` TOML right after the `[cluster]` keys: more keys of
/// that table (TLS files), then other tables.
pub fn write_config_with(path: &Path, endpoints: &[String], prefix: &str, extra: &str) {
    let list = endpoints
        .iter()
        .map(|e| format!("\"{e}\""))
        .collect::<Vec<_>>()
        .join(", ");
    std::fs::write(
        path,
        format!(
            "[cluster]\nendpoints = [{list}]\nprefix = \"{prefix}\"\nrequest_timeout_ms = 1500\n\
             probe_interval_ms = 300\nmax_txn_ops = {}\n{extra}",
            super::etcd::MAX_TXN_OPS
        ),
    )
    .expect("write node config");
}

impl Nodes {
    /// Runs `keyward ARGS --config … --data-dir …` as node `node`'s administrator, stdin closed.
    pub fn keyward(&self, node: usize, args: &[&str]) -> Output {
        Command::new(keyward_bin())
            .args(args)
            .arg("--config")
            .arg(&self.homes[node].config)
            .arg("--data-dir")
            .arg(&self.homes[node].data_dir)
            .stdin(Stdio::null())
            .output()
            .expect("run keyward")
    }

    /// etcd with `size` members, and one Keyward node per member (each lists its own member
    /// first).
    pub fn start(size: usize) -> Nodes {
        Nodes::start_with(size, "")
    }

    /// As [`Nodes::start`], with `extra` TOML tables in every node's configuration.
    pub fn start_with(size: usize, extra: &str) -> Nodes {
        let etcd = EtcdCluster::start(size);
        let dir = tempfile::tempdir().expect("temp dir");
        let homes: Vec<NodeHome> = (0..size)
            .map(|i| {
                let data_dir = dir.path().join(format!("node{i}"));
                let config = dir.path().join(format!("node{i}.toml"));
                write_config_with(&config, &etcd.endpoints_from(i), "/keyward-test/", extra);
                NodeHome { data_dir, config }
            })
            .collect();
        run_ok(
            Command::new(keyward_bin())
                .args(["cluster", "init"])
                .arg("--config")
                .arg(&homes[0].config)
                .arg("--data-dir")
                .arg(&homes[0].data_dir),
        );
        let out = dir.path().join("client-vcenter");
        run_ok(
            Command::new(keyward_bin())
                .args(["client", "issue", "--name", "vcenter", "--out"])
                .arg(&out)
                .arg("--config")
                .arg(&homes[0].config)
                .arg("--data-dir")
                .arg(&homes[0].data_dir),
        );
        let client = ClientCreds {
            name: "vcenter".into(),
            cert: out.join("client.crt"),
            key: out.join("client.key"),
            ca: out.join("ca.crt"),
        };
        for home in &homes[1..] {
            run_ok(
                Command::new(keyward_bin())
                    .args(["cluster", "join", "--root-key-file"])
                    .arg(homes[0].data_dir.join("root.key"))
                    .arg("--config")
                    .arg(&home.config)
                    .arg("--data-dir")
                    .arg(&home.data_dir),
            );
        }
        let mut nodes = Nodes {
            homes,
            servers: (0..size).map(|_| None).collect(),
            client,
            etcd,
            dir,
        };
        for i in 0..size {
            nodes.start_node(i);
        }
        nodes
    }

    pub fn start_node(&mut self, i: usize) {
        let home = &self.homes[i];
        let server = spawn_server(
            Command::new(keyward_bin())
                .arg("serve")
                .arg("--config")
                .arg(&home.config)
                .arg("--data-dir")
                .arg(&home.data_dir)
                .args(["--listen", "127.0.0.1:0"]),
            &self.dir.path().join(format!("node{i}.log")),
        );
        self.servers[i] = Some(server);
    }

    pub fn node(&self, i: usize) -> &Server {
        self.servers[i].as_ref().expect("node is running")
    }

    /// SIGKILL node `i` (Keyward only).
    pub fn kill_node(&mut self, i: usize) {
        if let Some(mut server) = self.servers[i].take() {
            server.kill_hard();
        }
    }

    /// Warning and error lines of every running node, for failure messages.
    pub fn problems(&self) -> String {
        let mut out: Vec<String> = self
            .logs()
            .lines()
            .filter(|l| l.contains("WARN") || l.contains("ERROR"))
            .map(str::to_string)
            .collect();
        for member in &self.etcd.members {
            let log = std::fs::read_to_string(&member.log).unwrap_or_default();
            let lines: Vec<&str> = log.lines().collect();
            out.push(format!("--- etcd {} (last lines)", member.name));
            out.extend(
                lines[lines.len().saturating_sub(8)..]
                    .iter()
                    .map(|l| l.to_string()),
            );
        }
        out.join("\n")
    }

    pub fn logs(&self) -> String {
        self.servers
            .iter()
            .flatten()
            .map(|s| s.log())
            .collect::<Vec<_>>()
            .join("\n----\n")
    }
}

/// Runs `f` until it returns true, at most `bound`; panics with `what` otherwise.
pub fn eventually(bound: std::time::Duration, what: &str, mut f: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + bound;
    while !f() {
        assert!(
            std::time::Instant::now() < deadline,
            "{what} did not happen within {bound:?}"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}
