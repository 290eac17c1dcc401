//! `keyward audit gather` and `keyward audit merge FILE…`: the audit logs of several cluster
//! nodes as one time-ordered stream. Each node keeps its own chain (what it served). `gather`
//! asks every running node for its log through etcd (`keyward::store::etcd::gather`);
//! `merge` takes the nodes' `keyward audit export` files, for nodes that are down or logs too
//! large to pass through etcd. Every file is checked against the chain
//! before anything is printed as trustworthy: the check runs with this appliance's chain key
//! (over the admin socket, or offline with the root key), which every node shares because it
//! is derived from the cluster's one master key.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use keyward::admin::protocol::{AuditCheck, Reply, Request};
use keyward::audit::StoredRecord;
use keyward::audit::verify::ChainPoint;
use keyward::cluster::NodeReport;
use keyward::store::etcd::EtcdStore;
use keyward::store::etcd::gather::{GatherAnswer, GatherRequest};

use super::error::{CliError, Context};
use super::setup::SetupArgs;

/// Records per admin request are bounded by size: the admin socket takes at most 1 MiB.
const PIECE_BYTES: usize = 512 * 1024;

struct NodeLog {
    label: String,
    /// Where the log came from, for messages: a file, or the gather request.
    source: String,
    records: Vec<StoredRecord>,
    /// Each export line, with the node named, keyed for the merge.
    lines: Vec<(i64, u64, String)>,
}

/// `Ok(false)`: merged, but at least one node's chain is broken (said on stderr).
pub fn run(files: &[PathBuf], setup: &SetupArgs) -> Result<bool, CliError> {
    let mut logs = Vec::with_capacity(files.len());
    for file in files {
        logs.push(read_export(file)?);
    }
    check_and_print(&logs, setup)
}

/// Checks every node's chain, prints one line per node on stderr and the merged stream on
/// stdout; `Ok(false)` when a chain is broken.
fn check_and_print(logs: &[NodeLog], setup: &SetupArgs) -> Result<bool, CliError> {
    let mut labels = BTreeSet::new();
    for log in logs {
        if !labels.insert(log.label.clone()) {
            return Err(CliError::Usage(format!(
                "{} holds the log of node {}, like another one given: give each node's export \
                 once",
                log.source, log.label
            )));
        }
    }
    let mut intact = true;
    // Without a running server, the master key is unwrapped once for every log and piece.
    let mut offline = None;
    for log in logs {
        match check_chain(setup, &log.records, &mut offline)? {
            None => eprintln!(
                "node {} ({}): {} records{}, chain intact",
                log.label,
                log.source,
                log.records.len(),
                match (log.records.first(), log.records.last()) {
                    (Some(first), Some(last)) =>
                        format!(", seq {}..{}", first.record.seq, last.record.seq),
                    _ => String::new(),
                }
            ),
            Some((seq, problem)) => {
                intact = false;
                eprintln!(
                    "node {} ({}): chain BROKEN at seq {seq}: {problem}",
                    log.label, log.source
                );
            }
        }
    }
    let mut merged: Vec<(i64, &str, u64, &str)> = logs
        .iter()
        .flat_map(|log| {
            log.lines
                .iter()
                .map(|(time, seq, line)| (*time, log.label.as_str(), *seq, line.as_str()))
        })
        .collect();
    merged.sort_unstable();
    for (_, _, _, line) in merged {
        println!("{line}");
    }
    Ok(intact)
}

/// One node's export file. A file without node labels (a single appliance's export) is
/// labelled with its file name.
fn read_export(file: &Path) -> Result<NodeLog, CliError> {
    let text =
        std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
    let fallback = file
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| file.display().to_string());
    parse_export(&text, &fallback, &file.display().to_string())
}

/// Every line parsed, all from one node.
fn parse_export(text: &str, fallback_label: &str, source: &str) -> Result<NodeLog, CliError> {
    let mut node: Option<String> = None;
    let mut records = Vec::new();
    let mut values = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let at = || format!("{source} line {}", n + 1);
        let value: serde_json::Value =
            serde_json::from_str(line).with_context(|| format!("{}: not JSON", at()))?;
        let line_node = value
            .get("node")
            .and_then(|v| v.as_str())
            .map(str::to_string);
        match (&node, &line_node) {
            (None, _) if records.is_empty() => node = line_node,
            (a, b) if a != b => {
                return Err(CliError::Usage(format!(
                    "{}: mixes the logs of nodes {} and {}: give one export per node",
                    at(),
                    a.as_deref().unwrap_or("(unlabelled)"),
                    b.as_deref().unwrap_or("(unlabelled)")
                )));
            }
            _ => {}
        }
        let stored: StoredRecord = serde_json::from_value(value.clone())
            .with_context(|| format!("{}: not an audit record", at()))?;
        records.push(stored);
        values.push(value);
    }
    let label = node.unwrap_or_else(|| fallback_label.to_string());
    let mut lines = Vec::with_capacity(values.len());
    for (stored, mut value) in records.iter().zip(values) {
        if let Some(object) = value.as_object_mut() {
            object.insert("node".into(), serde_json::Value::String(label.clone()));
        }
        let line = serde_json::to_string(&value)?;
        lines.push((stored.record.time_ms, stored.record.seq, line));
    }
    Ok(NodeLog {
        label,
        source: source.to_string(),
        records,
        lines,
    })
}

/// `keyward audit gather`: asks every running node, through etcd, for its whole log, waits up
/// to `wait` for all of them, then checks and merges as `merge` does. `Ok(false)` when a chain
/// is broken or a running node did not answer.
pub fn gather(setup: &SetupArgs, wait: Duration) -> Result<bool, CliError> {
    let config = super::setup::load_config(setup)?;
    let cluster = config.cluster.as_ref().ok_or_else(|| {
        CliError::Usage(
            "audit gather works on a cluster node (a [cluster] table); a single appliance has \
             one log: use `keyward audit export`"
                .into(),
        )
    })?;
    let etcd = EtcdStore::open(cluster).context("cannot use etcd")?;
    let expected = running_nodes(&etcd)?;
    let answers = ask_nodes(&etcd, &expected, wait)?;
    let (logs, mut complete) = answered_logs(&answers)?;
    for (node, report) in &expected {
        if answers.get(node).is_none_or(|a| a.done.is_none()) {
            complete = false;
            eprintln!(
                "node {node} (kmip {}): did not answer within {} s; its log is missing",
                report.kmip,
                wait.as_secs()
            );
        }
    }
    let intact = check_and_print(&logs, setup)?;
    Ok(intact && complete)
}

/// Opens a gather request in etcd under a lease, collects the answers of `expected` for up to
/// `wait`, and removes the request.
fn ask_nodes(
    etcd: &EtcdStore,
    expected: &BTreeMap<String, NodeReport>,
    wait: Duration,
) -> Result<BTreeMap<String, GatherAnswer>, CliError> {
    let mut random = [0u8; 16];
    // getrandom's error is not a std error without its "std" feature: said in words.
    getrandom::fill(&mut random)
        .map_err(|e| CliError::Failed(format!("no randomness for a request id: {e}")))?;
    let id = keyward::uuid::format_v4(random);
    // The lease outlives the wait by a margin; revoked at the end in any case.
    let ttl = i64::try_from(wait.as_secs())
        .unwrap_or(i64::MAX / 2)
        .saturating_add(60);
    let request = etcd
        .open_gather(&id, ttl)
        .context("cannot open the gather request in etcd")?;
    let collected = collect(etcd, &request, expected, wait);
    if let Err(e) = etcd.close_gather(&request) {
        eprintln!(
            "warning: could not remove gather request {id} from etcd ({e}); its lease ends in {ttl} s"
        );
    }
    collected
}

/// The logs of the nodes that answered in full, and whether every answer was complete (an
/// incomplete one is reported on stderr).
fn answered_logs(
    answers: &BTreeMap<String, GatherAnswer>,
) -> Result<(Vec<NodeLog>, bool), CliError> {
    let mut logs = Vec::new();
    let mut complete = true;
    for (node, answer) in answers {
        match &answer.done {
            Some(done) if done.error.is_none() && done.chunks as usize == answer.chunks.len() => {
                let text: String = answer
                    .chunks
                    .iter()
                    .map(|c| String::from_utf8_lossy(c).into_owned())
                    .collect();
                logs.push(parse_export(
                    &text,
                    node,
                    &format!("gathered from node {node}"),
                )?);
            }
            Some(done) => {
                complete = false;
                eprintln!(
                    "node {node}: answered incompletely ({} of {} chunks){}",
                    answer.chunks.len(),
                    done.chunks,
                    done.error
                        .as_deref()
                        .map(|e| format!(": {e}"))
                        .unwrap_or_default()
                );
            }
            None => {}
        }
    }
    Ok((logs, complete))
}

/// Nodes that report they are running (not stopped, and heard from recently).
fn running_nodes(etcd: &EtcdStore) -> Result<BTreeMap<String, NodeReport>, CliError> {
    let now = keyward::audit::now_ms();
    let mut running = BTreeMap::new();
    for (id, bytes) in etcd
        .node_reports()
        .context("cannot read the nodes' reports")?
    {
        if let Ok(report) = serde_json::from_slice::<NodeReport>(&bytes)
            && report.is_running(now)
        {
            running.insert(id, report);
        }
    }
    Ok(running)
}

fn collect(
    etcd: &EtcdStore,
    request: &GatherRequest,
    expected: &BTreeMap<String, NodeReport>,
    wait: Duration,
) -> Result<BTreeMap<String, GatherAnswer>, CliError> {
    let deadline = Instant::now() + wait;
    loop {
        let answers = etcd
            .gather_answers(request)
            .context("cannot read the nodes' answers")?;
        let all_done = expected
            .keys()
            .all(|node| answers.get(node).is_some_and(|a| a.done.is_some()));
        if all_done || Instant::now() >= deadline {
            return Ok(answers);
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// `None` when the whole export fits the chain; otherwise the first record that does not.
fn check_chain(
    setup: &SetupArgs,
    records: &[StoredRecord],
    offline: &mut Option<keyward::appliance::setup::Appliance>,
) -> Result<Option<(u64, String)>, CliError> {
    let mut after: Option<ChainPoint> = None;
    let mut rest = records;
    while !rest.is_empty() {
        let mut size = 0;
        let take = rest
            .iter()
            .take_while(|r| {
                size += r.to_bytes().len() + 16;
                size <= PIECE_BYTES
            })
            .count()
            .max(1);
        let (piece, tail) = rest.split_at(take);
        rest = tail;
        let request = Request::AuditCheck(AuditCheck {
            records: piece.to_vec(),
            after: after.clone(),
        });
        match super::admin_call::call_reusing(setup, request, offline)? {
            Reply::AuditChecked(checked) => {
                if let Some(broken) = checked.broken {
                    return Ok(Some((broken.seq, broken.problem)));
                }
                after = checked.next;
            }
            other => return Err(CliError::unexpected(&other)),
        }
    }
    Ok(None)
}
