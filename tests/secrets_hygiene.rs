//! Secrets hygiene: with trace logging, no key material, passphrase or root secret reaches the
//! server log, the CLI's output or error messages; core dumps are off in the server process.
//!
//! Scenario: an appliance whose root key is derived from a passphrase, Creates and Gets of
//! keys (the material the test then searches for), failing requests, admin CLI commands, a
//! restart (unwrapping the master key again) and a start with a wrong passphrase.
//!
//! A second scenario puts the root in Key Protect (the loopback emulator) and searches the
//! trace logs and CLI output for the IBM Cloud API key and the IAM access tokens.

mod common;
use common::kp_emulator;

use std::process::{Command, Stdio};

use base64::Engine as _;
use common::*;

const PASSPHRASE: &str = "hygiene-passphrase-4f1c9e2a7b";

fn run(args: &[&str], data_dir: &std::path::Path, config: &std::path::Path) -> String {
    let out = Command::new(keyward_bin())
        .args(args)
        .arg("--data-dir")
        .arg(data_dir)
        .arg("--config")
        .arg(config)
        .env("RUST_LOG", "trace")
        .stdin(Stdio::null())
        .output()
        .expect("run keyward");
    format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Every text form in which `secret` could leak.
fn leaks(haystack: &str, secret: &[u8]) -> Vec<&'static str> {
    let mut found = Vec::new();
    if contains_hex(haystack, secret) {
        found.push("hex");
    }
    let std = base64::engine::general_purpose::STANDARD.encode(secret);
    let url = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(secret);
    if haystack.contains(std.trim_end_matches('=')) || haystack.contains(&url) {
        found.push("base64");
    }
    if haystack.contains(&format!("{secret:?}")) {
        found.push("Debug byte list");
    }
    found
}

/// Writes `content` to `path` with mode 0600, as a secret file must be.
fn write_secret(path: &std::path::Path, content: &str) {
    std::fs::write(path, content).expect("write secret file");
    std::fs::set_permissions(path, std::os::unix::fs::PermissionsExt::from_mode(0o600))
        .expect("chmod secret file");
}

/// Re-creates `appliance` under the configuration `toml` (written to `config`), issues the
/// "vc" client's files again, and has later starts use that configuration at trace level.
/// Returns the client's credentials and the CLI's output.
fn reinit(
    appliance: &mut Appliance,
    toml: &str,
    config: &std::path::Path,
) -> (ClientCreds, String) {
    let data_dir = appliance.data_dir.clone();
    std::fs::write(config, toml).expect("write config");
    std::fs::remove_dir_all(&data_dir).expect("remove data dir");
    let mut transcript = run(&["init"], &data_dir, config);
    let creds = appliance.creds("vc").clone();
    let out_dir = creds.cert.parent().expect("client dir").to_path_buf();
    std::fs::remove_dir_all(&out_dir).expect("remove old client files");
    transcript += &run(
        &[
            "client",
            "issue",
            "--name",
            "vc",
            "--out",
            out_dir.to_str().expect("utf8"),
        ],
        &data_dir,
        config,
    );
    appliance.set_config(toml);
    appliance.set_log_filter("trace");
    (creds, transcript)
}

/// `transcript` followed by every server log the appliance wrote.
fn with_server_logs(appliance: &Appliance, transcript: String) -> String {
    let mut everything = transcript;
    for entry in std::fs::read_dir(appliance.root.path()).expect("read root") {
        let path = entry.expect("entry").path();
        if path.extension().is_some_and(|e| e == "log") {
            everything += &read_to_string(&path);
        }
    }
    everything
}

#[test]
fn no_secret_in_logs_cli_output_or_errors_and_no_core_dumps() {
    let mut appliance = Appliance::new(&["vc"]);
    let root = appliance.root.path().to_path_buf();
    let passphrase_file = root.join("passphrase");
    write_secret(&passphrase_file, PASSPHRASE);
    let config = root.join("keyward.toml");
    let toml = format!(
        "[root]\nprovider = \"local\"\npassphrase_file = \"{}\"\n",
        passphrase_file.display()
    );
    // Re-create the appliance with a passphrase root, and the client's files with it.
    let (creds, mut transcript) = reinit(&mut appliance, &toml, &config);
    let data_dir = appliance.data_dir.clone();

    let mut server = appliance.start();
    let pid = server.pid().expect("running");
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).expect("limits");
    let core = limits
        .lines()
        .find(|l| l.starts_with("Max core file size"))
        .expect("core limit line");
    let fields: Vec<&str> = core.split_whitespace().collect();
    assert_eq!(
        &fields[4..6],
        &["0", "0"],
        "core dumps are not disabled: {core}"
    );

    let mut tls = server.connect(&creds);
    let mut materials = Vec::new();
    for _ in 0..3 {
        let id = create_aes(&mut tls, 256, vec![]);
        materials.push(get_key(&mut tls, &id));
        // A second Get, and a failing request naming the key.
        materials.push(get_key(&mut tls, &id));
        let bi = tls.call(V1_1, op::ACTIVATE, vec![uid(&id)]);
        let _ = result_status(&bi);
        let bi = tls.call(V1_1, op::DESTROY, vec![uid(&id)]);
        transcript += &format!("{bi:?}");
    }
    let bi = tls.call(V1_1, op::GET, vec![uid("no-such-key")]);
    transcript += &format!("{bi:?}");
    transcript += &run(&["client", "list"], &data_dir, &config);
    transcript += &run(&["status"], &data_dir, &config);
    drop(tls);
    assert!(server.terminate().success());
    let mut server = appliance.start(); // unwraps the master key with the passphrase again
    drop(server.connect(&creds));
    assert!(server.terminate().success());

    // A wrong passphrase: the error must not echo either passphrase.
    std::fs::write(&passphrase_file, "wrong-passphrase-0d9b").expect("write");
    let out = Command::new(keyward_bin())
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(&data_dir)
        .arg("--config")
        .arg(&config)
        .env("RUST_LOG", "trace")
        .stdin(Stdio::null())
        .output()
        .expect("run serve");
    assert!(
        !out.status.success(),
        "serve started with a wrong passphrase"
    );
    let wrong = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        !wrong.contains("wrong-passphrase-0d9b"),
        "the wrong passphrase was echoed: {wrong}"
    );
    transcript += &wrong;

    let everything = with_server_logs(&appliance, transcript);
    assert!(
        everything.contains("TRACE") || everything.contains("trace"),
        "trace logging produced nothing to search"
    );
    assert!(
        everything.len() > 10_000,
        "suspiciously little output to search"
    );
    assert!(!everything.contains(PASSPHRASE), "the passphrase leaked");
    assert!(
        leaks(&everything, PASSPHRASE.as_bytes()).is_empty(),
        "the passphrase leaked in an encoded form"
    );
    for material in &materials {
        let found = leaks(&everything, material);
        assert!(found.is_empty(), "key material leaked as {found:?}");
    }
    eprintln!(
        "searched {} bytes of trace logs, CLI output and errors for {} key materials and the passphrase: none found",
        everything.len(),
        materials.len()
    );
}

#[test]
fn no_api_key_or_access_token_in_trace_logs_with_the_key_protect_root() {
    let emu = kp_emulator::Emulator::start();
    let mut appliance = Appliance::new(&["vc"]);
    let root = appliance.root.path().to_path_buf();
    let api_key_file = root.join("kp.apikey");
    write_secret(&api_key_file, kp_emulator::API_KEY);
    let toml = format!(
        "[root]\nprovider = \"keyprotect\"\n\n[keyprotect]\ninstance_id = \"{}\"\n\
         root_key_id = \"{}\"\nendpoint = \"{}\"\niam_endpoint = \"{}\"\n\
         api_key_file = \"{}\"\nsync_interval = \"200ms\"\n",
        kp_emulator::INSTANCE_ID,
        kp_emulator::ROOT_KEY_ID,
        emu.base_url(),
        emu.iam_url(),
        api_key_file.display()
    );
    let config = root.join("keyward.toml");
    let (creds, mut transcript) = reinit(&mut appliance, &toml, &config);
    let data_dir = appliance.data_dir.clone();

    let mut server = appliance.start();
    let mut tls = server.connect(&creds);
    let mut materials = Vec::new();
    for _ in 0..3 {
        let id = create_aes(&mut tls, 256, vec![]);
        materials.push(get_key(&mut tls, &id));
    }
    // Several sync rounds (token use, key metadata) at a 200 ms interval.
    std::thread::sleep(std::time::Duration::from_millis(1_000));
    transcript += &run(&["status"], &data_dir, &config);
    drop(tls);
    assert!(server.terminate().success());

    let everything = with_server_logs(&appliance, transcript);
    assert!(
        emu.counters().token_requests > 0,
        "the appliance never asked IAM for a token"
    );
    assert!(
        everything.contains("TRACE") || everything.contains("trace"),
        "trace logging produced nothing to search"
    );
    assert!(
        !everything.contains(kp_emulator::API_KEY),
        "the API key leaked"
    );
    assert!(
        leaks(&everything, kp_emulator::API_KEY.as_bytes()).is_empty(),
        "the API key leaked in an encoded form"
    );
    // Every access token the emulator issues starts with "emu-".
    if let Some(at) = everything.find("emu-") {
        let context = &everything[at.saturating_sub(200)..(at + 80).min(everything.len())];
        panic!("an IAM access token leaked: …{context}…");
    }
    for material in &materials {
        let found = leaks(&everything, material);
        assert!(found.is_empty(), "key material leaked as {found:?}");
    }
}
