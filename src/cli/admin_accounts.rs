//! `keyward admin-user add|list|remove|passwd` and `keyward api-token create|list|revoke`: the
//! accounts and tokens of the HTTPS admin API. They live in a file of the data directory
//! (`admin_http::accounts`), so these commands work the same with the server running or not,
//! and a running server sees a change at the next request. Every change is an audit record
//! (`admin_user.*`, `api_token.*`; `keyward::admin::account_event`).

use clap::Subcommand;
use keyward::admin::account_event::{AccountChange, AccountEvent};
use keyward::admin::protocol::{Reply, Request};
use keyward::admin_http::accounts::{AccountError, Accounts, Role};

use super::error::CliError;
use super::setup::{SetupArgs, load_config};

#[derive(Subcommand)]
pub enum AdminUserCommand {
    /// Create an account; the password is asked on the terminal, or read from the first line
    /// of standard input with --password-stdin.
    Add {
        #[command(flatten)]
        setup: SetupArgs,
        name: String,
        /// admin (everything), operator (clients and keys, no destroy) or auditor (read-only).
        #[arg(long)]
        role: Role,
        #[arg(long)]
        password_stdin: bool,
    },
    /// List the accounts and their roles.
    List {
        #[command(flatten)]
        setup: SetupArgs,
    },
    /// Delete an account; its open sessions end at their next request.
    Remove {
        #[command(flatten)]
        setup: SetupArgs,
        name: String,
    },
    /// Set an account's password.
    Passwd {
        #[command(flatten)]
        setup: SetupArgs,
        name: String,
        #[arg(long)]
        password_stdin: bool,
    },
    /// Turn the one-time-code second factor (TOTP, RFC 6238) on or off for an account.
    Totp {
        #[command(subcommand)]
        command: TotpCommand,
    },
}

#[derive(Subcommand)]
pub enum TotpCommand {
    /// Make a new TOTP secret for the account and print it once as an otpauth:// URI (for an
    /// authenticator app); logins then need the current code too. Replaces an earlier secret.
    Enable {
        #[command(flatten)]
        setup: SetupArgs,
        name: String,
    },
    /// Back to password only.
    Disable {
        #[command(flatten)]
        setup: SetupArgs,
        name: String,
    },
}

#[derive(Subcommand)]
pub enum ApiTokenCommand {
    /// Create a token for automation; it is printed once and only its hash is kept.
    Create {
        #[command(flatten)]
        setup: SetupArgs,
        name: String,
        #[arg(long)]
        role: Role,
        /// Days until the token expires (1–3650).
        #[arg(long, default_value_t = 90)]
        days: u32,
    },
    /// List tokens: role, expiry, revoked or not (never the token itself).
    List {
        #[command(flatten)]
        setup: SetupArgs,
    },
    /// Revoke a token; it is refused from the next request on.
    Revoke {
        #[command(flatten)]
        setup: SetupArgs,
        name: String,
    },
}

fn password(stdin: bool) -> Result<zeroize::Zeroizing<String>, CliError> {
    if stdin {
        return super::unseal::read_stdin_line();
    }
    let first = keyward::backup::passphrase::prompt_hidden("password: ")?;
    let again = keyward::backup::passphrase::prompt_hidden("password again: ")?;
    if *first != *again {
        return Err(CliError::Usage("the two passwords differ".into()));
    }
    Ok(first)
}

fn edit(
    setup: &SetupArgs,
    change: impl FnOnce(&mut Accounts) -> Result<(), AccountError>,
) -> Result<(), CliError> {
    let config = load_config(setup)?;
    let mut accounts = Accounts::load(&config.data_dir)?;
    change(&mut accounts)?;
    Ok(accounts.save(&config.data_dir)?)
}

/// Records a change already made in the audit log: through the running server's admin socket,
/// or in the database directly without one (as every admin request). A change the log cannot
/// take is reported on standard error but not undone: the accounts file is what logins obey,
/// and the appliance's first boot must not end without its first account over it.
fn audited(setup: &SetupArgs, change: AccountChange, name: &str, role: Option<Role>) {
    let event = AccountEvent {
        change,
        name: name.to_string(),
        role: role.map(|r| r.label().to_string()),
    };
    match super::admin_call::call(setup, Request::AccountEvent(event)) {
        Ok(Reply::Done) => {}
        Ok(other) => eprintln!(
            "warning: the audit log did not take this change: {}",
            CliError::unexpected(&other)
        ),
        Err(e) => eprintln!("warning: the audit log did not take this change: {e}"),
    }
}

fn date(unix: i64) -> String {
    super::table::utc(unix)
}

pub fn run_user(command: &AdminUserCommand) -> Result<(), CliError> {
    match command {
        AdminUserCommand::Add {
            setup,
            name,
            role,
            password_stdin,
        } => {
            let password = password(*password_stdin)?;
            edit(setup, |a| a.add_user(name, *role, password.as_bytes()))?;
            audited(setup, AccountChange::UserAdd, name, Some(*role));
            println!("added account {name} ({})", role.label());
        }
        AdminUserCommand::List { setup } => {
            let config = load_config(setup)?;
            let accounts = Accounts::load(&config.data_dir)?;
            println!("{:<24} {:<9} {:<5} CREATED", "NAME", "ROLE", "TOTP");
            for user in &accounts.users {
                println!(
                    "{:<24} {:<9} {:<5} {}",
                    user.name,
                    user.role.label(),
                    if user.totp_sealed.is_some() {
                        "on"
                    } else {
                        "off"
                    },
                    date(user.created)
                );
            }
        }
        AdminUserCommand::Remove { setup, name } => {
            edit(setup, |a| a.remove_user(name).map(|_| ()))?;
            audited(setup, AccountChange::UserRemove, name, None);
            println!("removed account {name}");
        }
        AdminUserCommand::Passwd {
            setup,
            name,
            password_stdin,
        } => {
            let password = password(*password_stdin)?;
            edit(setup, |a| a.set_password(name, password.as_bytes()))?;
            audited(setup, AccountChange::UserPasswd, name, None);
            println!("changed the password of {name}");
        }
        AdminUserCommand::Totp { command } => totp(command)?,
    }
    Ok(())
}

fn totp(command: &TotpCommand) -> Result<(), CliError> {
    match command {
        TotpCommand::Enable { setup, name } => {
            let config = load_config(setup)?;
            let mut secret = None;
            edit(setup, |a| {
                secret = Some(a.enable_totp(&config.data_dir, name)?);
                Ok(())
            })?;
            audited(setup, AccountChange::UserTotpEnable, name, None);
            if let Some(secret) = secret {
                eprintln!(
                    "TOTP on for {name}; add this to an authenticator app (shown only now), then \
                     log in with the current code:"
                );
                println!("{}", secret.otpauth_uri(name).as_str());
            }
        }
        TotpCommand::Disable { setup, name } => {
            let mut was_on = false;
            edit(setup, |a| {
                was_on = a.disable_totp(name)?;
                Ok(())
            })?;
            if was_on {
                audited(setup, AccountChange::UserTotpDisable, name, None);
                println!("TOTP off for {name}: the password alone logs in");
            } else {
                println!("{name} had no TOTP; nothing changed");
            }
        }
    }
    Ok(())
}

pub fn run_token(command: &ApiTokenCommand) -> Result<(), CliError> {
    match command {
        ApiTokenCommand::Create {
            setup,
            name,
            role,
            days,
        } => {
            let mut token = None;
            edit(setup, |a| {
                token = Some(a.create_token(name, *role, *days)?);
                Ok(())
            })?;
            audited(setup, AccountChange::TokenCreate, name, Some(*role));
            if let Some(token) = token {
                eprintln!(
                    "token {name} ({}), expires in {days} day(s); shown only now:",
                    role.label()
                );
                println!("{}", token.as_str());
            }
        }
        ApiTokenCommand::List { setup } => {
            let config = load_config(setup)?;
            let accounts = Accounts::load(&config.data_dir)?;
            println!("{:<24} {:<9} {:<20} STATE", "NAME", "ROLE", "EXPIRES");
            let now = keyward::admin_http::accounts::now();
            for token in &accounts.tokens {
                let state = if token.revoked {
                    "revoked"
                } else if now >= token.expires {
                    "expired"
                } else {
                    "valid"
                };
                println!(
                    "{:<24} {:<9} {:<20} {state}",
                    token.name,
                    token.role.label(),
                    date(token.expires)
                );
            }
        }
        ApiTokenCommand::Revoke { setup, name } => {
            edit(setup, |a| a.revoke_token(name))?;
            audited(setup, AccountChange::TokenRevoke, name, None);
            println!("revoked token {name}");
        }
    }
    Ok(())
}
