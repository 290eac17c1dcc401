//! Whole-store export to a file (shared by the online, offline and scheduled paths) and the
//! scheduled-backup thread ("keyward-backup"), which writes a backup every interval from its
//! own read transaction and keeps the newest `keep` files.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender, channel};
use std::thread::JoinHandle;
use std::time::Duration;

use serde::Deserialize;

use super::changes::{self, LastBackup};
use super::export::{ExportOptions, ExportSummary, ExtraSource, export};
use super::{BackupError, FILE_SUFFIX, file, passphrase};
use crate::audit::AuditContext;
use crate::seal::KeyGate;
use crate::store::Store;

/// Exports one snapshot of `store` to `out` atomically and records it as the last backup.
#[allow(clippy::too_many_arguments)]
pub fn export_to_file(
    store: &dyn Store,
    gate: &KeyGate,
    passphrase: &[u8],
    options: &ExportOptions,
    extras: &[&dyn ExtraSource],
    out: &Path,
    progress: &mut dyn FnMut(u64),
    audit: crate::audit::AuditBy<'_>,
) -> Result<ExportSummary, BackupError> {
    let master = gate.current().map_err(|reason| {
        BackupError::Io(format!(
            "the appliance is sealed, so key material cannot be exported: {reason}"
        ))
    })?;
    let (summary, sequence) = {
        let view = store.read()?;
        let sequence = changes::sequence(&*view)?;
        let summary = file::write_atomically(out, |writer| {
            export(
                &*view, &master, passphrase, options, extras, writer, progress,
            )
        })?;
        (summary, sequence)
    };
    let recorded = changes::record_backup(
        store,
        &LastBackup {
            unix: summary.created_unix,
            sequence,
            file: out.display().to_string(),
            objects: summary.objects,
        },
        audit,
    );
    match recorded {
        Ok(()) => {}
        // A cluster node records the mark in etcd, which may refuse it (no quorum, or another
        // node recording its own backup at the same moment) although the file is complete and
        // the snapshot consistent; the mark only feeds `keyward status`, so the backup stands.
        // A single appliance keeps failing: its mark shares the transaction with the audit
        // record of the export.
        Err(e) if store.replicated() => {
            log::warn!(
                "backup {} is complete, but recording it as the last backup failed: {e}",
                out.display()
            );
        }
        Err(e) => return Err(e.into()),
    }
    Ok(summary)
}

/// `[backup]` in the configuration: scheduled backups.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackupSettings {
    /// Directory the scheduled backups are written to.
    pub dir: PathBuf,
    /// Time between backups, e.g. "24h", "30m", "90s".
    #[serde(deserialize_with = "deserialize_interval")]
    pub interval: Duration,
    /// How many of the newest backups to keep (default 7).
    #[serde(default = "default_keep")]
    pub keep: usize,
    /// First line is the backup passphrase; 0600.
    pub passphrase_file: PathBuf,
    /// Include the audit log in scheduled backups (like `backup export --with-audit`).
    #[serde(default)]
    pub with_audit: bool,
    /// TEST ONLY: cheap Argon2id parameters so test runs stay fast. Never set in production.
    #[serde(default)]
    pub test_only_weak_kdf: bool,
}

fn default_keep() -> usize {
    7
}

/// Why a backup interval is refused.
#[derive(Debug, thiserror::Error)]
pub enum IntervalError {
    #[error("interval {0}")]
    Unreadable(#[from] crate::duration::DurationError),
    #[error("the backup interval must be more than zero")]
    Zero,
}

/// Parses "90s", "30m", "24h", "7d" or a plain number of seconds (the one duration grammar,
/// `crate::duration`); zero is refused.
pub fn parse_interval(text: &str) -> Result<Duration, IntervalError> {
    let interval = crate::duration::parse(text)?;
    if interval.is_zero() {
        return Err(IntervalError::Zero);
    }
    Ok(interval)
}

fn deserialize_interval<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let text = String::deserialize(d)?;
    parse_interval(&text).map_err(serde::de::Error::custom)
}

/// The scheduled-backup thread; stops when [`Scheduler::shutdown`] is called or dropped.
pub struct Scheduler {
    stop: Option<Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Scheduler {
    pub fn start(
        settings: BackupSettings,
        store: Arc<dyn Store>,
        gate: Arc<KeyGate>,
        appliance_id: String,
        audit: Option<Arc<AuditContext>>,
    ) -> Result<Scheduler, BackupError> {
        std::fs::create_dir_all(&settings.dir)
            .map_err(|e| BackupError::io(format!("creating {}", settings.dir.display()), e))?;
        // Read now so a wrong path fails at start, not at the first backup hours later.
        passphrase::from_file(&settings.passphrase_file)?;
        let (stop_tx, stop_rx) = channel();
        let thread = std::thread::Builder::new()
            .name("keyward-backup".into())
            .spawn(move || {
                let audit = audit.as_deref();
                run(
                    &settings,
                    store.as_ref(),
                    &gate,
                    &appliance_id,
                    audit,
                    &stop_rx,
                )
            })
            .map_err(|e| BackupError::io("starting the backup thread", e))?;
        Ok(Scheduler {
            stop: Some(stop_tx),
            thread: Some(thread),
        })
    }

    pub fn shutdown(mut self) {
        self.stop_now();
    }

    fn stop_now(&mut self) {
        self.stop.take();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for Scheduler {
    fn drop(&mut self) {
        self.stop_now();
    }
}

fn run(
    settings: &BackupSettings,
    store: &dyn Store,
    gate: &KeyGate,
    appliance_id: &str,
    audit: Option<&AuditContext>,
    stop: &Receiver<()>,
) {
    loop {
        match stop.recv_timeout(settings.interval) {
            Err(RecvTimeoutError::Timeout) => {}
            Ok(()) | Err(RecvTimeoutError::Disconnected) => return,
        }
        match scheduled_backup(settings, store, gate, appliance_id, audit) {
            Ok((path, summary)) => log::info!(
                "scheduled backup written: {} ({} objects, {} bytes)",
                path.display(),
                summary.objects,
                summary.bytes
            ),
            Err(e) => log::error!("scheduled backup failed: {e}"),
        }
    }
}

/// Writes one backup into the configured directory and prunes old ones.
pub fn scheduled_backup(
    settings: &BackupSettings,
    store: &dyn Store,
    gate: &KeyGate,
    appliance_id: &str,
    audit: Option<&AuditContext>,
) -> Result<(PathBuf, ExportSummary), BackupError> {
    let source = audit.map(|_| crate::backup::audit_source::AuditSource);
    let extras: Vec<&dyn ExtraSource> = match &source {
        Some(source) if settings.with_audit => vec![source as &dyn ExtraSource],
        _ => Vec::new(),
    };
    let system = crate::audit::Actor::System;
    let secret = passphrase::from_file(&settings.passphrase_file)?;
    let mut options = ExportOptions::new(appliance_id);
    if settings.test_only_weak_kdf {
        log::warn!(
            "[backup] test_only_weak_kdf is set: this backup is cheap to brute-force; never \
             use this setting in production"
        );
        options.kdf = super::header::KdfSettings::TEST_ONLY_WEAK;
    }
    let name = format!(
        "keyward-{}-{:09}{FILE_SUFFIX}",
        options.created_unix,
        unique_suffix()
    );
    let path = settings.dir.join(name);
    let summary = export_to_file(
        store,
        gate,
        secret.as_bytes(),
        &options,
        &extras,
        &path,
        &mut |_| {},
        audit.map(|ctx| (ctx, &system)),
    )?;
    prune(&settings.dir, settings.keep)?;
    Ok((path, summary))
}

/// Nanoseconds of the current second: orders two backups taken within one second.
fn unique_suffix() -> u32 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0)
}

/// Deletes all but the newest `keep` scheduled backups in `dir` (names sort by time).
pub fn prune(dir: &Path, keep: usize) -> Result<(), BackupError> {
    let mut backups: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| BackupError::io(format!("listing {}", dir.display()), e))?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| {
            path.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("keyward-") && n.ends_with(FILE_SUFFIX))
        })
        .collect();
    backups.sort();
    let excess = backups.len().saturating_sub(keep.max(1));
    for old in &backups[..excess] {
        std::fs::remove_file(old)
            .map_err(|e| BackupError::io(format!("removing old backup {}", old.display()), e))?;
        log::info!("removed old backup {}", old.display());
    }
    Ok(())
}
