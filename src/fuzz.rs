//! Fuzz entry points: one function per attack surface, each taking arbitrary bytes.
//!
//! They live in the library (not only under `fuzz/`) so that the same code runs two ways: under
//! libFuzzer through `fuzz/fuzz_targets/*` when a nightly toolchain and cargo-fuzz exist, and
//! under the stable mutational harness in `tests/fuzz.rs` (CI's toolchain is stable only).
//! Each function returns normally for every input; a panic, a hang or a broken invariant
//! (asserted here, so the fuzzer sees it as a crash) is a finding.

use std::sync::Arc;

use zeroize::Zeroizing;

use crate::engine::{ClientIdentity, Engine, EngineConfig, Prepared};
use crate::kmip::{json, xml};
use crate::seal::MasterKey;
use crate::store::Store;
use crate::store::memory::MemoryStore;
use crate::ttlv::{self, Limits};

/// A fuzz target: any bytes in, returns normally or the input is a finding.
pub type Target = fn(&[u8]);

/// The targets by name, for harnesses that iterate over them.
pub const TARGETS: &[(&str, Target)] = &[
    ("ttlv_decode", ttlv_decode),
    ("kmip_request", kmip_request),
    ("xml_json", xml_json),
    ("admin_request", admin_request),
    ("backup_reader", backup_reader),
];

/// TTLV decoding under the default limits. Whatever decodes must re-encode to an item that
/// decodes to itself (the codec's round-trip property).
pub fn ttlv_decode(data: &[u8]) {
    let Ok(item) = ttlv::decode(data, &Limits::default()) else {
        return;
    };
    let bytes = ttlv::encode(&item);
    assert_eq!(bytes.len(), ttlv::encoded_len(&item));
    let again = ttlv::decode(&bytes, &Limits::default());
    assert!(
        again.as_ref() == Ok(&item),
        "a decoded item does not survive re-encoding"
    );
}

/// A request message through the whole engine, against an in-memory store that persists
/// across calls (so later inputs meet objects earlier ones made, as on a real server). Every
/// answer must be a decodable response message.
pub fn kmip_request(data: &[u8]) {
    thread_local! {
        static SERVER: std::cell::RefCell<Option<(Engine, MemoryStore, u32)>> =
            const { std::cell::RefCell::new(None) };
    }
    let client = ClientIdentity {
        owner: "cn:fuzz".into(),
        fingerprint: [0x5a; 32],
    };
    SERVER.with(|cell| {
        let mut slot = cell.borrow_mut();
        // A fresh store every so often keeps a long run's memory bounded.
        if slot.as_ref().is_none_or(|(_, _, runs)| *runs >= 2_000) {
            let master = MasterKey::from_bytes(Zeroizing::new([0x42; 32]));
            *slot = Some((
                Engine::new(EngineConfig::default(), Arc::new(master)),
                MemoryStore::new(),
                0,
            ));
        }
        let Some((engine, store, runs)) = slot.as_mut() else {
            return;
        };
        *runs += 1;
        let answer = match engine.prepare(&client, data) {
            Prepared::Respond(response) => response.encode(),
            Prepared::Read(request) => match store.read() {
                Ok(view) => engine.execute_read(&request, &*view),
                Err(_) => return,
            },
            Prepared::Write(request) => {
                let Ok(mut txn) = store.write() else { return };
                match engine.execute_write(&request, &mut *txn) {
                    Ok(bytes) => {
                        if txn.commit().is_err() {
                            engine.failure_response(&request)
                        } else {
                            bytes
                        }
                    }
                    Err(_) => engine.failure_response(&request),
                }
            }
        };
        let response = ttlv::decode(&answer, &Limits::default());
        assert!(
            response
                .as_ref()
                .is_ok_and(|r| r.tag == crate::kmip::tag::RESPONSE_MESSAGE),
            "the engine answered with something other than a response message"
        );
    });
}

/// The KMIP XML and JSON codecs. Whatever parses must print and parse back to the same item.
pub fn xml_json(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(item) = xml::from_xml(text) {
        let again = xml::from_xml(&xml::to_xml(&item));
        assert!(
            again.as_ref().is_ok_and(|a| a == &item),
            "XML does not round-trip"
        );
    }
    if let Ok(item) = json::from_json(text) {
        let again = json::from_json(&json::to_json_string(&item));
        assert!(
            again.as_ref().is_ok_and(|a| a == &item),
            "JSON does not round-trip"
        );
    }
}

/// One admin socket request line, as the server parses it.
pub fn admin_request(data: &[u8]) {
    let _ = serde_json::from_slice::<
        crate::admin::protocol::Envelope<crate::admin::protocol::Request>,
    >(data);
}

/// The backup reader, two ways: the bytes as a whole file (header, bounds, chunk framing, with a
/// fixed key instead of the KDF), and the bytes as the authenticated plaintext of a valid
/// stream (the record parser behind a passed authentication). Must end in a clean error or a
/// clean end, never a panic or an unbounded allocation.
pub fn backup_reader(data: &[u8]) {
    use crate::backup::header::{Header, KdfSettings};
    use crate::backup::reader::BackupReader;
    use crate::backup::stream::Encryptor;
    use std::io::{BufReader, Cursor};

    let key = Zeroizing::new([7u8; 32]);
    let drain = |reader: &mut BackupReader<Cursor<&[u8]>>| {
        while let Ok(Some(_)) = reader.next_record() {}
    };
    let mut file = Cursor::new(data);
    if let Ok((header, bytes)) = Header::read(&mut file) {
        let rest = &data[file.position() as usize..];
        if let Ok(mut reader) =
            BackupReader::with_key(BufReader::new(Cursor::new(rest)), header, bytes, &key)
        {
            drain(&mut reader);
        }
    }
    let header = Header {
        format_version: crate::backup::header::FORMAT_VERSION,
        kdf: KdfSettings::TEST_ONLY_WEAK,
        salt: [1; 16],
        nonce_prefix: [2; 7],
        chunk_size: 1024,
        created_unix: 0,
        appliance_id: "fuzz".into(),
    };
    let bytes = header.encode();
    let Ok(mut stream) = Encryptor::new(&key, header.nonce_prefix, bytes.clone(), 1024, Vec::new())
    else {
        return;
    };
    if stream.write(data).is_err() {
        return;
    }
    let Ok((sealed, _)) = stream.finish() else {
        return;
    };
    if let Ok(mut reader) = BackupReader::with_key(
        BufReader::new(Cursor::new(&sealed[..])),
        header,
        bytes,
        &key,
    ) {
        drain(&mut reader);
    }
}
