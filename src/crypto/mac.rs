//! HMAC over SHA-1 and SHA-2 (KMIP MAC and MAC Verify), with the verification done by
//! aws-lc-rs in constant time so a MAC Verify answer leaks nothing about how close a guess was.

use aws_lc_rs::hmac;

use super::CryptoError;
use super::digest::HashAlgorithm;

fn algorithm(hash: HashAlgorithm) -> Result<hmac::Algorithm, CryptoError> {
    Ok(match hash {
        HashAlgorithm::Sha1 => hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY,
        HashAlgorithm::Sha224 => hmac::HMAC_SHA224,
        HashAlgorithm::Sha256 => hmac::HMAC_SHA256,
        HashAlgorithm::Sha384 => hmac::HMAC_SHA384,
        HashAlgorithm::Sha512 => hmac::HMAC_SHA512,
        other => return Err(CryptoError::Unsupported(format!("HMAC with {other:?}"))),
    })
}

/// The HMAC of `data` under `key`.
pub fn sign(hash: HashAlgorithm, key: &[u8], data: &[u8]) -> Result<Vec<u8>, CryptoError> {
    let key = hmac::Key::new(algorithm(hash)?, key);
    Ok(hmac::sign(&key, data).as_ref().to_vec())
}

/// Checks `tag` against the HMAC of `data`, in constant time. A wrong tag is
/// [`CryptoError::IntegrityCheckFailed`].
pub fn verify(hash: HashAlgorithm, key: &[u8], data: &[u8], tag: &[u8]) -> Result<(), CryptoError> {
    let key = hmac::Key::new(algorithm(hash)?, key);
    hmac::verify(&key, data, tag).map_err(|_| CryptoError::IntegrityCheckFailed)
}

/// An HMAC computed over data that arrives in parts (KMIP multi-part MAC).
pub struct MacStream {
    ctx: hmac::Context,
}

impl std::fmt::Debug for MacStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MacStream")
    }
}

impl MacStream {
    pub fn new(hash: HashAlgorithm, key: &[u8]) -> Result<MacStream, CryptoError> {
        let key = hmac::Key::new(algorithm(hash)?, key);
        Ok(MacStream {
            ctx: hmac::Context::with_key(&key),
        })
    }

    pub fn update(&mut self, data: &[u8]) {
        self.ctx.update(data);
    }

    pub fn finish(self) -> Vec<u8> {
        self.ctx.sign().as_ref().to_vec()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        hex::decode(s).unwrap()
    }

    // RFC 4231 test case 1 and test case 2.
    #[test]
    fn rfc4231_known_answers() {
        let key = [0x0b; 20];
        let data = b"Hi There";
        assert_eq!(
            sign(HashAlgorithm::Sha224, &key, data).unwrap(),
            hex("896fb1128abbdf196832107cd49df33f47b4b1169912ba4f53684b22")
        );
        assert_eq!(
            sign(HashAlgorithm::Sha256, &key, data).unwrap(),
            hex("b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7")
        );
        assert_eq!(
            sign(HashAlgorithm::Sha384, &key, data).unwrap(),
            hex(concat!(
                "afd03944d84895626b0825f4ab46907f15f9dadbe4101ec682aa034c7cebc59c",
                "faea9ea9076ede7f4af152e8b2fa9cb6"
            ))
        );
        assert_eq!(
            sign(HashAlgorithm::Sha512, &key, data).unwrap(),
            hex(concat!(
                "87aa7cdea5ef619d4ff0b4241a1d6cb02379f4e2ce4ec2787ad0b30545e17cde",
                "daa833b7d6b8a702038b274eaea3f4e4be9d914eeb61f1702e696c203a126854"
            ))
        );
        assert_eq!(
            sign(
                HashAlgorithm::Sha256,
                b"Jefe",
                b"what do ya want for nothing?"
            )
            .unwrap(),
            hex("5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")
        );
    }

    // RFC 2202 test case 1 (HMAC-SHA-1).
    #[test]
    fn rfc2202_sha1_known_answer() {
        assert_eq!(
            sign(HashAlgorithm::Sha1, &[0x0b; 20], b"Hi There").unwrap(),
            hex("b617318655057264e28bc0b6fb378c8ef146be00")
        );
    }

    #[test]
    fn verify_accepts_the_tag_and_refuses_any_change() {
        let tag = sign(HashAlgorithm::Sha256, b"k", b"data").unwrap();
        verify(HashAlgorithm::Sha256, b"k", b"data", &tag).unwrap();
        let mut bad = tag.clone();
        bad[31] ^= 1;
        assert_eq!(
            verify(HashAlgorithm::Sha256, b"k", b"data", &bad),
            Err(CryptoError::IntegrityCheckFailed)
        );
        assert_eq!(
            verify(HashAlgorithm::Sha256, b"k", b"data", &tag[..16]),
            Err(CryptoError::IntegrityCheckFailed)
        );
        assert!(sign(HashAlgorithm::Sha3_256, b"k", b"d").is_err());
    }

    #[test]
    fn parts_give_the_one_shot_tag() {
        let mut s = MacStream::new(HashAlgorithm::Sha512, b"key").unwrap();
        s.update(b"hello ");
        s.update(b"world");
        assert_eq!(
            s.finish(),
            sign(HashAlgorithm::Sha512, b"key", b"hello world").unwrap()
        );
    }
}
