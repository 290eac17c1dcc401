//! The `[cluster]` table: where the etcd members are and how to reach them.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

/// Settings of the etcd-backed store. Present in the configuration = this node is a cluster
/// member and keeps everything in etcd instead of its local redb file.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ClusterConfig {
    /// etcd client URLs, this node's own member FIRST: in degraded mode reads are served by
    /// the first member that answers, and the local one is the one that survives a partition.
    pub endpoints: Vec<String>,
    /// Every key Keyward writes starts with this prefix, so one etcd can hold other data.
    pub prefix: String,
    /// CA bundle that signed the etcd members' certificates (https endpoints).
    pub ca_file: Option<PathBuf>,
    /// Client certificate and key this node presents to etcd (mutual TLS).
    pub cert_file: Option<PathBuf>,
    pub key_file: Option<PathBuf>,
    /// One HTTP exchange with etcd gives up after this long; a commit that times out is
    /// answered as unavailable (its outcome is unknown to the client, which may retry).
    pub request_timeout_ms: u64,
    /// Most operations (compares or writes) in one etcd transaction. Must not exceed etcd's
    /// `--max-txn-ops` (etcd's default is 128; docs/cluster.md starts etcd with 4096).
    pub max_txn_ops: usize,
    /// While degraded, quorum is probed again at most this often.
    pub probe_interval_ms: u64,
}

impl Default for ClusterConfig {
    fn default() -> Self {
        ClusterConfig {
            endpoints: vec!["http://127.0.0.1:2379".into()],
            prefix: "/keyward/".into(),
            ca_file: None,
            cert_file: None,
            key_file: None,
            request_timeout_ms: 2000,
            max_txn_ops: 4096,
            probe_interval_ms: 1000,
        }
    }
}

impl ClusterConfig {
    pub fn request_timeout(&self) -> Duration {
        Duration::from_millis(self.request_timeout_ms)
    }

    pub fn probe_interval(&self) -> Duration {
        Duration::from_millis(self.probe_interval_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn example_cluster_table_parses_and_documents_the_defaults() {
        let text = include_str!("../../../config.example.toml");
        let block = text
            .split_once("# [cluster]")
            .and_then(|(_, rest)| rest.split_once("\n\n"))
            .expect("the example has a commented [cluster] table")
            .0;
        let mut table = String::from("[cluster]\n");
        for line in block.lines().filter_map(|l| l.strip_prefix("# ")) {
            if let Some((name, _)) = line.split_once(" = ")
                && !name.contains(' ')
            {
                table.push_str(line);
                table.push('\n');
            }
        }
        let config = crate::config::Config::from_toml(&table, "example [cluster]").unwrap();
        let cluster = config.cluster.unwrap();
        assert_eq!(cluster.endpoints.len(), 3);
        let defaults = ClusterConfig::default();
        assert_eq!(cluster.prefix, defaults.prefix);
        assert_eq!(cluster.request_timeout_ms, defaults.request_timeout_ms);
        assert_eq!(cluster.max_txn_ops, defaults.max_txn_ops);
        assert_eq!(cluster.probe_interval_ms, defaults.probe_interval_ms);
    }
}
