//! When each client was last seen survives a restart: the running server keeps it in memory,
//! stores it periodically and at shutdown, and `client list` / `client show` read it back
//! from the database when the server is stopped.

mod common;

use std::path::Path;

use common::*;

/// `keyward ARGS --json` on `data_dir`, which must succeed; its output parsed.
fn client_json(data_dir: &Path, args: &[&str]) -> serde_json::Value {
    let args = [args, &["--json"]].concat();
    serde_json::from_str(&keyward_ok(data_dir, &args)).expect("JSON")
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

#[test]
fn last_seen_is_stored_at_shutdown_and_shown_after_restart() {
    let mut appliance = Appliance::new(&["seen", "unseen"]);
    let data = appliance.data_dir.clone();
    assert!(client_json(&data, &["client", "show", "seen"])["last_seen"].is_null());

    let started = now();
    let mut server = appliance.start();
    {
        let mut tls = server.connect(appliance.creds("seen"));
        discover_versions(&mut tls);
    }
    let live = client_json(&data, &["client", "show", "seen"])["last_seen"]
        .as_i64()
        .expect("last seen while running");
    assert!(live >= started, "{live} < {started}");
    let status = server.terminate();
    assert!(status.success(), "{status:?}");

    // Offline: read from the database.
    let stored = client_json(&data, &["client", "show", "seen"]);
    assert_eq!(stored["last_seen"].as_i64(), Some(live), "{stored}");
    let list = client_json(&data, &["client", "list"]);
    let clients = list["clients"].as_array().unwrap();
    let by_name = |name: &str| {
        clients
            .iter()
            .find(|c| c["name"] == name)
            .unwrap_or_else(|| panic!("{name} not listed: {list}"))
    };
    assert_eq!(by_name("seen")["last_seen"].as_i64(), Some(live));
    assert!(by_name("unseen")["last_seen"].is_null(), "{list}");

    // After a restart without a new connection, the stored time is still shown.
    let server = appliance.start();
    let shown = client_json(&data, &["client", "show", "seen"]);
    assert_eq!(shown["last_seen"].as_i64(), Some(live), "{shown}");
    drop(server);
}
