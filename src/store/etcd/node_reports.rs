//! Each node's latest health report, kept in etcd beside the shared state so that
//! `keyward cluster status` on any node shows every node. Reports are written outside the
//! group transactions (a plain put on the node's own key): no group reads them, so they
//! never make a group conflict.

use super::EtcdStore;
use super::gateway::{PutRequest, RangeRequest, RangeResponse, b64};
use super::keys::{prefix_end, uid_after};
use super::read::gateway_error;
use crate::store::StoreError;

/// etcd's answer to a put; only its arrival matters.
#[derive(serde::Deserialize)]
struct PutResponse {}

impl EtcdStore {
    /// Stores `report` as node `node_id`'s latest. Needs quorum, like any write.
    pub fn publish_node_report(&self, node_id: &str, report: &[u8]) -> Result<(), StoreError> {
        let request = PutRequest {
            key: b64(&self.keys.node_report(node_id)),
            value: b64(report),
            lease: 0,
        };
        self.gateway
            .call::<_, PutResponse>("/v3/kv/put", &request, false)
            .map(|_| ())
            .map_err(|e| gateway_error("storing this node's report in etcd", e))
    }

    /// Every node's latest report, by node id. Read from the first member that answers
    /// (serializable), so it also works without quorum.
    pub fn node_reports(&self) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        let prefix = self.keys.node_reports_prefix();
        let request = RangeRequest {
            key: b64(&prefix),
            range_end: Some(b64(&prefix_end(&prefix))),
            serializable: true,
            ..RangeRequest::default()
        };
        let (answer, _) = self
            .gateway
            .call::<_, RangeResponse>("/v3/kv/range", &request, true)
            .map_err(|e| gateway_error("reading the nodes' reports from etcd", e))?;
        answer
            .kvs
            .into_iter()
            .map(|kv| Ok((uid_after(&prefix, &kv.key)?, kv.value)))
            .collect()
    }
}
