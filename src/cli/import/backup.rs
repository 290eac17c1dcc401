//! `keyward import backup`: another appliance's encrypted backup merged into this one, so two
//! appliances become one. The objects go through the same import as from a KMIP server (same
//! UIDs, re-run safe, conflicts refused); the other appliance's registry and audit log are not
//! merged.

use std::fs::File;
use std::path::Path;

use keyward::admin::import::{ImportRequest, ImportResult, MAX_BATCH, Verdict, WireObject};
use keyward::backup::merge::{MergeItem, MergeSource};
use keyward::backup::passphrase;
use keyward::backup::reader::BackupReader;

use super::error::ImportError;
use super::report::Progress;
use super::target::Keyward;

/// Objects per Keyward transaction.
const BATCH: usize = 32;

const _: () = assert!(BATCH <= MAX_BATCH);

pub struct BackupPlan<'a> {
    pub file: &'a Path,
    pub passphrase_file: Option<&'a Path>,
    pub client: &'a str,
    /// Only objects of this owner on the source appliance (`cn:vcenter`), when given.
    pub from_owner: Option<&'a str>,
    pub dry_run: bool,
}

/// Opens the backup (asking for the passphrase on the terminal unless a file is given).
pub fn open(plan: &BackupPlan) -> Result<MergeSource<File>, ImportError> {
    let secret = match plan.passphrase_file {
        Some(path) => passphrase::from_file(path),
        None => passphrase::prompt(false),
    }
    .map_err(|e| ImportError::read(plan.file, e))?;
    let input = File::open(plan.file).map_err(|e| ImportError::read(plan.file, e))?;
    let reader = BackupReader::open(input, secret.as_bytes())
        .map_err(|e| ImportError::read(plan.file, e))?;
    Ok(MergeSource::new(reader))
}

/// Imports every object of `source`; one result per object, in the backup's order.
pub fn merge_all(
    source: &mut MergeSource<File>,
    keyward: &Keyward,
    plan: &BackupPlan,
    progress: &mut Progress,
) -> Result<Vec<ImportResult>, ImportError> {
    let source_name = format!(
        "backup {} of appliance {}",
        plan.file.display(),
        source.appliance_id()
    );
    let mut results = Vec::new();
    let mut pending: Vec<WireObject> = Vec::new();
    let flush = |pending: &mut Vec<WireObject>, results: &mut Vec<ImportResult>| {
        if pending.is_empty() {
            return Ok(());
        }
        let request = ImportRequest {
            client: plan.client.to_string(),
            source: source_name.clone(),
            dry_run: plan.dry_run,
            objects: std::mem::take(pending),
        };
        results.extend(keyward.import(&request)?);
        Ok::<(), ImportError>(())
    };
    loop {
        let item = source
            .next_object()
            .map_err(|e| ImportError::read(plan.file, e))?;
        let Some(item) = item else { break };
        let owner = match &item {
            MergeItem::Object { owner, .. } | MergeItem::Destroyed { owner, .. } => owner,
        };
        if plan.from_owner.is_some_and(|wanted| wanted != owner) {
            continue;
        }
        match item {
            MergeItem::Object { object, .. } => {
                pending.push(WireObject::new(&object));
                if pending.len() == BATCH {
                    flush(&mut pending, &mut results)?;
                    progress.advance(BATCH);
                }
            }
            MergeItem::Destroyed { uid, .. } => {
                // Keep the report in the backup's order: what is pending goes first.
                let waiting = pending.len();
                flush(&mut pending, &mut results)?;
                progress.advance(waiting + 1);
                results.push(ImportResult::new(
                    &uid,
                    Verdict::Destroyed,
                    Some("destroyed on the source appliance".into()),
                ));
            }
        }
    }
    let waiting = pending.len();
    flush(&mut pending, &mut results)?;
    progress.advance(waiting);
    Ok(results)
}
