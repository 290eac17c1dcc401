//! The "keyprotect" root key provider: the master key wrapped by a customer root key in
//! IBM Key Protect, bound to this appliance by associated data.

use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use super::api_key::ApiKey;
use super::client::{KeyMetadata, KeyState, KpClient, Wrapped};
use super::config::KeyProtectConfig;
use super::error::KpError;
use crate::seal::{RootKeyProvider, SealError};

/// Provider name recorded beside a master key wrapped by Key Protect.
pub const PROVIDER_NAME: &str = "keyprotect";
/// Format tag of the stored blob, so a later layout can be told apart.
const BLOB_FORMAT: &str = "keyward-kp-1";
/// Key Protect limits each associated-data string to 255 characters.
const MAX_AAD_LEN: usize = 255;

/// What the store keeps for a Key Protect–wrapped master key: Key Protect's envelope verbatim
/// (never parsed), the root key version that made it, and the associated data it is bound to
/// (Key Protect does not store AAD; unwrap needs the same strings in the same order).
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
struct StoredBlob {
    format: String,
    ciphertext: String,
    key_version: String,
    aad: Vec<String>,
}

impl StoredBlob {
    fn encode(wrapped: &Wrapped, aad: &[String]) -> Result<Vec<u8>, KpError> {
        serde_json::to_vec(&StoredBlob {
            format: BLOB_FORMAT.into(),
            ciphertext: wrapped.ciphertext.clone(),
            key_version: wrapped.key_version.clone(),
            aad: aad.to_vec(),
        })
        .map_err(|e| KpError::Config(format!("encoding the wrapped master key: {e}")))
    }

    fn decode(bytes: &[u8]) -> Result<StoredBlob, SealError> {
        let blob: StoredBlob = serde_json::from_slice(bytes).map_err(|e| {
            SealError::Malformed(format!(
                "stored Key Protect–wrapped master key is not valid ({:?} error)",
                e.classify()
            ))
        })?;
        if blob.format != BLOB_FORMAT {
            return Err(SealError::Malformed(format!(
                "stored Key Protect–wrapped master key has unknown format \"{}\"",
                blob.format
            )));
        }
        Ok(blob)
    }
}

/// The root key version recorded in a stored blob made by [`KeyProtectRoot`].
pub fn stored_key_version(wrapped: &[u8]) -> Result<String, SealError> {
    Ok(StoredBlob::decode(wrapped)?.key_version)
}

fn seal_error(err: KpError) -> SealError {
    SealError::Provider {
        provider: PROVIDER_NAME.into(),
        message: err.to_string(),
    }
}

/// A master key unwrapped by Key Protect, and, when the root key was rotated since the stored
/// blob was made, the replacement blob to store.
pub struct UnwrapOutcome {
    pub key: Zeroizing<Vec<u8>>,
    pub rewrapped: Option<Vec<u8>>,
}

impl std::fmt::Debug for UnwrapOutcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UnwrapOutcome")
            .field("key", &"<redacted>")
            .field("rewrapped", &self.rewrapped.is_some())
            .finish()
    }
}

/// The Key Protect root key provider.
pub struct KeyProtectRoot {
    client: KpClient,
    aad: Vec<String>,
    /// A replacement blob seen by the trait's `unwrap` (which cannot return it), kept for
    /// [`KeyProtectRoot::take_rewrapped`].
    pending_rewrap: Mutex<Option<Vec<u8>>>,
}

impl std::fmt::Debug for KeyProtectRoot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyProtectRoot")
            .field("client", &self.client)
            .field("aad", &self.aad)
            .finish_non_exhaustive()
    }
}

impl KeyProtectRoot {
    /// `appliance_id` names this appliance; the wrap is bound to `keyward:<appliance_id>` so
    /// another appliance's blob (or this one's under another name) does not unwrap.
    pub fn new(client: KpClient, appliance_id: &str) -> Result<KeyProtectRoot, KpError> {
        let aad = format!("keyward:{appliance_id}");
        if appliance_id.is_empty() || aad.chars().count() > MAX_AAD_LEN {
            return Err(KpError::Config(format!(
                "appliance id must be 1 to {} characters",
                MAX_AAD_LEN - "keyward:".len()
            )));
        }
        Ok(KeyProtectRoot {
            client,
            aad: vec![aad],
            pending_rewrap: Mutex::new(None),
        })
    }

    /// Loads the API key (file or environment) and builds the client from `[keyprotect]`.
    pub fn from_config(
        config: &KeyProtectConfig,
        appliance_id: &str,
    ) -> Result<KeyProtectRoot, KpError> {
        let api_key = ApiKey::load(config)?;
        KeyProtectRoot::new(KpClient::new(config, api_key)?, appliance_id)
    }

    pub fn client(&self) -> &KpClient {
        &self.client
    }

    /// The associated data every wrap of this appliance is bound to.
    pub fn aad(&self) -> &[String] {
        &self.aad
    }

    fn checked_blob(&self, wrapped: &[u8]) -> Result<StoredBlob, SealError> {
        let blob = StoredBlob::decode(wrapped)?;
        if blob.aad != self.aad {
            return Err(SealError::Provider {
                provider: PROVIDER_NAME.into(),
                message: format!(
                    "the stored master key is bound to {:?}, but this appliance is {:?}; \
                     check the appliance id",
                    blob.aad, self.aad
                ),
            });
        }
        Ok(blob)
    }

    /// Wraps the master key; typed errors.
    pub fn try_wrap(&self, master_key: &[u8]) -> Result<Vec<u8>, KpError> {
        let wrapped = self.client.wrap(master_key, &self.aad)?;
        StoredBlob::encode(&wrapped, &self.aad)
    }

    /// Unwraps a stored blob; typed errors (`KeyDisabled`, `KeyDeleted`, `NotFound`,
    /// `Unreachable`, …) except for a malformed or foreign blob.
    pub fn unwrap_with_update(&self, wrapped: &[u8]) -> Result<UnwrapOutcome, SealError> {
        let blob = self.checked_blob(wrapped)?;
        let unwrapped = self
            .client
            .unwrap(&blob.ciphertext, &blob.aad)
            .map_err(seal_error)?;
        let rewrapped = match &unwrapped.rewrapped {
            Some(fresh) => Some(StoredBlob::encode(fresh, &self.aad).map_err(seal_error)?),
            None => None,
        };
        Ok(UnwrapOutcome {
            key: unwrapped.plaintext,
            rewrapped,
        })
    }

    /// Like [`KeyProtectRoot::unwrap_with_update`] but keeps the typed Key Protect error.
    pub fn try_unwrap(&self, wrapped: &[u8]) -> Result<UnwrapOutcome, KpError> {
        let blob = self
            .checked_blob(wrapped)
            .map_err(|e| KpError::Config(e.to_string()))?;
        let unwrapped = self.client.unwrap(&blob.ciphertext, &blob.aad)?;
        let rewrapped = match &unwrapped.rewrapped {
            Some(fresh) => Some(StoredBlob::encode(fresh, &self.aad)?),
            None => None,
        };
        Ok(UnwrapOutcome {
            key: unwrapped.plaintext,
            rewrapped,
        })
    }

    /// Rewraps a stored blob under the newest root key version (no plaintext leaves Key
    /// Protect). Returns the blob to store and its key version.
    pub fn rewrap(&self, wrapped: &[u8]) -> Result<(Vec<u8>, String), KpError> {
        let blob = self
            .checked_blob(wrapped)
            .map_err(|e| KpError::Config(e.to_string()))?;
        let fresh = self.client.rewrap(&blob.ciphertext, &blob.aad)?;
        let version = fresh.key_version.clone();
        Ok((StoredBlob::encode(&fresh, &self.aad)?, version))
    }

    /// Checks, before `init` or a migration to Key Protect, that the configured key can serve
    /// as this appliance's root: it exists, is a root key (not extractable) and is active.
    pub fn preflight(&self) -> Result<KeyMetadata, KpError> {
        let meta = self.client.metadata()?;
        if meta.extractable == Some(true) {
            return Err(KpError::Config(format!(
                "key {} is a standard key; a root key (extractable = false) is needed",
                self.client.root_key_id()
            )));
        }
        if meta.state != KeyState::Active {
            return Err(KpError::Config(format!(
                "root key {} is in state {:?}, not Active",
                self.client.root_key_id(),
                meta.state
            )));
        }
        Ok(meta)
    }

    /// The replacement blob the last trait `unwrap` received after a rotation, if any. A caller
    /// that used [`crate::store::master_key::open_master_key`] stores it; [`super::open::open_master_key`]
    /// does that itself.
    pub fn take_rewrapped(&self) -> Option<Vec<u8>> {
        self.pending_rewrap
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
    }
}

impl RootKeyProvider for KeyProtectRoot {
    fn name(&self) -> &str {
        PROVIDER_NAME
    }

    fn wrap(&self, master_key: &[u8]) -> Result<Vec<u8>, SealError> {
        self.try_wrap(master_key).map_err(seal_error)
    }

    fn unwrap(&self, wrapped: &[u8]) -> Result<Zeroizing<Vec<u8>>, SealError> {
        let outcome = self.unwrap_with_update(wrapped)?;
        if let Some(fresh) = outcome.rewrapped {
            *self
                .pending_rewrap
                .lock()
                .unwrap_or_else(|p| p.into_inner()) = Some(fresh);
        }
        Ok(outcome.key)
    }
}
