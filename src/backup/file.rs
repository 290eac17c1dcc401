//! Writing a backup file atomically: a 0600 temporary file beside the target, fsync, rename,
//! fsync of the directory. A crash leaves either the old file or the complete new one.

use std::fs::{self, File, OpenOptions};
use std::io::BufWriter;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use super::BackupError;

/// Runs `write` on a buffered temporary file and moves it to `path` only if it succeeded.
pub fn write_atomically<T>(
    path: &Path,
    write: impl FnOnce(BufWriter<File>) -> Result<(BufWriter<File>, T), BackupError>,
) -> Result<T, BackupError> {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
        _ => std::path::PathBuf::from("."),
    };
    let name = path
        .file_name()
        .ok_or_else(|| BackupError::Io(format!("{} names no file", path.display())))?;
    let temp = dir.join(format!(
        ".{}.{}.tmp",
        name.to_string_lossy(),
        std::process::id()
    ));
    let _ = fs::remove_file(&temp);
    let file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&temp)
        .map_err(|e| BackupError::io(format!("creating {}", temp.display()), e))?;
    let result = (|| {
        let (writer, value) = write(BufWriter::new(file))?;
        let file = writer
            .into_inner()
            .map_err(|e| BackupError::io(format!("writing {}", temp.display()), e.into_error()))?;
        file.sync_all()
            .map_err(|e| BackupError::io(format!("syncing {}", temp.display()), e))?;
        fs::rename(&temp, path)
            .map_err(|e| BackupError::io(format!("renaming to {}", path.display()), e))?;
        // The rename is durable only once the directory entry is.
        File::open(&dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| BackupError::io(format!("syncing directory {}", dir.display()), e))?;
        Ok(value)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&temp);
    }
    result
}
