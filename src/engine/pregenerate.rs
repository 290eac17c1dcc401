//! RSA key pairs drawn before a request reaches the write path.
//!
//! Why: the engine runs a group of changes inside one store transaction on the committer
//! thread, and every request waits for its group. Drawing an RSA-4096 pair takes a second or
//! more, so drawing it there would hold every other client's Create, and (with the audit log
//! on) every Get, for that long. The server therefore hands a request whose Create Key Pair
//! asks for RSA to a generator thread first, which calls [`ParsedRequest::pregenerate`]; the
//! operation then takes its pair from the request instead of drawing one. A request that
//! arrives without one (a retry, a path that skips the generator) still draws inline, so this
//! is an optimisation of where the time is spent, never a change in what is answered.

use super::ParsedRequest;
use super::ops;
use super::pregenerated_rsa::PregeneratedRsa;
use crate::kmip::enums::Operation;
use crate::store::ReadView;

impl ParsedRequest {
    /// The RSA sizes this request's Create Key Pair items ask for, and (with a store view to
    /// read the old keys from) its Re-key Key Pair items will draw, in item order.
    fn rsa_sizes_wanted(&self, view: Option<&dyn ReadView>) -> Vec<i32> {
        let v2 = self.message.version.major >= 2;
        self.message
            .items
            .iter()
            .filter(|i| i.defect.is_none())
            .filter_map(|i| match Operation::from_u32(i.operation) {
                Some(Operation::CreateKeyPair) => ops::rsa_pair_size(&i.payload, v2),
                Some(Operation::ReKeyKeyPair) => {
                    view.and_then(|v| ops::rekey_rsa_size(&i.payload, &self.client.owner, v))
                }
                _ => None,
            })
            .collect()
    }

    /// Whether the request asks for an RSA pair, which is slow to draw. Every Re-key Key Pair
    /// counts: whether it re-keys an RSA pair is read from the store on the generator thread.
    pub fn needs_slow_generation(&self) -> bool {
        !self.rsa_sizes_wanted(None).is_empty()
            || self
                .message
                .items
                .iter()
                .any(|i| i.defect.is_none() && i.operation == Operation::ReKeyKeyPair.value())
    }

    /// Draws every RSA pair the request asks for (off the write path); `view` lets a Re-key
    /// Key Pair find its old key's size. A size that cannot be drawn is left out: the
    /// operation then draws inline and reports the error itself.
    pub fn pregenerate(&mut self, view: Option<&dyn ReadView>) {
        self.pregenerated = self
            .rsa_sizes_wanted(view)
            .into_iter()
            .filter_map(|bits| {
                ops::draw_rsa_pkcs8(bits)
                    .ok()
                    .map(|pkcs8| PregeneratedRsa { bits, pkcs8 })
            })
            .collect();
    }
}
