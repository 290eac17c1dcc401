//! Hostile and broken input over real TLS. Every case must end in a KMIP error response or a
//! clean close of that one connection — never a hang, never a dead server — and afterwards a
//! well-behaved client on a new connection must still be served.
//!
//! The server runs with small handshake/idle timeouts so the "client goes quiet" cases end in
//! seconds; the harness bounds every read, so a server that never closes fails the test.

mod common;

use std::io::Read;
use std::net::TcpStream;

use common::*;
use keyward::kmip::tag;
use keyward::ttlv::{Item, Value, encode};

const SHORT_TIMEOUTS: &str =
    "[server]\nhandshake_timeout_secs = 2\nidle_timeout_secs = 2\nrequest_timeout_secs = 2\n";

/// What a bad request may get back.
#[derive(Debug, PartialEq)]
enum Outcome {
    /// A Response Message whose batch items all failed; reasons listed.
    Error(Vec<Option<u32>>),
    Closed,
}

fn outcome(tls: &mut Tls) -> Outcome {
    match tls.read_reply() {
        Reply::Closed => Outcome::Closed,
        Reply::Message(bytes) => {
            let resp = decode_response(&bytes);
            let items = batch_items(&resp);
            assert!(
                !items.is_empty(),
                "an error response carries at least one batch item: {resp:?}"
            );
            for item in &items {
                assert_eq!(
                    result_status(item),
                    status::OPERATION_FAILED,
                    "bad input must not succeed: {resp:?}"
                );
            }
            Outcome::Error(items.iter().map(|i| result_reason(i)).collect())
        }
    }
}

/// After a case: the server still runs and a well-behaved client gets a full answer.
fn assert_still_serving(server: &mut Server, creds: &ClientCreds, case: &str) {
    assert!(
        server.is_running(),
        "server died after {case}; log:\n{}",
        server.log()
    );
    let mut tls = server.connect(creds);
    let versions = discover_versions(&mut tls);
    assert!(versions.contains(&(1, 1)), "after {case}: {versions:?}");
}

fn encoded_dv() -> Vec<u8> {
    encode(&request(
        V1_1,
        vec![BatchItem::new(op::DISCOVER_VERSIONS, vec![])],
    ))
}

fn setup() -> (Appliance, Server, ClientCreds) {
    let mut appliance = Appliance::new(&["good", "bad"]);
    appliance.set_config(SHORT_TIMEOUTS);
    let server = appliance.start();
    let bad = appliance.creds("bad").clone();
    (appliance, server, bad)
}

/// Sends `bytes` as one request on a fresh connection; returns what came back.
fn send_case(server: &Server, creds: &ClientCreds, bytes: &[u8]) -> Outcome {
    let mut tls = server.connect(creds);
    tls.send_raw(bytes).expect("send");
    outcome(&mut tls)
}

#[test]
fn truncated_and_lying_frames_end_in_a_close_or_an_error() {
    let (appliance, mut server, bad) = setup();
    let good = appliance.creds("good").clone();
    let dv = encoded_dv();

    // A header cut short, then the client closes.
    let mut tls = server.connect(&bad);
    tls.send_raw(&dv[..5]).expect("send");
    tls.close_write();
    assert_eq!(
        outcome(&mut tls),
        Outcome::Closed,
        "truncated header then EOF"
    );
    assert_still_serving(&mut server, &good, "truncated header");

    // A header cut short, and the client waits: the idle timeout must end it.
    let mut tls = server.connect(&bad);
    tls.send_raw(&dv[..5]).expect("send");
    assert_eq!(
        outcome(&mut tls),
        Outcome::Closed,
        "truncated header, silent client"
    );
    assert_still_serving(&mut server, &good, "truncated header, silent client");

    // A length that claims more than is sent, then EOF.
    let mut lying = dv.clone();
    lying[4..8].copy_from_slice(&4096u32.to_be_bytes());
    let mut tls = server.connect(&bad);
    tls.send_raw(&lying).expect("send");
    tls.close_write();
    assert_eq!(outcome(&mut tls), Outcome::Closed, "lying length then EOF");
    assert_still_serving(&mut server, &good, "lying length then EOF");

    // The same lie, and the client waits for an answer that cannot come.
    let mut tls = server.connect(&bad);
    tls.send_raw(&lying).expect("send");
    assert_eq!(
        outcome(&mut tls),
        Outcome::Closed,
        "lying length, silent client"
    );
    assert_still_serving(&mut server, &good, "lying length, silent client");

    // A length that claims less than the message holds: the rest is garbage.
    let mut short = dv.clone();
    short[4..8].copy_from_slice(&8u32.to_be_bytes());
    match send_case(&server, &bad, &short) {
        Outcome::Closed => {}
        Outcome::Error(reasons) => assert!(!reasons.is_empty()),
    }
    assert_still_serving(&mut server, &good, "short length");
}

#[test]
fn oversized_frames_are_refused_before_allocation() {
    let (appliance, mut server, bad) = setup();
    let good = appliance.creds("good").clone();

    for declared in [(1u32 << 20) + 8, u32::MAX - 7] {
        let mut header = vec![0x42, 0x00, 0x78, 0x01];
        header.extend_from_slice(&declared.to_be_bytes());
        let out = send_case(&server, &bad, &header);
        eprintln!("declared length {declared}: {out:?}");
        if let Outcome::Error(reasons) = &out {
            assert_eq!(reasons.len(), 1, "one error item for an unparsable message");
        }
        assert_still_serving(&mut server, &good, &format!("declared length {declared}"));
    }
}

/// Replaces the type byte of the first item with `tag` in an encoded message.
fn retype(mut bytes: Vec<u8>, tag: u32, new_type: u8) -> Vec<u8> {
    let needle = [(tag >> 16) as u8, (tag >> 8) as u8, tag as u8];
    let pos = (0..bytes.len() - 3)
        .step_by(8)
        .find(|&i| bytes[i..i + 3] == needle)
        .unwrap_or_else(|| panic!("tag {tag:06X} not found"));
    bytes[pos + 3] = new_type;
    bytes
}

#[test]
fn malformed_ttlv_is_answered_or_closed() {
    let (appliance, mut server, bad) = setup();
    let good = appliance.creds("good").clone();
    let dv = encoded_dv();

    let cases: Vec<(&str, Vec<u8>)> = vec![
        (
            "top-level type not Structure",
            retype(dv.clone(), tag::REQUEST_MESSAGE, 0x02),
        ),
        (
            "unknown type code 0x0C",
            retype(dv.clone(), tag::BATCH_COUNT, 0x0C),
        ),
        (
            "Batch Count typed as Enumeration",
            retype(dv.clone(), tag::BATCH_COUNT, 0x05),
        ),
        (
            "Operation typed as Integer",
            retype(dv.clone(), tag::OPERATION, 0x02),
        ),
        (
            "Request Header typed as Text String",
            retype(dv.clone(), tag::REQUEST_HEADER, 0x07),
        ),
        ("non-zero padding", {
            // The Batch Count Integer is 8 bytes: 4 of value, 4 of padding.
            let mut b = dv.clone();
            let pos = (0..b.len())
                .step_by(8)
                .find(|&i| b[i..i + 3] == [0x42, 0x00, 0x0D])
                .expect("batch count");
            b[pos + 15] = 0xAA;
            b
        }),
        ("deep nesting", {
            let mut inner = Item::structure(0x420079, vec![]);
            for _ in 0..200 {
                inner = Item::structure(tag::ATTRIBUTE_VALUE, vec![inner]);
            }
            encode(&request(
                V1_1,
                vec![BatchItem::new(op::DISCOVER_VERSIONS, vec![inner])],
            ))
        }),
        ("structure length overruns its parent", {
            let mut b = dv.clone();
            // Request Header claims 64 bytes more than it holds.
            b[12..16].copy_from_slice(&(56u32 + 64).to_be_bytes());
            b
        }),
        ("invalid UTF-8 in a Text String", {
            let req = request(V1_1, vec![BatchItem::new(op::GET, vec![uid("abcd")])]);
            let mut b = encode(&req);
            let pos = b.windows(4).position(|w| w == b"abcd").expect("uid bytes");
            b[pos] = 0xFF;
            b
        }),
    ];
    for (case, bytes) in cases {
        let out = send_case(&server, &bad, &bytes);
        eprintln!("{case}: {out:?}");
        if let Outcome::Error(reasons) = &out {
            assert!(
                reasons.iter().all(|r| r.is_some()),
                "{case}: failure without a reason"
            );
        }
        assert_still_serving(&mut server, &good, case);
    }
}

#[test]
fn semantic_errors_get_kmip_error_responses() {
    let (appliance, mut server, bad) = setup();
    let good = appliance.creds("good").clone();

    // Operations we do not implement: a failed item, never a dropped connection.
    for operation in [op::ARCHIVE, op::POLL] {
        let mut tls = server.connect(&bad);
        let item = tls.call(V1_1, operation, vec![]);
        assert_failed(
            &item,
            reason::OPERATION_NOT_SUPPORTED,
            &format!("operation {operation:#x}"),
        );
        // The connection stays usable.
        assert!(discover_versions(&mut tls).contains(&(1, 1)));
    }
    assert_still_serving(&mut server, &good, "unsupported operation");

    // Batch Count that disagrees with the number of batch items.
    let mismatched =
        request_with_count(V1_1, 2, vec![BatchItem::new(op::DISCOVER_VERSIONS, vec![])]);
    match send_case(&server, &bad, &encode(&mismatched)) {
        Outcome::Error(reasons) => assert_eq!(
            reasons,
            vec![Some(reason::INVALID_MESSAGE)],
            "batch count mismatch"
        ),
        Outcome::Closed => panic!("batch count mismatch must be answered with Invalid Message"),
    }
    assert_still_serving(&mut server, &good, "batch count mismatch");

    // A tag no KMIP version defines, in the request header of a 1.1 message.
    let mut with_unknown = request(V1_1, vec![BatchItem::new(op::DISCOVER_VERSIONS, vec![])]);
    if let Value::Structure(children) = &mut with_unknown.value
        && let Value::Structure(header) = &mut children[0].value
    {
        header.insert(1, Item::new(0x42FFF0, Value::Integer(7)));
    }
    let out = send_case(&server, &bad, &encode(&with_unknown));
    if let Outcome::Error(reasons) = &out {
        assert!(
            reasons.iter().all(|r| matches!(
                *r,
                Some(reason::INVALID_FIELD) | Some(reason::INVALID_MESSAGE)
            )),
            "unknown tag: {reasons:?}"
        );
    }
    assert_still_serving(&mut server, &good, "unknown tag");

    // A different top-level tag (a Response Message sent as a request).
    let mut as_response = encoded_dv();
    as_response[2] = 0x7B;
    let _ = send_case(&server, &bad, &as_response);
    assert_still_serving(&mut server, &good, "response sent as request");

    // A major version we do not speak: Invalid Message, in one item without Operation.
    let v9 = request((9, 0), vec![BatchItem::new(op::DISCOVER_VERSIONS, vec![])]);
    match send_case(&server, &bad, &encode(&v9)) {
        Outcome::Error(reasons) => assert_eq!(
            reasons,
            vec![Some(reason::INVALID_MESSAGE)],
            "major version 9"
        ),
        Outcome::Closed => panic!("an unsupported major version must be answered"),
    }
    assert_still_serving(&mut server, &good, "major version 9");
}

#[test]
fn garbage_after_a_message_does_not_lose_the_message() {
    let (appliance, mut server, bad) = setup();
    let good = appliance.creds("good").clone();

    let mut bytes = encoded_dv();
    bytes.extend_from_slice(b"\xde\xad\xbe\xef garbage garbage");
    let mut tls = server.connect(&bad);
    tls.send_raw(&bytes).expect("send");
    // The complete first message is answered…
    match tls.read_reply() {
        Reply::Message(resp) => {
            let resp = decode_response(&resp);
            success_payload(batch_items(&resp)[0]);
        }
        Reply::Closed => panic!("the valid message before the garbage must be answered"),
    }
    // …and what follows ends in an error or a close (the idle timeout at the latest).
    let _ = outcome(&mut tls);
    assert_still_serving(&mut server, &good, "garbage after a message");
}

#[test]
fn silent_clients_are_closed_and_do_not_block_others() {
    let (appliance, mut server, bad) = setup();
    let good = appliance.creds("good").clone();

    // TLS up, then nothing: served clients must not wait behind it, and it must be closed.
    let mut silent = server.connect(&bad);
    // A TCP connection that never starts the handshake.
    let mut no_tls = TcpStream::connect(server.addr).expect("tcp connect");
    no_tls.set_read_timeout(Some(IO_BOUND)).expect("timeout");

    assert_still_serving(&mut server, &good, "a silent client is connected");
    let mut tls = server.connect(&good);
    let id = create_aes(&mut tls, 128, vec![]);
    assert_eq!(get_key(&mut tls, &id).len(), 16);

    assert_eq!(outcome(&mut silent), Outcome::Closed, "silent TLS client");
    let mut buf = [0u8; 16];
    match no_tls.read(&mut buf) {
        Ok(0) => {}
        Ok(n) => panic!("server sent {n} bytes to a client that never said hello"),
        Err(e) => assert!(
            !matches!(
                e.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            ),
            "handshake timeout never closed the TCP connection"
        ),
    }
    assert_still_serving(&mut server, &good, "silent clients");
}
