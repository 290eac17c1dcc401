//! Client administration through the real binary: the four "Make KMS trust vCenter" methods
//! each let a real TLS client in, an unregistered certificate is refused, and `client remove`
//! guards and destroys a client's keys.

mod common;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::*;
use keyward::client::{self, KmipClient};
use keyward::kmip::tag;
use keyward::ttlv::{Value, encode};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
};

fn show_json(data_dir: &Path, name: &str) -> serde_json::Value {
    serde_json::from_str(&keyward_ok(data_dir, &["client", "show", name, "--json"]))
        .expect("client show --json prints JSON")
}

/// A certificate and key a client presents, written as PEM files.
struct ClientFiles {
    cert: PathBuf,
    key: PathBuf,
}

fn write_files(dir: &Path, stem: &str, cert_pem: &str, key: &KeyPair) -> ClientFiles {
    let files = ClientFiles {
        cert: dir.join(format!("{stem}.crt")),
        key: dir.join(format!("{stem}.key")),
    };
    std::fs::write(&files.cert, cert_pem).unwrap();
    std::fs::write(&files.key, key.serialize_pem()).unwrap();
    files
}

fn leaf_params(cn: &str) -> CertificateParams {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.distinguished_name.push(DnType::CommonName, cn);
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    params
}

fn self_signed(dir: &Path, cn: &str) -> ClientFiles {
    let key = KeyPair::generate().unwrap();
    let cert = leaf_params(cn).self_signed(&key).unwrap();
    write_files(dir, cn, &cert.pem(), &key)
}

/// Creates an AES key as the client `files` identify, with our own KMIP client; `Err` when
/// the server refuses the connection (during or right after the handshake).
fn try_create(
    addr: SocketAddr,
    server_ca: &Path,
    files: &ClientFiles,
    x_name: &str,
) -> Result<String, String> {
    let tls = client::tls_config(server_ca, &files.cert, &files.key).map_err(|e| e.to_string())?;
    let mut conn = KmipClient::connect(
        &format!("localhost:{}", addr.port()),
        tls,
        Duration::from_secs(30),
    )
    .map_err(|e| e.to_string())?;
    let payload = create_aes_payload(
        256,
        12,
        vec![attribute("x-Name", Value::TextString(x_name.into()))],
    );
    let message = encode(&request(V1_1, vec![BatchItem::new(op::CREATE, payload)]));
    let response = conn.roundtrip(&message).map_err(|e| e.to_string())?;
    conn.close();
    let response = decode_response(&response);
    let items = batch_items(&response);
    let payload = success_payload(items[0]);
    Ok(text_of(payload.child(tag::UNIQUE_IDENTIFIER).expect("UID")).to_string())
}

#[test]
fn each_trust_method_lets_its_client_in_and_unknown_certificates_are_refused() {
    let mut appliance = Appliance::new(&[]);
    let data = appliance.data_dir.clone();
    let work = appliance.root.path().join("work");
    std::fs::create_dir_all(&work).unwrap();

    // 1. vCenter Certificate: a self-signed leaf, pinned.
    let pinned = self_signed(&work, "vc-pinned");
    let cert = pinned.cert.to_str().unwrap();
    keyward_ok(
        &data,
        &["client", "add", "--name", "pinned", "--cert", cert],
    );

    // 2. vCenter Root CA Certificate, narrowed to one subject.
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "vCenter root CA");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_cert = ca_params.self_signed(&ca_key).unwrap();
    let ca_path = work.join("vcenter-ca.crt");
    std::fs::write(&ca_path, ca_cert.pem()).unwrap();
    let issuer = Issuer::new(ca_params, ca_key);
    let chained = |cn: &str| {
        let key = KeyPair::generate().unwrap();
        let cert = leaf_params(cn).signed_by(&key, &issuer).unwrap();
        write_files(&work, cn, &cert.pem(), &key)
    };
    let via_ca = chained("vc-ca.example");
    let other_subject = chained("someone-else.example");
    keyward_ok(
        &data,
        &[
            "client",
            "add",
            "--name",
            "via-ca",
            "--ca",
            ca_path.to_str().unwrap(),
            "--subject",
            "vc-ca.example",
        ],
    );

    // 3. KMS certificate and private key, issued by the appliance.
    let issued_dir = work.join("issued");
    keyward_ok(
        &data,
        &[
            "client",
            "issue",
            "--name",
            "issued",
            "--out",
            issued_dir.to_str().unwrap(),
        ],
    );
    let issued = ClientFiles {
        cert: issued_dir.join("client.crt"),
        key: issued_dir.join("client.key"),
    };

    // 4. New Certificate Signing Request, signed by the appliance.
    let csr_key = KeyPair::generate().unwrap();
    let csr = leaf_params("vc-csr").serialize_request(&csr_key).unwrap();
    let csr_path = work.join("vc.csr");
    std::fs::write(&csr_path, csr.pem().unwrap()).unwrap();
    let signed_path = work.join("vc-csr-signed.crt");
    keyward_ok(
        &data,
        &[
            "client",
            "sign-csr",
            "--name",
            "csr",
            "--csr",
            csr_path.to_str().unwrap(),
            "--out",
            signed_path.to_str().unwrap(),
        ],
    );
    let signed = write_files(
        &work,
        "vc-csr",
        &std::fs::read_to_string(&signed_path).unwrap(),
        &csr_key,
    );

    // The same name twice is refused.
    let again = keyward(
        &data,
        &["client", "add", "--name", "pinned", "--cert", cert],
    );
    assert!(!again.status.success(), "a duplicate name was accepted");

    let list = keyward_ok(&data, &["client", "list"]);
    for (name, kind) in [
        ("pinned", "pinned-cert"),
        ("via-ca", "trusted-ca"),
        ("issued", "issued"),
        ("csr", "signed-csr"),
    ] {
        assert!(
            list.lines()
                .any(|l| l.starts_with(name) && l.contains(kind)),
            "{name} ({kind}) missing from:\n{list}"
        );
    }

    let server = appliance.start();
    let server_ca = data.join("ca.crt");
    let clients = [
        ("pinned", &pinned),
        ("via-ca", &via_ca),
        ("issued", &issued),
        ("csr", &signed),
    ];
    for (name, files) in clients {
        try_create(server.addr, &server_ca, files, &format!("vm-of-{name}")).unwrap_or_else(|e| {
            panic!("client {name} was not let in: {e}\nlog:\n{}", server.log())
        });
    }
    let stranger = self_signed(&work, "stranger");
    for (what, files) in [
        ("an unregistered certificate", &stranger),
        (
            "a certificate of the trusted CA with another subject",
            &other_subject,
        ),
    ] {
        assert!(
            try_create(server.addr, &server_ca, files, "x").is_err(),
            "{what} was let in"
        );
    }
    drop(server);

    // Each key landed with the client that created it.
    for (name, _) in clients {
        let shown = show_json(&data, name);
        let keys = shown["keys"].as_array().expect("keys array");
        assert_eq!(keys.len(), 1, "{name}: {shown}");
        assert_eq!(
            keys[0]["x_name"],
            format!("vm-of-{name}"),
            "{name}: {shown}"
        );
        assert_eq!(keys[0]["state"], "PreActive", "{name}: {shown}");
    }
}

#[test]
fn remove_refuses_while_keys_exist_and_destroy_keys_destroys_them() {
    let mut appliance = Appliance::new(&["vc"]);
    let data = appliance.data_dir.clone();
    let creds = appliance.creds("vc").clone();

    let mut server = appliance.start();
    let (pre_active, active) = {
        let mut tls = server.connect(&creds);
        let pre_active = create_aes(&mut tls, 256, vec![]);
        let active = create_aes(&mut tls, 256, vec![]);
        success_payload(&tls.call(V1_1, op::ACTIVATE, vec![uid(&active)]));
        assert_eq!(state_of(&mut tls, &active), STATE_ACTIVE);
        (pre_active, active)
    };
    server.terminate();

    let refused = keyward(&data, &["client", "remove", "vc", "--yes"]);
    assert!(!refused.status.success(), "removed a client that owns keys");
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("owns 2 key"),
        "unexpected refusal: {stderr}"
    );
    assert_eq!(show_json(&data, "vc")["key_count"], 2);

    let no_confirmation = keyward(&data, &["client", "remove", "vc", "--destroy-keys"]);
    assert!(
        !no_confirmation.status.success(),
        "removed without a terminal or --yes"
    );
    assert_eq!(show_json(&data, "vc")["key_count"], 2);

    let removed = keyward_ok(
        &data,
        &["client", "remove", "vc", "--destroy-keys", "--yes"],
    );
    assert!(removed.contains("2 key(s) destroyed"), "{removed}");
    let list = keyward_ok(&data, &["client", "list", "--json"]);
    assert!(!list.contains("\"vc\""), "vc still listed: {list}");

    // The removed client's certificate chains to the appliance CA, yet is refused now.
    let server = appliance.start();
    assert!(
        Tls::connect(server.addr, &creds)
            .ok()
            .and_then(|mut tls| tls
                .try_roundtrip(&request(V1_1, vec![BatchItem::new(op::QUERY, vec![])])))
            .is_none(),
        "a removed client was let in"
    );
    drop(server);

    // Registered again (same certificate, so the same owner): its keys are there, Destroyed.
    keyward_ok(
        &data,
        &[
            "client",
            "add",
            "--name",
            "vc-again",
            "--cert",
            creds.cert.to_str().unwrap(),
        ],
    );
    let shown = show_json(&data, "vc-again");
    let states: Vec<&str> = shown["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["state"].as_str().unwrap())
        .collect();
    assert_eq!(states, ["Destroyed", "Destroyed"], "{shown}");
    let server = appliance.start();
    let mut tls = server.connect(&creds);
    const STATE_DESTROYED: u32 = 5;
    for uid in [&pre_active, &active] {
        assert_eq!(state_of(&mut tls, uid), STATE_DESTROYED, "{uid}");
        let get = tls.call(V1_1, op::GET, vec![common::uid(uid)]);
        assert_ne!(
            result_status(&get),
            status::SUCCESS,
            "Get of a destroyed key"
        );
    }
}

#[test]
fn server_cert_show_prints_the_fingerprint_of_the_served_certificate() {
    let appliance = Appliance::new(&[]);
    let shown: serde_json::Value = serde_json::from_str(&keyward_ok(
        &appliance.data_dir,
        &["server", "cert", "show", "--json"],
    ))
    .unwrap();
    let pem = std::fs::read(appliance.data_dir.join("server.crt")).unwrap();
    use rustls::pki_types::pem::PemObject;
    let der = rustls::pki_types::CertificateDer::from_pem_slice(&pem).unwrap();
    assert_eq!(
        shown["fingerprint_sha256"],
        keyward::pki::fingerprint_hex(&keyward::pki::fingerprint(&der))
    );
    assert_eq!(shown["pem"], String::from_utf8(pem).unwrap());
}

#[test]
fn the_cli_works_against_a_running_server_and_remove_cuts_off_a_connected_client() {
    use std::os::unix::fs::{FileTypeExt, PermissionsExt};

    let mut appliance = Appliance::new(&["first"]);
    let data = appliance.data_dir.clone();
    let server = appliance.start();
    let socket = data.join("admin.sock");
    let meta = std::fs::symlink_metadata(&socket).expect("admin socket exists");
    assert!(meta.file_type().is_socket());
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);

    // Registered while the server runs (it holds the database): usable at once.
    let out = appliance.root.path().join("late");
    keyward_ok(
        &data,
        &[
            "client",
            "issue",
            "--name",
            "late",
            "--out",
            out.to_str().unwrap(),
        ],
    );
    let late = ClientCreds {
        name: "late".into(),
        cert: out.join("client.crt"),
        key: out.join("client.key"),
        ca: out.join("ca.crt"),
    };
    let mut tls = server.connect(&late);
    let key = create_aes(&mut tls, 256, vec![]);
    let shown = show_json(&data, "late");
    assert_eq!(shown["key_count"], 1, "{shown}");
    assert!(
        shown["last_seen"].is_i64(),
        "last seen not recorded: {shown}"
    );
    assert_eq!(shown["keys"][0]["uid"], key.as_str());

    let refused = keyward(&data, &["client", "remove", "late", "--yes"]);
    assert!(!refused.status.success(), "removed a client that owns keys");
    // Still connected and served.
    assert_eq!(state_of(&mut tls, &key), STATE_PRE_ACTIVE);

    let removed = keyward_ok(
        &data,
        &["client", "remove", "late", "--destroy-keys", "--yes"],
    );
    assert!(removed.contains("1 key(s) destroyed"), "{removed}");
    // The open connection was closed by the server, and a new one is refused.
    assert!(
        tls.try_roundtrip(&request(V1_1, vec![BatchItem::new(op::QUERY, vec![])]))
            .is_none(),
        "the removed client's open connection still answers"
    );
    assert!(
        Tls::connect(server.addr, &late)
            .ok()
            .and_then(
                |mut t| t.try_roundtrip(&request(V1_1, vec![BatchItem::new(op::QUERY, vec![])]))
            )
            .is_none(),
        "the removed client connected again"
    );
    // The other client is untouched.
    let mut first = server.connect(appliance.creds("first"));
    create_aes(&mut first, 256, vec![]);
    let list = keyward_ok(&data, &["client", "list"]);
    assert!(list.lines().any(|l| l.starts_with("first")), "{list}");
    assert!(!list.lines().any(|l| l.starts_with("late")), "{list}");
    let log = server.log();
    assert!(
        log.contains("admin uid"),
        "admin actions not recorded:\n{log}"
    );
}
