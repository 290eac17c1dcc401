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
    let upload = super::routes::takes_upload(request.method().as_str(), request.uri().path());
    let max_body = if upload {
        limits.max_upload
    } else {
        limits.max_body
    };
    if let Some(page) = console_asset(&request) {
        return page;
    }
    if let Some(refused) = refuse_by_headers(&request, max_body) {
        return refused;
    }
    let (parts, body) = request.into_parts();
    let head = call_head(&parts, peer);
    // An upload is admitted (caller and role checked, one of a few at once) before its body
    // is read.
    let (head, _upload_slot) = if upload {
        match admit_upload(&app, head).await {
            Ok((head, slot)) => (head, Some(slot)),
            Err(refused) => {
                linger(body, max_body);
                return refused;
            }
        }
    } else {
        (head, None)
    };
    let body = match read_body(body, max_body, limits.request_timeout).await {
        Ok(body) => body,
        Err(refused) => return refused,
    };
    let call = Call { body, ..head };
    match tokio::task::spawn_blocking(move || dispatch::dispatch(&app, call)).await {
        Ok(answer) => render(answer),
        Err(e) => handler_failed(e),
    }
}

/// The console's own pages and scripts, served without a caller.
fn console_asset(request: &Request<Incoming>) -> Option<Response<AnswerBody>> {
    if request.method() != hyper::Method::GET {
        return None;
    }
    let (content_type, asset) = super::console::asset(request.uri().path())?;
    let mut response = bytes_response(200, content_type, asset.to_vec());
    for (name, value) in super::console::PAGE_HEADERS {
        response
            .headers_mut()
            .insert(*name, hyper::header::HeaderValue::from_static(value));
    }
    Some(response)
}

/// The refusals the headers alone decide: a body announced larger than `max_body`, and a
/// body of a type the API never takes.
fn refuse_by_headers(request: &Request<Incoming>, max_body: usize) -> Option<Response<AnswerBody>> {
    let announced = request
        .headers()
        .get(hyper::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if announced.is_some_and(|n| n > max_body as u64) {
        return Some(body_too_large(max_body));
    }
    // The API takes JSON (and a backup file as raw bytes): say so to a form post rather than
    // failing later on a body nobody parses.
    let content_type = request
        .headers()
        .get(hyper::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())?;
    (content_type.starts_with("multipart/")
        || content_type.starts_with("application/x-www-form-urlencoded"))
    .then(|| {
        refuse(
            415,
            "UNSUPPORTED_MEDIA_TYPE_ERR",
            &format!(
                "{content_type}: the admin API takes application/json bodies (a backup to verify \
                 as application/octet-stream); see /api/openapi.json"
            ),
        )
    })
}

/// The call as the dispatcher sees it, all but the body: route, credentials (bearer token,
/// console cookie and CSRF header) and a backup passphrase.
fn call_head(parts: &hyper::http::request::Parts, peer: SocketAddr) -> Call {
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
    Call {
        backup_passphrase: header(super::backups::PASSPHRASE_HEADER).map(zeroize::Zeroizing::new),
        cookie_session,
        csrf: header("x-csrf-token"),
        method: parts.method.as_str().to_string(),
        path: parts.uri.path().to_string(),
        query: parts.uri.query().map(str::to_string),
        authorization: header(hyper::header::AUTHORIZATION.as_str()),
        body: Vec::new(),
        peer,
    }
}

/// Takes one of the few upload slots and checks the caller and role, so a large body is read
/// only for someone allowed to send it. Hands the head back with the slot to hold while the
/// body arrives.
async fn admit_upload(
    app: &Arc<App>,
    head: Call,
) -> Result<(Call, tokio::sync::SemaphorePermit<'static>), Response<AnswerBody>> {
    let Ok(slot) = UPLOADS.try_acquire() else {
        return Err(refuse(
            429,
            "TOO_MANY_UPLOADS_ERR",
            &format!("{MAX_UPLOADS} uploads are being received; try again shortly"),
        ));
    };
    let app = app.clone();
    match tokio::task::spawn_blocking(move || (dispatch::admit(&app, &head), head)).await {
        Ok((Ok(()), head)) => Ok((head, slot)),
        Ok((Err(refused), _)) => Err(refuse(refused.status, refused.code, &refused.message)),
        Err(e) => Err(handler_failed(e)),
    }
}

/// Reads and discards what a refused upload's client is still sending, off the request path,
/// so that its answer (401, 403, 429) reaches it. The refusal is sent before the body is read;
/// if the body were dropped with it, the connection would close with the client's bytes unread,
/// the kernel would answer them with a reset, and a client still writing its upload (every
/// ordinary one: it reads only once it has sent everything) would see "connection reset" and
/// never the answer. As web servers do on such a close ("lingering close"), the body is drained
/// for as long as it keeps arriving: at most `max_body` bytes (the size the headers were already
/// checked against), at most `LINGER_IDLE` between two pieces and `LINGER_TOTAL` in all. A peer
/// that announced a body and sends none thus keeps the connection for `LINGER_IDLE` only.
fn linger(body: Incoming, max_body: usize) {
    const LINGER_IDLE: Duration = Duration::from_millis(500);
    const LINGER_TOTAL: Duration = Duration::from_secs(10);
    tokio::spawn(async move {
        let mut body = body;
        let mut drained = 0usize;
        let drain = async {
            while let Ok(Some(Ok(frame))) = tokio::time::timeout(LINGER_IDLE, body.frame()).await {
                drained += frame.data_ref().map_or(0, |d| d.len());
                if drained > max_body {
                    break;
                }
            }
        };
        let _ = tokio::time::timeout(LINGER_TOTAL, drain).await;
    });
}

/// The whole body, at most `max_body` bytes and within `timeout`.
async fn read_body(
    body: Incoming,
    max_body: usize,
    timeout: Duration,
) -> Result<Vec<u8>, Response<AnswerBody>> {
    match tokio::time::timeout(timeout, Limited::new(body, max_body).collect()).await {
        Ok(Ok(collected)) => Ok(collected.to_bytes().to_vec()),
        Ok(Err(e)) if e.is::<http_body_util::LengthLimitError>() => Err(body_too_large(max_body)),
        Ok(Err(e)) => Err(refuse(
            400,
            "BAD_REQUEST_ERR",
            &format!("reading the request body: {e}"),
        )),
        Err(_) => Err(refuse(
            408,
            "REQUEST_TIMEOUT_ERR",
            "the request body did not arrive in time",
        )),
    }
}

/// A handler's answer as HTTP: a download or JSON, and the session cookie it set or cleared.
fn render(answer: super::handlers::Answer) -> Response<AnswerBody> {
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

fn body_too_large(max_body: usize) -> Response<AnswerBody> {
    refuse(
        413,
        "BODY_TOO_LARGE_ERR",
        &format!("the request body is larger than {max_body} bytes"),
    )
}

/// A handler panicked (or its task was cancelled): logged, and a 500 that says where to look.
fn handler_failed(e: tokio::task::JoinError) -> Response<AnswerBody> {
    log::error!("admin API: a handler failed: {e}");
    refuse(
        500,
        "INTERNAL_SERVER_ERR",
        "the request failed; see the server log",
    )
}
