//! The cryptographic services Keyward performs for KMIP clients (Encrypt, Sign, MAC, Hash,
//! Derive Key, key pairs, key wrapping), as a pure library over aws-lc-rs.
//!
//! Why a layer of its own: the engine speaks KMIP (enumerations, payloads, policy) and this
//! module speaks bytes and algorithms, so each can be tested without the other and the one
//! cryptographic library stays behind one door. Nothing here knows KMIP, the store or the
//! master key. Sealing at rest is not here either: it stays with `crate::seal`.
//!
//! Rules every file follows: key material lives in `Zeroizing` buffers, no `Debug` prints key
//! bytes, every failure is a [`CryptoError`] that names the algorithm or field at fault and
//! never the data.

pub mod asymmetric;
pub mod aws_lc_ffi;
pub mod digest;
mod error;
pub mod kdf;
pub mod key_format;
pub mod keypair;
pub mod keywrap;
pub mod mac;
pub mod random;
pub mod signature;
pub mod stream;
pub mod symmetric;

pub use error::CryptoError;
