//! `keyward server cert renew` while the server runs: a client connected before keeps
//! working on its session, and the next handshake presents the new certificate, without a
//! restart. Real server, real TLS.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use common::*;
use keyward::pki;
use keyward::ttlv::{decode, encode};
use rustls::pki_types::ServerName;
use rustls::{ClientConnection, StreamOwned};

/// A TLS connection that can tell which server certificate it was shown.
struct Session {
    stream: StreamOwned<ClientConnection, TcpStream>,
}

impl Session {
    fn open(addr: SocketAddr, creds: &ClientCreds) -> Session {
        let sock = TcpStream::connect_timeout(&addr, IO_BOUND).expect("connect");
        sock.set_read_timeout(Some(IO_BOUND)).unwrap();
        let conn = ClientConnection::new(
            client_config(creds),
            ServerName::try_from("localhost").unwrap(),
        )
        .unwrap();
        let mut stream = StreamOwned::new(conn, sock);
        while stream.conn.is_handshaking() {
            stream
                .conn
                .complete_io(&mut stream.sock)
                .expect("TLS handshake");
        }
        Session { stream }
    }

    fn server_fingerprint(&self) -> String {
        let chain = self.stream.conn.peer_certificates().expect("server chain");
        pki::fingerprint_hex(&pki::fingerprint(&chain[0]))
    }

    /// A Query; panics unless it succeeds.
    fn query(&mut self) {
        let request = request(V1_1, vec![BatchItem::new(op::QUERY, vec![])]);
        self.stream.write_all(&encode(&request)).expect("send");
        let mut header = [0u8; 8];
        self.stream
            .read_exact(&mut header)
            .expect("response header");
        let len = u32::from_be_bytes([header[4], header[5], header[6], header[7]]) as usize;
        let mut message = header.to_vec();
        message.resize(8 + len, 0);
        self.stream.read_exact(&mut message[8..]).expect("response");
        let response = decode(&message, &Default::default()).expect("decodable response");
        success_payload(batch_items(&response)[0]);
    }
}

fn shown_fingerprint(data_dir: &Path) -> String {
    let shown: serde_json::Value =
        serde_json::from_str(&keyward_ok(data_dir, &["server", "cert", "show", "--json"])).unwrap();
    shown["fingerprint_sha256"].as_str().unwrap().to_string()
}

#[test]
fn renewal_applies_to_the_next_handshake_and_leaves_open_connections_alone() {
    let mut appliance = Appliance::new(&["vc"]);
    let data = appliance.data_dir.clone();
    let creds = appliance.creds("vc").clone();
    let server = appliance.start();
    let old = shown_fingerprint(&data);

    let mut before = Session::open(server.addr, &creds);
    assert_eq!(before.server_fingerprint(), old);
    before.query();

    let out = keyward_ok(
        &data,
        &[
            "server",
            "cert",
            "renew",
            "--key-type",
            "ecdsa-p256",
            "--san",
            "localhost",
            "--san",
            "127.0.0.1",
        ],
    );
    let new = shown_fingerprint(&data);
    assert_ne!(new, old, "the certificate did not change");
    assert!(
        out.contains(&new),
        "renew did not print the new fingerprint:\n{out}"
    );
    assert!(
        out.contains("vCenter"),
        "no word on vCenter's trust:\n{out}"
    );
    let key_mode = std::fs::metadata(data.join("server.key"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(key_mode & 0o777, 0o600, "server.key is not private");

    // The connection made before keeps its session.
    before.query();
    before.query();
    // The next handshake sees the new certificate, still trusted through the appliance CA.
    let mut after = Session::open(server.addr, &creds);
    assert_eq!(after.server_fingerprint(), new, "log:\n{}", server.log());
    after.query();
    before.query();
    assert!(
        server.log().contains("renewed the server certificate"),
        "renewal not recorded by the running server:\n{}",
        server.log()
    );
    drop(before);
    drop(after);
    drop(server);

    // Offline renewal (RSA, names kept) is what the next start presents.
    let out = keyward_ok(&data, &["server", "cert", "renew", "--key-type", "rsa3072"]);
    let third = shown_fingerprint(&data);
    assert!(out.contains(&third), "{out}");
    assert_ne!(third, new);
    let server = appliance.start();
    let mut session = Session::open(server.addr, &creds);
    assert_eq!(session.server_fingerprint(), third);
    session.query();
}
