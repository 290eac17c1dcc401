//! `keyward audit verify | show | export | note | gather | merge`: the audit log from the command line. While the
//! server runs, the request goes over its admin socket; when it is stopped, the command opens
//! the database and the root key itself (it needs the master key to check MACs).

use clap::{Args, Subcommand, ValueEnum};

use keyward::admin::protocol::{AuditQuery, AuditRecords, Reply, Request};
use keyward::audit::query::Filter;
use keyward::audit::verify::Verification;
use keyward::audit::{self, StoredRecord, format_time, parse_time};

use super::admin_call::call;
use super::error::CliError;
use super::exit_code::EXIT_FAILURE;
use super::setup::SetupArgs;

#[derive(Subcommand)]
pub enum AuditCommand {
    /// Walk the hash chain and report the first record that was changed, removed, inserted or
    /// reordered. Exits with failure if the chain is broken.
    Verify {
        #[command(flatten)]
        setup: SetupArgs,
        #[arg(long)]
        json: bool,
    },
    /// Print records, oldest first.
    Show {
        #[command(flatten)]
        filter: FilterArgs,
        #[arg(long)]
        json: bool,
    },
    /// Write records as one JSON object per line (for SIEM tools). On a cluster node each line
    /// also names the node ("node"): each node keeps its own chain of what it served.
    Export {
        #[command(flatten)]
        filter: FilterArgs,
        #[arg(long, value_enum, default_value = "jsonl")]
        format: ExportFormat,
    },
    /// Record an administrator's action outside Keyward (the appliance console uses it for
    /// network, NTP, SSH, restarts and shells) as `console.ACTION` in the audit log.
    Note {
        /// What was done: a-z first, then a-z 0-9 . - _ (recorded as console.ACTION).
        #[arg(long, value_name = "ACTION")]
        action: String,
        /// What it concerned (repeatable; single lines).
        #[arg(long, value_name = "TEXT")]
        detail: Vec<String>,
        /// Record it as failed, with this reason.
        #[arg(long, value_name = "REASON")]
        failed: Option<String>,
        #[command(flatten)]
        setup: SetupArgs,
    },
    /// On a cluster: ask every running node (through etcd) for its whole log, wait for all of
    /// them, check each node's chain, and print one time-ordered JSONL stream. A summary per
    /// node goes to stderr; exits with failure if a chain is broken or a running node did not
    /// answer in time.
    Gather {
        /// How long to wait for every running node's answer, in seconds.
        #[arg(long, value_name = "SECS", default_value_t = 30)]
        wait: u64,
        #[command(flatten)]
        setup: SetupArgs,
    },
    /// Gather the full, unfiltered exports of several cluster nodes into one time-ordered
    /// JSONL stream on stdout, after checking each node's chain with this appliance's key (all
    /// nodes share it). A summary per node goes to stderr; exits with failure if any chain is
    /// broken or a file is unreadable.
    Merge {
        /// `keyward audit export` output of each node, one file per node.
        #[arg(required = true, value_name = "FILE")]
        files: Vec<std::path::PathBuf>,
        #[command(flatten)]
        setup: SetupArgs,
    },
}

#[derive(Clone, Copy, ValueEnum)]
pub enum ExportFormat {
    Jsonl,
}

#[derive(Args)]
pub struct FilterArgs {
    #[command(flatten)]
    setup: SetupArgs,
    /// Only records at or after this time (2026-11-29, 2026-11-29T03:30:00Z or Unix seconds).
    #[arg(long, value_name = "TIME")]
    since: Option<String>,
    /// Only records before this time.
    #[arg(long, value_name = "TIME")]
    until: Option<String>,
    /// Only records of this client (owner id or part of it, e.g. cn:vcenter-01) or admin user.
    #[arg(long, value_name = "NAME")]
    client: Option<String>,
    /// Only records naming this object UID.
    #[arg(long, value_name = "UID")]
    uid: Option<String>,
    /// Only this operation (Get, Create, client.add, …).
    #[arg(long, value_name = "OP")]
    op: Option<String>,
    /// Only failed (or undone) operations.
    #[arg(long)]
    failed: bool,
}

impl FilterArgs {
    fn filter(&self) -> Result<Filter, CliError> {
        let time = |text: &Option<String>| {
            text.as_deref()
                .map(parse_time)
                .transpose()
                .map_err(CliError::BadTime)
        };
        Ok(Filter {
            since_ms: time(&self.since)?,
            until_ms: time(&self.until)?,
            client: self.client.clone(),
            uid: self.uid.clone(),
            op: self.op.clone(),
            failed: self.failed,
        })
    }
}

/// A broken chain is said on stdout and fails with [`CliError::Reported`].
pub fn run(command: &AuditCommand) -> Result<(), CliError> {
    let intact = match command {
        AuditCommand::Verify { setup, json } => {
            let reply = call(setup, Request::AuditVerify)?;
            let Reply::AuditVerified(verification) = reply else {
                return Err(CliError::unexpected(&reply));
            };
            print_verification(&verification, *json)?;
            verification.is_intact()
        }
        AuditCommand::Show { filter, json } => {
            for stored in select(filter)? {
                if *json {
                    println!("{}", to_json(&stored)?);
                } else {
                    print_line(&stored);
                }
            }
            true
        }
        AuditCommand::Export { filter, format } => {
            let ExportFormat::Jsonl = format;
            let list = select_from(filter)?;
            for stored in &list.records {
                println!("{}", to_json_from(stored, list.node.as_deref())?);
            }
            true
        }
        AuditCommand::Note {
            action,
            detail,
            failed,
            setup,
        } => {
            let event = keyward::admin::console_event::ConsoleEvent {
                action: action.clone(),
                details: detail.clone(),
                failure: failed.clone(),
            };
            match call(setup, Request::ConsoleEvent(event))? {
                Reply::Done => true,
                other => return Err(CliError::unexpected(&other)),
            }
        }
        AuditCommand::Merge { files, setup } => super::audit_merge::run(files, setup)?,
        AuditCommand::Gather { wait, setup } => {
            super::audit_merge::gather(setup, std::time::Duration::from_secs(*wait))?
        }
    };
    if intact {
        Ok(())
    } else {
        Err(CliError::Reported {
            what: "the audit log is broken or incomplete",
            code: EXIT_FAILURE,
        })
    }
}

fn select(args: &FilterArgs) -> Result<Vec<StoredRecord>, CliError> {
    select_from(args).map(|list| list.records)
}

fn select_from(args: &FilterArgs) -> Result<AuditRecords, CliError> {
    let request = Request::AuditShow(AuditQuery {
        filter: args.filter()?,
        limit: usize::MAX,
    });
    match call(&args.setup, request)? {
        Reply::AuditRecords(list) => Ok(list),
        other => Err(CliError::unexpected(&other)),
    }
}

fn to_json(stored: &StoredRecord) -> Result<String, CliError> {
    to_json_from(stored, None)
}

fn to_json_from(stored: &StoredRecord, node: Option<&str>) -> Result<String, CliError> {
    Ok(audit::export_line(stored, node)?)
}

fn print_line(stored: &StoredRecord) {
    let r = &stored.record;
    println!(
        "{:>8}  {}  {:<28}  {:<18}  {:<8}  {}{}",
        r.seq,
        format_time(r.time_ms),
        r.actor.label(),
        r.operation,
        format!("{:?}", r.outcome).to_lowercase(),
        r.uids.join(","),
        r.reason
            .as_deref()
            .map(|why| format!("  ({why})"))
            .unwrap_or_default()
    );
}

fn print_verification(v: &Verification, json: bool) -> Result<(), CliError> {
    if json {
        println!("{}", serde_json::to_string(v)?);
        return Ok(());
    }
    match &v.broken {
        None => println!(
            "audit log intact: {} record(s), seq {} to {}, head MAC {}",
            v.records,
            v.first_seq.map_or("-".into(), |s| s.to_string()),
            v.head_seq.map_or("-".into(), |s| s.to_string()),
            v.head_mac.as_deref().unwrap_or("-")
        ),
        Some(b) => println!(
            "audit log BROKEN at seq {}: {} ({} record(s) before it verified)",
            b.seq, b.problem, v.records
        ),
    }
    Ok(())
}
