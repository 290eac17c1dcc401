//! From a read request to an answer: find the route, authenticate and authorise the caller
//! for it, run the handler. Synchronous and independent of the HTTP crate, so it runs on the
//! blocking pool and the transport stays a thin layer.

use std::net::SocketAddr;

use super::handlers::{Answer, ApiError, App, Call};
use super::routes::{self, Access, Matched};
use super::{auth, shape};

/// What the transport passes in.
pub struct Incoming {
    pub method: String,
    pub path: String,
    pub query: Option<String>,
    pub authorization: Option<String>,
    /// The console's session cookie and the CSRF header beside it.
    pub cookie_session: Option<String>,
    pub csrf: Option<String>,
    pub body: Vec<u8>,
    pub peer: SocketAddr,
    pub backup_passphrase: Option<zeroize::Zeroizing<String>>,
}

/// The answer (a JSON body, or a download), errors shaped like IBM's.
pub fn dispatch(app: &App, incoming: Incoming) -> Answer {
    match answer(app, incoming) {
        Ok(answer) => answer,
        Err(e) => Answer {
            status: e.status,
            body: shape::error(e.status, e.code, &e.message),
            set_cookie: None,
            download: None,
        },
    }
}

/// Whether the caller of `incoming` (its head: the body is not read yet) may call its route;
/// an upload's body is read only after this, so an unauthenticated peer cannot make the server
/// buffer `max_upload_mib`.
pub fn admit(app: &App, incoming: &Incoming) -> Result<(), ApiError> {
    authorize(app, incoming).map(|_| ())
}

type Authorized = (
    &'static routes::Route,
    Vec<String>,
    Option<super::auth::Caller>,
);

fn authorize(app: &App, incoming: &Incoming) -> Result<Authorized, ApiError> {
    let (route, params) = match routes::find(&incoming.method, &incoming.path) {
        Matched::Route(route, params) => (route, params),
        Matched::WrongMethod => {
            return Err(ApiError::new(
                405,
                "METHOD_NOT_ALLOWED_ERR",
                format!("{} is not allowed on {}", incoming.method, incoming.path),
            ));
        }
        Matched::NotFound => {
            return Err(ApiError::new(
                404,
                "NOT_FOUND_ERR",
                format!("no endpoint {}; see /api/openapi.json", incoming.path),
            ));
        }
    };
    let caller = match route.access {
        Access::Public => None,
        Access::Role(need) => {
            let caller = match (&incoming.authorization, &incoming.cookie_session) {
                (None, Some(session)) => app.gatekeeper.authenticate_cookie(
                    session,
                    incoming.csrf.as_deref(),
                    incoming.method != "GET",
                )?,
                (authorization, _) => app.gatekeeper.authenticate(authorization.as_deref())?,
            };
            if let Err(refused) = auth::require(&caller, need) {
                log::warn!(
                    "admin API: {} ({}) refused {} {}",
                    caller.name,
                    caller.role.label(),
                    incoming.method,
                    incoming.path
                );
                return Err(refused.into());
            }
            Some(caller)
        }
    };
    Ok((route, params, caller))
}

fn answer(app: &App, incoming: Incoming) -> Result<Answer, ApiError> {
    let (route, params, caller) = authorize(app, &incoming)?;
    let query = incoming
        .query
        .as_deref()
        .map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
        .unwrap_or_default();
    let token = incoming
        .authorization
        .as_deref()
        .and_then(|h| h.strip_prefix("Bearer "))
        .map(str::to_string)
        .or(incoming.cookie_session);
    let call = Call {
        params,
        query,
        body: incoming.body,
        token,
        caller,
        peer: incoming.peer,
        backup_passphrase: incoming.backup_passphrase,
    };
    (route.handler)(app, &call)
}
