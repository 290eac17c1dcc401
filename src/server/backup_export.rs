//! Online backup export for the admin socket: the export runs on a thread of its own, from one
//! read transaction (a consistent snapshot that never blocks the committer), while the event
//! loop keeps serving; the thread answers the admin peer itself when the file is complete.

use std::io::Write;
use std::os::unix::net::UnixStream;
use std::time::Duration;

use super::Services;
use crate::admin::protocol::{BackupExportRequest, Envelope, PROTOCOL_VERSION, Reply, Request};
use crate::backup::export::{ExportOptions, ExtraSource};
use crate::backup::schedule::export_to_file;

/// Starts the export named by `request` (a [`Request::BackupExport`]) and returns at once.
pub(super) fn spawn(stream: UnixStream, request: Request, services: &Services, uid: u32) {
    let services = services.clone();
    let spawned = std::thread::Builder::new()
        .name("keyward-backup-export".into())
        .spawn(move || {
            let reply = run(request, &services, uid);
            answer(&stream, reply, uid);
        });
    if let Err(e) = spawned {
        log::error!("admin uid {uid}: cannot start the backup export thread: {e}");
    }
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
    let appliance_id = match crate::server::setup::read_appliance_id(services.store.as_ref()) {
        Ok(id) => id.unwrap_or_default(),
        Err(e) => {
            return Reply::Error {
                message: e.to_string(),
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
        .map(|_| crate::audit::backup_source::AuditSource);
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

fn answer(mut stream: &UnixStream, reply: Reply, uid: u32) {
    let _ = stream.set_write_timeout(Some(Duration::from_secs(5)));
    let mut line = match serde_json::to_vec(&Envelope {
        version: PROTOCOL_VERSION,
        body: reply,
    }) {
        Ok(line) => line,
        Err(e) => {
            log::error!("admin socket: cannot encode a reply: {e}");
            return;
        }
    };
    line.push(b'\n');
    if let Err(e) = stream.write_all(&line) {
        log::warn!("admin uid {uid} left before its backup finished: {e}");
    }
}
