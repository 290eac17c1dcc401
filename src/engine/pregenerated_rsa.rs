//! An RSA pair drawn off the write path (see `pregenerate.rs` for why), in a file of its own:
//! the generator step (`pregenerate.rs`) produces it and the operations (`ops/`) consume it, so
//! the type sits below both and the dependency runs one way, generator → operations.

use std::fmt;

use zeroize::Zeroizing;

/// One RSA pair drawn ahead: its size and its private key as PKCS#8 DER.
#[derive(Clone)]
pub struct PregeneratedRsa {
    pub bits: i32,
    pub pkcs8: Zeroizing<Vec<u8>>,
}

impl fmt::Debug for PregeneratedRsa {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PregeneratedRsa({} bits, <redacted>)", self.bits)
    }
}
