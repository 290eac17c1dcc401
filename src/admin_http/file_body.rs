//! Response bodies of the admin API: bytes already in memory (JSON, console files), or a file
//! streamed in 64 KiB chunks (a backup, an audit export), so a large download never sits whole
//! in memory and a slow reader holds no thread (tokio's file reads are short blocking jobs).

use std::pin::Pin;
use std::task::{Context, Poll};

use http_body_util::Full;
use hyper::body::{Body, Bytes, Frame, SizeHint};
use tokio::io::{AsyncRead, ReadBuf};

const CHUNK: usize = 64 * 1024;

/// A file read to its end; its length is announced up front.
pub struct FileBody {
    file: tokio::fs::File,
    remaining: u64,
    buffer: Box<[u8]>,
}

impl FileBody {
    /// Streams `file` (open, positioned at its start) of `len` bytes. Must be called inside
    /// the tokio runtime.
    pub fn new(file: std::fs::File, len: u64) -> FileBody {
        FileBody {
            file: tokio::fs::File::from_std(file),
            remaining: len,
            buffer: vec![0u8; CHUNK].into_boxed_slice(),
        }
    }
}

impl Body for FileBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        let this = self.get_mut();
        if this.remaining == 0 {
            return Poll::Ready(None);
        }
        let mut read = ReadBuf::new(&mut this.buffer);
        match Pin::new(&mut this.file).poll_read(cx, &mut read) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Err(e)) => Poll::Ready(Some(Err(e))),
            Poll::Ready(Ok(())) if read.filled().is_empty() => {
                // Shorter than announced: fail the response rather than hang the client.
                Poll::Ready(Some(Err(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    "the file ended early",
                ))))
            }
            Poll::Ready(Ok(())) => {
                let filled = read.filled();
                let take = filled
                    .len()
                    .min(usize::try_from(this.remaining).unwrap_or(usize::MAX));
                this.remaining -= take as u64;
                Poll::Ready(Some(Ok(Frame::data(Bytes::copy_from_slice(
                    &filled[..take],
                )))))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.remaining == 0
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.remaining)
    }
}

/// Every answer's body.
pub type AnswerBody = http_body_util::Either<Full<Bytes>, FileBody>;

pub fn bytes(bytes: Vec<u8>) -> AnswerBody {
    http_body_util::Either::Left(Full::new(Bytes::from(bytes)))
}
