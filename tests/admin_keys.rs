//! `keyward key …` through the real binary, against a running server (admin socket) and
//! offline (database opened directly): list filters, show, revoke and destroy with KMIP's
//! state rules as the owner then sees them over KMIP, and the exit codes scripts rely on.

mod common;

use std::path::Path;

use common::*;
use keyward::ttlv::Value;

const STATE_DEACTIVATED: u32 = 3;
const STATE_COMPROMISED: u32 = 4;
const STATE_DESTROYED: u32 = 5;
const STATE_DESTROYED_COMPROMISED: u32 = 6;

/// Runs `keyward args`, asserts its exit code, returns stdout.
fn expect_code(data_dir: &Path, args: &[&str], code: i32) -> String {
    let out = keyward(data_dir, args);
    assert_eq!(
        out.status.code(),
        Some(code),
        "keyward {args:?}:\nstdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if code != 0 {
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("error:"),
            "exit {code} without saying why: {args:?}"
        );
    }
    String::from_utf8(out.stdout).expect("utf-8 output")
}

fn json(data_dir: &Path, args: &[&str]) -> serde_json::Value {
    let mut with_json = args.to_vec();
    with_json.push("--json");
    serde_json::from_str(&expect_code(data_dir, &with_json, 0)).expect("--json prints JSON")
}

fn listed(data_dir: &Path, args: &[&str]) -> Vec<String> {
    let mut all = vec!["key", "list"];
    all.extend_from_slice(args);
    let mut uids: Vec<String> = json(data_dir, &all)["keys"]
        .as_array()
        .expect("keys array")
        .iter()
        .map(|k| k["uid"].as_str().expect("uid").to_string())
        .collect();
    uids.sort();
    uids
}

fn sorted(uids: &[&String]) -> Vec<String> {
    let mut v: Vec<String> = uids.iter().map(|u| u.to_string()).collect();
    v.sort();
    v
}

fn vcenter_attrs(vm: &str) -> Vec<keyward::ttlv::Item> {
    vec![
        attribute("x-Component", Value::TextString("VM".into())),
        attribute("x-Name", Value::TextString(vm.into())),
        attribute("x-Identifier", Value::TextString(format!("5012-{vm}-uuid"))),
    ]
}

fn activate(tls: &mut Tls, id: &str) {
    success_payload(&tls.call(V1_1, op::ACTIVATE, vec![uid(id)]));
}

#[test]
fn key_commands_filter_show_revoke_and_destroy_online_and_offline() {
    let mut appliance = Appliance::new(&["vc", "other"]);
    let data = appliance.data_dir.clone();
    let vc = appliance.creds("vc").clone();
    let mut server = appliance.start();
    let mut tls = server.connect(&vc);
    let pre = create_aes(&mut tls, 256, vcenter_attrs("vm-01"));
    let material = get_key(&mut tls, &pre);
    let active = create_aes(&mut tls, 256, vcenter_attrs("vm-02"));
    activate(&mut tls, &active);
    let retiring = create_aes(&mut tls, 256, vcenter_attrs("vm-03"));
    activate(&mut tls, &retiring);
    let theirs = {
        let mut other = server.connect(appliance.creds("other"));
        create_aes(&mut other, 128, vec![])
    };

    // Listing and its filters, over the admin socket.
    assert_eq!(
        listed(&data, &[]),
        sorted(&[&pre, &active, &retiring, &theirs])
    );
    assert_eq!(
        listed(&data, &["--client", "vc"]),
        sorted(&[&pre, &active, &retiring])
    );
    assert_eq!(listed(&data, &["--client", "other"]), vec![theirs.clone()]);
    assert_eq!(
        listed(&data, &["--state", "active"]),
        sorted(&[&active, &retiring])
    );
    assert_eq!(
        listed(&data, &["--state", "PreActive", "--client", "vc"]),
        vec![pre.clone()]
    );
    assert_eq!(
        listed(&data, &["--attr", "x-Name=vm-02"]),
        vec![active.clone()]
    );
    assert_eq!(
        listed(
            &data,
            &["--attr", "x-Component=VM", "--state", "pre-active"]
        ),
        vec![pre.clone()]
    );
    assert!(listed(&data, &["--attr", "x-Name=vm-99"]).is_empty());
    let table = expect_code(&data, &["key", "list", "--client", "vc"], 0);
    assert!(
        table.lines().next().unwrap().starts_with("UID") && table.contains("vm-03"),
        "{table}"
    );

    // Show: owner, state and vCenter's attributes; never the material.
    let shown = json(&data, &["key", "show", &pre]);
    assert_eq!(shown["client"], "vc", "{shown}");
    assert_eq!(shown["owner"], "cn:vc", "{shown}");
    assert_eq!(shown["state"], "PreActive", "{shown}");
    assert_eq!(shown["x_component"], "VM");
    assert_eq!(shown["x_name"], "vm-01");
    assert_eq!(shown["x_identifier"], "5012-vm-01-uuid");
    let attributes = shown["attributes"].as_array().unwrap();
    assert!(
        attributes
            .iter()
            .any(|a| a[0] == "Cryptographic Algorithm" && a[1] == "AES"),
        "{shown}"
    );
    let text = expect_code(&data, &["key", "show", &pre], 0);
    assert!(
        text.contains("x-Identifier") && text.contains("5012-vm-01-uuid"),
        "{text}"
    );
    assert!(
        !contains_hex(&(shown.to_string() + &text), &material),
        "key show printed key material"
    );
    // A key its owner has been served is no longer Fresh, shown right after its first Get too
    // (the clear rides in the read journal; `key show` waits for its fold); one never served is.
    let fresh = |uid: &str| {
        json(&data, &["key", "show", uid])["attributes"]
            .as_array()
            .expect("attributes")
            .iter()
            .find(|a| a[0] == "Fresh")
            .map(|a| a[1].clone())
    };
    let fetched = create_aes(&mut tls, 256, vec![]);
    get_key(&mut tls, &fetched);
    assert_eq!(fresh(&fetched), Some("false".into()));
    assert_eq!(fresh(&active), Some("true".into()));

    // Exit codes: usage 2, not found 3, wrong state 4, not confirmed 5.
    expect_code(&data, &["key", "list", "--state", "sleeping"], 2);
    expect_code(&data, &["key", "list", "--attr", "no-equals-sign"], 2);
    expect_code(&data, &["key", "revoke", &pre, "--reason", "bored"], 2);
    expect_code(&data, &["key", "list", "--client", "nobody"], 3);
    expect_code(&data, &["key", "show", "no-such-uid"], 3);
    expect_code(
        &data,
        &["key", "revoke", "no-such-uid", "--reason", "superseded"],
        3,
    );
    expect_code(&data, &["key", "destroy", "no-such-uid", "--yes"], 3);
    let out = keyward(&data, &["key", "destroy", &active, "--yes"]);
    assert_eq!(out.status.code(), Some(4), "destroyed an Active key");
    let why = String::from_utf8_lossy(&out.stderr);
    assert!(why.contains("Active") && why.contains("revoke"), "{why}");
    let out = keyward(&data, &["key", "revoke", &pre, "--reason", "superseded"]);
    assert_eq!(out.status.code(), Some(4), "superseded a Pre-Active key");
    assert!(String::from_utf8_lossy(&out.stderr).contains("PreActive"));
    // No terminal and no --yes: nothing happens.
    expect_code(&data, &["key", "destroy", &pre], 5);
    assert_eq!(state_of(&mut tls, &pre), STATE_PRE_ACTIVE);

    // Revoke: what the owner sees over KMIP afterwards.
    let revoked = json(
        &data,
        &[
            "key",
            "revoke",
            &retiring,
            "--reason",
            "cessation-of-operation",
        ],
    );
    assert_eq!(revoked["state"], "Deactivated", "{revoked}");
    assert_eq!(state_of(&mut tls, &retiring), STATE_DEACTIVATED);
    expect_code(
        &data,
        &["key", "revoke", &active, "--reason", "key-compromise"],
        0,
    );
    assert_eq!(state_of(&mut tls, &active), STATE_COMPROMISED);
    // Destroy after revocation; the owner's Get then fails.
    expect_code(&data, &["key", "destroy", &retiring, "--yes"], 0);
    assert_eq!(state_of(&mut tls, &retiring), STATE_DESTROYED);
    let get = tls.call(V1_1, op::GET, vec![uid(&retiring)]);
    assert_ne!(
        result_status(&get),
        status::SUCCESS,
        "Get of a destroyed key"
    );
    expect_code(&data, &["key", "destroy", &retiring, "--yes"], 4);
    // A key never activated may be destroyed directly.
    expect_code(&data, &["key", "destroy", &pre, "--yes"], 0);
    assert_eq!(state_of(&mut tls, &pre), STATE_DESTROYED);
    assert!(
        server.log().contains("admin uid"),
        "the running server did not handle the key commands"
    );
    drop(tls);
    server.terminate();

    // Offline: the same commands on the database itself.
    assert_eq!(
        listed(&data, &["--state", "destroyed"]),
        sorted(&[&pre, &retiring])
    );
    assert_eq!(
        listed(&data, &["--state", "compromised"]),
        vec![active.clone()]
    );
    expect_code(&data, &["key", "show", "no-such-uid"], 3);
    expect_code(&data, &["key", "destroy", &theirs], 5);
    expect_code(
        &data,
        &["key", "revoke", &theirs, "--reason", "ca-compromise"],
        0,
    );
    let destroyed = json(&data, &["key", "destroy", &active, "--yes"]);
    assert_eq!(destroyed["state"], "DestroyedCompromised", "{destroyed}");

    let server = appliance.start();
    let mut tls = server.connect(&vc);
    assert_eq!(state_of(&mut tls, &active), STATE_DESTROYED_COMPROMISED);
    let mut other = server.connect(appliance.creds("other"));
    assert_eq!(state_of(&mut other, &theirs), STATE_COMPROMISED);
}
