//! Keys of the two index tables. Both start with the owner, length-prefixed so that one
//! owner's keys form one contiguous range that no other owner's keys fall into (owner "a" is
//! not a prefix match for owner "ab"), and end with the UID, so a range scan yields UIDs in
//! ascending order.
//!
//! `owner_index`: `owner_len:u32be ‖ owner ‖ uid`
//! `term_index`:  `owner_len:u32be ‖ owner ‖ term_len:u32be ‖ term ‖ uid`

use crate::store::{IndexTerm, StoreError};

fn push_len_prefixed(out: &mut Vec<u8>, bytes: &[u8]) -> Result<(), StoreError> {
    let len = u32::try_from(bytes.len()).map_err(|_| {
        StoreError::Io(format!("an index key part of {} bytes exceeds 4 GiB", bytes.len()).into())
    })?;
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(bytes);
    Ok(())
}

/// The prefix every `owner_index` key of `owner` starts with.
pub(super) fn owner_prefix(owner: &str) -> Result<Vec<u8>, StoreError> {
    let mut key = Vec::with_capacity(4 + owner.len() + 36);
    push_len_prefixed(&mut key, owner.as_bytes())?;
    Ok(key)
}

/// The prefix every `term_index` key of (`owner`, `term`) starts with.
pub(super) fn term_prefix(owner: &str, term: &IndexTerm) -> Result<Vec<u8>, StoreError> {
    let mut key = Vec::with_capacity(8 + owner.len() + term.0.len() + 36);
    push_len_prefixed(&mut key, owner.as_bytes())?;
    push_len_prefixed(&mut key, &term.0)?;
    Ok(key)
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
        assert_eq!(owner_key("ab", "u1").unwrap(), b"\0\0\0\x02abu1");
        assert_eq!(
            term_key("ab", &term, "u1").unwrap(),
            b"\0\0\0\x02ab\0\0\0\x03n:xu1"
        );
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
