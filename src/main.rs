//! The `keyward` command: run the appliance, set it up, issue client certificates, and a tiny
//! KMIP client for trying it out.

use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

mod cli;

use keyward::client::{self, KmipClient};
use keyward::config::{Config, RootProvider};
use keyward::kmip::{names, tag};
use keyward::pki;
use keyward::server::root_sync::RootSync;
use keyward::server::setup::Appliance;
use keyward::server::{Server, ServerOptions};
use keyward::ttlv::{self, Item, Limits, Value};

#[derive(Parser)]
#[command(
    name = "keyward",
    version,
    about = "Keyward: a KMIP key server (key provider) for vCenter Server and vSAN",
    long_about = "Keyward is a KMIP key server that vCenter Server and vSAN can use as a \
                  Standard Key Provider. It listens for KMIP over mutual TLS (port 5696 by \
                  default) and keeps every key encrypted in a local database."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the KMIP server. On first run, creates the data directory, a local certificate
    /// authority, the server certificate and the root key.
    Serve {
        #[command(flatten)]
        setup: SetupArgs,
        /// Address and port to listen on (default 127.0.0.1:5696; use 0.0.0.0:5696 to accept
        /// connections from vCenter on another host).
        #[arg(long, value_name = "ADDR:PORT")]
        listen: Option<SocketAddr>,
    },
    /// Create the data directory, certificates and root key without starting the server.
    Init {
        #[command(flatten)]
        setup: SetupArgs,
        /// Root key provider, overriding [root] provider: "local" or "keyprotect" (needs the
        /// [keyprotect] table in --config).
        #[arg(long, value_name = "local|keyprotect")]
        root: Option<keyward::config::RootProvider>,
        /// With [root] seal_at_start: the root key passphrase, never stored, from the first
        /// line of standard input (the master key is made with it on a first run).
        #[arg(long)]
        passphrase_stdin: bool,
    },
    /// Give a server started sealed ([root] seal_at_start) its root key passphrase: asked on
    /// the terminal, or read from standard input.
    Unseal(cli::unseal::UnsealArgs),
    /// Manage the root key that wraps the master key.
    Root {
        #[command(subcommand)]
        command: cli::root::RootCommand,
    },
    /// One screen: listener, root key state, Key Protect sync, clients and keys, backup,
    /// version and uptime (from the running server, or from the database when it is stopped).
    Status {
        #[command(flatten)]
        setup: SetupArgs,
        /// Print the status as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Manage the KMIP clients (vCenter) allowed to connect: "Make KMS trust vCenter".
    Client {
        #[command(subcommand)]
        command: cli::client::ClientCommand,
    },
    /// The KMIP server's own certificate ("Make vCenter trust KMS").
    Server {
        #[command(subcommand)]
        command: cli::server_cert::ServerCommand,
    },
    /// Send a KMIP request to a server (for trying out a setup).
    Kmip(KmipArgs),
    /// Convert KMIP messages between TTLV and the XML / JSON encodings.
    Ttlv {
        #[command(subcommand)]
        command: cli::ttlv::TtlvCommand,
    },
    /// Play OASIS KMIP conformance test vectors against a running server.
    Vectors {
        #[command(subcommand)]
        command: cli::vectors::VectorsCommand,
    },
    /// Run several appliances as one KMS cluster on etcd: init, join, status, migrate.
    Cluster {
        #[command(subcommand)]
        command: cli::cluster::ClusterCommand,
    },
    /// List, inspect, revoke and destroy keys (server running or stopped).
    #[command(after_help = cli::key::EXIT_CODES_HELP)]
    Key {
        #[command(subcommand)]
        command: cli::key::KeyCommand,
    },
    /// Read and verify the tamper-evident audit log.
    Audit {
        #[command(subcommand)]
        command: cli::audit::AuditCommand,
    },
    /// Encrypted backups: export (online or offline) and verify.
    Backup {
        #[command(subcommand)]
        command: cli::backup::BackupCommand,
    },
    /// Build a new data directory from an encrypted backup (works fully offline with
    /// --root local).
    Restore(cli::backup::RestoreArgs),
    /// Measure a KMIP server: a load generator with vCenter-like workloads.
    Bench(cli::bench::BenchArgs),
    /// Move keys from another KMIP server (IBM KMIP for VMware, PyKMIP, …) under the same
    /// Unique Identifiers, so vCenter needs no re-key; then verify (docs/migrate.md).
    #[command(after_help = cli::import::EXIT_CODES_HELP)]
    Import {
        #[command(subcommand)]
        command: cli::import::ImportCommand,
    },
    /// Accounts of the HTTPS admin API ([admin_http]): add, list, remove, passwd.
    AdminUser {
        #[command(subcommand)]
        command: cli::admin_accounts::AdminUserCommand,
    },
    /// API tokens for automation against the HTTPS admin API: create, list, revoke.
    ApiToken {
        #[command(subcommand)]
        command: cli::admin_accounts::ApiTokenCommand,
    },
}

#[derive(Args)]
pub(crate) struct SetupArgs {
    /// Directory holding certificates, the root key and the database (default ./keyward-data,
    /// or data_dir from the configuration file).
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// TOML configuration file (see config.example.toml). Without it and without --data-dir,
    /// /etc/keyward/config.toml when it exists (the package's and the appliance's), else
    /// defaults.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
}

/// The configuration the Debian package and the appliance install, so that an administrator
/// on the appliance can type `keyward status` without naming it.
const SYSTEM_CONFIG: &str = "/etc/keyward/config.toml";

#[derive(Args)]
struct KmipArgs {
    /// Server address, e.g. localhost:5696. The host name must match the server certificate.
    #[arg(long, value_name = "HOST:PORT")]
    server: String,
    /// CA certificate that signed the server certificate (ca.crt from `client issue`).
    #[arg(long, value_name = "FILE")]
    ca: PathBuf,
    /// Client certificate (client.crt).
    #[arg(long, value_name = "FILE")]
    cert: PathBuf,
    /// Client private key (client.key).
    #[arg(long, value_name = "FILE")]
    key: PathBuf,
    #[command(subcommand)]
    operation: KmipOperation,
}

#[derive(Subcommand)]
enum KmipOperation {
    /// Create an AES-256 key; prints its Unique Identifier.
    Create,
    /// Fetch a symmetric key; prints its key material as hex.
    Get {
        /// Unique Identifier printed by `create`.
        uid: String,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // The configured level applies to the server; other commands log at info.
    let level = match &cli.command {
        Command::Serve { setup, .. } => load_config(setup)
            .map(|c| c.log.level)
            .unwrap_or_else(|_| "info".into()),
        _ => "info".into(),
    };
    keyward::logging::init(&level);
    let result = match cli.command {
        Command::Serve { setup, listen } => serve(&setup, listen),
        Command::Init {
            setup,
            root,
            passphrase_stdin,
        } => init_from_stdin(&setup, root, passphrase_stdin).map(|_| ()),
        Command::Unseal(args) => cli::unseal::run(&args),
        Command::Root { command } => cli::root::run(&command),
        Command::Status { setup, json } => cli::status::run(&setup, json),
        Command::Backup { command } => cli::backup::run(&command),
        Command::Restore(args) => cli::backup::restore(&args),
        Command::Client { command } => cli::client::run(&command),
        Command::Server { command } => cli::server_cert::run(&command),
        Command::Kmip(args) => kmip(&args),
        Command::Ttlv { command } => cli::ttlv::run(&command),
        Command::Cluster { command } => cli::cluster::run(&command),
        Command::Audit { command } => match cli::audit::run(&command) {
            Ok(true) => Ok(()),
            Ok(false) => return ExitCode::FAILURE,
            Err(message) => Err(message),
        },
        Command::Vectors { command } => match cli::vectors::run(&command) {
            Ok(true) => Ok(()),
            // The report on stdout already says which vectors failed.
            Ok(false) => return ExitCode::FAILURE,
            Err(message) => Err(message),
        },
        Command::Key { command } => match cli::key::run(&command) {
            Ok(()) => Ok(()),
            Err(failure) => {
                eprintln!("keyward: error: {}", failure.message);
                return ExitCode::from(failure.code);
            }
        },
        Command::Bench(args) => cli::bench::run(&args),
        Command::Import { command } => return ExitCode::from(cli::import::run(&command)),
        Command::AdminUser { command } => cli::admin_accounts::run_user(&command),
        Command::ApiToken { command } => cli::admin_accounts::run_token(&command),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("keyward: error: {message}");
            ExitCode::FAILURE
        }
    }
}

pub(crate) fn load_config(setup: &SetupArgs) -> Result<Config, String> {
    load_config_with_system_default(setup, Path::new(SYSTEM_CONFIG))
}

/// `--config` first; with neither `--config` nor `--data-dir`, `system` if it exists.
fn load_config_with_system_default(setup: &SetupArgs, system: &Path) -> Result<Config, String> {
    let path = match (&setup.config, &setup.data_dir) {
        (Some(path), _) => Some(path.as_path()),
        (None, None) if system.is_file() => Some(system),
        _ => None,
    };
    let mut config = match path {
        Some(path) => Config::load(path).map_err(|e| e.to_string())?,
        None => Config::default(),
    };
    if let Some(dir) = &setup.data_dir {
        config.data_dir = dir.clone();
    }
    Ok(config)
}

/// `keyward init`, with the operator's passphrase from standard input when asked to.
fn init_from_stdin(
    setup: &SetupArgs,
    root: Option<RootProvider>,
    passphrase_stdin: bool,
) -> Result<Appliance, String> {
    if !passphrase_stdin {
        return init(setup, root, None);
    }
    let passphrase = cli::unseal::read_stdin_line()?;
    if passphrase.is_empty() {
        return Err("the passphrase on standard input is empty".into());
    }
    init(setup, root, Some(passphrase.as_bytes()))
}

pub(crate) fn init(
    setup: &SetupArgs,
    root: Option<RootProvider>,
    operator_passphrase: Option<&[u8]>,
) -> Result<Appliance, String> {
    let mut config = load_config(setup)?;
    if let Some(root) = root {
        config.root.provider = root;
    }
    if operator_passphrase.is_some() && !config.root.seal_at_start {
        return Err(
            "--passphrase-stdin is for [root] seal_at_start = true; otherwise the \
                    passphrase comes from [root] passphrase_file"
                .into(),
        );
    }
    let appliance = Appliance::open_with(config, operator_passphrase).map_err(|e| e.to_string())?;
    let data_dir = &appliance.config.data_dir;
    if appliance.pki.created {
        println!(
            "created the appliance CA and server certificate in {}",
            data_dir.display()
        );
    }
    println!(
        "server certificate SHA-256 fingerprint: {}",
        pki::fingerprint_hex(&appliance.pki.server_fingerprint)
    );
    println!("appliance id: {}", appliance.appliance_id);
    if let Some(reason) = &appliance.sealed_at_start {
        println!("SEALED (no key material is served until the root key is back): {reason}");
    }
    println!("make this KMS trust vCenter with one of (server running or stopped):");
    for method in [
        "client add --name NAME --cert VCENTER.crt",
        "client add --name NAME --ca VCENTER-ROOT-CA.crt [--subject CN]",
        "client issue --name NAME --out DIR",
        "client sign-csr --name NAME --csr VCENTER.csr --out SIGNED.crt",
    ] {
        println!("  keyward {method} --data-dir {}", data_dir.display());
    }
    let _ = std::io::stdout().flush();
    Ok(appliance)
}

fn serve(setup: &SetupArgs, listen: Option<SocketAddr>) -> Result<(), String> {
    // Before the master key exists in this process: no core dump may ever hold it.
    keyward::server::hardening::refuse_core_dumps();
    let mut appliance = init(setup, None, None)?;
    if let Some(addr) = listen {
        appliance.config.server.listen = addr;
    }
    let services = appliance.services().map_err(|e| e.to_string())?;
    let options = ServerOptions::from_settings(&appliance.config.server);
    let services_for_admin = services.clone();
    let mut server = Server::bind(options, services).map_err(|e| e.to_string())?;
    server.handle_signals().map_err(|e| e.to_string())?;
    let admin_socket = appliance
        .config
        .data_dir
        .join(keyward::admin::protocol::SOCKET_FILE);
    server
        .serve_admin_socket(&admin_socket)
        .map_err(|e| e.to_string())?;
    if let Some(addr) = appliance.config.http.listen {
        let bound = server.serve_http(addr).map_err(|e| e.to_string())?;
        println!("health and metrics on http://{bound}");
        log::info!("health and metrics on http://{bound} (/healthz, /metrics)");
    }
    // Its own thread and runtime: nothing the admin API does runs on the KMIP event loop.
    if let Some(bound) = keyward::admin_http::start(
        &appliance.config.admin_http,
        services_for_admin,
        appliance.config.data_dir.clone(),
        appliance.pki.server_cert.clone(),
        appliance.pki.server_key.clone(),
        server.registry_notifier(),
        appliance.config.backup.clone(),
    )
    .map_err(|e| e.to_string())?
    {
        println!("admin API on https://{bound}");
        log::info!("admin API on https://{bound} (/api/openapi.json)");
    }
    // Started before "listening" is announced, so the sync state is known by then.
    let root_sync = RootSync::start(&appliance).map_err(|e| e.to_string())?;
    println!("listening on {}", server.local_addr());
    let _ = std::io::stdout().flush();
    log::info!("KMIP server listening on {}", server.local_addr());
    let backups = match appliance.config.backup.clone() {
        Some(settings) => Some(
            keyward::backup::schedule::Scheduler::start(
                settings,
                appliance.store.clone(),
                appliance.engine.gate().clone(),
                appliance.appliance_id.clone(),
                appliance.audit_log(),
            )
            .map_err(|e| format!("scheduled backups: {e}"))?,
        ),
        None => None,
    };
    // The listener is bound and the master key unwrapped (or the appliance knows why it is
    // sealed): systemd may start what depends on us.
    keyward::server::sd_notify::ready(&match &appliance.sealed_at_start {
        None => format!("serving KMIP on {}", server.local_addr()),
        Some(reason) => format!("SEALED on {}: {reason}", server.local_addr()),
    });
    let result = server.run().map_err(|e| e.to_string());
    if let Some(backups) = backups {
        backups.shutdown();
    }
    root_sync.shutdown();
    result
}

fn kmip(args: &KmipArgs) -> Result<(), String> {
    let tls = client::tls_config(&args.ca, &args.cert, &args.key).map_err(|e| e.to_string())?;
    let mut connection = KmipClient::connect(&args.server, tls, Duration::from_secs(30))
        .map_err(|e| e.to_string())?;
    let request = match &args.operation {
        KmipOperation::Create => request("Create", create_aes256_payload()?)?,
        KmipOperation::Get { uid } => request(
            "Get",
            vec![Item::new(
                tag::UNIQUE_IDENTIFIER,
                Value::TextString(uid.clone()),
            )],
        )?,
    };
    let response = connection.roundtrip(&request).map_err(|e| e.to_string())?;
    connection.close();
    let payload = response_payload(&response)?;
    match &args.operation {
        KmipOperation::Create => match payload.child(tag::UNIQUE_IDENTIFIER).map(|i| &i.value) {
            Some(Value::TextString(uid)) => println!("{uid}"),
            _ => return Err("the response carries no Unique Identifier".into()),
        },
        KmipOperation::Get { .. } => match find(&payload, tag::KEY_MATERIAL).map(|i| &i.value) {
            Some(Value::ByteString(material)) => println!("{}", hex::encode(material)),
            _ => return Err("the response carries no raw key material".into()),
        },
    }
    Ok(())
}

fn enumeration(field: u32, name: &str) -> Result<Value, String> {
    names::enum_value(field, name)
        .map(Value::Enumeration)
        .ok_or_else(|| format!("unknown enumeration {name}"))
}

/// A one-item KMIP 1.4 request message.
fn request(operation: &str, payload: Vec<Item>) -> Result<Vec<u8>, String> {
    let header = Item::structure(
        tag::REQUEST_HEADER,
        vec![
            Item::structure(
                tag::PROTOCOL_VERSION,
                vec![
                    Item::new(tag::PROTOCOL_VERSION_MAJOR, Value::Integer(1)),
                    Item::new(tag::PROTOCOL_VERSION_MINOR, Value::Integer(4)),
                ],
            ),
            Item::new(tag::BATCH_COUNT, Value::Integer(1)),
        ],
    );
    let batch_item = Item::structure(
        tag::BATCH_ITEM,
        vec![
            Item::new(tag::OPERATION, enumeration(tag::OPERATION, operation)?),
            Item::structure(tag::REQUEST_PAYLOAD, payload),
        ],
    );
    Ok(ttlv::encode(&Item::structure(
        tag::REQUEST_MESSAGE,
        vec![header, batch_item],
    )))
}

fn attribute(name: &str, value: Value) -> Item {
    Item::structure(
        tag::ATTRIBUTE,
        vec![
            Item::new(tag::ATTRIBUTE_NAME, Value::TextString(name.to_string())),
            Item::new(tag::ATTRIBUTE_VALUE, value),
        ],
    )
}

fn create_aes256_payload() -> Result<Vec<Item>, String> {
    Ok(vec![
        Item::new(
            tag::OBJECT_TYPE,
            enumeration(tag::OBJECT_TYPE, "SymmetricKey")?,
        ),
        Item::structure(
            tag::TEMPLATE_ATTRIBUTE,
            vec![
                attribute(
                    "Cryptographic Algorithm",
                    enumeration(tag::CRYPTOGRAPHIC_ALGORITHM, "AES")?,
                ),
                attribute("Cryptographic Length", Value::Integer(256)),
                // Encrypt | Decrypt, as vCenter asks.
                attribute("Cryptographic Usage Mask", Value::Integer(0x0C)),
            ],
        ),
    ])
}

/// The payload of a one-item response, or the server's reason for failing it.
fn response_payload(response: &[u8]) -> Result<Item, String> {
    let message =
        ttlv::decode(response, &Limits::default()).map_err(|e| format!("bad response: {e}"))?;
    let item = message
        .child(tag::BATCH_ITEM)
        .ok_or("the response has no batch item")?;
    let status = match item.child(tag::RESULT_STATUS).map(|i| &i.value) {
        Some(Value::Enumeration(status)) => *status,
        _ => return Err("the response has no result status".into()),
    };
    if status != 0 {
        let reason = match item.child(tag::RESULT_REASON).map(|i| &i.value) {
            Some(Value::Enumeration(r)) => {
                names::enum_name(tag::RESULT_REASON, *r).unwrap_or("unknown reason")
            }
            _ => "no reason given",
        };
        let text = match item.child(tag::RESULT_MESSAGE).map(|i| &i.value) {
            Some(Value::TextString(t)) => t.as_str(),
            _ => "",
        };
        return Err(format!("the server refused the request: {reason} {text}"));
    }
    Ok(item
        .child(tag::RESPONSE_PAYLOAD)
        .cloned()
        .unwrap_or_else(|| Item::structure(tag::RESPONSE_PAYLOAD, vec![])))
}

fn find(item: &Item, wanted: u32) -> Option<&Item> {
    if item.tag == wanted {
        return Some(item);
    }
    item.children().iter().find_map(|child| find(child, wanted))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn setup(config: Option<&Path>, data_dir: Option<&str>) -> SetupArgs {
        SetupArgs {
            config: config.map(Path::to_path_buf),
            data_dir: data_dir.map(PathBuf::from),
        }
    }

    #[test]
    fn the_system_configuration_applies_only_when_nothing_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let system = dir.path().join("system.toml");
        std::fs::write(&system, "data_dir = \"/var/lib/keyward\"\n").unwrap();
        let named = dir.path().join("named.toml");
        std::fs::write(&named, "data_dir = \"/srv/named\"\n").unwrap();

        let data_dir = |args: SetupArgs, system: &Path| {
            load_config_with_system_default(&args, system)
                .unwrap()
                .data_dir
        };
        assert_eq!(
            data_dir(setup(None, None), &system),
            PathBuf::from("/var/lib/keyward")
        );
        assert_eq!(
            data_dir(setup(Some(&named), None), &system),
            PathBuf::from("/srv/named")
        );
        assert_eq!(
            data_dir(setup(None, Some("/tmp/d")), &system),
            PathBuf::from("/tmp/d")
        );
        let absent = dir.path().join("absent.toml");
        assert_eq!(
            data_dir(setup(None, None), &absent),
            Config::default().data_dir
        );
    }
}
