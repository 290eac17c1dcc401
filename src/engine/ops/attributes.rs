//! Attribute policy (who may set what, which may repeat, which a version shows) and the
//! attribute operations (Get Attributes, Get Attribute List, Add / Modify / Set / Delete
//! Attribute), each a function from its typed request to its typed response.

use super::*;
use crate::kmip::attribute_payloads::{
    AddAttributeRequest, AddAttributeResponse, AttributeChangeResponse, DeleteAttributeRequest,
    DeleteAttributeResponse, DeleteTarget, GetAttributeListRequest, GetAttributeListResponse,
    GetAttributesRequest, GetAttributesResponse, IndexedAttribute, ModifyAttributeRequest,
    ModifyAttributeResponse, SetAttributeRequest, SetAttributeResponse,
};

/// Protection Storage Mask bit "Software".
pub(super) const PROTECTION_STORAGE_SOFTWARE: i32 = 0x1;

/// Attributes only the server sets.
pub(super) fn server_managed(key: &AttrKey) -> bool {
    match key {
        AttrKey::Custom(name) => name.starts_with("y-"),
        AttrKey::Standard(t) => !matches!(
            *t,
            tag::NAME
                | tag::CRYPTOGRAPHIC_USAGE_MASK
                | tag::CRYPTOGRAPHIC_PARAMETERS
                | tag::ACTIVATION_DATE
                | tag::DEACTIVATION_DATE
                | tag::PROCESS_START_DATE
                | tag::PROTECT_STOP_DATE
                | tag::OBJECT_GROUP
                | tag::LINK
                | tag::APPLICATION_SPECIFIC_INFORMATION
                | tag::CONTACT_INFORMATION
                | tag::OPERATION_POLICY_NAME
                | tag::DESCRIPTION
                | tag::COMMENT
                | tag::SENSITIVE
                | tag::EXTRACTABLE
                | tag::PROTECTION_LEVEL
                | tag::PROTECTION_PERIOD
                | tag::QUANTUM_SAFE
                | tag::ALTERNATIVE_NAME
                | tag::KEY_VALUE_LOCATION
                // Set by the client; its Usage Limits Count is then kept by the server.
                | tag::USAGE_LIMITS
        ),
    }
}

/// Attributes that may carry several instances.
pub(super) fn multi_instance(key: &AttrKey) -> bool {
    match key {
        AttrKey::Custom(_) => true,
        AttrKey::Standard(t) => matches!(
            *t,
            tag::NAME
                | tag::OBJECT_GROUP
                | tag::LINK
                | tag::APPLICATION_SPECIFIC_INFORMATION
                | tag::ALTERNATIVE_NAME
                | tag::KEY_VALUE_LOCATION
        ),
    }
}

/// The object's full attribute list, with the synthesized Unique Identifier, Object Type, State.
pub(super) fn all_attributes(uid: &str, managed: &ManagedObject) -> Vec<Attribute> {
    let mut out = vec![
        Attribute {
            key: AttrKey::Standard(tag::UNIQUE_IDENTIFIER),
            value: Value::TextString(uid.to_string()),
        },
        Attribute {
            key: AttrKey::Standard(tag::OBJECT_TYPE),
            value: Value::Enumeration(managed.object_type.value()),
        },
        Attribute {
            key: AttrKey::Standard(tag::STATE),
            value: Value::Enumeration(managed.state.value()),
        },
    ];
    // KMIP 2.1's short form of the UID, derived rather than stored.
    out.push(Attribute {
        key: AttrKey::Standard(tag::SHORT_UNIQUE_IDENTIFIER),
        value: Value::ByteString(Sha256::digest(uid.as_bytes()).to_vec()),
    });
    if has_key_block(managed.object_type) {
        // In 2.x the format of the stored key is an attribute of its own.
        out.push(Attribute {
            key: AttrKey::Standard(tag::KEY_FORMAT_TYPE),
            value: Value::Enumeration(managed.key_format),
        });
    }
    // Material is held by software (sealed under the master key), never by an HSM.
    out.push(Attribute {
        key: AttrKey::Standard(tag::PROTECTION_STORAGE_MASK),
        value: Value::Integer(PROTECTION_STORAGE_SOFTWARE),
    });
    out.extend(managed.attributes.iter().cloned());
    // The order the profile vectors list them in: identity and key size first, then the rest
    // by name, custom attributes last; instances keep their order.
    out.sort_by_cached_key(|a| match &a.key {
        AttrKey::Standard(tag::UNIQUE_IDENTIFIER) => (0, String::new()),
        AttrKey::Standard(tag::SHORT_UNIQUE_IDENTIFIER) => (1, String::new()),
        AttrKey::Standard(tag::OBJECT_TYPE) => (2, String::new()),
        AttrKey::Standard(tag::CRYPTOGRAPHIC_ALGORITHM) => (3, String::new()),
        AttrKey::Standard(tag::CRYPTOGRAPHIC_LENGTH) => (4, String::new()),
        // The 2.1 vectors list Key Format Type right after Digest.
        AttrKey::Standard(tag::KEY_FORMAT_TYPE) => (5, "Digest\u{1}".to_string()),
        AttrKey::Standard(_) => (5, a.key.v1_name()),
        AttrKey::Custom(name) => (6, name.clone()),
    });
    out
}

/// The first protocol version that defines a standard attribute (1.0 when not listed).
pub(super) fn attribute_since(key: &AttrKey) -> ProtocolVersion {
    let AttrKey::Standard(t) = key else {
        return ProtocolVersion::new(1, 0);
    };
    match *t {
        tag::FRESH => ProtocolVersion::new(1, 1),
        tag::ORIGINAL_CREATION_DATE | tag::ALTERNATIVE_NAME | tag::KEY_VALUE_PRESENT => {
            ProtocolVersion::new(1, 2)
        }
        tag::RANDOM_NUMBER_GENERATOR => ProtocolVersion::new(1, 3),
        tag::DESCRIPTION
        | tag::COMMENT
        | tag::SENSITIVE
        | tag::ALWAYS_SENSITIVE
        | tag::EXTRACTABLE
        | tag::NEVER_EXTRACTABLE => ProtocolVersion::new(1, 4),
        tag::PROTECTION_LEVEL
        | tag::PROTECTION_PERIOD
        | tag::QUANTUM_SAFE
        | tag::PROTECTION_STORAGE_MASK
        | tag::KEY_FORMAT_TYPE => ProtocolVersion::new(2, 0),
        tag::SHORT_UNIQUE_IDENTIFIER => ProtocolVersion::new(2, 1),
        _ => ProtocolVersion::new(1, 0),
    }
}

/// The attributes a client of `version` can see: ones its protocol version defines.
pub(super) fn visible_attributes(ctx: &Ctx, uid: &str, managed: &ManagedObject) -> Vec<Attribute> {
    all_attributes(uid, managed)
        .into_iter()
        .filter(|a| attribute_since(&a.key) <= ctx.version)
        .collect()
}

/// Attributes with the 1.x Attribute Index each instance is answered with (2.x: none).
pub(super) fn indexed_attributes(
    ctx: &Ctx,
    managed: &ManagedObject,
    attributes: &[Attribute],
) -> Vec<IndexedAttribute> {
    attributes
        .iter()
        .enumerate()
        .map(|(i, a)| {
            if ctx.v2() {
                return IndexedAttribute::new(a.clone(), None);
            }
            let nth = attributes[..i].iter().filter(|b| b.key == a.key).count();
            let index = managed
                .indexes(&a.key)
                .get(nth)
                .copied()
                .unwrap_or(nth as u32);
            v1_instance(a.clone(), index)
        })
        .collect()
}

/// A 1.x Attribute naming one instance. KMIP 1.x: single-instance attributes always have index
/// 0, which may go unsaid (vCenter's captured answers omit it); an instance of a multi-instance
/// attribute carries its index even when it is 0, so a client can address that very instance
/// in a later Modify or Delete Attribute (PyKMIP reads it unconditionally).
pub(super) fn v1_instance(attribute: Attribute, index: u32) -> IndexedAttribute {
    let index = if multi_instance(&attribute.key) {
        Some(index)
    } else {
        Some(index).filter(|i| *i > 0)
    };
    IndexedAttribute::new(attribute, index)
}

/// Under `[kmip] unique_names`, refuses a Name another live object of the client holds.
/// KMIP itself lets names repeat (Locate by name then finds every holder), and a destroyed
/// object never holds a name: its Name stays readable but blocks nobody.
pub(super) fn check_unique_name(
    ctx: &Ctx,
    uid: &str,
    attribute: &Attribute,
) -> Result<(), EngineError> {
    if attribute.key != AttrKey::Standard(tag::NAME) {
        return Ok(());
    }
    let Some(name) = object::name_value(&attribute.value) else {
        return Err(EngineError::InvalidField("Name lacks a Name Value".into()));
    };
    if !ctx.unique_names {
        return Ok(());
    }
    let holders = ctx
        .overlay
        .find(&ctx.client.owner, Some(&object::name_term(name)))?;
    for holder in holders.iter().filter(|h| *h != uid) {
        let live = match ctx.load(holder) {
            Ok((_, managed)) => !managed.state.is_destroyed(),
            Err(EngineError::NotFound(_)) => false,
            Err(e) => return Err(e),
        };
        if live {
            return Err(EngineError::NonUniqueName(name.to_string()));
        }
    }
    Ok(())
}

pub(super) fn get_attributes(
    ctx: &mut Ctx,
    request: GetAttributesRequest,
) -> Result<GetAttributesResponse, EngineError> {
    let uid = ctx.uid_or_placeholder(request.unique_identifier)?;
    let (_, managed) = ctx.load(&uid)?;
    // No names at all means every attribute; names this server does not know match nothing.
    let named = !request.attributes.is_empty();
    let mut keys = request.attributes;
    // A name asked for twice is answered once.
    let mut seen = Vec::new();
    keys.retain(|k| {
        let first = !seen.contains(k);
        seen.push(k.clone());
        first
    });
    let all = visible_attributes(ctx, &uid, &managed);
    let selected: Vec<Attribute> = if !named {
        all
    } else {
        keys.iter()
            .flat_map(|k| all.iter().filter(move |a| &a.key == k).cloned())
            .collect()
    };
    Ok(GetAttributesResponse {
        attributes: indexed_attributes(ctx, &managed, &selected),
        unique_identifier: uid,
    })
}

pub(super) fn get_attribute_list(
    ctx: &mut Ctx,
    request: GetAttributeListRequest,
) -> Result<GetAttributeListResponse, EngineError> {
    let uid = ctx.uid_or_placeholder(request.unique_identifier)?;
    let (_, managed) = ctx.load(&uid)?;
    let mut keys: Vec<AttrKey> = Vec::new();
    for a in visible_attributes(ctx, &uid, &managed) {
        if !keys.contains(&a.key) {
            keys.push(a.key);
        }
    }
    Ok(GetAttributeListResponse {
        unique_identifier: uid,
        attributes: keys,
    })
}

/// The 1.x answer's instance (2.x answers with the UID alone).
fn changed(ctx: &Ctx, uid: String, instance: IndexedAttribute) -> AttributeChangeResponse {
    AttributeChangeResponse {
        unique_identifier: uid,
        attribute: (!ctx.v2()).then_some(instance),
    }
}

pub(super) fn add_attribute(
    ctx: &mut Ctx,
    request: AddAttributeRequest,
) -> Result<AddAttributeResponse, EngineError> {
    let uid = ctx.uid_or_placeholder(request.unique_identifier)?;
    if request.attribute.index.is_some() {
        return Err(EngineError::InvalidField(
            "Attribute Index is not allowed in Add Attribute".into(),
        ));
    }
    let attribute = request.attribute.attribute;
    let (stored, mut managed) = ctx.load_live(&uid)?;
    if server_managed(&attribute.key) {
        return Err(EngineError::ReadOnly(attribute.key.v1_name()));
    }
    let existing = managed.instances(&attribute.key).count();
    if existing > 0 && !multi_instance(&attribute.key) {
        return Err(EngineError::SingleValued(attribute.key.v1_name()));
    }
    check_unique_name(ctx, &uid, &attribute)?;
    // A second instance of the same name on the object itself is as ambiguous for Locate as
    // the name on another object.
    if attribute.key == AttrKey::Standard(tag::NAME)
        && managed.instances(&attribute.key).any(|existing| {
            object::name_value(&existing.value) == object::name_value(&attribute.value)
        })
    {
        let name = object::name_value(&attribute.value).unwrap_or_default();
        return Err(EngineError::NonUniqueName(name.to_string()));
    }
    apply_date_rules(ctx, &uid, &mut managed, &attribute)?;
    let index = managed.push_instance(attribute.clone());
    touch(ctx, &mut managed);
    ctx.save(stored, &managed);
    // Add Attribute answers with the index it gave, 0 left unsaid.
    let instance = IndexedAttribute::new(attribute, Some(index).filter(|i| *i > 0));
    Ok(AddAttributeResponse(changed(ctx, uid, instance)))
}

/// Position in `managed.attributes` of the `index`-th instance of `key`.
pub(super) fn instance_position(
    managed: &ManagedObject,
    key: &AttrKey,
    index: usize,
) -> Option<usize> {
    managed
        .attributes
        .iter()
        .enumerate()
        .filter(|(_, a)| &a.key == key)
        .nth(index)
        .map(|(p, _)| p)
}

pub(super) fn modify_attribute(
    ctx: &mut Ctx,
    request: ModifyAttributeRequest,
) -> Result<ModifyAttributeResponse, EngineError> {
    let uid = ctx.uid_or_placeholder(request.unique_identifier)?;
    let (stored, mut managed) = ctx.load_live(&uid)?;
    let new = request.new.attribute;
    let (position, index) = if ctx.v2() {
        let position = match &request.current {
            Some(current) => managed.attributes.iter().position(|a| a == current),
            None => instance_position(&managed, &new.key, 0),
        };
        (position, 0)
    } else {
        let index = request.new.index.unwrap_or(0);
        (managed.position_of_index(&new.key, index), index)
    };
    // Lifecycle dates are checked against the state before the generic read-only rule so the
    // vectors' Activation-Date-on-Active case reports the state problem.
    apply_date_rules(ctx, &uid, &mut managed, &new)?;
    if server_managed(&new.key) {
        return Err(EngineError::ReadOnly(new.key.v1_name()));
    }
    let position = position.ok_or_else(|| EngineError::AttributeNotFound(new.key.v1_name()))?;
    check_unique_name(ctx, &uid, &new)?;
    managed.attributes[position] = new.clone();
    touch(ctx, &mut managed);
    ctx.save(stored, &managed);
    let instance = v1_instance(new, index);
    Ok(ModifyAttributeResponse(changed(ctx, uid, instance)))
}

pub(super) fn set_attribute(
    ctx: &mut Ctx,
    request: SetAttributeRequest,
) -> Result<SetAttributeResponse, EngineError> {
    let uid = ctx.uid_or_placeholder(request.unique_identifier)?;
    let new = request.new;
    let (stored, mut managed) = ctx.load_live(&uid)?;
    if server_managed(&new.key) {
        return Err(EngineError::ReadOnly(new.key.v1_name()));
    }
    if multi_instance(&new.key) {
        return Err(EngineError::Illegal(format!(
            "Set Attribute on multi-instance attribute {}",
            new.key.v1_name()
        )));
    }
    apply_date_rules(ctx, &uid, &mut managed, &new)?;
    managed.attributes.retain(|a| a.key != new.key);
    managed.attributes.push(new);
    touch(ctx, &mut managed);
    ctx.save(stored, &managed);
    Ok(SetAttributeResponse {
        unique_identifier: Some(uid),
    })
}

pub(super) fn delete_attribute(
    ctx: &mut Ctx,
    request: DeleteAttributeRequest,
) -> Result<DeleteAttributeResponse, EngineError> {
    let uid = ctx.uid_or_placeholder(request.unique_identifier)?;
    let (stored, mut managed) = ctx.load_live(&uid)?;
    let (key, position, index) = match request.target {
        DeleteTarget::Current(current) => {
            let pos = managed.attributes.iter().position(|a| *a == current);
            (current.key, pos, 0)
        }
        DeleteTarget::Reference(key) => {
            let pos = instance_position(&managed, &key, 0);
            (key, pos, 0)
        }
        DeleteTarget::Named { key, index } => {
            let index = u32::try_from(index.unwrap_or(0)).unwrap_or(0);
            let pos = managed.position_of_index(&key, index);
            (key, pos, index)
        }
    };
    if server_managed(&key)
        || matches!(
            key,
            AttrKey::Standard(tag::ACTIVATION_DATE | tag::DEACTIVATION_DATE)
        ) && managed.state != State::PreActive
    {
        return Err(EngineError::ReadOnly(key.v1_name()));
    }
    let position = position.ok_or_else(|| EngineError::AttributeNotFound(key.v1_name()))?;
    let removed = managed.remove_instance(position);
    touch(ctx, &mut managed);
    ctx.save(stored, &managed);
    let instance = v1_instance(removed, index);
    Ok(DeleteAttributeResponse(changed(ctx, uid, instance)))
}
