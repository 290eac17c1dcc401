//! Random bytes for RNG Retrieve, IVs and key generation, from aws-lc-rs's generator (the same
//! DRBG that backs its key generation), so Keyward has one source of randomness for clients.

use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use zeroize::Zeroizing;

use super::CryptoError;

/// `len` random bytes.
pub fn bytes(len: usize) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    let mut out = Zeroizing::new(vec![0u8; len]);
    SystemRandom::new()
        .fill(&mut out)
        .map_err(|_| CryptoError::Random)?;
    Ok(out)
}

/// Fills `out` with random bytes.
pub fn fill(out: &mut [u8]) -> Result<(), CryptoError> {
    SystemRandom::new()
        .fill(out)
        .map_err(|_| CryptoError::Random)
}

#[cfg(test)]
mod tests {
    #[test]
    fn two_draws_differ_and_have_the_asked_length() {
        let a = super::bytes(32).unwrap();
        let b = super::bytes(32).unwrap();
        assert_eq!(a.len(), 32);
        assert_ne!(*a, *b);
        assert!(super::bytes(0).unwrap().is_empty());
    }
}
