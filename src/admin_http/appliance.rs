//! The appliance's own state in the admin API: the server certificate (renewed with the same
//! `pki::renew_server_cert` and `ServerCertRenewed` record as `keyward server cert renew`), the
//! root key and its Key Protect sync, the cluster's nodes, and certificates about to expire.

use serde::Deserialize;
use serde::Serialize;

use super::handlers::{self, Answer, ApiError, App, Call, caller, ok};
use super::shape;
use crate::admin::protocol::{Reply, Request};
use crate::config::ServerKeyType;

/// The live status (database view plus what only the running process knows).
fn live_status(app: &App, call: &Call) -> Result<crate::admin::status::StatusReport, ApiError> {
    match handlers::execute(app, caller(call)?, Request::Status)? {
        Reply::Status { status } => Ok(crate::server::admin_socket::with_live_state(
            *status,
            &app.services,
        )
        .with_server_certificate(&app.server_cert)),
        other => Err(handlers::unexpected(&other)),
    }
}

/// GET /api/v1/root-key.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct RootKey<'a> {
    provider: Option<&'a str>,
    state: Option<&'a str>,
    sealed_reason: Option<&'a str>,
    key_protect: KeyProtectSync<'a>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct KeyProtectSync<'a> {
    last_sync: Option<u64>,
    unreachable_secs: Option<u64>,
    last_error: Option<&'a str>,
    wrapped_key_version: Option<&'a str>,
}

/// GET /api/v1/cluster/nodes' metadata: `quorum` and `degradedSince` only on a cluster node.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ClusterMetadata {
    clustered: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    quorum: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    degraded_since: Option<Option<i64>>,
}

/// The one node of an appliance that is not in a cluster, shaped like a node report.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ThisAppliance {
    id: &'static str,
    kmip: Option<String>,
    version: &'static str,
    state: &'static str,
    detail: Option<String>,
    reported_secs_ago: u64,
}

/// GET /api/v1/root-key: provider, sealed or not, and the Key Protect sync.
pub fn root_key(app: &App, call: &Call) -> Result<Answer, ApiError> {
    let status = live_status(app, call)?;
    ok(shape::single(
        "root.key",
        RootKey {
            provider: status.root_provider.as_deref(),
            state: status.root_state.as_deref(),
            sealed_reason: status.sealed_reason.as_deref(),
            key_protect: KeyProtectSync {
                last_sync: status.keyprotect_last_sync_unix,
                unreachable_secs: status.keyprotect_unreachable_secs,
                last_error: status.keyprotect_last_error.as_deref(),
                wrapped_key_version: status.wrapped_key_version.as_deref(),
            },
        },
    ))
}

/// GET /api/v1/cluster/nodes: each node's latest report; this appliance alone when it is not
/// a cluster node.
pub fn cluster_nodes(app: &App, call: &Call) -> Result<Answer, ApiError> {
    caller(call)?;
    let nodes = crate::admin::cluster_nodes::nodes(app.services.cluster.as_deref())
        .map_err(|e| ApiError::new(503, "CLUSTER_UNAVAILABLE_ERR", e.to_string()))?;
    let health = app
        .services
        .cluster
        .as_ref()
        .map(|cluster| cluster.health());
    let metadata = ClusterMetadata {
        clustered: health.is_some(),
        quorum: health.as_ref().map(|h| h.quorum),
        degraded_since: health.as_ref().map(|h| h.degraded_since),
    };
    let body = match nodes {
        Some(nodes) => {
            let total = nodes.len();
            shape::collection_with("cluster.node", &nodes, total, metadata)
        }
        None => {
            let state = if app.services.engine.gate().is_sealed() {
                "sealed"
            } else {
                "serving"
            };
            shape::collection_with(
                "cluster.node",
                [ThisAppliance {
                    id: "this appliance",
                    kmip: app.services.metrics.listen(),
                    version: env!("CARGO_PKG_VERSION"),
                    state,
                    detail: None,
                    reported_secs_ago: 0,
                }],
                1,
                metadata,
            )
        }
    };
    ok(body)
}

/// GET /api/v1/certificates/expiring: client and server certificates expiring within 30 days.
pub fn expiring(app: &App, call: &Call) -> Result<Answer, ApiError> {
    let status = live_status(app, call)?;
    app.services
        .metrics
        .set_certificates_expiring(status.expiring.len());
    let total = status.expiring.len();
    ok(shape::collection(
        "certificate.expiry",
        &status.expiring,
        total,
    ))
}

/// The number the `/metrics` gauge shows, refreshed by the admin thread.
pub fn count_expiring(app: &App) -> Option<usize> {
    let clients = crate::admin::ops::list_clients(app.services.store.as_ref()).ok()?;
    let now = crate::admin::registry::now();
    let mut count = crate::admin::expiry::clients(clients.iter().map(|c| &c.entry), now).len();
    if crate::admin::expiry::server(&app.server_cert, now).is_some() {
        count += 1;
    }
    Some(count)
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Renew {
    /// `rsa2048`, `rsa3072`, `ecdsa-p256`, `ecdsa-p384`; the current key's type when absent.
    #[serde(default)]
    key_type: Option<ServerKeyType>,
    /// DNS names or IP addresses; the current certificate's when empty.
    #[serde(default)]
    names: Vec<String>,
}

/// The type of the server certificate's current key.
fn current_key_type(pem: &str) -> Option<ServerKeyType> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    use x509_parser::public_key::PublicKey;
    let der = CertificateDer::pem_slice_iter(pem.as_bytes())
        .next()?
        .ok()?;
    let (_, cert) = x509_parser::parse_x509_certificate(&der).ok()?;
    match cert.public_key().parsed().ok()? {
        PublicKey::RSA(rsa) if rsa.key_size() > 2048 => Some(ServerKeyType::Rsa3072),
        PublicKey::RSA(_) => Some(ServerKeyType::Rsa2048),
        PublicKey::EC(ec) if ec.key_size() > 256 => Some(ServerKeyType::EcdsaP384),
        PublicKey::EC(_) => Some(ServerKeyType::EcdsaP256),
        _ => None,
    }
}

/// POST /api/v1/server/certificate/renew: a new key and certificate from the appliance CA.
pub fn renew_server_certificate(app: &App, call: &Call) -> Result<Answer, ApiError> {
    let caller = caller(call)?;
    let renew: Renew = if call.body.is_empty() {
        Renew::default()
    } else {
        handlers::json_body(call)?
    };
    let current = std::fs::read_to_string(&app.server_cert)
        .map_err(|e| ApiError::new(500, "INTERNAL_SERVER_ERR", e.to_string()))?;
    let key_type = renew
        .key_type
        .or_else(|| current_key_type(&current))
        .unwrap_or(ServerKeyType::Rsa2048);
    let fingerprint = crate::pki::renew_server_cert(&app.data_dir, key_type, &renew.names)
        .map_err(|e| ApiError::new(409, "RENEW_FAILED_ERR", e.to_string()))?;
    handlers::execute(
        app,
        caller,
        Request::ServerCertRenewed {
            fingerprint: hex::encode(fingerprint),
        },
    )?;
    let shown = crate::pki::fingerprint_hex(&fingerprint);
    log::info!(
        "admin API {}: renewed the server certificate ({shown})",
        caller.name
    );
    handlers::answer_server_certificate(app, call, true)
}
