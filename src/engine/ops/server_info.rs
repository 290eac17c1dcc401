//! Questions about the server itself: Discover Versions and Query.

use super::*;

pub(super) fn discover_versions(_ctx: &mut Ctx, payload: &Item) -> Result<Vec<Item>, EngineError> {
    let offered: Vec<ProtocolVersion> = payload
        .children_with(tag::PROTOCOL_VERSION)
        .filter_map(ProtocolVersion::parse)
        .collect();
    let answer: Vec<ProtocolVersion> = if offered.is_empty() {
        SUPPORTED_VERSIONS.to_vec()
    } else {
        offered
            .into_iter()
            .filter(|v| SUPPORTED_VERSIONS.contains(v))
            .collect()
    };
    Ok(answer.into_iter().map(ProtocolVersion::encode).collect())
}

pub(super) fn query(ctx: &mut Ctx, payload: &Item) -> Result<Vec<Item>, EngineError> {
    let functions: Vec<u32> = payload
        .children_with(tag::QUERY_FUNCTION)
        .filter_map(|i| match i.value {
            Value::Enumeration(v) => Some(v),
            _ => None,
        })
        .collect();
    let wants = |f: QueryFunction| functions.contains(&f.value());
    let mut out = Vec::new();
    if wants(QueryFunction::Operations) {
        let mut ops: Vec<&Operation> = SUPPORTED_OPERATIONS
            .iter()
            .filter(|o| ctx.v2() || **o != Operation::SetAttribute)
            .collect();
        ops.sort();
        out.extend(
            ops.into_iter()
                .map(|o| Item::new(tag::OPERATION, Value::Enumeration(o.value()))),
        );
    }
    if wants(QueryFunction::Objects) {
        for t in [
            ObjectType::SymmetricKey,
            ObjectType::SecretData,
            ObjectType::OpaqueObject,
        ] {
            out.push(Item::new(tag::OBJECT_TYPE, Value::Enumeration(t.value())));
        }
    }
    if wants(QueryFunction::ServerInformation) {
        out.push(Item::new(
            tag::VENDOR_IDENTIFICATION,
            Value::TextString(ctx.vendor_identification.to_string()),
        ));
    }
    if wants(QueryFunction::Profiles) && ctx.version >= ProtocolVersion::new(1, 3) {
        let profiles: &[u32] = if ctx.v2() {
            &[profile_name::SYMMETRIC_KEY_LIFECYCLE_SERVER_V2]
        } else {
            &[
                profile_name::SYMMETRIC_KEY_LIFECYCLE_SERVER_V1,
                profile_name::SYMMETRIC_KEY_FOUNDRY_SERVER_V1,
            ]
        };
        for p in profiles {
            let mut info = vec![Item::new(tag::PROFILE_NAME, Value::Enumeration(*p))];
            if ctx.v2() {
                info.push(Item::structure(
                    tag::PROFILE_VERSION,
                    vec![
                        Item::new(
                            tag::PROFILE_VERSION_MAJOR,
                            Value::Integer(ctx.version.major),
                        ),
                        Item::new(
                            tag::PROFILE_VERSION_MINOR,
                            Value::Integer(ctx.version.minor),
                        ),
                    ],
                ));
            }
            out.push(Item::structure(tag::PROFILE_INFORMATION, info));
        }
    }
    Ok(out)
}
