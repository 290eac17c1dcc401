//! Keyward as the import's destination, like the other admin commands: the running server's
//! admin socket when it answers (it seals with its own master key and keeps serving), else the
//! data directory opened here (master key unwrapped, audit records chained). Both end in the
//! same `admin::import::import_batch`.

use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::sync::Arc;

use keyward::admin::import::{
    FactsRequest, ImportRequest, ImportResult, MAX_FACTS, StoredFacts, import_batch, stored_facts,
};
use keyward::admin::protocol::{self, Reply, Request, SOCKET_FILE};
use keyward::appliance::setup::{Appliance, DATABASE_FILE};
use keyward::audit::{Actor, AuditContext};

use super::super::setup::{SetupArgs, load_config};
use super::error::ImportError;

pub enum Keyward {
    Online {
        socket: PathBuf,
    },
    Offline {
        appliance: Box<Appliance>,
        audit: Option<Arc<AuditContext>>,
        actor: Actor,
    },
}

impl Keyward {
    /// Opens Keyward and checks that `client` (when given) is registered there, before any
    /// object is fetched. A connection is never left idle: the running server answers admin
    /// requests in its event loop.
    pub fn open(setup: &SetupArgs, client: Option<&str>) -> Result<Keyward, ImportError> {
        let config = load_config(setup)?;
        let socket = config.data_dir.join(SOCKET_FILE);
        if let Ok(stream) = UnixStream::connect(&socket) {
            let keyward = Keyward::Online { socket };
            // The connection that proved the server runs carries a request at once (an empty
            // one would cost the server a read timeout in its loop).
            let request = match client {
                Some(name) => Request::ShowClient {
                    name: name.to_string(),
                },
                None => Request::ImportFacts(FactsRequest { uids: Vec::new() }),
            };
            keyward.exchange(Some(stream), &request)?;
            return Ok(keyward);
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
        let appliance = Appliance::open(config)?;
        if let Err(reason) = appliance.engine.gate().current() {
            return Err(ImportError::Keyward(format!(
                "the master key is unavailable, nothing can be imported: {reason}"
            )));
        }
        if let Some(name) = client {
            keyward::admin::ops::show_client(appliance.store.as_ref(), name)?;
        }
        Ok(Keyward::Offline {
            audit: appliance.audit_log(),
            appliance: Box::new(appliance),
            actor: keyward::audit::current_user(),
        })
    }

    /// One admin socket exchange (online only); refusals become errors.
    fn exchange(
        &self,
        stream: Option<UnixStream>,
        request: &Request,
    ) -> Result<Reply, ImportError> {
        let Keyward::Online { socket } = self else {
            return Err(ImportError::Keyward(
                "not connected to a running server".into(),
            ));
        };
        let stream = match stream {
            Some(stream) => stream,
            None => UnixStream::connect(socket).map_err(|e| {
                ImportError::Keyward(format!("admin socket {}: {e}", socket.display()))
            })?,
        };
        match protocol::exchange(stream, socket, request)? {
            Reply::Error { message } | Reply::Refused { message, .. } => {
                Err(ImportError::Keyward(message))
            }
            reply => Ok(reply),
        }
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
            Keyward::Online { .. } => {
                match self.exchange(None, &Request::Import(request.clone()))? {
                    Reply::Imported(imported) => Ok(imported.results),
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
                Ok(import_batch(
                    appliance.store.as_ref(),
                    &master,
                    request,
                    by,
                )?)
            }
        }
    }

    /// What Keyward holds under each UID (`None`: nothing), for `import verify`.
    pub fn facts(&self, uids: &[String]) -> Result<Vec<Option<StoredFacts>>, ImportError> {
        let mut out = Vec::with_capacity(uids.len());
        for chunk in uids.chunks(MAX_FACTS) {
            let facts = match self {
                Keyward::Online { .. } => {
                    let request = Request::ImportFacts(FactsRequest {
                        uids: chunk.to_vec(),
                    });
                    match self.exchange(None, &request)? {
                        Reply::ImportFacts(reply) => reply.facts,
                        other => {
                            return Err(ImportError::Keyward(format!(
                                "unexpected answer from the server: {other:?}"
                            )));
                        }
                    }
                }
                Keyward::Offline { appliance, .. } => {
                    let master = appliance
                        .engine
                        .gate()
                        .current()
                        .map_err(ImportError::Keyward)?;
                    stored_facts(appliance.store.as_ref(), &master, chunk)?
                }
            };
            out.extend(facts);
        }
        Ok(out)
    }
}
