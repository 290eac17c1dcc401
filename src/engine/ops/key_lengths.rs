//! Which Cryptographic Length a generated symmetric key may have, per KMIP algorithm.
//!
//! Creating a symmetric key is drawing random bytes of a valid length: the server need not
//! implement the cipher (Keyward implements none of IDEA, Blowfish, ... yet generates their
//! keys, as PyKMIP's own server does). The lengths are the ones each algorithm's definition
//! allows; anything else is refused as Invalid Field rather than guessed.

use super::EngineError;
use crate::kmip::enums::CryptographicAlgorithm as Alg;

/// Bits a key of `algorithm` may have.
enum Lengths {
    /// Exactly these.
    OneOf(&'static [i32]),
    /// Any multiple of `step` from `min` to `max`, inclusive.
    Range { min: i32, max: i32, step: i32 },
}

/// Any multiple of `step` bits from `min` to `max`, inclusive.
const fn bits(min: i32, max: i32, step: i32) -> Lengths {
    Lengths::Range { min, max, step }
}

/// HMAC keys: any whole number of bytes from 64 bits up to 512 bytes.
const HMAC: Lengths = bits(64, 4096, 8);

fn lengths(algorithm: Alg) -> Option<Lengths> {
    use Lengths::*;
    Some(match algorithm {
        // DES keys are 64 bits with 56 effective; 3DES has two- and three-key forms.
        Alg::Des => OneOf(&[56, 64]),
        Alg::TripleDes => OneOf(&[112, 128, 168, 192]),
        Alg::Aes | Alg::Camellia | Alg::Twofish | Alg::Aria => OneOf(&[128, 192, 256]),
        Alg::HmacSha1
        | Alg::HmacSha224
        | Alg::HmacSha256
        | Alg::HmacSha384
        | Alg::HmacSha512
        | Alg::HmacMd5
        | Alg::HmacSha3224
        | Alg::HmacSha3256
        | Alg::HmacSha3384
        | Alg::HmacSha3512 => HMAC,
        Alg::Blowfish => bits(32, 448, 8),
        Alg::Cast5 => bits(40, 128, 8),
        Alg::Idea | Alg::Seed | Alg::Sm4 => OneOf(&[128]),
        Alg::Mars => bits(128, 448, 32),
        Alg::Rc2 => bits(8, 1024, 8),
        Alg::Rc4 => bits(40, 2048, 8),
        Alg::Rc5 => bits(8, 2040, 8),
        Alg::Skipjack => OneOf(&[80]),
        Alg::ChaCha20 => OneOf(&[128, 256]),
        Alg::Poly1305 | Alg::ChaCha20Poly1305 => OneOf(&[256]),
        Alg::GostR34132015 | Alg::Gost2814789 => OneOf(&[256]),
        // A pad as long as the message it will cover: up to 64 KiB here.
        Alg::OneTimePad => bits(8, 1 << 19, 8),
        // Asymmetric algorithms, hashes and XOFs have no symmetric keys.
        _ => return None,
    })
}

/// Material length in bytes of a generated symmetric key, or why it cannot be generated.
pub(super) fn symmetric_key_bytes(
    algorithm: Option<u32>,
    length: Option<i32>,
) -> Result<usize, EngineError> {
    let algorithm =
        algorithm.ok_or_else(|| EngineError::MissingData("Cryptographic Algorithm".into()))?;
    let length = length.ok_or_else(|| EngineError::MissingData("Cryptographic Length".into()))?;
    let known = Alg::from_u32(algorithm)
        .ok_or_else(|| EngineError::InvalidField(format!("Cryptographic Algorithm {algorithm}")))?;
    let Some(allowed) = lengths(known) else {
        return Err(EngineError::InvalidField(format!(
            "{} is not a symmetric key algorithm",
            known.kmip_name()
        )));
    };
    let valid = match allowed {
        Lengths::OneOf(set) => set.contains(&length),
        Lengths::Range { min, max, step } => {
            (min..=max).contains(&length) && (length - min) % step == 0
        }
    };
    if !valid {
        return Err(EngineError::InvalidField(format!(
            "Cryptographic Length {length} for {}",
            known.kmip_name()
        )));
    }
    // DES-family lengths count key bits without parity: the material has the parity bits too.
    Ok(match (known, length) {
        (Alg::Des, _) => 8,
        (Alg::TripleDes, 112 | 128) => 16,
        (Alg::TripleDes, _) => 24,
        _ => (length as usize).div_ceil(8),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bytes(algorithm: Alg, length: i32) -> Result<usize, EngineError> {
        symmetric_key_bytes(Some(algorithm.value()), Some(length))
    }

    #[test]
    fn every_symmetric_algorithm_has_its_lengths() {
        assert_eq!(bytes(Alg::Aes, 256).ok(), Some(32));
        assert_eq!(bytes(Alg::Idea, 128).ok(), Some(16));
        assert_eq!(bytes(Alg::TripleDes, 168).ok(), Some(24));
        assert_eq!(bytes(Alg::Des, 56).ok(), Some(8));
        assert_eq!(bytes(Alg::Blowfish, 448).ok(), Some(56));
        assert_eq!(bytes(Alg::Skipjack, 80).ok(), Some(10));
        assert_eq!(bytes(Alg::HmacSha1, 160).ok(), Some(20));
        assert_eq!(bytes(Alg::ChaCha20Poly1305, 256).ok(), Some(32));
    }

    #[test]
    fn invalid_lengths_and_non_symmetric_algorithms_are_refused() {
        assert!(matches!(
            bytes(Alg::Idea, 256),
            Err(EngineError::InvalidField(_))
        ));
        assert!(matches!(
            bytes(Alg::Aes, 100),
            Err(EngineError::InvalidField(_))
        ));
        assert!(matches!(
            bytes(Alg::Mars, 130),
            Err(EngineError::InvalidField(_))
        ));
        assert!(matches!(
            bytes(Alg::Rsa, 2048),
            Err(EngineError::InvalidField(_))
        ));
        assert!(matches!(
            symmetric_key_bytes(Some(0x7777), Some(128)),
            Err(EngineError::InvalidField(_))
        ));
        assert!(matches!(
            symmetric_key_bytes(None, Some(128)),
            Err(EngineError::MissingData(_))
        ));
    }
}
