//! Keyward as the import's destination, like the other admin commands: the running server's
//! admin socket when it answers (it seals with its own master key and keeps serving), else the
//! data directory opened here (master key unwrapped, audit records chained). Both end in the
//! same `admin::import::import_batch`.

use std::cell::RefCell;
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::sync::Arc;

use keyward::admin::import::{ImportRequest, ImportResult, import_batch};
use keyward::admin::protocol::{self, Reply, Request, SOCKET_FILE};
use keyward::audit::{Actor, AuditContext};
use keyward::server::setup::{Appliance, DATABASE_FILE};

use super::error::ImportError;
use crate::{SetupArgs, load_config};

pub enum Keyward {
    Online {
        socket: PathBuf,
        /// The connection that proved the server runs, used for the first request.
        first: RefCell<Option<UnixStream>>,
    },
    Offline {
        appliance: Box<Appliance>,
        audit: Option<Arc<AuditContext>>,
        actor: Actor,
    },
}

impl Keyward {
    pub fn open(setup: &SetupArgs) -> Result<Keyward, ImportError> {
        let config = load_config(setup).map_err(ImportError::Keyward)?;
        let socket = config.data_dir.join(SOCKET_FILE);
        if let Ok(stream) = UnixStream::connect(&socket) {
            return Ok(Keyward::Online {
                socket,
                first: RefCell::new(Some(stream)),
            });
        }
        let database = config.data_dir.join(DATABASE_FILE);
        if config.cluster.is_none() && !database.is_file() {
            return Err(ImportError::Keyward(format!(
                "no server answers on {} and there is no database at {}; run `keyward init` \
                 or start the server first",
                socket.display(),
                database.display()
            )));
        }
        let appliance = Appliance::open(config).map_err(|e| ImportError::Keyward(e.to_string()))?;
        if let Err(reason) = appliance.engine.gate().current() {
            return Err(ImportError::Keyward(format!(
                "the master key is unavailable, nothing can be imported: {reason}"
            )));
        }
        Ok(Keyward::Offline {
            audit: appliance.audit_log(),
            appliance: Box::new(appliance),
            actor: keyward::audit::current_user(),
        })
    }

    /// "through the running server" or "offline, on DIR".
    pub fn describe(&self) -> String {
        match self {
            Keyward::Online { .. } => "through the running server's admin socket".into(),
            Keyward::Offline { appliance, .. } => match &appliance.config.cluster {
                Some(_) => "offline, on the cluster's shared store".into(),
                None => format!("offline, on {}", appliance.config.data_dir.display()),
            },
        }
    }

    /// Imports one batch; `Err` when Keyward refused the whole batch (nothing of it kept).
    pub fn import(&self, request: &ImportRequest) -> Result<Vec<ImportResult>, ImportError> {
        match self {
            Keyward::Online { socket, first } => {
                let stream = match first.borrow_mut().take() {
                    Some(stream) => stream,
                    None => UnixStream::connect(socket).map_err(|e| {
                        ImportError::Keyward(format!("admin socket {}: {e}", socket.display()))
                    })?,
                };
                match protocol::exchange(stream, socket, &Request::Import(request.clone()))
                    .map_err(ImportError::Keyward)?
                {
                    Reply::Imported { results } => Ok(results),
                    Reply::Error { message } | Reply::Refused { message, .. } => {
                        Err(ImportError::Keyward(message))
                    }
                    other => Err(ImportError::Keyward(format!(
                        "unexpected answer from the server: {other:?}"
                    ))),
                }
            }
            Keyward::Offline {
                appliance,
                audit,
                actor,
            } => {
                let master = appliance
                    .engine
                    .gate()
                    .current()
                    .map_err(ImportError::Keyward)?;
                let by = audit.as_deref().map(|ctx| (ctx, actor));
                import_batch(appliance.store.as_ref(), &master, request, by)
                    .map_err(|e| ImportError::Keyward(e.to_string()))
            }
        }
    }
}
