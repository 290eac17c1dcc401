//! `keyward import` through a running server: each batch (seal, write, audit, commit) runs on a
//! thread of its own, like an online backup export, so the event loop keeps serving KMIP while
//! a thousand keys arrive; the thread answers the admin peer itself. Requests come one batch
//! at a time from the CLI, so there is at most one such thread per running import.

use std::os::unix::net::UnixStream;

use super::Services;
use crate::admin::import::{FactsReply, ImportResults, Verdict, import_batch, stored_facts};
use crate::admin::ops;
use crate::admin::protocol::{Reply, Request};

/// Whether `request` is handled here rather than in the event loop.
pub(super) fn handles(request: &Request) -> bool {
    matches!(request, Request::Import(_) | Request::ImportFacts(_))
}

/// Starts the import (or facts) request on a thread and returns at once.
pub(super) fn spawn(stream: UnixStream, request: Request, services: &Services, uid: u32) {
    super::admin_thread::answer_on_thread(
        stream,
        request,
        services,
        uid,
        ("keyward-import", "import"),
        |request, services, uid| run(&request, services, uid),
    );
}

fn run(request: &Request, services: &Services, uid: u32) -> Reply {
    let master = match services.engine.gate().current() {
        Ok(master) => master,
        Err(reason) => {
            return Reply::Error {
                message: format!("the server is sealed, nothing can be imported: {reason}"),
            };
        }
    };
    match request {
        Request::Import(import) => {
            let actor = crate::audit::user_actor(uid);
            let by = services.audit.as_deref().map(|ctx| (ctx, &actor));
            match import_batch(services.store.as_ref(), &master, import, by) {
                Ok(results) => {
                    let imported = results
                        .iter()
                        .filter(|r| r.verdict == Verdict::Imported)
                        .count();
                    if imported > 0 && !import.dry_run {
                        log::info!(
                            "admin uid {uid}: imported {imported} object(s) from {} for client {:?}",
                            import.source,
                            import.client
                        );
                    }
                    Reply::Imported(ImportResults { results })
                }
                Err(e) => ops::error_reply(e),
            }
        }
        Request::ImportFacts(asked) => {
            match stored_facts(services.store.as_ref(), &master, &asked.uids) {
                Ok(facts) => Reply::ImportFacts(FactsReply { facts }),
                Err(e) => ops::error_reply(e),
            }
        }
        _ => Reply::Error {
            message: "not an import request".into(),
        },
    }
}
