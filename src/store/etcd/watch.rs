//! A watch on one etcd key, so that a node learns of another node's change when it happens
//! instead of at its next re-read (the client registry: a client removed on one node is cut
//! off on every node at once).
//!
//! Why so little: the caller only needs "it may have changed, read it again". A watch is
//! opened, its creation confirmed, and then it says `true` for each message carrying events
//! and `false` once it has ended: its hold elapsed, the member went away, etcd cancelled it,
//! or the stream said something not understood. The caller then opens a new one and reads
//! the key again, since a change may fall between two watches. No revision is tracked: a
//! caller that reads the key after the watch is confirmed misses nothing, because every
//! change committed after the confirmation is an event on it.
//!
//! Over the JSON gateway a watch is one long POST to `/v3/watch` whose answer streams JSON
//! messages; it is held for a bounded time so that a member that stops answering without
//! closing the connection (SIGSTOP, a cut network) costs at most one hold.

use std::io::{BufReader, Read};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::de::IgnoredAny;
use serde::{Deserialize, Serialize};
use serde_json::de::IoRead;

use super::gateway::{Gateway, GatewayError};

#[derive(Serialize)]
struct WatchRequest {
    create_request: CreateRequest,
}

#[derive(Serialize)]
struct CreateRequest {
    key: String,
}

/// One streamed message: a result, or the gateway's error.
#[derive(Deserialize, Default)]
#[serde(default)]
struct WatchMessage {
    result: Option<WatchResult>,
    error: Option<IgnoredAny>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct WatchResult {
    created: bool,
    canceled: bool,
    events: Vec<IgnoredAny>,
}

type Messages =
    serde_json::StreamDeserializer<'static, IoRead<Box<dyn Read + Send + 'static>>, WatchMessage>;

/// An open watch on one key (see the file comment).
pub struct KeyWatch {
    messages: Messages,
    ended: bool,
}

impl std::fmt::Debug for KeyWatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyWatch")
            .field("ended", &self.ended)
            .finish_non_exhaustive()
    }
}

impl KeyWatch {
    /// Opens a watch on `key` at `member` and waits for etcd to confirm it; it lasts at most
    /// `hold`.
    pub fn open(
        gateway: &Gateway,
        member: usize,
        key: &[u8],
        hold: Duration,
    ) -> Result<KeyWatch, GatewayError> {
        let request = WatchRequest {
            create_request: CreateRequest {
                key: BASE64.encode(key),
            },
        };
        // serde_json reads a stream byte by byte: buffered here, not a call per byte below.
        let body: Box<dyn Read + Send> = Box::new(BufReader::new(gateway.stream(
            member,
            "/v3/watch",
            &request,
            hold,
        )?));
        let mut watch = KeyWatch {
            messages: serde_json::Deserializer::new(IoRead::new(body)).into_iter(),
            ended: false,
        };
        match watch.next_message() {
            Some(Ok(result)) if result.created && !result.canceled => Ok(watch),
            Some(Ok(_)) => Err(GatewayError::Protocol(
                "etcd did not confirm the watch it was asked for".into(),
            )),
            Some(Err(e)) => Err(e),
            None => Err(GatewayError::Unavailable(
                "the etcd member closed the watch before confirming it".into(),
            )),
        }
    }

    /// Waits for the next message: `true` when it carries events (the key may have changed),
    /// `false` when the watch has ended (see the file comment); after `false`, always `false`.
    pub fn changed(&mut self) -> bool {
        while !self.ended {
            match self.next_message() {
                Some(Ok(result)) if result.canceled => self.ended = true,
                Some(Ok(result)) if !result.events.is_empty() => return true,
                // Progress notifications and the like: keep waiting.
                Some(Ok(_)) => {}
                Some(Err(e)) => {
                    log::debug!("etcd watch ended: {e}");
                    self.ended = true;
                }
                None => self.ended = true,
            }
        }
        false
    }

    fn next_message(&mut self) -> Option<Result<WatchResult, GatewayError>> {
        let message = match self.messages.next()? {
            Ok(message) => message,
            // A timeout (the hold elapsed) or a broken connection, or bytes that are not JSON.
            Err(e) => return Some(Err(GatewayError::Unavailable(format!("watch stream: {e}")))),
        };
        match (message.result, message.error) {
            (_, Some(_)) => Some(Err(GatewayError::Refused(
                "etcd answered the watch with an error".into(),
            ))),
            (Some(result), None) => Some(Ok(result)),
            (None, None) => Some(Ok(WatchResult::default())),
        }
    }
}
