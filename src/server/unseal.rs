//! Unsealing by an operator's passphrase (`[root] seal_at_start`): the passphrase is never
//! stored, so the server starts sealed, and an operator types it into `keyward unseal` (or the
//! appliance console, which runs that command). The admin socket hands the request to a thread
//! of its own here, because the Argon2id derivation takes a noticeable fraction of a second
//! the event loop must not spend; the thread fills the engine's master key slot and answers.

use std::os::unix::net::UnixStream;
use std::path::Path;

use super::Services;
use crate::admin::protocol::{Refusal, Reply, Request};
use crate::audit::{self, Actor, AuditContext, AuditEvent};
use crate::engine::KeyGate;
use crate::seal::{SealError, local::LocalRoot};
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
    let master =
        crate::store::master_key::open_existing_master_key(store, &root).map_err(|e| match e {
            // unwrap_stored names a failed authentication as the provider's refusal.
            SealError::Provider { .. } | SealError::Authentication => UnsealError::WrongPassphrase,
            other => UnsealError::Seal(other),
        })?;
    gate.install(master);
    Ok(())
}

/// Starts the unseal named by `request` (a [`Request::Unseal`]) and returns at once.
pub(super) fn spawn(stream: UnixStream, request: Request, services: &Services, uid: u32) {
    super::admin_thread::answer_on_thread(
        stream,
        request,
        services,
        uid,
        ("keyward-unseal", "unseal"),
        run,
    );
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::appliance::setup::{Appliance, PASSPHRASE_PARAMS_FILE};
    use crate::config::Config;

    const PASSPHRASE: &str = "Granite-Orchard-19-river";

    fn config(dir: &Path) -> Config {
        let text = format!(
            "data_dir = \"{}\"\n[root]\nseal_at_start = true\n",
            dir.display()
        );
        Config::from_toml(&text, "test").expect("config")
    }

    #[test]
    fn a_sealed_start_opens_only_with_the_operators_passphrase() {
        let dir = tempfile::tempdir().expect("temp dir");
        // A first run has no master key to wait for: it needs the passphrase.
        let Err(refused) = Appliance::open(config(dir.path())) else {
            panic!("a first sealed start without the passphrase opened");
        };
        assert!(
            refused.to_string().contains("--passphrase-stdin"),
            "{refused}"
        );
        let made = Appliance::open_with(config(dir.path()), Some(PASSPHRASE.as_bytes()))
            .expect("first run with the passphrase");
        assert!(made.sealed_at_start.is_none());
        drop(made);
        assert!(!dir.path().join("root.key").exists(), "no stored root key");

        let appliance = Appliance::open(config(dir.path())).expect("sealed start");
        assert_eq!(
            appliance.sealed_at_start.as_deref(),
            Some(AWAITING_PASSPHRASE)
        );
        let gate = appliance.engine.gate();
        let store = appliance.store.as_ref();
        let params = dir.path().join(PASSPHRASE_PARAMS_FILE);
        let actor = Actor::System;
        let by = Some((appliance.audit.as_ref(), &actor));

        let wrong = unseal_with_passphrase(store, gate, &params, b"Not-The-Passphrase-1", by);
        assert!(
            matches!(wrong, Err(UnsealError::WrongPassphrase)),
            "{wrong:?}"
        );
        assert!(gate.is_sealed());
        let missing = unseal_with_passphrase(store, gate, &dir.path().join("nope"), b"x", by);
        assert!(
            matches!(missing, Err(UnsealError::NoParameters { .. })),
            "{missing:?}"
        );

        unseal_with_passphrase(store, gate, &params, PASSPHRASE.as_bytes(), by).expect("unseal");
        assert!(!gate.is_sealed());
        let again = unseal_with_passphrase(store, gate, &params, PASSPHRASE.as_bytes(), by);
        assert!(
            matches!(again, Err(UnsealError::AlreadyUnsealed)),
            "{again:?}"
        );

        // Every attempt is in the audit log; the failures were kept pending while sealed and
        // are chained now that the key is held.
        let view = store.read().expect("read");
        let key = appliance.audit.key().expect("chain key");
        let verified = crate::audit::verify::verify(&*view, key).expect("verify");
        assert!(verified.is_intact(), "{verified:?}");
        let records = crate::audit::query::select(
            &*view,
            &crate::audit::query::Filter {
                op: Some(UNSEAL_EVENT.into()),
                ..Default::default()
            },
            usize::MAX,
        )
        .expect("select");
        let outcomes: Vec<_> = records
            .iter()
            .map(|r| format!("{:?}", r.record.outcome))
            .collect();
        assert_eq!(outcomes, ["Failure", "Failure", "Success", "Failure"]);
    }

    #[test]
    fn seal_at_start_needs_the_local_root_without_a_stored_passphrase() {
        for extra in [
            "passphrase_file = \"/etc/keyward/passphrase\"\n",
            "provider = \"keyprotect\"\n[keyprotect]\ninstance_id = \"i\"\nroot_key_id = \"k\"\n\
             region = \"us-south\"\n",
        ] {
            let text = format!("[root]\nseal_at_start = true\n{extra}");
            let err = Config::from_toml(&text, "test").expect_err(extra);
            assert!(err.to_string().contains("seal_at_start"), "{err}");
        }
    }
}
