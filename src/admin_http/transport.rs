//! The HTTPS transport of the admin API. Crate choice: hyper 1 (HTTP/1.1 server, the most
//! used and reviewed Rust HTTP implementation) with tokio-rustls over our own rustls
//! configuration (aws-lc-rs, no ring). tiny_http was the smaller option, but its TLS support
//! is pinned to rustls 0.20 and the archived rustls-pemfile. The tokio runtime is
//! current-thread and lives only on the admin thread; the handlers (store reads, Argon2id,
//! audit writes) run on a small blocking pool, so the KMIP event loop never runs admin work
//! and a slow or hostile admin client never holds a KMIP thread.
//!
//! Bounds: connections at once, TLS handshake time, header read time (hyper), header size
//! (hyper's buffer), body size (refused by Content-Length up front, counted while streaming)
//! and body read time.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::sync::Semaphore;
use tokio_rustls::TlsAcceptor;

use super::dispatch::{self, Incoming as Call};
use super::file_body::{self, AnswerBody, FileBody};
use super::handlers::App;
use super::handlers::DownloadBody;
use super::shape;

const MAX_CONNECTIONS: usize = 64;
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
const MAX_HEADER_BUFFER: usize = 16 * 1024;
/// Uploads (whose bodies may be `max_upload_mib`) received at once.
const MAX_UPLOADS: usize = 2;
static UPLOADS: Semaphore = Semaphore::const_new(MAX_UPLOADS);
/// How often the certificate expiry gauge is recomputed.
const EXPIRY_REFRESH: Duration = Duration::from_secs(600);
/// Threads that run handlers; more callers wait their turn.
const HANDLER_THREADS: usize = 4;

/// Per-request bounds from `[admin_http]`.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_body: usize,
    /// For the routes that take a file (`routes::takes_upload`).
    pub max_upload: usize,
    pub request_timeout: Duration,
}

/// Binds `listen` and serves on a thread of its own until the process ends; returns the bound
/// address.
pub fn spawn(
    listen: SocketAddr,
    tls: Arc<rustls::ServerConfig>,
    app: Arc<App>,
    limits: Limits,
) -> std::io::Result<SocketAddr> {
    let listener = std::net::TcpListener::bind(listen)?;
    listener.set_nonblocking(true)?;
    let bound = listener.local_addr()?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .enable_time()
        .max_blocking_threads(HANDLER_THREADS)
        .thread_name("keyward-admin-http")
        .on_thread_start(lower_priority)
        .build()?;
    std::thread::Builder::new()
        .name("keyward-admin-http".into())
        .spawn(move || {
            lower_priority();
            runtime.block_on(async move {
                match tokio::net::TcpListener::from_std(listener) {
                    Ok(listener) => serve(listener, TlsAcceptor::from(tls), app, limits).await,
                    Err(e) => log::error!("admin API: cannot use the listener: {e}"),
                }
            })
        })?;
    Ok(bound)
}

/// Nice level of the admin threads: under CPU contention (a flood of TLS handshakes or
/// logins) the scheduler prefers the KMIP event loop and committer.
const ADMIN_NICE: i32 = 10;

/// Lowers the calling thread's scheduling priority (Linux: nice is per thread).
fn lower_priority() {
    let tid = rustix::thread::gettid();
    if let Err(e) = rustix::process::setpriority_process(Some(tid), ADMIN_NICE) {
        log::debug!("admin API: cannot lower the thread priority: {e}");
    }
}

async fn serve(
    listener: tokio::net::TcpListener,
    acceptor: TlsAcceptor,
    app: Arc<App>,
    limits: Limits,
) {
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    // The `/metrics` gauge of certificates about to expire, kept fresh off the request path.
    let refresher = app.clone();
    tokio::spawn(async move {
        let mut every = tokio::time::interval(EXPIRY_REFRESH);
        loop {
            every.tick().await;
            let app = refresher.clone();
            let _ = tokio::task::spawn_blocking(move || {
                if let Some(count) = super::appliance::count_expiring(&app) {
                    app.services.metrics.set_certificates_expiring(count);
                }
            })
            .await;
        }
    });
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                log::warn!("admin API: accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            log::warn!("admin API: {MAX_CONNECTIONS} connections open; refused {peer}");
            continue;
        };
        let acceptor = acceptor.clone();
        let app = app.clone();
        tokio::spawn(async move {
            let _slot = slot;
            let tls = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                Ok(Ok(tls)) => tls,
                Ok(Err(e)) => {
                    log::debug!("admin API: TLS handshake with {peer} failed: {e}");
                    return;
                }
                Err(_) => {
                    log::debug!("admin API: TLS handshake with {peer} timed out");
                    return;
                }
            };
            let service = service_fn(move |request| {
                let app = app.clone();
                async move {
                    Ok::<_, std::convert::Infallible>(answer(request, app, peer, limits).await)
                }
            });
            let served = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(limits.request_timeout)
                .max_buf_size(MAX_HEADER_BUFFER)
                .serve_connection(TokioIo::new(tls), service)
                .await;
            if let Err(e) = served {
                log::debug!("admin API: connection with {peer} ended: {e}");
            }
        });
    }
}

fn json_response(status: u16, body: &serde_json::Value) -> Response<AnswerBody> {
    let bytes = serde_json::to_vec(body).unwrap_or_default();
    bytes_response(status, "application/json", bytes)
}

fn bytes_response(status: u16, content_type: &'static str, bytes: Vec<u8>) -> Response<AnswerBody> {
    let mut response = Response::new(file_body::bytes(bytes));
    *response.status_mut() =
        hyper::StatusCode::from_u16(status).unwrap_or(hyper::StatusCode::INTERNAL_SERVER_ERROR);
    let headers = response.headers_mut();
    for (name, value) in [
        ("cache-control", "no-store"),
        ("x-content-type-options", "nosniff"),
        ("strict-transport-security", "max-age=31536000"),
    ] {
        headers.insert(name, hyper::header::HeaderValue::from_static(value));
    }
    headers.insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static(content_type),
    );
    response
}

/// A file as an attachment. The name was made or checked by the handler; only the characters
/// of a plain file name pass into the header in any case.
fn download_response(status: u16, download: super::handlers::Download) -> Response<AnswerBody> {
    let mut response = match download.body {
        DownloadBody::Bytes(bytes) => bytes_response(status, download.content_type, bytes),
        DownloadBody::File { file, len } => {
            let mut response = bytes_response(status, download.content_type, Vec::new());
            *response.body_mut() = http_body_util::Either::Right(FileBody::new(file, len));
            response
        }
    };
    let name: String = download
        .filename
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
        .collect();
    if let Ok(value) =
        hyper::header::HeaderValue::from_str(&format!("attachment; filename=\"{name}\""))
    {
        response
            .headers_mut()
            .insert(hyper::header::CONTENT_DISPOSITION, value);
    }
    response
}

fn refuse(status: u16, code: &str, message: &str) -> Response<AnswerBody> {
    json_response(status, &shape::error(status, code, message))
}

async fn answer(
    request: Request<Incoming>,
    app: Arc<App>,
    peer: SocketAddr,
    limits: Limits,
) -> Response<AnswerBody> {
    let max_body = if super::routes::takes_upload(request.method().as_str(), request.uri().path()) {
        limits.max_upload
    } else {
        limits.max_body
    };
    if request.method() == hyper::Method::GET
        && let Some((content_type, asset)) = super::console::asset(request.uri().path())
    {
        let mut response = bytes_response(200, content_type, asset.to_vec());
        for (name, value) in super::console::PAGE_HEADERS {
            response
                .headers_mut()
                .insert(*name, hyper::header::HeaderValue::from_static(value));
        }
        return response;
    }
    let announced = request
        .headers()
        .get(hyper::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if announced.is_some_and(|n| n > max_body as u64) {
        return refuse(
            413,
            "BODY_TOO_LARGE_ERR",
            &format!("the request body is larger than {max_body} bytes"),
        );
    }
    // The API takes JSON (and a backup file as raw bytes): say so to a form post rather than
    // failing later on a body nobody parses.
    if let Some(content_type) = request
        .headers()
        .get(hyper::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        && (content_type.starts_with("multipart/")
            || content_type.starts_with("application/x-www-form-urlencoded"))
    {
        return refuse(
            415,
            "UNSUPPORTED_MEDIA_TYPE_ERR",
            &format!(
                "{content_type}: the admin API takes application/json bodies (a backup to verify \
                 as application/octet-stream); see /api/openapi.json"
            ),
        );
    }
    let (parts, body) = request.into_parts();
    let authorization = parts
        .headers
        .get(hyper::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let header = |name: &str| {
        parts
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let cookie_session = parts
        .headers
        .get_all(hyper::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|pair| {
            let (name, value) = pair.trim().split_once('=')?;
            (name == super::handlers::SESSION_COOKIE && !value.is_empty())
                .then(|| value.to_string())
        });
    let backup_passphrase = header(super::backups::PASSPHRASE_HEADER).map(zeroize::Zeroizing::new);
    let call_head = |body: Vec<u8>| Call {
        backup_passphrase: backup_passphrase.clone(),
        cookie_session: cookie_session.clone(),
        csrf: header("x-csrf-token"),
        method: parts.method.as_str().to_string(),
        path: parts.uri.path().to_string(),
        query: parts.uri.query().map(str::to_string),
        authorization: authorization.clone(),
        body,
        peer,
    };
    // An upload is admitted (caller and role checked, one of a few at once) before its body
    // is read.
    let _upload_slot = if super::routes::takes_upload(parts.method.as_str(), parts.uri.path()) {
        let Ok(slot) = UPLOADS.try_acquire() else {
            return refuse(
                429,
                "TOO_MANY_UPLOADS_ERR",
                &format!("{MAX_UPLOADS} uploads are being received; try again shortly"),
            );
        };
        let head = call_head(Vec::new());
        let app = app.clone();
        match tokio::task::spawn_blocking(move || dispatch::admit(&app, &head)).await {
            Ok(Ok(())) => {}
            Ok(Err(refused)) => return refuse(refused.status, refused.code, &refused.message),
            Err(e) => {
                log::error!("admin API: a handler failed: {e}");
                return refuse(
                    500,
                    "INTERNAL_SERVER_ERR",
                    "the request failed; see the server log",
                );
            }
        }
        Some(slot)
    } else {
        None
    };
    let body = match tokio::time::timeout(
        limits.request_timeout,
        Limited::new(body, max_body).collect(),
    )
    .await
    {
        Ok(Ok(collected)) => collected.to_bytes().to_vec(),
        Ok(Err(e)) => {
            return if e.is::<http_body_util::LengthLimitError>() {
                refuse(
                    413,
                    "BODY_TOO_LARGE_ERR",
                    &format!("the request body is larger than {max_body} bytes"),
                )
            } else {
                refuse(
                    400,
                    "BAD_REQUEST_ERR",
                    &format!("reading the request body: {e}"),
                )
            };
        }
        Err(_) => {
            return refuse(
                408,
                "REQUEST_TIMEOUT_ERR",
                "the request body did not arrive in time",
            );
        }
    };
    let call = call_head(body);
    match tokio::task::spawn_blocking(move || dispatch::dispatch(&app, call)).await {
        Ok(answer) => {
            let mut response = match answer.download {
                Some(download) => download_response(answer.status, download),
                None => json_response(answer.status, &answer.body),
            };
            if let Some(cookie) = answer
                .set_cookie
                .and_then(|c| hyper::header::HeaderValue::from_str(&c).ok())
            {
                response
                    .headers_mut()
                    .insert(hyper::header::SET_COOKIE, cookie);
            }
            response
        }
        Err(e) => {
            log::error!("admin API: a handler failed: {e}");
            refuse(
                500,
                "INTERNAL_SERVER_ERR",
                "the request failed; see the server log",
            )
        }
    }
}
