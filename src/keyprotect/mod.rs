//! IBM Key Protect as the root of trust: a customer root key (CRK) in Key Protect wraps the
//! appliance master key, and a background sync thread follows the CRK's rotations and state.
//!
//! Layers: [`config`] (the `[keyprotect]` table) → [`api_key`] (the IAM API key, a secret) →
//! [`client`] (IAM token + Key Protect REST calls over ureq/rustls) → [`provider`] (the
//! [`crate::seal::RootKeyProvider`] named "keyprotect") → [`sync`] (the CRK watch: a sans-IO
//! state machine plus its thread). [`open`] opens the master key, storing the fresh wrap a
//! rotated root key hands back; [`migrate`] moves the master key between root providers.
//!
//! Start-up with `[root] provider = "keyprotect"`: `KeyProtectRoot::from_config(&cfg,
//! appliance_id)` → `open::open_master_key(&store, &root)` (on a revoked or unreachable root
//! key, start sealed) → `sync::spawn(root, store, SyncSettings::from_config(&cfg), sealed,
//! sink)`, whose sink forwards [`sync::SyncEvent`]s to the engine and wakes the event loop.

pub mod api_key;
pub mod client;
pub mod config;
mod duration;
pub mod error;
pub mod migrate;
pub mod open;
pub mod provider;
pub mod sync;
mod wire;

pub use api_key::ApiKey;
pub use client::{KeyMetadata, KeyState, KpClient, Unwrapped, Wrapped};
pub use config::KeyProtectConfig;
pub use error::KpError;
pub use provider::KeyProtectRoot;
