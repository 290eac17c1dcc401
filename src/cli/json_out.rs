//! One way for `--json` output to reach stdout: a typed view (`#[derive(Serialize)]`, beside
//! the command that prints it) goes through `serde_json::Value`, so the keys come out sorted
//! as they always have, whatever order the view declares them in.

use serde::Serialize;
use serde_json::Value;

/// `view` as one line of JSON. Our views have string keys only, so this does not fail; if one
/// ever did, the line is `null` and the reason is logged.
pub fn line(view: &impl Serialize) -> Value {
    serde_json::to_value(view).unwrap_or_else(|e| {
        log::error!("--json output did not serialize: {e}");
        Value::Null
    })
}
