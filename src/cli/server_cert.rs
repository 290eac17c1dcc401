//! `keyward server cert show`: the server certificate vCenter must trust ("Make vCenter trust
//! KMS"), with the SHA-256 fingerprint vCenter displays for comparison.

use clap::Subcommand;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use serde_json::json;

use keyward::pki;

use super::table::utc;
use crate::{SetupArgs, load_config};

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
}

pub fn run(command: &ServerCommand) -> Result<(), String> {
    let ServerCommand::Cert {
        command: CertCommand::Show { setup, json },
    } = command;
    let config = load_config(setup)?;
    let path = config.data_dir.join(pki::SERVER_CERT_FILE);
    let pem = std::fs::read_to_string(&path).map_err(|e| {
        format!(
            "{}: {e}; run `keyward init` to create the server certificate",
            path.display()
        )
    })?;
    let der = CertificateDer::from_pem_slice(pem.as_bytes())
        .map_err(|e| format!("{}: not a PEM certificate: {e}", path.display()))?;
    let (_, cert) = x509_parser::parse_x509_certificate(&der)
        .map_err(|e| format!("{}: not an X.509 certificate: {e}", path.display()))?;
    let fingerprint = pki::fingerprint_hex(&pki::fingerprint(&der));
    let subject = cert.subject().to_string();
    let issuer = cert.issuer().to_string();
    let not_before = cert.validity().not_before.timestamp();
    let not_after = cert.validity().not_after.timestamp();
    if *json {
        println!(
            "{}",
            json!({
                "fingerprint_sha256": fingerprint,
                "subject": subject,
                "issuer": issuer,
                "not_before": not_before,
                "not_after": not_after,
                "pem": pem,
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
