//! `keyward client …`: the client registry from the command line — the four ways vCenter is
//! made trusted, listing, inspection and removal. While the server runs, requests go over its
//! admin socket (changes apply to the next handshake, a removed client is cut off at once);
//! when it is stopped, the command opens the database itself.

use std::io::{BufRead, IsTerminal, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use serde::Serialize;
use zeroize::Zeroizing;

use keyward::admin::credential::{self, CredentialChange, KmipCredential};
use keyward::admin::expiry;
use keyward::admin::ops::{self, ClientView};
use keyward::admin::protocol::{self, Refusal, Reply, Request, SOCKET_FILE};
use keyward::admin::registry::{self, ClientEntry, ClientKind};
use keyward::appliance::setup::DATABASE_FILE;
use keyward::engine::admin::ObjectSummary;
use keyward::pki;
use keyward::pki::client_identity;
use keyward::store::redb::RedbStore;

use super::error::{CliError, Context};
use super::json_out;
use super::setup::{SetupArgs, load_config};
use super::table::{print_table, utc};

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
        credential: CredentialArgs,
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
        /// The client's name (see `keyward client list`).
        name: String,
        #[command(flatten)]
        common: CommonArgs,
    },
    /// Stop trusting a client. Refused while it owns keys, unless --destroy-keys.
    Remove {
        /// The client's name (see `keyward client list`).
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
    /// Require (or with --clear, stop requiring) a KMIP username and password from this
    /// client: the "Password" vCenter can send with its certificate. Only a hash is stored.
    SetCredential {
        /// The client's name (see `keyward client list`).
        name: String,
        #[command(flatten)]
        credential: CredentialArgs,
        /// Stop requiring a username and password from this client.
        #[arg(long, conflicts_with_all = ["username", "password_file"], required_unless_present = "username")]
        clear: bool,
        #[command(flatten)]
        common: CommonArgs,
    },
}

/// An optional KMIP username and password (vCenter sends them in each request when set on
/// its KMS). When given, requests without them are refused.
#[derive(Args)]
pub struct CredentialArgs {
    /// KMIP username this client must send (set the same in vCenter's KMS settings).
    #[arg(long, requires = "password_file")]
    username: Option<String>,
    /// File whose first line is the KMIP password (keeps it out of the shell history and
    /// the process list).
    #[arg(long, value_name = "FILE", requires = "username")]
    password_file: Option<PathBuf>,
}

impl CredentialArgs {
    /// The credential to store (username and Argon2id hash), if one was given.
    fn hashed(&self) -> Result<Option<KmipCredential>, CliError> {
        let (Some(username), Some(path)) = (&self.username, &self.password_file) else {
            return Ok(None);
        };
        let text = Zeroizing::new(
            std::fs::read_to_string(path).with_context(|| path.display().to_string())?,
        );
        let password = text.lines().next().unwrap_or("");
        if password.is_empty() {
            return Err(CliError::Usage(format!(
                "{}: the password (first line) is empty",
                path.display()
            )));
        }
        Ok(Some(credential::hash_password(
            username,
            password.as_bytes(),
        )?))
    }
}

#[derive(Args)]
pub struct CommonArgs {
    #[command(flatten)]
    pub(crate) setup: SetupArgs,
    /// Print JSON instead of a table (for scripts).
    #[arg(long)]
    pub(crate) json: bool,
}

pub fn run(command: &ClientCommand) -> Result<(), CliError> {
    match command {
        ClientCommand::Add {
            name,
            cert,
            ca,
            subject,
            credential,
            common,
        } => {
            let credential = credential.hashed()?;
            match (cert, ca) {
                (Some(cert), None) => add_pinned(common, name, cert, credential),
                (None, Some(ca)) => add_ca(common, name, ca, subject.clone(), credential),
                _ => Err(CliError::Usage(
                    "give exactly one of --cert and --ca".into(),
                )),
            }
        }
        ClientCommand::SetCredential {
            name,
            credential,
            clear,
            common,
        } => set_credential(
            common,
            name,
            if *clear { None } else { credential.hashed()? },
        ),
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

/// Where requests go: the running server's admin socket, or the database itself.
pub(crate) struct Admin {
    pub(crate) data_dir: PathBuf,
    pub(crate) json: bool,
    /// In a cluster the registry lives in etcd, not in the data directory.
    pub(crate) cluster: Option<keyward::store::etcd::ClusterConfig>,
    /// Offline actions go to the audit log (a single appliance with its log on).
    pub(crate) audit: bool,
}

impl Admin {
    pub(crate) fn new(common: &CommonArgs) -> Result<Admin, CliError> {
        let config = load_config(&common.setup)?;
        Ok(Admin {
            data_dir: config.data_dir,
            json: common.json,
            audit: config.audit.enabled,
            cluster: config.cluster,
        })
    }

    /// The reply; refusals and errors become a [`CliError`] with their exit code.
    pub(crate) fn call(&self, request: Request) -> Result<Reply, CliError> {
        match self.call_raw(request)? {
            Reply::Refused {
                kind: Refusal::NotFound,
                message,
            } => Err(CliError::NotFound(message)),
            Reply::Refused {
                kind: Refusal::WrongState,
                message,
            } => Err(CliError::WrongState(message)),
            Reply::Error { message } => Err(CliError::Server(message)),
            reply => Ok(reply),
        }
    }

    /// The reply as it is, refusals included; `Err` only when no answer could be had.
    pub(crate) fn call_raw(&self, request: Request) -> Result<Reply, CliError> {
        let socket = self.data_dir.join(SOCKET_FILE);
        Ok(match UnixStream::connect(&socket) {
            Ok(stream) => protocol::exchange(stream, &socket, &request)?,
            // No server listening (or a stale socket file): work on the database directly.
            Err(_) => {
                let (store, node) = self.open_store()?;
                // Recorded like the running server would, as pending records (see
                // `AuditContext::without_key`): this process never unwraps the master key.
                let pending = keyward::audit::AuditContext::without_key();
                let actor = keyward::audit::current_user();
                let by = self.audit.then_some((&pending, &actor));
                ops::execute_by(store.as_ref(), node.as_deref(), request, by)
                    .unwrap_or_else(ops::error_reply)
            }
        })
    }

    /// The store, and a cluster node's id (which labels the audit records it shows).
    fn open_store(&self) -> Result<(Box<dyn keyward::store::Store>, Option<String>), CliError> {
        if let Some(cluster) = &self.cluster {
            // Shared state in etcd; this node's audit chain in its local database.
            let local = RedbStore::open(&self.data_dir.join(DATABASE_FILE))?;
            let node = keyward::appliance::setup::open_cluster_node(cluster, local)?;
            let id = node.node_id().to_string();
            return Ok((Box::new(node), Some(id)));
        }
        let path = self.data_dir.join(DATABASE_FILE);
        if !path.is_file() {
            return Err(CliError::Failed(format!(
                "no database in {}; run `keyward init --data-dir {}` first",
                self.data_dir.display(),
                self.data_dir.display()
            )));
        }
        let store = RedbStore::open(&path).hint(format!(
            "the server holds the database while it runs, but its admin socket {} did not \
             answer",
            self.data_dir.join(SOCKET_FILE).display()
        ))?;
        Ok((Box::new(store), None))
    }

    fn add(&self, entry: ClientEntry) -> Result<ClientEntry, CliError> {
        match self.call(Request::AddClient { entry })? {
            Reply::Added { entry } => Ok(entry),
            other => Err(unexpected(&other)),
        }
    }

    fn check(&self, entry: ClientEntry) -> Result<(), CliError> {
        self.call(Request::CheckClient { entry }).map(|_| ())
    }

    fn show(&self, name: &str) -> Result<ClientView, CliError> {
        match self.call(Request::ShowClient {
            name: name.to_string(),
        })? {
            Reply::Client { client } => Ok(client),
            other => Err(unexpected(&other)),
        }
    }

    fn report_added(&self, entry: &ClientEntry) {
        if self.json {
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
            if let Some(username) = &entry.kmip_username {
                println!("its requests must carry KMIP username {username:?} and the password");
            }
            println!("it can connect at once; no restart needed");
        }
    }
}

pub(crate) fn unexpected(reply: &Reply) -> CliError {
    CliError::unexpected(reply)
}

fn new_entry(
    name: &str,
    kind: ClientKind,
    owner: String,
    fingerprints: &[[u8; 32]],
    cert_not_after: Option<i64>,
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
        cert_not_after,
    }
}

fn read_single_cert(path: &Path) -> Result<Vec<u8>, CliError> {
    let cert = CertificateDer::pem_file_iter(path)
        .with_context(|| format!("{}: cannot read", path.display()))?
        .next()
        .ok_or_else(|| CliError::Usage(format!("{}: contains no PEM certificate", path.display())))?
        .with_context(|| format!("{}: not a PEM certificate", path.display()))?;
    x509_parser::parse_x509_certificate(&cert)
        .with_context(|| format!("{}: not an X.509 certificate", path.display()))?;
    Ok(cert.to_vec())
}

/// `entry` with `credential` (if any) as its KMIP username and password hash.
fn with_credential(mut entry: ClientEntry, credential: Option<KmipCredential>) -> ClientEntry {
    if let Some(credential) = credential {
        entry.kmip_username = Some(credential.username);
        entry.kmip_password_hash = Some(credential.password_hash);
    }
    entry
}

fn add_pinned(
    common: &CommonArgs,
    name: &str,
    cert: &Path,
    credential: Option<KmipCredential>,
) -> Result<(), CliError> {
    let der = read_single_cert(cert)?;
    let identity = client_identity(&der);
    let admin = Admin::new(common)?;
    let entry = admin.add(with_credential(
        new_entry(
            name,
            ClientKind::PinnedCertificate,
            identity.owner,
            &[identity.fingerprint],
            expiry::der_not_after(&der),
        ),
        credential,
    ))?;
    admin.report_added(&entry);
    Ok(())
}

fn add_ca(
    common: &CommonArgs,
    name: &str,
    ca: &Path,
    subject: Option<String>,
    credential: Option<KmipCredential>,
) -> Result<(), CliError> {
    read_single_cert(ca)?;
    let ca_pem = std::fs::read_to_string(ca).with_context(|| ca.display().to_string())?;
    let owner = registry::trusted_ca_owner(name, subject.as_deref());
    let admin = Admin::new(common)?;
    let entry = admin.add(with_credential(
        new_entry(
            name,
            ClientKind::TrustedCa { ca_pem, subject },
            owner,
            &[],
            None,
        ),
        credential,
    ))?;
    admin.report_added(&entry);
    Ok(())
}

fn issue(common: &CommonArgs, name: &str, out: &Path) -> Result<(), CliError> {
    registry::check_name(name)?;
    let admin = Admin::new(common)?;
    if !admin.data_dir.join(pki::CA_CERT_FILE).exists() {
        return Err(CliError::Failed(format!(
            "no appliance CA in {}; run `keyward init` first",
            admin.data_dir.display()
        )));
    }
    // The fingerprint is known only once the certificate exists: check the name and owner
    // first, so a refused name writes no files.
    let owner = format!("cn:{name}");
    admin.check(new_entry(
        name,
        ClientKind::Issued,
        owner.clone(),
        &[],
        None,
    ))?;
    let issued = pki::issue_client(&admin.data_dir, name, out)?;
    let not_after = std::fs::read_to_string(&issued.cert)
        .ok()
        .and_then(|pem| expiry::pem_not_after(&pem));
    let entry = admin.add(new_entry(
        name,
        ClientKind::Issued,
        owner,
        &[issued.fingerprint],
        not_after,
    ))?;
    if !admin.json {
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
    admin.report_added(&entry);
    Ok(())
}

fn sign_csr(common: &CommonArgs, name: &str, csr: &Path, out: &Path) -> Result<(), CliError> {
    let admin = Admin::new(common)?;
    let signed = pki::sign_csr(&admin.data_dir, csr)?;
    let identity = client_identity(&signed.der);
    let entry = new_entry(
        name,
        ClientKind::SignedCsr,
        identity.owner,
        &[signed.fingerprint],
        expiry::der_not_after(&signed.der),
    );
    admin.check(entry.clone())?;
    std::fs::write(out, signed.pem.as_bytes()).with_context(|| out.display().to_string())?;
    let entry = admin.add(entry)?;
    if !admin.json {
        println!(
            "wrote {}; upload it to vCenter as the KMS-signed certificate",
            out.display()
        );
    }
    admin.report_added(&entry);
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

/// A client as `--json` prints it: `subject` for a trusted CA only, `key_count` when the
/// keys were counted (`list`, `show`), `keys` when they are shown (`show`).
#[derive(Serialize)]
struct EntryJson<'a> {
    name: &'a str,
    kind: &'a str,
    owner: &'a str,
    fingerprints_sha256: &'a [String],
    created: i64,
    last_seen: Option<i64>,
    kmip_username: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    subject: Option<Option<&'a str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    key_count: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    keys: Option<&'a [ObjectSummary]>,
}

impl<'a> EntryJson<'a> {
    fn new(entry: &'a ClientEntry) -> Self {
        EntryJson {
            name: &entry.name,
            kind: entry.kind.label(),
            owner: &entry.owner,
            fingerprints_sha256: &entry.fingerprints,
            created: entry.created,
            last_seen: entry.last_seen,
            kmip_username: entry.kmip_username.as_deref(),
            subject: match &entry.kind {
                ClientKind::TrustedCa { subject, .. } => Some(subject.as_deref()),
                _ => None,
            },
            key_count: None,
            keys: None,
        }
    }

    fn counted(view: &'a ClientView) -> Self {
        EntryJson {
            key_count: Some(view.live_keys()),
            ..EntryJson::new(&view.entry)
        }
    }
}

fn entry_json(entry: &ClientEntry, view: Option<&ClientView>) -> serde_json::Value {
    let shown = match view {
        Some(view) => EntryJson {
            keys: Some(&view.keys),
            ..EntryJson::counted(view)
        },
        None => EntryJson::new(entry),
    };
    json_out::line(&shown)
}

#[derive(Serialize)]
struct ClientListJson<'a> {
    clients: Vec<EntryJson<'a>>,
}

#[derive(Serialize)]
struct RemovedJson<'a> {
    removed: &'a str,
    owner: &'a str,
    destroyed_keys: usize,
}

fn list(common: &CommonArgs) -> Result<(), CliError> {
    let admin = Admin::new(common)?;
    let clients = match admin.call(Request::ListClients)? {
        Reply::Clients { clients } => clients,
        other => return Err(unexpected(&other)),
    };
    if admin.json {
        let list = ClientListJson {
            clients: clients.iter().map(EntryJson::counted).collect(),
        };
        println!("{}", json_out::line(&list));
    } else if clients.is_empty() {
        println!("no clients registered; add one with `keyward client add|issue|sign-csr`");
    } else {
        let rows: Vec<Vec<String>> = clients
            .iter()
            .map(|c| {
                vec![
                    c.entry.name.clone(),
                    c.entry.kind.label().to_string(),
                    c.entry.owner.clone(),
                    c.live_keys().to_string(),
                    utc(c.entry.created),
                    c.entry.last_seen.map(utc).unwrap_or_else(|| "never".into()),
                ]
            })
            .collect();
        print_table(
            &["NAME", "KIND", "OWNER", "KEYS", "CREATED", "LAST SEEN"],
            &rows,
        );
    }
    Ok(())
}

fn show(common: &CommonArgs, name: &str) -> Result<(), CliError> {
    let admin = Admin::new(common)?;
    let client = admin.show(name)?;
    let entry = &client.entry;
    if admin.json {
        println!("{}", entry_json(entry, Some(&client)));
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
    if let Some(username) = &entry.kmip_username {
        println!("kmip:     username {username:?} and password required");
    }
    println!(
        "keys:     {} ({} not destroyed)",
        client.keys.len(),
        client.live_keys()
    );
    if !client.keys.is_empty() {
        println!();
        let dash = || "-".to_string();
        let rows: Vec<Vec<String>> = client
            .keys
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
fn confirm(name: &str, destroy_keys: bool) -> Result<(), CliError> {
    if !std::io::stdin().is_terminal() {
        return Err(CliError::NotConfirmed(
            "refusing to remove a client without confirmation; pass --yes".into(),
        ));
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
        .context("reading the confirmation")?;
    if answer.trim() != name {
        return Err(CliError::NotConfirmed(
            "not confirmed; nothing changed".into(),
        ));
    }
    Ok(())
}

fn remove(common: &CommonArgs, name: &str, destroy_keys: bool, yes: bool) -> Result<(), CliError> {
    let admin = Admin::new(common)?;
    let live = admin.show(name)?.live_keys();
    if live > 0 && !destroy_keys {
        // The same refusal the operation itself gives, before asking anything.
        return Err(ops::AdminError::OwnsKeys {
            name: name.to_string(),
            live,
        }
        .into());
    }
    if !yes {
        confirm(name, destroy_keys && live > 0)?;
    }
    let removed = match admin.call(Request::RemoveClient {
        name: name.to_string(),
        destroy_keys,
    })? {
        Reply::Removed { removed } => removed,
        other => return Err(unexpected(&other)),
    };
    log::info!(
        "admin {}: removed client {name:?} (owner {}), destroyed {} key(s)",
        unix_user(),
        removed.entry.owner,
        removed.destroyed_keys
    );
    if admin.json {
        println!(
            "{}",
            json_out::line(&RemovedJson {
                removed: &removed.entry.name,
                owner: &removed.entry.owner,
                destroyed_keys: removed.destroyed_keys,
            })
        );
    } else {
        println!(
            "client {name:?} removed; {} key(s) destroyed",
            removed.destroyed_keys
        );
    }
    Ok(())
}

fn set_credential(
    common: &CommonArgs,
    name: &str,
    credential: Option<KmipCredential>,
) -> Result<(), CliError> {
    let admin = Admin::new(common)?;
    let change = CredentialChange {
        client: name.to_string(),
        credential,
    };
    let entry = match admin.call(Request::SetCredential { change })? {
        Reply::CredentialSet { entry } => entry,
        other => return Err(unexpected(&other)),
    };
    log::info!(
        "admin {}: {} the KMIP credential of client {name:?}",
        unix_user(),
        if entry.kmip_username.is_some() {
            "set"
        } else {
            "cleared"
        }
    );
    if admin.json {
        println!("{}", entry_json(&entry, None));
    } else if let Some(username) = &entry.kmip_username {
        println!(
            "client {name:?} must now send KMIP username {username:?} and its password with \
             every request (open connections included); set the same in vCenter"
        );
    } else {
        println!("client {name:?} no longer needs a KMIP username and password");
    }
    Ok(())
}

/// The Unix user running the command, for the record of admin actions.
pub(crate) fn unix_user() -> String {
    std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .unwrap_or_else(|_| "unknown".into())
}
