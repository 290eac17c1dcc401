//! Message digests (KMIP Hash, and the hash inside signatures, OAEP and KDFs): the SHA-1,
//! SHA-2 and SHA-3 functions aws-lc-rs offers, named by one enum the rest of the crate shares.

use aws_lc_rs::digest as lc;

/// A hash function Keyward offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HashAlgorithm {
    Sha1,
    Sha224,
    Sha256,
    Sha384,
    Sha512,
    Sha512_256,
    Sha3_256,
    Sha3_384,
    Sha3_512,
}

impl HashAlgorithm {
    pub(crate) fn lc(self) -> &'static lc::Algorithm {
        match self {
            HashAlgorithm::Sha1 => &lc::SHA1_FOR_LEGACY_USE_ONLY,
            HashAlgorithm::Sha224 => &lc::SHA224,
            HashAlgorithm::Sha256 => &lc::SHA256,
            HashAlgorithm::Sha384 => &lc::SHA384,
            HashAlgorithm::Sha512 => &lc::SHA512,
            HashAlgorithm::Sha512_256 => &lc::SHA512_256,
            HashAlgorithm::Sha3_256 => &lc::SHA3_256,
            HashAlgorithm::Sha3_384 => &lc::SHA3_384,
            HashAlgorithm::Sha3_512 => &lc::SHA3_512,
        }
    }

    /// Output length in bytes.
    pub fn output_len(self) -> usize {
        self.lc().output_len()
    }
}

/// The digest of `data`.
pub fn digest(algorithm: HashAlgorithm, data: &[u8]) -> Vec<u8> {
    lc::digest(algorithm.lc(), data).as_ref().to_vec()
}

/// A digest computed over data that arrives in parts (KMIP multi-part Hash).
pub struct Hasher {
    ctx: lc::Context,
}

impl std::fmt::Debug for Hasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Hasher")
    }
}

impl Hasher {
    pub fn new(algorithm: HashAlgorithm) -> Hasher {
        Hasher {
            ctx: lc::Context::new(algorithm.lc()),
        }
    }

    pub fn update(&mut self, data: &[u8]) {
        self.ctx.update(data);
    }

    pub fn finish(self) -> Vec<u8> {
        self.ctx.finish().as_ref().to_vec()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        hex::decode(s).unwrap()
    }

    // FIPS 180-2 appendix examples for the message "abc".
    #[test]
    fn known_answers_for_abc() {
        assert_eq!(
            digest(HashAlgorithm::Sha1, b"abc"),
            hex("a9993e364706816aba3e25717850c26c9cd0d89d")
        );
        assert_eq!(
            digest(HashAlgorithm::Sha256, b"abc"),
            hex("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        );
        assert_eq!(
            digest(HashAlgorithm::Sha224, b"abc"),
            hex("23097d223405d8228642a477bda255b32aadbce4bda0b3f7e36c9da7")
        );
        assert_eq!(
            digest(HashAlgorithm::Sha512, b"abc"),
            hex(concat!(
                "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a",
                "2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f"
            ))
        );
        assert_eq!(
            digest(HashAlgorithm::Sha3_256, b"abc"),
            hex("3a985da74fe225b2045c172d6bd390bd855f086e3e9d525b46bfe24511431532")
        );
    }

    #[test]
    fn parts_give_the_one_shot_digest() {
        let mut h = Hasher::new(HashAlgorithm::Sha384);
        h.update(b"ab");
        h.update(b"");
        h.update(b"c");
        assert_eq!(h.finish(), digest(HashAlgorithm::Sha384, b"abc"));
        assert_eq!(HashAlgorithm::Sha384.output_len(), 48);
    }
}
