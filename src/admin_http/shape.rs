//! Response bodies shaped like IBM Key Protect's API, so automation written for IBM moves with
//! little change: every answer is a collection (`metadata.collectionType`,
//! `metadata.collectionTotal`, `resources[]`), errors included (`errorMsg` and `reasons[]` with
//! `code`, `message`, `status`). Keyward's own resource types are
//! `application/vnd.keyward.<kind>+json`.

use serde_json::{Value, json};

pub const ERROR_TYPE: &str = "application/vnd.ibm.kms.error+json";

/// A collection of `resources` of `kind`; `total` is the number matching before paging.
pub fn collection(kind: &str, resources: Vec<Value>, total: usize) -> Value {
    json!({
        "metadata": {
            "collectionType": format!("application/vnd.keyward.{kind}+json"),
            "collectionTotal": total,
        },
        "resources": resources,
    })
}

/// One resource, as a collection of one.
pub fn single(kind: &str, resource: Value) -> Value {
    collection(kind, vec![resource], 1)
}

/// An error body: `status` text, what failed and why, with a machine-readable `code`.
pub fn error(status: u16, code: &str, message: &str) -> Value {
    let phrase = hyper::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("Error");
    json!({
        "metadata": {"collectionType": ERROR_TYPE, "collectionTotal": 1},
        "resources": [{
            "errorMsg": format!("{phrase}: {message} ({code})"),
            "reasons": [{
                "code": code,
                "message": message,
                "status": status,
                "moreInfo": "/api/openapi.json",
            }],
        }],
    })
}

/// `resources` after `offset`, at most `limit` of them (IBM's paging parameters).
pub fn page<T>(items: Vec<T>, offset: usize, limit: usize) -> Vec<T> {
    items.into_iter().skip(offset).take(limit).collect()
}
