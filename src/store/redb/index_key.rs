//! Keys of the index table (schema 2). Every key starts with the owner, length-prefixed so that
//! one owner's keys form one contiguous range that no other owner's keys fall into (owner "a" is
//! not a prefix match for owner "ab"), and ends with the UID, so a range scan yields UIDs in
//! ascending order. An owner entry sits in the same table as the term entries, marked by a
//! term length no term can have: one table less to copy on every commit.
//!
//! owner entry: `owner_len:u32be ‖ owner ‖ FF FF FF FF ‖ uid`
//! term entry:  `owner_len:u32be ‖ owner ‖ term_len:u32be ‖ term ‖ uid` (term_len < FF FF FF FF)
//!
//! Schema 1 kept owner entries in a table of their own, `owner_index`, as
//! `owner_len:u32be ‖ owner ‖ uid` ([`legacy_owner_uid`] reads them for the migration).

use crate::store::{IndexTerm, StoreError};

fn push_len_prefixed(out: &mut Vec<u8>, bytes: &[u8]) -> Result<(), StoreError> {
    let len = u32::try_from(bytes.len()).map_err(|_| {
        StoreError::Io(format!("an index key part of {} bytes exceeds 4 GiB", bytes.len()).into())
    })?;
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(bytes);
    Ok(())
}

/// Where a term length would be, this marks an owner entry.
const OWNER_MARK: [u8; 4] = [0xFF; 4];

/// The prefix every owner entry of `owner` starts with.
pub(super) fn owner_prefix(owner: &str) -> Result<Vec<u8>, StoreError> {
    let mut key = Vec::with_capacity(8 + owner.len() + 36);
    push_len_prefixed(&mut key, owner.as_bytes())?;
    key.extend_from_slice(&OWNER_MARK);
    Ok(key)
}

/// The prefix every term entry of (`owner`, `term`) starts with.
pub(super) fn term_prefix(owner: &str, term: &IndexTerm) -> Result<Vec<u8>, StoreError> {
    if term.0.len() >= u32::MAX as usize {
        return Err(StoreError::Io(
            format!("an index term of {} bytes exceeds 4 GiB", term.0.len()).into(),
        ));
    }
    let mut key = Vec::with_capacity(8 + owner.len() + term.0.len() + 36);
    push_len_prefixed(&mut key, owner.as_bytes())?;
    push_len_prefixed(&mut key, &term.0)?;
    Ok(key)
}

/// (owner, UID) of a schema-1 `owner_index` key: `owner_len:u32be ‖ owner ‖ uid`.
pub(super) fn legacy_owner_uid(key: &[u8]) -> Result<(String, String), StoreError> {
    let bad = || StoreError::Corrupt("a schema-1 owner_index key is malformed".into());
    let len_bytes: [u8; 4] = key
        .get(..4)
        .and_then(|b| b.try_into().ok())
        .ok_or_else(bad)?;
    let len = u32::from_be_bytes(len_bytes) as usize;
    let owner = key.get(4..4 + len).ok_or_else(bad)?;
    let uid = key.get(4 + len..).ok_or_else(bad)?;
    let text = |bytes: &[u8]| {
        std::str::from_utf8(bytes)
            .map(str::to_string)
            .map_err(|_| bad())
    };
    Ok((text(owner)?, text(uid)?))
}

pub(super) fn owner_key(owner: &str, uid: &str) -> Result<Vec<u8>, StoreError> {
    let mut key = owner_prefix(owner)?;
    key.extend_from_slice(uid.as_bytes());
    Ok(key)
}

pub(super) fn term_key(owner: &str, term: &IndexTerm, uid: &str) -> Result<Vec<u8>, StoreError> {
    let mut key = term_prefix(owner, term)?;
    key.extend_from_slice(uid.as_bytes());
    Ok(key)
}

/// The UID at the end of an index key found under `prefix`.
pub(super) fn uid_after(prefix: &[u8], key: &[u8]) -> Result<String, StoreError> {
    key.strip_prefix(prefix)
        .and_then(|uid| std::str::from_utf8(uid).ok())
        .map(str::to_string)
        .ok_or_else(|| StoreError::Corrupt("index key does not end in a UTF-8 UID".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_is_the_documented_one() {
        let term = IndexTerm(b"n:x".to_vec());
        assert_eq!(
            owner_key("ab", "u1").unwrap(),
            b"\0\0\0\x02ab\xff\xff\xff\xffu1"
        );
        assert_eq!(
            term_key("ab", &term, "u1").unwrap(),
            b"\0\0\0\x02ab\0\0\0\x03n:xu1"
        );
    }

    #[test]
    fn owner_entries_never_match_a_term_prefix() {
        let owner = owner_key("ab", "u1").unwrap();
        let term = term_key("ab", &IndexTerm(Vec::new()), "u1").unwrap();
        assert!(!owner.starts_with(&term_prefix("ab", &IndexTerm(Vec::new())).unwrap()));
        assert!(!term.starts_with(&owner_prefix("ab").unwrap()));
    }

    #[test]
    fn legacy_owner_keys_are_read_back() {
        let (owner, uid) = legacy_owner_uid(b"\0\0\0\x02abu1").unwrap();
        assert_eq!((owner.as_str(), uid.as_str()), ("ab", "u1"));
        assert!(legacy_owner_uid(b"\0\0\0\x09ab").is_err());
    }

    #[test]
    fn one_owner_is_never_a_prefix_of_another() {
        let a = owner_prefix("a").unwrap();
        assert!(!owner_key("ab", "x").unwrap().starts_with(&a));
        let t = term_prefix("a", &IndexTerm(b"t".to_vec())).unwrap();
        assert!(
            !term_key("a", &IndexTerm(b"tt".to_vec()), "x")
                .unwrap()
                .starts_with(&t)
        );
    }
}
