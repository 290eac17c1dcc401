//! Crash durability: a Create acknowledged to a client survives SIGKILL of the server.
//!
//! Several connections stream Creates (each followed by a Get that records the key material);
//! the server is SIGKILLed once enough Creates have been acknowledged, while the writers are
//! still going. After a restart on the same data directory every acknowledged UID must be
//! there, with the material that was served before the crash.

mod common;

use std::sync::Mutex;
use std::sync::mpsc;

use common::*;
use keyward::kmip::tag;

const WRITERS: usize = 4;
/// Upper bound on Creates per writer, so the test ends even if the kill comes late.
const MAX_CREATES_PER_WRITER: usize = 150;
/// Kill once this many Creates are acknowledged in total.
const KILL_AFTER_ACKS: usize = 40;

/// An acknowledged Create, and the material its Get returned before the crash (if the Get
/// got an answer).
struct Acked {
    uid: String,
    material: Option<Vec<u8>>,
}

fn writer(
    server_addr: std::net::SocketAddr,
    creds: &ClientCreds,
    acked: &Mutex<Vec<Acked>>,
    tick: &mpsc::Sender<()>,
) {
    let Ok(mut tls) = Tls::connect(server_addr, creds) else {
        return;
    };
    for _ in 0..MAX_CREATES_PER_WRITER {
        let create = request(
            V1_1,
            vec![BatchItem::new(
                op::CREATE,
                create_aes_payload(256, 12, vec![]),
            )],
        );
        let Some(resp) = tls.try_roundtrip(&create) else {
            return;
        };
        let payload = success_payload(batch_items(&resp)[0]);
        let uid_text = text_of(payload.child(tag::UNIQUE_IDENTIFIER).expect("UID")).to_string();
        let index = {
            let mut list = acked.lock().expect("lock");
            list.push(Acked {
                uid: uid_text.clone(),
                material: None,
            });
            list.len() - 1
        };
        let _ = tick.send(());

        let get = request(V1_1, vec![BatchItem::new(op::GET, vec![uid(&uid_text)])]);
        let Some(resp) = tls.try_roundtrip(&get) else {
            return;
        };
        let material = key_material(&success_payload(batch_items(&resp)[0]));
        acked.lock().expect("lock")[index].material = Some(material);
    }
}

#[test]
fn acknowledged_creates_survive_sigkill() {
    let mut appliance = Appliance::new(&["writer"]);
    let creds = appliance.creds("writer").clone();
    let mut server = appliance.start();
    let addr = server.addr;

    let acked = Mutex::new(Vec::<Acked>::new());
    let (tick_tx, tick_rx) = mpsc::channel();
    std::thread::scope(|s| {
        for _ in 0..WRITERS {
            let tick = tick_tx.clone();
            let (creds, acked) = (&creds, &acked);
            s.spawn(move || writer(addr, creds, acked, &tick));
        }
        drop(tick_tx);
        // Wait (bounded by the writers' own limits) for enough acknowledgements, then pull
        // the plug while the writers are mid-stream.
        for _ in 0..KILL_AFTER_ACKS {
            if tick_rx.recv_timeout(IO_BOUND).is_err() {
                break;
            }
        }
        server.kill_hard();
    });

    let acked = acked.into_inner().expect("lock");
    assert!(
        acked.len() >= KILL_AFTER_ACKS,
        "only {} Creates were acknowledged before the kill; server log:\n{}",
        acked.len(),
        server.log()
    );
    assert!(
        acked.len() < WRITERS * MAX_CREATES_PER_WRITER,
        "the writers finished before the kill: nothing was in flight"
    );
    let with_material = acked.iter().filter(|a| a.material.is_some()).count();
    assert!(with_material > 0, "no Get answered before the kill");
    eprintln!(
        "{} Creates acknowledged before SIGKILL, {with_material} with a Get answered",
        acked.len()
    );

    let server = appliance.start();
    let mut tls = server.connect(&creds);
    for a in &acked {
        let after = get_key(&mut tls, &a.uid);
        assert_eq!(after.len(), 32, "{} lost its material", a.uid);
        if let Some(before) = &a.material {
            assert!(
                before == &after,
                "{}: key material changed across the crash",
                a.uid
            );
        }
    }
    let listed = locate_all(&mut tls);
    for a in &acked {
        assert!(
            listed.contains(&a.uid),
            "{} missing from Locate after restart",
            a.uid
        );
    }
    let mut uids: Vec<&str> = acked.iter().map(|a| a.uid.as_str()).collect();
    uids.sort_unstable();
    uids.dedup();
    assert_eq!(uids.len(), acked.len(), "a UID was handed out twice");

    // A new Create after the restart gets a fresh UID.
    let fresh = create_aes(&mut tls, 256, vec![]);
    assert!(
        !acked.iter().any(|a| a.uid == fresh),
        "UID {fresh} reused after restart"
    );
}

#[test]
fn sigterm_exits_cleanly_and_keeps_data() {
    let mut appliance = Appliance::new(&["writer"]);
    let creds = appliance.creds("writer").clone();
    let mut server = appliance.start();
    let mut tls = server.connect(&creds);
    let id = create_aes(&mut tls, 256, vec![]);
    let material = get_key(&mut tls, &id);
    drop(tls);
    let status = server.terminate();
    assert!(status.success(), "SIGTERM must give exit 0, got {status}");

    let server = appliance.start();
    let mut tls = server.connect(&creds);
    assert!(
        get_key(&mut tls, &id) == material,
        "material changed across a clean restart"
    );
}
