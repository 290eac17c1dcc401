//! `DATA_DIR/status.json`: the root key state as the running server last saw it, for
//! `keyward status`. A stopgap until the admin socket exists; written at start and on every
//! sync event, atomically (temp file + rename) and readable by the owner only.

use std::fs;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use super::ServerError;

pub const STATUS_FILE: &str = "status.json";

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApplianceStatus {
    /// Root key provider in use ("local" or "keyprotect").
    pub provider: String,
    /// Whether the server process that wrote this was running (false after a clean stop).
    pub serving: bool,
    /// Whether key material is withheld because the root key is unavailable.
    pub sealed: bool,
    pub sealed_reason: Option<String>,
    /// Seconds Key Protect has been unreachable, while it is.
    pub unreachable_for_secs: Option<u64>,
    pub last_error: Option<String>,
    /// Unix time of the last Key Protect poll that got an answer.
    pub last_success_unix: Option<u64>,
    /// Root key version of the stored master key wrap.
    pub wrapped_key_version: Option<String>,
    /// Unix time this file was written.
    pub written_unix: u64,
}

pub fn unix_secs(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

pub fn status_path(data_dir: &Path) -> PathBuf {
    data_dir.join(STATUS_FILE)
}

/// Replaces the status file in one step, so a reader never sees half of it.
pub fn write(data_dir: &Path, status: &ApplianceStatus) -> Result<(), ServerError> {
    let path = status_path(data_dir);
    let temp = data_dir.join(format!(".{STATUS_FILE}.{}.tmp", std::process::id()));
    let text = serde_json::to_vec_pretty(status).map_err(|e| ServerError::Io {
        what: "encoding the status".into(),
        message: e.to_string(),
    })?;
    let io = |what: &str, e| ServerError::io(format!("{what} {}", temp.display()), e);
    let _ = fs::remove_file(&temp);
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&temp)
        .map_err(|e| io("creating", e))?;
    file.write_all(&text).map_err(|e| io("writing", e))?;
    file.sync_all().map_err(|e| io("syncing", e))?;
    fs::rename(&temp, &path)
        .map_err(|e| ServerError::io(format!("replacing {}", path.display()), e))
}

pub fn read(data_dir: &Path) -> Result<ApplianceStatus, ServerError> {
    let path = status_path(data_dir);
    let text =
        fs::read(&path).map_err(|e| ServerError::io(format!("reading {}", path.display()), e))?;
    serde_json::from_slice(&text).map_err(|e| ServerError::Io {
        what: format!("parsing {}", path.display()),
        message: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn written_owner_only_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let status = ApplianceStatus {
            provider: "keyprotect".into(),
            serving: true,
            sealed: true,
            sealed_reason: Some("the root key is disabled in Key Protect".into()),
            wrapped_key_version: Some("v2".into()),
            written_unix: 7,
            ..ApplianceStatus::default()
        };
        write(dir.path(), &status).unwrap();
        write(dir.path(), &status).unwrap();
        assert_eq!(read(dir.path()).unwrap(), status);
        let mode = fs::metadata(status_path(dir.path()))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let leftovers = fs::read_dir(dir.path()).unwrap().count();
        assert_eq!(leftovers, 1, "the temporary file must be renamed away");
    }
}
