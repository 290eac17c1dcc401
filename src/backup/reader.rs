//! Reads a backup: header, passphrase check, then records one at a time. Memory is bounded by
//! one chunk plus one record ([`super::record::MAX_RECORD_LEN`]) whatever the file says.

use std::io::{BufReader, Read};

use zeroize::Zeroizing;

use super::BackupError;
use super::header::{Header, TAG_LEN};
use super::record::{self, Counts, KIND_END, MAX_RECORD_LEN, Record};
use super::stream::{Decryptor, passphrase_check};

pub struct BackupReader<R: Read> {
    pub header: Header,
    stream: Decryptor<BufReader<R>>,
    seen: Counts,
    ended: bool,
}

impl<R: Read> BackupReader<R> {
    /// Reads the header and checks the passphrase against it.
    pub fn open(input: R, passphrase: &[u8]) -> Result<BackupReader<R>, BackupError> {
        let mut input = BufReader::new(input);
        let (header, header_bytes) = Header::read(&mut input)?;
        let key = header.derive_key(passphrase)?;
        let mut check = [0u8; TAG_LEN];
        input.read_exact(&mut check).map_err(|e| match e.kind() {
            std::io::ErrorKind::UnexpectedEof => BackupError::Truncated { chunks: 0 },
            _ => BackupError::io("reading the backup", e),
        })?;
        let expected = passphrase_check(&key, &header.nonce_prefix, &header_bytes)?;
        if expected.as_slice() != check {
            return Err(BackupError::WrongPassphrase);
        }
        Self::with_key(input, header, header_bytes, &key)
    }

    /// Continues after the header and check with an already derived key (fuzzing skips the
    /// KDF this way).
    pub fn with_key(
        input: BufReader<R>,
        header: Header,
        header_bytes: Vec<u8>,
        key: &Zeroizing<[u8; 32]>,
    ) -> Result<BackupReader<R>, BackupError> {
        let stream = Decryptor::new(
            key,
            header.nonce_prefix,
            header_bytes,
            header.chunk_size,
            input,
        )?;
        Ok(BackupReader {
            header,
            stream,
            seen: Counts::default(),
            ended: false,
        })
    }

    /// The next record, or `None` after the End record (whose counts have been checked and
    /// after which the stream must end).
    pub fn next_record(&mut self) -> Result<Option<Record>, BackupError> {
        if self.ended {
            return Ok(None);
        }
        let mut head = [0u8; 5];
        self.stream.read_exact(&mut head)?;
        let len = u32::from_be_bytes([head[1], head[2], head[3], head[4]]);
        if len > MAX_RECORD_LEN {
            return Err(BackupError::Malformed(format!(
                "a record claims {len} bytes (at most {MAX_RECORD_LEN})"
            )));
        }
        // Bounded by MAX_RECORD_LEN; and the length itself came out of an authenticated chunk.
        let mut body = Zeroizing::new(vec![0u8; len as usize]);
        self.stream.read_exact(&mut body)?;
        let record = record::decode(head[0], &body)?;
        match &record {
            Record::Object(_) => self.seen.objects += 1,
            Record::Meta { .. } => self.seen.meta += 1,
            Record::Extra { .. } => self.seen.extra += 1,
            Record::End(counts) => {
                if *counts != self.seen {
                    return Err(BackupError::Malformed(format!(
                        "the end record counts {counts:?} but the stream held {:?}",
                        self.seen
                    )));
                }
                self.stream.ensure_end()?;
                self.ended = true;
            }
        }
        debug_assert!(head[0] != KIND_END || self.ended);
        Ok(Some(record))
    }

    pub fn counts(&self) -> Counts {
        self.seen
    }

    pub fn chunks(&self) -> u32 {
        self.stream.chunks()
    }
}
