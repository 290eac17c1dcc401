//! `keyward import kmip|verify`: move keys from another KMIP server (IBM KMIP for VMware,
//! PyKMIP, any other) into Keyward under the same Unique Identifiers, so vCenter finds every
//! key it knows without a re-key, then prove both servers serve the same (docs/migrate.md).
//!
//! The fetch side lives here, one concern per file: the old server's KMIP session (`source`),
//! the conversion of its answers (`convert`), which UIDs (`selection`), the run (`run`),
//! Keyward online or offline (`target`), the report (`report`) and the comparison (`verify`).

mod backup;
mod convert;
pub(super) mod error;
mod refusal;
mod report;
mod run;
mod selection;
mod source;
mod target;
mod verify;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use clap::{Args, Subcommand};
use zeroize::Zeroizing;

use super::error::CliError;
use super::exit_code::{EXIT_CODES_HELP, EXIT_OK};
use super::kmip_server_args::KmipServerArgs;
use super::setup::SetupArgs;
use super::table::print_table;
use error::EXIT_INCOMPLETE;
pub use error::ImportError;
use report::{Progress, Summary};
use source::{Endpoint, SourceServer};
use target::Keyward;

#[derive(Subcommand)]
pub enum ImportCommand {
    /// Copy keys from another KMIP server into Keyward under the SAME Unique Identifiers,
    /// material, state, dates, names and custom attributes, so vCenter needs no re-key. Safe to
    /// run again: keys already here are skipped, a UID taken by other material is refused.
    #[command(after_help = EXIT_CODES_HELP)]
    Kmip(KmipImportArgs),
    /// Fetch each key from both servers and compare material digests, state and vCenter's
    /// attributes; exits non-zero on any difference.
    #[command(after_help = EXIT_CODES_HELP)]
    Verify(VerifyArgs),
    /// Merge another appliance's encrypted backup into this one (same UIDs, same rules as an
    /// import: present keys skipped, conflicting UIDs refused), so two appliances become one.
    #[command(after_help = EXIT_CODES_HELP)]
    Backup(BackupImportArgs),
}

/// The old KMIP server and a client certificate it trusts. The shared connection flags keep
/// their names; their help says "old server", as two servers are in play here.
#[derive(Args)]
#[command(mut_arg("server", |a| a.help("The old server, HOST:PORT (the host must match its certificate)")))]
#[command(mut_arg("ca", |a| a.help("CA certificate(s) that signed the old server's certificate (PEM)")))]
#[command(mut_arg("cert", |a| a.help("A client certificate the old server trusts (vCenter's, or a second one registered there) (PEM)")))]
#[command(mut_arg("key", |a| a.help("Its private key (PEM)")))]
pub struct OldServerArgs {
    #[command(flatten)]
    kmip: KmipServerArgs,
    /// Seconds to wait for the old server on each exchange.
    #[arg(long, value_name = "SECONDS", default_value_t = 30)]
    timeout: u64,
    /// KMIP username, when the old server requires one on top of the certificate (as vCenter's
    /// KMS "Password" setting sends).
    #[arg(long, requires = "password_file")]
    username: Option<String>,
    /// File whose first line is that KMIP password.
    #[arg(long, value_name = "FILE", requires = "username")]
    password_file: Option<PathBuf>,
}

impl OldServerArgs {
    fn endpoint(&self) -> Result<Endpoint, ImportError> {
        let credential = match (&self.username, &self.password_file) {
            (Some(username), Some(path)) => {
                let file_err = |message: String| ImportError::File {
                    path: path.display().to_string(),
                    message,
                };
                let text = Zeroizing::new(
                    std::fs::read_to_string(path).map_err(|e| ImportError::read(path, e))?,
                );
                let password = Zeroizing::new(text.lines().next().unwrap_or("").to_string());
                if password.is_empty() {
                    return Err(file_err("the password (first line) is empty".into()));
                }
                Some(source::Credential {
                    username: username.clone(),
                    password,
                })
            }
            _ => None,
        };
        Ok(Endpoint {
            addr: self.kmip.server.clone(),
            ca: self.kmip.ca.clone(),
            cert: self.kmip.cert.clone(),
            key: self.kmip.key.clone(),
            credential,
        })
    }
}

/// Which objects: a list of UIDs, or all the old server Locates.
#[derive(Args)]
#[group(required = true, multiple = false)]
pub struct SelectionArgs {
    /// File with one Unique Identifier a line (the key IDs vCenter uses; see docs/migrate.md
    /// for PowerCLI and govc).
    #[arg(long, value_name = "FILE")]
    uids: Option<PathBuf>,
    /// Every object the old server Locates for this certificate.
    #[arg(long)]
    all: bool,
}

#[derive(Args)]
pub struct SelectionOptions {
    /// In --uids, read `UID/provider` lines (vCenter's key id form) as UID.
    #[arg(long)]
    strip_provider: bool,
    /// UIDs per Locate request with --all (Maximum Items / Offset Items).
    #[arg(long, value_name = "N", default_value_t = 500)]
    page_size: usize,
}

#[derive(Args)]
pub struct KmipImportArgs {
    #[command(flatten)]
    old: OldServerArgs,
    #[command(flatten)]
    selection: SelectionArgs,
    #[command(flatten)]
    options: SelectionOptions,
    /// The Keyward client that will own the keys: vCenter's registered certificate (a name
    /// from `keyward client list`).
    #[arg(long, value_name = "CLIENT")]
    owner: String,
    /// Fetch and check everything, write nothing.
    #[arg(long)]
    dry_run: bool,
    /// Objects per Keyward transaction (an interrupted run loses at most one batch).
    #[arg(long, value_name = "N", default_value_t = run::DEFAULT_BATCH, hide = true)]
    batch_size: usize,
    /// Print the result as JSON (for scripts).
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    setup: SetupArgs,
}

#[derive(Args)]
pub struct VerifyArgs {
    #[command(flatten)]
    old: OldServerArgs,
    #[command(flatten)]
    selection: SelectionArgs,
    #[command(flatten)]
    options: SelectionOptions,
    /// Read Keyward over KMIP at HOST:PORT, as vCenter does (with --keyward-ca,
    /// --keyward-cert, --keyward-key). Without it, Keyward is read through the admin socket
    /// or the data directory (--data-dir/--config).
    #[arg(long, value_name = "HOST:PORT", requires_all = ["keyward_ca", "keyward_cert", "keyward_key"])]
    keyward: Option<String>,
    /// Keyward's CA certificate (ca.crt in its data directory).
    #[arg(long, value_name = "FILE", requires = "keyward")]
    keyward_ca: Option<PathBuf>,
    /// A certificate Keyward maps to the keys' owner (vCenter's), so keys are read as vCenter
    /// reads them.
    #[arg(long, value_name = "FILE", requires = "keyward")]
    keyward_cert: Option<PathBuf>,
    /// Its private key.
    #[arg(long, value_name = "FILE", requires = "keyward")]
    keyward_key: Option<PathBuf>,
    #[command(flatten)]
    setup: SetupArgs,
    /// Print the result as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
pub struct BackupImportArgs {
    /// The backup file (`keyward backup export` of the other appliance).
    #[arg(long, value_name = "FILE")]
    from: PathBuf,
    /// Read the backup's passphrase from the first line of this file instead of the terminal.
    #[arg(long, value_name = "FILE")]
    passphrase_file: Option<PathBuf>,
    /// The client here that will own the merged keys (a name from `keyward client list`).
    #[arg(long, value_name = "CLIENT")]
    owner: String,
    /// Only the objects of this owner on the other appliance (e.g. `cn:vcenter-01`; see
    /// `keyward client list` there).
    #[arg(long, value_name = "OWNER")]
    from_owner: Option<String>,
    /// Read and check everything, write nothing.
    #[arg(long)]
    dry_run: bool,
    /// Print the result as JSON (for scripts).
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    setup: SetupArgs,
}

/// Runs the command; the exit code says how it ended (see [`EXIT_CODES_HELP`]): objects left
/// out are said in the report and fail with [`CliError::Reported`].
pub fn run(command: &ImportCommand) -> Result<(), CliError> {
    let code = match command {
        ImportCommand::Kmip(args) => import_kmip(args),
        ImportCommand::Verify(args) => verify(args),
        ImportCommand::Backup(args) => import_backup(args),
    }?;
    if code == EXIT_OK {
        Ok(())
    } else {
        Err(CliError::Reported {
            what: "some objects were not imported, or differ",
            code,
        })
    }
}

fn uids(
    selection: &SelectionArgs,
    options: &SelectionOptions,
    source: &mut SourceServer,
) -> Result<Vec<String>, ImportError> {
    if !(1..=100_000).contains(&options.page_size) {
        return Err(ImportError::Usage(
            "--page-size must be between 1 and 100000".into(),
        ));
    }
    match &selection.uids {
        Some(path) => selection::from_file(path, options.strip_provider),
        None => selection::locate_all(source, options.page_size),
    }
}

fn import_kmip(args: &KmipImportArgs) -> Result<u8, ImportError> {
    if !(1..=keyward::admin::import::MAX_BATCH).contains(&args.batch_size) {
        return Err(ImportError::Usage(format!(
            "--batch-size must be between 1 and {}",
            keyward::admin::import::MAX_BATCH
        )));
    }
    if args.owner.trim().is_empty() {
        return Err(ImportError::Usage(
            "--owner names a registered client".into(),
        ));
    }
    let started = Instant::now();
    let keyward = Keyward::open(&args.setup, Some(&args.owner))?;
    let mut source =
        SourceServer::connect(&args.old.endpoint()?, Duration::from_secs(args.old.timeout))?;
    let uids = uids(&args.selection, &args.options, &mut source)?;
    if !args.json {
        eprintln!(
            "{} object(s) to import from {} (KMIP {}.{}), {}",
            uids.len(),
            source.addr(),
            source.version().major,
            source.version().minor,
            keyward.describe()
        );
    }
    let plan = run::Plan {
        client: &args.owner,
        source_name: format!("kmip://{}", source.addr()),
        dry_run: args.dry_run,
        batch_size: args.batch_size,
    };
    let mut progress = Progress::new(Some(uids.len()), args.json);
    let results = run::import_all(&mut source, &keyward, &plan, &uids, &mut progress);
    progress.finish();
    source.close();
    let results = results?;
    let destination = keyward.describe();
    let summary = Summary {
        source: &plan.source_name,
        destination: &destination,
        client: &args.owner,
        dry_run: args.dry_run,
        elapsed: started.elapsed(),
        results: &results,
    };
    Ok(print_summary(&summary, args.json))
}

/// Prints an import's summary (JSON for scripts, else a table) and returns its exit code:
/// incomplete when any object was refused or failed.
fn print_summary(summary: &Summary, json: bool) -> u8 {
    if json {
        report::print_json(summary);
    } else {
        report::print_text(summary);
    }
    if report::complete(summary.results) {
        EXIT_OK
    } else {
        EXIT_INCOMPLETE
    }
}

fn import_backup(args: &BackupImportArgs) -> Result<u8, ImportError> {
    if args.owner.trim().is_empty() {
        return Err(ImportError::Usage(
            "--owner names a registered client".into(),
        ));
    }
    let started = Instant::now();
    let plan = backup::BackupPlan {
        file: &args.from,
        passphrase_file: args.passphrase_file.as_deref(),
        client: &args.owner,
        from_owner: args.from_owner.as_deref(),
        dry_run: args.dry_run,
    };
    let keyward = Keyward::open(&args.setup, Some(&args.owner))?;
    let mut source = backup::open(&plan)?;
    let source_name = format!(
        "backup {} (appliance {})",
        args.from.display(),
        source.appliance_id()
    );
    let mut progress = Progress::new(None, args.json);
    let results = backup::merge_all(&mut source, &keyward, &plan, &mut progress);
    progress.finish();
    let results = results?;
    let destination = keyward.describe();
    let summary = Summary {
        source: &source_name,
        destination: &destination,
        client: &args.owner,
        dry_run: args.dry_run,
        elapsed: started.elapsed(),
        results: &results,
    };
    Ok(print_summary(&summary, args.json))
}

fn verify(args: &VerifyArgs) -> Result<u8, ImportError> {
    let started = Instant::now();
    let timeout = Duration::from_secs(args.old.timeout);
    let mut old = SourceServer::connect(&args.old.endpoint()?, timeout)?;
    let uids = uids(&args.selection, &args.options, &mut old)?;
    let mut progress = Progress::new(Some(uids.len()), args.json);
    let checked = match keyward_endpoint(args)? {
        Some(endpoint) => {
            let mut keyward = SourceServer::connect(&endpoint, timeout)?;
            let checked = verify::verify_all(
                &mut old,
                verify::KeywardSide::Kmip(&mut keyward),
                &uids,
                &mut progress,
            );
            keyward.close();
            checked
        }
        None => {
            let keyward = Keyward::open(&args.setup, None)?;
            verify::verify_all(
                &mut old,
                verify::KeywardSide::Admin(&keyward),
                &uids,
                &mut progress,
            )
        }
    };
    progress.finish();
    old.close();
    let checked = checked?;
    let identical = verify::all_identical(&checked);
    if args.json {
        /// What `import verify --json` prints.
        #[derive(serde::Serialize)]
        struct VerifyReport<'a> {
            identical: bool,
            objects: &'a [verify::Checked],
            seconds: f64,
        }
        let report = VerifyReport {
            identical,
            objects: &checked,
            seconds: started.elapsed().as_secs_f64(),
        };
        println!("{}", super::json_out::line(&report));
    } else {
        print_verify_table(&checked, started);
    }
    Ok(if identical { EXIT_OK } else { EXIT_INCOMPLETE })
}

/// Keyward's KMIP endpoint when `--keyward` names one (with its CA, certificate and key), or
/// `None` to compare with the data directory through the admin layer.
fn keyward_endpoint(args: &VerifyArgs) -> Result<Option<Endpoint>, ImportError> {
    match (
        &args.keyward,
        &args.keyward_ca,
        &args.keyward_cert,
        &args.keyward_key,
    ) {
        (Some(addr), Some(ca), Some(cert), Some(key)) => Ok(Some(Endpoint {
            addr: addr.clone(),
            ca: ca.clone(),
            cert: cert.clone(),
            key: key.clone(),
            credential: None,
        })),
        (None, ..) => Ok(None),
        _ => Err(ImportError::Usage(
            "--keyward needs --keyward-ca, --keyward-cert and --keyward-key".into(),
        )),
    }
}

/// The objects that are not identical, as a table, and the count of each result.
fn print_verify_table(checked: &[verify::Checked], started: Instant) {
    let count = |c: verify::Comparison| checked.iter().filter(|x| x.result == c).count();
    let rows: Vec<Vec<String>> = checked
        .iter()
        .filter(|c| c.result != verify::Comparison::Identical)
        .map(|c| {
            vec![
                c.uid.clone(),
                serde_json::to_value(c.result)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_default(),
                c.details.join("; "),
            ]
        })
        .collect();
    if !rows.is_empty() {
        print_table(&["UID", "RESULT", "DETAILS"], &rows);
        println!();
    }
    println!(
        "{} identical, {} differ, {} missing from Keyward, {} gone from the old server \
         ({} checked in {:.1} s)",
        count(verify::Comparison::Identical),
        count(verify::Comparison::Differs),
        count(verify::Comparison::Missing),
        count(verify::Comparison::GoneFromSource),
        checked.len(),
        started.elapsed().as_secs_f64()
    );
}
