//! `keyward key …`: the keys themselves — list with filters, show one (attributes, state,
//! owner; never material), revoke, destroy. Revoke and Destroy are the KMIP operations run as
//! the key's owner would, so the states are exactly KMIP's. Like `client`, it goes through the
//! running server's admin socket, or opens the database when the server is stopped.

use std::io::{BufRead, IsTerminal, Write};

use clap::Subcommand;
use serde::Serialize;

use keyward::admin::keys::{KeyFilter, KeyView, RevokeReason, STATES, normalize_state};
use keyward::admin::protocol::{Reply, Request};

use super::client::{Admin, CommonArgs, unexpected, unix_user};
use super::error::{CliError, Context};
use super::json_out;
use super::table::print_table;

use super::exit_code::EXIT_CODES_HELP;

#[derive(Subcommand)]
pub enum KeyCommand {
    /// List keys with their owner, state and what they protect (vCenter's x-Component,
    /// x-Name, x-Identifier).
    #[command(after_help = EXIT_CODES_HELP)]
    List {
        /// Only this client's keys (its name in `keyward client list`).
        #[arg(long, value_name = "NAME")]
        client: Option<String>,
        /// Only keys in this KMIP state: pre-active, active, deactivated, compromised,
        /// destroyed, destroyed-compromised.
        #[arg(long, value_name = "STATE")]
        state: Option<String>,
        /// Only keys with this attribute value, e.g. --attr x-Name=vm-01 (repeatable; all
        /// must match).
        #[arg(long = "attr", value_name = "NAME=VALUE")]
        attributes: Vec<String>,
        #[command(flatten)]
        common: CommonArgs,
    },
    /// Show one key: owner, state and every attribute. Key material is never shown.
    #[command(after_help = EXIT_CODES_HELP)]
    Show {
        /// The key's Unique Identifier (see `keyward key list`).
        uid: String,
        #[command(flatten)]
        common: CommonArgs,
    },
    /// Revoke a key (KMIP Revoke). An Active key becomes Deactivated: vCenter can still read
    /// it to decrypt, but not use it for new encryption. key-compromise or ca-compromise
    /// marks a key in any state Compromised.
    #[command(after_help = EXIT_CODES_HELP)]
    Revoke {
        /// The key's Unique Identifier.
        uid: String,
        /// Why (a KMIP Revocation Reason Code).
        #[arg(long, value_enum)]
        reason: RevokeReason,
        #[command(flatten)]
        common: CommonArgs,
    },
    /// Destroy a key's material (KMIP Destroy): whatever it encrypted can no longer be
    /// unlocked. An Active key must be revoked first. Asks for confirmation on a terminal.
    #[command(after_help = EXIT_CODES_HELP)]
    Destroy {
        /// The key's Unique Identifier.
        uid: String,
        /// Do not ask for confirmation (for scripts).
        #[arg(long)]
        yes: bool,
        #[command(flatten)]
        common: CommonArgs,
    },
}

pub fn run(command: &KeyCommand) -> Result<(), CliError> {
    match command {
        KeyCommand::List {
            client,
            state,
            attributes,
            common,
        } => list(common, filter(client, state, attributes)?),
        KeyCommand::Show { uid, common } => show(common, uid),
        KeyCommand::Revoke {
            uid,
            reason,
            common,
        } => revoke(common, uid, *reason),
        KeyCommand::Destroy { uid, yes, common } => destroy(common, uid, *yes),
    }
}

fn filter(
    client: &Option<String>,
    state: &Option<String>,
    attributes: &[String],
) -> Result<KeyFilter, CliError> {
    if let Some(state) = state
        && !STATES
            .iter()
            .any(|s| normalize_state(s) == normalize_state(state))
    {
        return Err(CliError::Usage(format!(
            "unknown state {state:?}; one of {}",
            STATES.join(", ")
        )));
    }
    let attributes = attributes
        .iter()
        .map(|pair| match pair.split_once('=') {
            Some((name, value)) if !name.trim().is_empty() => {
                Ok((name.trim().to_string(), value.to_string()))
            }
            _ => Err(CliError::Usage(format!(
                "--attr {pair:?}: expected NAME=VALUE, e.g. x-Name=vm-01"
            ))),
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(KeyFilter {
        client: client.clone(),
        state: state.clone(),
        attributes,
    })
}

fn one_key(admin: &Admin, request: Request) -> Result<KeyView, CliError> {
    match admin.call(request)? {
        Reply::Key { key } => Ok(key),
        other => Err(unexpected(&other)),
    }
}

fn dash(value: &Option<String>) -> String {
    value.clone().unwrap_or_else(|| "-".into())
}

fn list(common: &CommonArgs, filter: KeyFilter) -> Result<(), CliError> {
    let admin = Admin::new(common)?;
    let keys = match admin.call(Request::ListKeys { filter })? {
        Reply::Keys { keys } => keys,
        other => return Err(unexpected(&other)),
    };
    if admin.json {
        println!("{}", json_out::line(&KeyListJson { keys: &keys }));
        return Ok(());
    }
    if keys.is_empty() {
        println!("no keys match");
        return Ok(());
    }
    let rows: Vec<Vec<String>> = keys
        .iter()
        .map(|k| {
            vec![
                k.uid.clone(),
                k.client.clone().unwrap_or_else(|| k.owner.clone()),
                k.object_type.clone(),
                k.state.clone(),
                dash(&k.x_component),
                dash(&k.x_name),
                dash(&k.x_identifier),
            ]
        })
        .collect();
    print_table(
        &[
            "UID",
            "CLIENT",
            "TYPE",
            "STATE",
            "X-COMPONENT",
            "X-NAME",
            "X-IDENTIFIER",
        ],
        &rows,
    );
    Ok(())
}

/// `key list --json`.
#[derive(Serialize)]
struct KeyListJson<'a> {
    keys: &'a [KeyView],
}

fn print_key(admin: &Admin, key: &KeyView) {
    if admin.json {
        println!("{}", json_out::line(key));
        return;
    }
    println!("uid:      {}", key.uid);
    println!("client:   {}", dash(&key.client));
    println!("owner:    {}", key.owner);
    println!("type:     {}", key.object_type);
    println!("state:    {}", key.state);
    if !key.attributes.is_empty() {
        println!("attributes:");
        let rows: Vec<Vec<String>> = key
            .attributes
            .iter()
            .map(|(name, value)| vec![format!("  {name}"), value.clone()])
            .collect();
        print_table(&["  NAME", "VALUE"], &rows);
    }
}

fn show(common: &CommonArgs, uid: &str) -> Result<(), CliError> {
    let admin = Admin::new(common)?;
    let key = one_key(
        &admin,
        Request::ShowKey {
            uid: uid.to_string(),
        },
    )?;
    print_key(&admin, &key);
    Ok(())
}

fn revoke(common: &CommonArgs, uid: &str, reason: RevokeReason) -> Result<(), CliError> {
    let admin = Admin::new(common)?;
    let key = one_key(
        &admin,
        Request::RevokeKey {
            uid: uid.to_string(),
            reason,
        },
    )?;
    log::info!(
        "admin {}: revoked key {uid} ({reason:?}), now {}",
        unix_user(),
        key.state
    );
    if admin.json {
        println!("{}", json_out::line(&key));
    } else {
        println!("key {uid} revoked; its state is now {}", key.state);
    }
    Ok(())
}

/// On a terminal, asks the admin to type the key's UID; elsewhere requires --yes.
fn confirm(key: &KeyView) -> Result<(), CliError> {
    if !std::io::stdin().is_terminal() {
        return Err(CliError::NotConfirmed(
            "refusing to destroy a key without confirmation; pass --yes".into(),
        ));
    }
    println!(
        "This destroys the material of key {} ({}, {}); whatever it encrypted can no longer \
         be unlocked.",
        key.uid,
        dash(&key.x_name),
        key.client.as_deref().unwrap_or(&key.owner)
    );
    print!("Type the key's UID to confirm: ");
    let _ = std::io::stdout().flush();
    let mut answer = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut answer)
        .context("reading the confirmation")?;
    if answer.trim() != key.uid {
        return Err(CliError::NotConfirmed(
            "not confirmed; nothing changed".into(),
        ));
    }
    Ok(())
}

fn destroy(common: &CommonArgs, uid: &str, yes: bool) -> Result<(), CliError> {
    let admin = Admin::new(common)?;
    let request = || Request::DestroyKey {
        uid: uid.to_string(),
    };
    let current = one_key(
        &admin,
        Request::ShowKey {
            uid: uid.to_string(),
        },
    )?;
    // A key the server will refuse anyway (Active, already destroyed) is not worth a
    // question: the refusal says why.
    let refusable = current.state == "Active" || current.state.starts_with("Destroyed");
    if !yes && !refusable {
        confirm(&current)?;
    }
    let key = one_key(&admin, request())?;
    log::info!("admin {}: destroyed key {uid}", unix_user());
    if admin.json {
        println!("{}", json_out::line(&key));
    } else {
        println!(
            "key {uid} destroyed; its state is now {} and its material is erased",
            key.state
        );
    }
    Ok(())
}
