//! AES in CBC, ECB and CTR mode over data that may arrive in several parts (KMIP Encrypt and
//! Decrypt with Init Indicator / Final Indicator and a Correlation Value).
//!
//! Why the state is plain data and not an aws-lc-rs streaming context: between two parts the
//! server answers the client and forgets the request, and a request may even run twice (a
//! write group retried after a store conflict) or on another cluster node. So everything a
//! stream needs to continue is a few bytes: the chaining block (CBC), the initial counter block
//! and byte offset (CTR), and at most one block of unprocessed input. The engine seals these
//! bytes ([`BlockStream::to_bytes`]) into the Correlation Value it hands to the client; each
//! part is then a pure function of (key, state, input). The block cipher work is aws-lc-rs's
//! (unpadded CBC/ECB/CTR for the middle parts, its PKCS#7 padding for the last); this file only
//! decides which bytes go in which call.
//!
//! A one-shot operation is a stream of one part: [`BlockStream::finish`] on a fresh state.

use aws_lc_rs::cipher::{
    self, DecryptingKey, DecryptionContext, EncryptingKey, EncryptionContext,
    PaddedBlockDecryptingKey, PaddedBlockEncryptingKey, UnboundCipherKey,
};
use aws_lc_rs::iv::FixedLength;
use zeroize::{Zeroize, Zeroizing};

use super::CryptoError;

const BLOCK: usize = 16;

/// Block cipher mode of a [`BlockStream`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamMode {
    Cbc,
    Ecb,
    Ctr,
}

/// Padding of the last block (CBC and ECB; CTR needs none).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Padding {
    None,
    /// PKCS#5 as generalised to 16-byte blocks (PKCS#7).
    Pkcs5,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Encrypt,
    Decrypt,
}

/// Where a multi-part AES operation stands. `Debug` shows the shape, never the pending bytes.
#[derive(Clone, PartialEq, Eq)]
pub struct BlockStream {
    mode: StreamMode,
    padding: Padding,
    direction: Direction,
    /// CBC: the IV of the next block. CTR: the counter block of byte offset 0. ECB: unused.
    chain: [u8; BLOCK],
    /// CTR: bytes already processed.
    offset: u64,
    /// Input not yet processed (CBC/ECB: less than a block, or a held-back last block).
    pending: Zeroizing<Vec<u8>>,
}

impl std::fmt::Debug for BlockStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlockStream")
            .field("mode", &self.mode)
            .field("padding", &self.padding)
            .field("direction", &self.direction)
            .field("offset", &self.offset)
            .field("pending_len", &self.pending.len())
            .finish()
    }
}

fn aes(key: &[u8]) -> Result<&'static cipher::Algorithm, CryptoError> {
    match key.len() {
        16 => Ok(&cipher::AES_128),
        24 => Ok(&cipher::AES_192),
        32 => Ok(&cipher::AES_256),
        len => Err(CryptoError::KeyLength {
            len,
            algorithm: "AES",
        }),
    }
}

fn unbound(key: &[u8]) -> Result<UnboundCipherKey, CryptoError> {
    Ok(UnboundCipherKey::new(aes(key)?, key)?)
}

/// `counter + blocks` as a 128-bit big-endian integer (wrapping, as AES-CTR counts).
fn add_blocks(counter: &[u8; BLOCK], blocks: u64) -> [u8; BLOCK] {
    u128::from_be_bytes(*counter)
        .wrapping_add(u128::from(blocks))
        .to_be_bytes()
}

fn iv_context(iv: [u8; BLOCK]) -> EncryptionContext {
    EncryptionContext::Iv128(FixedLength::from(iv))
}

fn iv_dcontext(iv: [u8; BLOCK]) -> DecryptionContext {
    DecryptionContext::Iv128(FixedLength::from(iv))
}

fn last_block(bytes: &[u8]) -> [u8; BLOCK] {
    let mut out = [0u8; BLOCK];
    out.copy_from_slice(&bytes[bytes.len() - BLOCK..]);
    out
}

const STATE_VERSION: u8 = 1;

impl BlockStream {
    /// A new stream. `iv` is the IV (CBC) or initial counter block (CTR), 16 bytes; ECB takes
    /// none.
    pub fn new(
        mode: StreamMode,
        padding: Padding,
        direction: Direction,
        iv: &[u8],
    ) -> Result<BlockStream, CryptoError> {
        let mut chain = [0u8; BLOCK];
        match mode {
            StreamMode::Ecb if !iv.is_empty() => {
                return Err(CryptoError::InvalidInput("ECB takes no IV".into()));
            }
            StreamMode::Ecb => {}
            StreamMode::Cbc | StreamMode::Ctr => {
                if iv.len() != BLOCK {
                    return Err(CryptoError::InvalidInput(format!(
                        "the IV/counter must be 16 bytes, not {}",
                        iv.len()
                    )));
                }
                chain.copy_from_slice(iv);
            }
        }
        if mode == StreamMode::Ctr && padding != Padding::None {
            return Err(CryptoError::Unsupported("padding with CTR".into()));
        }
        Ok(BlockStream {
            mode,
            padding,
            direction,
            chain,
            offset: 0,
            pending: Zeroizing::new(Vec::new()),
        })
    }

    pub fn direction(&self) -> Direction {
        self.direction
    }

    /// Processes one middle part; returns the output it makes available now.
    pub fn update(&mut self, key: &[u8], data: &[u8]) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        if self.mode == StreamMode::Ctr {
            return self.ctr(key, data);
        }
        let mut buf = Zeroizing::new(Vec::with_capacity(self.pending.len() + data.len()));
        buf.extend_from_slice(&self.pending);
        buf.extend_from_slice(data);
        let whole = buf.len() / BLOCK * BLOCK;
        // Decrypting with padding: the last block may be the padding, so it waits for finish.
        let ready = if self.direction == Direction::Decrypt
            && self.padding == Padding::Pkcs5
            && whole == buf.len()
        {
            whole.saturating_sub(BLOCK)
        } else {
            whole
        };
        let mut out = Zeroizing::new(buf[..ready].to_vec());
        self.pending = Zeroizing::new(buf[ready..].to_vec());
        if ready > 0 {
            self.unpadded(key, &mut out)?;
        }
        Ok(out)
    }

    /// Processes the last part (the only one for a one-shot operation); returns the rest of the
    /// output. A wrong padding on decryption is [`CryptoError::IntegrityCheckFailed`].
    pub fn finish(mut self, key: &[u8], data: &[u8]) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        if self.mode == StreamMode::Ctr {
            return self.ctr(key, data);
        }
        let mut buf = Zeroizing::new(Vec::with_capacity(self.pending.len() + data.len() + BLOCK));
        buf.extend_from_slice(&self.pending);
        buf.extend_from_slice(data);
        match (self.padding, self.direction) {
            (Padding::None, _) => {
                if !buf.len().is_multiple_of(BLOCK) {
                    return Err(CryptoError::InvalidInput(
                        "without padding the data must be a multiple of 16 bytes".into(),
                    ));
                }
                if !buf.is_empty() {
                    self.unpadded(key, &mut buf)?;
                }
                Ok(buf)
            }
            (Padding::Pkcs5, Direction::Encrypt) => {
                let k = unbound(key)?;
                let (padded, ctx) = match self.mode {
                    StreamMode::Cbc => (
                        PaddedBlockEncryptingKey::cbc_pkcs7(k)?,
                        iv_context(self.chain),
                    ),
                    _ => (
                        PaddedBlockEncryptingKey::ecb_pkcs7(k)?,
                        EncryptionContext::None,
                    ),
                };
                padded.less_safe_encrypt(&mut *buf, ctx)?;
                Ok(buf)
            }
            (Padding::Pkcs5, Direction::Decrypt) => {
                if buf.is_empty() || !buf.len().is_multiple_of(BLOCK) {
                    return Err(CryptoError::InvalidInput(
                        "padded ciphertext must be a non-empty multiple of 16 bytes".into(),
                    ));
                }
                let k = unbound(key)?;
                let (padded, ctx) = match self.mode {
                    StreamMode::Cbc => (
                        PaddedBlockDecryptingKey::cbc_pkcs7(k)?,
                        iv_dcontext(self.chain),
                    ),
                    _ => (
                        PaddedBlockDecryptingKey::ecb_pkcs7(k)?,
                        DecryptionContext::None,
                    ),
                };
                let len = padded
                    .decrypt(&mut buf[..], ctx)
                    .map_err(|_| CryptoError::IntegrityCheckFailed)?
                    .len();
                buf.truncate(len);
                Ok(buf)
            }
        }
    }

    /// CBC/ECB without padding over whole blocks, in place; advances the CBC chain.
    fn unpadded(&mut self, key: &[u8], blocks: &mut [u8]) -> Result<(), CryptoError> {
        let k = unbound(key)?;
        let next_chain = match self.direction {
            Direction::Encrypt => {
                let (ek, ctx) = match self.mode {
                    StreamMode::Cbc => (EncryptingKey::cbc(k)?, iv_context(self.chain)),
                    _ => (EncryptingKey::ecb(k)?, EncryptionContext::None),
                };
                ek.less_safe_encrypt(blocks, ctx)?;
                last_block(blocks)
            }
            Direction::Decrypt => {
                let last_ciphertext = last_block(blocks);
                let (dk, ctx) = match self.mode {
                    StreamMode::Cbc => (DecryptingKey::cbc(k)?, iv_dcontext(self.chain)),
                    _ => (DecryptingKey::ecb(k)?, DecryptionContext::None),
                };
                dk.decrypt(blocks, ctx)?;
                last_ciphertext
            }
        };
        if self.mode == StreamMode::Cbc {
            self.chain = next_chain;
        }
        Ok(())
    }

    /// CTR from the current offset: the keystream of the partial block already used is skipped
    /// by running the cipher over that many placeholder bytes first.
    fn ctr(&mut self, key: &[u8], data: &[u8]) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        let skip = (self.offset % BLOCK as u64) as usize;
        let counter = add_blocks(&self.chain, self.offset / BLOCK as u64);
        let mut buf = Zeroizing::new(vec![0u8; skip]);
        buf.extend_from_slice(data);
        if !data.is_empty() {
            // Encryption and decryption are the same keystream XOR in CTR mode.
            EncryptingKey::ctr(unbound(key)?)?.less_safe_encrypt(&mut buf, iv_context(counter))?;
        }
        self.offset = self
            .offset
            .checked_add(data.len() as u64)
            .ok_or_else(|| CryptoError::InvalidInput("CTR stream too long".into()))?;
        Ok(Zeroizing::new(buf[skip..].to_vec()))
    }

    /// The state as bytes, to be sealed into a Correlation Value (it may hold plaintext).
    pub fn to_bytes(&self) -> Zeroizing<Vec<u8>> {
        let mut out = Zeroizing::new(Vec::with_capacity(4 + BLOCK + 8 + self.pending.len()));
        out.push(STATE_VERSION);
        out.push(match self.mode {
            StreamMode::Cbc => 0,
            StreamMode::Ecb => 1,
            StreamMode::Ctr => 2,
        });
        out.push(match self.padding {
            Padding::None => 0,
            Padding::Pkcs5 => 1,
        });
        out.push(match self.direction {
            Direction::Encrypt => 0,
            Direction::Decrypt => 1,
        });
        out.extend_from_slice(&self.chain);
        out.extend_from_slice(&self.offset.to_be_bytes());
        out.extend_from_slice(&self.pending);
        out
    }

    /// Reads bytes written by [`BlockStream::to_bytes`].
    pub fn from_bytes(bytes: &[u8]) -> Result<BlockStream, CryptoError> {
        let bad = || CryptoError::InvalidInput("unreadable stream state".into());
        if bytes.len() < 4 + BLOCK + 8 || bytes[0] != STATE_VERSION {
            return Err(bad());
        }
        let mode = match bytes[1] {
            0 => StreamMode::Cbc,
            1 => StreamMode::Ecb,
            2 => StreamMode::Ctr,
            _ => return Err(bad()),
        };
        let padding = match bytes[2] {
            0 => Padding::None,
            1 => Padding::Pkcs5,
            _ => return Err(bad()),
        };
        let direction = match bytes[3] {
            0 => Direction::Encrypt,
            1 => Direction::Decrypt,
            _ => return Err(bad()),
        };
        let mut chain = [0u8; BLOCK];
        chain.copy_from_slice(&bytes[4..4 + BLOCK]);
        let mut offset = [0u8; 8];
        offset.copy_from_slice(&bytes[4 + BLOCK..4 + BLOCK + 8]);
        let pending = Zeroizing::new(bytes[4 + BLOCK + 8..].to_vec());
        if pending.len() > BLOCK {
            return Err(bad());
        }
        Ok(BlockStream {
            mode,
            padding,
            direction,
            chain,
            offset: u64::from_be_bytes(offset),
            pending,
        })
    }
}

impl Drop for BlockStream {
    fn drop(&mut self) {
        self.chain.zeroize();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        hex::decode(s).unwrap()
    }

    // NIST SP 800-38A appendix F: AES-128 key and the four-block plaintext.
    const KEY: &str = "2b7e151628aed2a6abf7158809cf4f3c";
    const PLAIN: &str = concat!(
        "6bc1bee22e409f96e93d7e117393172a",
        "ae2d8a571e03ac9c9eb76fac45af8e51",
        "30c81c46a35ce411e5fbc1191a0a52ef",
        "f69f2445df4f9b17ad2b417be66c3710"
    );

    fn one_shot(mode: StreamMode, dir: Direction, iv: &str, data: &[u8]) -> Vec<u8> {
        BlockStream::new(mode, Padding::None, dir, &hex(iv))
            .unwrap()
            .finish(&hex(KEY), data)
            .unwrap()
            .to_vec()
    }

    #[test]
    fn sp800_38a_ecb_cbc_ctr_known_answers() {
        let plain = hex(PLAIN);
        let ecb = one_shot(StreamMode::Ecb, Direction::Encrypt, "", &plain);
        assert_eq!(&ecb[..16], &hex("3ad77bb40d7a3660a89ecaf32466ef97")[..]);
        assert_eq!(&ecb[48..], &hex("7b0c785e27e8ad3f8223207104725dd4")[..]);
        let iv = "000102030405060708090a0b0c0d0e0f";
        let cbc = one_shot(StreamMode::Cbc, Direction::Encrypt, iv, &plain);
        assert_eq!(&cbc[..16], &hex("7649abac8119b246cee98e9b12e9197d")[..]);
        assert_eq!(&cbc[48..], &hex("3ff1caa1681fac09120eca307586e1a7")[..]);
        let ctr_iv = "f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff";
        let ctr = one_shot(StreamMode::Ctr, Direction::Encrypt, ctr_iv, &plain);
        assert_eq!(&ctr[..16], &hex("874d6191b620e3261bef6864990db6ce")[..]);
        assert_eq!(&ctr[48..], &hex("1e031dda2fbe03d1792170a0f3009cee")[..]);
        assert_eq!(
            one_shot(StreamMode::Cbc, Direction::Decrypt, iv, &cbc),
            plain
        );
        assert_eq!(
            one_shot(StreamMode::Ctr, Direction::Decrypt, ctr_iv, &ctr),
            plain
        );
        assert_eq!(
            one_shot(StreamMode::Ecb, Direction::Decrypt, "", &ecb),
            plain
        );
    }

    /// Splits `data` at the given cut points, runs a stream through the state bytes between
    /// parts (as the engine does), and returns the concatenated output.
    fn in_parts(mut s: BlockStream, key: &[u8], data: &[u8], cuts: &[usize]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut start = 0;
        for &cut in cuts {
            out.extend_from_slice(&s.update(key, &data[start..cut]).unwrap());
            s = BlockStream::from_bytes(&s.to_bytes()).unwrap();
            start = cut;
        }
        out.extend_from_slice(&s.finish(key, &data[start..]).unwrap());
        out
    }

    #[test]
    fn parts_give_the_one_shot_result_in_every_mode() {
        let key = hex(KEY);
        let data: Vec<u8> = (0..100u8).collect();
        let iv = hex("000102030405060708090a0b0c0d0e0f");
        for (mode, padding) in [
            (StreamMode::Cbc, Padding::Pkcs5),
            (StreamMode::Ecb, Padding::Pkcs5),
            (StreamMode::Ctr, Padding::None),
        ] {
            let iv = if mode == StreamMode::Ecb {
                &[][..]
            } else {
                &iv[..]
            };
            let enc = || BlockStream::new(mode, padding, Direction::Encrypt, iv).unwrap();
            let whole = enc().finish(&key, &data).unwrap().to_vec();
            for cuts in [&[][..], &[1][..], &[16, 32][..], &[5, 21, 64, 99][..]] {
                assert_eq!(
                    in_parts(enc(), &key, &data, cuts),
                    whole,
                    "{mode:?} {cuts:?}"
                );
                let dec = BlockStream::new(mode, padding, Direction::Decrypt, iv).unwrap();
                let cuts: Vec<usize> = cuts.iter().map(|c| (*c).min(whole.len())).collect();
                assert_eq!(
                    in_parts(dec, &key, &whole, &cuts),
                    data,
                    "{mode:?} {cuts:?}"
                );
            }
        }
    }

    #[test]
    fn padding_is_pkcs5_and_a_bad_one_is_an_integrity_failure() {
        let key = hex(KEY);
        let iv = [7u8; 16];
        let enc = BlockStream::new(StreamMode::Cbc, Padding::Pkcs5, Direction::Encrypt, &iv)
            .unwrap()
            .finish(&key, &[1u8; 16])
            .unwrap();
        assert_eq!(
            enc.len(),
            32,
            "a full block of padding follows whole blocks"
        );
        let mut broken = enc.to_vec();
        broken[31] ^= 0x55;
        let dec = BlockStream::new(StreamMode::Cbc, Padding::Pkcs5, Direction::Decrypt, &iv)
            .unwrap()
            .finish(&key, &broken);
        assert_eq!(dec, Err(CryptoError::IntegrityCheckFailed));
    }

    #[test]
    fn bad_inputs_are_refused_not_panics() {
        let key = hex(KEY);
        assert!(
            BlockStream::new(StreamMode::Cbc, Padding::None, Direction::Encrypt, &[0; 8]).is_err()
        );
        assert!(
            BlockStream::new(StreamMode::Ecb, Padding::None, Direction::Encrypt, &[0; 16]).is_err()
        );
        let s = BlockStream::new(StreamMode::Ecb, Padding::None, Direction::Encrypt, &[]).unwrap();
        assert!(matches!(
            s.finish(&key, &[0; 15]),
            Err(CryptoError::InvalidInput(_))
        ));
        let s = BlockStream::new(StreamMode::Ecb, Padding::None, Direction::Encrypt, &[]).unwrap();
        assert!(matches!(
            s.finish(&[0; 15], &[0; 16]),
            Err(CryptoError::KeyLength { .. })
        ));
        assert!(BlockStream::from_bytes(&[1, 9, 0, 0]).is_err());
        assert!(BlockStream::from_bytes(&[]).is_err());
        let s = BlockStream::new(
            StreamMode::Cbc,
            Padding::Pkcs5,
            Direction::Decrypt,
            &[0; 16],
        )
        .unwrap();
        assert!(!format!("{s:?}").contains("chain"));
    }
}
