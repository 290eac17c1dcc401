//! The routing table of the HTTPS admin API: method, path template, the role it needs and the
//! handler. The table is data so that the OpenAPI document can be checked against it (a test
//! compares the two) and so that each endpoint's authorisation is visible in one line.

use super::accounts::Role;
use super::handlers::{self, Handler};
use super::{appliance, backups, own_account};

/// Who may call a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// No credentials needed (health, the OpenAPI document, login).
    Public,
    /// Any authenticated caller whose role is at least this.
    Role(Role),
}

pub struct Route {
    pub method: &'static str,
    /// OpenAPI-style template: `{name}` matches one path segment.
    pub path: &'static str,
    pub access: Access,
    pub handler: Handler,
}

const fn route(
    method: &'static str,
    path: &'static str,
    access: Access,
    handler: Handler,
) -> Route {
    Route {
        method,
        path,
        access,
        handler,
    }
}

use Access::Public;
const AUDITOR: Access = Access::Role(Role::Auditor);
const OPERATOR: Access = Access::Role(Role::Operator);
const ADMIN: Access = Access::Role(Role::Admin);

// One line per route: the table reads as the API's summary.
#[rustfmt::skip]
pub static ROUTES: &[Route] = &[
    route("GET", "/api/openapi.json", Public, handlers::openapi),
    route("GET", "/api/v1/health", Public, handlers::health),
    route("POST", "/api/v1/login", Public, handlers::login),
    route("POST", "/api/v1/logout", AUDITOR, handlers::logout),
    route("GET", "/api/v1/whoami", AUDITOR, handlers::whoami),
    route("POST", "/api/v1/account/totp", AUDITOR, own_account::enrol_totp),
    route("GET", "/api/v1/status", AUDITOR, handlers::status),
    route("GET", "/api/v1/clients", AUDITOR, handlers::list_clients),
    route("POST", "/api/v1/clients", OPERATOR, handlers::add_client),
    route("POST", "/api/v1/clients/issue", OPERATOR, handlers::issue_client),
    route("POST", "/api/v1/clients/sign-csr", OPERATOR, handlers::sign_csr),
    route("GET", "/api/v1/clients/{name}", AUDITOR, handlers::show_client),
    route("PUT", "/api/v1/clients/{name}/credential", OPERATOR, handlers::set_credential),
    route("DELETE", "/api/v1/clients/{name}/credential", OPERATOR, handlers::clear_credential),
    // Removing with `destroyKeys=true` additionally needs the admin role (checked inside).
    route("DELETE", "/api/v1/clients/{name}", OPERATOR, handlers::remove_client),
    route("GET", "/api/v1/keys", AUDITOR, handlers::list_keys),
    route("GET", "/api/v1/keys/{uid}", AUDITOR, handlers::show_key),
    route("POST", "/api/v1/keys/{uid}/revoke", OPERATOR, handlers::revoke_key),
    route("DELETE", "/api/v1/keys/{uid}", ADMIN, handlers::destroy_key),
    route("GET", "/api/v1/audit", AUDITOR, handlers::audit_query),
    route("GET", "/api/v1/audit/verify", AUDITOR, handlers::audit_verify),
    route("GET", "/api/v1/audit/export", AUDITOR, handlers::audit_export),
    route("GET", "/api/v1/server/certificate", AUDITOR, handlers::server_certificate),
    route("POST", "/api/v1/server/certificate/renew", ADMIN, appliance::renew_server_certificate),
    route("GET", "/api/v1/certificates/expiring", AUDITOR, appliance::expiring),
    route("GET", "/api/v1/root-key", AUDITOR, appliance::root_key),
    route("GET", "/api/v1/cluster/nodes", AUDITOR, appliance::cluster_nodes),
    route("GET", "/api/v1/backups", OPERATOR, backups::list),
    route("POST", "/api/v1/backups", OPERATOR, backups::export_now),
    route("POST", "/api/v1/backups/verify", OPERATOR, backups::verify),
    route("GET", "/api/v1/backups/{name}", OPERATOR, backups::fetch),
    route("GET", "/api/v1/approvals", ADMIN, handlers::list_approvals),
    route("POST", "/api/v1/approvals/{id}/approve", ADMIN, handlers::approve),
    route("DELETE", "/api/v1/approvals/{id}", ADMIN, handlers::reject),
];

/// Routes whose body is an uploaded file, allowed `[admin_http] max_upload_mib` instead of
/// `max_body_kib`.
pub fn takes_upload(method: &str, path: &str) -> bool {
    method == "POST" && path.trim_end_matches('/') == "/api/v1/backups/verify"
}

/// What matching a request found.
pub enum Matched<'a> {
    Route(&'a Route, Vec<String>),
    /// The path exists, not with this method.
    WrongMethod,
    NotFound,
}

/// Finds the route for `method` and `path`; the path's `{…}` segments come back decoded.
pub fn find(method: &str, path: &str) -> Matched<'static> {
    let segments: Vec<&str> = path.trim_end_matches('/').split('/').collect();
    let mut path_known = false;
    for route in ROUTES {
        let template: Vec<&str> = route.path.split('/').collect();
        if template.len() != segments.len() {
            continue;
        }
        let mut params = Vec::new();
        let fits = template.iter().zip(&segments).all(|(t, s)| {
            if t.starts_with('{') {
                let decoded = percent_encoding::percent_decode_str(s).decode_utf8();
                match decoded {
                    Ok(value) if !value.is_empty() && !value.contains('/') => {
                        params.push(value.into_owned());
                        true
                    }
                    _ => false,
                }
            } else {
                t == s
            }
        });
        if !fits {
            continue;
        }
        if route.method == method {
            return Matched::Route(route, params);
        }
        path_known = true;
    }
    if path_known {
        Matched::WrongMethod
    } else {
        Matched::NotFound
    }
}
