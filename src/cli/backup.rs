//! `keyward backup export|verify` and `keyward restore`: encrypted offline backups
//! (format: docs/backup-format.md).

use std::fs::File;
use std::io::{IsTerminal, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use clap::{Args, Subcommand};
use zeroize::Zeroizing;

use keyward::admin::backup_inventory::inventory;
use keyward::admin::protocol::{self, BackupExportRequest, Reply, Request, SOCKET_FILE};
use keyward::appliance::setup::{Appliance, DATABASE_FILE};
use keyward::backup::export::{ExportOptions, ExportSummary};
use keyward::backup::header::KdfSettings;
use keyward::backup::passphrase::{self, SecretText};
use keyward::backup::reader::BackupReader;
use keyward::backup::restore::{RestoreSummary, restore_into};
use keyward::backup::schedule::export_to_file;
use keyward::config::RootProvider;

use super::error::{CliError, Context};
use super::setup::{SetupArgs, load_config};

/// How long the CLI waits for a running server to finish an export.
const ONLINE_EXPORT_WAIT: Duration = Duration::from_secs(24 * 3600);

#[derive(Subcommand)]
pub enum BackupCommand {
    /// Write an encrypted backup of every key, the client registry and (with --with-audit)
    /// the audit log. Through the running server when there is one (it keeps serving),
    /// otherwise straight from the data directory.
    Export {
        #[command(flatten)]
        setup: SetupArgs,
        /// The backup file to write (replaced atomically; mode 0600).
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
        #[command(flatten)]
        secret: PassphraseArgs,
        /// Include the audit log.
        #[arg(long)]
        with_audit: bool,
        /// TEST ONLY: cheap Argon2id parameters (m=64 KiB, t=1). Never use for real backups.
        #[arg(long, hide = true)]
        test_only_weak_kdf: bool,
    },
    /// Check a whole backup with its passphrase and print what it holds, without restoring.
    Verify {
        /// The backup file.
        file: PathBuf,
        #[command(flatten)]
        secret: PassphraseArgs,
    },
}

#[derive(Args)]
pub struct PassphraseArgs {
    /// Read the passphrase from the first line of this file instead of asking on the terminal.
    #[arg(long, value_name = "FILE")]
    passphrase_file: Option<PathBuf>,
}

#[derive(Args)]
pub struct RestoreArgs {
    /// The backup file.
    #[arg(long, value_name = "FILE")]
    from: PathBuf,
    #[command(flatten)]
    setup: SetupArgs,
    /// Root key provider for the new master key: "local" (offline) or "keyprotect" (needs
    /// the [keyprotect] table in --config).
    #[arg(long, value_name = "local|keyprotect")]
    root: RootProvider,
    #[command(flatten)]
    secret: PassphraseArgs,
    /// Restore into a data directory that is not empty, replacing its database.
    #[arg(long)]
    force: bool,
}

pub fn run(command: &BackupCommand) -> Result<(), CliError> {
    match command {
        BackupCommand::Export {
            setup,
            out,
            secret,
            with_audit,
            test_only_weak_kdf,
        } => export(setup, out, secret, *with_audit, *test_only_weak_kdf),
        BackupCommand::Verify { file, secret } => verify(file, secret),
    }
}

fn read_passphrase(secret: &PassphraseArgs, confirm: bool) -> Result<Zeroizing<String>, CliError> {
    Ok(match &secret.passphrase_file {
        Some(path) => passphrase::from_file(path),
        None => passphrase::prompt(confirm),
    }?)
}

fn export(
    setup: &SetupArgs,
    out: &Path,
    secret: &PassphraseArgs,
    with_audit: bool,
    weak_kdf: bool,
) -> Result<(), CliError> {
    let config = load_config(setup)?;
    let secret = read_passphrase(secret, true)?;
    passphrase::check_strength(&secret)?;
    let out = std::path::absolute(out).with_context(|| out.display().to_string())?;
    let kdf = if weak_kdf {
        eprintln!("warning: --test-only-weak-kdf: this backup is cheap to brute-force");
        KdfSettings::TEST_ONLY_WEAK
    } else {
        KdfSettings::DEFAULT
    };
    let started = Instant::now();
    let socket = config.data_dir.join(SOCKET_FILE);
    let summary = match UnixStream::connect(&socket) {
        Ok(stream) => {
            eprintln!("exporting through the running server (it keeps serving)…");
            let request = Request::BackupExport(BackupExportRequest {
                out: out.clone(),
                passphrase: SecretText::new(&secret),
                kdf: Some(kdf),
                with_audit,
            });
            match protocol::exchange_waiting(stream, &socket, &request, ONLINE_EXPORT_WAIT)? {
                Reply::BackupExported(summary) => summary,
                Reply::Error { message } => return Err(CliError::Server(message)),
                other => return Err(CliError::unexpected(&other)),
            }
        }
        Err(_) => offline_export(config, &out, &secret, kdf, with_audit)?,
    };
    print_summary(&out, &summary, started.elapsed());
    Ok(())
}

fn offline_export(
    config: keyward::config::Config,
    out: &Path,
    secret: &str,
    kdf: KdfSettings,
    with_audit: bool,
) -> Result<ExportSummary, CliError> {
    let database = config.data_dir.join(DATABASE_FILE);
    if !database.exists() {
        return Err(CliError::Failed(format!(
            "no database at {} and no server running there",
            database.display()
        )));
    }
    let appliance = Appliance::open(config)?;
    let mut options = ExportOptions::new(&appliance.appliance_id);
    options.kdf = kdf;
    let audit = appliance.audit_log();
    let source = audit
        .as_deref()
        .map(|_| keyward::backup::audit_source::AuditSource);
    let extras: Vec<&dyn keyward::backup::export::ExtraSource> = match &source {
        Some(source) if with_audit => vec![source],
        _ => Vec::new(),
    };
    if with_audit && source.is_none() {
        eprintln!("warning: this appliance keeps no audit log to include");
    }
    let actor = keyward::audit::current_user();
    let mut bar = Progress::new("exported");
    let summary = export_to_file(
        appliance.store.as_ref(),
        appliance.engine.gate(),
        secret.as_bytes(),
        &options,
        &extras,
        out,
        &mut |n| bar.update(n),
        audit.as_deref().map(|ctx| (ctx, &actor)),
    )?;
    bar.done();
    Ok(summary)
}

fn print_summary(out: &Path, summary: &ExportSummary, elapsed: Duration) {
    println!(
        "backup written to {}: {} object(s), {} meta record(s), {} extra record(s), {} bytes, \
         in {:.1} s",
        out.display(),
        summary.objects,
        summary.meta,
        summary.extra,
        summary.bytes,
        elapsed.as_secs_f64()
    );
}

fn open_backup(file: &Path, secret: &PassphraseArgs) -> Result<BackupReader<File>, CliError> {
    let input = File::open(file).with_context(|| format!("opening {}", file.display()))?;
    let secret = read_passphrase(secret, false)?;
    BackupReader::open(input, secret.as_bytes()).with_context(|| file.display().to_string())
}

fn verify(file: &Path, secret: &PassphraseArgs) -> Result<(), CliError> {
    let mut reader = open_backup(file, secret)?;
    let header = reader.header.clone();
    let found = inventory(&mut reader).with_context(|| file.display().to_string())?;
    println!(
        "backup {}: intact, every chunk authenticated",
        file.display()
    );
    println!("format version: {}", header.format_version);
    println!("created: {} (unix time)", header.created_unix);
    println!("appliance id: {}", header.appliance_id);
    println!(
        "KDF: Argon2id m={} KiB t={} p={}",
        header.kdf.memory_kib, header.kdf.iterations, header.kdf.parallelism
    );
    println!(
        "objects: {} ({} with key material)",
        found.counts.objects, found.with_material
    );
    for (state, count) in &found.by_state {
        println!("  state {state}: {count}");
    }
    for (client, count) in &found.by_client {
        println!("  client {client}: {count}");
    }
    println!("meta records: {}", found.counts.meta);
    println!("extra records (audit): {}", found.counts.extra);
    Ok(())
}

pub fn restore(args: &RestoreArgs) -> Result<(), CliError> {
    let mut config = load_config(&args.setup)?;
    config.root.provider = args.root;
    let dir = config.data_dir.clone();
    // The passphrase is checked before anything is created.
    let mut reader = open_backup(&args.from, &args.secret)?;
    make_room(&dir, args.force)?;
    let started = Instant::now();
    let appliance = Appliance::open(config)?;
    let master =
        appliance.engine.gate().current().map_err(|reason| {
            CliError::Failed(format!("the new root key cannot serve: {reason}"))
        })?;
    let mut txn = appliance.store.write()?;
    let mut bar = Progress::new("restored");
    let summary = restore_into(&mut reader, txn.as_mut(), &master, None, &mut |n| {
        bar.update(n)
    })
    .map_err(|source| CliError::Context {
        context: args.from.display().to_string(),
        source: Box::new(NothingRestored(source)),
    })?;
    if let Some(audit) = appliance.audit_log() {
        let event = keyward::audit::AuditEvent {
            reason: Some(format!(
                "restored {} object(s) from a backup of appliance {} ({})",
                summary.counts.objects,
                reader.header.appliance_id,
                args.from.display()
            )),
            ..keyward::audit::AuditEvent::success("restore", Vec::new())
        };
        keyward::audit::record(txn.as_mut(), &audit, keyward::audit::current_user(), event)
            .context("cannot write the audit record of the restore")?;
    }
    txn.commit()?;
    bar.done();
    let restored = Restored {
        summary: &summary,
        from_appliance: &reader.header.appliance_id,
        dir: &dir,
        started,
        root: args.root,
        appliance_id: &appliance.appliance_id,
    };
    print_restored(&restored);
    Ok(())
}

/// Refuses a directory that holds an appliance unless `force`, which removes its database
/// (its certificates and root key are kept).
fn make_room(dir: &Path, force: bool) -> Result<(), CliError> {
    if let Some(why) = non_empty(dir)? {
        if !force {
            return Err(CliError::Usage(format!(
                "refusing to restore into {}: {why}. Restoring there would mix the backup with \
                 an existing appliance; choose an empty or new directory, or pass --force to \
                 replace its database (its certificates and root key are kept)",
                dir.display()
            )));
        }
        let database = dir.join(DATABASE_FILE);
        if database.exists() {
            std::fs::remove_file(&database)
                .with_context(|| format!("removing {}", database.display()))?;
            eprintln!("--force: removed {}", database.display());
        }
    }
    Ok(())
}

/// What a restore did, for [`print_restored`].
struct Restored<'a> {
    summary: &'a RestoreSummary,
    from_appliance: &'a str,
    dir: &'a Path,
    started: Instant,
    root: RootProvider,
    appliance_id: &'a str,
}

/// What was restored, what was not, and what the operator does next.
fn print_restored(restored: &Restored<'_>) {
    let Restored {
        summary,
        from_appliance,
        dir,
        started,
        root,
        appliance_id,
    } = restored;
    println!(
        "restored {} object(s) and {} meta record(s) from backup of appliance {} into {} in \
         {:.1} s",
        summary.counts.objects,
        summary.counts.meta,
        from_appliance,
        dir.display(),
        started.elapsed().as_secs_f64()
    );
    if summary.skipped_extra > 0 {
        println!(
            "{} audit record(s) in the backup were not restored (their chain is keyed by the old appliance's master key; they stay in the backup file, where `keyward backup verify` counts them)",
            summary.skipped_extra
        );
    }
    println!(
        "new master key wrapped by root \"{}\"; this appliance id: {}",
        root.name(),
        appliance_id
    );
    println!(
        "the server certificate is this directory's ({}); make vCenter trust it again \
         (`keyward server` shows it)",
        dir.join("server.crt").display()
    );
}

/// Why `dir` is not a fresh place to restore into, if it is not.
fn non_empty(dir: &Path) -> Result<Option<String>, CliError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| dir.display().to_string()),
    };
    let names: Vec<String> = entries
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    if names.is_empty() {
        return Ok(None);
    }
    let holds_store = names.iter().any(|n| n == DATABASE_FILE);
    Ok(Some(if holds_store {
        format!("it already holds a key database ({DATABASE_FILE})")
    } else {
        format!(
            "it is not empty ({} entries, e.g. {})",
            names.len(),
            names[0]
        )
    }))
}

/// A restore that failed part-way: its transaction was never committed.
#[derive(Debug, thiserror::Error)]
#[error("{0}; nothing was restored")]
struct NothingRestored(#[source] keyward::backup::BackupError);

/// A one-line progress counter on a terminal (stderr); silent otherwise.
struct Progress {
    verb: &'static str,
    on_terminal: bool,
    shown: bool,
}

impl Progress {
    fn new(verb: &'static str) -> Progress {
        Progress {
            verb,
            on_terminal: std::io::stderr().is_terminal(),
            shown: false,
        }
    }
    fn update(&mut self, objects: u64) {
        if self.on_terminal {
            eprint!("\r{} {objects} object(s)…", self.verb);
            let _ = std::io::stderr().flush();
            self.shown = true;
        }
    }
    fn done(&self) {
        if self.shown {
            eprintln!();
        }
    }
}
