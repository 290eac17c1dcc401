//! KMIP username/password credentials (`client set-credential`, `client add --username`):
//! a client with a credential must send it with every request, a wrong or missing one gets
//! Authentication Not Successful, a client without one is never asked, and changes apply to
//! open connections. Real server, real TLS.

mod common;

use common::*;
use keyward::kmip::message::ProtocolVersion;
use keyward::kmip::request::{Request, RequestItem};
use keyward::kmip::tag;
use keyward::ttlv::{Item, Value};

const AUTHENTICATION_NOT_SUCCESSFUL: u32 = 0x03;

/// A one-item KMIP 1.1 Query request whose header carries `credential` (username, password).
fn query(credential: Option<(&str, &str)>) -> Item {
    let request = Request::new(ProtocolVersion::new(V1_1.0, V1_1.1));
    let request = match credential {
        Some((username, password)) => request.credential(username, Some(password)),
        None => request,
    };
    request
        .item(RequestItem::raw(
            op::QUERY,
            vec![Item::new(tag::QUERY_FUNCTION, Value::Enumeration(1))],
        ))
        .encode()
}

/// The Result Reason of the answer to a Query sent with `credential`, `None` on success.
fn refusal(tls: &mut Tls, credential: Option<(&str, &str)>) -> Option<u32> {
    let response = tls.roundtrip(&query(credential));
    let items = batch_items(&response);
    assert_eq!(items.len(), 1, "{response:?}");
    match result_status(items[0]) {
        status::SUCCESS => None,
        _ => Some(result_reason(items[0]).expect("a failure carries a reason")),
    }
}

#[test]
fn a_configured_credential_is_required_and_verified_and_never_stored_in_clear() {
    let mut appliance = Appliance::new(&["vc", "plain"]);
    let data = appliance.data_dir.clone();
    let password = "correct horse battery staple";
    let password_file = appliance.root.path().join("kmip-password");
    std::fs::write(&password_file, format!("{password}\n")).unwrap();
    let file = password_file.to_str().unwrap();
    keyward_ok(
        &data,
        &[
            "client",
            "set-credential",
            "vc",
            "--username",
            "vcenter",
            "--password-file",
            file,
        ],
    );
    let shown: serde_json::Value =
        serde_json::from_str(&keyward_ok(&data, &["client", "show", "vc", "--json"])).unwrap();
    assert_eq!(shown["kmip_username"], "vcenter", "{shown}");

    let server = appliance.start();
    let mut vc = server.connect(appliance.creds("vc"));
    let wanted = Some(AUTHENTICATION_NOT_SUCCESSFUL);
    assert_eq!(refusal(&mut vc, None), wanted, "no credential");
    assert_eq!(
        refusal(&mut vc, Some(("vcenter", "wrong"))),
        wanted,
        "wrong password"
    );
    assert_eq!(
        refusal(&mut vc, Some(("admin", password))),
        wanted,
        "wrong username"
    );
    assert_eq!(
        refusal(&mut vc, Some(("vcenter", password))),
        None,
        "right password"
    );
    // Verified once per connection, still required on every request.
    assert_eq!(refusal(&mut vc, Some(("vcenter", password))), None);
    assert_eq!(
        refusal(&mut vc, None),
        wanted,
        "later request without credential"
    );
    assert_eq!(refusal(&mut vc, Some(("vcenter", "wrong"))), wanted);
    // A refused request ran nothing: a Create without the credential creates no key.
    let create = tls_create_without_credential(&mut vc);
    assert_eq!(result_reason(&create), wanted);

    // A client without a credential is unaffected, whatever it sends.
    let mut plain = server.connect(appliance.creds("plain"));
    assert_eq!(refusal(&mut plain, None), None);
    assert_eq!(refusal(&mut plain, Some(("anyone", "anything"))), None);

    // Changes apply to open connections: set on `plain`, cleared on `vc`.
    keyward_ok(
        &data,
        &[
            "client",
            "set-credential",
            "plain",
            "--username",
            "p",
            "--password-file",
            file,
        ],
    );
    assert_eq!(
        refusal(&mut plain, None),
        wanted,
        "new credential not applied"
    );
    assert_eq!(refusal(&mut plain, Some(("p", password))), None);
    keyward_ok(&data, &["client", "set-credential", "vc", "--clear"]);
    assert_eq!(
        refusal(&mut vc, None),
        None,
        "cleared credential still required"
    );
    drop(server);

    // Only the Argon2id hash is stored.
    let database = std::fs::read(data.join("keyward.redb")).unwrap();
    let has = |needle: &[u8]| database.windows(needle.len()).any(|w| w == needle);
    assert!(!has(password.as_bytes()), "the password is stored in clear");
    assert!(has(b"$argon2id$"), "no Argon2id hash stored");
    let log = std::fs::read_to_string(appliance.root.path().join("server-1.log")).unwrap();
    assert!(!log.contains(password), "the password reached the log");
    assert!(log.contains("credential"), "refusals not logged:\n{log}");
}

fn tls_create_without_credential(tls: &mut Tls) -> Item {
    let item = tls.call(V1_1, op::CREATE, create_aes_payload(256, 12, vec![]));
    assert_eq!(result_status(&item), status::OPERATION_FAILED, "{item:?}");
    item
}

#[test]
fn client_add_takes_a_credential_and_bad_input_is_refused() {
    let appliance = Appliance::new(&["issued"]);
    let data = appliance.data_dir.clone();
    let empty = appliance.root.path().join("empty");
    std::fs::write(&empty, "\n").unwrap();
    let out = keyward(
        &data,
        &[
            "client",
            "set-credential",
            "issued",
            "--username",
            "u",
            "--password-file",
            empty.to_str().unwrap(),
        ],
    );
    assert!(!out.status.success(), "an empty password was accepted");
    let out = keyward(
        &data,
        &["client", "set-credential", "issued", "--username", "u"],
    );
    assert_eq!(
        out.status.code(),
        Some(2),
        "--username without --password-file"
    );
    let out = keyward(&data, &["client", "set-credential", "ghost", "--clear"]);
    assert!(
        !out.status.success(),
        "set a credential on an unknown client"
    );

    let pw = appliance.root.path().join("pw");
    std::fs::write(&pw, "s3cret").unwrap();
    // A second registration of the issued certificate under another name, with a credential.
    let cert = appliance.creds("issued").cert.clone();
    keyward_ok(&data, &["client", "remove", "issued", "--yes"]);
    let added = keyward_ok(
        &data,
        &[
            "client",
            "add",
            "--name",
            "pinned",
            "--cert",
            cert.to_str().unwrap(),
            "--username",
            "vc-user",
            "--password-file",
            pw.to_str().unwrap(),
        ],
    );
    assert!(added.contains("vc-user"), "{added}");
    let mut appliance = appliance;
    let server = appliance.start();
    let mut tls = server.connect(appliance.creds("issued"));
    assert_eq!(refusal(&mut tls, None), Some(AUTHENTICATION_NOT_SUCCESSFUL));
    assert_eq!(refusal(&mut tls, Some(("vc-user", "s3cret"))), None);
}
