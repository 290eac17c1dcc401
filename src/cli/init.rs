//! `keyward init`: creates the data directory, the appliance CA, the server certificate and
//! the root key without serving, and says how to make the KMS trust vCenter. `serve` and
//! `cluster` run the same set-up before they start.

use std::io::Write;

use keyward::appliance::setup::Appliance;
use keyward::config::RootProvider;
use keyward::pki;

use super::error::CliError;
use super::setup::{SetupArgs, load_config};

/// `keyward init`, with the operator's passphrase from standard input when asked to.
pub fn run(
    setup: &SetupArgs,
    root: Option<RootProvider>,
    passphrase_stdin: bool,
) -> Result<(), CliError> {
    if !passphrase_stdin {
        return init(setup, root, None).map(|_| ());
    }
    let passphrase = super::unseal::read_stdin_line()?;
    if passphrase.is_empty() {
        return Err(CliError::Usage(
            "the passphrase on standard input is empty".into(),
        ));
    }
    init(setup, root, Some(passphrase.as_bytes())).map(|_| ())
}

/// Opens (creating on a first run) the appliance in the configured data directory and prints
/// what an administrator needs next.
pub fn init(
    setup: &SetupArgs,
    root: Option<RootProvider>,
    operator_passphrase: Option<&[u8]>,
) -> Result<Appliance, CliError> {
    let mut config = load_config(setup)?;
    if let Some(root) = root {
        config.root.provider = root;
    }
    if operator_passphrase.is_some() && !config.root.seal_at_start {
        return Err(CliError::Usage(
            "--passphrase-stdin is for [root] seal_at_start = true; otherwise the \
             passphrase comes from [root] passphrase_file"
                .into(),
        ));
    }
    let appliance = Appliance::open_with(config, operator_passphrase)?;
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
