//! The byte encoding of a [`StoredObject`] in the `objects` table (the UID is the table key,
//! so it is not repeated here). Explicit and versioned rather than a serde or redb-typed
//! encoding, so the on-disk format changes only when this file says so.
//!
//! Format 1, all integers big-endian:
//! `format:u8 = 1 ‖ version:u64 ‖ owner:bytes ‖ metadata:bytes ‖ material_present:u8 (0|1)
//!  [‖ sealed_material:bytes] ‖ term_count:u32 ‖ term:bytes × term_count`,
//! where `bytes` is `len:u32 ‖ len bytes`.

use crate::store::{IndexTerm, StoreError, StoredObject};

pub(super) const RECORD_FORMAT: u8 = 1;

fn put_bytes(out: &mut Vec<u8>, bytes: &[u8]) -> Result<(), StoreError> {
    let len = u32::try_from(bytes.len()).map_err(|_| {
        StoreError::Io(format!("a record field of {} bytes exceeds 4 GiB", bytes.len()).into())
    })?;
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(bytes);
    Ok(())
}

pub(crate) fn encode(object: &StoredObject) -> Result<Vec<u8>, StoreError> {
    let material_len = object.sealed_material.as_ref().map_or(0, |m| 4 + m.len());
    let terms_len: usize = object.index_terms.iter().map(|t| 4 + t.0.len()).sum();
    let mut out = Vec::with_capacity(
        1 + 8
            + 4
            + object.owner.len()
            + 4
            + object.metadata.len()
            + 1
            + material_len
            + 4
            + terms_len,
    );
    out.push(RECORD_FORMAT);
    out.extend_from_slice(&object.version.to_be_bytes());
    put_bytes(&mut out, object.owner.as_bytes())?;
    put_bytes(&mut out, &object.metadata)?;
    match &object.sealed_material {
        None => out.push(0),
        Some(material) => {
            out.push(1);
            put_bytes(&mut out, material)?;
        }
    }
    let count = u32::try_from(object.index_terms.len()).map_err(|_| {
        StoreError::Io(format!("object {} has too many index terms", object.uid).into())
    })?;
    out.extend_from_slice(&count.to_be_bytes());
    for term in &object.index_terms {
        put_bytes(&mut out, &term.0)?;
    }
    Ok(out)
}

/// A bounds-checked reader over one record; every failure names the object.
struct Reader<'a> {
    uid: &'a str,
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn corrupt(&self, what: &str) -> StoreError {
        StoreError::Corrupt(
            format!("record of object {} at byte {}: {what}", self.uid, self.at).into(),
        )
    }

    fn take(&mut self, len: usize, what: &str) -> Result<&'a [u8], StoreError> {
        let end = self
            .at
            .checked_add(len)
            .filter(|end| *end <= self.bytes.len());
        match end {
            Some(end) => {
                let slice = &self.bytes[self.at..end];
                self.at = end;
                Ok(slice)
            }
            None => Err(self.corrupt(&format!("truncated {what}"))),
        }
    }

    fn u8(&mut self, what: &str) -> Result<u8, StoreError> {
        Ok(self.take(1, what)?[0])
    }

    fn u32(&mut self, what: &str) -> Result<u32, StoreError> {
        let mut buf = [0u8; 4];
        buf.copy_from_slice(self.take(4, what)?);
        Ok(u32::from_be_bytes(buf))
    }

    fn u64(&mut self, what: &str) -> Result<u64, StoreError> {
        let mut buf = [0u8; 8];
        buf.copy_from_slice(self.take(8, what)?);
        Ok(u64::from_be_bytes(buf))
    }

    fn bytes(&mut self, what: &str) -> Result<&'a [u8], StoreError> {
        let len = self.u32(what)? as usize;
        self.take(len, what)
    }
}

pub(crate) fn decode(uid: &str, bytes: &[u8]) -> Result<StoredObject, StoreError> {
    let mut r = Reader { uid, bytes, at: 0 };
    let format = r.u8("format byte")?;
    if format != RECORD_FORMAT {
        return Err(r.corrupt(&format!("unknown record format {format}")));
    }
    let version = r.u64("version")?;
    let owner = std::str::from_utf8(r.bytes("owner")?)
        .map_err(|_| r.corrupt("owner is not UTF-8"))?
        .to_string();
    let metadata = r.bytes("metadata")?.to_vec();
    let sealed_material = match r.u8("material flag")? {
        0 => None,
        1 => Some(r.bytes("sealed material")?.to_vec()),
        other => return Err(r.corrupt(&format!("material flag {other} is neither 0 nor 1"))),
    };
    let count = r.u32("index term count")?;
    // Each term takes at least its 4-byte length, which bounds the allocation by the record size.
    if count as usize > (bytes.len() - r.at) / 4 {
        return Err(r.corrupt(&format!("index term count {count} exceeds the record")));
    }
    let mut index_terms = Vec::with_capacity(count as usize);
    for _ in 0..count {
        index_terms.push(IndexTerm(r.bytes("index term")?.to_vec()));
    }
    if r.at != bytes.len() {
        return Err(r.corrupt(&format!("{} trailing bytes", bytes.len() - r.at)));
    }
    Ok(StoredObject {
        uid: uid.to_string(),
        owner,
        version,
        metadata,
        sealed_material,
        index_terms,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(material: Option<Vec<u8>>, terms: Vec<&[u8]>) -> StoredObject {
        StoredObject {
            uid: "6f1c0b8e-0000-4000-8000-000000000001".into(),
            owner: "client-a".into(),
            version: 0x0102_0304_0506_0708,
            metadata: vec![0xAA, 0xBB],
            sealed_material: material,
            index_terms: terms.into_iter().map(|t| IndexTerm(t.to_vec())).collect(),
        }
    }

    #[test]
    fn round_trips_with_and_without_material() {
        for object in [
            sample(Some(vec![1, 2, 3]), vec![b"name:x", b""]),
            sample(None, vec![]),
            sample(Some(vec![]), vec![b"t"]),
        ] {
            let bytes = encode(&object).unwrap();
            assert_eq!(decode(&object.uid, &bytes).unwrap(), object);
        }
    }

    #[test]
    fn layout_is_the_documented_one() {
        let bytes = encode(&sample(Some(vec![9]), vec![b"ab"])).unwrap();
        let expected: Vec<u8> = [
            &[1][..],
            &[1, 2, 3, 4, 5, 6, 7, 8],
            &[0, 0, 0, 8],
            b"client-a",
            &[0, 0, 0, 2, 0xAA, 0xBB],
            &[1, 0, 0, 0, 1, 9],
            &[0, 0, 0, 1, 0, 0, 0, 2],
            b"ab",
        ]
        .concat();
        assert_eq!(bytes, expected);
    }

    #[test]
    fn every_truncation_and_trailing_garbage_is_corrupt() {
        let object = sample(Some(vec![1, 2, 3]), vec![b"name:x"]);
        let bytes = encode(&object).unwrap();
        for len in 0..bytes.len() {
            assert!(matches!(
                decode(&object.uid, &bytes[..len]),
                Err(StoreError::Corrupt(_))
            ));
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(matches!(
            decode(&object.uid, &longer),
            Err(StoreError::Corrupt(_))
        ));
        let mut bad_flag = encode(&sample(None, vec![])).unwrap();
        bad_flag[1 + 8 + 4 + 8 + 4 + 2] = 2;
        assert!(matches!(
            decode(&object.uid, &bad_flag),
            Err(StoreError::Corrupt(_))
        ));
    }

    #[test]
    fn huge_term_count_does_not_allocate() {
        let mut bytes = encode(&sample(None, vec![])).unwrap();
        let n = bytes.len();
        bytes[n - 4..].copy_from_slice(&u32::MAX.to_be_bytes());
        assert!(matches!(decode("u", &bytes), Err(StoreError::Corrupt(_))));
    }
}
