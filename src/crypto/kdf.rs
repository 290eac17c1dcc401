//! Key derivation for KMIP Derive Key: PBKDF2 (RFC 8018), HKDF (RFC 5869) and the NIST
//! SP 800-108 KDF in counter mode with an HMAC PRF.
//!
//! All three come from aws-lc-rs: `pbkdf2`, `hkdf`, and `kdf::kbkdf_ctr_hmac` (SP 800-108r1
//! section 4.1 with a 32-bit big-endian counter placed before the fixed input data, which is the
//! layout KMIP's NIST800-108-C derivation assumes). Nothing is hand-written here; an earlier plan
//! to build SP 800-108 on top of HMAC was dropped once aws-lc-rs was found to ship it.

use std::num::NonZeroU32;

use aws_lc_rs::{hkdf, kdf, pbkdf2};
use zeroize::Zeroizing;

use super::CryptoError;
use super::digest::HashAlgorithm;

/// Longest output any derivation here produces (a KMIP key is far shorter).
pub const MAX_OUTPUT: usize = 1024;

/// Most PBKDF2 iterations one request may ask for: above today's recommendations (600 000 for
/// HMAC-SHA256) yet about a second of work, so a client cannot stall the server for minutes.
pub const MAX_PBKDF2_ITERATIONS: u32 = 2_000_000;

fn check_len(len: usize) -> Result<(), CryptoError> {
    if len == 0 || len > MAX_OUTPUT {
        return Err(CryptoError::InvalidInput(format!(
            "derived length {len} (must be 1 to {MAX_OUTPUT} bytes)"
        )));
    }
    Ok(())
}

/// PBKDF2 with HMAC over `hash`.
pub fn pbkdf2(
    hash: HashAlgorithm,
    password: &[u8],
    salt: &[u8],
    iterations: u32,
    len: usize,
) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    check_len(len)?;
    let alg = match hash {
        HashAlgorithm::Sha1 => pbkdf2::PBKDF2_HMAC_SHA1,
        HashAlgorithm::Sha256 => pbkdf2::PBKDF2_HMAC_SHA256,
        HashAlgorithm::Sha384 => pbkdf2::PBKDF2_HMAC_SHA384,
        HashAlgorithm::Sha512 => pbkdf2::PBKDF2_HMAC_SHA512,
        other => return Err(CryptoError::Unsupported(format!("PBKDF2 with {other:?}"))),
    };
    if iterations > MAX_PBKDF2_ITERATIONS {
        return Err(CryptoError::InvalidInput(format!(
            "{iterations} PBKDF2 iterations (at most {MAX_PBKDF2_ITERATIONS})"
        )));
    }
    let iterations = NonZeroU32::new(iterations)
        .ok_or_else(|| CryptoError::InvalidInput("PBKDF2 needs at least one iteration".into()))?;
    let mut out = Zeroizing::new(vec![0u8; len]);
    pbkdf2::derive(alg, iterations, salt, password, &mut out);
    Ok(out)
}

/// Output length for HKDF's expand step.
struct OutputLen(usize);

impl hkdf::KeyType for OutputLen {
    fn len(&self) -> usize {
        self.0
    }
}

/// HKDF extract-then-expand.
pub fn hkdf(
    hash: HashAlgorithm,
    ikm: &[u8],
    salt: &[u8],
    info: &[u8],
    len: usize,
) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    check_len(len)?;
    let alg = match hash {
        HashAlgorithm::Sha1 => hkdf::HKDF_SHA1_FOR_LEGACY_USE_ONLY,
        HashAlgorithm::Sha256 => hkdf::HKDF_SHA256,
        HashAlgorithm::Sha384 => hkdf::HKDF_SHA384,
        HashAlgorithm::Sha512 => hkdf::HKDF_SHA512,
        other => return Err(CryptoError::Unsupported(format!("HKDF with {other:?}"))),
    };
    if len > 255 * hash.output_len() {
        return Err(CryptoError::InvalidInput("HKDF output too long".into()));
    }
    let info = [info];
    let prk = hkdf::Salt::new(alg, salt).extract(ikm);
    let okm = prk.expand(&info, OutputLen(len))?;
    let mut out = Zeroizing::new(vec![0u8; len]);
    okm.fill(&mut out)?;
    Ok(out)
}

/// NIST SP 800-108 counter mode, HMAC PRF, 32-bit counter before `fixed_input`.
pub fn sp800_108_counter_hmac(
    hash: HashAlgorithm,
    key: &[u8],
    fixed_input: &[u8],
    len: usize,
) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    check_len(len)?;
    let id = match hash {
        HashAlgorithm::Sha224 => kdf::KbkdfCtrHmacAlgorithmId::Sha224,
        HashAlgorithm::Sha256 => kdf::KbkdfCtrHmacAlgorithmId::Sha256,
        HashAlgorithm::Sha384 => kdf::KbkdfCtrHmacAlgorithmId::Sha384,
        HashAlgorithm::Sha512 => kdf::KbkdfCtrHmacAlgorithmId::Sha512,
        other => {
            return Err(CryptoError::Unsupported(format!(
                "SP 800-108 with HMAC-{other:?}"
            )));
        }
    };
    let alg = kdf::get_kbkdf_ctr_hmac_algorithm(id)
        .ok_or(CryptoError::Library("SP 800-108 algorithm"))?;
    if key.is_empty() {
        return Err(CryptoError::InvalidInput("SP 800-108 needs a key".into()));
    }
    let mut out = Zeroizing::new(vec![0u8; len]);
    kdf::kbkdf_ctr_hmac(alg, key, fixed_input, &mut out)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::mac;

    fn hex(s: &str) -> Vec<u8> {
        hex::decode(s).unwrap()
    }

    // RFC 6070, PBKDF2-HMAC-SHA1 test vectors 1-3 and 5.
    #[test]
    fn rfc6070_known_answers() {
        let d = |c, len| pbkdf2(HashAlgorithm::Sha1, b"password", b"salt", c, len).unwrap();
        assert_eq!(*d(1, 20), hex("0c60c80f961f0e71f3a9b524af6012062fe037a6"));
        assert_eq!(*d(2, 20), hex("ea6c014dc72d6f8ccd1ed92ace1d41f0d8de8957"));
        assert_eq!(
            *d(4096, 20),
            hex("4b007901b765489abead49d926f721d065a429c1")
        );
        let long = pbkdf2(
            HashAlgorithm::Sha1,
            b"passwordPASSWORDpassword",
            b"saltSALTsaltSALTsaltSALTsaltSALTsalt",
            4096,
            25,
        )
        .unwrap();
        assert_eq!(
            *long,
            hex("3d2eec4fe41c849b80c8d83662c0e44a8b291a964cf2f07038")
        );
        assert!(pbkdf2(HashAlgorithm::Sha1, b"p", b"s", 0, 20).is_err());
        assert!(matches!(
            pbkdf2(
                HashAlgorithm::Sha256,
                b"p",
                b"s",
                MAX_PBKDF2_ITERATIONS + 1,
                32
            ),
            Err(CryptoError::InvalidInput(_))
        ));
    }

    // RFC 5869 test case 1 (HKDF-SHA256).
    #[test]
    fn rfc5869_known_answer() {
        let okm = hkdf(
            HashAlgorithm::Sha256,
            &[0x0b; 22],
            &hex("000102030405060708090a0b0c"),
            &hex("f0f1f2f3f4f5f6f7f8f9"),
            42,
        )
        .unwrap();
        assert_eq!(
            *okm,
            hex(
                "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865"
            )
        );
    }

    // NIST CAVP KBKDF, counter mode, HMAC-SHA256, 32-bit counter before the fixed data.
    #[test]
    fn sp800_108_known_answer_and_its_definition() {
        let key = hex("0185fb7661f6dd408d982f810fcd5004");
        let fixed = hex("c3f1712a82613643e0f763a7a0a31588b6aed95056dfc512550cf2d00d68a32d");
        let out = sp800_108_counter_hmac(HashAlgorithm::Sha256, &key, &fixed, 16).unwrap();
        assert_eq!(*out, hex("c63f747b67be71f57ba4562117dd2904"));
        // K(1) = HMAC(key, [1]_32 || fixed): the first block is one HMAC call.
        let mut first = vec![0, 0, 0, 1];
        first.extend_from_slice(&fixed);
        let block = mac::sign(HashAlgorithm::Sha256, &key, &first).unwrap();
        assert_eq!(&out[..], &block[..16]);
        assert!(sp800_108_counter_hmac(HashAlgorithm::Sha1, &key, &fixed, 16).is_err());
        assert!(sp800_108_counter_hmac(HashAlgorithm::Sha256, &key, &fixed, 0).is_err());
    }
}
