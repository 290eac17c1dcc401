//! The chunked AEAD stream (the STREAM construction of Hoang, Reyhanitabar, Rogaway and
//! Vizár, with AES-256-GCM-SIV): the plaintext is cut into chunks of `chunk_size` bytes, and
//! chunk i is sealed with nonce = prefix(7) ‖ i (u32 BE) ‖ last (1 on the final chunk, else 0)
//! and the header as associated data. A chunk moved, dropped, duplicated, taken from another
//! backup or presented as the end early therefore fails to open.

use std::io::{BufRead, Write};

use aes_gcm_siv::aead::{Aead, KeyInit, Payload};
use aes_gcm_siv::{Aes256GcmSiv, Nonce};
use zeroize::Zeroizing;

use super::BackupError;
use super::header::{NONCE_PREFIX_LEN, TAG_LEN};

/// Counter value reserved for the passphrase check, which no data chunk can reach.
const CHECK_COUNTER: u32 = u32::MAX;
const FLAG_MIDDLE: u8 = 0;
const FLAG_LAST: u8 = 1;
const FLAG_CHECK: u8 = 2;

fn nonce(prefix: &[u8; NONCE_PREFIX_LEN], counter: u32, flag: u8) -> Nonce {
    let mut bytes = [0u8; 12];
    bytes[..NONCE_PREFIX_LEN].copy_from_slice(prefix);
    bytes[NONCE_PREFIX_LEN..11].copy_from_slice(&counter.to_be_bytes());
    bytes[11] = flag;
    Nonce::from(bytes)
}

fn cipher(key: &[u8; 32]) -> Result<Aes256GcmSiv, BackupError> {
    Aes256GcmSiv::new_from_slice(key)
        .map_err(|_| BackupError::Kdf("derived key is not 32 bytes".into()))
}

/// The 16-byte tag over the empty message under the reserved check nonce: lets a reader tell
/// a wrong passphrase from a damaged file before decrypting anything.
pub fn passphrase_check(
    key: &[u8; 32],
    prefix: &[u8; NONCE_PREFIX_LEN],
    header: &[u8],
) -> Result<Vec<u8>, BackupError> {
    cipher(key)?
        .encrypt(
            &nonce(prefix, CHECK_COUNTER, FLAG_CHECK),
            Payload {
                msg: &[],
                aad: header,
            },
        )
        .map_err(|_| BackupError::Kdf("sealing the passphrase check failed".into()))
}

/// Seals plaintext into chunks as it is written; `finish` writes the final chunk.
pub struct Encryptor<W: Write> {
    cipher: Aes256GcmSiv,
    prefix: [u8; NONCE_PREFIX_LEN],
    header: Vec<u8>,
    chunk_size: usize,
    counter: u32,
    pending: Zeroizing<Vec<u8>>,
    out: W,
    written: u64,
}

impl<W: Write> Encryptor<W> {
    pub fn new(
        key: &[u8; 32],
        prefix: [u8; NONCE_PREFIX_LEN],
        header: Vec<u8>,
        chunk_size: u32,
        out: W,
    ) -> Result<Encryptor<W>, BackupError> {
        Ok(Encryptor {
            cipher: cipher(key)?,
            prefix,
            header,
            chunk_size: chunk_size as usize,
            counter: 0,
            pending: Zeroizing::new(Vec::with_capacity(chunk_size as usize * 2)),
            out,
            written: 0,
        })
    }

    /// Output bytes written so far.
    pub fn written(&self) -> u64 {
        self.written
    }

    pub fn write(&mut self, plaintext: &[u8]) -> Result<(), BackupError> {
        self.pending.extend_from_slice(plaintext);
        // Strictly more than one chunk pending: the last chunk is only known at `finish`.
        while self.pending.len() > self.chunk_size {
            let rest = Zeroizing::new(self.pending[self.chunk_size..].to_vec());
            self.pending.truncate(self.chunk_size);
            let chunk = std::mem::replace(&mut self.pending, rest);
            self.seal(&chunk, FLAG_MIDDLE)?;
        }
        Ok(())
    }

    fn seal(&mut self, chunk: &[u8], flag: u8) -> Result<(), BackupError> {
        let sealed = self
            .cipher
            .encrypt(
                &nonce(&self.prefix, self.counter, flag),
                Payload {
                    msg: chunk,
                    aad: &self.header,
                },
            )
            .map_err(|_| BackupError::Malformed("chunk too large to seal".into()))?;
        self.out
            .write_all(&sealed)
            .map_err(|e| BackupError::io("writing the backup", e))?;
        self.written += sealed.len() as u64;
        self.counter = self
            .counter
            .checked_add(1)
            .filter(|c| *c != CHECK_COUNTER)
            .ok_or_else(|| BackupError::Malformed("too many chunks for one backup".into()))?;
        Ok(())
    }

    /// Seals what is pending as the final chunk (possibly empty); returns the writer and the
    /// number of bytes written through it.
    pub fn finish(mut self) -> Result<(W, u64), BackupError> {
        let last = std::mem::take(&mut *self.pending);
        let last = Zeroizing::new(last);
        self.seal(&last, FLAG_LAST)?;
        self.out
            .flush()
            .map_err(|e| BackupError::io("writing the backup", e))?;
        Ok((self.out, self.written))
    }
}

/// Opens chunks one at a time; holds at most one chunk in memory.
pub struct Decryptor<R: BufRead> {
    cipher: Aes256GcmSiv,
    prefix: [u8; NONCE_PREFIX_LEN],
    header: Vec<u8>,
    chunk_size: usize,
    counter: u32,
    input: R,
    current: Zeroizing<Vec<u8>>,
    position: usize,
    finished: bool,
}

impl<R: BufRead> Decryptor<R> {
    pub fn new(
        key: &[u8; 32],
        prefix: [u8; NONCE_PREFIX_LEN],
        header: Vec<u8>,
        chunk_size: u32,
        input: R,
    ) -> Result<Decryptor<R>, BackupError> {
        Ok(Decryptor {
            cipher: cipher(key)?,
            prefix,
            header,
            chunk_size: chunk_size as usize,
            counter: 0,
            input,
            current: Zeroizing::new(Vec::new()),
            position: 0,
            finished: false,
        })
    }

    /// Chunks opened so far.
    pub fn chunks(&self) -> u32 {
        self.counter
    }

    /// True once the authenticated final chunk has been opened and fully consumed.
    pub fn at_end(&self) -> bool {
        self.finished && self.position == self.current.len()
    }

    fn open(&self, sealed: &[u8], flag: u8) -> Option<Vec<u8>> {
        self.cipher
            .decrypt(
                &nonce(&self.prefix, self.counter, flag),
                Payload {
                    msg: sealed,
                    aad: &self.header,
                },
            )
            .ok()
    }

    /// Opens the next chunk. Errors if the stream ends before an authenticated final chunk.
    fn next_chunk(&mut self) -> Result<(), BackupError> {
        let full = self.chunk_size + TAG_LEN;
        let mut sealed = vec![0u8; full];
        let mut filled = 0;
        while filled < full {
            let n = self
                .input
                .read(&mut sealed[filled..])
                .map_err(|e| BackupError::io("reading the backup", e))?;
            if n == 0 {
                break;
            }
            filled += n;
        }
        sealed.truncate(filled);
        let at_eof = filled < full
            || self
                .input
                .fill_buf()
                .map_err(|e| BackupError::io("reading the backup", e))?
                .is_empty();
        if filled < TAG_LEN {
            return Err(BackupError::Truncated {
                chunks: self.counter,
            });
        }
        let flag = if at_eof { FLAG_LAST } else { FLAG_MIDDLE };
        let plain = match self.open(&sealed, flag) {
            Some(plain) => plain,
            None => {
                // A complete middle chunk at the end of the file: everything after it is gone.
                if at_eof && self.open(&sealed, FLAG_MIDDLE).is_some() {
                    return Err(BackupError::Truncated {
                        chunks: self.counter + 1,
                    });
                }
                if at_eof && filled < full {
                    return Err(BackupError::Malformed(format!(
                        "the final chunk ({}) failed authentication: the file is truncated \
                         inside a chunk, or its end was modified",
                        self.counter
                    )));
                }
                return Err(BackupError::ChunkAuthentication {
                    index: self.counter,
                });
            }
        };
        self.current = Zeroizing::new(plain);
        self.position = 0;
        self.finished = at_eof;
        self.counter = self.counter.saturating_add(1);
        Ok(())
    }

    /// Fills `buf` entirely from the plaintext stream.
    pub fn read_exact(&mut self, buf: &mut [u8]) -> Result<(), BackupError> {
        let mut done = 0;
        while done < buf.len() {
            if self.position == self.current.len() {
                if self.finished {
                    return Err(BackupError::Malformed(
                        "the authenticated stream ends inside a record".into(),
                    ));
                }
                self.next_chunk()?;
                continue;
            }
            let n = (buf.len() - done).min(self.current.len() - self.position);
            buf[done..done + n].copy_from_slice(&self.current[self.position..self.position + n]);
            self.position += n;
            done += n;
        }
        Ok(())
    }

    /// Reads on until the authenticated end, so a caller can insist nothing follows.
    pub fn ensure_end(&mut self) -> Result<(), BackupError> {
        while !self.finished {
            if self.position != self.current.len() {
                break;
            }
            self.next_chunk()?;
        }
        if !self.at_end() {
            return Err(BackupError::Malformed(
                "data follows the end-of-backup record".into(),
            ));
        }
        Ok(())
    }
}
