//! A loopback emulator of IBM Cloud IAM and Key Protect, per `keyprotect-api.md` §13: token
//! endpoint, bearer and instance checks, wrap/unwrap/rewrap with the documented envelope,
//! key versions and rotation, key states, the error body shape, and fault injection.
//!
//! Tests drive customer actions (rotate, disable, …) through [`Emulator`]'s methods, which run
//! the same code as the HTTP routes, and move the emulator's clock for the timing rules.
#![allow(dead_code)]

mod http;

use std::collections::HashMap;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aes_gcm_siv::aead::{Aead, KeyInit, Payload};
use aes_gcm_siv::{Aes256GcmSiv, Nonce};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::{Value, json};

use http::{Request, Response};

pub const INSTANCE_ID: &str = "12e8c9c2-a162-472d-b7d6-8b9a86b815a6";
pub const ROOT_KEY_ID: &str = "02fd6835-6001-4482-a892-13bd2085f75d";
pub const STANDARD_KEY_ID: &str = "5b6e7f10-0000-4000-8000-00000000abcd";
pub const API_KEY: &str = "emulator-api-key-0123456789abcdefABCDEF";

const HOUR: Duration = Duration::from_secs(3600);

/// How the emulator fails connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outage {
    None,
    /// The listening socket is closed: connection refused.
    Refuse,
    /// The request is read, then nothing is answered until the outage ends.
    Hang,
    /// The request is read, then the connection is closed without an answer.
    Drop,
    /// Every answer is correct but sent only after this many milliseconds.
    SlowMillis(u64),
    /// Every answer is 200 OK with a body that is not valid JSON.
    MalformedJson,
    /// The connection is answered with bytes that are not TLS, then closed: an HTTPS client
    /// sees a TLS error (a proxy or load balancer speaking the wrong protocol).
    BadTls,
}

struct Version {
    id: String,
    key: [u8; 32],
    created: SystemTime,
}

struct Key {
    id: String,
    state: i64,
    extractable: bool,
    versions: Vec<Version>,
    created: SystemTime,
    last_action: Option<SystemTime>,
    last_rotate: Option<SystemTime>,
    deletion: Option<SystemTime>,
    expiration: Option<SystemTime>,
    purged: bool,
}

#[derive(Default, Debug, Clone)]
pub struct Counters {
    pub token_requests: u64,
    pub kp_requests: u64,
    pub unauthorized: u64,
    pub injected_failures: u64,
    pub dropped_or_hung: u64,
    /// Every (method, path, content-type, correlation-id) seen by the Key Protect routes.
    pub seen: Vec<(String, String, Option<String>, Option<String>)>,
}

struct State {
    clock_offset: Duration,
    token_lifetime: u64,
    tokens: HashMap<String, SystemTime>,
    keys: HashMap<String, Key>,
    outage: Outage,
    fail_next: Vec<u16>,
    counters: Counters,
}

struct Inner {
    state: Mutex<State>,
    stop: AtomicBool,
    tls: Option<Arc<rustls::ServerConfig>>,
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

pub struct Emulator {
    addr: SocketAddr,
    inner: Arc<Inner>,
    thread: Option<JoinHandle<()>>,
}

fn random<const N: usize>() -> [u8; N] {
    let mut b = [0u8; N];
    getrandom::fill(&mut b).expect("random");
    b
}

fn uuid() -> String {
    let mut b: [u8; 16] = random();
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex::encode(b);
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// RFC 3339 UTC, seconds precision (the format Key Protect uses).
fn rfc3339(t: SystemTime) -> String {
    let secs = t
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0) as i64;
    let (days, rem) = (secs.div_euclid(86400), secs.rem_euclid(86400));
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}

fn kp_error(status: u16, msg: &str, code: Option<&str>, reason: &str) -> Response {
    let mut resource = json!({ "errorMsg": msg });
    if let Some(code) = code {
        resource["reasons"] = json!([{
            "code": code,
            "message": reason,
            "status": status,
            "moreInfo": "https://cloud.ibm.com/apidocs/key-protect"
        }]);
    }
    Response::json(
        status,
        &json!({
            "metadata": {"collectionType": "application/vnd.ibm.kms.error+json", "collectionTotal": 1},
            "resources": [resource]
        }),
    )
}

fn invalid_state() -> Response {
    kp_error(
        409,
        "Conflict: Key is not in active state: Please see `reasons` for more details.",
        Some("KEY_ACTION_INVALID_STATE_ERR"),
        "Key is not in a valid state",
    )
}

fn gone() -> Response {
    kp_error(
        410,
        "Gone: The key has been deleted and is no longer available.Please provide a valid key when performing an 'unwrap' action",
        None,
        "",
    )
}

fn not_found() -> Response {
    kp_error(
        404,
        "Not Found: Key could not be retrieved: Please see 'reasons' for more details (KEY_NOT_FOUND_ERR)",
        Some("KEY_NOT_FOUND_ERR"),
        "key does not exist",
    )
}

fn too_early() -> Response {
    kp_error(
        409,
        "Conflict: Action could not be performed on key. Please see reasons for more details.",
        Some("REQ_TOO_EARLY_ERR"),
        "The key was updated recently: please wait and try again",
    )
}

fn bad_ciphertext(action: &str) -> Response {
    kp_error(
        400,
        &format!(
            "Bad Request: {action} with key could not be performed: Please see `reasons` for more details (INVALID_FIELD_ERR)"
        ),
        Some("INVALID_FIELD_ERR"),
        "The field `ciphertext` must be: the original base64 encoded ciphertext from the wrap operation",
    )
}

fn bad_body() -> Response {
    kp_error(
        400,
        "Bad Request: the body is not valid JSON",
        Some("BAD_BODY_ERR"),
        "Invalid body data",
    )
}

/// AAD as the cipher sees it: the strings, unambiguously joined.
fn aad_bytes(aad: &[String]) -> Vec<u8> {
    serde_json::to_vec(aad).expect("json")
}

fn parse_aad(body: &Value) -> Result<Vec<String>, Response> {
    match body.get("aad") {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| match v.as_str() {
                Some(s) if s.chars().count() <= 255 => Ok(s.to_string()),
                _ => Err(kp_error(
                    400,
                    "Bad Request: invalid aad",
                    Some("INVALID_FIELD_ERR"),
                    "The field `aad` must be: an array of strings of at most 255 characters",
                )),
            })
            .collect(),
        Some(_) => Err(bad_body()),
    }
}

impl Key {
    fn new(id: &str, extractable: bool, now: SystemTime) -> Key {
        Key {
            id: id.into(),
            state: 1,
            extractable,
            versions: vec![Version {
                id: uuid(),
                key: random(),
                created: now,
            }],
            created: now,
            last_action: None,
            last_rotate: None,
            deletion: None,
            expiration: None,
            purged: false,
        }
    }

    fn latest(&self) -> &Version {
        self.versions.last().expect("a key has a version")
    }

    fn refresh_expiry(&mut self, now: SystemTime) {
        if self.state == 1 && self.expiration.is_some_and(|e| now >= e) {
            self.state = 3;
        }
    }

    fn envelope(&self, plaintext: &[u8], aad: &[String]) -> String {
        let version = self.latest();
        let iv: [u8; 12] = random();
        let cipher = Aes256GcmSiv::new_from_slice(&version.key).expect("key");
        let aad = aad_bytes(aad);
        let ct = cipher
            .encrypt(
                &Nonce::from(iv),
                Payload {
                    msg: plaintext,
                    aad: &aad,
                },
            )
            .expect("encrypt");
        let envelope = json!({
            "ciphertext": B64.encode(ct),
            "iv": B64.encode(iv),
            "version": "4.0.0",
            "handle": version.id,
        });
        B64.encode(serde_json::to_vec(&envelope).expect("json"))
    }

    /// Opens an envelope: (plaintext, version index).
    fn open(&self, ciphertext: &str, aad: &[String]) -> Option<(Vec<u8>, usize)> {
        let envelope: Value = serde_json::from_slice(&B64.decode(ciphertext).ok()?).ok()?;
        let handle = envelope.get("handle")?.as_str()?;
        let index = self.versions.iter().position(|v| v.id == handle)?;
        let iv = B64.decode(envelope.get("iv")?.as_str()?).ok()?;
        let ct = B64.decode(envelope.get("ciphertext")?.as_str()?).ok()?;
        let nonce = Nonce::try_from(iv.as_slice()).ok()?;
        let cipher = Aes256GcmSiv::new_from_slice(&self.versions[index].key).ok()?;
        let aad = aad_bytes(aad);
        let pt = cipher
            .decrypt(
                &nonce,
                Payload {
                    msg: &ct,
                    aad: &aad,
                },
            )
            .ok()?;
        Some((pt, index))
    }

    fn version_json(&self, index: usize) -> Value {
        json!({"id": self.versions[index].id, "creationDate": rfc3339(self.versions[index].created)})
    }

    fn resource(&self) -> Value {
        let mut r = json!({
            "type": "application/vnd.ibm.kms.key+json",
            "id": self.id,
            "name": "keyward-crk",
            "state": self.state,
            "extractable": self.extractable,
            "crn": format!("crn:v1:bluemix:public:kms:us-south:a/0:{INSTANCE_ID}:key:{}", self.id),
            "imported": false,
            "creationDate": rfc3339(self.created),
            "createdBy": "emulator",
            "algorithmType": "AES",
            "algorithmMetadata": {"bitLength": "256", "mode": "CBC_PAD"},
            "lastUpdateDate": rfc3339(self.last_action.unwrap_or(self.created)),
            "keyVersion": self.version_json(self.versions.len() - 1),
            "dualAuthDelete": {"enabled": false},
            "deleted": self.state == 5,
        });
        if let Some(t) = self.last_rotate {
            r["lastRotateDate"] = json!(rfc3339(t));
        }
        if let Some(t) = self.expiration {
            r["expirationDate"] = json!(rfc3339(t));
        }
        if let Some(t) = self.deletion {
            r["deletionDate"] = json!(rfc3339(t));
            r["restoreExpirationDate"] = json!(rfc3339(t + 30 * 24 * HOUR));
        }
        r
    }

    fn collection(&self) -> Value {
        json!({
            "metadata": {"collectionType": "application/vnd.ibm.kms.key+json", "collectionTotal": 1},
            "resources": [self.resource()]
        })
    }
}

impl State {
    fn now(&self) -> SystemTime {
        SystemTime::now() + self.clock_offset
    }

    fn issue_token(&mut self) -> Value {
        let token = format!("emu-{}", hex::encode(random::<24>()));
        let expiry = self.now() + Duration::from_secs(self.token_lifetime);
        self.tokens.insert(token.clone(), expiry);
        json!({
            "access_token": token,
            "refresh_token": "not-usable-with-an-api-key-client",
            "token_type": "Bearer",
            "expires_in": self.token_lifetime,
            "expiration": expiry.duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0),
            "scope": "ibm openid",
        })
    }

    fn token_route(&mut self, req: &Request) -> Response {
        self.counters.token_requests += 1;
        let form = http::parse_form(std::str::from_utf8(&req.body).unwrap_or(""));
        let grant_ok = form.get("grant_type").map(String::as_str)
            == Some("urn:ibm:params:oauth:grant-type:apikey");
        if req.method != "POST"
            || !grant_ok
            || form.get("apikey").map(String::as_str) != Some(API_KEY)
        {
            return Response::json(
                400,
                &json!({
                    "errorCode": "BXNIM0415E",
                    "errorMessage": "Provided API key could not be found",
                    "context": {"requestId": uuid()}
                }),
            );
        }
        Response::json(200, &self.issue_token())
    }

    fn authorized(&mut self, req: &Request) -> bool {
        let now = self.now();
        let token_ok = req
            .header("authorization")
            .and_then(|h| h.strip_prefix("Bearer "))
            .and_then(|t| self.tokens.get(t))
            .is_some_and(|expiry| now < *expiry);
        token_ok && req.header("bluemix-instance") == Some(INSTANCE_ID)
    }

    fn kp_route(&mut self, req: &Request) -> Response {
        self.counters.kp_requests += 1;
        self.counters.seen.push((
            req.method.clone(),
            req.path.clone(),
            req.header("content-type").map(str::to_string),
            req.header("correlation-id").map(str::to_string),
        ));
        if !self.authorized(req) {
            self.counters.unauthorized += 1;
            return Response::json(
                401,
                &json!({
                    "metadata": {"collectionType": "application/vnd.ibm.kms.error+json", "collectionTotal": 1},
                    "resources": [{"errorMsg": "Unauthorized: The user does not have access to the specified resource"}]
                }),
            );
        }
        let rest = req.path.trim_start_matches("/api/v2/keys/");
        let segments: Vec<&str> = rest.split('/').collect();
        let id = segments[0].to_string();
        let body: Value = if req.body.is_empty() {
            json!({})
        } else {
            match serde_json::from_slice(&req.body) {
                Ok(v) => v,
                Err(_) => return bad_body(),
            }
        };
        let prefer_repr = req.header("prefer") == Some("return=representation");
        match (req.method.as_str(), &segments[1..]) {
            // Deleted keys stay readable (state 5) until purged.
            ("GET", []) | ("GET", ["metadata"]) => {
                self.with_key(&id, |k, _| Response::json(200, &k.collection()))
            }
            ("GET", ["versions"]) => self.with_key(&id, |k, _| {
                let list: Vec<Value> = (0..k.versions.len()).rev().map(|i| k.version_json(i)).collect();
                Response::json(200, &json!({
                    "metadata": {"collectionType": "application/vnd.ibm.kms.key.version+json", "collectionTotal": list.len()},
                    "resources": list
                }))
            }),
            ("POST", ["actions", action]) => self.action(&id, action, &body, prefer_repr),
            ("POST", []) => match req.query.get("action") {
                Some(action) => self.action(&id, &action.clone(), &body, prefer_repr),
                None => kp_error(400, "Bad Request: missing action", Some("BAD_BODY_ERR"), "no action"),
            },
            ("POST", ["restore"]) => self.action(&id, "restore", &body, prefer_repr),
            ("DELETE", []) => self.action(&id, "delete", &body, prefer_repr),
            ("DELETE", ["purge"]) => self.action(&id, "purge", &body, prefer_repr),
            _ => kp_error(404, "Not Found: no such route", Some("NOT_FOUND_ERR"), "route"),
        }
    }

    fn with_key(&mut self, id: &str, f: impl FnOnce(&mut Key, SystemTime) -> Response) -> Response {
        let now = self.now();
        match self.keys.get_mut(id) {
            Some(key) if !key.purged => {
                key.refresh_expiry(now);
                f(key, now)
            }
            _ => not_found(),
        }
    }

    fn action(&mut self, id: &str, action: &str, body: &Value, prefer_repr: bool) -> Response {
        let action = action.to_string();
        let body = body.clone();
        self.with_key(id, move |key, now| {
            let root_only = matches!(action.as_str(), "wrap" | "unwrap" | "rewrap" | "rotate" | "disable" | "enable" | "restore");
            if root_only && key.extractable {
                return kp_error(400, "Bad Request: This action can only be done on a root key", Some("KEY_ROOT_REQ_ERR"), "Requested action can only be completed with a root key");
            }
            match action.as_str() {
                "wrap" => {
                    match key.state {
                        1 => {}
                        5 => return gone(),
                        _ => return invalid_state(),
                    }
                    let aad = match parse_aad(&body) {
                        Ok(a) => a,
                        Err(r) => return r,
                    };
                    let (plaintext, generated) = match body.get("plaintext").and_then(Value::as_str) {
                        Some(p) => match B64.decode(p) {
                            Ok(bytes) => (bytes, false),
                            Err(_) => return kp_error(400, "Bad Request: Wrap with key could not be performed: Please see `reasons` for more details (INVALID_FIELD_ERR)", Some("INVALID_FIELD_ERR"), "The field `plaintext` must be: a base64 encoded key material"),
                        },
                        None => (random::<32>().to_vec(), true),
                    };
                    let mut answer = json!({
                        "ciphertext": key.envelope(&plaintext, &aad),
                        "keyVersion": {"id": key.latest().id},
                    });
                    if generated {
                        answer["plaintext"] = json!(B64.encode(&plaintext));
                    }
                    Response::json(200, &answer)
                }
                "unwrap" | "rewrap" => {
                    match key.state {
                        1 | 3 => {}
                        5 => return gone(),
                        _ => return invalid_state(),
                    }
                    let aad = match parse_aad(&body) {
                        Ok(a) => a,
                        Err(r) => return r,
                    };
                    let Some(ciphertext) = body.get("ciphertext").and_then(Value::as_str) else {
                        return bad_ciphertext(if action == "unwrap" { "Unwrap" } else { "Rewrap" });
                    };
                    let Some((plaintext, index)) = key.open(ciphertext, &aad) else {
                        return bad_ciphertext(if action == "unwrap" { "Unwrap" } else { "Rewrap" });
                    };
                    let latest = key.versions.len() - 1;
                    if action == "rewrap" {
                        return Response::json(200, &json!({
                            "ciphertext": key.envelope(&plaintext, &aad),
                            "keyVersion": key.version_json(index),
                            "rewrappedKeyVersion": key.version_json(latest),
                        }));
                    }
                    let mut answer = json!({
                        "plaintext": B64.encode(&plaintext),
                        "keyVersion": key.version_json(index),
                    });
                    if index != latest {
                        answer["ciphertext"] = json!(key.envelope(&plaintext, &aad));
                        answer["rewrappedKeyVersion"] = key.version_json(latest);
                    }
                    Response::json(200, &answer)
                }
                "rotate" => {
                    match key.state {
                        1 | 3 => {}
                        5 => return gone(),
                        _ => return invalid_state(),
                    }
                    if body.get("payload").is_some() {
                        return kp_error(400, "Bad Request: payload not allowed", Some("KEY_PAYLOAD_REQ_ERR"), "A payload is not allowed for keys created by Key Protect");
                    }
                    if key.last_rotate.is_some_and(|t| now < t + HOUR) {
                        return kp_error(409, "Conflict: Action could not be performed on key. Please see reasons for more details.", Some("KEY_ROTATION_NOT_PERMITTED"), "This root key has been rotated within the last hour. Only one 'rotate' action per hour is permitted");
                    }
                    key.versions.push(Version { id: uuid(), key: random(), created: now });
                    key.last_rotate = Some(now);
                    key.last_action = Some(now);
                    Response::empty(204)
                }
                "disable" => {
                    if key.state != 1 {
                        return invalid_state();
                    }
                    key.state = 2;
                    key.last_action = Some(now);
                    Response::empty(204)
                }
                "enable" => {
                    if key.state != 2 {
                        return invalid_state();
                    }
                    if key.last_action.is_some_and(|t| now < t + Duration::from_secs(30)) {
                        return too_early();
                    }
                    if key.expiration.is_some_and(|e| now >= e) {
                        return invalid_state();
                    }
                    key.state = 1;
                    key.last_action = Some(now);
                    Response::empty(204)
                }
                "delete" => {
                    if key.state == 5 {
                        return gone();
                    }
                    key.state = 5;
                    key.deletion = Some(now);
                    key.last_action = Some(now);
                    if prefer_repr {
                        Response::json(200, &key.collection())
                    } else {
                        Response::empty(204)
                    }
                }
                "restore" => {
                    if key.state != 5 {
                        return invalid_state();
                    }
                    let deleted = key.deletion.unwrap_or(now);
                    if now < deleted + Duration::from_secs(30) {
                        return too_early();
                    }
                    if now > deleted + 30 * 24 * HOUR || key.expiration.is_some_and(|e| now >= e) {
                        return invalid_state();
                    }
                    key.state = 1;
                    key.deletion = None;
                    key.last_action = Some(now);
                    Response::json(201, &key.collection())
                }
                "purge" => {
                    if key.state != 5 || key.deletion.is_some_and(|d| now < d + 4 * HOUR) {
                        return too_early();
                    }
                    key.purged = true;
                    Response::empty(204)
                }
                _ => kp_error(400, "Bad Request: unknown action", Some("BAD_BODY_ERR"), "unknown action"),
            }
        })
    }

    fn route(&mut self, req: &Request) -> Response {
        if let Some(status) = (!self.fail_next.is_empty()).then(|| self.fail_next.remove(0)) {
            self.counters.injected_failures += 1;
            return kp_error(status, "injected failure", None, "");
        }
        if req.path == "/identity/token" || req.path == "/oidc/token" {
            self.token_route(req)
        } else if req.path.starts_with("/api/v2/keys/") {
            self.kp_route(req)
        } else {
            kp_error(404, "Not Found", Some("NOT_FOUND_ERR"), "route")
        }
    }
}

fn serve_connection(inner: &Inner, mut stream: TcpStream) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    if inner.lock().outage == Outage::BadTls {
        inner.lock().counters.dropped_or_hung += 1;
        let _ = std::io::Write::write_all(&mut stream, b"HTTP/1.1 400 Bad Request\r\n\r\n");
        return;
    }
    let tls = inner.tls.clone();
    match tls {
        Some(config) => {
            let Ok(conn) = rustls::ServerConnection::new(config) else {
                return;
            };
            let mut tls_stream = rustls::StreamOwned::new(conn, stream);
            serve_stream(inner, &mut tls_stream);
        }
        None => {
            let mut plain = stream;
            serve_stream(inner, &mut plain);
        }
    }
}

fn serve_stream<S: std::io::Read + std::io::Write>(inner: &Inner, stream: &mut S) {
    let Some(req) = http::read_request(&mut *stream) else {
        return;
    };
    let outage = inner.lock().outage;
    match outage {
        Outage::Drop => {
            inner.lock().counters.dropped_or_hung += 1;
            return;
        }
        Outage::Hang => {
            inner.lock().counters.dropped_or_hung += 1;
            // Held until the outage ends, the emulator stops, or 30 s pass.
            for _ in 0..3000 {
                if inner.stop.load(Ordering::SeqCst) || inner.lock().outage != Outage::Hang {
                    break;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            return;
        }
        Outage::SlowMillis(ms) => std::thread::sleep(Duration::from_millis(ms)),
        Outage::MalformedJson => {
            let garbage = http::Response {
                status: 200,
                headers: vec![("content-type".into(), "application/json".into())],
                body: b"{\"metadata\": {\"collectionTotal\": 1}, \"resources\": [{\"id\": "
                    .to_vec(),
            };
            http::write_response(&mut *stream, &garbage);
            return;
        }
        Outage::None | Outage::Refuse | Outage::BadTls => {}
    }
    let mut response = inner.lock().route(&req);
    // Key Protect echoes the caller's correlation id.
    if let Some(cid) = req.header("correlation-id") {
        response
            .headers
            .push(("correlation-id".into(), cid.to_string()));
    }
    http::write_response(&mut *stream, &response);
}

fn accept_loop(inner: Arc<Inner>, addr: SocketAddr, first: TcpListener) {
    let mut listener = Some(first);
    while !inner.stop.load(Ordering::SeqCst) {
        let refusing = inner.lock().outage == Outage::Refuse;
        if refusing {
            listener = None;
        } else if listener.is_none() {
            listener = TcpListener::bind(addr).ok();
            if let Some(l) = &listener {
                l.set_nonblocking(true).expect("nonblocking");
            }
        }
        match listener.as_ref().map(|l| l.accept()) {
            Some(Ok((stream, _))) => {
                let _ = stream.set_nonblocking(false);
                let inner = Arc::clone(&inner);
                std::thread::spawn(move || serve_connection(&inner, stream));
            }
            _ => std::thread::sleep(Duration::from_millis(5)),
        }
    }
}

impl Emulator {
    /// Starts on 127.0.0.1 with one root key ([`ROOT_KEY_ID`]) and one standard key.
    pub fn start() -> Emulator {
        Emulator::start_with(None)
    }

    /// Like [`Emulator::start`], over HTTPS with a fresh self-signed certificate for
    /// 127.0.0.1; returns the certificate (PEM) for the client's `ca_file`.
    pub fn start_tls() -> (Emulator, String) {
        let certified =
            rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string()]).expect("certificate");
        let key =
            rustls::pki_types::PrivateKeyDer::Pkcs8(certified.signing_key.serialize_der().into());
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::aws_lc_rs::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_no_client_auth()
        .with_single_cert(vec![certified.cert.der().clone()], key)
        .expect("server config");
        let emulator = Emulator::start_with(Some(Arc::new(config)));
        (emulator, certified.cert.pem())
    }

    fn start_with(tls: Option<Arc<rustls::ServerConfig>>) -> Emulator {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.set_nonblocking(true).expect("nonblocking");
        let addr = listener.local_addr().expect("addr");
        let now = SystemTime::now();
        let mut keys = HashMap::new();
        keys.insert(ROOT_KEY_ID.to_string(), Key::new(ROOT_KEY_ID, false, now));
        keys.insert(
            STANDARD_KEY_ID.to_string(),
            Key::new(STANDARD_KEY_ID, true, now),
        );
        let inner = Arc::new(Inner {
            state: Mutex::new(State {
                clock_offset: Duration::ZERO,
                token_lifetime: 3600,
                tokens: HashMap::new(),
                keys,
                outage: Outage::None,
                fail_next: Vec::new(),
                counters: Counters::default(),
            }),
            stop: AtomicBool::new(false),
            tls,
        });
        let thread = {
            let inner = Arc::clone(&inner);
            std::thread::spawn(move || accept_loop(inner, addr, listener))
        };
        Emulator {
            addr,
            inner,
            thread: Some(thread),
        }
    }

    fn scheme(&self) -> &'static str {
        if self.inner.tls.is_some() {
            "https"
        } else {
            "http"
        }
    }

    pub fn base_url(&self) -> String {
        format!("{}://{}", self.scheme(), self.addr)
    }

    pub fn iam_url(&self) -> String {
        format!("{}://{}/identity/token", self.scheme(), self.addr)
    }

    /// The legacy IAM path KP-GO uses.
    pub fn oidc_url(&self) -> String {
        format!("{}://{}/oidc/token", self.scheme(), self.addr)
    }

    fn customer_action(&self, action: &str, key_id: &str) -> Result<(), String> {
        let mut state = self.inner.lock();
        let response = state.action(key_id, action, &json!({}), false);
        if (200..300).contains(&response.status) {
            Ok(())
        } else {
            Err(format!(
                "{} {}",
                response.status,
                String::from_utf8_lossy(&response.body)
            ))
        }
    }

    pub fn rotate(&self) -> Result<(), String> {
        self.customer_action("rotate", ROOT_KEY_ID)
    }
    pub fn disable(&self) -> Result<(), String> {
        self.customer_action("disable", ROOT_KEY_ID)
    }
    pub fn enable(&self) -> Result<(), String> {
        self.customer_action("enable", ROOT_KEY_ID)
    }
    pub fn delete(&self) -> Result<(), String> {
        self.customer_action("delete", ROOT_KEY_ID)
    }
    pub fn restore(&self) -> Result<(), String> {
        self.customer_action("restore", ROOT_KEY_ID)
    }
    pub fn purge(&self) -> Result<(), String> {
        self.customer_action("purge", ROOT_KEY_ID)
    }

    /// Moves the emulator's clock (token expiry, rotation and 30 s rules, key expiry).
    pub fn advance_clock(&self, by: Duration) {
        self.inner.lock().clock_offset += by;
    }

    /// Lifetime (`expires_in`) of tokens issued from now on.
    pub fn set_token_lifetime(&self, secs: u64) {
        self.inner.lock().token_lifetime = secs;
    }

    /// Expires the root key `after` from the emulator's now.
    pub fn set_expiration(&self, after: Duration) {
        let mut state = self.inner.lock();
        let at = state.now() + after;
        if let Some(key) = state.keys.get_mut(ROOT_KEY_ID) {
            key.expiration = Some(at);
        }
    }

    pub fn set_outage(&self, outage: Outage) {
        self.inner.lock().outage = outage;
    }

    /// The next `count` requests (IAM or Key Protect) are answered with `status`.
    pub fn fail_next(&self, count: usize, status: u16) {
        self.inner
            .lock()
            .fail_next
            .extend(std::iter::repeat_n(status, count));
    }

    pub fn counters(&self) -> Counters {
        self.inner.lock().counters.clone()
    }

    pub fn root_key_state(&self) -> i64 {
        self.inner.lock().keys[ROOT_KEY_ID].state
    }

    pub fn latest_version(&self) -> String {
        self.inner.lock().keys[ROOT_KEY_ID].latest().id.clone()
    }

    pub fn version_count(&self) -> usize {
        self.inner.lock().keys[ROOT_KEY_ID].versions.len()
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        self.inner.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
