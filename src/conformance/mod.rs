//! Server-independent parts of the OASIS vector runner: loading a vector file into request /
//! expected-response pairs, resolving placeholders, comparing a real response with the expected
//! one structurally, and playing a whole file through a caller-supplied transport.
//!
//! The transport is a closure (request bytes in, response bytes out), so the same player runs
//! against an in-process engine, a TLS client, or a recorded conversation.

mod compare;
mod placeholder;
mod player;
mod summary;
mod vector;

pub use compare::{Mismatch, compare_response};
pub use placeholder::Bindings;
pub use player::{Outcome, play_file};
pub use summary::{Counts, Summary, collect_vector_files};
pub use vector::{Exchange, VectorFile, load_vector_file, parse_vector_text};

use crate::kmip::xml::TextCodecError;
use crate::ttlv::DecodeError;

/// Why a vector file could not be loaded or played (as opposed to a server mismatch).
#[derive(Debug, thiserror::Error)]
pub enum ConformanceError {
    #[error("cannot read vector file {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("vector file {file}: {source}")]
    Codec {
        file: String,
        source: TextCodecError,
    },
    #[error("vector file {file}: {message}")]
    Layout { file: String, message: String },
    #[error("placeholder {name} is used before a response bound it")]
    Unbound { name: String },
    #[error("server response is not valid TTLV: {0}")]
    Decode(#[from] DecodeError),
}
