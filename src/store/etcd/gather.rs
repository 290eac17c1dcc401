//! Gathering every node's audit log through etcd, on demand (`keyward audit gather`). Each
//! node keeps its own chain in its local database, which no other node can read; etcd is the
//! one place they all reach. The asking command opens a request under a lease; every running
//! node sees it within a second (its heartbeat thread looks), writes its whole log as
//! numbered chunks under the same lease and then a `done` part; the command reads the answers
//! and revokes the lease, which deletes them all. Nothing stays behind if the command dies:
//! the lease runs out.
//!
//! Records are not secret (no key material, ever) but not trusted either: the command checks
//! every node's chain with the shared chain key before it prints anything as intact.

use serde::{Deserialize, Serialize};

use super::EtcdStore;
use super::gateway::{PutRequest, RangeRequest, RangeResponse, b64};
use super::keys::prefix_end;
use super::read::gateway_error;
use crate::store::StoreError;

/// An open request: its id and the lease every key of it is put with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GatherRequest {
    pub id: String,
    pub lease: i64,
}

/// What a node writes last, once every chunk of its answer is in place.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GatherDone {
    pub records: u64,
    pub chunks: u64,
    /// Set when the node could not read its own log; its chunks are then incomplete.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// One node's answer as read back: its chunks in order, and its `done` part if written.
#[derive(Debug, Default)]
pub struct GatherAnswer {
    pub chunks: Vec<Vec<u8>>,
    pub done: Option<GatherDone>,
}

#[derive(Deserialize)]
struct PutResponse {}

/// The name of chunk `index`: fixed width, so etcd's byte order is the chunk order.
fn chunk_part(index: u64) -> String {
    format!("c{index:010}")
}

const DONE_PART: &str = "done";

type KeyAndValue = (Vec<u8>, Vec<u8>);

impl EtcdStore {
    fn put_leased(&self, key: Vec<u8>, value: &[u8], lease: i64) -> Result<(), StoreError> {
        let request = PutRequest {
            key: b64(&key),
            value: b64(value),
            lease,
        };
        self.gateway
            .call::<_, PutResponse>("/v3/kv/put", &request, false)
            .map(|_| ())
            .map_err(|e| gateway_error("writing to etcd", e))
    }

    /// `serializable`: from the first member that answers, without asking the leader (may lag
    /// a little; answers at once, also without quorum).
    fn scan_prefix(
        &self,
        prefix: &[u8],
        serializable: bool,
    ) -> Result<Vec<KeyAndValue>, StoreError> {
        let request = RangeRequest {
            key: b64(prefix),
            range_end: Some(b64(&prefix_end(prefix))),
            serializable,
            ..RangeRequest::default()
        };
        let (answer, _) = self
            .gateway
            .call::<_, RangeResponse>("/v3/kv/range", &request, serializable)
            .map_err(|e| gateway_error("reading from etcd", e))?;
        Ok(answer
            .kvs
            .into_iter()
            .map(|kv| (kv.key, kv.value))
            .collect())
    }

    /// Opens a request that lives at most `ttl_secs` unless closed first.
    pub fn open_gather(&self, id: &str, ttl_secs: i64) -> Result<GatherRequest, StoreError> {
        let lease = self
            .gateway
            .lease_grant(ttl_secs)
            .map_err(|e| gateway_error("taking an etcd lease", e))?;
        let request = GatherRequest {
            id: id.to_string(),
            lease,
        };
        let bytes = serde_json::to_vec(&request).map_err(|e| {
            StoreError::Io(crate::store::Cause::with_source(
                "an audit gather request",
                e,
            ))
        })?;
        self.put_leased(self.keys.gather_request(id), &bytes, lease)?;
        Ok(request)
    }

    /// Ends a request: its lease goes, and with it every answer.
    pub fn close_gather(&self, request: &GatherRequest) -> Result<(), StoreError> {
        self.gateway
            .lease_revoke(request.lease)
            .map_err(|e| gateway_error("revoking an etcd lease", e))
    }

    /// Requests open now, as the local member knows them. A cheap read: normally empty.
    pub fn open_gathers(&self) -> Result<Vec<GatherRequest>, StoreError> {
        self.scan_prefix(&self.keys.gather_requests_prefix(), true)?
            .into_iter()
            .map(|(_, value)| {
                serde_json::from_slice(&value).map_err(|e| {
                    StoreError::Corrupt(format!("an audit gather request: {e}").into())
                })
            })
            .collect()
    }

    pub fn put_gather_chunk(
        &self,
        request: &GatherRequest,
        node: &str,
        index: u64,
        chunk: &[u8],
    ) -> Result<(), StoreError> {
        let key = self
            .keys
            .gather_answer(&request.id, node, &chunk_part(index));
        self.put_leased(key, chunk, request.lease)
    }

    pub fn put_gather_done(
        &self,
        request: &GatherRequest,
        node: &str,
        done: &GatherDone,
    ) -> Result<(), StoreError> {
        let bytes = serde_json::to_vec(done).map_err(|e| {
            StoreError::Io(crate::store::Cause::with_source(
                "an audit gather answer",
                e,
            ))
        })?;
        let key = self.keys.gather_answer(&request.id, node, DONE_PART);
        self.put_leased(key, &bytes, request.lease)
    }

    /// Whether `node` has finished answering `request`.
    pub fn gather_answered(&self, request: &GatherRequest, node: &str) -> Result<bool, StoreError> {
        let key = self.keys.gather_answer(&request.id, node, DONE_PART);
        Ok(!self.scan_prefix(&key, false)?.is_empty())
    }

    /// Every node's answer so far, by node id.
    pub fn gather_answers(
        &self,
        request: &GatherRequest,
    ) -> Result<std::collections::BTreeMap<String, GatherAnswer>, StoreError> {
        let prefix = self.keys.gather_answers_prefix(&request.id);
        let mut answers = std::collections::BTreeMap::<String, GatherAnswer>::new();
        for (key, value) in self.scan_prefix(&prefix, false)? {
            let rest = String::from_utf8_lossy(&key[prefix.len().min(key.len())..]).into_owned();
            let Some((node, part)) = rest.split_once('/') else {
                continue;
            };
            let answer = answers.entry(node.to_string()).or_default();
            if part == DONE_PART {
                answer.done = serde_json::from_slice(&value).ok();
            } else {
                answer.chunks.push(value);
            }
        }
        Ok(answers)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunk_names_sort_in_chunk_order() {
        let mut names: Vec<String> = [10, 2, 1, 100, 0].iter().map(|i| chunk_part(*i)).collect();
        names.sort();
        assert_eq!(
            names,
            [
                "c0000000000",
                "c0000000001",
                "c0000000002",
                "c0000000010",
                "c0000000100"
            ]
        );
        assert!(chunk_part(0).as_str() < DONE_PART);
    }
}
