//! Key layout under the configured prefix `P` (byte-exact; see docs/cluster.md):
//!
//! - `P o/<uid>`                              → the object record (redb's record encoding)
//! - `P w/<hex owner>/<uid>`                  → empty: owner index
//! - `P t/<hex owner>/<hex term>/<uid>`       → empty: index term
//! - `P m/<meta key>`                         → meta value (wrapped master key, registry, …)
//! - `P n/<node id>`                          → that node's latest health report (JSON)
//! - `P g/<request id>`                       → an open audit gather request (leased)
//! - `P a/<request id>/<node id>/<part>`      → a node's answer to it (leased)
//!
//! Owner and term are hex-encoded so that `/` can separate the parts: a prefix scan for one
//! (owner, term) never matches another whose encoding merely starts the same way. UIDs are
//! UUID text and contain no `/`. etcd sorts keys bytewise, so a scan returns ascending UIDs.

use crate::store::{IndexTerm, StoreError};

#[derive(Debug, Clone)]
pub struct KeyLayout {
    prefix: Vec<u8>,
}

impl KeyLayout {
    pub fn new(prefix: &str) -> KeyLayout {
        KeyLayout {
            prefix: prefix.as_bytes().to_vec(),
        }
    }

    fn join(&self, parts: &[&[u8]]) -> Vec<u8> {
        let mut key = self.prefix.clone();
        for part in parts {
            key.extend_from_slice(part);
        }
        key
    }

    pub fn object(&self, uid: &str) -> Vec<u8> {
        self.join(&[b"o/", uid.as_bytes()])
    }

    /// All object records (for migration and status counts).
    pub fn objects_prefix(&self) -> Vec<u8> {
        self.join(&[b"o/"])
    }

    pub fn owner_prefix(&self, owner: &str) -> Vec<u8> {
        self.join(&[b"w/", hex::encode(owner).as_bytes(), b"/"])
    }

    pub fn owner_entry(&self, owner: &str, uid: &str) -> Vec<u8> {
        let mut key = self.owner_prefix(owner);
        key.extend_from_slice(uid.as_bytes());
        key
    }

    pub fn term_prefix(&self, owner: &str, term: &IndexTerm) -> Vec<u8> {
        self.join(&[
            b"t/",
            hex::encode(owner).as_bytes(),
            b"/",
            hex::encode(&term.0).as_bytes(),
            b"/",
        ])
    }

    pub fn term_entry(&self, owner: &str, term: &IndexTerm, uid: &str) -> Vec<u8> {
        let mut key = self.term_prefix(owner, term);
        key.extend_from_slice(uid.as_bytes());
        key
    }

    pub fn meta(&self, name: &str) -> Vec<u8> {
        self.join(&[b"m/", name.as_bytes()])
    }

    /// A node's latest report of its own health (`keyward cluster status`).
    pub fn node_report(&self, node_id: &str) -> Vec<u8> {
        self.join(&[b"n/", node_id.as_bytes()])
    }

    pub fn node_reports_prefix(&self) -> Vec<u8> {
        self.join(&[b"n/"])
    }

    /// An open request for every node's audit log (`keyward audit gather`).
    pub fn gather_request(&self, id: &str) -> Vec<u8> {
        self.join(&[b"g/", id.as_bytes()])
    }

    pub fn gather_requests_prefix(&self) -> Vec<u8> {
        self.join(&[b"g/"])
    }

    /// Where nodes answer request `id`: `P a/<id>/<node>/<part>`.
    pub fn gather_answers_prefix(&self, id: &str) -> Vec<u8> {
        self.join(&[b"a/", id.as_bytes(), b"/"])
    }

    pub fn gather_answer(&self, id: &str, node: &str, part: &str) -> Vec<u8> {
        self.join(&[
            b"a/",
            id.as_bytes(),
            b"/",
            node.as_bytes(),
            b"/",
            part.as_bytes(),
        ])
    }

    /// Everything Keyward owns in etcd.
    pub fn all(&self) -> Vec<u8> {
        self.prefix.clone()
    }
}

/// The UID at the end of an index entry found under `prefix`.
pub fn uid_after(prefix: &[u8], key: &[u8]) -> Result<String, StoreError> {
    let rest = key
        .strip_prefix(prefix)
        .ok_or_else(|| StoreError::Corrupt("etcd index entry outside its prefix".into()))?;
    String::from_utf8(rest.to_vec())
        .map_err(|_| StoreError::Corrupt("etcd index entry holds a non-UTF-8 UID".into()))
}

/// The smallest key greater than every key starting with `prefix` (etcd's `range_end`).
pub fn prefix_end(prefix: &[u8]) -> Vec<u8> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return end;
        }
    }
    // All 0xff (or empty): etcd reads "\0" as "to the end of the keyspace".
    vec![0]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owner_and_term_encodings_cannot_overlap() {
        let layout = KeyLayout::new("/k/");
        let a = layout.term_prefix("ab", &IndexTerm(b"c".to_vec()));
        let b = layout.term_prefix("a", &IndexTerm(b"bc".to_vec()));
        assert!(!a.starts_with(&b) && !b.starts_with(&a));
        let entry = layout.term_entry("ab", &IndexTerm(b"c".to_vec()), "u-1");
        assert_eq!(uid_after(&a, &entry).unwrap(), "u-1");
        assert!(uid_after(&b, &entry).is_err());
    }

    #[test]
    fn prefix_end_is_the_next_key() {
        assert_eq!(prefix_end(b"/k/o/"), b"/k/o0".to_vec());
        assert_eq!(prefix_end(b"a\xff"), b"b".to_vec());
        assert_eq!(prefix_end(b"\xff"), vec![0]);
    }
}
