//! The local root key provider. (Stub: the seal owner implements it; signatures are fixed.)

use std::path::Path;

use zeroize::Zeroizing;

use super::{RootKeyProvider, SealError};

/// A 256-bit root key from a 0600 file in the data directory, or derived with Argon2id from
/// an operator passphrase.
pub struct LocalRoot {
    _key: Zeroizing<[u8; 32]>,
    _name: &'static str,
}

impl LocalRoot {
    /// Reads `path`, or creates it (0600, random 32 bytes) when absent. Refuses a file readable
    /// by group or others.
    pub fn open_or_create(path: &Path) -> Result<LocalRoot, SealError> {
        let _ = path;
        todo!("LocalRoot::open_or_create")
    }

    /// Derives the root key from `passphrase` with Argon2id; the salt and parameters live in
    /// `params_path` (created on first use).
    pub fn from_passphrase(passphrase: &[u8], params_path: &Path) -> Result<LocalRoot, SealError> {
        let _ = (passphrase, params_path);
        todo!("LocalRoot::from_passphrase")
    }
}

impl RootKeyProvider for LocalRoot {
    fn name(&self) -> &str {
        self._name
    }
    fn wrap(&self, master_key: &[u8]) -> Result<Vec<u8>, SealError> {
        let _ = master_key;
        todo!()
    }
    fn unwrap(&self, wrapped: &[u8]) -> Result<Zeroizing<Vec<u8>>, SealError> {
        let _ = wrapped;
        todo!()
    }
}
