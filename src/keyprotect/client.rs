//! The Key Protect REST client: IAM token exchange and the wrap / unwrap / rewrap / metadata
//! calls on one root key, with bounded retries.
//!
//! Every request carries `authorization: Bearer …`, `bluemix-instance` and a fresh
//! `correlation-id`. Network errors, 429 and 5xx (not 501) are retried with exponential backoff
//! and jitter, up to `max_attempts` per call; a 401 renews the token and repeats the call once.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use ureq::Agent;
use ureq::tls::{PemItem, RootCerts, TlsConfig, TlsProvider};
use zeroize::Zeroizing;

use super::api_key::ApiKey;
use super::config::KeyProtectConfig;
use super::error::{self, KpError, is_retryable_status};
use super::wire;

/// Content type of Key Protect action bodies (the form the KP docs use for every action).
const KEY_ACTION_CONTENT_TYPE: &str = "application/vnd.ibm.kms.key_action+json";
/// Bound on any answer body: Key Protect's are a few hundred bytes.
const MAX_BODY: u64 = 256 * 1024;
/// CA bundle used when `ca_file` is not configured.
const SYSTEM_CA_BUNDLE: &str = "/etc/ssl/certs/ca-certificates.crt";
/// Token lifetime assumed when IAM omits `expires_in` (IAM documents one hour).
const DEFAULT_TOKEN_LIFETIME: u64 = 3600;

/// A master key as wrapped by the root key: the opaque envelope (stored verbatim, never
/// parsed) and the root key version that made it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wrapped {
    pub ciphertext: String,
    pub key_version: String,
}

/// The answer of an unwrap.
pub struct Unwrapped {
    pub plaintext: Zeroizing<Vec<u8>>,
    /// The root key version that made the ciphertext that was unwrapped.
    pub key_version: String,
    /// A fresh wrap under the newest root key version, present when the root key was rotated
    /// since the unwrapped ciphertext was made. Store it (atomically) in place of the old one.
    pub rewrapped: Option<Wrapped>,
}

impl std::fmt::Debug for Unwrapped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Unwrapped")
            .field("plaintext", &"<redacted>")
            .field("key_version", &self.key_version)
            .field("rewrapped", &self.rewrapped)
            .finish()
    }
}

/// Key Protect key states (KP docs, key-states).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyState {
    PreActivation,
    Active,
    Suspended,
    Deactivated,
    Destroyed,
    Other(i64),
}

impl KeyState {
    pub fn from_code(code: i64) -> KeyState {
        match code {
            0 => KeyState::PreActivation,
            1 => KeyState::Active,
            2 => KeyState::Suspended,
            3 => KeyState::Deactivated,
            5 => KeyState::Destroyed,
            other => KeyState::Other(other),
        }
    }
}

/// What the appliance reads from the root key's metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyMetadata {
    pub state: KeyState,
    /// Latest key version; a change means the root key was rotated.
    pub key_version: Option<String>,
    /// `false` for root keys; `true` (a standard key) cannot wrap.
    pub extractable: Option<bool>,
    pub expiration_date: Option<String>,
    pub deleted: Option<bool>,
}

/// How a call retries transient failures.
#[derive(Debug, Clone, Copy)]
struct RetryPolicy {
    max_attempts: u32,
    backoff: Duration,
    backoff_max: Duration,
}

impl RetryPolicy {
    /// Full-range jitter over the upper half of the exponential delay, so synchronized clients
    /// spread out but never retry faster than half the nominal delay.
    fn delay(&self, attempt: u32, retry_after: Option<Duration>) -> Duration {
        let exponent = attempt.saturating_sub(1).min(16);
        let nominal = self
            .backoff
            .saturating_mul(1u32 << exponent)
            .min(self.backoff_max);
        let half = nominal / 2;
        let jitter = half.mul_f64(random_unit());
        let delay = half + jitter;
        match retry_after {
            Some(server) => delay.max(server).min(self.backoff_max),
            None => delay,
        }
    }
}

fn random_unit() -> f64 {
    let mut bytes = [0u8; 4];
    // Jitter only; a failed RNG read just means no jitter.
    if getrandom::fill(&mut bytes).is_err() {
        return 0.5;
    }
    f64::from(u32::from_le_bytes(bytes)) / f64::from(u32::MAX)
}

/// A random UUIDv4, used as `correlation-id`.
fn new_correlation_id() -> String {
    let mut b = [0u8; 16];
    if getrandom::fill(&mut b).is_err() {
        // Correlation only; uniqueness within the process is still useful.
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        b = nanos.to_le_bytes();
    }
    crate::uuid::format_v4(b)
}

struct CachedToken {
    authorization: Arc<Zeroizing<String>>,
    renew_at: Instant,
}

/// One HTTP answer, body held in zeroizing memory (it may carry key material).
struct Answer {
    status: u16,
    body: Zeroizing<Vec<u8>>,
    correlation_id: String,
    retry_after: Option<Duration>,
}

/// Why one attempt did not produce a final answer.
enum AttemptFailure {
    Transient {
        service: &'static str,
        reason: String,
        retry_after: Option<Duration>,
    },
    Fatal(KpError),
}

/// A client bound to one Key Protect instance and one root key.
pub struct KpClient {
    agent: Agent,
    kp_base: String,
    iam_url: String,
    instance_id: String,
    root_key_id: String,
    key_ring: Option<String>,
    api_key: ApiKey,
    retry: RetryPolicy,
    token: Mutex<Option<CachedToken>>,
}

impl std::fmt::Debug for KpClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KpClient")
            .field("kp_base", &self.kp_base)
            .field("iam_url", &self.iam_url)
            .field("instance_id", &self.instance_id)
            .field("root_key_id", &self.root_key_id)
            .finish_non_exhaustive()
    }
}

fn host_is_loopback(url: &str) -> bool {
    let rest = url.split_once("://").map(|(_, r)| r).unwrap_or("");
    let authority = rest.split('/').next().unwrap_or("");
    let host = if let Some(stripped) = authority.strip_prefix('[') {
        stripped.split(']').next().unwrap_or("")
    } else {
        authority.split(':').next().unwrap_or("")
    };
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .map(|ip| ip.is_loopback())
            .unwrap_or(false)
}

/// `https://…` anywhere; `http://…` only on loopback (an emulator), since the bearer token
/// and key material travel in these requests.
fn check_url(name: &str, url: &str) -> Result<bool, KpError> {
    if url.starts_with("https://") {
        return Ok(true);
    }
    if url.starts_with("http://") && host_is_loopback(url) {
        return Ok(false);
    }
    Err(KpError::Config(format!(
        "{name} \"{url}\" must be an https:// URL (plain http only on a loopback address)"
    )))
}

fn load_roots(config: &KeyProtectConfig, need_tls: bool) -> Result<RootCerts, KpError> {
    let path = match (&config.ca_file, need_tls) {
        (Some(path), _) => path.clone(),
        (None, true) => std::path::PathBuf::from(SYSTEM_CA_BUNDLE),
        // No https endpoint: no roots needed, and an empty set can never trust anything.
        (None, false) => return Ok(RootCerts::new_with_certs(&[])),
    };
    let pem = std::fs::read(&path).map_err(|e| {
        KpError::Config(format!(
            "CA bundle {}: {e} (set ca_file in [keyprotect])",
            path.display()
        ))
    })?;
    let mut certs = Vec::new();
    for item in ureq::tls::parse_pem(&pem) {
        match item {
            Ok(PemItem::Certificate(cert)) => certs.push(cert),
            Ok(_) => {}
            Err(e) => {
                return Err(KpError::Config(format!(
                    "CA bundle {}: {e}",
                    path.display()
                )));
            }
        }
    }
    if certs.is_empty() {
        return Err(KpError::Config(format!(
            "CA bundle {} holds no certificate",
            path.display()
        )));
    }
    Ok(RootCerts::new_with_certs(&certs))
}

fn percent_encode_form(value: &str, out: &mut String) {
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
}

impl KpClient {
    /// Builds the client; no network traffic until the first call.
    pub fn new(config: &KeyProtectConfig, api_key: ApiKey) -> Result<KpClient, KpError> {
        config.validate()?;
        let kp_base = config.kp_base_url();
        let iam_url = config.iam_token_url();
        let kp_tls = check_url("endpoint", &kp_base)?;
        let iam_tls = check_url("iam_endpoint", &iam_url)?;
        let roots = load_roots(config, kp_tls || iam_tls)?;
        let tls = TlsConfig::builder()
            .provider(TlsProvider::Rustls)
            .unversioned_rustls_crypto_provider(Arc::new(
                rustls::crypto::aws_lc_rs::default_provider(),
            ))
            .root_certs(roots)
            .build();
        // Never the environment's proxy: only what the configuration names.
        let proxy = match &config.proxy {
            Some(url) => Some(
                ureq::Proxy::new(url)
                    .map_err(|_| KpError::Config("proxy is not a valid proxy URL".into()))?,
            ),
            None => None,
        };
        let agent = Agent::config_builder()
            .http_status_as_error(false)
            .https_only(kp_tls && iam_tls)
            .proxy(proxy)
            // A redirect would carry the bearer token somewhere unconfigured.
            .max_redirects(0)
            .timeout_global(Some(config.request_timeout))
            .tls_config(tls)
            .user_agent(format!("keyward/{}", env!("CARGO_PKG_VERSION")))
            .build()
            .new_agent();
        Ok(KpClient {
            agent,
            kp_base,
            iam_url,
            instance_id: config.instance_id.clone(),
            root_key_id: config.root_key_id.clone(),
            key_ring: config.key_ring.clone(),
            api_key,
            retry: RetryPolicy {
                max_attempts: config.max_attempts,
                backoff: config.retry_backoff,
                backoff_max: config.retry_backoff_max,
            },
            token: Mutex::new(None),
        })
    }

    /// The root key this client acts on.
    pub fn root_key_id(&self) -> &str {
        &self.root_key_id
    }

    /// Wraps `plaintext` under the newest root key version, bound to `aad`.
    pub fn wrap(&self, plaintext: &[u8], aad: &[String]) -> Result<Wrapped, KpError> {
        let mut body = Zeroizing::new(String::with_capacity(plaintext.len() * 2 + 64));
        body.push_str("{\"plaintext\":\"");
        BASE64.encode_string(plaintext, &mut body);
        body.push_str("\",\"aad\":");
        body.push_str(&aad_json(aad)?);
        body.push('}');
        let answer = self.action("wrap", body.as_bytes())?;
        let parsed: wire::WrapResponse = parse(&answer)?;
        Ok(Wrapped {
            ciphertext: parsed.ciphertext.clone(),
            key_version: version_id(&parsed.key_version, "keyVersion")?,
        })
    }

    /// Unwraps a ciphertext made by [`KpClient::wrap`] with the same `aad`.
    pub fn unwrap(&self, ciphertext: &str, aad: &[String]) -> Result<Unwrapped, KpError> {
        let answer = self.action("unwrap", &ciphertext_body(ciphertext, aad)?)?;
        let parsed: wire::UnwrapResponse = parse(&answer)?;
        let mut plaintext = Zeroizing::new(Vec::with_capacity(parsed.plaintext.len()));
        BASE64
            .decode_vec(parsed.plaintext.as_bytes(), &mut plaintext)
            .map_err(|_| KpError::bad_response("Key Protect", "unwrap plaintext is not base64"))?;
        let rewrapped = match &parsed.ciphertext {
            Some(ciphertext) => Some(Wrapped {
                ciphertext: ciphertext.clone(),
                key_version: version_id(&parsed.rewrapped_key_version, "rewrappedKeyVersion")?,
            }),
            None => None,
        };
        Ok(Unwrapped {
            plaintext,
            key_version: version_id(&parsed.key_version, "keyVersion")?,
            rewrapped,
        })
    }

    /// Rewraps a ciphertext under the newest root key version without exposing the plaintext.
    pub fn rewrap(&self, ciphertext: &str, aad: &[String]) -> Result<Wrapped, KpError> {
        let answer = self.action("rewrap", &ciphertext_body(ciphertext, aad)?)?;
        let parsed: wire::RewrapResponse = parse(&answer)?;
        let version = match &parsed.rewrapped_key_version {
            Some(v) => v.id.clone(),
            None => version_id(&parsed.key_version, "rewrappedKeyVersion")?,
        };
        Ok(Wrapped {
            ciphertext: parsed.ciphertext,
            key_version: version,
        })
    }

    /// The root key's state and newest version.
    pub fn metadata(&self) -> Result<KeyMetadata, KpError> {
        let url = format!("{}/api/v2/keys/{}/metadata", self.kp_base, self.root_key_id);
        let answer = self.call(&url, None)?;
        let parsed: wire::MetadataResponse = parse(&answer)?;
        let resource = parsed.resources.into_iter().next().ok_or_else(|| {
            KpError::bad_response("Key Protect", "metadata answer has no resources")
        })?;
        Ok(KeyMetadata {
            state: KeyState::from_code(resource.state),
            key_version: resource.key_version.map(|v| v.id),
            extractable: resource.extractable,
            expiration_date: resource.expiration_date,
            deleted: resource.deleted,
        })
    }

    /// Forgets the cached IAM token, so the next call exchanges the API key again.
    pub fn invalidate_token(&self) {
        *self.lock_token() = None;
    }

    fn action(&self, action: &str, body: &[u8]) -> Result<Answer, KpError> {
        let url = format!(
            "{}/api/v2/keys/{}/actions/{action}",
            self.kp_base, self.root_key_id
        );
        self.call(&url, Some(body))
    }

    fn lock_token(&self) -> MutexGuard<'_, Option<CachedToken>> {
        // The guarded value is a cache; a panic elsewhere cannot leave it inconsistent.
        self.token.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// One Key Protect call with retries; returns the final answer, 2xx or mapped error.
    fn call(&self, url: &str, body: Option<&[u8]>) -> Result<Answer, KpError> {
        let mut renewed_after_401 = false;
        let mut attempt = 0;
        let mut last = ("Key Protect", String::new());
        while attempt < self.retry.max_attempts {
            attempt += 1;
            let failure = match self.attempt(url, body) {
                Ok(answer) if answer.status == 401 && !renewed_after_401 => {
                    // The token may have expired early or been revoked: one fresh exchange
                    // and one repeat, which does not count as a retry.
                    log::info!(
                        "Key Protect answered 401 (correlation-id {}); renewing the IAM token",
                        answer.correlation_id
                    );
                    self.invalidate_token();
                    renewed_after_401 = true;
                    attempt -= 1;
                    continue;
                }
                Ok(answer) if is_retryable_status(answer.status) => AttemptFailure::Transient {
                    service: "Key Protect",
                    reason: format!(
                        "HTTP {} [correlation-id {}]",
                        answer.status, answer.correlation_id
                    ),
                    retry_after: answer.retry_after,
                },
                Ok(answer) if (200..300).contains(&answer.status) => return Ok(answer),
                Ok(answer) => {
                    return Err(error::from_kp_status(
                        answer.status,
                        &answer.body,
                        &answer.correlation_id,
                    ));
                }
                Err(failure) => failure,
            };
            match failure {
                AttemptFailure::Fatal(err) => return Err(err),
                AttemptFailure::Transient {
                    service,
                    reason,
                    retry_after,
                } => {
                    log::warn!(
                        "{service} attempt {attempt}/{} failed: {reason}",
                        self.retry.max_attempts
                    );
                    last = (service, reason);
                    if attempt < self.retry.max_attempts {
                        std::thread::sleep(self.retry.delay(attempt, retry_after));
                    }
                }
            }
        }
        Err(KpError::Unreachable {
            service: last.0,
            attempts: attempt,
            last_error: last.1,
        })
    }

    fn attempt(&self, url: &str, body: Option<&[u8]>) -> Result<Answer, AttemptFailure> {
        let authorization = self.authorization()?;
        let correlation_id = new_correlation_id();
        let mut headers: Vec<(&str, &str)> = vec![
            ("authorization", authorization.as_str()),
            ("bluemix-instance", &self.instance_id),
            ("correlation-id", &correlation_id),
            ("accept", "application/json"),
        ];
        if let Some(ring) = &self.key_ring {
            headers.push(("x-kms-key-ring", ring));
        }
        self.send(
            "Key Protect",
            url,
            &headers,
            body,
            KEY_ACTION_CONTENT_TYPE,
            &correlation_id,
        )
    }

    /// A valid `authorization` header value, exchanging the API key when the cached token is
    /// missing or past 80 % of its lifetime.
    fn authorization(&self) -> Result<Arc<Zeroizing<String>>, AttemptFailure> {
        let mut cached = self.lock_token();
        if let Some(token) = cached.as_ref()
            && Instant::now() < token.renew_at
        {
            return Ok(Arc::clone(&token.authorization));
        }
        let issued = Instant::now();
        let mut form = Zeroizing::new(String::with_capacity(128));
        form.push_str("grant_type=urn%3Aibm%3Aparams%3Aoauth%3Agrant-type%3Aapikey&apikey=");
        percent_encode_form(self.api_key.expose(), &mut form);
        let correlation_id = new_correlation_id();
        let headers = [
            ("accept", "application/json"),
            ("correlation-id", correlation_id.as_str()),
        ];
        let answer = self.send(
            "IAM",
            &self.iam_url,
            &headers,
            Some(form.as_bytes()),
            "application/x-www-form-urlencoded",
            &correlation_id,
        )?;
        if is_retryable_status(answer.status) {
            return Err(AttemptFailure::Transient {
                service: "IAM",
                reason: format!("HTTP {}", answer.status),
                retry_after: answer.retry_after,
            });
        }
        if !(200..300).contains(&answer.status) {
            return Err(AttemptFailure::Fatal(error::from_iam_status(
                answer.status,
                &answer.body,
                &answer.correlation_id,
            )));
        }
        let token: wire::TokenResponse = serde_json::from_slice(&answer.body).map_err(|e| {
            AttemptFailure::Fatal(KpError::bad_response(
                "IAM",
                format!("token answer: {}", e.classify_name()),
            ))
        })?;
        if token.access_token.is_empty() {
            return Err(AttemptFailure::Fatal(KpError::bad_response(
                "IAM",
                "empty access_token",
            )));
        }
        let lifetime = token.expires_in.unwrap_or(DEFAULT_TOKEN_LIFETIME).max(1);
        let mut authorization = Zeroizing::new(String::with_capacity(token.access_token.len() + 8));
        authorization.push_str(token.token_type.as_deref().unwrap_or("Bearer"));
        authorization.push(' ');
        authorization.push_str(&token.access_token);
        let authorization = Arc::new(authorization);
        *cached = Some(CachedToken {
            authorization: Arc::clone(&authorization),
            renew_at: issued + Duration::from_millis(lifetime * 800),
        });
        log::debug!("obtained an IAM token valid for {lifetime} s");
        Ok(authorization)
    }

    /// One HTTP exchange; any status is an `Ok` answer.
    fn send(
        &self,
        service: &'static str,
        url: &str,
        headers: &[(&str, &str)],
        body: Option<&[u8]>,
        content_type: &str,
        correlation_id: &str,
    ) -> Result<Answer, AttemptFailure> {
        let result = match body {
            Some(bytes) => {
                let mut request = self.agent.post(url).header("content-type", content_type);
                for (name, value) in headers {
                    request = request.header(*name, *value);
                }
                request.send(bytes)
            }
            None => {
                let mut request = self.agent.get(url);
                for (name, value) in headers {
                    request = request.header(*name, *value);
                }
                request.call()
            }
        };
        let mut response =
            result.map_err(|e| transport_failure(service, url, e, correlation_id))?;
        let status = response.status().as_u16();
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let echoed = header("correlation-id").unwrap_or_else(|| correlation_id.to_string());
        let retry_after = header("retry-after")
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let body = response
            .body_mut()
            .with_config()
            .limit(MAX_BODY)
            .read_to_vec()
            .map(Zeroizing::new)
            .map_err(|e| AttemptFailure::Transient {
                service,
                reason: format!("reading the answer: {e} [correlation-id {echoed}]"),
                retry_after: None,
            })?;
        Ok(Answer {
            status,
            body,
            correlation_id: echoed,
            retry_after,
        })
    }
}

/// Network trouble is worth another attempt; an untrusted certificate or an unusable URL or
/// proxy is not (it needs the operator, or it is an attack).
fn transport_failure(
    service: &'static str,
    url: &str,
    err: ureq::Error,
    correlation_id: &str,
) -> AttemptFailure {
    // rustls reports handshake failures through the socket's I/O error.
    let tls_inside_io = matches!(&err, ureq::Error::Io(io)
        if io.get_ref().is_some_and(|inner| inner.is::<rustls::Error>()));
    match err {
        _ if tls_inside_io => AttemptFailure::Fatal(KpError::Tls {
            service,
            message: format!("{url}: {err}"),
        }),
        ureq::Error::Rustls(_) | ureq::Error::Tls(_) | ureq::Error::Pem(_) => {
            AttemptFailure::Fatal(KpError::Tls {
                service,
                message: format!("{url}: {err}"),
            })
        }
        ureq::Error::BadUri(_) | ureq::Error::InvalidProxyUrl => {
            AttemptFailure::Fatal(KpError::Config(format!("{service} URL {url}: {err}")))
        }
        other => AttemptFailure::Transient {
            service,
            reason: format!("{other} [correlation-id {correlation_id}]"),
            retry_after: None,
        },
    }
}

fn aad_json(aad: &[String]) -> Result<String, KpError> {
    serde_json::to_string(aad).map_err(|e| KpError::Config(format!("associated data: {e}")))
}

fn ciphertext_body(ciphertext: &str, aad: &[String]) -> Result<Vec<u8>, KpError> {
    #[derive(serde::Serialize)]
    struct Body<'a> {
        ciphertext: &'a str,
        aad: &'a [String],
    }
    serde_json::to_vec(&Body { ciphertext, aad })
        .map_err(|e| KpError::Config(format!("request body: {e}")))
}

fn parse<T: serde::de::DeserializeOwned>(answer: &Answer) -> Result<T, KpError> {
    // serde_json's message may quote input; only its category is kept (the body can hold
    // key material).
    serde_json::from_slice(&answer.body).map_err(|e| {
        KpError::bad_response(
            "Key Protect",
            format!(
                "HTTP {} body is not the documented JSON ({:?} error) [correlation-id {}]",
                answer.status,
                e.classify(),
                answer.correlation_id
            ),
        )
    })
}

fn version_id(version: &Option<wire::VersionRef>, field: &str) -> Result<String, KpError> {
    version
        .as_ref()
        .map(|v| v.id.clone())
        .ok_or_else(|| KpError::bad_response("Key Protect", format!("answer lacks {field}.id")))
}

trait ClassifyName {
    fn classify_name(&self) -> String;
}

impl ClassifyName for serde_json::Error {
    fn classify_name(&self) -> String {
        format!("{:?} error", self.classify())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn correlation_ids_are_fresh_uuids() {
        let a = new_correlation_id();
        let b = new_correlation_id();
        assert_ne!(a, b);
        assert_eq!(a.len(), 36);
        assert_eq!(&a[14..15], "4");
    }

    #[test]
    fn backoff_grows_is_capped_and_honours_retry_after() {
        let policy = RetryPolicy {
            max_attempts: 5,
            backoff: Duration::from_millis(100),
            backoff_max: Duration::from_secs(1),
        };
        for attempt in 1..6 {
            let nominal =
                (Duration::from_millis(100) * (1 << (attempt - 1))).min(Duration::from_secs(1));
            let d = policy.delay(attempt, None);
            assert!(d >= nominal / 2 && d <= nominal, "{attempt}: {d:?}");
        }
        assert_eq!(
            policy.delay(1, Some(Duration::from_secs(10))),
            Duration::from_secs(1)
        );
        assert!(policy.delay(1, Some(Duration::from_millis(700))) >= Duration::from_millis(700));
    }

    #[test]
    fn plain_http_only_on_loopback() {
        assert_eq!(check_url("e", "http://127.0.0.1:8080/x").ok(), Some(false));
        assert_eq!(check_url("e", "http://[::1]:8080").ok(), Some(false));
        assert_eq!(check_url("e", "http://localhost/").ok(), Some(false));
        assert!(check_url("e", "http://10.0.0.1/").is_err());
        assert!(check_url("e", "http://127.0.0.1.evil.example/").is_err());
        assert_eq!(
            check_url("e", "https://eu-de.kms.cloud.ibm.com").ok(),
            Some(true)
        );
    }

    #[test]
    fn form_encoding() {
        let mut out = String::new();
        percent_encode_form("a b+c/=", &mut out);
        assert_eq!(out, "a%20b%2Bc%2F%3D");
    }
}
