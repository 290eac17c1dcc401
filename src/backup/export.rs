//! Export: one store snapshot → one backup stream. Material is unsealed with the master key and
//! written only inside the AEAD stream; nothing in the file depends on the master key.

use std::io::Write;

use super::BackupError;
use super::header::{DEFAULT_CHUNK_SIZE, Header, KdfSettings};
use super::record::{self, Counts, ObjectRecord, Record};
use super::stream::{Encryptor, passphrase_check};
use crate::engine::object::ManagedObject;
use crate::seal::MasterKey;
use crate::store::{ReadView, StoredObject};

/// Meta keys that belong to one appliance, not to its content: a restore makes its own
/// (new master key under the chosen root, new appliance id, fresh change counter, its own CA).
/// `cluster.` is a cluster's CA, its key sealed under that cluster's master key: restored
/// elsewhere it could not be unsealed, and a cluster later migrated from the restored
/// appliance would try to adopt it and fail to start. `node.` is a cluster node's own id, kept
/// in its local database.
pub const APPLIANCE_LOCAL_META_PREFIXES: &[&str] = &[
    "seal.",
    "store.",
    "appliance.",
    "backup.",
    "keyprotect.",
    "cluster.",
    "node.",
];

pub fn is_appliance_local_meta(key: &str) -> bool {
    APPLIANCE_LOCAL_META_PREFIXES
        .iter()
        .any(|prefix| key.starts_with(prefix))
}

/// A source of extra records (the audit log, when `--with-audit`), plugged in by the caller so
/// the backup needs no knowledge of it. Each payload is opaque and restored by its source.
pub trait ExtraSource {
    /// Name written with each record, e.g. "audit".
    fn name(&self) -> &str;
    /// Calls `emit` once per record, reading from the same snapshot as the objects.
    fn visit(
        &self,
        view: &dyn ReadView,
        emit: &mut dyn FnMut(&[u8]) -> Result<(), BackupError>,
    ) -> Result<(), BackupError>;
}

#[derive(Debug, Clone)]
pub struct ExportOptions {
    pub kdf: KdfSettings,
    pub chunk_size: u32,
    pub created_unix: u64,
    pub appliance_id: String,
}

impl ExportOptions {
    pub fn new(appliance_id: &str) -> ExportOptions {
        ExportOptions {
            kdf: KdfSettings::DEFAULT,
            chunk_size: DEFAULT_CHUNK_SIZE,
            created_unix: now_unix(),
            appliance_id: appliance_id.to_string(),
        }
    }
}

pub fn now_unix() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ExportSummary {
    pub objects: u64,
    pub meta: u64,
    pub extra: u64,
    pub bytes: u64,
    pub created_unix: u64,
}

/// Writes records into the stream and counts them.
struct RecordWriter<W: Write> {
    stream: Encryptor<W>,
    counts: Counts,
}

impl<W: Write> RecordWriter<W> {
    fn write(&mut self, record: &Record) -> Result<(), BackupError> {
        match record {
            Record::Object(_) => self.counts.objects += 1,
            Record::Meta { .. } => self.counts.meta += 1,
            Record::Extra { .. } => self.counts.extra += 1,
            Record::End(_) => {}
        }
        self.stream.write(&record::encode(record))
    }
}

/// Exports everything `view` holds into `out`. `progress` is called with the number of
/// objects written so far, every 1000 objects and at the end.
pub fn export<W: Write>(
    view: &dyn ReadView,
    master: &MasterKey,
    passphrase: &[u8],
    options: &ExportOptions,
    extras: &[&dyn ExtraSource],
    out: W,
    progress: &mut dyn FnMut(u64),
) -> Result<(W, ExportSummary), BackupError> {
    let (mut writer, prefix_len) = start_stream(options, passphrase, out)?;
    write_objects(view, master, &mut writer, progress)?;
    write_meta(view, &mut writer)?;
    for source in extras {
        source.visit(view, &mut |payload| {
            writer.write(&Record::Extra {
                source: source.name().to_string(),
                payload: payload.to_vec(),
            })
        })?;
    }

    let counts = writer.counts;
    writer.write(&Record::End(counts))?;
    let (out, written) = writer.stream.finish()?;
    let bytes = prefix_len + written;
    Ok((
        out,
        ExportSummary {
            objects: counts.objects,
            meta: counts.meta,
            extra: counts.extra,
            bytes,
            created_unix: options.created_unix,
        },
    ))
}

/// Writes the clear header and the passphrase check to `out` and opens the encrypted record
/// stream after them; returns the writer and the number of bytes written before the stream.
fn start_stream<W: Write>(
    options: &ExportOptions,
    passphrase: &[u8],
    mut out: W,
) -> Result<(RecordWriter<W>, u64), BackupError> {
    let header = Header::new(
        options.kdf,
        options.chunk_size,
        options.created_unix,
        &options.appliance_id,
    )?;
    let header_bytes = header.encode();
    let key = header.derive_key(passphrase)?;
    let check = passphrase_check(&key, &header.nonce_prefix, &header_bytes)?;
    let io = |e| BackupError::io("writing the backup", e);
    out.write_all(&header_bytes).map_err(io)?;
    out.write_all(&check).map_err(io)?;
    let prefix_len = (header_bytes.len() + check.len()) as u64;
    let stream = Encryptor::new(
        &key,
        header.nonce_prefix,
        header_bytes,
        header.chunk_size,
        out,
    )?;
    let writer = RecordWriter {
        stream,
        counts: Counts::default(),
    };
    Ok((writer, prefix_len))
}

/// One record per object, its material unsealed; `progress` every 1000 objects and at the end.
fn write_objects<W: Write>(
    view: &dyn ReadView,
    master: &MasterKey,
    writer: &mut RecordWriter<W>,
    progress: &mut dyn FnMut(u64),
) -> Result<(), BackupError> {
    let mut failure: Option<BackupError> = None;
    view.scan_objects(&mut |object| match object_record(object, master)
        .and_then(|record| writer.write(&record))
    {
        Ok(()) => {
            if writer.counts.objects.is_multiple_of(1000) {
                progress(writer.counts.objects);
            }
            true
        }
        Err(e) => {
            failure = Some(e);
            false
        }
    })?;
    if let Some(e) = failure {
        return Err(e);
    }
    progress(writer.counts.objects);
    Ok(())
}

/// The backup record of one stored object: its material unsealed with the master key (under
/// the same associated data it was sealed with), everything else as stored.
fn object_record(object: StoredObject, master: &MasterKey) -> Result<Record, BackupError> {
    let material = match &object.sealed_material {
        None => None,
        Some(sealed) => {
            let meta = ManagedObject::decode_metadata(&object.metadata).ok_or_else(|| {
                BackupError::Malformed(format!(
                    "object {}: stored metadata is unreadable",
                    object.uid
                ))
            })?;
            let aad = ManagedObject::sealing_aad(&object.uid, meta.material_generation);
            Some(
                master
                    .unseal(&aad, sealed)
                    .map_err(|e| BackupError::Malformed(format!("object {}: {e}", object.uid)))?,
            )
        }
    };
    Ok(Record::Object(ObjectRecord {
        uid: object.uid,
        owner: object.owner,
        version: object.version,
        metadata: object.metadata,
        material,
        index_terms: object.index_terms,
    }))
}

/// One record per meta key that belongs to the content, not to this appliance.
fn write_meta<W: Write>(
    view: &dyn ReadView,
    writer: &mut RecordWriter<W>,
) -> Result<(), BackupError> {
    let mut failure: Option<BackupError> = None;
    view.scan_meta(&mut |key, value| {
        if is_appliance_local_meta(key) {
            return true;
        }
        let record = Record::Meta {
            key: key.to_string(),
            value: value.to_vec(),
        };
        match writer.write(&record) {
            Ok(()) => true,
            Err(e) => {
                failure = Some(e);
                false
            }
        }
    })?;
    match failure {
        Some(e) => Err(e),
        None => Ok(()),
    }
}
