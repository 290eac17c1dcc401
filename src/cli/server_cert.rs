//! `keyward server cert show`: the server certificate vCenter must trust ("Make vCenter trust
//! KMS"), with the SHA-256 fingerprint vCenter displays for comparison.

use clap::Subcommand;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use serde::Serialize;

use keyward::admin::protocol::Request;
use keyward::config::ServerKeyType;
use keyward::pki;

use super::client::{Admin, CommonArgs, unix_user};
use super::error::{CliError, Context};
use super::json_out;
use super::setup::{SetupArgs, load_config};
use super::table::utc;

#[derive(Subcommand)]
pub enum ServerCommand {
    /// The KMIP server's own certificate.
    Cert {
        #[command(subcommand)]
        command: CertCommand,
    },
}

#[derive(Subcommand)]
pub enum CertCommand {
    /// Print the server certificate (PEM) and its SHA-256 fingerprint; compare the fingerprint
    /// with the one vCenter shows in "Make vCenter trust KMS", or upload the PEM there.
    Show {
        #[command(flatten)]
        setup: SetupArgs,
        /// Print JSON instead of text (for scripts).
        #[arg(long)]
        json: bool,
    },
    /// Make a new server key and certificate from the appliance CA. A running server presents
    /// it from the next TLS handshake on, without a restart; open connections are not
    /// disturbed. If vCenter trusts this KMS by its certificate (not by the appliance CA), it
    /// must be made to trust the new one ("Make vCenter trust KMS" again).
    Renew {
        /// Key type of the new certificate (default: [tls] server_key_type, rsa2048).
        #[arg(long, value_enum)]
        key_type: Option<KeyType>,
        /// Host name or IP address vCenter connects to (repeatable). Without it, the names
        /// of the current certificate are kept.
        #[arg(long = "san", value_name = "NAME")]
        names: Vec<String>,
        #[command(flatten)]
        common: CommonArgs,
    },
}

/// The server certificate file could not be read: most likely `init` never ran.
#[derive(Debug, thiserror::Error)]
#[error("{0}; run `keyward init` to create the server certificate")]
struct NoServerCert(#[source] std::io::Error);

/// Server key types `renew` offers.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum KeyType {
    Rsa2048,
    Rsa3072,
    EcdsaP256,
    EcdsaP384,
}

impl From<KeyType> for ServerKeyType {
    fn from(key_type: KeyType) -> ServerKeyType {
        match key_type {
            KeyType::Rsa2048 => ServerKeyType::Rsa2048,
            KeyType::Rsa3072 => ServerKeyType::Rsa3072,
            KeyType::EcdsaP256 => ServerKeyType::EcdsaP256,
            KeyType::EcdsaP384 => ServerKeyType::EcdsaP384,
        }
    }
}

pub fn run(command: &ServerCommand) -> Result<(), CliError> {
    match command {
        ServerCommand::Cert {
            command: CertCommand::Show { setup, json },
        } => show(setup, *json),
        ServerCommand::Cert {
            command:
                CertCommand::Renew {
                    key_type,
                    names,
                    common,
                },
        } => renew(common, *key_type, names),
    }
}

/// The configuration's spelling of a key type.
fn key_type_name(key_type: ServerKeyType) -> &'static str {
    match key_type {
        ServerKeyType::Rsa2048 => "rsa2048",
        ServerKeyType::Rsa3072 => "rsa3072",
        ServerKeyType::EcdsaP256 => "ecdsa-p256",
        ServerKeyType::EcdsaP384 => "ecdsa-p384",
    }
}

fn renew(common: &CommonArgs, key_type: Option<KeyType>, names: &[String]) -> Result<(), CliError> {
    let config = load_config(&common.setup)?;
    let key_type = key_type
        .map(ServerKeyType::from)
        .unwrap_or(config.tls.server_key_type);
    let admin = Admin::new(common)?;
    if !admin.data_dir.join(pki::CA_KEY_FILE).exists() {
        return Err(CliError::Failed(format!(
            "no appliance CA in {}; run `keyward init` first",
            admin.data_dir.display()
        )));
    }
    let fingerprint = pki::renew_server_cert(&admin.data_dir, key_type, names)?;
    let shown = pki::fingerprint_hex(&fingerprint);
    admin
        .call(Request::ServerCertRenewed {
            fingerprint: hex::encode(fingerprint),
        })
        .with_context(|| {
            format!("the new certificate ({shown}) is in place, but recording it failed")
        })?;
    log::info!(
        "admin {}: renewed the server certificate ({shown})",
        unix_user()
    );
    if admin.json {
        println!(
            "{}",
            json_out::line(&RenewedJson {
                fingerprint_sha256: &shown,
                key_type: key_type_name(key_type),
            })
        );
    } else {
        println!("new server certificate SHA-256 fingerprint: {shown}");
        println!(
            "a running server presents it from the next handshake on; open connections are \
             not disturbed"
        );
        println!(
            "vCenter: if it trusts this KMS by its certificate, make it trust the new one \
             (Key Providers > this KMS > Make vCenter Trust KMS) and compare the fingerprint; \
             if it trusts the appliance CA, nothing to do"
        );
    }
    Ok(())
}

/// `server cert renew --json`.
#[derive(Serialize)]
struct RenewedJson<'a> {
    fingerprint_sha256: &'a str,
    key_type: &'a str,
}

/// `server cert show --json`.
#[derive(Serialize)]
struct ShownJson<'a> {
    fingerprint_sha256: &'a str,
    subject: &'a str,
    issuer: &'a str,
    not_before: i64,
    not_after: i64,
    pem: &'a str,
}

fn show(setup: &SetupArgs, json: bool) -> Result<(), CliError> {
    let config = load_config(setup)?;
    let path = config.data_dir.join(pki::SERVER_CERT_FILE);
    let pem = std::fs::read_to_string(&path)
        .map_err(NoServerCert)
        .with_context(|| path.display().to_string())?;
    let der = CertificateDer::from_pem_slice(pem.as_bytes())
        .with_context(|| format!("{}: not a PEM certificate", path.display()))?;
    let (_, cert) = x509_parser::parse_x509_certificate(&der)
        .with_context(|| format!("{}: not an X.509 certificate", path.display()))?;
    let fingerprint = pki::fingerprint_hex(&pki::fingerprint(&der));
    let subject = cert.subject().to_string();
    let issuer = cert.issuer().to_string();
    let not_before = cert.validity().not_before.timestamp();
    let not_after = cert.validity().not_after.timestamp();
    if json {
        println!(
            "{}",
            json_out::line(&ShownJson {
                fingerprint_sha256: &fingerprint,
                subject: &subject,
                issuer: &issuer,
                not_before,
                not_after,
                pem: &pem,
            })
        );
    } else {
        println!("subject:     {subject}");
        println!("issuer:      {issuer}");
        println!("valid from:  {}", utc(not_before));
        println!("valid until: {}", utc(not_after));
        println!("SHA-256 fingerprint: {fingerprint}");
        print!("{pem}");
    }
    Ok(())
}
