//! The `keyward` command: parses the arguments and hands each subcommand to its file in
//! src/cli/. Every command answers with one error type whose exit code follows one table
//! (`keyward --help` shows it; src/cli/error.rs defines it).

use std::net::SocketAddr;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod cli;

use cli::error::CliError;
use cli::exit_code::EXIT_CODES_HELP;
use cli::setup::SetupArgs;

#[derive(Parser)]
#[command(
    name = "keyward",
    version,
    about = "Keyward: a KMIP key server (key provider) for vCenter Server and vSAN",
    long_about = "Keyward is a KMIP key server that vCenter Server and vSAN can use as a \
                  Standard Key Provider. It listens for KMIP over mutual TLS (port 5696 by \
                  default) and keeps every key encrypted in a local database.",
    after_help = EXIT_CODES_HELP
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
    Kmip(cli::kmip_client::KmipArgs),
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
    #[command(after_help = EXIT_CODES_HELP)]
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
    #[command(after_help = EXIT_CODES_HELP)]
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

fn main() -> ExitCode {
    let cli = Cli::parse();
    // `serve` installs its logger at the configured level (src/cli/serve.rs); every other
    // command logs at info. RUST_LOG wins over both.
    if !matches!(cli.command, Command::Serve { .. }) {
        keyward::logging::init("info");
    }
    match dispatch(cli.command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            if error.needs_message() {
                eprintln!("keyward: error: {error}");
            }
            ExitCode::from(error.exit_code())
        }
    }
}

fn dispatch(command: Command) -> Result<(), CliError> {
    match command {
        Command::Serve { setup, listen } => cli::serve::run(&setup, listen),
        Command::Init {
            setup,
            root,
            passphrase_stdin,
        } => cli::init::run(&setup, root, passphrase_stdin),
        Command::Unseal(args) => cli::unseal::run(&args),
        Command::Root { command } => cli::root::run(&command),
        Command::Status { setup, json } => cli::status::run(&setup, json),
        Command::Backup { command } => cli::backup::run(&command),
        Command::Restore(args) => cli::backup::restore(&args),
        Command::Client { command } => cli::client::run(&command),
        Command::Server { command } => cli::server_cert::run(&command),
        Command::Kmip(args) => cli::kmip_client::run(&args),
        Command::Ttlv { command } => cli::ttlv::run(&command),
        Command::Cluster { command } => cli::cluster::run(&command),
        Command::Audit { command } => cli::audit::run(&command),
        Command::Vectors { command } => cli::vectors::run(&command),
        Command::Key { command } => cli::key::run(&command),
        Command::Bench(args) => cli::bench::run(&args),
        Command::Import { command } => cli::import::run(&command),
        Command::AdminUser { command } => cli::admin_accounts::run_user(&command),
        Command::ApiToken { command } => cli::admin_accounts::run_token(&command),
    }
}
