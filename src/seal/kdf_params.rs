//! Argon2id parameters and salt for a passphrase-derived root key, kept in a small JSON file
//! so the same passphrase derives the same key after an upgrade changes the defaults.
//!
//! Defaults are RFC 9106 §4's second recommended option (t = 3, p = 4, m = 64 MiB, 128-bit
//! salt, 256-bit tag): the first option needs 2 GiB, too much for a small appliance VM, and the
//! derivation runs once per start, so a few hundred milliseconds cost nothing.

use std::path::Path;

use argon2::{Algorithm, Argon2, Params, Version};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use super::{SealError, envelope, secret_file};

const KDF_NAME: &str = "argon2id";
const DEFAULT_MEMORY_KIB: u32 = 64 * 1024;
const DEFAULT_ITERATIONS: u32 = 3;
const DEFAULT_PARALLELISM: u32 = 4;
const SALT_LEN: usize = 16;
/// Caps what a tampered params file can make us allocate (4 GiB) or spin on.
const MAX_MEMORY_KIB: u32 = 4 * 1024 * 1024;
const MAX_ITERATIONS: u32 = 64;
const MAX_PARALLELISM: u32 = 64;
const MAX_FILE_LEN: u64 = 4096;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct KdfParams {
    kdf: String,
    /// Argon2 version number (0x13 = 19).
    version: u32,
    memory_kib: u32,
    iterations: u32,
    parallelism: u32,
    salt_hex: String,
}

impl KdfParams {
    fn fresh() -> Result<KdfParams, SealError> {
        let mut salt = [0u8; SALT_LEN];
        envelope::random_bytes(&mut salt)?;
        Ok(KdfParams {
            kdf: KDF_NAME.into(),
            version: Version::V0x13 as u32,
            memory_kib: DEFAULT_MEMORY_KIB,
            iterations: DEFAULT_ITERATIONS,
            parallelism: DEFAULT_PARALLELISM,
            salt_hex: hex::encode(salt),
        })
    }

    /// Reads the parameters at `path`, creating them (0600) on first use.
    pub(crate) fn load_or_create(path: &Path) -> Result<KdfParams, SealError> {
        if let Some(bytes) = secret_file::read(path, false, MAX_FILE_LEN)? {
            return Self::parse(path, &bytes);
        }
        let fresh = Self::fresh()?;
        let mut text = serde_json::to_vec_pretty(&fresh).map_err(|err| malformed(path, err))?;
        text.push(b'\n');
        if secret_file::create_new(path, &text)? {
            Ok(fresh)
        } else {
            let bytes = secret_file::read(path, false, MAX_FILE_LEN)?.ok_or_else(|| {
                malformed(path, "vanished right after another process created it")
            })?;
            Self::parse(path, &bytes)
        }
    }

    fn parse(path: &Path, bytes: &[u8]) -> Result<KdfParams, SealError> {
        let params: KdfParams =
            serde_json::from_slice(bytes).map_err(|err| malformed(path, err))?;
        if params.kdf != KDF_NAME {
            return Err(malformed(
                path,
                format!("kdf \"{}\" is not {KDF_NAME}", params.kdf),
            ));
        }
        if params.version != Version::V0x13 as u32 {
            return Err(malformed(
                path,
                format!("Argon2 version {} is not 19", params.version),
            ));
        }
        if params.memory_kib > MAX_MEMORY_KIB
            || !(1..=MAX_ITERATIONS).contains(&params.iterations)
            || !(1..=MAX_PARALLELISM).contains(&params.parallelism)
        {
            return Err(malformed(
                path,
                "cost parameters are outside the accepted bounds",
            ));
        }
        let salt = params.salt().map_err(|err| malformed(path, err))?;
        if salt.len() < argon2::MIN_SALT_LEN || salt.len() > 64 {
            return Err(malformed(path, format!("salt is {} bytes", salt.len())));
        }
        Ok(params)
    }

    fn salt(&self) -> Result<Vec<u8>, hex::FromHexError> {
        hex::decode(&self.salt_hex)
    }

    /// Derives the 256-bit root key from `passphrase`.
    pub(crate) fn derive(&self, passphrase: &[u8]) -> Result<Zeroizing<[u8; 32]>, SealError> {
        let kdf_error = |err: argon2::Error| SealError::Provider {
            provider: super::PASSPHRASE_PROVIDER.into(),
            message: format!("Argon2id derivation failed: {err}"),
        };
        let salt = self
            .salt()
            .map_err(|err| SealError::Malformed(format!("KDF salt: {err}")))?;
        let params = Params::new(self.memory_kib, self.iterations, self.parallelism, Some(32))
            .map_err(kdf_error)?;
        let mut key = Zeroizing::new([0u8; 32]);
        Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
            .hash_password_into(passphrase, &salt, &mut key[..])
            .map_err(kdf_error)?;
        Ok(key)
    }
}

fn malformed(path: &Path, err: impl std::fmt::Display) -> SealError {
    SealError::Malformed(format!("KDF parameters file {}: {err}", path.display()))
}
