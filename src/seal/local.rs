//! The local root key provider: the embedded default, with nothing outside the appliance.

use std::path::Path;

use zeroize::Zeroizing;

use super::kdf_params::KdfParams;
use super::{RootKeyProvider, SealError, envelope, secret_file};

pub use super::{FILE_PROVIDER, PASSPHRASE_PROVIDER};

/// Associated data of the master-key wrap: names what the blob is, so a wrapped master key can
/// never be mistaken for (or swapped with) any other blob sealed under the same root key.
const MASTER_KEY_WRAP_AAD: &[u8] = b"keyward/root-key/wrap/master-key";

/// A 256-bit root key from a 0600 file in the data directory, or derived with Argon2id from
/// an operator passphrase.
pub struct LocalRoot {
    key: Zeroizing<[u8; 32]>,
    name: &'static str,
}

impl std::fmt::Debug for LocalRoot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "LocalRoot({}, <redacted>)", self.name)
    }
}

impl LocalRoot {
    /// Reads `path`, or creates it (0600, random 32 bytes) when absent. Refuses a file readable
    /// by group or others.
    pub fn open_or_create(path: &Path) -> Result<LocalRoot, SealError> {
        if let Some(bytes) = secret_file::read(path, true, 32)? {
            return Self::from_file_bytes(path, &bytes);
        }
        let mut fresh = Zeroizing::new([0u8; 32]);
        envelope::random_bytes(&mut fresh[..])?;
        if secret_file::create_new(path, &fresh[..])? {
            log::info!("created a new local root key file at {}", path.display());
            return Ok(LocalRoot {
                key: fresh,
                name: FILE_PROVIDER,
            });
        }
        // Lost a creation race: the other creator's key is the one in use.
        let bytes = secret_file::read(path, true, 32)?.ok_or_else(|| SealError::Io {
            path: path.display().to_string(),
            message: "root key file vanished right after another process created it".into(),
        })?;
        Self::from_file_bytes(path, &bytes)
    }

    fn from_file_bytes(path: &Path, bytes: &[u8]) -> Result<LocalRoot, SealError> {
        if bytes.len() != 32 {
            return Err(SealError::Io {
                path: path.display().to_string(),
                message: format!(
                    "root key file holds {} bytes, expected exactly 32",
                    bytes.len()
                ),
            });
        }
        let mut key = Zeroizing::new([0u8; 32]);
        key.copy_from_slice(bytes);
        Ok(LocalRoot {
            key,
            name: FILE_PROVIDER,
        })
    }

    /// Derives the root key from `passphrase` with Argon2id; the salt and parameters live in
    /// `params_path` (created on first use).
    pub fn from_passphrase(passphrase: &[u8], params_path: &Path) -> Result<LocalRoot, SealError> {
        if passphrase.is_empty() {
            return Err(SealError::Provider {
                provider: PASSPHRASE_PROVIDER.into(),
                message: "the operator passphrase is empty".into(),
            });
        }
        let params = KdfParams::load_or_create(params_path)?;
        Ok(LocalRoot {
            key: params.derive(passphrase)?,
            name: PASSPHRASE_PROVIDER,
        })
    }
}

impl RootKeyProvider for LocalRoot {
    fn name(&self) -> &str {
        self.name
    }

    fn wrap(&self, master_key: &[u8]) -> Result<Vec<u8>, SealError> {
        envelope::seal(&self.key, MASTER_KEY_WRAP_AAD, master_key)
    }

    fn unwrap(&self, wrapped: &[u8]) -> Result<Zeroizing<Vec<u8>>, SealError> {
        envelope::open(&self.key, MASTER_KEY_WRAP_AAD, wrapped)
    }
}
