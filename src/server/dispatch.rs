//! What becomes of one KMIP request once its session hands it over: answered at once (a
//! refusal, a read on a snapshot, a read journalled before its answer), or sent to the
//! committer, through the key generator first when it draws a slow key pair.
//!
//! Why apart from the loop: the decision is about requests, the engine and the audit log; the
//! loop only needs its verdict ([`Routed`]) and hands changes on with [`submit`], once for
//! every path that leads to the committer.

use std::net::SocketAddr;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::mpsc::Sender;

use super::Services;
use super::committer::WriteJob;
use super::kmip_auth;
use super::read_audit::{self, AuditedRead};
use crate::engine::{ClientIdentity, ParsedRequest, Prepared, Refusal, Response};

/// What the loop does with one request.
pub(super) enum Routed {
    /// Send this now.
    Answer(Response),
    /// Hand it to the committer (or the key generator first); its answer comes back later.
    ToCommit(ParsedRequest),
    /// The engine panicked: answer nothing more on this connection.
    Close,
}

/// Decodes a request, checks its credential and runs it at once when it may be: a refusal,
/// a read without the audit log on a fresh snapshot, or a read journalled before its answer
/// (`read_audit.rs`). Everything else, reads whose record must commit first included, goes to
/// the committer.
pub(super) fn route(
    services: &Services,
    credential: &mut kmip_auth::CredentialCheck,
    identity: &ClientIdentity,
    message: &[u8],
    peer: SocketAddr,
) -> Routed {
    let engine = &services.engine;
    let prepared = catch_unwind(AssertUnwindSafe(|| engine.prepare(identity, message)))
        .map(|p| kmip_auth::gate(p, credential, engine, &identity.owner));
    let journalled = services.audit.as_ref().is_some_and(|a| a.reads.is_some());
    match prepared {
        Ok(Prepared::Respond(response)) => Routed::Answer(response),
        // With the audit log on, reads go through the committer too: their record must commit
        // before the response is released.
        Ok(Prepared::Read(request)) if services.audit.is_none() => {
            run_read(services, &request).map_or(Routed::Close, Routed::Answer)
        }
        // With the read journal, a read's record is written before its answer without waiting
        // for an fsync; a Write that turns out to change nothing is answered the same way.
        Ok(Prepared::Read(request) | Prepared::Write(request)) if journalled => {
            match read_audit::run_with_journal(services, &request, peer) {
                AuditedRead::Answered(Some(response)) => Routed::Answer(response),
                AuditedRead::Answered(None) => Routed::Close,
                AuditedRead::ThroughCommitter => Routed::ToCommit(request),
            }
        }
        Ok(Prepared::Read(request) | Prepared::Write(request)) => Routed::ToCommit(request),
        Err(_) => {
            log::error!("client {peer}: engine panicked on a request; closing the connection");
            Routed::Close
        }
    }
}

/// A read-only request on a fresh snapshot, in the loop thread.
fn run_read(services: &Services, request: &ParsedRequest) -> Option<Response> {
    let engine = &services.engine;
    let result = catch_unwind(AssertUnwindSafe(|| match services.store.read() {
        Ok(view) => engine.read(request, view.as_ref()),
        Err(e) => {
            log::error!("cannot open a read snapshot: {e}");
            engine.refuse(request, Refusal::Store(&e))
        }
    }));
    match result {
        Ok(response) => Some(response),
        Err(_) => {
            log::error!("engine panicked on a read-only request");
            None
        }
    }
}

/// Queues a change for this turn's group commit, or, when it asks for a slow key pair, hands
/// it to the key generator thread first (which passes it on to the committer itself, so it
/// counts as in flight from now on).
pub(super) fn submit(
    job: WriteJob,
    group: &mut Vec<WriteJob>,
    keygen: Option<&Sender<WriteJob>>,
    in_flight: &mut usize,
) {
    match keygen {
        Some(keygen) if job.change.request.needs_slow_generation() => match keygen.send(job) {
            Ok(()) => *in_flight += 1,
            // Only if the generator died: the operation draws inline instead.
            Err(std::sync::mpsc::SendError(job)) => group.push(job),
        },
        _ => group.push(job),
    }
}
