//! Time-based one-time passwords (RFC 6238) as an optional second factor for admin accounts.
//! The HMAC is aws-lc-rs's (HMAC-SHA1, the algorithm every authenticator app implements; RFC
//! 6238's default and not weakened by SHA-1's collision attacks); only the RFC's dynamic
//! truncation is written here. Secrets are 160 random bits, shown once as an `otpauth://` URI
//! and stored sealed (AES-256-GCM-SIV) under a key file of the data directory
//! (`admin-totp.key`, 0600, made on first enrolment): the accounts file alone does not give
//! them away, and `keyward admin-user totp` works whether or not the server runs, like the
//! other account commands (the master key lives only in the running server).

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use aws_lc_rs::hmac;
use zeroize::Zeroizing;

use crate::seal::MasterKey;

pub const KEY_FILE: &str = "admin-totp.key";
const SECRET_LEN: usize = 20;
const STEP_SECS: u64 = 30;
const DIGITS: u32 = 6;
/// Codes of the previous and next step are accepted too (clock drift, typing time).
const SKEW_STEPS: u64 = 1;
const ISSUER: &str = "Keyward";

#[derive(Debug, thiserror::Error)]
pub enum TotpError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: not a TOTP sealing key (expected 32 bytes)")]
    BadKeyFile { path: String },
    #[error("random numbers: {0}")]
    Random(String),
    #[error("the sealed TOTP secret does not open with {KEY_FILE}: {0}")]
    Seal(#[source] crate::seal::SealError),
}

/// A TOTP secret; zeroized when dropped, never printed by `Debug`.
pub struct Secret(Zeroizing<Vec<u8>>);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("totp::Secret(<redacted>)")
    }
}

impl Secret {
    pub fn generate() -> Result<Secret, TotpError> {
        let mut bytes = Zeroizing::new(vec![0u8; SECRET_LEN]);
        getrandom::fill(&mut bytes).map_err(|e| TotpError::Random(e.to_string()))?;
        Ok(Secret(bytes))
    }

    pub fn from_bytes(bytes: Zeroizing<Vec<u8>>) -> Secret {
        Secret(bytes)
    }

    /// Base32 without padding, as authenticator apps take it.
    pub fn base32(&self) -> Zeroizing<String> {
        Zeroizing::new(data_encoding::BASE32_NOPAD.encode(&self.0))
    }

    /// The enrolment URI (Google Authenticator's key URI format) for `account`.
    pub fn otpauth_uri(&self, account: &str) -> Zeroizing<String> {
        let label: String =
            percent_encoding::utf8_percent_encode(account, percent_encoding::NON_ALPHANUMERIC)
                .collect();
        Zeroizing::new(format!(
            "otpauth://totp/{ISSUER}:{label}?secret={}&issuer={ISSUER}&algorithm=SHA1&digits={DIGITS}&period={STEP_SECS}",
            self.base32().as_str()
        ))
    }

    /// The code of time step `step` (RFC 4226 HOTP with the step as counter).
    pub fn code_at_step(&self, step: u64) -> u32 {
        let key = hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, &self.0);
        let tag = hmac::sign(&key, &step.to_be_bytes());
        let mac = tag.as_ref();
        let offset = usize::from(mac[mac.len() - 1] & 0x0f);
        let binary = u32::from_be_bytes([
            mac[offset] & 0x7f,
            mac[offset + 1],
            mac[offset + 2],
            mac[offset + 3],
        ]);
        binary % 10u32.pow(DIGITS)
    }

    /// The time step of `code` if it is valid at `unix_secs` (± one step), in constant time
    /// per candidate; the caller refuses a step it has already accepted (replay).
    pub fn verify(&self, code: &str, unix_secs: u64) -> Option<u64> {
        let code = code.trim();
        if code.len() != DIGITS as usize || !code.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let now = unix_secs / STEP_SECS;
        let mut found = None;
        for step in now.saturating_sub(SKEW_STEPS)..=now + SKEW_STEPS {
            let expected = format!(
                "{:0width$}",
                self.code_at_step(step),
                width = DIGITS as usize
            );
            if aws_lc_rs::constant_time::verify_slices_are_equal(
                expected.as_bytes(),
                code.as_bytes(),
            )
            .is_ok()
            {
                found = Some(step);
            }
        }
        found
    }
}

/// The sealing key of the TOTP secrets in `data_dir`; made (0600) when `create` and absent.
fn sealing_key(data_dir: &Path, create: bool) -> Result<MasterKey, TotpError> {
    let path = data_dir.join(KEY_FILE);
    let io = |source| TotpError::Io {
        path: path.display().to_string(),
        source,
    };
    match std::fs::read(&path) {
        Ok(bytes) => {
            let bytes = Zeroizing::new(bytes);
            let key: [u8; 32] = bytes
                .as_slice()
                .try_into()
                .map_err(|_| TotpError::BadKeyFile {
                    path: path.display().to_string(),
                })?;
            Ok(MasterKey::from_bytes(Zeroizing::new(key)))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && create => {
            let mut key = Zeroizing::new([0u8; 32]);
            getrandom::fill(key.as_mut()).map_err(|e| TotpError::Random(e.to_string()))?;
            let mut file = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&path)
                .map_err(io)?;
            file.write_all(key.as_ref()).map_err(io)?;
            file.sync_all().map_err(io)?;
            Ok(MasterKey::from_bytes(key))
        }
        Err(e) => Err(io(e)),
    }
}

fn aad(account: &str) -> Vec<u8> {
    format!("keyward admin totp v1:{account}").into_bytes()
}

/// `secret` sealed for `account`, as stored in the accounts file (hex).
pub fn seal(data_dir: &Path, account: &str, secret: &Secret) -> Result<String, TotpError> {
    let key = sealing_key(data_dir, true)?;
    let sealed = key
        .seal(&aad(account), &secret.0)
        .map_err(TotpError::Seal)?;
    Ok(hex::encode(sealed))
}

/// The secret `sealed` (hex, from the accounts file) of `account`.
pub fn unseal(data_dir: &Path, account: &str, sealed: &str) -> Result<Secret, TotpError> {
    let key = sealing_key(data_dir, false)?;
    let bytes = hex::decode(sealed).map_err(|_| {
        TotpError::Seal(crate::seal::SealError::Malformed(
            "the sealed TOTP secret is not hex".into(),
        ))
    })?;
    let secret = key.unseal(&aad(account), &bytes).map_err(TotpError::Seal)?;
    Ok(Secret(Zeroizing::new(secret.to_vec())))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238 appendix B, SHA-1 column (8 digits there; the last 6 are the 6-digit code).
    #[test]
    fn rfc6238_test_vectors() {
        let secret = Secret::from_bytes(Zeroizing::new(b"12345678901234567890".to_vec()));
        for (time, eight) in [
            (59u64, 94287082u32),
            (1111111109, 7081804),
            (1111111111, 14050471),
            (1234567890, 89005924),
            (2000000000, 69279037),
            (20000000000, 65353130),
        ] {
            assert_eq!(
                secret.code_at_step(time / 30),
                eight % 1_000_000,
                "t={time}"
            );
            let code = format!("{:06}", eight % 1_000_000);
            assert_eq!(secret.verify(&code, time), Some(time / 30));
            assert_eq!(secret.verify(&code, time + 90), None);
        }
        assert_eq!(secret.verify("12345", 59), None);
        assert_eq!(secret.verify("abcdef", 59), None);
    }

    #[test]
    fn sealed_secret_round_trips_only_for_its_account() {
        let dir = tempfile::tempdir().unwrap();
        let secret = Secret::generate().unwrap();
        let sealed = seal(dir.path(), "alice", &secret).unwrap();
        assert!(!sealed.contains(&hex::encode(&*secret.0)));
        let back = unseal(dir.path(), "alice", &sealed).unwrap();
        assert_eq!(*back.0, *secret.0);
        assert!(unseal(dir.path(), "bob", &sealed).is_err());
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join(KEY_FILE))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let uri = secret.otpauth_uri("alice@example");
        assert!(uri.starts_with("otpauth://totp/Keyward:alice%40example?secret="));
        assert!(format!("{secret:?}").contains("redacted"));
    }
}
