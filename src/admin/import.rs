//! `keyward import`'s store side: a batch of objects fetched from another KMIP server, stored
//! under their own Unique Identifiers for a registered client, one audit record each.
//!
//! The same function runs in a running server (admin socket, with the server's master key) and
//! in the CLI on a stopped one (data directory opened, master key unwrapped), so both modes
//! share every rule of `engine::import`. A batch is one write transaction: an interrupted run
//! loses at most the batch in flight, and the next run skips what was committed.

use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use super::ops::{AdminError, AuditBy, audit_admin};
use super::registry::{self, Registry, RegistryError};
use crate::audit::AuditEvent;
use crate::backup::passphrase::SecretText;
use crate::engine::import::{ImportError, ImportObject, ImportOutcome, import_object};
use crate::kmip::attribute::{self, Attribute};
use crate::kmip::enums::{ObjectType, State};
use crate::kmip::tag;
use crate::seal::MasterKey;
use crate::store::{Store, WriteView};
use crate::ttlv::{self, Item, Limits};

/// Most objects in one import request (one transaction, one admin socket exchange).
pub const MAX_BATCH: usize = 64;

/// Audit operation name of an imported object.
pub const AUDIT_OPERATION: &str = "import";

/// A batch of objects to import for the registered client `client`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ImportRequest {
    /// The registered client (`keyward client list`) whose keys these become.
    pub client: String,
    /// Where the objects come from, named in each audit record (`kmip://host:port`).
    pub source: String,
    /// Decide every object as a real run would, then write nothing.
    #[serde(default)]
    pub dry_run: bool,
    pub objects: Vec<WireObject>,
}

/// One object in an import request. The material travels hex-encoded inside a zeroizing
/// string, only over the admin socket (mode 0600, same host) or within the CLI process.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WireObject {
    pub uid: String,
    pub object_type: u32,
    pub state: u32,
    pub key_format: u32,
    #[serde(default)]
    pub data_type: Option<u32>,
    /// Hex of the TTLV encoding of a KMIP 2.x `Attributes` structure.
    pub attributes: String,
    pub material: SecretText,
}

impl WireObject {
    /// The wire form of `object`.
    pub fn new(object: &ImportObject) -> WireObject {
        let attributes = Item::structure(
            tag::ATTRIBUTES,
            object.attributes.iter().map(attribute::encode_v2).collect(),
        );
        let material = Zeroizing::new(hex::encode(&object.material[..]));
        WireObject {
            uid: object.uid.clone(),
            object_type: object.object_type.value(),
            state: object.state.value(),
            key_format: object.key_format,
            data_type: object.data_type,
            attributes: hex::encode(ttlv::encode(&attributes)),
            material: SecretText::new(&material),
        }
    }

    fn decode(&self) -> Result<ImportObject, WireError> {
        let object_type = ObjectType::from_u32(self.object_type)
            .ok_or(WireError::ObjectType(self.object_type))?;
        let state = State::from_u32(self.state).ok_or(WireError::State(self.state))?;
        let attributes =
            decode_attributes(&self.attributes).map_err(|e| WireError::Attributes(Box::new(e)))?;
        let material =
            Zeroizing::new(hex::decode(self.material.expose()).map_err(|_| WireError::Material)?);
        Ok(ImportObject {
            uid: self.uid.clone(),
            object_type,
            state,
            key_format: self.key_format,
            data_type: self.data_type,
            attributes,
            material,
        })
    }
}

/// Why an object's wire form does not decode (said back to the command as the refusal's
/// reason).
#[derive(Debug, thiserror::Error)]
pub enum WireError {
    #[error("unknown object type {0}")]
    ObjectType(u32),
    #[error("unknown state {0}")]
    State(u32),
    #[error("attributes: {0}")]
    Attributes(#[source] Box<WireError>),
    #[error("{0}")]
    Hex(#[from] hex::FromHexError),
    #[error("{0}")]
    Ttlv(#[from] ttlv::DecodeError),
    #[error("{0}")]
    Attribute(#[from] attribute::AttributeError),
    #[error("material is not hex")]
    Material,
}

/// A KMIP 2.x `Attributes` structure from the hex of its TTLV encoding.
fn decode_attributes(hex_ttlv: &str) -> Result<Vec<Attribute>, WireError> {
    let bytes = hex::decode(hex_ttlv)?;
    let limits = Limits {
        max_message_bytes: bytes.len().max(8),
        ..Limits::default()
    };
    let container = ttlv::decode(&bytes, &limits)?;
    Ok(attribute::parse_v2_list(&container)?)
}

/// What happened to one object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Stored under its UID (in a dry run: would be).
    Imported,
    /// Already in Keyward with the same material and owner.
    Skipped,
    /// Not imported: its UID is taken by another object, or Keyward cannot keep it.
    Refused,
    /// The source or the transfer failed for this object.
    Failed,
    /// Destroyed on the source: listed, not imported.
    Destroyed,
}

impl Verdict {
    pub fn label(self) -> &'static str {
        match self {
            Verdict::Imported => "imported",
            Verdict::Skipped => "skipped",
            Verdict::Refused => "refused",
            Verdict::Failed => "failed",
            Verdict::Destroyed => "destroyed",
        }
    }
}

/// The result for one object of an import request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportResult {
    pub uid: String,
    pub verdict: Verdict,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Source attributes Keyward does not keep.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dropped_attributes: Vec<String>,
}

impl ImportResult {
    pub fn new(uid: &str, verdict: Verdict, reason: Option<String>) -> ImportResult {
        ImportResult {
            uid: uid.to_string(),
            verdict,
            reason,
            dropped_attributes: Vec::new(),
        }
    }
}

/// Imports `request.objects` in one transaction with `master` sealing the material. Per-object
/// refusals are results; an `Err` (store or seal failure) means nothing of the batch was kept.
pub fn import_batch(
    store: &dyn Store,
    master: &MasterKey,
    request: &ImportRequest,
    by: AuditBy<'_>,
) -> Result<Vec<ImportResult>, AdminError> {
    if request.objects.len() > MAX_BATCH {
        return Err(AdminError::Import(ImportError::Invalid {
            uid: String::new(),
            why: format!("more than {MAX_BATCH} objects in one request"),
        }));
    }
    let mut txn = store.write()?;
    let owner = Registry::load(&*txn)?
        .get(&request.client)
        .map(|entry| entry.owner.clone())
        .ok_or_else(|| RegistryError::UnknownClient(request.client.clone()))?;
    let now = registry::now();
    let mut results = Vec::with_capacity(request.objects.len());
    for wire in &request.objects {
        results.push(import_one(
            &mut *txn, master, &owner, wire, now, request, by,
        )?);
    }
    let imported = results.iter().any(|r| r.verdict == Verdict::Imported);
    if imported && !request.dry_run {
        // A single appliance counts changes for `keyward status`; a cluster's etcd revision
        // already moved with the writes.
        if txn.change_sequence()?.is_none() {
            crate::backup::changes::bump(&mut *txn)?;
        }
        txn.commit()?;
    }
    Ok(results)
}

/// Imports one object into `txn`, recording it in the audit log; a refusal (undecodable,
/// destroyed, not acceptable) is its result, a store or seal failure an `Err`.
fn import_one(
    txn: &mut dyn WriteView,
    master: &MasterKey,
    owner: &str,
    wire: &WireObject,
    now: i64,
    request: &ImportRequest,
    by: AuditBy<'_>,
) -> Result<ImportResult, AdminError> {
    let object = match wire.decode() {
        Ok(object) => object,
        Err(why) => {
            return Ok(ImportResult::new(
                &wire.uid,
                Verdict::Refused,
                Some(why.to_string()),
            ));
        }
    };
    Ok(match import_object(txn, master, owner, &object, now) {
        Ok(ImportOutcome::Imported { dropped }) => {
            audit_admin(
                txn,
                by,
                AuditEvent {
                    reason: Some(format!("imported from {}", request.source)),
                    ..AuditEvent::success(
                        AUDIT_OPERATION,
                        vec![object.uid.clone(), owner.to_string()],
                    )
                },
            )?;
            ImportResult {
                dropped_attributes: dropped,
                ..ImportResult::new(&object.uid, Verdict::Imported, None)
            }
        }
        Ok(ImportOutcome::AlreadyPresent) => ImportResult::new(&object.uid, Verdict::Skipped, None),
        Err(e @ ImportError::Destroyed(_)) => {
            ImportResult::new(&object.uid, Verdict::Destroyed, Some(e.to_string()))
        }
        Err(e) if e.is_refusal() => {
            ImportResult::new(&object.uid, Verdict::Refused, Some(e.to_string()))
        }
        Err(e) => return Err(AdminError::Import(e)),
    })
}

/// The results of an import request, one per object, in order.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ImportResults {
    pub results: Vec<ImportResult>,
}

/// UIDs whose stored facts `import verify` asks for.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FactsRequest {
    pub uids: Vec<String>,
}

/// The answer to a [`FactsRequest`], one entry per UID (`None`: no such object).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FactsReply {
    pub facts: Vec<Option<StoredFacts>>,
}

/// Most UIDs in one [`stored_facts`] request.
pub const MAX_FACTS: usize = 256;

/// What Keyward holds under one UID, for `keyward import verify` without a KMIP client
/// certificate: type, state, attributes and the SHA-256 of the material (unsealed to compute
/// it, which also proves the material opens). Never the material itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredFacts {
    pub uid: String,
    pub owner: String,
    pub object_type: u32,
    pub state: u32,
    /// Hex of the TTLV encoding of a KMIP 2.x `Attributes` structure.
    pub attributes: String,
    /// Hex SHA-256 of the material; `None` once destroyed.
    pub digest: Option<String>,
}

impl StoredFacts {
    /// The attributes, decoded.
    pub fn attribute_list(&self) -> Result<Vec<Attribute>, WireError> {
        decode_attributes(&self.attributes)
    }
}

/// The facts of each UID (`None` where Keyward holds no such object), in order.
pub fn stored_facts(
    store: &dyn Store,
    master: &MasterKey,
    uids: &[String],
) -> Result<Vec<Option<StoredFacts>>, AdminError> {
    use crate::engine::import::{ImportError, material_digest};
    use crate::engine::object::ManagedObject;
    if uids.len() > MAX_FACTS {
        return Err(AdminError::Import(ImportError::Invalid {
            uid: String::new(),
            why: format!("more than {MAX_FACTS} UIDs in one request"),
        }));
    }
    let view = store.read()?;
    let mut out = Vec::with_capacity(uids.len());
    for uid in uids {
        let Some(stored) = view.get(uid)? else {
            out.push(None);
            continue;
        };
        let managed = ManagedObject::decode_metadata(&stored.metadata)
            .ok_or_else(|| ImportError::CorruptMetadata(uid.clone()))?;
        let digest = match &stored.sealed_material {
            Some(sealed) => {
                let material = master
                    .unseal(
                        &ManagedObject::sealing_aad(uid, managed.material_generation),
                        sealed,
                    )
                    .map_err(ImportError::from)?;
                Some(hex::encode(material_digest(&material)))
            }
            None => None,
        };
        let attributes = Item::structure(
            tag::ATTRIBUTES,
            managed
                .attributes
                .iter()
                .map(attribute::encode_v2)
                .collect(),
        );
        out.push(Some(StoredFacts {
            uid: uid.clone(),
            owner: stored.owner,
            object_type: managed.object_type.value(),
            state: managed.state.value(),
            attributes: hex::encode(ttlv::encode(&attributes)),
            digest,
        }));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kmip::attribute::AttrKey;
    use crate::ttlv::Value;

    #[test]
    fn an_object_survives_the_wire_form_and_its_debug_hides_the_material() {
        let object = ImportObject {
            uid: "1".into(),
            object_type: ObjectType::SymmetricKey,
            state: State::Deactivated,
            key_format: 1,
            data_type: None,
            attributes: vec![
                Attribute {
                    key: AttrKey::Custom("x-Name".into()),
                    value: Value::TextString("vm-01".into()),
                },
                Attribute {
                    key: AttrKey::Standard(tag::CRYPTOGRAPHIC_LENGTH),
                    value: Value::Integer(256),
                },
            ],
            material: Zeroizing::new(vec![0x5A; 32]),
        };
        let wire = WireObject::new(&object);
        let text = format!("{wire:?}");
        assert!(!text.contains(&hex::encode([0x5A; 32])), "{text}");
        let json = serde_json::to_string(&wire).unwrap();
        let back: WireObject = serde_json::from_str(&json).unwrap();
        let decoded = back.decode().unwrap();
        assert_eq!(decoded.uid, "1");
        assert_eq!(decoded.state, State::Deactivated);
        assert_eq!(decoded.attributes, object.attributes);
        assert_eq!(&decoded.material[..], &object.material[..]);
    }
}
