//! PyKMIP 0.11 (from PyPI) against a real Keyward server over mutual TLS, exercising the
//! cryptographic services: Encrypt/Decrypt, Create Key Pair, Sign/Signature Verify, MAC and
//! Derive Key (tests/interop/pykmip_crypto.py). Then checks that every one of those operations
//! left an audit record naming its key, and that the client's plaintext reached neither the
//! audit log nor the server log (even at trace level).
//!
//! Needs KEYWARD_PYKMIP_PYTHON (a python with pykmip==0.11.0, as scripts/test sets it); without
//! it the test prints one skip line, unless KEYWARD_REQUIRE_PYKMIP=1 makes that a failure.

mod common;

use std::process::Command;

const TEST: &str = "pykmip_drives_the_cryptographic_services";

#[test]
fn pykmip_drives_the_cryptographic_services() {
    let Some(python) = std::env::var_os("KEYWARD_PYKMIP_PYTHON") else {
        if std::env::var("KEYWARD_REQUIRE_PYKMIP").as_deref() == Ok("1") {
            panic!("{TEST}: KEYWARD_PYKMIP_PYTHON is not set");
        }
        // Past the harness's capture (see tests/common/etcd.rs), in one write.
        let line = format!("skipped: {TEST}: needs PyKMIP (run scripts/test)\n");
        let _ = std::io::Write::write_all(&mut std::io::stderr(), line.as_bytes());
        return;
    };
    let mut appliance = common::Appliance::new(&["pykmip-crypto"]);
    let server = appliance.start();
    let creds = appliance.creds("pykmip-crypto").clone();
    let conf = appliance.root.path().join("pykmip.conf");
    std::fs::write(
        &conf,
        format!(
            "[alice]\nhost = {}\nport = {}\ncertfile = {}\nkeyfile = {}\nca_certs = {}\n\
             cert_reqs = CERT_REQUIRED\nssl_version = PROTOCOL_TLS\n\
             do_handshake_on_connect = True\nsuppress_ragged_eofs = True\n",
            server.addr.ip(),
            server.addr.port(),
            creds.cert.display(),
            creds.key.display(),
            creds.ca.display()
        ),
    )
    .expect("write PyKMIP config");
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/interop/pykmip_crypto.py"
    );
    let output = Command::new(python)
        .args(["-W", "ignore", script])
        .arg(&conf)
        .arg("alice")
        .current_dir(appliance.root.path())
        .output()
        .expect("run PyKMIP");
    let stdout = String::from_utf8_lossy(&output.stdout);
    println!("{stdout}");
    assert!(
        output.status.success() && stdout.contains(" passed, 0 failed"),
        "PyKMIP crypto checks failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let log = server.log();
    let mut server = server;
    server.terminate();
    let secret = "This is a secret message.";
    assert!(
        !log.contains(secret) && !log.contains(&hex::encode(secret)),
        "the client's plaintext reached the server log"
    );

    let export = Command::new(common::keyward_bin())
        .args(["audit", "export", "--format", "jsonl", "--data-dir"])
        .arg(&appliance.data_dir)
        .output()
        .expect("run keyward audit export");
    assert!(export.status.success(), "audit export failed");
    let text = String::from_utf8_lossy(&export.stdout);
    assert!(!text.contains(secret) && !text.contains(&hex::encode(secret)));
    let records: Vec<serde_json::Value> = text
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).expect("jsonl line"))
        .collect();
    for operation in [
        "Encrypt",
        "Decrypt",
        "Sign",
        "SignatureVerify",
        "MAC",
        "CreateKeyPair",
        "DeriveKey",
    ] {
        let found = records
            .iter()
            .filter(|r| r["record"]["operation"] == operation);
        let mut count = 0;
        for record in found {
            count += 1;
            let uids = record["record"]["uids"].as_array().map_or(0, Vec::len);
            assert!(uids > 0, "{operation} audit record names no key: {record}");
        }
        assert!(count > 0, "no audit record for {operation}");
    }
}
