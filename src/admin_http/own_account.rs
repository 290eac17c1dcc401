//! What an account does for itself over the API: enrol its own second factor (TOTP), which
//! before needed a shell and `keyward admin-user totp enable`. Kept apart from the handlers that
//! act on keys and clients because the caller here is the subject: API tokens (no password, no
//! second factor of their own) are refused, and the current password is asked again so that
//! a session left open in a browser cannot bind somebody else's authenticator to the account.

use serde::Deserialize;
use serde::Serialize;

use super::handlers::{Answer, App, Call, actor, audit_event, caller, json_body, ok};
use super::shape;
use crate::audit::AuditEvent;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Enrolment {
    /// The account's current password.
    password: crate::backup::passphrase::SecretText,
    /// The current code of the authenticator enrolled before, when replacing it.
    #[serde(default)]
    otp: Option<String>,
}

/// POST /api/v1/account/totp: a new TOTP secret for the calling account, shown once as an
/// otpauth:// URI; from the next login on, the account needs a code.
/// POST /api/v1/account/totp: the secret as an otpauth URI, shown once. No `Debug`: it holds
/// the secret.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct TotpEnrolment<'a> {
    account: &'a str,
    otpauth_uri: &'a str,
}

pub fn enrol_totp(app: &App, call: &Call) -> Result<Answer, super::handlers::ApiError> {
    let caller = caller(call)?;
    if caller.name.starts_with("token:") {
        return Err(super::handlers::ApiError::new(
            403,
            "FORBIDDEN_ERR",
            "API tokens have no second factor; log in with the account to enrol its own",
        ));
    }
    let enrolment: Enrolment = json_body(call)?;
    let peer = call.peer.ip();
    match app.gatekeeper.enrol_totp(
        &caller.name,
        enrolment.password.expose().as_bytes(),
        enrolment.otp.as_deref(),
        peer,
    ) {
        Ok(secret) => {
            audit_event(
                app,
                actor(caller),
                AuditEvent::success("admin_http.totp.enrol", vec![caller.name.clone()]),
            );
            log::info!(
                "admin API: {} enrolled a TOTP authenticator from {peer}",
                caller.name
            );
            let uri = secret.otpauth_uri(&caller.name);
            ok(shape::single(
                "totp.enrolment",
                TotpEnrolment {
                    account: &caller.name,
                    otpauth_uri: uri.as_str(),
                },
            ))
        }
        Err(e) => {
            log::warn!(
                "admin API: {} could not enrol TOTP from {peer}: {e}",
                caller.name
            );
            audit_event(
                app,
                actor(caller),
                AuditEvent::failure(
                    "admin_http.totp.enrol",
                    vec![caller.name.clone()],
                    e.to_string(),
                ),
            );
            Err(e.into())
        }
    }
}
