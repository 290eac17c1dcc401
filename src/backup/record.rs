//! The records inside the encrypted stream: `kind (u8) ‖ length (u32 BE) ‖ body`. Strings and
//! byte fields in a body are `length (u32 BE) ‖ bytes`. The stream ends with one End record
//! that repeats the counts, so a stream cut at a record boundary is still noticed.

use zeroize::Zeroizing;

use super::BackupError;
use crate::store::{IndexTerm, StoredObject};

pub const KIND_OBJECT: u8 = 1;
pub const KIND_META: u8 = 2;
pub const KIND_EXTRA: u8 = 3;
pub const KIND_END: u8 = 0x7f;
/// Largest record body a reader accepts: bounds what a hostile file can make it allocate.
pub const MAX_RECORD_LEN: u32 = 16 * 1024 * 1024;

/// One managed object with its key material in the clear (only ever inside the AEAD stream).
pub struct ObjectRecord {
    pub uid: String,
    pub owner: String,
    pub version: u64,
    pub metadata: Vec<u8>,
    pub material: Option<Zeroizing<Vec<u8>>>,
    pub index_terms: Vec<IndexTerm>,
}

impl std::fmt::Debug for ObjectRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ObjectRecord")
            .field("uid", &self.uid)
            .field("owner", &self.owner)
            .field("version", &self.version)
            .field("has_material", &self.material.is_some())
            .finish()
    }
}

impl ObjectRecord {
    /// The stored form, with `sealed_material` supplied by the caller.
    pub fn into_stored(self, sealed_material: Option<Vec<u8>>) -> StoredObject {
        StoredObject {
            uid: self.uid,
            owner: self.owner,
            version: self.version,
            metadata: self.metadata,
            sealed_material,
            index_terms: self.index_terms,
        }
    }
}

#[derive(Debug)]
pub enum Record {
    Object(ObjectRecord),
    Meta {
        key: String,
        value: Vec<u8>,
    },
    /// A record from an extra source (the audit log), opaque to the backup.
    Extra {
        source: String,
        payload: Vec<u8>,
    },
    End(Counts),
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub objects: u64,
    pub meta: u64,
    pub extra: u64,
}

fn put_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(&(bytes.len() as u32).to_be_bytes());
    out.extend_from_slice(bytes);
}

/// Encodes `record` (kind, length, body) into zeroizing storage.
pub fn encode(record: &Record) -> Zeroizing<Vec<u8>> {
    let mut body = Zeroizing::new(Vec::new());
    let kind = match record {
        Record::Object(o) => {
            put_bytes(&mut body, o.uid.as_bytes());
            put_bytes(&mut body, o.owner.as_bytes());
            body.extend_from_slice(&o.version.to_be_bytes());
            put_bytes(&mut body, &o.metadata);
            match &o.material {
                Some(m) => {
                    body.push(1);
                    put_bytes(&mut body, m);
                }
                None => body.push(0),
            }
            body.extend_from_slice(&(o.index_terms.len() as u32).to_be_bytes());
            for term in &o.index_terms {
                put_bytes(&mut body, &term.0);
            }
            KIND_OBJECT
        }
        Record::Meta { key, value } => {
            put_bytes(&mut body, key.as_bytes());
            put_bytes(&mut body, value);
            KIND_META
        }
        Record::Extra { source, payload } => {
            put_bytes(&mut body, source.as_bytes());
            put_bytes(&mut body, payload);
            KIND_EXTRA
        }
        Record::End(c) => {
            body.extend_from_slice(&c.objects.to_be_bytes());
            body.extend_from_slice(&c.meta.to_be_bytes());
            body.extend_from_slice(&c.extra.to_be_bytes());
            KIND_END
        }
    };
    let mut out = Zeroizing::new(Vec::with_capacity(5 + body.len()));
    out.push(kind);
    out.extend_from_slice(&(body.len() as u32).to_be_bytes());
    out.extend_from_slice(&body);
    out
}

/// Parses a record body; every length is checked against what is left.
pub fn decode(kind: u8, body: &[u8]) -> Result<Record, BackupError> {
    let mut cursor = Cursor { rest: body };
    let record = match kind {
        KIND_OBJECT => {
            let uid = cursor.string("uid")?;
            let owner = cursor.string("owner")?;
            let version = cursor.u64("version")?;
            let metadata = cursor.bytes("metadata")?.to_vec();
            let material = match cursor.u8("material flag")? {
                0 => None,
                1 => Some(Zeroizing::new(cursor.bytes("material")?.to_vec())),
                other => {
                    return Err(BackupError::Malformed(format!(
                        "object {uid}: material flag {other}"
                    )));
                }
            };
            let count = cursor.u32("index term count")?;
            let mut index_terms = Vec::new();
            for _ in 0..count {
                index_terms.push(IndexTerm(cursor.bytes("index term")?.to_vec()));
            }
            Record::Object(ObjectRecord {
                uid,
                owner,
                version,
                metadata,
                material,
                index_terms,
            })
        }
        KIND_META => Record::Meta {
            key: cursor.string("meta key")?,
            value: cursor.bytes("meta value")?.to_vec(),
        },
        KIND_EXTRA => Record::Extra {
            source: cursor.string("extra source")?,
            payload: cursor.bytes("extra payload")?.to_vec(),
        },
        KIND_END => Record::End(Counts {
            objects: cursor.u64("object count")?,
            meta: cursor.u64("meta count")?,
            extra: cursor.u64("extra count")?,
        }),
        other => {
            return Err(BackupError::Malformed(format!(
                "unknown record kind {other}"
            )));
        }
    };
    if !cursor.rest.is_empty() {
        return Err(BackupError::Malformed(format!(
            "{} stray byte(s) after a record of kind {kind}",
            cursor.rest.len()
        )));
    }
    Ok(record)
}

struct Cursor<'a> {
    rest: &'a [u8],
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8], BackupError> {
        if self.rest.len() < n {
            return Err(BackupError::Malformed(format!(
                "record ends inside its {what}"
            )));
        }
        let (head, tail) = self.rest.split_at(n);
        self.rest = tail;
        Ok(head)
    }
    fn u8(&mut self, what: &str) -> Result<u8, BackupError> {
        Ok(self.take(1, what)?[0])
    }
    fn u32(&mut self, what: &str) -> Result<u32, BackupError> {
        let b = self.take(4, what)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn u64(&mut self, what: &str) -> Result<u64, BackupError> {
        let mut raw = [0u8; 8];
        raw.copy_from_slice(self.take(8, what)?);
        Ok(u64::from_be_bytes(raw))
    }
    fn bytes(&mut self, what: &str) -> Result<&'a [u8], BackupError> {
        let len = self.u32(what)? as usize;
        self.take(len, what)
    }
    fn string(&mut self, what: &str) -> Result<String, BackupError> {
        String::from_utf8(self.bytes(what)?.to_vec())
            .map_err(|_| BackupError::Malformed(format!("{what} is not UTF-8")))
    }
}
