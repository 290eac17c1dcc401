//! What `keyward import` shows: a progress bar on a terminal while it runs, then a table of
//! every object that needs attention and the counts per verdict, or one JSON document for
//! scripts (`--json`).

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

use serde::Serialize;

use keyward::admin::import::{ImportResult, Verdict};

use super::super::json_out;
use super::super::table::print_table;

/// A one-line progress bar on stderr; silent when stderr is not a terminal.
pub struct Progress {
    total: Option<usize>,
    done: usize,
    on_terminal: bool,
    started: Instant,
    shown: bool,
}

impl Progress {
    pub fn new(total: Option<usize>, quiet: bool) -> Progress {
        Progress {
            total,
            done: 0,
            on_terminal: !quiet && std::io::stderr().is_terminal(),
            started: Instant::now(),
            shown: false,
        }
    }

    pub fn advance(&mut self, objects: usize) {
        self.done += objects;
        if !self.on_terminal {
            return;
        }
        let rate = self.done as f64 / self.started.elapsed().as_secs_f64().max(0.001);
        let line = match self.total {
            Some(total) if total > 0 => {
                const WIDTH: usize = 30;
                let filled = (self.done * WIDTH / total).min(WIDTH);
                format!(
                    "[{}{}] {}/{} objects, {rate:.0}/s",
                    "#".repeat(filled),
                    ".".repeat(WIDTH - filled),
                    self.done,
                    total
                )
            }
            _ => format!("{} objects, {rate:.0}/s", self.done),
        };
        eprint!("\r{line}  ");
        let _ = std::io::stderr().flush();
        self.shown = true;
    }

    pub fn finish(&self) {
        if self.shown {
            eprintln!();
        }
    }
}

/// Objects per verdict, in the table's order.
pub fn counts(results: &[ImportResult]) -> Vec<(Verdict, usize)> {
    [
        Verdict::Imported,
        Verdict::Skipped,
        Verdict::Refused,
        Verdict::Failed,
        Verdict::Destroyed,
    ]
    .into_iter()
    .map(|v| (v, results.iter().filter(|r| r.verdict == v).count()))
    .collect()
}

/// Whether every object ended imported, already present, or listed as destroyed.
pub fn complete(results: &[ImportResult]) -> bool {
    results
        .iter()
        .all(|r| !matches!(r.verdict, Verdict::Refused | Verdict::Failed))
}

pub struct Summary<'a> {
    pub source: &'a str,
    pub destination: &'a str,
    pub client: &'a str,
    pub dry_run: bool,
    pub elapsed: Duration,
    pub results: &'a [ImportResult],
}

/// `import --json`: what was imported, with a count per verdict.
#[derive(Serialize)]
struct SummaryJson<'a> {
    source: &'a str,
    destination: &'a str,
    client: &'a str,
    dry_run: bool,
    seconds: f64,
    counts: std::collections::BTreeMap<&'static str, usize>,
    objects: &'a [ImportResult],
}

pub fn print_json(summary: &Summary) {
    let report = SummaryJson {
        source: summary.source,
        destination: summary.destination,
        client: summary.client,
        dry_run: summary.dry_run,
        seconds: summary.elapsed.as_secs_f64(),
        counts: counts(summary.results)
            .into_iter()
            .map(|(v, n)| (v.label(), n))
            .collect(),
        objects: summary.results,
    };
    println!("{}", json_out::line(&report));
}

pub fn print_text(summary: &Summary) {
    let attention: Vec<Vec<String>> = summary
        .results
        .iter()
        .filter(|r| !matches!(r.verdict, Verdict::Imported | Verdict::Skipped))
        .map(|r| {
            vec![
                r.uid.clone(),
                r.verdict.label().to_string(),
                r.reason.clone().unwrap_or_default(),
            ]
        })
        .collect();
    if !attention.is_empty() {
        print_table(&["UID", "RESULT", "REASON"], &attention);
        println!();
    }
    let mut dropped: Vec<&str> = summary
        .results
        .iter()
        .flat_map(|r| r.dropped_attributes.iter().map(String::as_str))
        .collect();
    dropped.sort_unstable();
    dropped.dedup();
    if !dropped.is_empty() {
        println!(
            "attributes of the source that Keyward does not keep: {}",
            dropped.join(", ")
        );
    }
    let rows: Vec<Vec<String>> = counts(summary.results)
        .into_iter()
        .map(|(v, n)| {
            let label = match (v, summary.dry_run) {
                (Verdict::Imported, true) => "would import".to_string(),
                (Verdict::Destroyed, _) => "destroyed (listed, not imported)".to_string(),
                _ => v.label().to_string(),
            };
            vec![label, n.to_string()]
        })
        .collect();
    print_table(&["RESULT", "OBJECTS"], &rows);
    println!(
        "{} object(s) from {} for client {:?}, {}, in {:.1} s{}",
        summary.results.len(),
        summary.source,
        summary.client,
        summary.destination,
        summary.elapsed.as_secs_f64(),
        if summary.dry_run {
            " (dry run: nothing written)"
        } else {
            ""
        }
    );
}
