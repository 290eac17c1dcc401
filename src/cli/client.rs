//! `keyward client …`: the client registry from the command line — the four ways vCenter is
//! made trusted, listing, inspection and removal. Works on the database directly, so the
//! server must be stopped (it holds the database open while it runs).

use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use serde_json::json;

use keyward::admin::registry::{self, ClientEntry, ClientKind, Registry};
use keyward::engine::admin::{ObjectSummary, destroy_owned, owned_objects};
use keyward::pki;
use keyward::server::identity::client_identity;
use keyward::server::setup::DATABASE_FILE;
use keyward::store::Store;
use keyward::store::redb::RedbStore;

use super::table::{print_table, utc};
use crate::{SetupArgs, load_config};

#[derive(Subcommand)]
pub enum ClientCommand {
    /// Trust a vCenter by its certificate or by its root CA ("Make KMS trust vCenter" >
    /// "vCenter Certificate" or "vCenter Root CA Certificate"). Give exactly one of --cert, --ca.
    Add {
        /// A name for this vCenter, used by the other `client` commands.
        #[arg(long)]
        name: String,
        /// The vCenter certificate downloaded from the vSphere Client (PEM). Only this exact
        /// certificate is accepted.
        #[arg(
            long,
            value_name = "FILE",
            conflicts_with = "ca",
            required_unless_present = "ca"
        )]
        cert: Option<PathBuf>,
        /// The vCenter root CA certificate (PEM). Every certificate it signed is accepted,
        /// unless --subject narrows it down.
        #[arg(long, value_name = "FILE")]
        ca: Option<PathBuf>,
        /// With --ca: accept only certificates with this subject — the whole subject as
        /// `CN=…, O=…` or just the Common Name.
        #[arg(long, requires = "ca")]
        subject: Option<String>,
        #[command(flatten)]
        common: CommonArgs,
    },
    /// Issue a certificate and private key for vCenter to upload ("Make KMS trust vCenter" >
    /// "KMS certificate and private key"): writes client.crt, client.key and ca.crt to DIR.
    Issue {
        /// A name for this vCenter; also the certificate's Common Name.
        #[arg(long)]
        name: String,
        /// Directory to write client.crt, client.key and ca.crt into.
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        #[command(flatten)]
        common: CommonArgs,
    },
    /// Sign vCenter's certificate signing request ("Make KMS trust vCenter" > "New Certificate
    /// Signing Request"); upload the written certificate back to vCenter.
    SignCsr {
        /// A name for this vCenter.
        #[arg(long)]
        name: String,
        /// The CSR vCenter generated (PEM).
        #[arg(long, value_name = "FILE")]
        csr: PathBuf,
        /// Where to write the signed certificate (PEM).
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
        #[command(flatten)]
        common: CommonArgs,
    },
    /// List the clients allowed to connect.
    List {
        #[command(flatten)]
        common: CommonArgs,
    },
    /// Show one client and its keys, with the VM or host each key protects.
    Show {
        name: String,
        #[command(flatten)]
        common: CommonArgs,
    },
    /// Stop trusting a client. Refused while it owns keys, unless --destroy-keys.
    Remove {
        name: String,
        /// Also destroy every key the client owns (the key material is erased; VMs and disks
        /// encrypted with them can no longer be unlocked).
        #[arg(long)]
        destroy_keys: bool,
        /// Do not ask for confirmation (for scripts).
        #[arg(long)]
        yes: bool,
        #[command(flatten)]
        common: CommonArgs,
    },
}

#[derive(Args)]
pub struct CommonArgs {
    #[command(flatten)]
    setup: SetupArgs,
    /// Print JSON instead of a table (for scripts).
    #[arg(long)]
    json: bool,
}

pub fn run(command: &ClientCommand) -> Result<(), String> {
    match command {
        ClientCommand::Add {
            name,
            cert,
            ca,
            subject,
            common,
        } => match (cert, ca) {
            (Some(cert), None) => add_pinned(common, name, cert),
            (None, Some(ca)) => add_ca(common, name, ca, subject.clone()),
            _ => Err("give exactly one of --cert and --ca".into()),
        },
        ClientCommand::Issue { name, out, common } => issue(common, name, out),
        ClientCommand::SignCsr {
            name,
            csr,
            out,
            common,
        } => sign_csr(common, name, csr, out),
        ClientCommand::List { common } => list(common),
        ClientCommand::Show { name, common } => show(common, name),
        ClientCommand::Remove {
            name,
            destroy_keys,
            yes,
            common,
        } => remove(common, name, *destroy_keys, *yes),
    }
}

struct Opened {
    store: RedbStore,
    data_dir: PathBuf,
}

fn open(common: &CommonArgs) -> Result<Opened, String> {
    let config = load_config(&common.setup)?;
    let path = config.data_dir.join(DATABASE_FILE);
    if !path.is_file() {
        return Err(format!(
            "no database in {}; run `keyward init --data-dir {}` first",
            config.data_dir.display(),
            config.data_dir.display()
        ));
    }
    let store = RedbStore::open(&path).map_err(|e| {
        format!("{e} (a running server holds the database: stop it, then run this again)")
    })?;
    Ok(Opened {
        store,
        data_dir: config.data_dir,
    })
}

/// Adds `entry` in one transaction; `before_commit` runs once the entry is known to fit (to
/// write files only for a client that will be registered).
fn register(
    store: &dyn Store,
    entry: ClientEntry,
    before_commit: impl FnOnce() -> Result<(), String>,
) -> Result<ClientEntry, String> {
    let mut txn = store.write().map_err(|e| e.to_string())?;
    let mut registry = Registry::load(&*txn).map_err(|e| e.to_string())?;
    registry.add(entry.clone()).map_err(|e| e.to_string())?;
    registry.save(&mut *txn).map_err(|e| e.to_string())?;
    before_commit()?;
    txn.commit().map_err(|e| e.to_string())?;
    Ok(entry)
}

fn new_entry(
    name: &str,
    kind: ClientKind,
    owner: String,
    fingerprints: &[[u8; 32]],
) -> ClientEntry {
    ClientEntry {
        name: name.to_string(),
        kind,
        owner,
        fingerprints: fingerprints.iter().map(hex::encode).collect(),
        created: registry::now(),
        last_seen: None,
        kmip_username: None,
        kmip_password_hash: None,
    }
}

fn report_added(common: &CommonArgs, entry: &ClientEntry) {
    if common.json {
        println!("{}", entry_json(entry, None));
    } else {
        println!(
            "client {:?} added ({}); its keys are stored under owner {}",
            entry.name,
            entry.kind.label(),
            entry.owner
        );
        for fingerprint in &entry.fingerprints {
            println!(
                "certificate SHA-256 fingerprint: {}",
                colon_hex(fingerprint)
            );
        }
        println!("it can connect at once; no restart needed");
    }
}

fn read_single_cert(path: &Path) -> Result<Vec<u8>, String> {
    let cert = CertificateDer::pem_file_iter(path)
        .map_err(|e| format!("{}: cannot read: {e}", path.display()))?
        .next()
        .ok_or_else(|| format!("{}: contains no PEM certificate", path.display()))?
        .map_err(|e| format!("{}: not a PEM certificate: {e}", path.display()))?;
    x509_parser::parse_x509_certificate(&cert)
        .map_err(|e| format!("{}: not an X.509 certificate: {e}", path.display()))?;
    Ok(cert.to_vec())
}

fn add_pinned(common: &CommonArgs, name: &str, cert: &Path) -> Result<(), String> {
    let der = read_single_cert(cert)?;
    let identity = client_identity(&der);
    let opened = open(common)?;
    let entry = new_entry(
        name,
        ClientKind::PinnedCertificate,
        identity.owner,
        &[identity.fingerprint],
    );
    let entry = register(&opened.store, entry, || Ok(()))?;
    report_added(common, &entry);
    Ok(())
}

fn add_ca(
    common: &CommonArgs,
    name: &str,
    ca: &Path,
    subject: Option<String>,
) -> Result<(), String> {
    read_single_cert(ca)?;
    let ca_pem = std::fs::read_to_string(ca).map_err(|e| format!("{}: {e}", ca.display()))?;
    // With a fixed subject the owner is the one the configuration-trusted CA gave the same
    // certificate before (`cn:<CN>`), so earlier keys stay with it.
    let owner = match subject.as_deref().map(subject_cn) {
        Some(cn) if !cn.is_empty() => format!("cn:{cn}"),
        _ => format!("client:{name}"),
    };
    let opened = open(common)?;
    let entry = new_entry(name, ClientKind::TrustedCa { ca_pem, subject }, owner, &[]);
    let entry = register(&opened.store, entry, || Ok(()))?;
    report_added(common, &entry);
    Ok(())
}

/// The Common Name in a subject given as `CN=x, O=y`, or the whole text when it is a bare CN.
fn subject_cn(subject: &str) -> String {
    match subject
        .split(',')
        .map(str::trim)
        .find_map(|part| part.strip_prefix("CN="))
    {
        Some(cn) => cn.to_string(),
        None if !subject.contains('=') => subject.trim().to_string(),
        None => String::new(),
    }
}

fn issue(common: &CommonArgs, name: &str, out: &Path) -> Result<(), String> {
    registry::check_name(name).map_err(|e| e.to_string())?;
    let opened = open(common)?;
    if !opened.data_dir.join(pki::CA_CERT_FILE).exists() {
        return Err(format!(
            "no appliance CA in {}; run `keyward init` first",
            opened.data_dir.display()
        ));
    }
    // The fingerprint is known only once the certificate exists: check the name and owner
    // first, so a refused name writes no files.
    let owner = format!("cn:{name}");
    let mut trial = Registry::load(&*opened.store.read().map_err(|e| e.to_string())?)
        .map_err(|e| e.to_string())?;
    trial
        .add(new_entry(name, ClientKind::Issued, owner.clone(), &[]))
        .map_err(|e| e.to_string())?;
    let issued = pki::issue_client(&opened.data_dir, name, out).map_err(|e| e.to_string())?;
    let entry = new_entry(name, ClientKind::Issued, owner, &[issued.fingerprint]);
    let entry = register(&opened.store, entry, || Ok(()))?;
    if !common.json {
        println!(
            "wrote {}, {} and {}",
            issued.cert.display(),
            issued.key.display(),
            issued.ca_cert.display()
        );
        println!(
            "client certificate SHA-256 fingerprint: {}",
            pki::fingerprint_hex(&issued.fingerprint)
        );
    }
    report_added(common, &entry);
    Ok(())
}

fn sign_csr(common: &CommonArgs, name: &str, csr: &Path, out: &Path) -> Result<(), String> {
    let opened = open(common)?;
    let signed = pki::sign_csr(&opened.data_dir, csr).map_err(|e| e.to_string())?;
    let identity = client_identity(&signed.der);
    let entry = new_entry(
        name,
        ClientKind::SignedCsr,
        identity.owner,
        &[signed.fingerprint],
    );
    let entry = register(&opened.store, entry, || {
        std::fs::write(out, signed.pem.as_bytes()).map_err(|e| format!("{}: {e}", out.display()))
    })?;
    if !common.json {
        println!(
            "wrote {}; upload it to vCenter as the KMS-signed certificate",
            out.display()
        );
    }
    report_added(common, &entry);
    Ok(())
}

fn colon_hex(hex_text: &str) -> String {
    match hex::decode(hex_text)
        .ok()
        .and_then(|b| <[u8; 32]>::try_from(b).ok())
    {
        Some(fingerprint) => pki::fingerprint_hex(&fingerprint),
        None => hex_text.to_string(),
    }
}

fn entry_json(entry: &ClientEntry, keys: Option<&[ObjectSummary]>) -> serde_json::Value {
    let (ca_subject, has_ca) = match &entry.kind {
        ClientKind::TrustedCa { subject, .. } => (subject.clone(), true),
        _ => (None, false),
    };
    let mut value = json!({
        "name": entry.name,
        "kind": entry.kind.label(),
        "owner": entry.owner,
        "fingerprints_sha256": entry.fingerprints,
        "created": entry.created,
        "last_seen": entry.last_seen,
        "kmip_username": entry.kmip_username,
    });
    if has_ca {
        value["subject"] = json!(ca_subject);
    }
    if let Some(keys) = keys {
        value["key_count"] = json!(keys.len());
        value["keys"] = json!(keys);
    }
    value
}

fn keys_of(store: &dyn Store, owner: &str) -> Result<Vec<ObjectSummary>, String> {
    let view = store.read().map_err(|e| e.to_string())?;
    owned_objects(&*view, owner).map_err(|e| e.to_string())
}

fn load_registry(store: &dyn Store) -> Result<Registry, String> {
    Registry::load(&*store.read().map_err(|e| e.to_string())?).map_err(|e| e.to_string())
}

fn list(common: &CommonArgs) -> Result<(), String> {
    let opened = open(common)?;
    let registry = load_registry(&opened.store)?;
    let mut rows = Vec::new();
    let mut values = Vec::new();
    for entry in registry.clients() {
        let keys = keys_of(&opened.store, &entry.owner)?;
        let live = keys
            .iter()
            .filter(|k| !k.state.starts_with("Destroyed"))
            .count();
        rows.push(vec![
            entry.name.clone(),
            entry.kind.label().to_string(),
            entry.owner.clone(),
            live.to_string(),
            utc(entry.created),
            entry.last_seen.map(utc).unwrap_or_else(|| "never".into()),
        ]);
        let mut value = entry_json(entry, None);
        value["key_count"] = json!(live);
        values.push(value);
    }
    if common.json {
        println!("{}", json!({ "clients": values }));
    } else if rows.is_empty() {
        println!("no clients registered; add one with `keyward client add|issue|sign-csr`");
    } else {
        print_table(
            &["NAME", "KIND", "OWNER", "KEYS", "CREATED", "LAST SEEN"],
            &rows,
        );
    }
    Ok(())
}

fn find_entry(registry: &Registry, name: &str) -> Result<ClientEntry, String> {
    registry
        .get(name)
        .cloned()
        .ok_or_else(|| format!("no client named {name:?} (see `keyward client list`)"))
}

fn show(common: &CommonArgs, name: &str) -> Result<(), String> {
    let opened = open(common)?;
    let entry = find_entry(&load_registry(&opened.store)?, name)?;
    let keys = keys_of(&opened.store, &entry.owner)?;
    if common.json {
        println!("{}", entry_json(&entry, Some(&keys)));
        return Ok(());
    }
    println!("name:     {}", entry.name);
    println!("kind:     {}", entry.kind.label());
    if let ClientKind::TrustedCa {
        subject: Some(subject),
        ..
    } = &entry.kind
    {
        println!("subject:  {subject}");
    }
    println!("owner:    {}", entry.owner);
    for fingerprint in &entry.fingerprints {
        println!("cert:     {}", colon_hex(fingerprint));
    }
    println!("created:  {}", utc(entry.created));
    println!(
        "seen:     {}",
        entry.last_seen.map(utc).unwrap_or_else(|| "never".into())
    );
    println!("keys:     {}", keys.len());
    if !keys.is_empty() {
        println!();
        let dash = || "-".to_string();
        let rows: Vec<Vec<String>> = keys
            .iter()
            .map(|k| {
                vec![
                    k.uid.clone(),
                    k.object_type.clone(),
                    k.state.clone(),
                    k.x_component.clone().unwrap_or_else(dash),
                    k.x_name.clone().unwrap_or_else(dash),
                    k.x_identifier.clone().unwrap_or_else(dash),
                ]
            })
            .collect();
        print_table(
            &[
                "UID",
                "TYPE",
                "STATE",
                "X-COMPONENT",
                "X-NAME",
                "X-IDENTIFIER",
            ],
            &rows,
        );
    }
    Ok(())
}

/// On a terminal, asks the admin to type the client's name; elsewhere requires --yes.
fn confirm(name: &str, destroy_keys: bool) -> Result<(), String> {
    if !std::io::stdin().is_terminal() {
        return Err("refusing to remove a client without confirmation; pass --yes".into());
    }
    let what = if destroy_keys {
        "remove the client AND DESTROY ITS KEYS"
    } else {
        "remove the client"
    };
    print!("This will {what} {name:?}. Type the client name to confirm: ");
    let _ = std::io::stdout().flush();
    let mut answer = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut answer)
        .map_err(|e| format!("reading the confirmation: {e}"))?;
    if answer.trim() != name {
        return Err("not confirmed; nothing changed".into());
    }
    Ok(())
}

fn remove(common: &CommonArgs, name: &str, destroy_keys: bool, yes: bool) -> Result<(), String> {
    let opened = open(common)?;
    let entry = find_entry(&load_registry(&opened.store)?, name)?;
    let live = keys_of(&opened.store, &entry.owner)?
        .iter()
        .filter(|k| !k.state.starts_with("Destroyed"))
        .count();
    if live > 0 && !destroy_keys {
        return Err(format!(
            "client {name:?} owns {live} key(s) that are not destroyed; nothing changed. \
             Pass --destroy-keys to destroy them with the client (see `keyward client show {name}`)"
        ));
    }
    if !yes {
        confirm(name, destroy_keys && live > 0)?;
    }
    let mut txn = opened.store.write().map_err(|e| e.to_string())?;
    let mut registry = Registry::load(&*txn).map_err(|e| e.to_string())?;
    let removed = registry.remove(name).map_err(|e| e.to_string())?;
    let destroyed = if destroy_keys {
        destroy_owned(&mut *txn, &removed.owner, registry::now()).map_err(|e| e.to_string())?
    } else {
        0
    };
    registry.save(&mut *txn).map_err(|e| e.to_string())?;
    txn.commit().map_err(|e| e.to_string())?;
    log::info!(
        "admin {}: removed client {name:?} (owner {}), destroyed {destroyed} key(s)",
        unix_user(),
        removed.owner
    );
    if common.json {
        println!(
            "{}",
            json!({ "removed": removed.name, "owner": removed.owner, "destroyed_keys": destroyed })
        );
    } else {
        println!("client {name:?} removed; {destroyed} key(s) destroyed");
    }
    Ok(())
}

/// The Unix user running the command, for the record of admin actions.
fn unix_user() -> String {
    std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .unwrap_or_else(|_| "unknown".into())
}
