//! Online backup export for the admin socket: the export runs on a thread of its own, from one
//! read transaction (a consistent snapshot that never blocks the committer), while the event
//! loop keeps serving; the thread answers the admin peer itself when the file is complete.

use std::os::unix::net::UnixStream;

use super::Services;
use crate::admin::protocol::{BackupExportRequest, Reply, Request};
use crate::backup::export::{ExportOptions, ExtraSource};
use crate::backup::schedule::export_to_file;

/// Starts the export named by `request` (a [`Request::BackupExport`]) and returns at once.
pub(super) fn spawn(stream: UnixStream, request: Request, services: &Services, uid: u32) {
    super::admin_thread::answer_on_thread(
        stream,
        request,
        services,
        uid,
        ("keyward-backup-export", "backup export"),
        run,
    );
}

fn run(request: Request, services: &Services, uid: u32) -> Reply {
    let Request::BackupExport(BackupExportRequest {
        out,
        passphrase,
        kdf,
        with_audit,
    }) = request
    else {
        return Reply::Error {
            message: "not a backup export request".into(),
        };
    };
    if !out.is_absolute() {
        return Reply::Error {
            message: format!(
                "the server writes the backup, so the path must be absolute: {}",
                out.display()
            ),
        };
    }
    let appliance_id = match crate::store::appliance_id::read_appliance_id(services.store.as_ref())
    {
        Ok(id) => id.unwrap_or_default(),
        Err(e) => {
            return Reply::Error {
                message: format!("store: {e}"),
            };
        }
    };
    let mut options = ExportOptions::new(&appliance_id);
    if let Some(kdf) = kdf {
        options.kdf = kdf;
    }
    let source = services
        .audit
        .as_deref()
        .map(|_| crate::backup::audit_source::AuditSource);
    let extras: Vec<&dyn ExtraSource> = match &source {
        Some(source) if with_audit => vec![source as &dyn ExtraSource],
        Some(_) => Vec::new(),
        None => {
            if with_audit {
                log::warn!(
                    "admin uid {uid}: --with-audit requested, but this server keeps no audit log"
                );
            }
            Vec::new()
        }
    };
    let actor = crate::audit::user_actor(uid);
    log::info!("admin uid {uid}: exporting a backup to {}", out.display());
    match export_to_file(
        services.store.as_ref(),
        services.engine.gate(),
        passphrase.expose().as_bytes(),
        &options,
        &extras,
        &out,
        &mut |_| {},
        services.audit.as_deref().map(|ctx| (ctx, &actor)),
    ) {
        Ok(summary) => {
            log::info!(
                "admin uid {uid}: backup {} written ({} objects, {} bytes)",
                out.display(),
                summary.objects,
                summary.bytes
            );
            Reply::BackupExported(summary)
        }
        Err(e) => {
            log::error!(
                "admin uid {uid}: backup export to {} failed: {e}",
                out.display()
            );
            Reply::Error {
                message: e.to_string(),
            }
        }
    }
}
