//! First run and every start: the data directory, the appliance PKI, the root key, the store
//! and the master key, wired into an engine. Shared by `keyward serve` and `keyward init`.

use std::fs;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use zeroize::Zeroizing;

use super::error::ApplianceError;
use crate::audit::{self, Actor, AuditContext, AuditEvent};
use crate::cluster::Cluster;
use crate::config::{Config, RootProvider};
use crate::engine::{Engine, EngineConfig, KeyGate};
use crate::keyprotect::{self, KeyProtectConfig, KeyProtectRoot};
use crate::pki::{self, AppliancePki};
use crate::seal::local::LocalRoot;
use crate::seal::{self, META_MASTER_KEY_PROVIDER, META_WRAPPED_MASTER_KEY, RootKeyProvider};
use crate::server::cluster_trust;
use crate::server::identity::{ClientTrust, SharedTrust};
use crate::server::metrics::Metrics;
use crate::server::tls::TlsMaterial;
use crate::server::unseal;
use crate::server::{ServerOptions, Services};
use crate::store::Store;
use crate::store::appliance_id::{META_APPLIANCE_ID, META_NODE_ID};
use crate::store::etcd::{ClusterConfig, EtcdStore};
use crate::store::node::ClusterNodeStore;
use crate::store::redb::RedbStore;

pub const ROOT_KEY_FILE: &str = "root.key";
pub const PASSPHRASE_PARAMS_FILE: &str = "root.argon2";
pub const DATABASE_FILE: &str = "keyward.redb";

/// Everything a running appliance needs, opened and checked.
pub struct Appliance {
    pub config: Config,
    pub pki: AppliancePki,
    pub engine: Arc<Engine>,
    pub store: Arc<dyn Store>,
    /// A cluster node's cluster service, beside its store; `None` for a single appliance.
    pub cluster: Option<Arc<Cluster>>,
    pub appliance_id: String,
    /// With `[root] provider = "keyprotect"`: the root key the sync thread watches.
    pub keyprotect: Option<Arc<KeyProtectRoot>>,
    /// Why the appliance started sealed (Key Protect refused or could not be reached).
    pub sealed_at_start: Option<String>,
    /// The audit log's chain key (derived from the master key once it is held).
    pub audit: Arc<AuditContext>,
    /// Counters of this process, shared by the loop, the committer and the root sync.
    pub metrics: Arc<Metrics>,
}

impl Appliance {
    /// Creates whatever is missing in the data directory, then opens it all.
    pub fn open(config: Config) -> Result<Appliance, ApplianceError> {
        Appliance::open_with(config, None)
    }

    /// [`Appliance::open`] with the passphrase an operator typed, for `[root] seal_at_start`:
    /// with it the master key is opened (or made, on a first run); without it an initialised
    /// appliance opens sealed and waits for `keyward unseal`.
    pub fn open_with(
        config: Config,
        operator_passphrase: Option<&[u8]>,
    ) -> Result<Appliance, ApplianceError> {
        let data_dir = config.data_dir.clone();
        create_private_dir(&data_dir)?;
        let OpenedStore { store, cluster } = open_store(&config)?;
        let store_ref = store.as_ref();
        let appliance_id = ensure_appliance_id(store_ref)?;
        let RootState {
            gate,
            keyprotect,
            sealed_at_start,
        } = open_root(&config, store_ref, &appliance_id, operator_passphrase)?;
        let pki = ensure_pki(&config, store_ref, &gate)?;
        let engine_config = EngineConfig {
            limits: ServerOptions::from_settings(&config.server).limits,
            max_batch_items: config.server.max_batch_items,
            unique_names: config.kmip.unique_names,
            ..EngineConfig::default()
        };
        let engine = Arc::new(Engine::with_gate(engine_config, Arc::new(gate)));
        let audit = open_audit(&config, store_ref, &engine, sealed_at_start.is_none())?;
        let metrics = Arc::new(Metrics::new());
        metrics.set_provider(config.root.provider.name());
        Ok(Appliance {
            audit,
            config,
            pki,
            engine,
            store,
            cluster,
            appliance_id,
            keyprotect,
            sealed_at_start,
            metrics,
        })
    }

    /// The registered clients as the next handshakes will see them.
    pub fn client_trust(&self) -> Result<SharedTrust, ApplianceError> {
        Ok(Arc::new(RwLock::new(ClientTrust::load(
            self.store.as_ref(),
        )?)))
    }

    pub fn tls_material(&self, client_trust: SharedTrust) -> Result<TlsMaterial, ApplianceError> {
        let mut trusted_ca_files: Vec<PathBuf> = vec![self.pki.ca_cert.clone()];
        trusted_ca_files.extend(self.config.tls.trusted_ca_files.iter().cloned());
        Ok(TlsMaterial {
            server_cert: self.pki.server_cert.clone(),
            server_key: self.pki.server_key.clone(),
            trusted_ca_files,
            pinned_fingerprints: self.config.tls.pinned_fingerprints()?,
            client_trust,
        })
    }

    pub fn services(&self) -> Result<Services, ApplianceError> {
        let trust = self.client_trust()?;
        Ok(Services {
            engine: self.engine.clone(),
            store: self.store.clone(),
            tls: crate::server::tls::server_config(&self.tls_material(trust.clone())?)?,
            trust,
            audit: audit_enabled(&self.config).then(|| self.audit.clone()),
            metrics: self.metrics.clone(),
            passphrase_params: self
                .config
                .root
                .seal_at_start
                .then(|| self.config.data_dir.join(PASSPHRASE_PARAMS_FILE)),
            cluster: self.cluster.clone(),
        })
    }
}

/// The store this configuration names: the local redb file of a single appliance, or, with a
/// `[cluster]` table, etcd for the shared state beside the local redb file that keeps this
/// node's audit chain (`crate::store::node`), with the node's cluster service over the same
/// etcd connection (`crate::cluster`).
pub fn open_store(config: &Config) -> Result<OpenedStore, ApplianceError> {
    let local = RedbStore::open_with(
        &config.data_dir.join(DATABASE_FILE),
        config.store.redb_options(),
    )?
    .with_disk_reserve(config.store.disk_reserve_bytes());
    Ok(match &config.cluster {
        Some(cluster) => {
            let node = open_cluster_node(cluster, local)?;
            let cluster = Arc::new(Cluster::of(&node));
            OpenedStore {
                store: Arc::new(node),
                cluster: Some(cluster),
            }
        }
        None => OpenedStore {
            store: Arc::new(local),
            cluster: None,
        },
    })
}

/// What [`open_store`] opens: the store, and beside it a cluster node's cluster service
/// (`None` for a single appliance).
pub struct OpenedStore {
    pub store: Arc<dyn Store>,
    pub cluster: Option<Arc<Cluster>>,
}

/// A cluster node's store over `local`, which gets this node's id on first use.
pub fn open_cluster_node(
    cluster: &ClusterConfig,
    local: RedbStore,
) -> Result<ClusterNodeStore, ApplianceError> {
    let node_id = ensure_id(&local, META_NODE_ID, "cluster node")?;
    Ok(ClusterNodeStore::new(
        EtcdStore::open(cluster)?,
        local,
        node_id,
    ))
}

/// Whether the server certificate exists (it is removed when the CA under it changed).
/// The master key gate as the root provider leaves it, with the Key Protect root to watch and
/// why the appliance starts sealed, if it does.
struct RootState {
    gate: KeyGate,
    keyprotect: Option<Arc<KeyProtectRoot>>,
    sealed_at_start: Option<String>,
}

/// Opens the master key under the configured root (a local key file, an operator's
/// passphrase, or Key Protect); a root that cannot give it yet leaves the gate sealed.
fn open_root(
    config: &Config,
    store_ref: &dyn Store,
    appliance_id: &str,
    operator_passphrase: Option<&[u8]>,
) -> Result<RootState, ApplianceError> {
    let (gate, keyprotect, sealed_at_start) = match config.root.provider {
        RootProvider::Local if config.root.seal_at_start => {
            match open_by_operator(store_ref, &config.data_dir, operator_passphrase)? {
                Some(master) => (KeyGate::unsealed(Arc::new(master)), None, None),
                None => {
                    let reason = unseal::AWAITING_PASSPHRASE.to_string();
                    log::warn!("starting SEALED: {reason}");
                    (KeyGate::sealed(reason.clone()), None, Some(reason))
                }
            }
        }
        RootProvider::Local => {
            let root = open_local_root(config)?;
            let master = crate::store::master_key::open_master_key(store_ref, root.as_ref())?;
            (KeyGate::unsealed(Arc::new(master)), None, None)
        }
        RootProvider::Keyprotect => {
            let kp_config = keyprotect_config(config)?;
            let root = Arc::new(
                KeyProtectRoot::from_config(kp_config, appliance_id)
                    .map_err(ApplianceError::KeyProtect)?,
            );
            match open_with_keyprotect(store_ref, &root)? {
                Ok(master) => (KeyGate::unsealed(Arc::new(master)), Some(root), None),
                Err(refused) => {
                    let reason = refused.to_string();
                    log::error!(
                        "starting SEALED: {reason}; Discover Versions and Query are \
                         answered, key material is not; Key Protect is polled every {} s",
                        kp_config.sync_interval.as_secs_f64()
                    );
                    (KeyGate::sealed(reason.clone()), Some(root), Some(reason))
                }
            }
        }
    };
    Ok(RootState {
        gate,
        keyprotect,
        sealed_at_start,
    })
}

/// The appliance CA and server certificate. In a cluster the CA is shared through etcd
/// (sealed under the master key, so a sealed node keeps the CA files it has).
fn ensure_pki(
    config: &Config,
    store_ref: &dyn Store,
    gate: &KeyGate,
) -> Result<AppliancePki, ApplianceError> {
    let data_dir = &config.data_dir;
    let shared_ca = match (&config.cluster, gate.current()) {
        (Some(_), Ok(master)) => {
            let adopted = cluster_trust::adopt_ca(store_ref, &master, data_dir)?;
            Some((master, adopted))
        }
        _ => None,
    };
    let pki = pki::ensure_appliance_pki(data_dir, config.tls.server_key_type)?;
    if let Some((master, false)) = shared_ca {
        cluster_trust::publish_ca(store_ref, &master, data_dir)?;
    }
    // Another node published first: its CA replaced ours, so issue our cert again.
    let pki = if pki_matches_ca(data_dir) {
        pki
    } else {
        pki::ensure_appliance_pki(data_dir, config.tls.server_key_type)?
    };
    Ok(pki)
}

/// The audit context: chain key from the gate, settings from `[audit]`, the read journal, and
/// the record of the master key unwrap when the appliance starts unsealed.
fn open_audit(
    config: &Config,
    store: &dyn Store,
    engine: &Engine,
    unsealed: bool,
) -> Result<Arc<AuditContext>, ApplianceError> {
    let data_dir = &config.data_dir;
    let mut audit = AuditContext::from_gate(engine.gate().clone());
    audit.head_log_interval = config.audit.head_log_interval();
    audit.read_sync_interval = config.audit.read_sync_interval();
    audit.retain_days = config.audit.retain_days;
    audit.forward =
        config
            .audit
            .forward_address
            .clone()
            .map(|address| crate::audit::forward::ForwardTarget {
                address,
                format: config.audit.forward_format,
                cursor: data_dir.join("audit-forward.cursor"),
                hostname: std::fs::read_to_string("/proc/sys/kernel/hostname")
                    .map(|h| h.trim().to_string())
                    .unwrap_or_default(),
                tls: config.audit.forward_tls(),
            });
    if audit_enabled(config) {
        audit.reads = crate::server::read_audit::open_journal(store, &audit, data_dir, config)?;
    }
    let audit = Arc::new(audit);
    if unsealed && audit_enabled(config) {
        let event = AuditEvent::success(
            "root.unwrap",
            vec![format!("{:?}", config.root.provider).to_lowercase()],
        );
        // A log that cannot be appended to fails every operation later; here, opening
        // must still work so `keyward audit verify` can say where it is broken.
        if let Err(e) = record_start(store, &audit, event, config.audit.retain_days) {
            log::error!("cannot write the audit record of the master key unwrap: {e}");
        }
    }
    Ok(audit)
}

fn pki_matches_ca(data_dir: &Path) -> bool {
    data_dir.join(pki::SERVER_CERT_FILE).is_file() && data_dir.join(pki::SERVER_KEY_FILE).is_file()
}

impl Appliance {
    /// The audit log, when this appliance keeps one.
    pub fn audit_log(&self) -> Option<Arc<AuditContext>> {
        audit_enabled(&self.config).then(|| self.audit.clone())
    }
}

/// The audit log lives in the local redb store, also on a cluster node (its own chain: what
/// this node served).
fn audit_enabled(config: &Config) -> bool {
    config.audit.enabled
}

fn record_start(
    store: &dyn Store,
    audit: &AuditContext,
    event: AuditEvent,
    retain_days: Option<u32>,
) -> Result<(), ApplianceError> {
    let mut txn = store.write()?;
    audit::record(txn.as_mut(), audit, Actor::System, event)
        .map_err(crate::store::StoreError::from)?;
    let key = audit.key().map_err(crate::store::StoreError::from)?;
    let pruned = audit::prune::apply_retention(txn.as_mut(), key, retain_days)
        .map_err(crate::store::StoreError::from)?;
    txn.commit()?;
    if pruned > 0 {
        log::info!(target: "keyward::audit", "audit log: pruned {pruned} record(s) past retain_days");
    }
    Ok(())
}

/// The appliance id from the store, made (and committed) on first run.
pub fn ensure_appliance_id(store: &dyn Store) -> Result<String, ApplianceError> {
    ensure_id(store, META_APPLIANCE_ID, "appliance")
}

/// The id under meta `key`, made (and committed) if there is none yet.
fn ensure_id(store: &dyn Store, key: &str, what: &str) -> Result<String, ApplianceError> {
    if let Some(id) = store.read()?.get_meta(key)? {
        return Ok(String::from_utf8_lossy(&id).into_owned());
    }
    let mut txn = store.write()?;
    // Checked again under the writer lock: a second opener must not replace the id.
    if let Some(id) = txn.get_meta(key)? {
        return Ok(String::from_utf8_lossy(&id).into_owned());
    }
    let id = new_uuid()?;
    txn.put_meta(key, id.as_bytes())?;
    txn.commit()?;
    log::info!("this {what}'s id is {id}");
    Ok(id)
}

fn new_uuid() -> Result<String, ApplianceError> {
    let mut b = [0u8; 16];
    getrandom::fill(&mut b).map_err(ApplianceError::Random)?;
    Ok(crate::uuid::format_v4(b))
}

/// The provider name recorded beside the stored master key, if the store has one.
pub fn stored_provider(store: &dyn Store) -> Result<Option<String>, ApplianceError> {
    let view = store.read()?;
    Ok(view
        .get_meta(META_MASTER_KEY_PROVIDER)?
        .map(|p| String::from_utf8_lossy(&p).into_owned()))
}

pub fn keyprotect_config(config: &Config) -> Result<&KeyProtectConfig, ApplianceError> {
    config.keyprotect.as_ref().ok_or_else(|| {
        ApplianceError::Config(crate::config::ConfigError::Invalid {
            setting: "keyprotect".into(),
            message: "the Key Protect root needs a [keyprotect] table".into(),
        })
    })
}

/// Opens the master key with Key Protect. The outer error is fatal (a store wrapped by another
/// provider, or a first run Key Protect cannot serve); the inner one is a root key refused or
/// unreachable on an initialised store, with which the appliance starts sealed.
fn open_with_keyprotect(
    store: &dyn Store,
    root: &KeyProtectRoot,
) -> Result<Result<seal::MasterKey, KeyProtectRefused>, ApplianceError> {
    let initialised = store.read()?.get_meta(META_WRAPPED_MASTER_KEY)?.is_some();
    match stored_provider(store)? {
        Some(provider) if provider != RootKeyProvider::name(root) => {
            return Err(ApplianceError::Seal(seal::SealError::Provider {
                provider: RootKeyProvider::name(root).into(),
                message: format!(
                    "the store's master key is wrapped by root key provider \"{provider}\"; \
                     with the server stopped, run `keyward root migrate --to keyprotect` first"
                ),
            }));
        }
        _ => {}
    }
    if !initialised {
        // First run: the key must be usable as a root, or there is nothing to start with.
        root.preflight().map_err(ApplianceError::KeyProtect)?;
        return Ok(Ok(keyprotect::open::open_master_key(store, root)?));
    }
    let opened = root
        .preflight()
        .map_err(KeyProtectRefused::Root)
        .and_then(|_| {
            keyprotect::open::open_master_key(store, root).map_err(KeyProtectRefused::Unwrap)
        });
    Ok(opened)
}

/// Why Key Protect gave no master key for an initialised store; the appliance starts sealed
/// and says this as the reason.
#[derive(Debug, thiserror::Error)]
enum KeyProtectRefused {
    #[error(transparent)]
    Root(crate::keyprotect::KpError),
    #[error(transparent)]
    Unwrap(seal::SealError),
}

/// With `[root] seal_at_start`: the master key from the operator's passphrase, or `None`
/// (start sealed) when none was given and the store already holds a master key. A first run
/// needs the passphrase: there is no master key to wait for.
fn open_by_operator(
    store: &dyn Store,
    data_dir: &Path,
    passphrase: Option<&[u8]>,
) -> Result<Option<seal::MasterKey>, ApplianceError> {
    let params = data_dir.join(PASSPHRASE_PARAMS_FILE);
    match passphrase {
        Some(passphrase) => {
            let root = LocalRoot::from_passphrase(passphrase, &params)?;
            Ok(Some(crate::store::master_key::open_master_key(
                store, &root,
            )?))
        }
        None if store.read()?.get_meta(META_WRAPPED_MASTER_KEY)?.is_none() => Err(
            ApplianceError::Config(crate::config::ConfigError::Invalid {
                setting: "root.seal_at_start".into(),
                message: "this data directory has no master key yet; make it with the \
                          operator's passphrase first: `keyward init --passphrase-stdin`"
                    .into(),
            }),
        ),
        None => Ok(None),
    }
}

/// The local root key provider `config` names (root key file or passphrase).
pub fn open_local_root(config: &Config) -> Result<Box<dyn RootKeyProvider>, ApplianceError> {
    if config.root.seal_at_start {
        // Never fall through to a root key file: that would be a second, stored root.
        return Err(ApplianceError::Config(
            crate::config::ConfigError::Invalid {
                setting: "root.seal_at_start".into(),
                message: "the root key passphrase is not stored on this appliance; run this with \
                      the server running and unsealed (`keyward unseal`)"
                    .into(),
            },
        ));
    }
    match &config.root.passphrase_file {
        None => Ok(Box::new(LocalRoot::open_or_create(
            &config.data_dir.join(ROOT_KEY_FILE),
        )?)),
        Some(path) => {
            let text = Zeroizing::new(
                fs::read_to_string(path)
                    .map_err(|e| ApplianceError::io(format!("reading {}", path.display()), e))?,
            );
            let passphrase = text.trim_end_matches(['\n', '\r']);
            if passphrase.is_empty() {
                return Err(ApplianceError::Invalid {
                    what: format!("passphrase file {}", path.display()),
                    message: "is empty".into(),
                });
            }
            let params = config.data_dir.join(PASSPHRASE_PARAMS_FILE);
            Ok(Box::new(LocalRoot::from_passphrase(
                passphrase.as_bytes(),
                &params,
            )?))
        }
    }
}

/// Creates the data directory readable by the owner only; an existing one is left as it is
/// (the operator may have chosen its permissions), but a new one is never world-readable.
pub fn create_private_dir(dir: &Path) -> Result<(), ApplianceError> {
    if dir.is_dir() {
        return Ok(());
    }
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| ApplianceError::io(format!("creating data directory {}", dir.display()), e))?;
    fs::set_permissions(dir, fs::Permissions::from_mode(0o700))
        .map_err(|e| ApplianceError::io(format!("restricting data directory {}", dir.display()), e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::memory::MemoryStore;

    #[test]
    fn appliance_id_is_made_once_and_kept() {
        let store = MemoryStore::new();
        let read_appliance_id = crate::store::appliance_id::read_appliance_id;
        assert_eq!(read_appliance_id(&store).unwrap(), None);
        let id = ensure_appliance_id(&store).unwrap();
        assert_eq!(id.len(), 36);
        assert_eq!(id.as_bytes()[14], b'4', "a version-4 UUID: {id}");
        assert_eq!(ensure_appliance_id(&store).unwrap(), id);
        assert_eq!(read_appliance_id(&store).unwrap(), Some(id.clone()));
        assert_ne!(ensure_appliance_id(&MemoryStore::new()).unwrap(), id);
    }
}
