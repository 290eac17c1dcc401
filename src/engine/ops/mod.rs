//! Operation semantics, one function per KMIP operation. Most are functions from a typed request
//! payload to a typed response (run through `typed`); the cryptographic services and the key
//! pair operations still take the payload `Item` and return the Response Payload's children.

mod aead_streams;
mod attributes;
mod crypto_choice;
mod crypto_key;
mod derive;
mod encrypt;
mod extensions;
mod hash;
mod key_format;
mod key_lengths;
mod key_pair;
mod key_wrap;
mod lifecycle;
mod locate;
mod mac;
mod objects;
mod rng;
mod server_info;
mod sign;

use attributes::*;
use derive::*;
use encrypt::*;
use hash::*;
use key_pair::*;
pub(super) use key_pair::{draw_rsa_pkcs8, rekey_rsa_size, rsa_pair_size};
use lifecycle::*;
use locate::*;
use mac::*;
use objects::*;
use rng::*;
use server_info::*;
use sign::*;

use std::sync::Arc;

use sha2::{Digest as _, Sha256};
use zeroize::Zeroizing;

use super::ClientIdentity;
use super::error::EngineError;
use super::object::{self, ManagedObject};
use super::overlay::Overlay;
use crate::kmip::attribute::{self, AttrKey, Attribute};
use crate::kmip::codec::Codec;
use crate::kmip::enums::{
    CryptographicAlgorithm, HashingAlgorithm, KeyFormatType, LinkType, ObjectType, Operation,
    ProfileName, QueryFunction, RevocationReasonCode, State, storage_status,
};
use crate::kmip::message::{ProtocolVersion, SUPPORTED_VERSIONS};
use crate::kmip::request_attributes::RequestAttributes;
use crate::kmip::tag;
use crate::seal::MasterKey;
use crate::store::StoredObject;
use crate::ttlv::{Item, Value};
/// Operations this server implements, in Query order.
pub const SUPPORTED_OPERATIONS: &[Operation] = &[
    Operation::Create,
    Operation::CreateKeyPair,
    Operation::ReKeyKeyPair,
    Operation::Register,
    Operation::DeriveKey,
    Operation::ReKey,
    Operation::Locate,
    Operation::Check,
    Operation::Get,
    Operation::GetAttributes,
    Operation::GetAttributeList,
    Operation::AddAttribute,
    Operation::ModifyAttribute,
    Operation::DeleteAttribute,
    Operation::Activate,
    Operation::Revoke,
    Operation::Destroy,
    Operation::Query,
    Operation::DiscoverVersions,
    Operation::SetAttribute,
    Operation::Log,
    Operation::Interop,
    Operation::Encrypt,
    Operation::Decrypt,
    Operation::Sign,
    Operation::SignatureVerify,
    Operation::Mac,
    Operation::MacVerify,
    Operation::RngRetrieve,
    Operation::RngSeed,
    Operation::Hash,
];

/// Whether an operation can change stored state.
///
/// Get counts: the first Get of an object clears its Fresh attribute (KMIP: Fresh says whether
/// the object was ever served), which must be stored before the material is released.
pub fn mutates(operation: u32) -> bool {
    matches!(
        Operation::from_u32(operation),
        Some(
            Operation::Get
                | Operation::Create
                | Operation::CreateKeyPair
                | Operation::ReKeyKeyPair
                | Operation::DeriveKey
                | Operation::Register
                | Operation::ReKey
                | Operation::AddAttribute
                | Operation::ModifyAttribute
                | Operation::DeleteAttribute
                | Operation::SetAttribute
                | Operation::Activate
                | Operation::Revoke
                | Operation::Destroy
        )
    ) || is_cryptographic_service(operation)
}

/// The cryptographic services (Encrypt ... Hash). They change nothing stored, but run in the
/// write path like Get so that their audit record commits before the answer is released.
pub fn is_cryptographic_service(operation: u32) -> bool {
    matches!(
        Operation::from_u32(operation),
        Some(
            Operation::Encrypt
                | Operation::Decrypt
                | Operation::Sign
                | Operation::SignatureVerify
                | Operation::Mac
                | Operation::MacVerify
                | Operation::RngRetrieve
                | Operation::RngSeed
                | Operation::Hash
        )
    )
}

/// Operations routed as writes only to be audited (Get, the cryptographic services): they
/// create and change no key, so they still run when the store refuses changes.
pub fn is_audited_read(operation: u32) -> bool {
    is_get(operation) || is_cryptographic_service(operation)
}

/// Whether `operation` is Get (a write only because the first Get clears Fresh).
pub fn is_get(operation: u32) -> bool {
    Operation::from_u32(operation) == Some(Operation::Get)
}

/// Everything an operation needs while one message runs.
pub struct Ctx<'a> {
    pub client: &'a ClientIdentity,
    pub version: ProtocolVersion,
    pub overlay: Overlay<'a>,
    /// The master key, or why the appliance is sealed (snapshot taken when the message began).
    pub master: Result<Arc<MasterKey>, String>,
    pub vendor_identification: &'a str,
    /// `[kmip] unique_names`.
    pub unique_names: bool,
    /// The ID Placeholder: the last UID an operation of this batch produced or located.
    pub placeholder: Option<String>,
    pub now: i64,
    /// RSA pairs drawn before the write path; Create Key Pair takes one of its size.
    pub pregenerated: Vec<super::pregenerated_rsa::PregeneratedRsa>,
    /// Whether clears of Fresh may be journalled, and which wait in the journal.
    pub fresh_clears: crate::engine::FreshClears<'a>,
    /// Objects whose Fresh flag a Get of this message cleared.
    pub fresh_cleared: Vec<String>,
}

impl Ctx<'_> {
    fn v2(&self) -> bool {
        self.version.major >= 2
    }

    /// The caller's object; other owners' objects do not exist for this caller.
    fn load(&self, uid: &str) -> Result<(StoredObject, ManagedObject), EngineError> {
        let stored = match self.overlay.get(uid)? {
            Some(s) if s.owner == self.client.owner => s,
            _ => return Err(EngineError::NotFound(uid.to_string())),
        };
        let mut managed = ManagedObject::decode_metadata(&stored.metadata)
            .ok_or_else(|| EngineError::CorruptMetadata(uid.to_string()))?;
        // Served already, its clear still in the read journal (`engine/fresh.rs`).
        if let crate::engine::FreshClears::Journalled(waiting) = self.fresh_clears
            && crate::engine::fresh::is_fresh(&managed)
            && waiting(uid)
        {
            managed.set(tag::FRESH, Value::Boolean(false));
        }
        Ok((stored, managed))
    }

    fn load_live(&self, uid: &str) -> Result<(StoredObject, ManagedObject), EngineError> {
        let (stored, managed) = self.load(uid)?;
        if managed.state.is_destroyed() {
            return Err(EngineError::Destroyed(uid.to_string()));
        }
        Ok((stored, managed))
    }

    fn save(&mut self, mut stored: StoredObject, managed: &ManagedObject) {
        stored.metadata = managed.encode_metadata();
        stored.index_terms = managed.index_terms();
        stored.version += 1;
        self.overlay.stage(stored);
    }

    /// The attributes a request gives, with those of the 1.x Templates it names: a named
    /// Template's attributes come first; the request's own override them.
    fn resolve_attributes(&self, given: RequestAttributes) -> Result<Vec<Attribute>, EngineError> {
        let mut out = Vec::new();
        for template in given.templates {
            for name in &template.template_names {
                for a in self.template_attributes(name)? {
                    if !template.attributes.iter().any(|e| e.key == a.key) {
                        out.push(a);
                    }
                }
            }
            out.extend(template.attributes);
        }
        out.extend(given.loose);
        Ok(out)
    }

    /// The attributes a 1.x Template named in a Template-Attribute holds (the caller's own
    /// live Template with that Name).
    fn template_attributes(&self, name: &Value) -> Result<Vec<Attribute>, EngineError> {
        let Some(text) = object::name_value(name) else {
            return Err(EngineError::InvalidField("Name lacks a Name Value".into()));
        };
        for uid in self
            .overlay
            .find(&self.client.owner, Some(&object::name_term(text)))?
        {
            let Ok((_, managed)) = self.load_live(&uid) else {
                continue;
            };
            if managed.object_type != ObjectType::Template {
                continue;
            }
            return managed
                .object_fields
                .iter()
                .map(|a| {
                    attribute::parse_v1(a)
                        .map(|(a, _)| a)
                        .map_err(|_| EngineError::CorruptMetadata(uid.clone()))
                })
                .collect();
        }
        Err(EngineError::NotFound(format!("Template {text}")))
    }

    /// The UID a typed request names, or the ID Placeholder when it names none.
    fn uid_or_placeholder(&self, uid: Option<String>) -> Result<String, EngineError> {
        uid.or_else(|| self.placeholder.clone())
            .ok_or_else(|| EngineError::MissingData("Unique Identifier".into()))
    }

    fn fresh_uid(&self) -> Result<String, EngineError> {
        let mut b = [0u8; 16];
        getrandom::fill(&mut b).map_err(|_| EngineError::Random)?;
        // A clock before 1970 only loses the ordering, never uniqueness (the random bits).
        let unix_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
            .unwrap_or(0);
        Ok(crate::uuid::format_v7(unix_ms, b))
    }

    fn master_key(&self) -> Result<&MasterKey, EngineError> {
        self.master
            .as_deref()
            .map_err(|reason| EngineError::RootKeyUnavailable(reason.clone()))
    }

    fn seal(&self, uid: &str, generation: u64, material: &[u8]) -> Result<Vec<u8>, EngineError> {
        Ok(self
            .master_key()?
            .seal(&ManagedObject::sealing_aad(uid, generation), material)?)
    }

    fn unseal(
        &self,
        stored: &StoredObject,
        managed: &ManagedObject,
    ) -> Result<Zeroizing<Vec<u8>>, EngineError> {
        let sealed = stored
            .sealed_material
            .as_ref()
            .ok_or_else(|| EngineError::Destroyed(stored.uid.clone()))?;
        Ok(self.master_key()?.unseal(
            &ManagedObject::sealing_aad(&stored.uid, managed.material_generation),
            sealed,
        )?)
    }
}

/// Runs an operation written as a function from its typed request to its typed response:
/// reads the request in the message's version, and hands the engine the encoded Response
/// Payload's children.
fn typed<Q: Codec, R: Codec>(
    ctx: &mut Ctx,
    payload: &Item,
    operation: fn(&mut Ctx, Q) -> Result<R, EngineError>,
) -> Result<Vec<Item>, EngineError> {
    let request = Q::read(payload, ctx.version)?;
    let response = operation(ctx, request)?;
    Ok(match response.encode(ctx.version).value {
        Value::Structure(children) => children,
        _ => Vec::new(),
    })
}

/// Runs one operation.
pub fn dispatch(ctx: &mut Ctx, operation: u32, payload: &Item) -> Result<Vec<Item>, EngineError> {
    let Some(op) = Operation::from_u32(operation) else {
        return Err(EngineError::OperationNotSupported(operation));
    };
    match op {
        Operation::Create => typed(ctx, payload, create),
        Operation::CreateKeyPair => typed(ctx, payload, create_key_pair),
        Operation::ReKeyKeyPair => typed(ctx, payload, rekey_key_pair),
        Operation::DeriveKey => typed(ctx, payload, derive_key),
        Operation::Register => typed(ctx, payload, register),
        Operation::ReKey => typed(ctx, payload, rekey),
        Operation::Locate => typed(ctx, payload, locate),
        Operation::Check => typed(ctx, payload, check),
        Operation::Get => typed(ctx, payload, get),
        Operation::GetAttributes => typed(ctx, payload, get_attributes),
        Operation::GetAttributeList => typed(ctx, payload, get_attribute_list),
        Operation::AddAttribute => typed(ctx, payload, add_attribute),
        Operation::ModifyAttribute => typed(ctx, payload, modify_attribute),
        Operation::DeleteAttribute => typed(ctx, payload, delete_attribute),
        Operation::SetAttribute if ctx.v2() => typed(ctx, payload, set_attribute),
        Operation::Log if ctx.v2() => typed(ctx, payload, log_message),
        Operation::Interop if ctx.v2() => typed(ctx, payload, interop),
        Operation::Activate => typed(ctx, payload, activate),
        Operation::Revoke => typed(ctx, payload, revoke),
        Operation::Destroy => typed(ctx, payload, destroy),
        Operation::Query => typed(ctx, payload, query),
        Operation::DiscoverVersions => typed(ctx, payload, discover_versions),
        Operation::Encrypt => encrypt(ctx, payload),
        Operation::Decrypt => decrypt(ctx, payload),
        Operation::Sign => sign(ctx, payload),
        Operation::SignatureVerify => signature_verify(ctx, payload),
        Operation::Mac => mac(ctx, payload),
        Operation::MacVerify => mac_verify(ctx, payload),
        Operation::Hash => hash(ctx, payload),
        Operation::RngRetrieve => rng_retrieve(ctx, payload),
        Operation::RngSeed => rng_seed(ctx, payload),
        _ => Err(EngineError::OperationNotSupported(operation)),
    }
}
