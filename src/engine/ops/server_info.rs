//! Questions about the server itself: Discover Versions and Query.

use super::*;
use crate::kmip::server_payloads::{
    DiscoverVersionsRequest, DiscoverVersionsResponse, InteropRequest, InteropResponse, LogRequest,
    LogResponse, QueryRequest, QueryResponse,
};

/// Operations KMIP defines from 2.0 on; 1.x clients neither see nor reach them.
const V2_ONLY_OPERATIONS: &[Operation] =
    &[Operation::SetAttribute, Operation::Log, Operation::Interop];

/// Log: the client asks the server to record a line in its log.
pub(super) fn log_message(ctx: &mut Ctx, request: LogRequest) -> Result<LogResponse, EngineError> {
    // Client text must not forge log lines or terminal escapes.
    let clean: String = request
        .message
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(1024)
        .collect();
    log::info!("client {} logs: {clean}", ctx.client.owner);
    Ok(LogResponse)
}

/// Interop: a test harness marks the beginning, end or reset of a test case. Keyward keeps no
/// per-test state, so it only checks the request is well-formed.
pub(super) fn interop(
    ctx: &mut Ctx,
    request: InteropRequest,
) -> Result<InteropResponse, EngineError> {
    const BEGIN: u32 = 0x01;
    const RESET: u32 = 0x03;
    if !(BEGIN..=RESET).contains(&request.function) {
        return Err(EngineError::InvalidField(format!(
            "Interop Function {}",
            request.function
        )));
    }
    if let Some(id) = &request.identifier {
        log::debug!("client {}: interop test case {id}", ctx.client.owner);
    }
    Ok(InteropResponse)
}

pub(super) fn discover_versions(
    _ctx: &mut Ctx,
    request: DiscoverVersionsRequest,
) -> Result<DiscoverVersionsResponse, EngineError> {
    let versions = if request.versions.is_empty() {
        SUPPORTED_VERSIONS.to_vec()
    } else {
        request
            .versions
            .into_iter()
            .filter(|v| SUPPORTED_VERSIONS.contains(v))
            .collect()
    };
    Ok(DiscoverVersionsResponse { versions })
}

pub(super) fn query(ctx: &mut Ctx, request: QueryRequest) -> Result<QueryResponse, EngineError> {
    let wants = |f: QueryFunction| request.functions.contains(&f.value());
    let mut answer = QueryResponse::default();
    if wants(QueryFunction::Operations) {
        answer.operations = offered_operations(ctx);
    }
    if wants(QueryFunction::Objects) {
        answer.object_types = offered_object_types(ctx);
    }
    // Server Information, Extension and Profile Information, in the order KMIP lists them.
    let out = &mut answer.rest;
    if wants(QueryFunction::ServerInformation) {
        answer.vendor_identification = Some(ctx.vendor_identification.to_string());
        // 2.x clients (the tape library and SED profiles) expect the structure, empty when the
        // server has nothing vendor-specific to say; 1.x clients (vCenter) were answered
        // without it, and still are.
        if ctx.v2() {
            out.push(Item::structure(tag::SERVER_INFORMATION, Vec::new()));
        }
    }
    if wants(QueryFunction::ExtensionList) || wants(QueryFunction::ExtensionMap) {
        out.extend(super::extensions::extension_information(wants(
            QueryFunction::ExtensionMap,
        )));
    }
    if wants(QueryFunction::Profiles) && ctx.version >= ProtocolVersion::new(1, 3) {
        out.extend(profile_information(ctx));
    }
    Ok(answer)
}

/// The operations this server offers at the request's version, in enumeration order.
fn offered_operations(ctx: &Ctx) -> Vec<u32> {
    let mut ops: Vec<&Operation> = SUPPORTED_OPERATIONS
        .iter()
        .filter(|o| ctx.v2() || !V2_ONLY_OPERATIONS.contains(o))
        .collect();
    ops.sort();
    ops.into_iter().map(|o| o.value()).collect()
}

/// What Register stores and Get serves (docs/kmip-support.md); Template is 1.x only.
fn offered_object_types(ctx: &Ctx) -> Vec<u32> {
    [
        ObjectType::SymmetricKey,
        ObjectType::SecretData,
        ObjectType::OpaqueObject,
        ObjectType::Certificate,
        ObjectType::PublicKey,
        ObjectType::PrivateKey,
        ObjectType::SplitKey,
        ObjectType::PgpKey,
        ObjectType::Template,
    ]
    .into_iter()
    .filter(|t| !(*t == ObjectType::Template && ctx.v2()))
    .map(|t| t.value())
    .collect()
}

/// Profile Information for each profile this server claims at the request's version.
fn profile_information(ctx: &Ctx) -> Vec<Item> {
    // 1.3/1.4 and 2.x number the profiles differently (1.x values are reserved in 2.x).
    let profiles: &[ProfileName] = if ctx.v2() {
        &[ProfileName::SymmetricKeyLifecycleServer]
    } else {
        &[
            ProfileName::SymmetricKeyLifecycleServerKmipV14,
            ProfileName::SymmetricKeyFoundryServerKmipV14,
        ]
    };
    profiles
        .iter()
        .map(|p| {
            let mut info = vec![Item::new(tag::PROFILE_NAME, Value::Enumeration(p.value()))];
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
            Item::structure(tag::PROFILE_INFORMATION, info)
        })
        .collect()
}
