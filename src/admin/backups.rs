//! The backup operations the admin API offers besides export (which is
//! `backup::schedule::export_to_file`, shared with the admin socket and the scheduler): which
//! scheduled backup files exist, reading one back by name without leaving the backup
//! directory, and verifying a backup file someone hands in. Here, not in the HTTP layer, so
//! any other front end answers them the same way.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::backup_inventory::inventory;
use crate::backup::reader::BackupReader;
use crate::backup::{BackupError, FILE_SUFFIX};

#[derive(Debug, thiserror::Error)]
pub enum BackupOpError {
    #[error(
        "{0:?} is not a backup file name (letters, digits, '.', '_', '-', ending in {FILE_SUFFIX}; no paths)"
    )]
    BadName(String),
    #[error("no backup named {0:?}")]
    NotFound(String),
    #[error("no scheduled backups: the configuration has no [backup] table")]
    NotScheduled,
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("the backup does not verify: {0}")]
    Invalid(#[source] BackupError),
}

/// A scheduled backup file.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BackupFile {
    pub name: String,
    pub bytes: u64,
    /// Seconds since the epoch (the file's modification time).
    pub modified: i64,
}

/// What a verified backup holds.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Verified {
    pub format_version: u16,
    pub created_unix: u64,
    pub appliance_id: String,
    pub objects: u64,
    pub with_material: u64,
    pub meta: u64,
    pub audit_records: u64,
    pub by_state: BTreeMap<String, u64>,
    pub by_client: BTreeMap<String, u64>,
}

/// Refuses anything but a plain file name of a backup: no separators, no `..`, no hidden
/// files, so a name from a URL can never reach outside the backup directory.
pub fn check_name(name: &str) -> Result<(), BackupOpError> {
    let plain = !name.is_empty()
        && name.len() <= 128
        && !name.starts_with('.')
        && name.ends_with(FILE_SUFFIX)
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
        && !name.contains("..");
    if plain {
        Ok(())
    } else {
        Err(BackupOpError::BadName(name.to_string()))
    }
}

/// The backup files in `dir`, newest first.
pub fn scheduled_files(dir: &Path) -> Result<Vec<BackupFile>, BackupOpError> {
    let io = |source| BackupOpError::Io {
        path: dir.display().to_string(),
        source,
    };
    let mut files = Vec::new();
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        // Not written yet: the first scheduled backup creates nothing before its time.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(files),
        Err(e) => return Err(io(e)),
    };
    for entry in entries {
        let entry = entry.map_err(io)?;
        let Some(name) = entry.file_name().to_str().map(str::to_string) else {
            continue;
        };
        if check_name(&name).is_err() {
            continue;
        }
        let meta = entry.metadata().map_err(io)?;
        if !meta.is_file() {
            continue;
        }
        let modified = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_secs() as i64);
        files.push(BackupFile {
            name,
            bytes: meta.len(),
            modified,
        });
    }
    files.sort_by(|a, b| b.name.cmp(&a.name));
    Ok(files)
}

/// The path of the scheduled backup `name` in `dir`, after checking the name and that the
/// file is a regular file directly inside `dir` (a symbolic link is refused).
pub fn scheduled_file(dir: &Path, name: &str) -> Result<PathBuf, BackupOpError> {
    check_name(name)?;
    let path = dir.join(name);
    match std::fs::symlink_metadata(&path) {
        Ok(meta) if meta.is_file() => Ok(path),
        _ => Err(BackupOpError::NotFound(name.to_string())),
    }
}

/// Reads and authenticates every chunk of the backup in `input` with `passphrase`.
pub fn verify(input: impl Read, passphrase: &[u8]) -> Result<Verified, BackupOpError> {
    let mut reader = BackupReader::open(input, passphrase).map_err(BackupOpError::Invalid)?;
    let header = reader.header.clone();
    let found = inventory(&mut reader).map_err(BackupOpError::Invalid)?;
    Ok(Verified {
        format_version: header.format_version,
        created_unix: header.created_unix,
        appliance_id: header.appliance_id.clone(),
        objects: found.counts.objects,
        with_material: found.with_material,
        meta: found.counts.meta,
        audit_records: found.counts.extra,
        by_state: found.by_state,
        by_client: found.by_client,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_that_leave_the_directory_are_refused() {
        for bad in [
            "../keyward.redb",
            "..%2f.kwbackup",
            "a/b.kwbackup",
            ".hidden.kwbackup",
            "x..kwbackup",
            "/etc/passwd",
            "keyward.redb",
            "",
        ] {
            assert!(check_name(bad).is_err(), "{bad:?} accepted");
        }
        assert!(check_name("keyward-1700000000-000000001.kwbackup").is_ok());
    }
}
