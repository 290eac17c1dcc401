//! A cluster node's side of `keyward audit gather`: when a request is open in etcd, send this
//! node's whole audit log there (`crate::store::etcd::gather`). Runs on the heartbeat thread
//! (`server::node_report`), never in the event loop or the committer: it reads the whole log
//! and writes to etcd.

use std::collections::HashSet;

use super::Cluster;
use crate::audit::StoredRecord;
use crate::store::etcd::EtcdStore;
use crate::store::etcd::gather::{GatherDone, GatherRequest};
use crate::store::{Cause, Store, StoreError};

/// Bytes per chunk: well under etcd's default 1.5 MiB request limit.
const CHUNK_BYTES: usize = 512 * 1024;
/// Records read from the local log per store call.
const PAGE: usize = 1024;
/// The most one node sends for one request. etcd keeps what it is given until compaction,
/// and a cluster whose etcd reaches its quota refuses every change: a log beyond this goes
/// by `keyward audit export` and `keyward audit merge` instead (about 200,000 records).
const MAX_ANSWER_BYTES: usize = 64 * 1024 * 1024;

/// Answers every open request this node has not answered yet. `answered` remembers which
/// requests were handled, so each is answered once even when sending failed (the asking
/// command then reports this node as missing rather than hammering etcd). The log is read
/// from `store`, this node's store.
pub fn answer_open_requests(cluster: &Cluster, store: &dyn Store, answered: &mut HashSet<String>) {
    let etcd = cluster.etcd();
    let node = cluster.node_id();
    // An outage is logged by the heartbeat; here it only means "nothing to do now".
    let Ok(requests) = etcd.open_gathers() else {
        return;
    };
    answered.retain(|id| requests.iter().any(|r| &r.id == id));
    for request in requests {
        if !answered.insert(request.id.clone()) {
            continue;
        }
        if etcd.gather_answered(&request, node).unwrap_or(false) {
            continue;
        }
        match send_log(store, etcd, &request, node) {
            Ok(done) => log::info!(
                "sent {} audit record(s) in {} chunk(s) for audit gather request {}",
                done.records,
                done.chunks,
                request.id
            ),
            Err(e) => {
                log::error!(
                    "cannot send this node's audit log for gather request {}: {e}",
                    request.id
                );
                let done = GatherDone {
                    records: 0,
                    chunks: 0,
                    error: Some(e.to_string()),
                };
                let _ = etcd.put_gather_done(&request, node, &done);
            }
        }
    }
}

fn send_log(
    store: &dyn Store,
    etcd: &EtcdStore,
    request: &GatherRequest,
    node: &str,
) -> Result<GatherDone, StoreError> {
    let view = store.read()?;
    let mut chunk = Vec::with_capacity(CHUNK_BYTES);
    let mut chunks = 0u64;
    let mut records = 0u64;
    let mut sent = 0usize;
    let mut from = 0u64;
    loop {
        let page = view.audit_range(from, PAGE)?;
        let Some((last, _)) = page.last() else {
            break;
        };
        let last = *last;
        for (_, bytes) in &page {
            let stored = StoredRecord::from_bytes(bytes)
                .map_err(|e| StoreError::Corrupt(Cause::from_source(e)))?;
            let line = crate::audit::export_line(&stored, Some(node))
                .map_err(|e| StoreError::Io(Cause::from_source(e)))?;
            sent += line.len() + 1;
            if sent > MAX_ANSWER_BYTES {
                return Err(StoreError::Io(
                    format!(
                        "this node's audit log is larger than the {} MiB one node sends through \
                     etcd; run `keyward audit export` on this node and `keyward audit merge`",
                        MAX_ANSWER_BYTES / (1024 * 1024)
                    )
                    .into(),
                ));
            }
            if !chunk.is_empty() && chunk.len() + line.len() + 1 > CHUNK_BYTES {
                etcd.put_gather_chunk(request, node, chunks, &chunk)?;
                chunks += 1;
                chunk.clear();
            }
            chunk.extend_from_slice(line.as_bytes());
            chunk.push(b'\n');
            records += 1;
        }
        if last == u64::MAX {
            break;
        }
        from = last + 1;
    }
    if !chunk.is_empty() {
        etcd.put_gather_chunk(request, node, chunks, &chunk)?;
        chunks += 1;
    }
    let done = GatherDone {
        records,
        chunks,
        error: None,
    };
    etcd.put_gather_done(request, node, &done)?;
    Ok(done)
}
