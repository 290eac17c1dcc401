//! PyKMIP 0.11 (from PyPI) against a real Keyward server over mutual TLS, exercising the
//! cryptographic services: Encrypt/Decrypt, Create Key Pair, Sign/Signature Verify, MAC and
//! Derive Key (tests/interop/pykmip_crypto.py). Also checks that the client's plaintext never
//! reaches the server log, even at trace level.
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
        println!("skipped: {TEST}: needs PyKMIP (run scripts/test)");
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
    let secret = "This is a secret message.";
    assert!(
        !log.contains(secret) && !log.contains(&hex::encode(secret)),
        "the client's plaintext reached the server log"
    );
}
