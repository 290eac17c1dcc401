//! First run and every start: the data directory, the appliance PKI, the root key, the store
//! and the master key, wired into an engine. Shared by `keyward serve` and `keyward init`.

use std::fs;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use zeroize::Zeroizing;

use super::tls::TlsMaterial;
use super::{ServerError, ServerOptions, Services};
use crate::config::{Config, RootProvider};
use crate::engine::{Engine, EngineConfig};
use crate::pki::{self, AppliancePki};
use crate::seal::local::LocalRoot;
use crate::seal::{self, RootKeyProvider};
use crate::store::Store;
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
}

impl Appliance {
    /// Creates whatever is missing in the data directory, then opens it all.
    pub fn open(config: Config) -> Result<Appliance, ServerError> {
        let data_dir = config.data_dir.clone();
        create_private_dir(&data_dir)?;
        let pki = pki::ensure_appliance_pki(&data_dir, config.tls.server_key_type)?;
        let root = open_root(&config)?;
        let store = RedbStore::open(&data_dir.join(DATABASE_FILE))?;
        let master = seal::open_master_key(&store, root.as_ref())?;
        let engine_config = EngineConfig {
            limits: ServerOptions::from_settings(&config.server).limits,
            max_batch_items: config.server.max_batch_items,
            ..EngineConfig::default()
        };
        let engine = Arc::new(Engine::new(engine_config, Arc::new(master)));
        Ok(Appliance {
            config,
            pki,
            engine,
            store: Arc::new(store),
        })
    }

    pub fn tls_material(&self) -> Result<TlsMaterial, ServerError> {
        let mut trusted_ca_files: Vec<PathBuf> = vec![self.pki.ca_cert.clone()];
        trusted_ca_files.extend(self.config.tls.trusted_ca_files.iter().cloned());
        Ok(TlsMaterial {
            server_cert: self.pki.server_cert.clone(),
            server_key: self.pki.server_key.clone(),
            trusted_ca_files,
            pinned_fingerprints: self.config.tls.pinned_fingerprints()?,
        })
    }

    pub fn services(&self) -> Result<Services, ServerError> {
        Ok(Services {
            engine: self.engine.clone(),
            store: self.store.clone(),
            tls: super::tls::server_config(&self.tls_material()?)?,
        })
    }
}

fn open_root(config: &Config) -> Result<Box<dyn RootKeyProvider>, ServerError> {
    match config.root.provider {
        RootProvider::Local => match &config.root.passphrase_file {
            None => Ok(Box::new(LocalRoot::open_or_create(
                &config.data_dir.join(ROOT_KEY_FILE),
            )?)),
            Some(path) => {
                let text = Zeroizing::new(
                    fs::read_to_string(path)
                        .map_err(|e| ServerError::io(format!("reading {}", path.display()), e))?,
                );
                let passphrase = text.trim_end_matches(['\n', '\r']);
                if passphrase.is_empty() {
                    return Err(ServerError::Io {
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
        },
    }
}

/// Creates the data directory readable by the owner only; an existing one is left as it is
/// (the operator may have chosen its permissions), but a new one is never world-readable.
pub fn create_private_dir(dir: &Path) -> Result<(), ServerError> {
    if dir.is_dir() {
        return Ok(());
    }
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| ServerError::io(format!("creating data directory {}", dir.display()), e))?;
    fs::set_permissions(dir, fs::Permissions::from_mode(0o700))
        .map_err(|e| ServerError::io(format!("restricting data directory {}", dir.display()), e))
}
