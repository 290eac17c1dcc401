//! Key Protect root of trust against the loopback emulator (real HTTP on 127.0.0.1).
//!
//! Intervals, timeouts and backoffs are shortened through `KeyProtectConfig` only (the same
//! fields an operator sets): sync_interval 100ms, request_timeout 500ms, max_attempts 4,
//! retry_backoff 10ms, retry_backoff_max 50ms. Every wait is bounded (10 s) and no assertion
//! depends on timing.

mod common;
use common::kp_emulator;

use std::sync::Arc;
use std::sync::mpsc::{Receiver, channel};
use std::time::Duration;

use keyward::keyprotect::migrate::migrate_root;
use keyward::keyprotect::open::open_master_key;
use keyward::keyprotect::provider::stored_key_version;
use keyward::keyprotect::sync::{self, SealReason, SyncEvent, SyncSettings};
use keyward::keyprotect::{ApiKey, KeyProtectConfig, KeyProtectRoot, KpClient, KpError};
use keyward::seal::local::LocalRoot;
use keyward::seal::{self, META_MASTER_KEY_PROVIDER, META_WRAPPED_MASTER_KEY, RootKeyProvider};
use keyward::store::master_key;
use keyward::store::redb::RedbStore;
use keyward::store::{Store, StoredObject};
use kp_emulator::{API_KEY, Emulator, INSTANCE_ID, Outage, ROOT_KEY_ID, STANDARD_KEY_ID};

const WAIT: Duration = Duration::from_secs(10);

fn config(emu: &Emulator) -> KeyProtectConfig {
    let text = format!(
        r#"
        instance_id = "{INSTANCE_ID}"
        root_key_id = "{ROOT_KEY_ID}"
        endpoint = "{}"
        iam_endpoint = "{}"
        sync_interval = "100ms"
        request_timeout = "500ms"
        max_attempts = 4
        retry_backoff = "10ms"
        retry_backoff_max = "50ms"
        "#,
        emu.base_url(),
        emu.iam_url()
    );
    toml::from_str(&text).expect("config")
}

fn client_with(config: &KeyProtectConfig) -> KpClient {
    KpClient::new(config, ApiKey::from_text(API_KEY).unwrap()).unwrap()
}

fn client(emu: &Emulator) -> KpClient {
    client_with(&config(emu))
}

fn root(emu: &Emulator, appliance: &str) -> KeyProtectRoot {
    KeyProtectRoot::new(client(emu), appliance).unwrap()
}

fn aad(s: &str) -> Vec<String> {
    vec![s.to_string()]
}

/// Lets the emulator's 30-second rules pass without waiting.
fn after_30s(emu: &Emulator) {
    emu.advance_clock(Duration::from_secs(31));
}

#[test]
fn token_is_exchanged_once_cached_and_headers_follow_the_spec() {
    let emu = Emulator::start();
    let client = client(&emu);
    let wrapped = client.wrap(&[7u8; 32], &aad("keyward:a")).unwrap();
    client
        .unwrap(&wrapped.ciphertext, &aad("keyward:a"))
        .unwrap();
    client.metadata().unwrap();
    let counters = emu.counters();
    assert_eq!(counters.token_requests, 1);
    assert_eq!(counters.kp_requests, 3);
    assert_eq!(counters.unauthorized, 0);
    let mut ids = Vec::new();
    for (method, path, content_type, correlation_id) in &counters.seen {
        if method == "POST" {
            assert!(path.contains("/actions/"), "{path}");
            assert_eq!(
                content_type.as_deref(),
                Some("application/vnd.ibm.kms.key_action+json")
            );
        }
        ids.push(correlation_id.clone().expect("correlation-id sent"));
    }
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 3, "a fresh correlation-id per request");
}

#[test]
fn wrap_unwrap_round_trip() {
    let emu = Emulator::start();
    let client = client(&emu);
    let secret: Vec<u8> = (0..32).collect();
    let wrapped = client.wrap(&secret, &aad("keyward:a")).unwrap();
    assert_eq!(wrapped.key_version, emu.latest_version());
    assert!(
        !wrapped.ciphertext.contains("AAECAwQFBgcICQ"),
        "plaintext not in envelope"
    );
    let unwrapped = client
        .unwrap(&wrapped.ciphertext, &aad("keyward:a"))
        .unwrap();
    assert_eq!(unwrapped.plaintext.as_slice(), secret.as_slice());
    assert_eq!(unwrapped.key_version, wrapped.key_version);
    assert!(unwrapped.rewrapped.is_none());
    assert!(!format!("{unwrapped:?}").contains("0, 1, 2"));
}

#[test]
fn wrong_associated_data_fails_without_retry() {
    let emu = Emulator::start();
    let client = client(&emu);
    let wrapped = client.wrap(&[1u8; 32], &aad("keyward:a")).unwrap();
    let before = emu.counters().kp_requests;
    let err = client
        .unwrap(&wrapped.ciphertext, &aad("keyward:b"))
        .unwrap_err();
    assert!(matches!(err, KpError::InvalidCiphertext { .. }), "{err:?}");
    assert_eq!(emu.counters().kp_requests, before + 1, "never retried");

    // Through the provider: another appliance's blob is refused before Key Protect is asked,
    // and a blob whose recorded binding was edited is refused by Key Protect.
    let a = root(&emu, "appliance-a");
    let b = root(&emu, "appliance-b");
    let blob = a.wrap(&[2u8; 32]).unwrap();
    let err = b.unwrap(&blob).unwrap_err().to_string();
    assert!(err.contains("appliance"), "{err}");
    let edited = String::from_utf8(blob.clone())
        .unwrap()
        .replace("keyward:appliance-a", "keyward:appliance-b");
    let err = b.try_unwrap(edited.as_bytes()).unwrap_err();
    assert!(matches!(err, KpError::InvalidCiphertext { .. }), "{err:?}");
    assert_eq!(a.unwrap(&blob).unwrap().as_slice(), &[2u8; 32]);
}

#[test]
fn rotation_returns_a_fresh_ciphertext_and_rewrap_uses_the_newest_version() {
    let emu = Emulator::start();
    let client = client(&emu);
    let first = client.wrap(&[3u8; 32], &aad("keyward:a")).unwrap();
    emu.rotate().unwrap();
    let newest = emu.latest_version();
    assert_ne!(newest, first.key_version);

    let unwrapped = client.unwrap(&first.ciphertext, &aad("keyward:a")).unwrap();
    assert_eq!(unwrapped.plaintext.as_slice(), &[3u8; 32]);
    assert_eq!(unwrapped.key_version, first.key_version);
    let fresh = unwrapped
        .rewrapped
        .expect("a fresh ciphertext after rotation");
    assert_eq!(fresh.key_version, newest);
    let again = client.unwrap(&fresh.ciphertext, &aad("keyward:a")).unwrap();
    assert!(again.rewrapped.is_none());
    assert_eq!(again.plaintext.as_slice(), &[3u8; 32]);

    let rewrapped = client.rewrap(&first.ciphertext, &aad("keyward:a")).unwrap();
    assert_eq!(rewrapped.key_version, newest);
    let back = client
        .unwrap(&rewrapped.ciphertext, &aad("keyward:a"))
        .unwrap();
    assert_eq!(back.plaintext.as_slice(), &[3u8; 32]);

    // A second rotation within the hour is refused by Key Protect; an hour later it works.
    assert!(
        emu.rotate()
            .unwrap_err()
            .contains("KEY_ROTATION_NOT_PERMITTED")
    );
    emu.advance_clock(Duration::from_secs(3601));
    emu.rotate().unwrap();
    assert_eq!(emu.version_count(), 3);
}

#[test]
fn disabled_key_refuses_and_enabled_key_works_again() {
    let emu = Emulator::start();
    let root = root(&emu, "a");
    let blob = root.try_wrap(&[4u8; 32]).unwrap();
    emu.disable().unwrap();
    let err = root.try_unwrap(&blob).expect_err("disabled");
    assert!(matches!(err, KpError::KeyDisabled { .. }), "{err:?}");
    assert!(err.is_revocation());
    assert!(matches!(
        root.try_wrap(&[4u8; 32]),
        Err(KpError::KeyDisabled { .. })
    ));
    let seal_err = root.unwrap(&blob).unwrap_err().to_string();
    assert!(seal_err.contains("disabled"), "{seal_err}");
    assert_eq!(
        root.client().metadata().unwrap().state,
        keyward::keyprotect::KeyState::Suspended
    );

    // Key Protect refuses enable within 30 s of the disable.
    assert!(emu.enable().unwrap_err().contains("REQ_TOO_EARLY_ERR"));
    after_30s(&emu);
    emu.enable().unwrap();
    assert_eq!(root.try_unwrap(&blob).unwrap().key.as_slice(), &[4u8; 32]);
}

#[test]
fn deleted_key_is_gone_restorable_and_purged_is_not_found() {
    let emu = Emulator::start();
    let root = root(&emu, "a");
    let blob = root.try_wrap(&[5u8; 32]).unwrap();
    emu.delete().unwrap();
    assert!(matches!(
        root.try_unwrap(&blob),
        Err(KpError::KeyDeleted { .. })
    ));
    assert_eq!(
        root.client().metadata().unwrap().state,
        keyward::keyprotect::KeyState::Destroyed
    );
    after_30s(&emu);
    emu.restore().unwrap();
    assert_eq!(root.try_unwrap(&blob).unwrap().key.as_slice(), &[5u8; 32]);

    emu.delete().unwrap();
    emu.advance_clock(Duration::from_secs(4 * 3600 + 1));
    emu.purge().unwrap();
    assert!(matches!(
        root.try_unwrap(&blob),
        Err(KpError::NotFound { .. })
    ));
    assert!(matches!(
        root.client().metadata(),
        Err(KpError::NotFound { .. })
    ));
}

#[test]
fn standard_key_cannot_wrap() {
    let emu = Emulator::start();
    let mut config = config(&emu);
    config.root_key_id = STANDARD_KEY_ID.into();
    let standard = KeyProtectRoot::new(client_with(&config), "a").unwrap();
    assert!(matches!(standard.preflight(), Err(KpError::Config(_))));
    assert!(root(&emu, "a").preflight().is_ok());
    let err = client_with(&config).wrap(&[0u8; 32], &[]).unwrap_err();
    assert!(
        matches!(err, KpError::Rejected { status: 400, ref code, .. } if code == "KEY_ROOT_REQ_ERR"),
        "{err:?}"
    );
}

#[test]
fn throttling_storm_is_retried_and_recovers() {
    let emu = Emulator::start();
    let client = client(&emu);
    client.metadata().unwrap();
    emu.fail_next(3, 429);
    let wrapped = client.wrap(&[6u8; 32], &aad("x")).unwrap();
    assert_eq!(emu.counters().injected_failures, 3);
    emu.fail_next(2, 503);
    client.unwrap(&wrapped.ciphertext, &aad("x")).unwrap();
    assert_eq!(emu.counters().injected_failures, 5);

    // A storm longer than the attempts allowed ends as Unreachable, bounded.
    emu.fail_next(10, 503);
    let err = client.metadata().unwrap_err();
    assert!(
        matches!(err, KpError::Unreachable { attempts: 4, .. }),
        "{err:?}"
    );
    assert_eq!(emu.counters().injected_failures, 9);
}

#[test]
fn outages_end_as_unreachable_after_bounded_attempts_and_recover() {
    let emu = Emulator::start();
    let client = client(&emu);
    client.metadata().unwrap();
    for outage in [Outage::Refuse, Outage::Hang, Outage::Drop] {
        let before = emu.counters().dropped_or_hung;
        emu.set_outage(outage);
        let err = client.metadata().unwrap_err();
        assert!(
            matches!(err, KpError::Unreachable { attempts: 4, .. }),
            "{outage:?}: {err:?}"
        );
        assert!(err.is_unreachable());
        let reached = emu.counters().dropped_or_hung - before;
        match outage {
            Outage::Refuse => assert_eq!(reached, 0),
            _ => assert_eq!(reached, 4, "{outage:?}: one request per attempt"),
        }
        emu.set_outage(Outage::None);
        client.metadata().unwrap();
    }
}

#[test]
fn expired_token_is_renewed_transparently() {
    let emu = Emulator::start();
    let client = client(&emu);
    client.metadata().unwrap();
    // The emulator's clock jumps past the token's life; the client still thinks it is valid,
    // gets a 401, exchanges the API key again and repeats the call once.
    emu.advance_clock(Duration::from_secs(7200));
    client.metadata().unwrap();
    let counters = emu.counters();
    assert_eq!(counters.unauthorized, 1);
    assert_eq!(counters.token_requests, 2);
}

#[test]
fn token_is_renewed_before_it_expires() {
    let emu = Emulator::start();
    emu.set_token_lifetime(1);
    let client = client(&emu);
    client.metadata().unwrap();
    // Past 80 % of expires_in (0.8 s) the client exchanges the key again before calling.
    std::thread::sleep(Duration::from_millis(900));
    client.metadata().unwrap();
    let counters = emu.counters();
    assert_eq!(counters.token_requests, 2);
    assert_eq!(counters.unauthorized, 0);
}

#[test]
fn unknown_api_key_is_unauthorized_and_not_retried() {
    let emu = Emulator::start();
    let client = KpClient::new(&config(&emu), ApiKey::from_text("wrong-key").unwrap()).unwrap();
    let err = client.metadata().unwrap_err();
    assert!(
        matches!(
            err,
            KpError::Unauthorized {
                service: "IAM",
                status: 400,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(!err.to_string().contains("wrong-key"));
    assert_eq!(emu.counters().token_requests, 1);
}

#[test]
fn api_key_file_from_configuration() {
    use std::os::unix::fs::PermissionsExt;
    let emu = Emulator::start();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kp.apikey");
    std::fs::write(&path, format!("{API_KEY}\n")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    let mut config = config(&emu);
    config.api_key_file = Some(path.clone());
    let root = KeyProtectRoot::from_config(&config, "a").unwrap();
    root.client().metadata().unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let err = KeyProtectRoot::from_config(&config, "a").unwrap_err();
    assert!(matches!(err, KpError::ApiKey(_)), "{err:?}");
}

fn temp_store(dir: &tempfile::TempDir) -> RedbStore {
    RedbStore::open(&dir.path().join("keyward.redb")).unwrap()
}

fn stored_blob(store: &dyn Store) -> Vec<u8> {
    store
        .read()
        .unwrap()
        .get_meta(META_WRAPPED_MASTER_KEY)
        .unwrap()
        .unwrap()
}

#[test]
fn master_key_init_reopen_and_rotation_update() {
    let emu = Emulator::start();
    let dir = tempfile::tempdir().unwrap();
    let sealed = {
        let store = temp_store(&dir);
        let master = open_master_key(&store, &root(&emu, "a")).unwrap();
        let provider = store
            .read()
            .unwrap()
            .get_meta(META_MASTER_KEY_PROVIDER)
            .unwrap();
        assert_eq!(provider.as_deref(), Some(&b"keyprotect"[..]));
        master.seal(b"obj-1", b"key material").unwrap()
    };
    // Restart: a new store handle and a new client unwrap the same master key.
    let store = temp_store(&dir);
    let master = open_master_key(&store, &root(&emu, "a")).unwrap();
    assert_eq!(
        master.unseal(b"obj-1", &sealed).unwrap().as_slice(),
        b"key material"
    );
    let before = stored_blob(&store);

    // After a rotation the start-up unwrap stores the fresh wrap before using the key.
    emu.rotate().unwrap();
    let master = open_master_key(&store, &root(&emu, "a")).unwrap();
    assert_eq!(
        master.unseal(b"obj-1", &sealed).unwrap().as_slice(),
        b"key material"
    );
    let after = stored_blob(&store);
    assert_ne!(before, after);
    assert_eq!(stored_key_version(&after).unwrap(), emu.latest_version());

    // The contract path works too, and leaves the fresh wrap for the caller.
    emu.advance_clock(Duration::from_secs(3601));
    emu.rotate().unwrap();
    let kp = root(&emu, "a");
    let master = master_key::open_master_key(&store, &kp).unwrap();
    assert_eq!(
        master.unseal(b"obj-1", &sealed).unwrap().as_slice(),
        b"key material"
    );
    let fresh = kp.take_rewrapped().expect("fresh wrap after rotation");
    assert_eq!(stored_key_version(&fresh).unwrap(), emu.latest_version());

    // Another appliance id does not open this store's master key.
    assert!(open_master_key(&store, &root(&emu, "b")).is_err());
}

fn object(uid: &str, sealed: Vec<u8>) -> StoredObject {
    StoredObject {
        uid: uid.into(),
        owner: "vcenter".into(),
        version: 1,
        metadata: b"meta".to_vec(),
        sealed_material: Some(sealed),
        index_terms: Vec::new(),
    }
}

#[test]
fn root_migration_local_to_keyprotect_and_back() {
    let emu = Emulator::start();
    let dir = tempfile::tempdir().unwrap();
    let store = temp_store(&dir);
    let local = LocalRoot::open_or_create(&dir.path().join("root.key")).unwrap();
    let master = master_key::open_master_key(&store, &local).unwrap();
    let uids = ["a", "b", "c"];
    {
        let mut txn = store.write().unwrap();
        for uid in uids {
            let sealed = master
                .seal(uid.as_bytes(), format!("secret-{uid}").as_bytes())
                .unwrap();
            txn.put(&object(uid, sealed)).unwrap();
        }
        txn.commit().unwrap();
    }
    let snapshot = |store: &dyn Store| -> Vec<Vec<u8>> {
        let view = store.read().unwrap();
        uids.iter()
            .map(|uid| view.get(uid).unwrap().unwrap().sealed_material.unwrap())
            .collect()
    };
    let sealed_before = snapshot(&store);
    let check_all = |master: &seal::MasterKey, store: &dyn Store| {
        let view = store.read().unwrap();
        for uid in uids {
            let object = view.get(uid).unwrap().unwrap();
            let plain = master
                .unseal(uid.as_bytes(), object.sealed_material.as_ref().unwrap())
                .unwrap();
            assert_eq!(plain.as_slice(), format!("secret-{uid}").as_bytes());
        }
    };

    let kp = root(&emu, "a");
    // Wrong "from" provider is refused without writing.
    assert!(migrate_root(&store, &kp, &local).is_err());
    migrate_root(&store, &local, &kp).unwrap();
    drop(store);
    let store = temp_store(&dir);
    assert!(
        master_key::open_master_key(&store, &local).is_err(),
        "local no longer opens it"
    );
    let master = open_master_key(&store, &kp).unwrap();
    check_all(&master, &store);
    assert_eq!(snapshot(&store), sealed_before, "sealed material untouched");

    // Air-gapped restore: back to a (new) local root.
    let local2 = LocalRoot::open_or_create(&dir.path().join("root2.key")).unwrap();
    migrate_root(&store, &kp, &local2).unwrap();
    drop(store);
    let store = temp_store(&dir);
    let master = master_key::open_master_key(&store, &local2).unwrap();
    check_all(&master, &store);
    assert_eq!(snapshot(&store), sealed_before);
}

/// Waits for an event matching `want`, returning every event seen on the way.
fn wait_for(rx: &Receiver<SyncEvent>, want: impl Fn(&SyncEvent) -> bool) -> Vec<SyncEvent> {
    let mut seen = Vec::new();
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        match rx.recv_timeout(left) {
            Ok(event) => {
                let done = want(&event);
                seen.push(event);
                if done {
                    return seen;
                }
            }
            Err(_) => panic!("no matching sync event within {WAIT:?}; saw {seen:?}"),
        }
    }
}

fn start_sync(
    config: &KeyProtectConfig,
    dir: &tempfile::TempDir,
) -> (
    Arc<dyn Store>,
    seal::MasterKey,
    sync::SyncHandle,
    Receiver<SyncEvent>,
) {
    let store: Arc<dyn Store> = Arc::new(temp_store(dir));
    let root = Arc::new(KeyProtectRoot::new(client_with(config), "a").unwrap());
    let master = open_master_key(&*store, &root).unwrap();
    let (tx, rx) = channel();
    let handle = sync::spawn(
        Arc::clone(&root),
        Arc::clone(&store),
        SyncSettings::from_config(config),
        None,
        move |event| {
            let _ = tx.send(event);
        },
    )
    .unwrap();
    (store, master, handle, rx)
}

#[test]
fn sync_thread_follows_rotation_revocation_and_outages() {
    let emu = Emulator::start();
    let dir = tempfile::tempdir().unwrap();
    let config = config(&emu);
    let (store, master, handle, rx) = start_sync(&config, &dir);
    let sealed = master.seal(b"obj", b"material").unwrap();

    emu.rotate().unwrap();
    let newest = emu.latest_version();
    let seen = wait_for(&rx, |e| matches!(e, SyncEvent::Rewrapped { .. }));
    match seen.last() {
        Some(SyncEvent::Rewrapped { key_version }) => assert_eq!(key_version, &newest),
        other => panic!("{other:?}"),
    }
    assert_eq!(stored_key_version(&stored_blob(&*store)).unwrap(), newest);

    emu.disable().unwrap();
    let seen = wait_for(&rx, |e| matches!(e, SyncEvent::Sealed(_)));
    assert!(matches!(
        seen.last(),
        Some(SyncEvent::Sealed(SealReason::Disabled))
    ));
    assert!(handle.status().sealed.is_some());

    after_30s(&emu);
    emu.enable().unwrap();
    let seen = wait_for(&rx, |e| matches!(e, SyncEvent::Unsealed(_)));
    match seen.last() {
        Some(SyncEvent::Unsealed(key)) => {
            assert_eq!(key.unseal(b"obj", &sealed).unwrap().as_slice(), b"material")
        }
        other => panic!("{other:?}"),
    }

    // Several intervals of outage: warnings, never a seal (max_unreachable is off).
    emu.set_outage(Outage::Refuse);
    let mut warnings = 0;
    while warnings < 3 {
        let seen = wait_for(&rx, |e| matches!(e, SyncEvent::Unreachable { .. }));
        assert!(
            !seen.iter().any(|e| matches!(e, SyncEvent::Sealed(_))),
            "{seen:?}"
        );
        warnings += 1;
    }
    assert!(handle.status().unreachable_for.is_some());
    assert!(handle.status().sealed.is_none());
    emu.set_outage(Outage::None);
    let seen = wait_for(&rx, |e| matches!(e, SyncEvent::Reachable { .. }));
    assert!(
        !seen.iter().any(|e| matches!(e, SyncEvent::Sealed(_))),
        "{seen:?}"
    );

    emu.delete().unwrap();
    let seen = wait_for(&rx, |e| matches!(e, SyncEvent::Sealed(_)));
    assert!(matches!(
        seen.last(),
        Some(SyncEvent::Sealed(SealReason::Deleted))
    ));
    handle.shutdown();
}

#[test]
fn sync_thread_seals_after_max_unreachable_and_unseals_when_back() {
    let emu = Emulator::start();
    let dir = tempfile::tempdir().unwrap();
    let mut config = config(&emu);
    config.max_unreachable = Some(Duration::from_millis(300));
    let (_store, master, handle, rx) = start_sync(&config, &dir);
    let sealed = master.seal(b"obj", b"material").unwrap();

    emu.set_outage(Outage::Refuse);
    let seen = wait_for(&rx, |e| matches!(e, SyncEvent::Sealed(_)));
    assert!(matches!(
        seen.last(),
        Some(SyncEvent::Sealed(SealReason::UnreachableTooLong(_)))
    ));
    emu.set_outage(Outage::None);
    let seen = wait_for(&rx, |e| matches!(e, SyncEvent::Unsealed(_)));
    match seen.last() {
        Some(SyncEvent::Unsealed(key)) => {
            assert_eq!(key.unseal(b"obj", &sealed).unwrap().as_slice(), b"material")
        }
        other => panic!("{other:?}"),
    }
    assert!(handle.status().sealed.is_none());
    drop(handle);
}

#[test]
fn debug_output_redacts_secrets() {
    let emu = Emulator::start();
    let key = ApiKey::from_text(API_KEY).unwrap();
    assert!(!format!("{key:?}").contains(API_KEY));
    let root = root(&emu, "a");
    root.client().metadata().unwrap();
    let text = format!("{root:?}");
    assert!(!text.contains(API_KEY));
    assert!(!text.contains("emu-"), "no token in Debug: {text}");
}

#[test]
fn https_endpoint_with_a_custom_ca_bundle() {
    let (emu, ca_pem) = Emulator::start_tls();
    let dir = tempfile::tempdir().unwrap();
    let ca_path = dir.path().join("ca.pem");
    std::fs::write(&ca_path, &ca_pem).unwrap();
    let mut config = config(&emu);
    assert!(config.endpoint.as_deref().unwrap().starts_with("https://"));
    config.ca_file = Some(ca_path);
    let client = client_with(&config);
    let wrapped = client.wrap(&[9u8; 32], &aad("tls")).unwrap();
    let back = client.unwrap(&wrapped.ciphertext, &aad("tls")).unwrap();
    assert_eq!(back.plaintext.as_slice(), &[9u8; 32]);

    // A bundle that does not hold the emulator's certificate: no connection is trusted.
    let (_other, other_pem) = Emulator::start_tls();
    let other_path = dir.path().join("other.pem");
    std::fs::write(&other_path, &other_pem).unwrap();
    config.ca_file = Some(other_path);
    let before = emu.counters().token_requests;
    let err = client_with(&config).metadata().unwrap_err();
    assert!(
        matches!(err, KpError::Tls { service: "IAM", .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("certificate"), "{err}");
    assert_eq!(
        emu.counters().token_requests,
        before,
        "no request got through"
    );

    // Plain http to a non-loopback host is refused by configuration.
    config.endpoint = Some("http://192.0.2.1:8080".into());
    assert!(matches!(
        KpClient::new(&config, ApiKey::from_text(API_KEY).unwrap()),
        Err(KpError::Config(_))
    ));
}

/// The emulator also serves what other clients send: the `/oidc/token` path, the legacy
/// `?action=` form without a content type, and wrap without plaintext (Key Protect then
/// generates the key).
#[test]
fn emulator_accepts_the_legacy_forms() {
    let emu = Emulator::start();
    let agent = ureq::Agent::config_builder()
        .proxy(None)
        .http_status_as_error(false)
        .build()
        .new_agent();
    let form =
        format!("grant_type=urn%3Aibm%3Aparams%3Aoauth%3Agrant-type%3Aapikey&apikey={API_KEY}");
    let mut answer = agent
        .post(emu.oidc_url())
        .header("content-type", "application/x-www-form-urlencoded")
        .send(form.as_bytes())
        .unwrap();
    assert_eq!(answer.status().as_u16(), 200);
    let token: serde_json::Value = answer.body_mut().read_json().unwrap();
    assert_eq!(token["token_type"], "Bearer");
    assert!(token["expires_in"].as_u64().unwrap() > 0);
    let bearer = format!("Bearer {}", token["access_token"].as_str().unwrap());

    let url = format!("{}/api/v2/keys/{ROOT_KEY_ID}?action=wrap", emu.base_url());
    let mut answer = agent
        .post(&url)
        .header("authorization", &bearer)
        .header("bluemix-instance", INSTANCE_ID)
        .send_empty()
        .unwrap();
    assert_eq!(answer.status().as_u16(), 200);
    let wrapped: serde_json::Value = answer.body_mut().read_json().unwrap();
    let generated = wrapped["plaintext"].as_str().unwrap().to_string();
    assert_eq!(wrapped["keyVersion"]["id"], emu.latest_version().as_str());

    let url = format!(
        "{}/api/v2/keys/{ROOT_KEY_ID}/actions/unwrap",
        emu.base_url()
    );
    let body = serde_json::json!({"ciphertext": wrapped["ciphertext"]}).to_string();
    let mut answer = agent
        .post(&url)
        .header("authorization", &bearer)
        .header("bluemix-instance", INSTANCE_ID)
        .send(body.as_bytes())
        .unwrap();
    assert_eq!(answer.status().as_u16(), 200);
    let unwrapped: serde_json::Value = answer.body_mut().read_json().unwrap();
    assert_eq!(unwrapped["plaintext"].as_str().unwrap(), generated);

    // Wrong instance → 401 with only errorMsg.
    let mut answer = agent
        .post(&url)
        .header("authorization", &bearer)
        .header("bluemix-instance", "another-instance")
        .send(body.as_bytes())
        .unwrap();
    assert_eq!(answer.status().as_u16(), 401);
    let error: serde_json::Value = answer.body_mut().read_json().unwrap();
    assert!(
        error["resources"][0]["errorMsg"]
            .as_str()
            .unwrap()
            .starts_with("Unauthorized")
    );
}

#[test]
fn expired_root_key_still_unwraps_but_no_longer_wraps() {
    let emu = Emulator::start();
    let root = root(&emu, "a");
    let blob = root.try_wrap(&[8u8; 32]).unwrap();
    emu.set_expiration(Duration::from_secs(60));
    emu.advance_clock(Duration::from_secs(61));
    assert_eq!(
        root.client().metadata().unwrap().state,
        keyward::keyprotect::KeyState::Deactivated
    );
    assert_eq!(root.try_unwrap(&blob).unwrap().key.as_slice(), &[8u8; 32]);
    assert!(root.rewrap(&blob).is_ok());
    assert!(matches!(
        root.try_wrap(&[8u8; 32]),
        Err(KpError::KeyDisabled { .. })
    ));
}
