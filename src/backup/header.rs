//! The backup header: everything needed to derive the key and check the stream, in the clear
//! but authenticated (it is the associated data of every chunk and of the passphrase check).

use argon2::{Algorithm, Argon2, Params, Version};
use zeroize::Zeroizing;

use super::BackupError;

pub const MAGIC: &[u8; 8] = b"KWBACKUP";
pub const FORMAT_VERSION: u16 = 1;
/// KDF identifier 1: Argon2id, Argon2 version 0x13.
pub const KDF_ARGON2ID: u8 = 1;
pub const SALT_LEN: usize = 16;
pub const NONCE_PREFIX_LEN: usize = 7;
pub const TAG_LEN: usize = 16;
pub const DEFAULT_CHUNK_SIZE: u32 = 64 * 1024;
pub const MIN_CHUNK_SIZE: u32 = 1024;
pub const MAX_CHUNK_SIZE: u32 = 1024 * 1024;
pub const MAX_APPLIANCE_ID_LEN: usize = 64;
/// Bounds on what a hostile header can make the KDF allocate (2 GiB) or spin on.
pub const MAX_MEMORY_KIB: u32 = 2 * 1024 * 1024;
pub const MAX_ITERATIONS: u32 = 64;
pub const MAX_PARALLELISM: u32 = 16;
/// Fixed part of the header before the appliance id.
const FIXED_LEN: usize = 8 + 2 + 1 + 1 + 4 + 4 + 4 + SALT_LEN + NONCE_PREFIX_LEN + 4 + 8 + 1;
pub const MAX_HEADER_LEN: usize = FIXED_LEN + MAX_APPLIANCE_ID_LEN;

/// Argon2id cost parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct KdfSettings {
    pub memory_kib: u32,
    pub iterations: u32,
    pub parallelism: u32,
}

impl KdfSettings {
    /// 256 MiB, 3 passes, 1 lane: about a second on the appliance, and each guess costs an
    /// offline attacker the same 256 MiB·3 passes (see docs/backup-format.md).
    pub const DEFAULT: KdfSettings = KdfSettings {
        memory_kib: 256 * 1024,
        iterations: 3,
        parallelism: 1,
    };

    /// Cheap parameters for tests only; never the default of any command.
    pub const TEST_ONLY_WEAK: KdfSettings = KdfSettings {
        memory_kib: 64,
        iterations: 1,
        parallelism: 1,
    };

    fn check(&self) -> Result<(), BackupError> {
        // Argon2 wants at least 8 KiB per lane. The header is hostile input: the product is
        // saturated, not trusted to fit (libFuzzer found `8 * parallelism` overflowing).
        if self.memory_kib > MAX_MEMORY_KIB
            || self.memory_kib < self.parallelism.max(1).saturating_mul(8)
            || !(1..=MAX_ITERATIONS).contains(&self.iterations)
            || !(1..=MAX_PARALLELISM).contains(&self.parallelism)
        {
            return Err(BackupError::NotABackup(format!(
                "Argon2id parameters m={} KiB t={} p={} are outside the accepted bounds",
                self.memory_kib, self.iterations, self.parallelism
            )));
        }
        Ok(())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    pub format_version: u16,
    pub kdf: KdfSettings,
    pub salt: [u8; SALT_LEN],
    pub nonce_prefix: [u8; NONCE_PREFIX_LEN],
    pub chunk_size: u32,
    pub created_unix: u64,
    pub appliance_id: String,
}

impl Header {
    /// A header with a fresh random salt and nonce prefix.
    pub fn new(
        kdf: KdfSettings,
        chunk_size: u32,
        created_unix: u64,
        appliance_id: &str,
    ) -> Result<Header, BackupError> {
        kdf.check()?;
        if !(MIN_CHUNK_SIZE..=MAX_CHUNK_SIZE).contains(&chunk_size) {
            return Err(BackupError::Malformed(format!(
                "chunk size {chunk_size} outside {MIN_CHUNK_SIZE}..={MAX_CHUNK_SIZE}"
            )));
        }
        let mut id = appliance_id.to_string();
        id.truncate(MAX_APPLIANCE_ID_LEN);
        let mut salt = [0u8; SALT_LEN];
        let mut nonce_prefix = [0u8; NONCE_PREFIX_LEN];
        let random = |buf: &mut [u8]| {
            getrandom::fill(buf).map_err(|e| BackupError::Io(format!("OS random source: {e}")))
        };
        random(&mut salt)?;
        random(&mut nonce_prefix)?;
        Ok(Header {
            format_version: FORMAT_VERSION,
            kdf,
            salt,
            nonce_prefix,
            chunk_size,
            created_unix,
            appliance_id: id,
        })
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(FIXED_LEN + self.appliance_id.len());
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&self.format_version.to_be_bytes());
        out.push(KDF_ARGON2ID);
        out.push(0);
        out.extend_from_slice(&self.kdf.memory_kib.to_be_bytes());
        out.extend_from_slice(&self.kdf.iterations.to_be_bytes());
        out.extend_from_slice(&self.kdf.parallelism.to_be_bytes());
        out.extend_from_slice(&self.salt);
        out.extend_from_slice(&self.nonce_prefix);
        out.extend_from_slice(&self.chunk_size.to_be_bytes());
        out.extend_from_slice(&self.created_unix.to_be_bytes());
        out.push(self.appliance_id.len() as u8);
        out.extend_from_slice(self.appliance_id.as_bytes());
        out
    }

    /// Reads a header from the start of `input`, reading no more than [`MAX_HEADER_LEN`] bytes.
    /// Returns the header and its exact encoded bytes (the associated data).
    pub fn read(input: &mut dyn std::io::Read) -> Result<(Header, Vec<u8>), BackupError> {
        let mut fixed = [0u8; FIXED_LEN];
        read_exact(input, &mut fixed)?;
        let format_version = check_format(&fixed)?;
        let be32 = |at: usize| {
            u32::from_be_bytes([fixed[at], fixed[at + 1], fixed[at + 2], fixed[at + 3]])
        };
        let kdf = KdfSettings {
            memory_kib: be32(12),
            iterations: be32(16),
            parallelism: be32(20),
        };
        kdf.check()?;
        let mut at = 24;
        let mut salt = [0u8; SALT_LEN];
        salt.copy_from_slice(&fixed[at..at + SALT_LEN]);
        at += SALT_LEN;
        let mut nonce_prefix = [0u8; NONCE_PREFIX_LEN];
        nonce_prefix.copy_from_slice(&fixed[at..at + NONCE_PREFIX_LEN]);
        at += NONCE_PREFIX_LEN;
        let chunk_size = be32(at);
        at += 4;
        if !(MIN_CHUNK_SIZE..=MAX_CHUNK_SIZE).contains(&chunk_size) {
            return Err(BackupError::NotABackup(format!(
                "chunk size {chunk_size} is outside {MIN_CHUNK_SIZE}..={MAX_CHUNK_SIZE}"
            )));
        }
        let mut created = [0u8; 8];
        created.copy_from_slice(&fixed[at..at + 8]);
        at += 8;
        let id_len = fixed[at] as usize;
        if id_len > MAX_APPLIANCE_ID_LEN {
            return Err(BackupError::NotABackup(format!(
                "appliance id of {id_len} bytes (at most {MAX_APPLIANCE_ID_LEN})"
            )));
        }
        let mut id = vec![0u8; id_len];
        read_exact(input, &mut id)?;
        let appliance_id = String::from_utf8(id.clone())
            .map_err(|_| BackupError::NotABackup("appliance id is not UTF-8".into()))?;
        let mut bytes = fixed.to_vec();
        bytes.extend_from_slice(&id);
        Ok((
            Header {
                format_version,
                kdf,
                salt,
                nonce_prefix,
                chunk_size,
                created_unix: u64::from_be_bytes(created),
                appliance_id,
            },
            bytes,
        ))
    }

    /// The 256-bit backup key from `passphrase` with this header's Argon2id parameters.
    pub fn derive_key(&self, passphrase: &[u8]) -> Result<Zeroizing<[u8; 32]>, BackupError> {
        let params = Params::new(
            self.kdf.memory_kib,
            self.kdf.iterations,
            self.kdf.parallelism,
            Some(32),
        )
        .map_err(|e| BackupError::Kdf(e.to_string()))?;
        let mut key = Zeroizing::new([0u8; 32]);
        Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
            .hash_password_into(passphrase, &self.salt, &mut key[..])
            .map_err(|e| BackupError::Kdf(e.to_string()))?;
        Ok(key)
    }
}

/// Checks that the fixed part is a backup this build reads: the magic, the format version and
/// the key derivation function; returns the format version.
fn check_format(fixed: &[u8; FIXED_LEN]) -> Result<u16, BackupError> {
    if &fixed[..8] != MAGIC {
        return Err(BackupError::NotABackup(
            "the file does not start with the KWBACKUP magic".into(),
        ));
    }
    let format_version = u16::from_be_bytes([fixed[8], fixed[9]]);
    if format_version != FORMAT_VERSION {
        return Err(BackupError::UnsupportedVersion {
            found: format_version,
            supported: FORMAT_VERSION,
        });
    }
    if fixed[10] != KDF_ARGON2ID || fixed[11] != 0 {
        return Err(BackupError::NotABackup(format!(
            "unknown key derivation function {}",
            fixed[10]
        )));
    }
    Ok(format_version)
}

fn read_exact(input: &mut dyn std::io::Read, buf: &mut [u8]) -> Result<(), BackupError> {
    input.read_exact(buf).map_err(|e| match e.kind() {
        std::io::ErrorKind::UnexpectedEof => {
            BackupError::NotABackup("the file is shorter than a backup header (truncated?)".into())
        }
        _ => BackupError::io("reading the backup header", e),
    })
}
