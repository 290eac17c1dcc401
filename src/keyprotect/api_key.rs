//! The IBM Cloud API key: read from a private file or the environment, never from argv, and
//! never printed.

use std::fs::File;
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use zeroize::Zeroizing;

use super::KpError;
use super::config::{API_KEY_ENV, KeyProtectConfig};

/// Longest API key file accepted; real keys are 44 characters.
const MAX_API_KEY_FILE: u64 = 4096;

/// An IAM API key. Zeroized on drop; `Debug` shows nothing of it.
pub struct ApiKey(Zeroizing<String>);

impl std::fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ApiKey(<redacted>)")
    }
}

impl ApiKey {
    /// From the configured `api_key_file`, else from `KEYWARD_KP_API_KEY`.
    pub fn load(config: &KeyProtectConfig) -> Result<ApiKey, KpError> {
        match &config.api_key_file {
            Some(path) => ApiKey::from_file(path),
            None => ApiKey::from_env()?.ok_or_else(|| {
                KpError::ApiKey(format!(
                    "neither api_key_file is configured nor {API_KEY_ENV} is set"
                ))
            }),
        }
    }

    /// Reads a key file; refuses one that group or others may access.
    pub fn from_file(path: &Path) -> Result<ApiKey, KpError> {
        let fail = |what: String| KpError::ApiKey(format!("{}: {what}", path.display()));
        let mut file = File::open(path).map_err(|e| fail(e.to_string()))?;
        // Checked on the open descriptor, so the file checked is the file read.
        let meta = file.metadata().map_err(|e| fail(e.to_string()))?;
        if !meta.is_file() {
            return Err(fail("not a regular file".into()));
        }
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(fail(format!(
                "mode {mode:04o} lets group or others read the API key; run `chmod 600` on \
                 it (and rotate the key if it may have leaked)"
            )));
        }
        if meta.len() > MAX_API_KEY_FILE {
            return Err(fail(format!("larger than {MAX_API_KEY_FILE} bytes")));
        }
        let mut raw = Zeroizing::new(Vec::with_capacity(MAX_API_KEY_FILE as usize + 1));
        Read::by_ref(&mut file)
            .take(MAX_API_KEY_FILE + 1)
            .read_to_end(&mut raw)
            .map_err(|e| fail(e.to_string()))?;
        let text = std::str::from_utf8(&raw).map_err(|_| fail("not UTF-8 text".into()))?;
        ApiKey::from_text(text).map_err(|e| fail(e.to_string()))
    }

    /// Reads `KEYWARD_KP_API_KEY`; `None` when it is unset.
    pub fn from_env() -> Result<Option<ApiKey>, KpError> {
        match std::env::var(API_KEY_ENV) {
            Ok(value) => {
                let value = Zeroizing::new(value);
                ApiKey::from_text(&value)
                    .map(Some)
                    .map_err(|e| KpError::ApiKey(format!("{API_KEY_ENV}: {e}")))
            }
            Err(std::env::VarError::NotPresent) => Ok(None),
            Err(std::env::VarError::NotUnicode(_)) => Err(KpError::ApiKey(format!(
                "{API_KEY_ENV} is not valid Unicode"
            ))),
        }
    }

    /// From text already in memory (surrounding whitespace, e.g. a final newline, is dropped).
    pub fn from_text(text: &str) -> Result<ApiKey, KpError> {
        let key = text.trim();
        if key.is_empty() {
            return Err(KpError::ApiKey("the API key is empty".into()));
        }
        if key.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(KpError::ApiKey(
                "the API key contains whitespace or control characters".into(),
            ));
        }
        Ok(ApiKey(Zeroizing::new(key.to_string())))
    }

    pub(crate) fn expose(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn write_with_mode(dir: &Path, mode: u32, text: &str) -> std::path::PathBuf {
        let path = dir.join(format!("apikey-{mode:o}"));
        let mut f = File::create(&path).unwrap();
        f.write_all(text.as_bytes()).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
        path
    }

    #[test]
    fn private_file_is_read_and_trimmed() {
        let dir = tempfile::tempdir().unwrap();
        let path = write_with_mode(dir.path(), 0o600, "abc-DEF_123\n");
        let key = ApiKey::from_file(&path).unwrap();
        assert_eq!(key.expose(), "abc-DEF_123");
        assert_eq!(format!("{key:?}"), "ApiKey(<redacted>)");
    }

    #[test]
    fn readable_by_others_is_refused_without_echoing_the_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = write_with_mode(dir.path(), 0o644, "topsecretkey");
        let err = ApiKey::from_file(&path).unwrap_err().to_string();
        assert!(err.contains("0644"), "{err}");
        assert!(!err.contains("topsecretkey"));
        let path = write_with_mode(dir.path(), 0o640, "topsecretkey");
        assert!(ApiKey::from_file(&path).is_err());
    }

    #[test]
    fn empty_or_spaced_keys_are_refused() {
        assert!(ApiKey::from_text(" \n").is_err());
        assert!(ApiKey::from_text("two words").is_err());
    }
}
