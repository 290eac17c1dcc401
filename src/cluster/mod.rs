//! A cluster node's cluster service: what only a node of an etcd cluster does beside keeping
//! keys — its own id, its view of etcd's health, its health report for every node to read,
//! the other nodes' reports, and its part of `keyward audit gather`. The appliance builds it
//! beside the store and hands it to whoever needs it (issue 20): the store keeps objects,
//! metadata and audit records, and nothing reaches the cluster by downcasting the store. A
//! single appliance has no `Cluster`.
//!
//! - [`report`]: what a node reports about itself, and when it counts as silent;
//! - [`audit_gather`]: sending this node's audit log to an open gather request.

pub mod audit_gather;
pub mod report;

use std::sync::Arc;

pub use report::NodeReport;

use crate::store::StoreError;
use crate::store::etcd::{ClusterHealth, EtcdStore};
use crate::store::node::ClusterNodeStore;

/// One node's handle on its cluster: the etcd connection its store also uses, and its id.
pub struct Cluster {
    etcd: Arc<EtcdStore>,
    node_id: String,
}

impl Cluster {
    /// The cluster service of the node whose store is `node`: the same etcd connection (so
    /// degraded mode seen by one is seen by both) and the same node id.
    pub fn of(node: &ClusterNodeStore) -> Cluster {
        Cluster {
            etcd: node.shared_handle(),
            node_id: node.node_id().to_string(),
        }
    }

    /// This node's own id, which labels its audit records and its report.
    pub fn node_id(&self) -> &str {
        &self.node_id
    }

    /// This node's view of etcd (quorum or degraded), for `/healthz` and the console. Cheap:
    /// no network.
    pub fn health(&self) -> ClusterHealth {
        self.etcd.health()
    }

    /// Stores `report` (an encoded [`NodeReport`]) as this node's latest, where every node's
    /// `keyward cluster status` reads it. Needs quorum, like any write.
    pub fn publish_report(&self, report: &[u8]) -> Result<(), StoreError> {
        self.etcd.publish_node_report(&self.node_id, report)
    }

    /// Every node's latest report, by node id; also without quorum.
    pub fn node_reports(&self) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        self.etcd.node_reports()
    }

    fn etcd(&self) -> &EtcdStore {
        &self.etcd
    }
}
