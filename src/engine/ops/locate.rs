//! Locate: index-assisted candidate search, attribute filters, storage status, paging.

use super::*;
use crate::kmip::object_payloads::{LocateRequest, LocateResponse};

/// The Operation Policy Name of objects that name none.
const DEFAULT_OPERATION_POLICY: &str = "default";

/// Whether one candidate matches one Locate filter attribute.
pub(super) fn matches_filter(uid: &str, managed: &ManagedObject, filter: &Attribute) -> bool {
    let all = all_attributes(uid, managed);
    let mut instances = all.iter().filter(|a| a.key == filter.key);
    match (&filter.key, &filter.value) {
        (AttrKey::Standard(tag::CRYPTOGRAPHIC_USAGE_MASK), Value::Integer(wanted)) => {
            instances.any(|a| matches!(a.value, Value::Integer(have) if have & wanted == *wanted))
        }
        // Every object without a policy of its own is under the one policy this server has,
        // which KMIP 1.x servers (PyKMIP's among them) call "default".
        (AttrKey::Standard(tag::OPERATION_POLICY_NAME), Value::TextString(wanted))
            if wanted == DEFAULT_OPERATION_POLICY =>
        {
            let mut instances = instances.peekable();
            instances.peek().is_none() || instances.any(|a| a.value == filter.value)
        }
        (AttrKey::Standard(tag::NAME), value) => {
            let wanted = object::name_value(value);
            instances.any(|a| object::name_value(&a.value) == wanted)
        }
        // Structured filters match on the fields they give.
        (_, Value::Structure(fields)) => {
            instances.any(|a| fields.iter().all(|f| a.value_child_eq(f)))
        }
        (_, value) => instances.any(|a| &a.value == value),
    }
}

pub(super) trait StructureField {
    fn value_child_eq(&self, field: &Item) -> bool;
}

impl StructureField for Attribute {
    fn value_child_eq(&self, field: &Item) -> bool {
        match &self.value {
            Value::Structure(children) => children.iter().any(|c| c == field),
            _ => false,
        }
    }
}

pub(super) fn locate(ctx: &mut Ctx, request: LocateRequest) -> Result<LocateResponse, EngineError> {
    let filters = ctx.resolve_attributes(request.attributes)?;
    let maximum = request.maximum_items;
    let offset = request.offset_items;
    let mask = request
        .storage_status_mask
        .unwrap_or(storage_status::ON_LINE_STORAGE);
    let filters = Filters::split(&filters);
    // Start from the narrowest index the filters allow.
    let term = filters.exact.iter().find_map(|f| match (&f.key, &f.value) {
        (AttrKey::Standard(tag::NAME), v) => object::name_value(v).map(object::name_term),
        (AttrKey::Custom(n), Value::TextString(t)) => Some(object::custom_term(n, t)),
        _ => None,
    });
    let candidates = ctx.overlay.find(&ctx.client.owner, term.as_ref())?;
    let mut found = Vec::new();
    for uid in candidates {
        let Some(managed) = candidate(ctx, &uid)? else {
            continue;
        };
        if let Some(created) = filters.admit(&uid, &managed, mask) {
            found.push((created, uid));
        }
    }
    // Newest first, as PyKMIP's server answers and its clients page (Maximum Items 1 is "the
    // latest"); UIDs are time-ordered (UUIDv7), so they break ties within one second.
    found.sort_unstable_by(|a, b| b.cmp(a));
    let found: Vec<String> = found.into_iter().map(|(_, uid)| uid).collect();
    let total = found.len();
    let skip = offset.unwrap_or(0).max(0) as usize;
    let page: Vec<String> = found
        .into_iter()
        .skip(skip)
        .take(
            maximum
                .filter(|m| *m > 0)
                .map(|m| m as usize)
                .unwrap_or(usize::MAX),
        )
        .collect();
    ctx.placeholder = if page.len() == 1 {
        page.first().cloned()
    } else {
        None
    };
    let paged =
        (maximum.is_some() || offset.is_some()) && ctx.version >= ProtocolVersion::new(1, 3);
    Ok(LocateResponse {
        located_items: paged.then(|| i32::try_from(total).unwrap_or(i32::MAX)),
        unique_identifiers: page,
    })
}

/// A Locate's filters: date attributes given twice form an inclusive range; every other filter
/// is exact.
struct Filters {
    ranges: Vec<(AttrKey, i64, i64)>,
    exact: Vec<Attribute>,
}

impl Filters {
    fn split(filters: &[Attribute]) -> Filters {
        let mut ranges: Vec<(AttrKey, i64, i64)> = Vec::new();
        let mut exact: Vec<Attribute> = Vec::new();
        for f in filters {
            if let Value::DateTime(d) = f.value {
                if let Some(r) = ranges.iter_mut().find(|r| r.0 == f.key) {
                    r.1 = r.1.min(d);
                    r.2 = r.2.max(d);
                    continue;
                }
                if filters.iter().filter(|g| g.key == f.key).count() == 2 {
                    ranges.push((f.key.clone(), d, d));
                    continue;
                }
            }
            exact.push(f.clone());
        }
        Filters { ranges, exact }
    }

    /// The object's Initial Date (for ordering) if it is visible under the Storage Status Mask
    /// and matches every filter.
    fn admit(&self, uid: &str, managed: &ManagedObject, mask: i32) -> Option<i64> {
        let visible = if managed.state.is_destroyed() {
            mask & storage_status::DESTROYED_STORAGE != 0
        } else {
            mask & storage_status::ON_LINE_STORAGE != 0
        };
        if !visible {
            return None;
        }
        let in_ranges = self.ranges.iter().all(|(key, lo, hi)| {
            managed
                .instances(key)
                .any(|a| matches!(a.value, Value::DateTime(d) if d >= *lo && d <= *hi))
        });
        if !in_ranges || !self.exact.iter().all(|f| matches_filter(uid, managed, f)) {
            return None;
        }
        Some(match managed.first(tag::INITIAL_DATE) {
            Some(Value::DateTime(d)) => *d,
            _ => i64::MIN,
        })
    }
}

/// A candidate object, or None when it is gone or its record is damaged (one damaged record
/// must not make every Locate of its owner fail).
fn candidate(ctx: &Ctx, uid: &str) -> Result<Option<ManagedObject>, EngineError> {
    match ctx.load(uid) {
        Ok((_, managed)) => Ok(Some(managed)),
        Err(EngineError::NotFound(_)) => Ok(None),
        Err(e @ EngineError::CorruptMetadata(_)) => {
            log::error!("Locate skips an object: {e}");
            Ok(None)
        }
        Err(e) => Err(e),
    }
}
