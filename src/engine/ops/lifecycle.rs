//! State transitions: Activate, Revoke, Destroy (typed request to typed response), and the
//! effects of client-set dates.

use super::*;
use crate::kmip::object_payloads::{
    ActivateRequest, ActivateResponse, DestroyRequest, DestroyResponse, RevokeRequest,
    RevokeResponse,
};

/// Applies the lifecycle side effects of a client-set date attribute.
pub(super) fn apply_date_rules(
    ctx: &Ctx,
    uid: &str,
    managed: &mut ManagedObject,
    attribute: &Attribute,
) -> Result<(), EngineError> {
    match (&attribute.key, &attribute.value) {
        (AttrKey::Standard(tag::ACTIVATION_DATE), Value::DateTime(when)) => {
            if managed.state != State::PreActive {
                return Err(EngineError::WrongState {
                    uid: uid.to_string(),
                    operation: "setting Activation Date",
                });
            }
            if *when <= ctx.now {
                managed.state = State::Active;
            }
        }
        (AttrKey::Standard(tag::DEACTIVATION_DATE), Value::DateTime(when)) => {
            if !matches!(managed.state, State::PreActive | State::Active) {
                return Err(EngineError::WrongState {
                    uid: uid.to_string(),
                    operation: "setting Deactivation Date",
                });
            }
            if *when <= ctx.now && managed.state == State::Active {
                managed.state = State::Deactivated;
            }
        }
        _ => {}
    }
    Ok(())
}

pub(super) fn touch(ctx: &Ctx, managed: &mut ManagedObject) {
    managed.set(tag::LAST_CHANGE_DATE, Value::DateTime(ctx.now));
    // Always Sensitive / Never Extractable record history: once lost, never regained.
    if matches!(managed.first(tag::SENSITIVE), Some(Value::Boolean(false))) {
        managed.set(tag::ALWAYS_SENSITIVE, Value::Boolean(false));
    }
    if matches!(managed.first(tag::EXTRACTABLE), Some(Value::Boolean(true))) {
        managed.set(tag::NEVER_EXTRACTABLE, Value::Boolean(false));
    }
}

pub(super) fn activate(
    ctx: &mut Ctx,
    request: ActivateRequest,
) -> Result<ActivateResponse, EngineError> {
    let uid = ctx.uid_or_placeholder(request.unique_identifier)?;
    let (stored, mut managed) = ctx.load_live(&uid)?;
    if managed.state != State::PreActive {
        return Err(EngineError::WrongState {
            uid,
            operation: "Activate",
        });
    }
    managed.state = State::Active;
    managed.set(tag::ACTIVATION_DATE, Value::DateTime(ctx.now));
    touch(ctx, &mut managed);
    ctx.save(stored, &managed);
    Ok(ActivateResponse::new(&uid))
}

pub(super) fn revoke(ctx: &mut Ctx, request: RevokeRequest) -> Result<RevokeResponse, EngineError> {
    let uid = ctx.uid_or_placeholder(request.unique_identifier.clone())?;
    let code = RevocationReasonCode::from_u32(request.reason_code).ok_or_else(|| {
        EngineError::InvalidField(format!("Revocation Reason Code {}", request.reason_code))
    })?;
    let occurrence = request.compromise_occurrence_date;
    let (stored, mut managed) = ctx.load(&uid)?;
    let compromise = matches!(
        code,
        RevocationReasonCode::KeyCompromise | RevocationReasonCode::CaCompromise
    );
    if compromise {
        managed.state = match managed.state {
            State::PreActive | State::Active | State::Deactivated | State::Compromised => {
                State::Compromised
            }
            State::Destroyed | State::DestroyedCompromised => State::DestroyedCompromised,
        };
        managed.set(tag::COMPROMISE_DATE, Value::DateTime(ctx.now));
        let occurred = occurrence.or(match managed.first(tag::INITIAL_DATE) {
            Some(Value::DateTime(d)) => Some(*d),
            _ => None,
        });
        if let Some(d) = occurred {
            managed.set(tag::COMPROMISE_OCCURRENCE_DATE, Value::DateTime(d));
        }
    } else {
        if occurrence.is_some() {
            return Err(EngineError::InvalidField(
                "Compromise Occurrence Date is only for compromise reasons".into(),
            ));
        }
        if managed.state.is_destroyed() {
            return Err(EngineError::Destroyed(uid));
        }
        if managed.state != State::Active {
            return Err(EngineError::WrongState {
                uid,
                operation: "Revoke",
            });
        }
        managed.state = State::Deactivated;
        managed.set(tag::DEACTIVATION_DATE, Value::DateTime(ctx.now));
    }
    managed.set(tag::REVOCATION_REASON, request.reason_value());
    touch(ctx, &mut managed);
    ctx.save(stored, &managed);
    Ok(RevokeResponse::new(&uid))
}

pub(super) fn destroy(
    ctx: &mut Ctx,
    request: DestroyRequest,
) -> Result<DestroyResponse, EngineError> {
    let uid = ctx.uid_or_placeholder(request.unique_identifier)?;
    let (mut stored, mut managed) = ctx.load_live(&uid)?;
    managed.state = match managed.state {
        State::PreActive | State::Deactivated => State::Destroyed,
        State::Compromised => State::DestroyedCompromised,
        _ => {
            return Err(EngineError::WrongState {
                uid,
                operation: "Destroy",
            });
        }
    };
    stored.sealed_material = None;
    managed.set(tag::DESTROY_DATE, Value::DateTime(ctx.now));
    touch(ctx, &mut managed);
    ctx.save(stored, &managed);
    Ok(DestroyResponse::new(&uid))
}
