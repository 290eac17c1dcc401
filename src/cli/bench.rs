//! `keyward bench`: the KMIP load generator (see `keyward::bench`).

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use keyward::bench::{self, Budget, Options, Workload};

use super::error::{CliError, Context};
use super::kmip_server_args::KmipServerArgs;

#[derive(Args)]
#[command(group = clap::ArgGroup::new("budget").required(true).args(["duration", "ops"]))]
#[command(group = clap::ArgGroup::new("what").required(true).args(["workload", "bare_handshake"]))]
pub struct BenchArgs {
    #[command(flatten)]
    kmip: KmipServerArgs,
    #[arg(long, value_enum)]
    workload: Option<Workload>,
    /// Connect, handshake and close only: the baseline for handshake-bound workloads.
    #[arg(long)]
    bare_handshake: bool,
    /// Concurrent clients (one thread and one connection each).
    #[arg(long, default_value_t = 1, value_name = "C")]
    conns: usize,
    /// Run for this many seconds.
    #[arg(long, value_name = "S")]
    duration: Option<f64>,
    /// Run this many workload iterations in total (boot-storm: whole rounds of --conns).
    #[arg(long, value_name = "N")]
    ops: Option<u64>,
    /// A new TLS connection for every exchange instead of one kept connection per client.
    #[arg(long)]
    new_conn: bool,
    /// Full handshakes only: no TLS session resumption (each client keeps no tickets).
    #[arg(long)]
    no_resume: bool,
    /// Keys created before the run that `get` reads and each boot-storm client fetches.
    #[arg(long, default_value_t = 16, value_name = "K")]
    keys: usize,
    /// Pace the run at R workload iterations per second, all clients together (a fixed
    /// request rate, e.g. to compare a server with and without a feature at the same load).
    #[arg(long, value_name = "R")]
    rate: Option<f64>,
    /// Also report the CPU used by this server process (read from /proc/PID/stat).
    #[arg(long, value_name = "PID")]
    server_pid: Option<u32>,
    /// Write the report as JSON to FILE.
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
}

pub fn run(args: &BenchArgs) -> Result<(), CliError> {
    let budget = match (args.duration, args.ops) {
        (Some(seconds), None) if seconds > 0.0 && seconds.is_finite() => {
            Budget::Duration(Duration::from_secs_f64(seconds))
        }
        (None, Some(n)) => Budget::Iterations(n),
        _ => {
            return Err(CliError::Usage(
                "give one of --duration S (S > 0) or --ops N".into(),
            ));
        }
    };
    if args.rate.is_some_and(|r| !(r > 0.0 && r.is_finite())) {
        return Err(CliError::Usage("--rate R needs R > 0".into()));
    }
    let mut tls = args.kmip.tls_config()?;
    if args.no_resume {
        let mut config = (*tls).clone();
        config.resumption = rustls::client::Resumption::disabled();
        tls = std::sync::Arc::new(config);
    }
    let options = Options {
        server: args.kmip.server.clone(),
        workload: if args.bare_handshake {
            None
        } else {
            args.workload
        },
        conns: args.conns,
        budget,
        new_conn: args.new_conn,
        keys: args.keys,
        server_pid: args.server_pid,
        timeout: Duration::from_secs(30),
        rate: args.rate,
    };
    let report = bench::run(&options, tls)?;
    print!("{}", report.text());
    if let Some(path) = &args.json {
        let json = serde_json::to_string_pretty(&report)?;
        std::fs::write(path, json + "\n").with_context(|| path.display().to_string())?;
    }
    Ok(())
}
