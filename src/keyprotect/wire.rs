//! JSON shapes of IAM and Key Protect answers (unknown fields ignored, non-essential fields
//! optional, as both services add fields over time). Secret-bearing fields zeroize on drop.

use serde::Deserialize;
use zeroize::{Zeroize, ZeroizeOnDrop};

#[derive(Deserialize, Zeroize, ZeroizeOnDrop)]
pub(crate) struct TokenResponse {
    pub access_token: String,
    #[serde(default)]
    #[zeroize(skip)]
    pub token_type: Option<String>,
    #[serde(default)]
    #[zeroize(skip)]
    pub expires_in: Option<u64>,
}

#[derive(Deserialize, Clone, Debug)]
pub(crate) struct VersionRef {
    pub id: String,
}

#[derive(Deserialize, Zeroize, ZeroizeOnDrop)]
#[serde(rename_all = "camelCase")]
pub(crate) struct WrapResponse {
    #[zeroize(skip)]
    pub ciphertext: String,
    #[serde(default)]
    #[zeroize(skip)]
    pub key_version: Option<VersionRef>,
    /// Only present when Key Protect generated the key; we always send one, but if a server
    /// echoes it, it must not linger.
    #[serde(default)]
    pub plaintext: Option<String>,
}

#[derive(Deserialize, Zeroize, ZeroizeOnDrop)]
#[serde(rename_all = "camelCase")]
pub(crate) struct UnwrapResponse {
    pub plaintext: String,
    #[serde(default)]
    #[zeroize(skip)]
    pub key_version: Option<VersionRef>,
    /// Present only when the root key was rotated since the wrap.
    #[serde(default)]
    #[zeroize(skip)]
    pub ciphertext: Option<String>,
    #[serde(default)]
    #[zeroize(skip)]
    pub rewrapped_key_version: Option<VersionRef>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RewrapResponse {
    pub ciphertext: String,
    #[serde(default)]
    pub key_version: Option<VersionRef>,
    #[serde(default)]
    pub rewrapped_key_version: Option<VersionRef>,
}

#[derive(Deserialize)]
pub(crate) struct MetadataResponse {
    #[serde(default)]
    pub resources: Vec<KeyResource>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct KeyResource {
    pub state: i64,
    #[serde(default)]
    pub extractable: Option<bool>,
    #[serde(default)]
    pub key_version: Option<VersionRef>,
    #[serde(default)]
    pub expiration_date: Option<String>,
    #[serde(default)]
    pub deleted: Option<bool>,
}
