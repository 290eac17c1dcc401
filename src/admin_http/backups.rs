//! The backup endpoints of the admin API: take a backup now and download it, list and download
//! the scheduled backup files, and verify a backup file that is uploaded. The export is the
//! same `backup::schedule::export_to_file` the admin socket and the scheduler run (recorded as
//! the last backup, audited as the calling account); listing, reading back by name (never
//! outside the backup directory) and verifying are `admin::backups`.

use serde::Deserialize;

use super::handlers::{
    self, Answer, ApiError, App, Call, Download, DownloadBody, actor, audit_event, caller,
    json_body, ok, param,
};
use super::shape;
use crate::admin::backups::{self, BackupOpError};
use crate::admin::protocol::{Reply, Request};
use crate::audit::AuditEvent;
use crate::backup::export::{ExportOptions, ExtraSource};
use crate::backup::passphrase::SecretText;

/// Header that carries the passphrase of an uploaded backup (the body is the file itself).
pub const PASSPHRASE_HEADER: &str = "x-keyward-backup-passphrase";
const BACKUP_TYPE: &str = "application/octet-stream";

impl From<BackupOpError> for ApiError {
    fn from(e: BackupOpError) -> ApiError {
        let (status, code) = match &e {
            BackupOpError::BadName(_) => (400, "BAD_FILE_NAME_ERR"),
            BackupOpError::NotFound(_) => (404, "BACKUP_NOT_FOUND_ERR"),
            BackupOpError::NotScheduled => (404, "BACKUPS_NOT_SCHEDULED_ERR"),
            BackupOpError::Invalid(_) => (422, "BACKUP_INVALID_ERR"),
            BackupOpError::Io { .. } => (500, "INTERNAL_SERVER_ERR"),
        };
        if status == 500 {
            log::error!("admin API: {e}");
        }
        ApiError::new(status, code, e.to_string())
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ExportNow {
    passphrase: SecretText,
    #[serde(default)]
    with_audit: bool,
    /// Argon2id cost, as the admin socket's request allows; the defaults when absent.
    #[serde(default)]
    kdf: Option<crate::backup::header::KdfSettings>,
}

/// POST /api/v1/backups: an encrypted backup of the whole store, now, as a download.
pub fn export_now(app: &App, call: &Call) -> Result<Answer, ApiError> {
    let caller = caller(call)?;
    let request: ExportNow = json_body(call)?;
    if request.passphrase.expose().chars().count() < 12 {
        return Err(ApiError::bad_request(
            "the backup passphrase must be at least 12 characters",
        ));
    }
    let appliance_id = crate::store::appliance_id::read_appliance_id(app.services.store.as_ref())
        .map_err(|e| ApiError::new(500, "INTERNAL_SERVER_ERR", format!("store: {e}")))?
        .unwrap_or_default();
    let mut options = ExportOptions::new(&appliance_id);
    if let Some(kdf) = request.kdf {
        options.kdf = kdf;
    }
    let source = app
        .services
        .audit
        .as_deref()
        .map(|_| crate::backup::audit_source::AuditSource);
    let extras: Vec<&dyn ExtraSource> = match &source {
        Some(source) if request.with_audit => vec![source as &dyn ExtraSource],
        _ => Vec::new(),
    };
    let scratch = handlers::tempfile_in(&app.data_dir)?;
    let filename = format!(
        "keyward-{}-manual{}",
        options.created_unix,
        crate::backup::FILE_SUFFIX
    );
    let out = scratch.path().join(&filename);
    let who = actor(caller);
    let summary = crate::backup::schedule::export_to_file(
        app.services.store.as_ref(),
        app.services.engine.gate(),
        request.passphrase.expose().as_bytes(),
        &options,
        &extras,
        &out,
        &mut |_| {},
        app.services.audit.as_deref().map(|ctx| (ctx, &who)),
    )
    .map_err(|e| ApiError::new(409, "BACKUP_FAILED_ERR", e.to_string()))?;
    // Open, then the scratch directory goes: the file streams from its descriptor.
    let body = DownloadBody::open(&out)?;
    drop(scratch);
    log::info!(
        "admin API {}: exported a backup ({} objects, {} bytes) as a download",
        caller.name,
        summary.objects,
        summary.bytes
    );
    download(filename, body)
}

fn download(filename: String, body: DownloadBody) -> Result<Answer, ApiError> {
    Ok(Answer {
        status: 200,
        body: serde_json::Value::Null,
        set_cookie: None,
        download: Some(Download {
            filename,
            content_type: BACKUP_TYPE,
            body,
        }),
    })
}

fn schedule(app: &App) -> Result<&crate::backup::schedule::BackupSettings, ApiError> {
    app.backup
        .as_ref()
        .ok_or_else(|| BackupOpError::NotScheduled.into())
}

/// The schedule in GET /api/v1/backups' metadata (`null` when backups are not scheduled).
#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct Schedule {
    interval_secs: u64,
    keep: usize,
    with_audit: bool,
}

#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct ListMetadata<'a, L: serde::Serialize> {
    schedule: Option<Schedule>,
    last_backup: &'a L,
}

/// GET /api/v1/backups: the schedule, the last backup and the scheduled files.
pub fn list(app: &App, call: &Call) -> Result<Answer, ApiError> {
    let caller = caller(call)?;
    let last = match handlers::execute(app, caller, Request::BackupStatus)? {
        Reply::BackupStatus(status) => status,
        other => return Err(handlers::unexpected(&other)),
    };
    let (files, schedule) = match &app.backup {
        Some(settings) => (
            backups::scheduled_files(&settings.dir)?,
            Some(Schedule {
                interval_secs: settings.interval.as_secs(),
                keep: settings.keep,
                with_audit: settings.with_audit,
            }),
        ),
        None => (Vec::new(), None),
    };
    let total = files.len();
    ok(shape::collection_with(
        "backup.file",
        &files,
        total,
        ListMetadata {
            schedule,
            last_backup: &last,
        },
    ))
}

/// GET /api/v1/backups/{name}: one scheduled backup file (encrypted) as a download.
pub fn fetch(app: &App, call: &Call) -> Result<Answer, ApiError> {
    let caller = caller(call)?;
    let name = param(call, 0)?;
    let path = backups::scheduled_file(&schedule(app)?.dir, name)?;
    let body = DownloadBody::open(&path)?;
    audit_event(
        app,
        actor(caller),
        AuditEvent::success("admin_http.backup.download", vec![name.to_string()]),
    );
    log::info!("admin API {}: downloaded backup {name}", caller.name);
    download(name.to_string(), body)
}

/// POST /api/v1/backups/verify: the body is a backup file, the passphrase in a header.
pub fn verify(app: &App, call: &Call) -> Result<Answer, ApiError> {
    let caller = caller(call)?;
    let passphrase = call.backup_passphrase.as_ref().ok_or_else(|| {
        ApiError::bad_request(format!(
            "send the backup's passphrase in the {PASSPHRASE_HEADER} header and the file as the body"
        ))
    })?;
    if call.body.is_empty() {
        return Err(ApiError::bad_request(
            "the body is empty: send the backup file itself (application/octet-stream)",
        ));
    }
    let verified = backups::verify(call.body.as_slice(), passphrase.as_bytes());
    log::info!(
        "admin API {}: verified an uploaded backup ({} bytes): {}",
        caller.name,
        call.body.len(),
        if verified.is_ok() {
            "intact"
        } else {
            "refused"
        }
    );
    let _ = app;
    ok(shape::single("backup.verification", verified?))
}
