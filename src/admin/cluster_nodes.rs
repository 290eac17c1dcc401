//! The nodes of a cluster as every node sees them: each Keyward node's latest health report
//! from etcd (`crate::cluster::report`), with its age and whether it has gone silent. One reading
//! for the admin API and the dashboard; a single appliance answers with no nodes.

use serde::Serialize;

use crate::cluster::{Cluster, NodeReport};
use crate::store::StoreError;

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeView {
    pub id: String,
    /// Where the node serves KMIP.
    pub kmip: String,
    pub version: String,
    /// `serving`, `stopped`, `sealed`, `degraded`, …; `silent` when reports stopped coming.
    pub state: String,
    pub detail: Option<String>,
    pub reported_secs_ago: i64,
}

/// `None` for a single appliance; otherwise every node that has reported (an unreadable
/// report is listed with state `unreadable`).
pub fn nodes(cluster: Option<&Cluster>) -> Result<Option<Vec<NodeView>>, StoreError> {
    let Some(cluster) = cluster else {
        return Ok(None);
    };
    let now = crate::audit::now_ms();
    let mut out = Vec::new();
    for (id, bytes) in cluster.node_reports()? {
        out.push(match serde_json::from_slice::<NodeReport>(&bytes) {
            Ok(report) => NodeView {
                state: if report.is_silent(now) {
                    "silent".into()
                } else {
                    report.state.clone()
                },
                reported_secs_ago: report.age_ms(now) / 1000,
                id,
                kmip: report.kmip,
                version: report.version,
                detail: report.detail,
            },
            Err(e) => NodeView {
                id,
                kmip: String::new(),
                version: String::new(),
                state: "unreadable".into(),
                detail: Some(e.to_string()),
                reported_secs_ago: -1,
            },
        });
    }
    Ok(Some(out))
}
