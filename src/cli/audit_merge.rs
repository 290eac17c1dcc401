//! `keyward audit merge FILE…`: the audit logs of several cluster nodes as one time-ordered
//! stream. Each node keeps its own chain (what it served); an auditor gathers every node's
//! `keyward audit export` and merges them here. Every file is checked against the chain
//! before anything is printed as trustworthy: the check runs with this appliance's chain key
//! (over the admin socket, or offline with the root key), which every node shares because it
//! is derived from the cluster's one master key.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use keyward::admin::protocol::{AuditCheck, Reply, Request};
use keyward::audit::StoredRecord;
use keyward::audit::verify::ChainPoint;

use crate::SetupArgs;

/// Records per admin request are bounded by size: the admin socket takes at most 1 MiB.
const PIECE_BYTES: usize = 512 * 1024;

struct NodeLog {
    label: String,
    file: PathBuf,
    records: Vec<StoredRecord>,
    /// Each export line, with the node named, keyed for the merge.
    lines: Vec<(i64, u64, String)>,
}

/// `Ok(false)`: merged, but at least one node's chain is broken (said on stderr).
pub fn run(files: &[PathBuf], setup: &SetupArgs) -> Result<bool, String> {
    let mut logs = Vec::with_capacity(files.len());
    let mut labels = BTreeSet::new();
    for file in files {
        let log = read_export(file)?;
        if !labels.insert(log.label.clone()) {
            return Err(format!(
                "{} holds the log of node {}, like another file given: give each node's export \
                 once",
                file.display(),
                log.label
            ));
        }
        logs.push(log);
    }
    let mut intact = true;
    for log in &logs {
        match check_chain(setup, &log.records)? {
            None => eprintln!(
                "node {} ({}): {} records{}, chain intact",
                log.label,
                log.file.display(),
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
                    log.label,
                    log.file.display()
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

/// One node's export: every line parsed, all from one node. A file without node labels (a
/// single appliance's export) is labelled with its file name.
fn read_export(file: &Path) -> Result<NodeLog, String> {
    let text = std::fs::read_to_string(file)
        .map_err(|e| format!("cannot read {}: {e}", file.display()))?;
    let mut node: Option<String> = None;
    let mut records = Vec::new();
    let mut values = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let at = || format!("{} line {}", file.display(), n + 1);
        let value: serde_json::Value =
            serde_json::from_str(line).map_err(|e| format!("{}: not JSON: {e}", at()))?;
        let line_node = value
            .get("node")
            .and_then(|v| v.as_str())
            .map(str::to_string);
        match (&node, &line_node) {
            (None, _) if records.is_empty() => node = line_node,
            (a, b) if a != b => {
                return Err(format!(
                    "{}: mixes the logs of nodes {} and {}: give one export per node",
                    at(),
                    a.as_deref().unwrap_or("(unlabelled)"),
                    b.as_deref().unwrap_or("(unlabelled)")
                ));
            }
            _ => {}
        }
        let stored: StoredRecord = serde_json::from_value(value.clone())
            .map_err(|e| format!("{}: not an audit record: {e}", at()))?;
        records.push(stored);
        values.push(value);
    }
    let label = node.unwrap_or_else(|| {
        file.file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| file.display().to_string())
    });
    let mut lines = Vec::with_capacity(values.len());
    for (stored, mut value) in records.iter().zip(values) {
        if let Some(object) = value.as_object_mut() {
            object.insert("node".into(), serde_json::Value::String(label.clone()));
        }
        let line = serde_json::to_string(&value).map_err(|e| e.to_string())?;
        lines.push((stored.record.time_ms, stored.record.seq, line));
    }
    Ok(NodeLog {
        label,
        file: file.to_path_buf(),
        records,
        lines,
    })
}

/// `None` when the whole export fits the chain; otherwise the first record that does not.
fn check_chain(
    setup: &SetupArgs,
    records: &[StoredRecord],
) -> Result<Option<(u64, String)>, String> {
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
        match super::audit::call(setup, request)? {
            Reply::AuditChecked(checked) => {
                if let Some(broken) = checked.broken {
                    return Ok(Some((broken.seq, broken.problem)));
                }
                after = checked.next;
            }
            _ => return Err("unexpected reply from the server".into()),
        }
    }
    Ok(None)
}
