//! `keyward root migrate`: moves the master key to another root key provider while the server
//! is stopped. Only the wrapped master key changes; no sealed object is rewritten.

use clap::Subcommand;

use keyward::appliance::setup::{
    DATABASE_FILE, ROOT_KEY_FILE, ensure_appliance_id, keyprotect_config, open_local_root,
    stored_provider,
};
use keyward::config::{Config, RootProvider};
use keyward::keyprotect::KeyProtectRoot;
use keyward::keyprotect::migrate::migrate_root;
use keyward::seal::RootKeyProvider;
use keyward::seal::local::{FILE_PROVIDER, LocalRoot, PASSPHRASE_PROVIDER};
use keyward::store::redb::RedbStore;

use super::error::{CliError, Context};
use super::setup::{SetupArgs, load_config};

#[derive(Subcommand)]
pub enum RootCommand {
    /// Rewrap the master key under another root key provider, in one transaction. Stop the
    /// server first. `--to local` uses <data_dir>/root.key (created if absent) or
    /// [root] passphrase_file; `--to keyprotect` uses the [keyprotect] table of --config.
    /// Afterwards set [root] provider to the new provider.
    Migrate {
        /// The provider to move to: "local" or "keyprotect".
        #[arg(long, value_name = "local|keyprotect")]
        to: RootProvider,
        #[command(flatten)]
        setup: SetupArgs,
    },
}

pub fn run(command: &RootCommand) -> Result<(), CliError> {
    match command {
        RootCommand::Migrate { to, setup } => migrate(*to, &load_config(setup)?),
    }
}

fn migrate(to: RootProvider, config: &Config) -> Result<(), CliError> {
    // In a cluster the master key lives in etcd; every node must then be restarted (or, with
    // Key Protect, have the new root configured) before it can unwrap it again.
    let store: Box<dyn keyward::store::Store> = match &config.cluster {
        Some(cluster) => Box::new(keyward::store::etcd::EtcdStore::open(cluster)?),
        None => {
            let database = config.data_dir.join(DATABASE_FILE);
            if !database.exists() {
                return Err(CliError::Failed(format!(
                    "no database at {}; run `keyward init` first",
                    database.display()
                )));
            }
            Box::new(RedbStore::open(&database).hint("is the server still running? stop it first")?)
        }
    };
    let store = store.as_ref();
    let appliance_id = ensure_appliance_id(store)?;
    let from_name = stored_provider(store)?.ok_or_else(|| {
        CliError::Failed("the store has no master key yet; run `keyward init` first".into())
    })?;
    let from = stored_root(&from_name, config, &appliance_id)?;
    let target: Box<dyn RootKeyProvider> = match to {
        RootProvider::Local => open_local_root(config)?,
        RootProvider::Keyprotect => {
            let root = keyprotect_root(config, &appliance_id)?;
            root.preflight()
                .context("the configured root key cannot serve")?;
            Box::new(root)
        }
    };
    if target.name() == from_name {
        return Err(CliError::Usage(format!(
            "the master key is already wrapped by \"{from_name}\"; nothing to do"
        )));
    }
    migrate_root(store, from.as_ref(), target.as_ref())?;
    println!(
        "the master key is now wrapped by root key provider \"{}\" (was \"{from_name}\")",
        target.name()
    );
    println!(
        "before starting the server, set in the configuration file:\n  [root]\n  provider = \"{}\"",
        to.name()
    );
    if from_name == FILE_PROVIDER {
        println!(
            "{} no longer opens the master key; keep it only as long as you keep backups \
             made before this migration",
            config.data_dir.join(ROOT_KEY_FILE).display()
        );
    }
    Ok(())
}

/// The provider that wrapped the stored master key, built from its recorded name.
fn stored_root(
    name: &str,
    config: &Config,
    appliance_id: &str,
) -> Result<Box<dyn RootKeyProvider>, CliError> {
    match name {
        FILE_PROVIDER => {
            let path = config.data_dir.join(ROOT_KEY_FILE);
            if !path.exists() {
                return Err(CliError::Failed(format!(
                    "the master key is wrapped by the local root key file, but {} is missing",
                    path.display()
                )));
            }
            Ok(Box::new(LocalRoot::open_or_create(&path)?))
        }
        PASSPHRASE_PROVIDER => {
            if config.root.passphrase_file.is_none() {
                return Err(CliError::Usage(
                    "the master key is wrapped by a passphrase root: give --config \
                     with [root] passphrase_file"
                        .into(),
                ));
            }
            Ok(open_local_root(config)?)
        }
        "keyprotect" => Ok(Box::new(keyprotect_root(config, appliance_id)?)),
        other => Err(CliError::Failed(format!(
            "unknown root key provider \"{other}\" in the store"
        ))),
    }
}

fn keyprotect_root(config: &Config, appliance_id: &str) -> Result<KeyProtectRoot, CliError> {
    let kp_config = keyprotect_config(config)?;
    Ok(KeyProtectRoot::from_config(kp_config, appliance_id)?)
}
