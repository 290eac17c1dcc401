//! Response bodies shaped like IBM Key Protect's API, so automation written for IBM moves with
//! little change: every answer is a collection (`metadata.collectionType`,
//! `metadata.collectionTotal`, `resources[]`), errors included (`errorMsg` and `reasons[]` with
//! `code`, `message`, `status`). Keyward's own resource types are
//! `application/vnd.keyward.<kind>+json`. The envelopes are typed views serialized by serde;
//! the body handed to the transport is a `Value` (keys in sorted order, as before).

use serde::Serialize;
use serde_json::Value;

pub const ERROR_TYPE: &str = "application/vnd.ibm.kms.error+json";

/// The `metadata` of a collection; `extra` adds a resource's own fields (the backup schedule,
/// the cluster's quorum) beside the two every collection has.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Metadata<'a, E: Serialize> {
    collection_type: &'a str,
    collection_total: usize,
    #[serde(flatten)]
    extra: E,
}

#[derive(Serialize)]
struct Collection<'a, R: Serialize, E: Serialize> {
    metadata: Metadata<'a, E>,
    resources: Vec<R>,
}

/// No metadata beyond the type and total.
#[derive(Serialize)]
pub struct NoExtra {}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ErrorResource<'a> {
    error_msg: String,
    reasons: [ErrorReason<'a>; 1],
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ErrorReason<'a> {
    code: &'a str,
    message: &'a str,
    status: u16,
    more_info: &'static str,
}

/// `view` as JSON; a view that cannot be serialized (a map with non-string keys, never one of
/// ours) becomes `null` and a log line rather than a failed call.
pub fn to_value(view: impl Serialize) -> Value {
    serde_json::to_value(view).unwrap_or_else(|e| {
        log::error!("admin API: a response view did not serialize: {e}");
        Value::Null
    })
}

/// A collection of `resources` of `kind`; `total` is the number matching before paging.
pub fn collection<R: Serialize>(
    kind: &str,
    resources: impl IntoIterator<Item = R>,
    total: usize,
) -> Value {
    collection_with(kind, resources, total, NoExtra {})
}

/// A collection whose metadata carries `extra`'s fields too.
pub fn collection_with<R: Serialize, E: Serialize>(
    kind: &str,
    resources: impl IntoIterator<Item = R>,
    total: usize,
    extra: E,
) -> Value {
    let collection_type = format!("application/vnd.keyward.{kind}+json");
    to_value(Collection {
        metadata: Metadata {
            collection_type: &collection_type,
            collection_total: total,
            extra,
        },
        resources: resources.into_iter().collect(),
    })
}

/// One resource, as a collection of one.
pub fn single<R: Serialize>(kind: &str, resource: R) -> Value {
    collection(kind, vec![resource], 1)
}

/// An error body: `status` text, what failed and why, with a machine-readable `code`.
pub fn error(status: u16, code: &str, message: &str) -> Value {
    let phrase = hyper::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("Error");
    to_value(Collection {
        metadata: Metadata {
            collection_type: ERROR_TYPE,
            collection_total: 1,
            extra: NoExtra {},
        },
        resources: vec![ErrorResource {
            error_msg: format!("{phrase}: {message} ({code})"),
            reasons: [ErrorReason {
                code,
                message,
                status,
                more_info: "/api/openapi.json",
            }],
        }],
    })
}

/// `resources` after `offset`, at most `limit` of them (IBM's paging parameters).
pub fn page<T>(items: Vec<T>, offset: usize, limit: usize) -> Vec<T> {
    items.into_iter().skip(offset).take(limit).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The envelopes' text, key for key, as the IBM-shaped clients read it.
    #[test]
    fn envelopes_keep_their_wire_shape() {
        #[derive(Serialize)]
        struct Extra {
            clustered: bool,
        }
        assert_eq!(
            collection_with(
                "x",
                [serde_json::json!({"b": 1, "a": 2})],
                7,
                Extra { clustered: true }
            )
            .to_string(),
            r#"{"metadata":{"clustered":true,"collectionTotal":7,"collectionType":"application/vnd.keyward.x+json"},"resources":[{"a":2,"b":1}]}"#
        );
        assert_eq!(
            error(404, "NOT_FOUND_ERR", "no such key").to_string(),
            r#"{"metadata":{"collectionTotal":1,"collectionType":"application/vnd.ibm.kms.error+json"},"resources":[{"errorMsg":"Not Found: no such key (NOT_FOUND_ERR)","reasons":[{"code":"NOT_FOUND_ERR","message":"no such key","moreInfo":"/api/openapi.json","status":404}]}]}"#
        );
    }
}
