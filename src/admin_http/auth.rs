//! Authentication of API callers: a login (account name and password, checked with Argon2id)
//! opens a session whose bearer token lives only in this process's memory; automation sends
//! an API token instead. Failed logins are counted per account and per source address over
//! a sliding window; past the configured bound further attempts are refused without checking
//! the password (no Argon2 work for an attacker to trigger) until the window has passed.

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::accounts::{AccountError, Accounts, Role, TOKEN_PREFIX, now, token_digest};
use crate::config::admin_http::AdminHttpSettings;

/// Session tokens start with this (API tokens with `kwt_`).
const SESSION_PREFIX: &str = "kws_";
/// Bounds on what an unauthenticated peer can make the server remember.
const MAX_SESSIONS: usize = 10_000;
const MAX_TRACKED_SOURCES: usize = 10_000;

/// Who is calling, after authentication.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// `alice` for an account, `token:ci` for an API token; goes into the audit log.
    pub name: String,
    pub role: Role,
}

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("no credentials: send `Authorization: Bearer <token>` (POST /api/v1/login gives one)")]
    Missing,
    #[error("the token is not valid")]
    Invalid,
    #[error("the token has expired")]
    Expired,
    #[error("the token has been revoked")]
    Revoked,
    #[error("wrong account name or password")]
    WrongPassword,
    #[error("too many failed logins; try again in {0} s")]
    Locked(u64),
    #[error("this needs the {need} role; {name} has {has}", need = .need.label(), has = .has.label())]
    Forbidden { name: String, need: Role, has: Role },
    #[error("accounts: {0}")]
    Accounts(#[from] AccountError),
    #[error("missing or wrong X-CSRF-Token header for a cookie session")]
    Csrf,
    #[error("this account needs a one-time code from its authenticator (`otp`)")]
    OtpRequired,
    #[error("wrong or already used one-time code")]
    WrongOtp,
}

impl AuthError {
    pub fn status(&self) -> u16 {
        match self {
            AuthError::Missing
            | AuthError::Invalid
            | AuthError::Expired
            | AuthError::Revoked
            | AuthError::WrongPassword
            | AuthError::OtpRequired
            | AuthError::WrongOtp => 401,
            AuthError::Locked(_) => 429,
            AuthError::Forbidden { .. } | AuthError::Csrf => 403,
            AuthError::Accounts(_) => 500,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            AuthError::Missing | AuthError::Invalid | AuthError::WrongPassword => {
                "UNAUTHORIZED_ERR"
            }
            AuthError::Expired => "TOKEN_EXPIRED_ERR",
            AuthError::Revoked => "TOKEN_REVOKED_ERR",
            AuthError::Locked(_) => "TOO_MANY_LOGIN_ATTEMPTS_ERR",
            AuthError::Forbidden { .. } => "FORBIDDEN_ERR",
            AuthError::Accounts(_) => "INTERNAL_SERVER_ERR",
            AuthError::Csrf => "CSRF_ERR",
            AuthError::OtpRequired => "TOTP_REQUIRED_ERR",
            AuthError::WrongOtp => "TOTP_INVALID_ERR",
        }
    }
}

struct Session {
    user: String,
    expires: Instant,
    /// SHA-256 (hex) of the CSRF token a cookie-carried session must echo in `X-CSRF-Token`.
    csrf_sha256: String,
}

/// Recent failure times per key, bounded.
#[derive(Default)]
struct Failures {
    by_key: HashMap<String, Vec<Instant>>,
}

impl Failures {
    fn recent(&mut self, key: &str, window: Duration, now: Instant) -> (usize, Option<Instant>) {
        match self.by_key.get_mut(key) {
            Some(times) => {
                times.retain(|t| now.duration_since(*t) < window);
                (times.len(), times.first().copied())
            }
            None => (0, None),
        }
    }

    fn note(&mut self, key: String, now: Instant, window: Duration) {
        if self.by_key.len() >= MAX_TRACKED_SOURCES && !self.by_key.contains_key(&key) {
            self.by_key
                .retain(|_, times| times.iter().any(|t| now.duration_since(*t) < window));
            if self.by_key.len() >= MAX_TRACKED_SOURCES {
                // Still full of live entries: forget the set rather than grow without bound.
                self.by_key.clear();
            }
        }
        let times = self.by_key.entry(key).or_default();
        times.push(now);
        // Only the count up to the bound matters.
        if times.len() > 64 {
            times.remove(0);
        }
    }
}

pub struct Gatekeeper {
    data_dir: PathBuf,
    settings: AdminHttpSettings,
    sessions: Mutex<HashMap<String, Session>>,
    failures: Mutex<Failures>,
    /// The newest TOTP time step each account has used: a code is accepted once.
    totp_steps: Mutex<HashMap<String, u64>>,
}

impl Gatekeeper {
    pub fn new(data_dir: PathBuf, settings: AdminHttpSettings) -> Gatekeeper {
        Gatekeeper {
            data_dir,
            settings,
            sessions: Mutex::new(HashMap::new()),
            failures: Mutex::new(Failures::default()),
            totp_steps: Mutex::new(HashMap::new()),
        }
    }

    pub fn session_secs(&self) -> u64 {
        self.settings.session_secs
    }

    /// The caller an `Authorization` header names.
    pub fn authenticate(&self, authorization: Option<&str>) -> Result<Caller, AuthError> {
        let token = authorization
            .and_then(|h| h.strip_prefix("Bearer "))
            .map(str::trim)
            .ok_or(AuthError::Missing)?;
        let accounts = Accounts::load(&self.data_dir)?;
        if token.starts_with(TOKEN_PREFIX) {
            let found = accounts.find_token(token).ok_or(AuthError::Invalid)?;
            if found.revoked {
                return Err(AuthError::Revoked);
            }
            if now() >= found.expires {
                return Err(AuthError::Expired);
            }
            return Ok(Caller {
                name: format!("token:{}", found.name),
                role: found.role,
            });
        }
        self.session_caller(&accounts, token, None)
    }

    /// The caller of a browser session carried by cookie; a request that changes something
    /// (`changing`) must also carry the session's CSRF token.
    pub fn authenticate_cookie(
        &self,
        token: &str,
        csrf: Option<&str>,
        changing: bool,
    ) -> Result<Caller, AuthError> {
        let accounts = Accounts::load(&self.data_dir)?;
        let csrf = if changing {
            Some(csrf.ok_or(AuthError::Csrf)?)
        } else {
            None
        };
        self.session_caller(&accounts, token, csrf)
    }

    fn session_caller(
        &self,
        accounts: &Accounts,
        token: &str,
        csrf: Option<&str>,
    ) -> Result<Caller, AuthError> {
        if !token.starts_with(SESSION_PREFIX) {
            return Err(AuthError::Invalid);
        }
        let user = {
            let mut sessions = self.sessions.lock().map_err(|_| AuthError::Invalid)?;
            let digest = token_digest(token);
            let session = sessions.get(&digest).ok_or(AuthError::Invalid)?;
            if Instant::now() >= session.expires {
                sessions.remove(&digest);
                return Err(AuthError::Expired);
            }
            if let Some(csrf) = csrf
                && token_digest(csrf) != session.csrf_sha256
            {
                return Err(AuthError::Csrf);
            }
            session.user.clone()
        };
        // The role is read afresh: a removed account's sessions end with it.
        let account = accounts
            .users
            .iter()
            .find(|u| u.name == user)
            .ok_or(AuthError::Revoked)?;
        Ok(Caller {
            name: account.name.clone(),
            role: account.role,
        })
    }

    /// Checks a login; on success returns a new session token and its lifetime.
    pub fn login(
        &self,
        name: &str,
        password: &[u8],
        otp: Option<&str>,
        peer: IpAddr,
    ) -> Result<(zeroize::Zeroizing<String>, String, Caller), AuthError> {
        let account = self.check_credentials(name, password, otp, peer)?;
        let now_instant = Instant::now();
        let mut secret = zeroize::Zeroizing::new([0u8; 32]);
        getrandom::fill(secret.as_mut())
            .map_err(|e| AuthError::Accounts(AccountError::Random(e.to_string())))?;
        let token = zeroize::Zeroizing::new(format!("{SESSION_PREFIX}{}", hex::encode(*secret)));
        getrandom::fill(secret.as_mut())
            .map_err(|e| AuthError::Accounts(AccountError::Random(e.to_string())))?;
        let csrf = hex::encode(*secret);
        let mut sessions = self.sessions.lock().map_err(|_| AuthError::Invalid)?;
        if sessions.len() >= MAX_SESSIONS {
            sessions.retain(|_, s| s.expires > now_instant);
        }
        if sessions.len() >= MAX_SESSIONS {
            return Err(AuthError::Locked(60));
        }
        sessions.insert(
            token_digest(&token),
            Session {
                user: account.name.clone(),
                expires: now_instant + self.settings.session(),
                csrf_sha256: token_digest(&csrf),
            },
        );
        Ok((
            token,
            csrf,
            Caller {
                name: account.name.clone(),
                role: account.role,
            },
        ))
    }

    /// Gives the account `name` a new TOTP secret (replacing any earlier one) once its
    /// password, and its current code if it has TOTP already, check out exactly as at login
    /// (same lockout and failure counting, so this is no way around them); returns the secret
    /// to be shown once.
    pub fn enrol_totp(
        &self,
        name: &str,
        password: &[u8],
        otp: Option<&str>,
        peer: IpAddr,
    ) -> Result<super::totp::Secret, AuthError> {
        self.check_credentials(name, password, otp, peer)?;
        let mut accounts = Accounts::load(&self.data_dir)?;
        let secret = accounts.enable_totp(&self.data_dir, name)?;
        accounts.save(&self.data_dir)?;
        Ok(secret)
    }

    /// The password (and code) check of a login, with its lockout: the account it names.
    fn check_credentials(
        &self,
        name: &str,
        password: &[u8],
        otp: Option<&str>,
        peer: IpAddr,
    ) -> Result<Caller, AuthError> {
        let window = self.settings.lockout();
        let now_instant = Instant::now();
        let account_key = format!("user:{name}");
        let source_key = format!("addr:{peer}");
        {
            let mut failures = self.failures.lock().map_err(|_| AuthError::Invalid)?;
            for (key, bound) in [
                (&account_key, self.settings.max_failed_logins),
                (&source_key, self.settings.max_failed_logins_per_address),
            ] {
                let (count, oldest) = failures.recent(key, window, now_instant);
                if count >= bound as usize {
                    let retry = oldest
                        .map(|t| window.saturating_sub(now_instant.duration_since(t)))
                        .unwrap_or(window);
                    return Err(AuthError::Locked(retry.as_secs().max(1)));
                }
            }
        }
        let accounts = Accounts::load(&self.data_dir)?;
        let checked = match accounts.check_password(name, password) {
            None => Err(AuthError::WrongPassword),
            Some(account) => self.check_otp(account, otp).map(|()| account),
        };
        match checked {
            Ok(account) => Ok(Caller {
                name: account.name.clone(),
                role: account.role,
            }),
            Err(refused) => {
                let mut failures = self.failures.lock().map_err(|_| AuthError::Invalid)?;
                failures.note(account_key, now_instant, window);
                failures.note(source_key, now_instant, window);
                Err(refused)
            }
        }
    }

    /// The second factor of an account that has one: a current code not used before.
    fn check_otp(
        &self,
        account: &super::accounts::Account,
        otp: Option<&str>,
    ) -> Result<(), AuthError> {
        let Some(sealed) = &account.totp_sealed else {
            return Ok(());
        };
        let code = otp
            .filter(|c| !c.trim().is_empty())
            .ok_or(AuthError::OtpRequired)?;
        let secret = super::totp::unseal(&self.data_dir, &account.name, sealed)
            .map_err(|e| AuthError::Accounts(e.into()))?;
        let step = secret
            .verify(code, super::accounts::now().max(0) as u64)
            .ok_or(AuthError::WrongOtp)?;
        let mut used = self.totp_steps.lock().map_err(|_| AuthError::Invalid)?;
        let last = used.entry(account.name.clone()).or_insert(0);
        if step <= *last {
            return Err(AuthError::WrongOtp);
        }
        *last = step;
        Ok(())
    }

    /// Ends the session `token` (API tokens are revoked with the CLI).
    pub fn logout(&self, token: &str) {
        if let Ok(mut sessions) = self.sessions.lock() {
            sessions.remove(&token_digest(token.trim()));
        }
    }
}

/// Refuses `caller` unless its role is at least `need`.
pub fn require(caller: &Caller, need: Role) -> Result<(), AuthError> {
    if caller.role >= need {
        Ok(())
    } else {
        Err(AuthError::Forbidden {
            name: caller.name.clone(),
            need,
            has: caller.role,
        })
    }
}
