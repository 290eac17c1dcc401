//! `keyward cluster …`: start a cluster on etcd, join a node to it (its etcd member too),
//! remove an etcd member, show its state, and move a single appliance's redb store into a new
//! cluster. Every command needs the `[cluster]` table in --config (etcd endpoints, this node's
//! own member first). See docs/cluster.md.

use std::fs;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;

use clap::Subcommand;

use keyward::appliance::setup::{
    DATABASE_FILE, PASSPHRASE_PARAMS_FILE, ROOT_KEY_FILE, create_private_dir,
};
use keyward::config::{Config, RootProvider};
use keyward::pki;
use keyward::seal::META_WRAPPED_MASTER_KEY;
use keyward::store::Store;
use keyward::store::etcd::gateway::Gateway;
use keyward::store::etcd::{ClusterConfig, EtcdStore};
use keyward::store::redb::RedbStore;

use super::error::{CliError, Context};
use super::init::init as set_up;
use super::setup::{SetupArgs, load_config};

mod etcd_member;
pub use etcd_member::EtcdMemberArgs;

#[derive(Subcommand)]
pub enum ClusterCommand {
    /// Start a new cluster from this node: records the schema, makes the master key (wrapped
    /// by this node's root key) and publishes this node's CA as the cluster CA.
    Init {
        #[command(flatten)]
        setup: SetupArgs,
    },
    /// Join this node to an existing cluster. With --etcd-name (and its URLs) it first
    /// adds this node's etcd member (as a learner), writes the settings etcd must start with
    /// (--etcd-env-out), waits for the member to start and catch up, and promotes it. Then,
    /// with the local root, give the cluster's root key file (--root-key-file) or configure the
    /// same passphrase file; with Key Protect, this node unwraps the cluster's master key with
    /// its own credentials.
    Join {
        /// etcd client URL of a member of the cluster (default: the configured endpoints).
        #[arg(long, value_name = "URL")]
        peer: Vec<String>,
        #[command(flatten)]
        member: Box<EtcdMemberArgs>,
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
    /// Remove an etcd member (MemberRemove), by name, hex ID or peer URL. Refuses to remove
    /// the last voting member. Stop that node's etcd and Keyward afterwards.
    RemoveMember {
        /// The member's name, its hex ID (as `cluster status` prints it) or one of its peer URLs.
        #[arg(value_name = "NAME")]
        member: String,
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

pub fn run(command: &ClusterCommand) -> Result<(), CliError> {
    match command {
        ClusterCommand::Init { setup } => init(setup),
        ClusterCommand::Join {
            peer,
            member,
            root_key_file,
            passphrase_params,
            setup,
        } => join(
            setup,
            peer,
            member,
            root_key_file.as_ref(),
            passphrase_params.as_ref(),
        ),
        ClusterCommand::RemoveMember { member, setup } => remove_member(setup, member),
        ClusterCommand::Status { setup } => status(setup),
        ClusterCommand::Migrate {
            from_data_dir,
            setup,
        } => migrate(setup, from_data_dir),
    }
}

fn cluster_config(config: &Config) -> Result<ClusterConfig, CliError> {
    config.cluster.clone().ok_or_else(|| {
        CliError::Failed(
            "the configuration has no [cluster] table (etcd endpoints); see docs/cluster.md".into(),
        )
    })
}

fn open(cluster: &ClusterConfig) -> Result<EtcdStore, CliError> {
    EtcdStore::open(cluster).context("cannot use etcd")
}

fn init(setup: &SetupArgs) -> Result<(), CliError> {
    let config = load_config(setup)?;
    let cluster = cluster_config(&config)?;
    let store = open(&cluster)?;
    if store
        .read()
        .and_then(|v| v.get_meta(META_WRAPPED_MASTER_KEY))?
        .is_some()
    {
        return Err(CliError::Failed(format!(
            "a cluster already exists under prefix {:?}; use `keyward cluster join`",
            cluster.prefix
        )));
    }
    drop(store);
    set_up(setup, None, None)?;
    println!("cluster started; join the other nodes with `keyward cluster join`");
    Ok(())
}

fn join(
    setup: &SetupArgs,
    peers: &[String],
    member: &EtcdMemberArgs,
    root_key_file: Option<&PathBuf>,
    passphrase_params: Option<&PathBuf>,
) -> Result<(), CliError> {
    let config = load_config(setup)?;
    let mut cluster = cluster_config(&config)?;
    if !peers.is_empty() {
        // Only to check the cluster exists: the node itself keeps its configured endpoints.
        cluster.endpoints = peers.to_vec();
    }
    let store = open(&cluster)?;
    if store
        .read()
        .and_then(|v| v.get_meta(META_WRAPPED_MASTER_KEY))?
        .is_none()
    {
        return Err(CliError::Failed(
            "no cluster there yet (no master key in etcd): run `keyward cluster init` on the \
             first node"
                .into(),
        ));
    }
    if let Some(name) = &member.etcd_name {
        let finished = etcd_member::join(store.gateway(), name, member, cluster.max_txn_ops)?;
        if !finished {
            return Ok(());
        }
    }
    drop(store);
    if let Some(source) = root_key_file {
        if config.root.provider != RootProvider::Local {
            return Err(CliError::Failed(
                "--root-key-file is for the local root provider".into(),
            ));
        }
        copy_root_key(source, &config.data_dir)?;
    }
    if let Some(params) = passphrase_params {
        create_private_dir(&config.data_dir)?;
        copy_if_absent(params, &config.data_dir.join(PASSPHRASE_PARAMS_FILE), 0o600)?;
    }
    set_up(setup, None, None)?;
    println!("joined the cluster");
    Ok(())
}

fn copy_root_key(source: &PathBuf, data_dir: &std::path::Path) -> Result<(), CliError> {
    let key = zeroize::Zeroizing::new(
        fs::read(source).with_context(|| format!("reading {}", source.display()))?,
    );
    create_private_dir(data_dir)?;
    let target = data_dir.join(ROOT_KEY_FILE);
    if let Ok(existing) = fs::read(&target) {
        if existing == *key {
            return Ok(());
        }
        return Err(CliError::Failed(format!(
            "{} exists and holds another root key; remove it to join",
            target.display()
        )));
    }
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&target)
        .with_context(|| format!("creating {}", target.display()))?;
    file.write_all(&key)
        .and_then(|_| file.sync_all())
        .with_context(|| format!("writing {}", target.display()))
}

fn copy_if_absent(from: &std::path::Path, to: &std::path::Path, mode: u32) -> Result<(), CliError> {
    if to.exists() || !from.is_file() {
        return Ok(());
    }
    let bytes = zeroize::Zeroizing::new(
        fs::read(from).with_context(|| format!("reading {}", from.display()))?,
    );
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(to)
        .with_context(|| format!("creating {}", to.display()))?;
    file.write_all(&bytes)
        .and_then(|_| file.sync_all())
        .with_context(|| format!("writing {}", to.display()))
}

fn remove_member(setup: &SetupArgs, wanted: &str) -> Result<(), CliError> {
    let config = load_config(setup)?;
    let cluster = cluster_config(&config)?;
    // The gateway alone: removing a member must work whatever the Keyward data in etcd is.
    let gateway = Gateway::new(&cluster).context("cannot use etcd")?;
    let list = gateway
        .member_list()
        .context("cannot list the etcd members")?;
    let target = etcd_member::find(&list.members, wanted).ok_or_else(|| {
        CliError::Failed(format!(
            "no etcd member is named, numbered or reached at \"{wanted}\" (see `keyward cluster status`)"
        ))
    })?;
    let voters_left = list
        .members
        .iter()
        .filter(|m| m.id != target.id && !m.is_learner)
        .count();
    if voters_left == 0 {
        return Err(CliError::Failed(format!(
            "refusing to remove {}: it is the cluster's last voting member, and etcd would be \
             left without any",
            etcd_member::describe(target)
        )));
    }
    gateway.member_remove(target.id).map_err(|e| {
        // etcd's strict reconfiguration check: every member must have been connected for a
        // few seconds, so that the removal cannot cost the quorum.
        let source: Box<dyn std::error::Error + Send + Sync> =
            if e.to_string().contains("unhealthy cluster") {
                Box::new(CliError::Hinted {
                    hint: "etcd refuses membership changes until every voting member has been \
                           connected for 5 s; start the missing members or try again shortly"
                        .into(),
                    source: Box::new(e),
                })
            } else {
                Box::new(e)
            };
        CliError::Context {
            context: format!("etcd did not remove {}", etcd_member::describe(target)),
            source,
        }
    })?;
    println!(
        "removed {}; stop etcd on that node and remove its data directory before it joins again",
        etcd_member::describe(target)
    );
    Ok(())
}

fn status(setup: &SetupArgs) -> Result<(), CliError> {
    let config = load_config(setup)?;
    let cluster = cluster_config(&config)?;
    let store = open(&cluster)?;
    // One read first, so the health below reflects a fresh attempt.
    let readable = store.read().map(|_| ());
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
                let role = if Some(m.id) == leader {
                    "leader"
                } else if m.is_learner {
                    "learner (not voting yet)"
                } else {
                    ""
                };
                if m.is_started() {
                    println!(
                        "  {:016x}  {:<10} {:<40} {role}",
                        m.id,
                        m.name,
                        m.client_urls.join(",")
                    );
                } else {
                    println!(
                        "  {:016x}  {:<10} {:<40} {role}",
                        m.id,
                        "(unstarted)",
                        format!("peer {}", m.peer_urls.join(","))
                    );
                }
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
    readable.context("etcd cannot be read at all")
}

fn migrate(setup: &SetupArgs, from: &std::path::Path) -> Result<(), CliError> {
    let config = load_config(setup)?;
    let cluster = cluster_config(&config)?;
    let source = RedbStore::open(&from.join(DATABASE_FILE))
        .with_context(|| format!("opening {}", from.join(DATABASE_FILE).display()))?;
    let target = open(&cluster)?;
    let (meta, objects) = source.export_all()?;
    let count = keyward::store::etcd::migrate::copy_into(&target, &meta, &objects)?;
    if from.join(ROOT_KEY_FILE).is_file() && config.root.provider == RootProvider::Local {
        copy_root_key(&from.join(ROOT_KEY_FILE), &config.data_dir)?;
    }
    create_private_dir(&config.data_dir)?;
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
