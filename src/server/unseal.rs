//! Unsealing by an operator's passphrase (`[root] seal_at_start`): the passphrase is never
//! stored, so the server starts sealed, and an operator types it into `keyward unseal` (or the
//! appliance console, which runs that command). The admin socket hands the request to a thread
//! of its own here, because the Argon2id derivation takes a noticeable fraction of a second
//! the event loop must not spend; the thread fills the engine's master key slot and answers.

use std::io::Write;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

use super::Services;
use crate::admin::protocol::{Envelope, PROTOCOL_VERSION, Refusal, Reply, Request};
use crate::audit::{self, Actor, AuditContext, AuditEvent};
use crate::engine::KeyGate;
use crate::seal::{self, SealError, local::LocalRoot};
use crate::store::{Store, StoreError};

/// Why a `seal_at_start` appliance is sealed until an operator unseals it. Shown by `/healthz`,
/// `keyward status` and every KMIP request that needs key material.
pub const AWAITING_PASSPHRASE: &str = "sealed at start: the root key passphrase is not stored \
     on this appliance; an operator unseals it with `keyward unseal` (or the console menu)";

/// Audit operation of an unseal attempt.
pub const UNSEAL_EVENT: &str = "root.unseal";

#[derive(Debug, thiserror::Error)]
pub enum UnsealError {
    #[error(
        "this appliance does not unseal by passphrase ([root] seal_at_start is off); a sealed \
         Key Protect appliance unseals by itself once its root key is back"
    )]
    NotPassphraseMode,
    #[error("already unsealed")]
    AlreadyUnsealed,
    #[error("the Argon2 parameters of the passphrase ({path}) are missing")]
    NoParameters { path: String },
    #[error("wrong passphrase: it does not open this appliance's master key")]
    WrongPassphrase,
    #[error("key hierarchy: {0}")]
    Seal(#[source] SealError),
    #[error("store: {0}")]
    Store(#[from] StoreError),
}

/// Derives the root key from `passphrase`, unwraps the stored master key with it and installs
/// it in `gate`; records the attempt (success or failure) in the audit log as `by`.
pub fn unseal_with_passphrase(
    store: &dyn Store,
    gate: &KeyGate,
    params: &Path,
    passphrase: &[u8],
    by: Option<(&AuditContext, &Actor)>,
) -> Result<(), UnsealError> {
    let result = derive_and_install(store, gate, params, passphrase);
    if let Some((ctx, actor)) = by {
        let event = match &result {
            Ok(()) => AuditEvent::success(UNSEAL_EVENT, Vec::new()),
            Err(e) => AuditEvent::failure(UNSEAL_EVENT, Vec::new(), e.to_string()),
        };
        // After a success the chain key is held: this record also chains the ones kept
        // pending while sealed.
        let mut txn = store.write()?;
        audit::record(txn.as_mut(), ctx, actor.clone(), event).map_err(StoreError::from)?;
        txn.commit()?;
    }
    result
}

fn derive_and_install(
    store: &dyn Store,
    gate: &KeyGate,
    params: &Path,
    passphrase: &[u8],
) -> Result<(), UnsealError> {
    if !gate.is_sealed() {
        return Err(UnsealError::AlreadyUnsealed);
    }
    // from_passphrase would make fresh parameters, which can only derive a wrong key.
    if !params.is_file() {
        return Err(UnsealError::NoParameters {
            path: params.display().to_string(),
        });
    }
    let root = LocalRoot::from_passphrase(passphrase, params).map_err(UnsealError::Seal)?;
    let master = seal::open_existing_master_key(store, &root).map_err(|e| match e {
        // unwrap_stored names a failed authentication as the provider's refusal.
        SealError::Provider { .. } | SealError::Authentication => UnsealError::WrongPassphrase,
        other => UnsealError::Seal(other),
    })?;
    gate.install(master);
    Ok(())
}

/// Starts the unseal named by `request` (a [`Request::Unseal`]) and returns at once.
pub(super) fn spawn(stream: UnixStream, request: Request, services: &Services, uid: u32) {
    let services = services.clone();
    let spawned = std::thread::Builder::new()
        .name("keyward-unseal".into())
        .spawn(move || {
            let reply = run(request, &services, uid);
            answer(&stream, reply, uid);
        });
    if let Err(e) = spawned {
        log::error!("admin uid {uid}: cannot start the unseal thread: {e}");
    }
}

fn run(request: Request, services: &Services, uid: u32) -> Reply {
    let Request::Unseal { passphrase } = request else {
        return Reply::Error {
            message: "not an unseal request".into(),
        };
    };
    let actor = audit::user_actor(uid);
    let result = match &services.passphrase_params {
        None => Err(UnsealError::NotPassphraseMode),
        Some(params) => unseal_with_passphrase(
            services.store.as_ref(),
            services.engine.gate(),
            params,
            passphrase.expose().as_bytes(),
            services.audit.as_deref().map(|ctx| (ctx, &actor)),
        ),
    };
    match result {
        Ok(()) => {
            log::info!("admin uid {uid}: unsealed with the operator's passphrase");
            Reply::Done
        }
        Err(e @ (UnsealError::AlreadyUnsealed | UnsealError::NotPassphraseMode)) => {
            Reply::Refused {
                kind: Refusal::WrongState,
                message: e.to_string(),
            }
        }
        Err(e) => {
            log::warn!("admin uid {uid}: unseal refused: {e}");
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
        log::warn!("admin uid {uid} left before its unseal finished: {e}");
    }
}
