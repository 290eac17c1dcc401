//! The hash chain: each record's MAC covers the previous record's MAC, so changing, removing,
//! inserting or reordering a record breaks every MAC from there on.
//!
//! mac(n) = HMAC-SHA256(K, prev ‖ encode(record n)) with prev = chain value of record n-1 (32
//! zero bytes for the first record ever). A checkpoint's MAC is
//! HMAC-SHA256(K, "checkpoint" ‖ encode(checkpoint)), and its chain value is the MAC of the
//! record it replaced. K = HMAC-SHA256(master key, [`KEY_LABEL`]).

use hmac::{Hmac, Mac};
use sha2::Sha256;
use zeroize::Zeroizing;

use super::record::AuditRecord;
use crate::seal::MasterKey;

/// Label the chain key is derived under; never reused for another purpose.
pub const KEY_LABEL: &[u8] = b"keyward audit chain v1";
/// Chain value before the first record.
pub const GENESIS: [u8; 32] = [0; 32];
const CHECKPOINT_DOMAIN: &[u8] = b"checkpoint";

/// The chain key. `Debug` prints nothing secret.
#[derive(Clone)]
pub struct ChainKey(Zeroizing<[u8; 32]>);

impl std::fmt::Debug for ChainKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ChainKey(<redacted>)")
    }
}

impl ChainKey {
    pub fn derive(master: &MasterKey) -> ChainKey {
        ChainKey(master.derive(KEY_LABEL))
    }

    fn hmac(&self) -> Hmac<Sha256> {
        <Hmac<Sha256> as Mac>::new_from_slice(&self.0[..])
            .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"))
    }

    /// MAC of an ordinary record chained to `prev`.
    pub fn mac(&self, prev: &[u8; 32], record: &AuditRecord) -> [u8; 32] {
        self.mac_encoded(prev, &record.encode())
    }

    /// [`ChainKey::mac`] of a record already encoded ([`AuditRecord::encode`]).
    pub fn mac_encoded(&self, prev: &[u8; 32], encoded_record: &[u8]) -> [u8; 32] {
        let mut mac = self.hmac();
        mac.update(prev);
        mac.update(encoded_record);
        mac.finalize().into_bytes().into()
    }

    /// MAC of a checkpoint (it stands alone: what it replaced is gone).
    pub fn checkpoint_mac(&self, record: &AuditRecord) -> [u8; 32] {
        let mut mac = self.hmac();
        mac.update(CHECKPOINT_DOMAIN);
        mac.update(&record.encode());
        mac.finalize().into_bytes().into()
    }
}
