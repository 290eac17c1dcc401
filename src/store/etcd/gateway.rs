//! A small client for etcd v3's JSON gateway (`/v3/...`, bytes as base64, int64 as strings)
//! over ureq. Mutual TLS when the endpoints are https; plain http only on loopback (tests).
//!
//! Membership changes (`/v3/cluster/member/add|promote|remove`) serve `keyward cluster join`
//! and `remove-member`.
//!
//! Failover: [`Gateway::call`] tries the endpoints in order starting from the one that last
//! answered, and moves on when a member is unreachable or answers that it cannot serve (no
//! leader, timed out). Calls pinned to one member ([`Gateway::call_at`]) never move: a
//! snapshot read at a revision must come from the member that vouched for that revision.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize};
use ureq::Agent;
use ureq::tls::{Certificate, ClientCert, PemItem, PrivateKey, RootCerts, TlsConfig, TlsProvider};

use super::config::ClusterConfig;

/// Largest gateway answer read (a range over many objects is the big one).
const MAX_BODY: u64 = 256 << 20;

/// Largest streamed answer read (a watch held for seconds on one key: a few messages).
const STREAM_BODY: u64 = 16 << 20;

/// Idle connections kept per etcd member: more than the threads that may call it at once
/// (2 readers, 4 committer workers, the service threads).
const IDLE_PER_MEMBER: usize = 12;

#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    /// No member could be reached or none could serve (no quorum): the cluster is degraded.
    #[error("etcd unavailable: {0}")]
    Unavailable(String),
    /// etcd understood and refused the request (too many operations, compacted revision, …).
    #[error("etcd refused the request: {0}")]
    Refused(String),
    #[error("etcd gateway answer not understood: {0}")]
    Protocol(String),
    #[error("etcd client configuration: {0}")]
    Config(String),
}

pub struct Gateway {
    agent: Agent,
    endpoints: Vec<String>,
    preferred: AtomicUsize,
}

fn is_loopback_http(url: &str) -> bool {
    let Some(rest) = url.strip_prefix("http://") else {
        return false;
    };
    let host_port = rest.split('/').next().unwrap_or("");
    let host = match host_port.rsplit_once(':') {
        Some((host, _)) => host,
        None => host_port,
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .map(|ip| ip.is_loopback())
            .unwrap_or(false)
}

type Pem = (Vec<Certificate<'static>>, Option<PrivateKey<'static>>);

/// The certificates and the first private key in a PEM file.
fn read_pem(path: &std::path::Path) -> Result<Pem, GatewayError> {
    let pem = std::fs::read(path)
        .map_err(|e| GatewayError::Config(format!("reading {}: {e}", path.display())))?;
    let mut certs = Vec::new();
    let mut key = None;
    for item in ureq::tls::parse_pem(&pem) {
        match item.map_err(|e| GatewayError::Config(format!("{}: {e}", path.display())))? {
            PemItem::Certificate(c) => certs.push(c.to_owned()),
            PemItem::PrivateKey(k) if key.is_none() => key = Some(k.to_owned()),
            _ => {}
        }
    }
    Ok((certs, key))
}

impl Gateway {
    pub fn new(config: &ClusterConfig) -> Result<Gateway, GatewayError> {
        if config.endpoints.is_empty() {
            return Err(GatewayError::Config(
                "[cluster] endpoints lists no etcd member".into(),
            ));
        }
        let mut need_tls = false;
        for url in &config.endpoints {
            if url.starts_with("https://") {
                need_tls = true;
            } else if !is_loopback_http(url) {
                return Err(GatewayError::Config(format!(
                    "etcd endpoint \"{url}\" must be https:// (plain http only on loopback)"
                )));
            }
        }
        let mut tls = TlsConfig::builder()
            .provider(TlsProvider::Rustls)
            .unversioned_rustls_crypto_provider(Arc::new(
                rustls::crypto::aws_lc_rs::default_provider(),
            ));
        if need_tls {
            let ca = config.ca_file.as_ref().ok_or_else(|| {
                GatewayError::Config("https etcd endpoints need [cluster] ca_file".into())
            })?;
            let (certs, _) = read_pem(ca)?;
            if certs.is_empty() {
                return Err(GatewayError::Config(format!(
                    "{} holds no certificate",
                    ca.display()
                )));
            }
            tls = tls.root_certs(RootCerts::new_with_certs(&certs));
        }
        match (&config.cert_file, &config.key_file) {
            (Some(cert), Some(key)) => {
                let (chain, _) = read_pem(cert)?;
                let key = read_pem(key)?.1.ok_or_else(|| {
                    GatewayError::Config(format!("{} holds no private key", key.display()))
                })?;
                tls = tls.client_cert(Some(ClientCert::new_with_certs(&chain, key)));
            }
            (None, None) => {}
            _ => {
                return Err(GatewayError::Config(
                    "[cluster] cert_file and key_file go together".into(),
                ));
            }
        }
        let agent = Agent::config_builder()
            // Kept-alive connections per member: a node's readers, committer workers and
            // service threads talk to it at once; with ureq's default of 3, the others would
            // open (and handshake) a new connection for every request.
            .max_idle_connections_per_host(IDLE_PER_MEMBER)
            .max_idle_connections(IDLE_PER_MEMBER * config.endpoints.len().max(1))
            .http_status_as_error(false)
            .max_redirects(0)
            .timeout_global(Some(config.request_timeout()))
            .tls_config(tls.build())
            .user_agent(format!("keyward/{}", env!("CARGO_PKG_VERSION")))
            .build();
        let agent = Agent::with_parts(
            agent,
            ureq::unversioned::transport::DefaultConnector::new(),
            super::resolver::LiteralFirst::default(),
        );
        Ok(Gateway {
            agent,
            endpoints: config
                .endpoints
                .iter()
                .map(|e| e.trim_end_matches('/').to_string())
                .collect(),
            preferred: AtomicUsize::new(0),
        })
    }

    pub fn endpoints(&self) -> &[String] {
        &self.endpoints
    }

    /// The member calls go to first: the last one that answered.
    pub fn preferred_member(&self) -> usize {
        self.preferred.load(Ordering::Relaxed)
    }

    /// Sends to the preferred member, then to the others; returns the answer and which member
    /// gave it. `from_first` restarts at the first (local) member instead of the preferred one.
    /// When none can serve, the error names every member: which could not be reached (lost)
    /// and which answered but could not serve (no leader, no quorum), each with its reason.
    pub fn call<Req: Serialize, Resp: DeserializeOwned>(
        &self,
        path: &str,
        request: &Req,
        from_first: bool,
    ) -> Result<(Resp, usize), GatewayError> {
        let start = if from_first {
            0
        } else {
            self.preferred.load(Ordering::Relaxed)
        };
        let mut lost = Vec::new();
        let mut without_quorum = Vec::new();
        for step in 0..self.endpoints.len() {
            let member = (start + step) % self.endpoints.len();
            match self.exchange(member, path, request) {
                Ok(answer) => {
                    self.preferred.store(member, Ordering::Relaxed);
                    return Ok((answer, member));
                }
                Err(Failure::Unreachable(why)) => lost.push(why),
                Err(Failure::Answered(GatewayError::Unavailable(why))) => without_quorum.push(why),
                Err(Failure::Answered(other)) => return Err(other),
            }
        }
        Err(GatewayError::Unavailable(members_failed(
            self.endpoints.len(),
            &lost,
            &without_quorum,
        )))
    }

    /// One exchange with one member.
    pub fn call_at<Req: Serialize, Resp: DeserializeOwned>(
        &self,
        member: usize,
        path: &str,
        request: &Req,
    ) -> Result<Resp, GatewayError> {
        self.exchange(member, path, request)
            .map_err(|failure| match failure {
                Failure::Unreachable(why) => GatewayError::Unavailable(why),
                Failure::Answered(err) => err,
            })
    }

    /// One exchange with one member, telling a member that could not be reached from one that
    /// answered with an error.
    fn exchange<Req: Serialize, Resp: DeserializeOwned>(
        &self,
        member: usize,
        path: &str,
        request: &Req,
    ) -> Result<Resp, Failure> {
        let base = self.endpoints.get(member).ok_or_else(|| {
            Failure::Answered(GatewayError::Config(format!("no etcd endpoint #{member}")))
        })?;
        let url = format!("{base}{path}");
        let body = serde_json::to_vec(request).map_err(|e| {
            Failure::Answered(GatewayError::Protocol(format!("encoding {path}: {e}")))
        })?;
        let unreachable = |err: GatewayError| match err {
            GatewayError::Unavailable(why) => Failure::Unreachable(why),
            other => Failure::Answered(other),
        };
        let mut response = self
            .agent
            .post(&url)
            .header("content-type", "application/json")
            .send(&body[..])
            .map_err(|e| unreachable(transport_error(&url, "", e)))?;
        let status = response.status().as_u16();
        let bytes = response
            .body_mut()
            .with_config()
            .limit(MAX_BODY)
            .read_to_vec()
            .map_err(|e| unreachable(transport_error(&url, "reading the answer: ", e)))?;
        if status == 200 {
            return serde_json::from_slice(&bytes)
                .map_err(|e| Failure::Answered(GatewayError::Protocol(format!("{url}: {e}"))));
        }
        Err(Failure::Answered(error_answer(&url, status, &bytes)))
    }

    /// A streamed answer (etcd's watch): POSTs `request` to one member and returns the body as
    /// it arrives, to be read for at most `hold` from now (then reads fail with a timeout, as
    /// they do when the member goes away). Nothing is read here but the status line; an error
    /// status is read whole and returned like [`Gateway::call_at`]'s.
    pub fn stream<Req: Serialize>(
        &self,
        member: usize,
        path: &str,
        request: &Req,
        hold: std::time::Duration,
    ) -> Result<ureq::BodyReader<'static>, GatewayError> {
        let base = self
            .endpoints
            .get(member)
            .ok_or_else(|| GatewayError::Config(format!("no etcd endpoint #{member}")))?;
        let url = format!("{base}{path}");
        let body = serde_json::to_vec(request)
            .map_err(|e| GatewayError::Protocol(format!("encoding {path}: {e}")))?;
        let mut response = self
            .agent
            .post(&url)
            .config()
            .timeout_global(Some(hold))
            .build()
            .header("content-type", "application/json")
            .send(&body[..])
            .map_err(|e| transport_error(&url, "", e))?;
        let status = response.status().as_u16();
        if status != 200 {
            let bytes = response
                .body_mut()
                .with_config()
                .limit(MAX_BODY)
                .read_to_vec()
                .unwrap_or_default();
            return Err(error_answer(&url, status, &bytes));
        }
        Ok(response
            .into_body()
            .into_with_config()
            .limit(STREAM_BODY)
            .reader())
    }

    pub fn range(
        &self,
        member: usize,
        request: &RangeRequest,
    ) -> Result<RangeResponse, GatewayError> {
        self.call_at(member, "/v3/kv/range", request)
    }

    pub fn txn(&self, member: usize, request: &TxnRequest) -> Result<TxnResponse, GatewayError> {
        self.call_at(member, "/v3/kv/txn", request)
    }

    pub fn status(&self, member: usize) -> Result<StatusResponse, GatewayError> {
        self.call_at(member, "/v3/maintenance/status", &Empty {})
    }

    /// A lease of `ttl_secs`: keys put with it are deleted when it ends or is revoked.
    pub fn lease_grant(&self, ttl_secs: i64) -> Result<i64, GatewayError> {
        let (answer, _) = self.call::<_, LeaseGrantResponse>(
            "/v3/lease/grant",
            &LeaseGrant { ttl: ttl_secs },
            false,
        )?;
        Ok(answer.id)
    }

    pub fn lease_revoke(&self, id: i64) -> Result<(), GatewayError> {
        self.call::<_, serde_json::Value>(
            "/v3/lease/revoke",
            &LeaseId { id: id.to_string() },
            false,
        )
        .map(|_| ())
    }

    pub fn member_list(&self) -> Result<MemberListResponse, GatewayError> {
        self.call("/v3/cluster/member/list", &Empty {}, false)
            .map(|(answer, _)| answer)
    }

    /// MemberAdd. Failover may send it twice (a member that timed out may still have added
    /// it): the second answer is then etcd's "Peer URLs already exists", and the caller finds
    /// the member by its peer URL.
    pub fn member_add(
        &self,
        peer_urls: &[String],
        is_learner: bool,
    ) -> Result<MemberAddResponse, GatewayError> {
        let request = MemberAddRequest {
            peer_urls: peer_urls.to_vec(),
            is_learner,
        };
        self.call("/v3/cluster/member/add", &request, false)
            .map(|(answer, _)| answer)
    }

    /// MemberPromote: etcd refuses it until the learner has caught up with the leader.
    pub fn member_promote(&self, id: u64) -> Result<MemberListResponse, GatewayError> {
        self.call(
            "/v3/cluster/member/promote",
            &MemberIdRequest { id: id.to_string() },
            false,
        )
        .map(|(answer, _)| answer)
    }

    pub fn member_remove(&self, id: u64) -> Result<MemberListResponse, GatewayError> {
        self.call(
            "/v3/cluster/member/remove",
            &MemberIdRequest { id: id.to_string() },
            false,
        )
        .map(|(answer, _)| answer)
    }
}

#[derive(Serialize)]
struct MemberAddRequest {
    #[serde(rename = "peerURLs")]
    peer_urls: Vec<String>,
    #[serde(rename = "isLearner")]
    is_learner: bool,
}

/// etcd's JSON takes uint64 as a string: IDs exceed what a JSON number holds exactly.
#[derive(Serialize)]
struct MemberIdRequest {
    #[serde(rename = "ID")]
    id: String,
}

#[derive(Deserialize, Default, Debug, Clone)]
pub struct MemberAddResponse {
    #[serde(default)]
    pub header: Header,
    #[serde(default)]
    pub member: Member,
    #[serde(default)]
    pub members: Vec<Member>,
}

/// What went wrong on the way to a member. Over https, says so when TLS is the cause: with
/// TLS 1.3 a member that refuses this node's client certificate (none, or one of another CA)
/// does it after the client's side of the handshake is done, so the client only sees the
/// connection closed under its request, and "broken pipe" alone would send the operator
/// looking for a crashed member.
/// How one exchange with one member failed.
enum Failure {
    /// No answer: refused connection, timeout, TLS failure. The member is lost to this node.
    Unreachable(String),
    /// The member answered, with this error.
    Answered(GatewayError),
}

/// Why no member could serve, naming each: `lost` could not be reached, `without_quorum`
/// answered but could not serve. Each entry starts with the member's URL.
fn members_failed(total: usize, lost: &[String], without_quorum: &[String]) -> String {
    let mut parts = Vec::new();
    if !lost.is_empty() {
        parts.push(format!(
            "lost {} of {total} etcd member(s): {}",
            lost.len(),
            lost.join("; ")
        ));
    }
    if !without_quorum.is_empty() {
        parts.push(format!(
            "{} reachable but unable to serve: {}",
            without_quorum.len(),
            without_quorum.join("; ")
        ));
    }
    if parts.is_empty() {
        return "no etcd endpoint configured".into();
    }
    parts.join("; ")
}

/// What a member's answer with an error status means: "try elsewhere or later"
/// (`Unavailable`) or "your request is wrong" (`Refused`).
fn error_answer(url: &str, status: u16, bytes: &[u8]) -> GatewayError {
    let failure: GatewayFailure = serde_json::from_slice(bytes).unwrap_or_default();
    let message = failure.error.or(failure.message).unwrap_or_default();
    let text = format!("{url}: HTTP {status}: {message}");
    // gRPC codes 4 (deadline exceeded), 14 (unavailable) and etcd's own wording for a member
    // without a leader mean "try elsewhere or later", not "your request is wrong".
    let unavailable = matches!(failure.code, Some(4) | Some(14))
        || status >= 502
        || message.contains("no leader")
        || message.contains("timed out")
        || message.contains("leader changed")
        || message.contains("not capable");
    if unavailable {
        GatewayError::Unavailable(text)
    } else {
        GatewayError::Refused(text)
    }
}

fn transport_error(url: &str, doing: &str, err: ureq::Error) -> GatewayError {
    let tls = url.starts_with("https://");
    let hint = match &err {
        ureq::Error::Tls(_) | ureq::Error::Rustls(_) | ureq::Error::Pem(_) => {
            Some("the TLS handshake with the etcd member failed")
        }
        ureq::Error::Io(io)
            if io
                .get_ref()
                .is_some_and(|inner| inner.downcast_ref::<rustls::Error>().is_some()) =>
        {
            Some("the TLS handshake with the etcd member failed")
        }
        ureq::Error::Io(io)
            if tls
                && matches!(
                    io.kind(),
                    std::io::ErrorKind::BrokenPipe
                        | std::io::ErrorKind::ConnectionReset
                        | std::io::ErrorKind::UnexpectedEof
                ) =>
        {
            Some(
                "the etcd member closed the TLS connection; it does so when it refuses this \
                 node's client certificate (missing, or not signed by the CA etcd trusts)",
            )
        }
        _ => None,
    };
    GatewayError::Unavailable(match hint {
        Some(hint) => format!(
            "{url}: {doing}{err}: {hint} (check the certificates named by [cluster] ca_file, \
             cert_file and key_file)"
        ),
        None => format!("{url}: {doing}{err}"),
    })
}

#[derive(Deserialize, Default)]
struct GatewayFailure {
    error: Option<String>,
    message: Option<String>,
    code: Option<i64>,
}

#[derive(Serialize)]
pub struct Empty {}

/// etcd's JSON encodes int64 as a string; accept a number too.
fn de_i64<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Either {
        Text(String),
        Number(i64),
    }
    match Either::deserialize(d)? {
        Either::Number(n) => Ok(n),
        Either::Text(s) => s.parse().map_err(serde::de::Error::custom),
    }
}

fn de_u64<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Either {
        Text(String),
        Number(u64),
    }
    match Either::deserialize(d)? {
        Either::Number(n) => Ok(n),
        Either::Text(s) => s.parse().map_err(serde::de::Error::custom),
    }
}

fn de_b64<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
    let text = String::deserialize(d)?;
    BASE64.decode(text).map_err(serde::de::Error::custom)
}

pub fn b64(bytes: &[u8]) -> String {
    BASE64.encode(bytes)
}

#[derive(Deserialize, Default, Debug, Clone)]
pub struct Header {
    #[serde(default, deserialize_with = "de_i64")]
    pub revision: i64,
    #[serde(default, deserialize_with = "de_u64")]
    pub member_id: u64,
    #[serde(default, deserialize_with = "de_u64")]
    pub raft_term: u64,
}

#[derive(Serialize, Default, Clone)]
pub struct RangeRequest {
    pub key: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub range_end: Option<String>,
    /// 0 = the newest revision.
    #[serde(skip_serializing_if = "is_zero")]
    pub revision: i64,
    pub serializable: bool,
    pub keys_only: bool,
    pub count_only: bool,
    /// Most keys in the answer; 0 = all of them. `more` in the answer says whether any were
    /// left out.
    #[serde(skip_serializing_if = "is_zero")]
    pub limit: i64,
    /// Only keys last changed at this revision or later; 0 = no lower bound.
    #[serde(skip_serializing_if = "is_zero")]
    pub min_mod_revision: i64,
}

fn is_zero(n: &i64) -> bool {
    *n == 0
}

#[derive(Deserialize, Default)]
pub struct RangeResponse {
    #[serde(default)]
    pub header: Header,
    #[serde(default)]
    pub kvs: Vec<KeyValue>,
    /// True when `limit` cut the answer short.
    #[serde(default)]
    pub more: bool,
    /// How many keys matched (also with `count_only`).
    #[serde(default, deserialize_with = "de_i64")]
    pub count: i64,
}

#[derive(Deserialize, Default)]
pub struct KeyValue {
    #[serde(default, deserialize_with = "de_b64")]
    pub key: Vec<u8>,
    #[serde(default, deserialize_with = "de_b64")]
    pub value: Vec<u8>,
    #[serde(default, deserialize_with = "de_i64")]
    pub mod_revision: i64,
}

#[derive(Serialize)]
pub struct Compare {
    pub key: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub range_end: Option<String>,
    /// `MOD` compares `mod_revision`, `VERSION` compares `version` (0: no such key).
    pub target: &'static str,
    pub result: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mod_revision: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
}

#[derive(Serialize)]
pub struct PutRequest {
    pub key: String,
    pub value: String,
    /// The key goes when this lease ends; 0 = no lease.
    #[serde(skip_serializing_if = "is_zero")]
    pub lease: i64,
}

#[derive(Serialize)]
pub struct DeleteRequest {
    pub key: String,
}

#[derive(Serialize)]
pub enum RequestOp {
    #[serde(rename = "request_put")]
    Put(PutRequest),
    #[serde(rename = "request_delete_range")]
    Delete(DeleteRequest),
    /// In a transaction of ranges only and no compare: a read of several keys at one revision
    /// (linearizable unless every range is serializable), which etcd serves without a Raft
    /// entry, like a range.
    #[serde(rename = "request_range")]
    Range(RangeRequest),
}

#[derive(Serialize)]
pub struct TxnRequest {
    pub compare: Vec<Compare>,
    pub success: Vec<RequestOp>,
}

#[derive(Deserialize, Default)]
pub struct TxnResponse {
    #[serde(default)]
    pub header: Header,
    #[serde(default)]
    pub succeeded: bool,
    /// One answer per operation of `success` (or `failure`), in order.
    #[serde(default)]
    pub responses: Vec<ResponseOp>,
}

#[derive(Deserialize, Default)]
pub struct ResponseOp {
    /// The answer to a range; absent for puts and deletes.
    #[serde(default)]
    pub response_range: Option<RangeResponse>,
}

#[derive(Deserialize, Default, Debug, Clone)]
pub struct StatusResponse {
    #[serde(default)]
    pub header: Header,
    #[serde(default)]
    pub version: String,
    #[serde(default, deserialize_with = "de_u64")]
    pub leader: u64,
    #[serde(default, deserialize_with = "de_u64", rename = "dbSize")]
    pub db_size: u64,
    #[serde(default, rename = "isLearner")]
    pub is_learner: bool,
}

#[derive(Deserialize, Default, Debug, Clone)]
pub struct MemberListResponse {
    #[serde(default)]
    pub header: Header,
    #[serde(default)]
    pub members: Vec<Member>,
}

#[derive(Deserialize, Default, Debug, Clone)]
pub struct Member {
    #[serde(default, rename = "ID", deserialize_with = "de_u64")]
    pub id: u64,
    #[serde(default)]
    pub name: String,
    #[serde(default, rename = "clientURLs")]
    pub client_urls: Vec<String>,
    #[serde(default, rename = "peerURLs")]
    pub peer_urls: Vec<String>,
    /// A learner receives the log but does not vote (and does not count for quorum).
    #[serde(default, rename = "isLearner")]
    pub is_learner: bool,
}

impl Member {
    /// etcd names a member only once it has started and published itself.
    pub fn is_started(&self) -> bool {
        !self.name.is_empty()
    }
}

#[derive(Serialize)]
struct LeaseGrant {
    #[serde(rename = "TTL")]
    ttl: i64,
}

/// etcd's JSON takes int64 as a string.
#[derive(Serialize)]
struct LeaseId {
    #[serde(rename = "ID")]
    id: String,
}

#[derive(Deserialize, Default)]
struct LeaseGrantResponse {
    #[serde(default, rename = "ID", deserialize_with = "de_i64")]
    id: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_may_use_plain_http() {
        assert!(is_loopback_http("http://127.0.0.1:2379"));
        assert!(is_loopback_http("http://localhost:2379/"));
        assert!(is_loopback_http("http://[::1]:2379"));
        assert!(!is_loopback_http("http://10.0.0.5:2379"));
        let config = ClusterConfig {
            endpoints: vec!["http://10.0.0.5:2379".into()],
            ..ClusterConfig::default()
        };
        assert!(matches!(
            Gateway::new(&config),
            Err(GatewayError::Config(_))
        ));
    }

    #[test]
    fn a_failure_of_every_member_names_each_lost_and_each_unable_one() {
        let text = members_failed(
            3,
            &[
                "http://a:2379: refused".into(),
                "http://b:2379: refused".into(),
            ],
            &["http://c:2379: HTTP 503: no leader".into()],
        );
        assert_eq!(
            text,
            "lost 2 of 3 etcd member(s): http://a:2379: refused; http://b:2379: refused; \
             1 reachable but unable to serve: http://c:2379: HTTP 503: no leader"
        );
    }

    #[test]
    fn a_read_only_transaction_is_ranges_only_and_its_answers_parse_in_order() {
        let request = TxnRequest {
            compare: Vec::new(),
            success: vec![RequestOp::Range(RangeRequest {
                key: b64(b"a"),
                ..RangeRequest::default()
            })],
        };
        let json = serde_json::to_string(&request).unwrap();
        assert!(json.starts_with(r#"{"compare":[],"success":[{"request_range":{"key":"YQ==""#));
        // As etcd 3.4's gateway answers: a missing key's range has no `kvs`.
        let answer: TxnResponse = serde_json::from_str(
            r#"{"header":{"revision":"17"},"succeeded":true,"responses":[
                {"response_range":{"header":{"revision":"17"},"kvs":[{"key":"YQ==","value":"dg==","mod_revision":"2"}],"count":"1"}},
                {"response_range":{"header":{"revision":"17"}}}]}"#,
        )
        .unwrap();
        assert_eq!(answer.header.revision, 17);
        let ranges: Vec<_> = answer
            .responses
            .into_iter()
            .map(|r| r.response_range.unwrap().kvs)
            .collect();
        assert_eq!(ranges[0][0].value, b"v");
        assert!(ranges[1].is_empty());
    }

    #[test]
    fn int64_fields_parse_from_strings_and_numbers() {
        let r: RangeResponse = serde_json::from_str(
            r#"{"header":{"revision":"42","member_id":"7"},"kvs":[{"key":"YQ==","value":"","mod_revision":5}]}"#,
        )
        .unwrap();
        assert_eq!(r.header.revision, 42);
        assert_eq!(r.kvs[0].key, b"a");
        assert_eq!(r.kvs[0].mod_revision, 5);
    }
}
