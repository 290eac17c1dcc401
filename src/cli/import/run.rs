//! The import itself: for each selected UID, Get Attributes and Get on the old server, turn the
//! answers into an object, and hand Keyward a batch at a time. An object the old server
//! refuses, or Keyward cannot keep, is a result and the run goes on; the run stops only when
//! the old server stays unreachable or Keyward refuses a whole batch.

use keyward::admin::import::{ImportRequest, ImportResult, MAX_BATCH, Verdict, WireObject};

use super::convert::{self, Converted};
use super::error::ImportError;
use super::report::Progress;
use super::source::{self, SourceServer};
use super::target::Keyward;

/// Objects per Keyward transaction: small enough that an interrupted run loses little,
/// large enough that a thousand keys take few commits.
pub const DEFAULT_BATCH: usize = 32;

/// Consecutive objects whose fetch failed on the network before the run gives up.
const MAX_TRANSPORT_FAILURES: usize = 5;

const _: () = assert!(DEFAULT_BATCH <= MAX_BATCH);

pub struct Plan<'a> {
    pub client: &'a str,
    pub source_name: String,
    pub dry_run: bool,
    pub batch_size: usize,
}

/// One fetched object: ready for Keyward, or already decided here.
enum Fetched {
    Ready {
        wire: WireObject,
        unknown: Vec<String>,
    },
    Decided(ImportResult),
}

fn fetch_one(source: &mut SourceServer, uid: &str) -> Result<Fetched, ImportError> {
    let decided = |verdict, reason: String| {
        Ok(Fetched::Decided(ImportResult::new(
            uid,
            verdict,
            Some(reason),
        )))
    };
    let (attributes, get) = source.fetch(uid)?;
    let attributes = match attributes {
        Ok(payload) => payload,
        Err(refusal) => {
            return decided(
                Verdict::Failed,
                format!("the old server refused Get Attributes: {refusal}"),
            );
        }
    };
    let (listed, _) = convert::attributes_of(&attributes);
    if convert::state_of(&listed).is_some_and(|s| s.is_destroyed()) {
        return decided(Verdict::Destroyed, "destroyed on the old server".into());
    }
    let mut get = match get {
        Ok(payload) => payload,
        Err(refusal) => {
            return decided(
                Verdict::Failed,
                format!("the old server refused Get: {refusal}"),
            );
        }
    };
    let converted = convert::convert(uid, &attributes, &get);
    source::scrub(&mut get);
    match converted {
        Ok(Converted::Object { object, unknown }) => Ok(Fetched::Ready {
            wire: WireObject::new(&object),
            unknown,
        }),
        Ok(Converted::Destroyed) => {
            decided(Verdict::Destroyed, "destroyed on the old server".into())
        }
        Err(e) => decided(Verdict::Refused, e.to_string()),
    }
}

/// Imports `uids`; returns one result per UID, in order.
pub fn import_all(
    source: &mut SourceServer,
    keyward: &Keyward,
    plan: &Plan,
    uids: &[String],
    progress: &mut Progress,
) -> Result<Vec<ImportResult>, ImportError> {
    let mut results = Vec::with_capacity(uids.len());
    let mut transport_failures = 0;
    for chunk in uids.chunks(plan.batch_size.clamp(1, MAX_BATCH)) {
        let FetchedChunk {
            slots,
            wires,
            unknown_of,
        } = fetch_chunk(source, chunk, &mut transport_failures)?;
        let stored = if wires.is_empty() {
            Vec::new()
        } else {
            let request = ImportRequest {
                client: plan.client.to_string(),
                source: plan.source_name.clone(),
                dry_run: plan.dry_run,
                objects: wires,
            };
            keyward.import(&request)?
        };
        fill_slots(slots, stored.into_iter().zip(unknown_of), &mut results)?;
        progress.advance(chunk.len());
    }
    Ok(results)
}

/// One chunk read from the old server: a slot per UID, empty where the object is to be sent
/// to Keyward (in `wires`, with the attributes Keyward does not know in `unknown_of`), filled
/// where its result is already decided.
struct FetchedChunk {
    slots: Vec<Option<ImportResult>>,
    wires: Vec<WireObject>,
    unknown_of: Vec<Vec<String>>,
}

/// Reads the objects of `chunk`. A transport failure fails only its object until
/// [`MAX_TRANSPORT_FAILURES`] come in a row (`transport_failures` counts them across chunks).
fn fetch_chunk(
    source: &mut SourceServer,
    chunk: &[String],
    transport_failures: &mut usize,
) -> Result<FetchedChunk, ImportError> {
    let mut fetched = FetchedChunk {
        slots: Vec::with_capacity(chunk.len()),
        wires: Vec::new(),
        unknown_of: Vec::new(),
    };
    for uid in chunk {
        match fetch_one(source, uid) {
            Ok(Fetched::Ready { wire, unknown }) => {
                *transport_failures = 0;
                fetched.wires.push(wire);
                fetched.unknown_of.push(unknown);
                fetched.slots.push(None);
            }
            Ok(Fetched::Decided(result)) => {
                *transport_failures = 0;
                fetched.slots.push(Some(result));
            }
            Err(e @ (ImportError::Connect { .. } | ImportError::BadResponse { .. })) => {
                *transport_failures += 1;
                if *transport_failures >= MAX_TRANSPORT_FAILURES {
                    return Err(e);
                }
                fetched.slots.push(Some(ImportResult::new(
                    uid,
                    Verdict::Failed,
                    Some(e.to_string()),
                )));
            }
            Err(e) => return Err(e),
        }
    }
    Ok(fetched)
}

/// Appends the chunk's results in UID order: decided slots as they are, empty ones from
/// Keyward's answers in turn, an imported object noting the attributes it dropped.
fn fill_slots(
    slots: Vec<Option<ImportResult>>,
    mut stored: impl Iterator<Item = (ImportResult, Vec<String>)>,
    results: &mut Vec<ImportResult>,
) -> Result<(), ImportError> {
    for slot in slots {
        match slot {
            Some(result) => results.push(result),
            None => match stored.next() {
                Some((mut result, unknown)) => {
                    if result.verdict == Verdict::Imported {
                        for name in unknown {
                            if !result.dropped_attributes.contains(&name) {
                                result.dropped_attributes.push(name);
                            }
                        }
                    }
                    results.push(result);
                }
                None => {
                    return Err(ImportError::Keyward(
                        "the server answered fewer objects than it was sent".into(),
                    ));
                }
            },
        }
    }
    Ok(())
}
