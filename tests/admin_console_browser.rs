//! The web console in a real headless Chromium (Debian's `chromium` and `chromium-driver`,
//! installed by scripts/test), driven over the W3C WebDriver protocol: log in, add a client by
//! uploading its certificate (one that expires in 10 days, so the dashboard warns), issue a
//! certificate and key for another, find a key by its VM name, revoke it, see the revocation
//! in the audit viewer, take a backup, open the approvals page, and enrol the account's TOTP authenticator. A screenshot of each page
//! is saved under the target directory (the paths are printed).
//! Without chromedriver the test prints one `skipped:` line, unless KEYWARD_REQUIRE_BROWSER=1.

mod common;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use common::*;
use keyward::ttlv::Value as Ttlv;
use serde_json::{Value, json};

const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

fn find_program(names: &[&str]) -> Option<std::path::PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .flat_map(|dir| names.iter().map(move |n| dir.join(n)))
        .find(|p| p.is_file())
}

/// chromedriver, killed on drop.
struct Driver {
    child: Child,
    base: String,
    agent: ureq::Agent,
    session: String,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self
            .agent
            .delete(&format!("{}/session/{}", self.base, self.session))
            .call();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Driver {
    fn start(driver: &std::path::Path, browser: &std::path::Path) -> Driver {
        let port = free_loopback_addr().port();
        let child = Command::new(driver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn chromedriver");
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .proxy(None)
            .timeout_global(Some(IO_BOUND))
            .build()
            .new_agent();
        let base = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + IO_BOUND;
        while agent.get(&format!("{base}/status")).call().is_err() {
            assert!(Instant::now() < deadline, "chromedriver did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
        let mut driver = Driver {
            child,
            base,
            agent,
            session: String::new(),
        };
        let created = driver.send(
            "POST",
            "/session",
            json!({"capabilities": {"alwaysMatch": {
                "browserName": "chrome",
                "acceptInsecureCerts": true,
                "goog:chromeOptions": {
                    "binary": browser.to_string_lossy(),
                    "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                             "--disable-dev-shm-usage", "--window-size=1280,900"],
                },
            }}}),
        );
        driver.session = created["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session: {created}"))
            .to_string();
        driver
    }

    fn send(&self, method: &str, path: &str, body: Value) -> Value {
        let url = if path == "/session" {
            format!("{}{path}", self.base)
        } else {
            format!("{}/session/{}{path}", self.base, self.session)
        };
        let mut response = match method {
            "GET" => self.agent.get(&url).call(),
            _ => self.agent.post(&url).send_json(&body),
        }
        .unwrap_or_else(|e| panic!("WebDriver {path}: {e}"));
        let answer: Value = response.body_mut().read_json().expect("WebDriver JSON");
        answer["value"].clone()
    }

    fn element(&self, css: &str) -> String {
        let found = self.send(
            "POST",
            "/element",
            json!({"using": "css selector", "value": css}),
        );
        found[ELEMENT]
            .as_str()
            .unwrap_or_else(|| panic!("no element {css}: {found}"))
            .to_string()
    }

    fn click(&self, css: &str) {
        let id = self.element(css);
        self.send("POST", &format!("/element/{id}/click"), json!({}));
    }

    fn type_into(&self, css: &str, text: &str) {
        let id = self.element(css);
        self.send("POST", &format!("/element/{id}/clear"), json!({}));
        self.send(
            "POST",
            &format!("/element/{id}/value"),
            json!({"text": text}),
        );
    }

    fn text(&self, css: &str) -> String {
        let value = self.send(
            "POST",
            "/execute/sync",
            json!({"script": "const e = document.querySelector(arguments[0]); return e ? e.textContent : '';",
                   "args": [css]}),
        );
        value.as_str().unwrap_or_default().to_string()
    }

    /// Waits (bounded) until the text of `css` contains `wanted`.
    fn wait_text(&self, css: &str, wanted: &str) {
        let deadline = Instant::now() + IO_BOUND;
        loop {
            let text = self.text(css);
            if text.contains(wanted) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{css} never showed {wanted:?}; it shows {text:?}; error line: {:?}",
                self.text("#error")
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn screenshot(&self, dir: &std::path::Path, name: &str) {
        let png = self.send("GET", "/screenshot", Value::Null);
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(png.as_str().expect("base64 screenshot"))
            .expect("decode screenshot");
        assert!(bytes.starts_with(b"\x89PNG"), "not a PNG");
        let path = dir.join(format!("{name}.png"));
        std::fs::write(&path, bytes).expect("write screenshot");
        println!("screenshot: {}", path.display());
    }
}

#[test]
fn console_in_headless_chromium_adds_a_client_finds_and_revokes_a_key() {
    let (Some(driver), Some(browser)) = (
        find_program(&["chromedriver"]),
        find_program(&["chromium", "chromium-browser"]),
    ) else {
        if std::env::var_os("KEYWARD_REQUIRE_BROWSER").is_some_and(|v| v == "1") {
            panic!("KEYWARD_REQUIRE_BROWSER=1 but chromium or chromedriver is missing");
        }
        // Past the harness's capture (see tests/common/etcd.rs), in one write.
        let line = "skipped: console_in_headless_chromium: needs chromium and chromium-driver \
                    (run scripts/test)\n";
        let _ = std::io::Write::write_all(&mut std::io::stderr(), line.as_bytes());
        return;
    };
    let mut appliance = Appliance::new(&["vc"]);
    appliance.set_log_filter("info");
    let data = appliance.data_dir.clone();
    let admin_addr = free_loopback_addr();
    appliance.set_config(&format!("[admin_http]\nlisten = \"{admin_addr}\"\n"));
    let mut add = Command::new(keyward_bin())
        .args([
            "admin-user",
            "add",
            "alice",
            "--role",
            "admin",
            "--password-stdin",
            "--data-dir",
        ])
        .arg(&data)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("admin-user add");
    use std::io::Write;
    add.stdin
        .take()
        .expect("stdin")
        .write_all(b"alice-password-1\n")
        .expect("password");
    assert!(add.wait().expect("wait").success());
    let server = appliance.start();
    let vc = appliance.creds("vc").clone();
    let mut kmip = server.connect(&vc);
    let key = create_aes(
        &mut kmip,
        256,
        vec![attribute("x-Name", Ttlv::TextString("vm-07".into()))],
    );
    success_payload(&kmip.call(V1_1, op::ACTIVATE, vec![uid(&key)]));
    let cert_file = appliance.root.path().join("vcenter-web.crt");
    std::fs::write(&cert_file, cert_expiring_in(10, "vcenter-web")).expect("write cert");
    let shots = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("console-screenshots");
    std::fs::create_dir_all(&shots).expect("screenshot dir");

    let web = Driver::start(&driver, &browser);
    web.send(
        "POST",
        "/url",
        json!({"url": format!("https://{admin_addr}/")}),
    );
    web.wait_text("#login h2", "Log in");
    web.screenshot(&shots, "1-login");
    web.type_into("#username", "alice");
    web.type_into("#password", "alice-password-1");
    web.click("#login-button");
    web.wait_text("#who", "alice (admin)");
    web.wait_text("#state", "serving");

    web.click("button[data-view=clients]");
    web.wait_text("#client-rows", "vc");
    web.type_into("#client-name", "web");
    let file_input = web.element("#client-cert");
    web.send(
        "POST",
        &format!("/element/{file_input}/value"),
        json!({"text": cert_file.to_string_lossy()}),
    );
    web.click("#client-add");
    web.wait_text("#client-rows", "pinned-cert");
    web.wait_text("#client-rows", "days)");
    web.type_into("#issue-name", "vc-issued");
    web.click("#client-issue");
    web.wait_text("#issue-links", "vc-issued.key");
    web.wait_text("#client-rows", "issued");
    web.screenshot(&shots, "3-clients");

    web.click("button[data-view=dashboard]");
    web.wait_text("#state", "serving");
    web.wait_text("#expiring", "client web: expires in");
    web.wait_text("#keys-by-state", "Active");
    web.wait_text("#node-rows", "this appliance");
    web.wait_text("#server-cert", "SHA-256");
    web.screenshot(&shots, "2-dashboard");

    web.click("button[data-view=keys]");
    web.type_into("#key-vm", "vm-07");
    web.click("#key-search");
    web.wait_text("#key-rows", &key);
    web.wait_text("#key-rows", "Active");
    web.wait_text("#key-total", "1 key(s)");
    web.screenshot(&shots, "4-keys-found");
    web.click("#key-rows button.revoke");
    web.wait_text("#key-rows", "Deactivated");
    web.screenshot(&shots, "5-key-revoked");

    web.click("button[data-view=audit]");
    web.type_into("#audit-op", "key.revoke");
    web.click("#audit-search");
    web.wait_text("#audit-rows", "api:alice");
    web.wait_text("#audit-rows", &key);
    web.click("#audit-verify");
    web.wait_text("#audit-verified", "chain intact");
    web.screenshot(&shots, "6-audit");

    web.click("button[data-view=backups]");
    web.wait_text("#backup-state", "not scheduled");
    web.type_into("#backup-pass", "console-backup-passphrase");
    web.type_into("#backup-pass2", "console-backup-passphrase");
    web.click("#backup-now");
    web.wait_text("#backup-result", "backup downloaded: keyward-");
    web.wait_text("#backup-state", "objects");
    web.screenshot(&shots, "7-backups");

    web.click("button[data-view=approvals]");
    web.wait_text("#approvals-state", "two-person rule is off");
    web.screenshot(&shots, "8-approvals");

    // The account enrols its own authenticator: the password again, the link shown once.
    web.click("button[data-view=account]");
    web.type_into("#totp-password", "alice-password-1");
    web.click("#totp-enrol");
    web.wait_text("#totp-uri", "otpauth://totp/Keyward:alice?secret=");
    web.screenshot(&shots, "9-account");
    drop(web);
    let accounts: Value = serde_json::from_str(
        &std::fs::read_to_string(data.join("admin-accounts.json")).expect("accounts"),
    )
    .expect("accounts JSON");
    assert!(
        accounts["users"][0]["totp_sealed"].is_string(),
        "{accounts}"
    );
    let log = server.log();
    assert!(log.contains("admin API alice: revoked key"));
    assert!(log.contains("admin API alice: exported a backup"));
    assert!(!log.contains("console-backup-passphrase"));
}
