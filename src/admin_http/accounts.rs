//! Who may use the HTTPS admin API: local accounts (Argon2id password hashes) and API tokens
//! for automation (only a SHA-256 of the token is kept: a token is 256 random bits, so a fast
//! hash is enough and lets every request be checked without Argon2's cost), each with a role.
//! Kept in one file of the data directory (`admin-accounts.json`, 0600), written whole by
//! rename, so `keyward admin-user` and `keyward api-token` work the same whether the server
//! runs or not, and the server sees a change at the next request without a reload.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::admin::credential::{self, KmipCredential};

pub const ACCOUNTS_FILE: &str = "admin-accounts.json";
const FORMAT_VERSION: u32 = 1;
/// Every API token starts with this, so a leaked one is easy to recognise in a scan.
pub const TOKEN_PREFIX: &str = "kwt_";

/// What a caller may do. Ordered: each role may do everything the one before it may.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, clap::ValueEnum,
)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Read-only: status, clients, keys, the audit log.
    Auditor,
    /// Also adds, issues and removes clients (without their keys) and revokes keys.
    Operator,
    /// Everything, destruction included.
    Admin,
}

impl Role {
    pub fn label(self) -> &'static str {
        match self {
            Role::Auditor => "auditor",
            Role::Operator => "operator",
            Role::Admin => "admin",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    pub name: String,
    pub role: Role,
    /// Argon2id PHC string.
    pub password_hash: String,
    /// Seconds since the epoch.
    pub created: i64,
    /// The TOTP secret (second factor), sealed (`super::totp`), hex; none = password only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub totp_sealed: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiToken {
    pub name: String,
    pub role: Role,
    /// SHA-256 (hex) of the whole token text.
    pub sha256: String,
    pub created: i64,
    /// Seconds since the epoch after which the token is refused.
    pub expires: i64,
    pub revoked: bool,
}

#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Accounts {
    pub version: u32,
    pub users: Vec<Account>,
    pub tokens: Vec<ApiToken>,
}

#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: unreadable accounts file: {source}")]
    Format {
        path: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("{path}: format version {found}, this keyward reads {FORMAT_VERSION}")]
    Version { path: String, found: u32 },
    #[error("a name is 1–64 characters of letters, digits, '.', '_', '-' or '@'; got {0:?}")]
    BadName(String),
    #[error("there is already an account named {0:?}")]
    UserExists(String),
    #[error("no account named {0:?}")]
    NoSuchUser(String),
    #[error("there is already a token named {0:?}")]
    TokenExists(String),
    #[error("no token named {0:?}")]
    NoSuchToken(String),
    #[error("the password must be at least 12 characters")]
    WeakPassword,
    #[error("the expiry must be 1 to 3650 days")]
    BadExpiry,
    #[error("password hash: {0}")]
    Hash(#[from] credential::CredentialError),
    #[error("random numbers: {0}")]
    Random(String),
    #[error("one-time passwords: {0}")]
    Totp(#[from] super::totp::TotpError),
}

pub fn now() -> i64 {
    crate::admin::registry::now()
}

fn check_name(name: &str) -> Result<(), AccountError> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@'));
    if ok {
        Ok(())
    } else {
        Err(AccountError::BadName(name.to_string()))
    }
}

pub fn path_in(data_dir: &Path) -> PathBuf {
    data_dir.join(ACCOUNTS_FILE)
}

impl Accounts {
    /// The accounts in `data_dir`; none when the file does not exist yet.
    pub fn load(data_dir: &Path) -> Result<Accounts, AccountError> {
        let path = path_in(data_dir);
        let text = match fs::read(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(Accounts {
                    version: FORMAT_VERSION,
                    ..Accounts::default()
                });
            }
            Err(source) => {
                return Err(AccountError::Io {
                    path: path.display().to_string(),
                    source,
                });
            }
        };
        let accounts: Accounts =
            serde_json::from_slice(&text).map_err(|source| AccountError::Format {
                path: path.display().to_string(),
                source,
            })?;
        if accounts.version != FORMAT_VERSION {
            return Err(AccountError::Version {
                path: path.display().to_string(),
                found: accounts.version,
            });
        }
        Ok(accounts)
    }

    /// Writes the file whole (temporary file, fsync, rename), mode 0600.
    pub fn save(&self, data_dir: &Path) -> Result<(), AccountError> {
        let path = path_in(data_dir);
        let tmp = data_dir.join(format!("{ACCOUNTS_FILE}.tmp"));
        let io = |source| AccountError::Io {
            path: tmp.display().to_string(),
            source,
        };
        let text = serde_json::to_vec_pretty(self).map_err(|source| AccountError::Format {
            path: path.display().to_string(),
            source,
        })?;
        let mut file = fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(io)?;
        file.set_permissions(fs::Permissions::from_mode(0o600))
            .map_err(io)?;
        file.write_all(&text).map_err(io)?;
        file.sync_all().map_err(io)?;
        fs::rename(&tmp, &path).map_err(|source| AccountError::Io {
            path: path.display().to_string(),
            source,
        })
    }

    pub fn add_user(
        &mut self,
        name: &str,
        role: Role,
        password: &[u8],
    ) -> Result<(), AccountError> {
        check_name(name)?;
        if self.users.iter().any(|u| u.name == name) {
            return Err(AccountError::UserExists(name.to_string()));
        }
        let password_hash = hash(name, password)?;
        self.users.push(Account {
            name: name.to_string(),
            role,
            password_hash,
            created: now(),
            totp_sealed: None,
        });
        Ok(())
    }

    pub fn set_password(&mut self, name: &str, password: &[u8]) -> Result<(), AccountError> {
        let hash = hash(name, password)?;
        let user = self
            .users
            .iter_mut()
            .find(|u| u.name == name)
            .ok_or_else(|| AccountError::NoSuchUser(name.to_string()))?;
        user.password_hash = hash;
        Ok(())
    }

    /// Gives `name` a new TOTP secret (replacing any earlier one), sealed in `data_dir`;
    /// returns it to be shown once.
    pub fn enable_totp(
        &mut self,
        data_dir: &Path,
        name: &str,
    ) -> Result<super::totp::Secret, AccountError> {
        let user = self
            .users
            .iter_mut()
            .find(|u| u.name == name)
            .ok_or_else(|| AccountError::NoSuchUser(name.to_string()))?;
        let secret = super::totp::Secret::generate()?;
        user.totp_sealed = Some(super::totp::seal(data_dir, name, &secret)?);
        Ok(secret)
    }

    /// Back to password only; returns whether TOTP was on.
    pub fn disable_totp(&mut self, name: &str) -> Result<bool, AccountError> {
        let user = self
            .users
            .iter_mut()
            .find(|u| u.name == name)
            .ok_or_else(|| AccountError::NoSuchUser(name.to_string()))?;
        Ok(user.totp_sealed.take().is_some())
    }

    pub fn remove_user(&mut self, name: &str) -> Result<Account, AccountError> {
        let at = self
            .users
            .iter()
            .position(|u| u.name == name)
            .ok_or_else(|| AccountError::NoSuchUser(name.to_string()))?;
        Ok(self.users.remove(at))
    }

    /// The account `name` if `password` is its password. Runs Argon2id even for an unknown
    /// name, so the answer's timing does not tell which names exist.
    pub fn check_password(&self, name: &str, password: &[u8]) -> Option<&Account> {
        match self.users.iter().find(|u| u.name == name) {
            Some(user) => credential::verify_password(
                &KmipCredential {
                    username: user.name.clone(),
                    password_hash: user.password_hash.clone(),
                },
                password,
            )
            .then_some(user),
            None => {
                // The same Argon2id work as a known name, whatever the password's length.
                let _ = credential::hash_password(name, password);
                None
            }
        }
    }

    /// Creates a token; returns its text, shown once and never stored.
    pub fn create_token(
        &mut self,
        name: &str,
        role: Role,
        days: u32,
    ) -> Result<zeroize::Zeroizing<String>, AccountError> {
        check_name(name)?;
        if !(1..=3650).contains(&days) {
            return Err(AccountError::BadExpiry);
        }
        if self.tokens.iter().any(|t| t.name == name) {
            return Err(AccountError::TokenExists(name.to_string()));
        }
        let mut secret = zeroize::Zeroizing::new([0u8; 32]);
        getrandom::fill(secret.as_mut()).map_err(|e| AccountError::Random(e.to_string()))?;
        let text = zeroize::Zeroizing::new(format!("{TOKEN_PREFIX}{}", hex::encode(*secret)));
        let created = now();
        self.tokens.push(ApiToken {
            name: name.to_string(),
            role,
            sha256: token_digest(&text),
            created,
            expires: created + i64::from(days) * 86_400,
            revoked: false,
        });
        Ok(text)
    }

    pub fn revoke_token(&mut self, name: &str) -> Result<(), AccountError> {
        let token = self
            .tokens
            .iter_mut()
            .find(|t| t.name == name)
            .ok_or_else(|| AccountError::NoSuchToken(name.to_string()))?;
        token.revoked = true;
        Ok(())
    }

    /// The token whose text is `presented`, whatever its state (the caller says why it is
    /// refused).
    pub fn find_token(&self, presented: &str) -> Option<&ApiToken> {
        let digest = token_digest(presented);
        self.tokens.iter().find(|t| t.sha256 == digest)
    }
}

pub fn token_digest(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

fn hash(name: &str, password: &[u8]) -> Result<String, AccountError> {
    if password.len() < 12 {
        return Err(AccountError::WeakPassword);
    }
    Ok(credential::hash_password(name, password)?.password_hash)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accounts_round_trip_and_tokens_are_stored_hashed() {
        let dir = tempfile::tempdir().unwrap();
        let mut accounts = Accounts::load(dir.path()).unwrap();
        accounts
            .add_user("alice", Role::Admin, b"correct horse battery")
            .unwrap();
        assert!(matches!(
            accounts.add_user("alice", Role::Auditor, b"another long one"),
            Err(AccountError::UserExists(_))
        ));
        assert!(matches!(
            accounts.add_user("bob", Role::Auditor, b"short"),
            Err(AccountError::WeakPassword)
        ));
        let token = accounts.create_token("ci", Role::Operator, 30).unwrap();
        accounts.save(dir.path()).unwrap();
        let mode = fs::metadata(path_in(dir.path()))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let text = fs::read_to_string(path_in(dir.path())).unwrap();
        assert!(!text.contains(token.as_str()) && !text.contains("correct horse"));
        let again = Accounts::load(dir.path()).unwrap();
        assert_eq!(again, accounts);
        assert!(
            again
                .check_password("alice", b"correct horse battery")
                .is_some()
        );
        assert!(
            again
                .check_password("alice", b"correct horse batterY")
                .is_none()
        );
        assert!(
            again
                .check_password("nobody", b"correct horse battery")
                .is_none()
        );
        assert_eq!(again.find_token(&token).unwrap().role, Role::Operator);
        assert!(again.find_token("kwt_00").is_none());
    }
}
