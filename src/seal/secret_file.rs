//! Small files the seal layer keeps beside the store: created 0600 in a 0700 directory,
//! atomically (a crash never leaves a half-written key file behind), never overwritten.

use std::fs::{self, DirBuilder, File, OpenOptions};
use std::io::{ErrorKind, Read, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

use zeroize::Zeroizing;

use super::SealError;

fn io_error(path: &Path, err: impl std::fmt::Display) -> SealError {
    SealError::Io {
        path: path.display().to_string(),
        message: err.to_string(),
    }
}

/// Creates the parent directory of `path` (mode 0700) when it does not exist yet.
pub(crate) fn ensure_parent_dir(path: &Path) -> Result<(), SealError> {
    match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(parent)
            .map_err(|err| io_error(parent, err)),
        _ => Ok(()),
    }
}

/// Reads `path` whole, or `None` when it does not exist. With `private`, refuses a file that
/// group or others may read or write: a root key anyone else can read protects nothing.
pub(crate) fn read(
    path: &Path,
    private: bool,
    max_len: u64,
) -> Result<Option<Zeroizing<Vec<u8>>>, SealError> {
    let mut file = match File::open(path) {
        Ok(file) => file,
        Err(err) if err.kind() == ErrorKind::NotFound => return Ok(None),
        Err(err) => return Err(io_error(path, err)),
    };
    // Checked on the open descriptor, so the file checked is the file read.
    let meta = file.metadata().map_err(|err| io_error(path, err))?;
    if !meta.is_file() {
        return Err(io_error(path, "not a regular file"));
    }
    let mode = meta.permissions().mode() & 0o777;
    if private && mode & 0o077 != 0 {
        return Err(SealError::Io {
            path: path.display().to_string(),
            message: format!(
                "refusing a secret file with mode {mode:04o}: group or others can access it \
                 (run `chmod 600` on it if it has not leaked, otherwise treat it as compromised)"
            ),
        });
    }
    if meta.len() > max_len {
        return Err(io_error(
            path,
            format!(
                "file is {} bytes, more than the {max_len} expected",
                meta.len()
            ),
        ));
    }
    // Room for one byte more than allowed, so a file growing under us is caught below without
    // the buffer ever reallocating (which would leave an unzeroized copy of a secret behind).
    let mut contents = Zeroizing::new(Vec::with_capacity(max_len as usize + 1));
    Read::by_ref(&mut file)
        .take(max_len + 1)
        .read_to_end(&mut contents)
        .map_err(|err| io_error(path, err))?;
    if contents.len() as u64 > max_len {
        return Err(io_error(
            path,
            format!("file grew past the {max_len} bytes expected"),
        ));
    }
    Ok(Some(contents))
}

/// Writes `contents` to `path` (mode 0600) unless it already exists. Returns `false` when it
/// did: the caller then reads the winner's file instead. The data goes to a temporary file,
/// is fsynced, then hard-linked into place, so `path` is either absent or complete.
pub(crate) fn create_new(path: &Path, contents: &[u8]) -> Result<bool, SealError> {
    ensure_parent_dir(path)?;
    let mut tmp_name = path.as_os_str().to_owned();
    tmp_name.push(format!(".tmp.{}", std::process::id()));
    let tmp = Path::new(&tmp_name);
    // A leftover from a crashed attempt of an earlier process with the same pid.
    let _ = fs::remove_file(tmp);
    let result = write_tmp_and_link(tmp, path, contents);
    let _ = fs::remove_file(tmp);
    let created = result?;
    if created {
        sync_parent_dir(path)?;
    }
    Ok(created)
}

fn write_tmp_and_link(tmp: &Path, path: &Path, contents: &[u8]) -> Result<bool, SealError> {
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(tmp)
        .map_err(|err| io_error(tmp, err))?;
    file.write_all(contents).map_err(|err| io_error(tmp, err))?;
    file.sync_all().map_err(|err| io_error(tmp, err))?;
    drop(file);
    match fs::hard_link(tmp, path) {
        Ok(()) => Ok(true),
        Err(err) if err.kind() == ErrorKind::AlreadyExists => Ok(false),
        Err(err) => Err(io_error(path, err)),
    }
}

fn sync_parent_dir(path: &Path) -> Result<(), SealError> {
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    File::open(parent)
        .and_then(|dir| dir.sync_all())
        .map_err(|err| io_error(parent, err))
}
