//! Errors of the Key Protect layer, and how an HTTP answer from Key Protect or IAM maps to them.
//!
//! No variant ever carries the API key, an IAM token or key material: messages are built only
//! from status codes, Key Protect error codes, Key Protect's own error text and correlation ids.

use serde::Deserialize;

/// What went wrong talking to IAM or Key Protect, and whose fault it is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KpError {
    /// The `[keyprotect]` configuration is unusable (operator).
    #[error("Key Protect configuration: {0}")]
    Config(String),
    /// The API key could not be read (operator: file, permissions or environment).
    #[error("Key Protect API key: {0}")]
    ApiKey(String),
    /// IAM refused the API key, or Key Protect refused a fresh token (missing role, network
    /// policy, wrong instance). Operator/customer: check the service ID and its access.
    #[error(
        "access denied by {service} (HTTP {status}): {message} [correlation-id {correlation_id}]"
    )]
    Unauthorized {
        service: &'static str,
        status: u16,
        message: String,
        correlation_id: String,
    },
    /// The CRK is disabled (suspended, state 2) or otherwise not active: customer revocation.
    #[error("the root key is disabled in Key Protect: {message} [correlation-id {correlation_id}]")]
    KeyDisabled {
        message: String,
        correlation_id: String,
    },
    /// The CRK was deleted (state 5, HTTP 410): customer revocation, restorable for 30 days.
    #[error("the root key was deleted in Key Protect: {message} [correlation-id {correlation_id}]")]
    KeyDeleted {
        message: String,
        correlation_id: String,
    },
    /// The CRK does not exist (wrong id, or purged): only an offline backup can recover.
    #[error(
        "the root key does not exist in Key Protect: {message} [correlation-id {correlation_id}]"
    )]
    NotFound {
        message: String,
        correlation_id: String,
    },
    /// Key Protect rejected the wrapped master key: wrong associated data (another appliance's
    /// blob?) or a corrupted blob. Never transient.
    #[error(
        "Key Protect cannot unwrap this ciphertext (wrong appliance id / associated data, or a \
         corrupted blob): {message} [correlation-id {correlation_id}]"
    )]
    InvalidCiphertext {
        message: String,
        correlation_id: String,
    },
    /// Any other refusal (4xx): a configuration error (e.g. a standard key instead of a root
    /// key) or a bug in this client.
    #[error(
        "Key Protect refused the request (HTTP {status}, {code}): {message} [correlation-id {correlation_id}]"
    )]
    Rejected {
        status: u16,
        code: String,
        message: String,
        correlation_id: String,
    },
    /// The TLS connection failed for a reason retrying cannot fix: an untrusted or invalid
    /// certificate (wrong `ca_file`, a TLS-inspecting proxy, or an attack).
    #[error("TLS with {service} failed: {message} (check ca_file and proxy)")]
    Tls {
        service: &'static str,
        message: String,
    },
    /// IAM or Key Protect could not be reached, or kept answering 429/5xx, for every attempt.
    #[error("{service} unreachable after {attempts} attempt(s): {last_error}")]
    Unreachable {
        service: &'static str,
        attempts: u32,
        last_error: String,
    },
    /// An answer that does not have the documented shape (Key Protect or IAM at fault).
    #[error("unexpected answer from {service}: {detail}")]
    BadResponse {
        service: &'static str,
        detail: String,
    },
}

impl KpError {
    pub(crate) fn bad_response(service: &'static str, detail: impl Into<String>) -> KpError {
        KpError::BadResponse {
            service,
            detail: detail.into(),
        }
    }

    /// True when the root key itself is revoked or gone: the appliance must seal.
    pub fn is_revocation(&self) -> bool {
        matches!(
            self,
            KpError::KeyDisabled { .. } | KpError::KeyDeleted { .. } | KpError::NotFound { .. }
        )
    }

    /// True for outages (network, 429, 5xx): keep serving, retry later.
    pub fn is_unreachable(&self) -> bool {
        matches!(self, KpError::Unreachable { .. })
    }
}

/// Statuses worth another attempt: throttling and server errors except "not implemented".
pub(crate) fn is_retryable_status(status: u16) -> bool {
    status == 429 || ((500..600).contains(&status) && status != 501)
}

#[derive(Deserialize, Default)]
struct ErrorBody {
    #[serde(default)]
    resources: Vec<ErrorResource>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct ErrorResource {
    #[serde(default)]
    error_msg: Option<String>,
    #[serde(default)]
    reasons: Vec<ErrorReason>,
}

#[derive(Deserialize, Default)]
struct ErrorReason {
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    message: Option<String>,
}

/// Longest piece of a server's error text kept in an error: enough to diagnose, bounded so a
/// misbehaving server cannot flood logs.
const MAX_MESSAGE: usize = 300;

fn bounded(text: &str) -> String {
    let mut out: String = text
        .chars()
        .filter(|c| !c.is_control())
        .take(MAX_MESSAGE)
        .collect();
    if text.chars().count() > MAX_MESSAGE {
        out.push('…');
    }
    out
}

/// Maps a non-2xx Key Protect answer: the status decides first, the trimmed error code second.
pub(crate) fn from_kp_status(status: u16, body: &[u8], correlation_id: &str) -> KpError {
    let parsed: ErrorBody = serde_json::from_slice(body).unwrap_or_default();
    let resource = parsed.resources.into_iter().next().unwrap_or_default();
    let code = resource
        .reasons
        .first()
        .and_then(|r| r.code.as_deref())
        .map(str::trim)
        .unwrap_or("")
        .to_string();
    let reason_message = resource.reasons.first().and_then(|r| r.message.clone());
    let message = bounded(
        match (&resource.error_msg, &reason_message) {
            (Some(msg), Some(reason)) => format!("{msg} ({reason})"),
            (Some(msg), None) => msg.clone(),
            (None, Some(reason)) => reason.clone(),
            (None, None) => format!("HTTP {status} without an error body"),
        }
        .as_str(),
    );
    let correlation_id = correlation_id.to_string();
    match (status, code.as_str()) {
        (401 | 403, _) => KpError::Unauthorized {
            service: "Key Protect",
            status,
            message,
            correlation_id,
        },
        (404, _) => KpError::NotFound {
            message,
            correlation_id,
        },
        (410, _) => KpError::KeyDeleted {
            message,
            correlation_id,
        },
        (409, "KEY_ACTION_INVALID_STATE_ERR") => KpError::KeyDisabled {
            message,
            correlation_id,
        },
        (400, "INVALID_FIELD_ERR") | (422, _) => KpError::InvalidCiphertext {
            message,
            correlation_id,
        },
        _ => KpError::Rejected {
            status,
            code: if code.is_empty() { "-".into() } else { code },
            message,
            correlation_id,
        },
    }
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct IamErrorBody {
    #[serde(default)]
    error_code: Option<String>,
    #[serde(default)]
    error_message: Option<String>,
}

/// Maps a non-2xx, non-retryable IAM answer. IAM answers 400 (sometimes 401) to an unknown
/// API key; either way the operator must fix the key or the service ID.
pub(crate) fn from_iam_status(status: u16, body: &[u8], correlation_id: &str) -> KpError {
    let parsed: IamErrorBody = serde_json::from_slice(body).unwrap_or_default();
    let message = bounded(&format!(
        "{} {}",
        parsed.error_code.as_deref().unwrap_or("-"),
        parsed
            .error_message
            .as_deref()
            .unwrap_or("the API key was not accepted")
    ));
    KpError::Unauthorized {
        service: "IAM",
        status,
        message,
        correlation_id: correlation_id.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_trimmed_and_status_decides_first() {
        let body = br#"{"metadata":{"collectionType":"application/vnd.ibm.kms.error+json","collectionTotal":1},
          "resources":[{"errorMsg":"Conflict: Key is not in active state","reasons":[{"code":" KEY_ACTION_INVALID_STATE_ERR","message":"Key is not in a valid state","status":409}]}]}"#;
        assert!(matches!(
            from_kp_status(409, body, "c1"),
            KpError::KeyDisabled { .. }
        ));
        let rotation = br#"{"resources":[{"errorMsg":"Conflict","reasons":[{"code":"KEY_ROTATION_NOT_PERMITTED"}]}]}"#;
        assert!(matches!(
            from_kp_status(409, rotation, "c2"),
            KpError::Rejected { status: 409, .. }
        ));
        assert!(matches!(
            from_kp_status(410, b"", "c3"),
            KpError::KeyDeleted { .. }
        ));
        assert!(matches!(
            from_kp_status(401, br#"{"resources":[{"errorMsg":"Unauthorized"}]}"#, "c4"),
            KpError::Unauthorized { status: 401, .. }
        ));
        assert!(matches!(
            from_kp_status(
                400,
                br#"{"resources":[{"errorMsg":"Bad","reasons":[{"code":"INVALID_FIELD_ERR"}]}]}"#,
                "c5"
            ),
            KpError::InvalidCiphertext { .. }
        ));
    }

    #[test]
    fn server_text_is_bounded_and_stripped_of_control_characters() {
        let long = format!(
            r#"{{"resources":[{{"errorMsg":"{}\n"}}]}}"#,
            "x".repeat(5000)
        );
        let err = from_kp_status(500, long.as_bytes(), "c").to_string();
        assert!(err.len() < 600, "{}", err.len());
        assert!(!err.contains('\n'));
    }

    #[test]
    fn retryable_statuses() {
        assert!(is_retryable_status(429));
        assert!(is_retryable_status(503));
        assert!(!is_retryable_status(501));
        assert!(!is_retryable_status(409));
    }
}
