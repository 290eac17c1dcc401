//! `keyward cluster …`: start a cluster on etcd, join a node to it, show its state, and move a
//! single appliance's redb store into a new cluster. Every command needs the `[cluster]`
//! table in --config (etcd endpoints, this node's own member first). See docs/cluster.md.

use std::fs;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;

use clap::Subcommand;

use keyward::config::{Config, RootProvider};
use keyward::pki;
use keyward::seal::META_WRAPPED_MASTER_KEY;
use keyward::server::setup::{DATABASE_FILE, PASSPHRASE_PARAMS_FILE, ROOT_KEY_FILE};
use keyward::store::Store;
use keyward::store::etcd::{ClusterConfig, EtcdStore};
use keyward::store::redb::RedbStore;

use crate::{SetupArgs, load_config};

#[derive(Subcommand)]
pub enum ClusterCommand {
    /// Start a new cluster from this node: records the schema, makes the master key (wrapped
    /// by this node's root key) and publishes this node's CA as the cluster CA.
    Init {
        #[command(flatten)]
        setup: SetupArgs,
    },
    /// Join this node to an existing cluster. With the local root, give the cluster's root key
    /// file (--root-key-file) or configure the same passphrase file; with Key Protect, this
    /// node unwraps the cluster's master key with its own credentials.
    Join {
        /// etcd client URL of a member of the cluster (default: the configured endpoints).
        #[arg(long, value_name = "URL")]
        peer: Vec<String>,
        /// The cluster's root key file (root.key of the first node), copied in with mode 0600.
        #[arg(long, value_name = "FILE")]
        root_key_file: Option<PathBuf>,
        /// With a passphrase root: the first node's Argon2 parameters file (root.argon2), so
        /// the same passphrase derives the same root key here.
        #[arg(long, value_name = "FILE")]
        passphrase_params: Option<PathBuf>,
        #[command(flatten)]
        setup: SetupArgs,
    },
    /// etcd members, the leader, the revision, and this node's view of the cluster's health.
    Status {
        #[command(flatten)]
        setup: SetupArgs,
    },
    /// Copy a single appliance's store (objects, client registry, wrapped master key) into a
    /// new, empty cluster without changing any Unique Identifier. Stop the appliance first.
    Migrate {
        /// Data directory of the single appliance (holds keyward.redb and root.key).
        #[arg(long, value_name = "DIR")]
        from_data_dir: PathBuf,
        #[command(flatten)]
        setup: SetupArgs,
    },
}

pub fn run(command: &ClusterCommand) -> Result<(), String> {
    match command {
        ClusterCommand::Init { setup } => init(setup),
        ClusterCommand::Join {
            peer,
            root_key_file,
            passphrase_params,
            setup,
        } => join(
            setup,
            peer,
            root_key_file.as_ref(),
            passphrase_params.as_ref(),
        ),
        ClusterCommand::Status { setup } => status(setup),
        ClusterCommand::Migrate {
            from_data_dir,
            setup,
        } => migrate(setup, from_data_dir),
    }
}

fn cluster_config(config: &Config) -> Result<ClusterConfig, String> {
    config.cluster.clone().ok_or_else(|| {
        "the configuration has no [cluster] table (etcd endpoints); see docs/cluster.md".into()
    })
}

fn open(cluster: &ClusterConfig) -> Result<EtcdStore, String> {
    EtcdStore::open(cluster).map_err(|e| format!("cannot use etcd: {e}"))
}

fn init(setup: &SetupArgs) -> Result<(), String> {
    let config = load_config(setup)?;
    let cluster = cluster_config(&config)?;
    let store = open(&cluster)?;
    if store
        .read()
        .and_then(|v| v.get_meta(META_WRAPPED_MASTER_KEY))
        .map_err(|e| e.to_string())?
        .is_some()
    {
        return Err(format!(
            "a cluster already exists under prefix {:?}; use `keyward cluster join`",
            cluster.prefix
        ));
    }
    drop(store);
    crate::init(setup, None)?;
    println!("cluster started; join the other nodes with `keyward cluster join`");
    Ok(())
}

fn join(
    setup: &SetupArgs,
    peers: &[String],
    root_key_file: Option<&PathBuf>,
    passphrase_params: Option<&PathBuf>,
) -> Result<(), String> {
    let config = load_config(setup)?;
    let mut cluster = cluster_config(&config)?;
    if !peers.is_empty() {
        // Only to check the cluster exists: the node itself keeps its configured endpoints.
        cluster.endpoints = peers.to_vec();
    }
    let store = open(&cluster)?;
    if store
        .read()
        .and_then(|v| v.get_meta(META_WRAPPED_MASTER_KEY))
        .map_err(|e| e.to_string())?
        .is_none()
    {
        return Err(
            "no cluster there yet (no master key in etcd): run `keyward cluster init` on the \
             first node"
                .into(),
        );
    }
    drop(store);
    if let Some(source) = root_key_file {
        if config.root.provider != RootProvider::Local {
            return Err("--root-key-file is for the local root provider".into());
        }
        copy_root_key(source, &config.data_dir)?;
    }
    if let Some(params) = passphrase_params {
        keyward::server::setup::create_private_dir(&config.data_dir).map_err(|e| e.to_string())?;
        copy_if_absent(params, &config.data_dir.join(PASSPHRASE_PARAMS_FILE), 0o600)?;
    }
    crate::init(setup, None)?;
    println!("joined the cluster");
    Ok(())
}

fn copy_root_key(source: &PathBuf, data_dir: &std::path::Path) -> Result<(), String> {
    let key = zeroize::Zeroizing::new(
        fs::read(source).map_err(|e| format!("reading {}: {e}", source.display()))?,
    );
    keyward::server::setup::create_private_dir(data_dir).map_err(|e| e.to_string())?;
    let target = data_dir.join(ROOT_KEY_FILE);
    if let Ok(existing) = fs::read(&target) {
        if existing == *key {
            return Ok(());
        }
        return Err(format!(
            "{} exists and holds another root key; remove it to join",
            target.display()
        ));
    }
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&target)
        .map_err(|e| format!("creating {}: {e}", target.display()))?;
    file.write_all(&key)
        .and_then(|_| file.sync_all())
        .map_err(|e| format!("writing {}: {e}", target.display()))
}

fn copy_if_absent(from: &std::path::Path, to: &std::path::Path, mode: u32) -> Result<(), String> {
    if to.exists() || !from.is_file() {
        return Ok(());
    }
    let bytes = zeroize::Zeroizing::new(
        fs::read(from).map_err(|e| format!("reading {}: {e}", from.display()))?,
    );
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(to)
        .map_err(|e| format!("creating {}: {e}", to.display()))?;
    file.write_all(&bytes)
        .and_then(|_| file.sync_all())
        .map_err(|e| format!("writing {}: {e}", to.display()))
}

fn status(setup: &SetupArgs) -> Result<(), String> {
    let config = load_config(setup)?;
    let cluster = cluster_config(&config)?;
    let store = open(&cluster)?;
    // One read first, so the health below reflects a fresh attempt.
    let readable = store.read().map(|_| ()).map_err(|e| e.to_string());
    let members = store.gateway().member_list();
    let statuses = store.member_status();
    let health = store.health();
    let leader = statuses
        .iter()
        .find_map(|(_, s)| s.as_ref().map(|s| s.leader));
    match &members {
        Ok(list) => {
            println!("members:");
            for m in &list.members {
                let role = if Some(m.id) == leader { "leader" } else { "" };
                println!(
                    "  {:016x}  {:<10} {:<40} {role}",
                    m.id,
                    m.name,
                    m.client_urls.join(",")
                );
            }
        }
        Err(e) => println!("members: unknown ({e})"),
    }
    println!("endpoints:");
    for (url, status) in &statuses {
        match status {
            Some(s) => println!(
                "  {url:<40} up    etcd {} revision {} leader {:016x}",
                s.version, s.header.revision, s.leader
            ),
            None => println!("  {url:<40} DOWN"),
        }
    }
    println!("revision: {}", health.revision);
    super::cluster_nodes::print(&store);
    if health.quorum {
        println!("this node: healthy (quorum; reads linearizable, changes accepted)");
    } else {
        println!(
            "this node: DEGRADED since {} (no quorum: existing keys served, changes refused): {}",
            health.degraded_since.unwrap_or(0),
            health.last_error.unwrap_or_default()
        );
    }
    readable.map_err(|e| format!("etcd cannot be read at all: {e}"))
}

fn migrate(setup: &SetupArgs, from: &std::path::Path) -> Result<(), String> {
    let config = load_config(setup)?;
    let cluster = cluster_config(&config)?;
    let source = RedbStore::open(&from.join(DATABASE_FILE))
        .map_err(|e| format!("opening {}: {e}", from.join(DATABASE_FILE).display()))?;
    let target = open(&cluster)?;
    let (meta, objects) = source.export_all().map_err(|e| e.to_string())?;
    let count = keyward::store::etcd::migrate::copy_into(&target, &meta, &objects)
        .map_err(|e| e.to_string())?;
    if from.join(ROOT_KEY_FILE).is_file() && config.root.provider == RootProvider::Local {
        copy_root_key(&from.join(ROOT_KEY_FILE), &config.data_dir)?;
    }
    keyward::server::setup::create_private_dir(&config.data_dir).map_err(|e| e.to_string())?;
    copy_if_absent(
        &from.join(PASSPHRASE_PARAMS_FILE),
        &config.data_dir.join(PASSPHRASE_PARAMS_FILE),
        0o600,
    )?;
    // The appliance's CA becomes the cluster CA (published when this node first starts), so
    // vCenter, which trusts it already, trusts every node.
    for (file, mode) in [
        (pki::CA_CERT_FILE, 0o644),
        (pki::CA_KEY_FILE, 0o600),
        (pki::SERVER_CERT_FILE, 0o644),
        (pki::SERVER_KEY_FILE, 0o600),
    ] {
        copy_if_absent(&from.join(file), &config.data_dir.join(file), mode)?;
    }
    println!(
        "copied {count} object(s) and {} meta value(s) into the cluster; UIDs unchanged",
        meta.len()
    );
    println!("now start this node with `keyward serve --config …` and join the others");
    Ok(())
}
