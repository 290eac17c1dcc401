//! Encrypted, portable backups of the whole key store, restorable on an air-gapped machine
//! with nothing but the file and its passphrase. Byte layout and rationale:
//! `docs/backup-format.md`.
//!
//! Export reads one consistent store snapshot, unseals each object's material with the master
//! key and writes it into an AES-256-GCM-SIV STREAM keyed from the passphrase with Argon2id, so
//! the file never depends on the appliance master key or on Key Protect.

pub mod audit_source;
pub mod changes;
pub mod export;
pub mod file;
pub mod header;
pub mod merge;
pub mod passphrase;
pub mod reader;
pub mod record;
pub mod restore;
pub mod schedule;
pub mod stream;

use crate::seal::SealError;
use crate::store::StoreError;

/// Errors of backup export, verification and restore. Never carries key material or the
/// passphrase.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error("{0}")]
    Io(String),
    #[error("not a Keyward backup file: {0}")]
    NotABackup(String),
    #[error("backup format version {found} is not supported (this build reads {supported})")]
    UnsupportedVersion { found: u16, supported: u16 },
    #[error("wrong passphrase: it does not open this backup (or the file's header was modified)")]
    WrongPassphrase,
    #[error(
        "chunk {index} failed authentication: the file was modified, or its chunks were \
         reordered or spliced in from another backup"
    )]
    ChunkAuthentication { index: u32 },
    #[error(
        "the backup is truncated: it ends after {chunks} chunk(s) without its authenticated \
         final chunk"
    )]
    Truncated { chunks: u32 },
    #[error("backup content is malformed: {0}")]
    Malformed(String),
    #[error("weak passphrase refused: {0}")]
    WeakPassphrase(String),
    #[error("key derivation (Argon2id): {0}")]
    Kdf(String),
    #[error("store: {0}")]
    Store(#[from] StoreError),
    #[error("seal: {0}")]
    Seal(#[from] SealError),
}

impl BackupError {
    pub(crate) fn io(context: impl std::fmt::Display, err: std::io::Error) -> BackupError {
        BackupError::Io(format!("{context}: {err}"))
    }
}

/// Default file name suffix of backups written by the scheduler.
pub const FILE_SUFFIX: &str = ".kwbackup";

#[cfg(test)]
mod tests;
