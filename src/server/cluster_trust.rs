//! One CA for the whole cluster, shared through etcd, so vCenter's "trust one, trust all"
//! holds: every node's server certificate is signed by the same CA, and client certificates
//! issued on any node are signed by it too. The client registry is a meta key, so it is
//! shared already.
//!
//! The CA certificate is stored as it is; the CA private key only sealed under the master key
//! (AES-256-GCM-SIV, bound to its meta key name), like every key the appliance keeps.
//!
//! The first node to start publishes its CA; every later node adopts the published one,
//! replacing its local CA files and issuing itself a new server certificate signed by it.

use std::fs;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use zeroize::Zeroizing;

use super::ServerError;
use crate::pki::{CA_CERT_FILE, CA_KEY_FILE, SERVER_CERT_FILE, SERVER_KEY_FILE};
use crate::seal::MasterKey;
use crate::store::{Store, StoreError};

pub const META_CLUSTER_CA_CERT: &str = "cluster.ca_cert";
pub const META_CLUSTER_CA_KEY_SEALED: &str = "cluster.ca_key.sealed";
const CA_KEY_AAD: &[u8] = b"keyward cluster.ca_key.sealed";

fn io(path: &Path, e: std::io::Error) -> ServerError {
    ServerError::io(format!("writing {}", path.display()), e)
}

fn write_file(path: &Path, contents: &[u8], mode: u32) -> Result<(), ServerError> {
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(path)
        .map_err(|e| io(path, e))?;
    file.write_all(contents).map_err(|e| io(path, e))?;
    file.sync_all().map_err(|e| io(path, e))
}

/// Before the node's PKI is ensured: adopt the cluster CA if one is published. Returns
/// whether one was (when not, call [`publish_ca`] once the local CA exists).
pub fn adopt_ca(
    store: &dyn Store,
    master: &MasterKey,
    data_dir: &Path,
) -> Result<bool, ServerError> {
    let (cert, sealed) = {
        let view = store.read()?;
        (
            view.get_meta(META_CLUSTER_CA_CERT)?,
            view.get_meta(META_CLUSTER_CA_KEY_SEALED)?,
        )
    };
    let (Some(cert), Some(sealed)) = (cert, sealed) else {
        return Ok(false);
    };
    let cert_path = data_dir.join(CA_CERT_FILE);
    if fs::read(&cert_path).ok().as_deref() == Some(cert.as_slice()) {
        return Ok(true);
    }
    let key: Zeroizing<Vec<u8>> = master.unseal(CA_KEY_AAD, &sealed)?;
    write_file(&data_dir.join(CA_KEY_FILE), &key, 0o600)?;
    write_file(&cert_path, &cert, 0o644)?;
    // A server certificate from another CA would not be trusted by clients of the cluster.
    for stale in [SERVER_CERT_FILE, SERVER_KEY_FILE] {
        let _ = fs::remove_file(data_dir.join(stale));
    }
    log::info!(
        "adopted the cluster CA from etcd; this node gets a server certificate signed by it"
    );
    Ok(true)
}

/// Publishes this node's CA as the cluster CA, unless another node was faster (then that one
/// is adopted). Call after the local PKI exists.
pub fn publish_ca(
    store: &dyn Store,
    master: &MasterKey,
    data_dir: &Path,
) -> Result<(), ServerError> {
    let cert_path = data_dir.join(CA_CERT_FILE);
    let key_path = data_dir.join(CA_KEY_FILE);
    let cert = fs::read(&cert_path)
        .map_err(|e| ServerError::io(format!("reading {}", cert_path.display()), e))?;
    let key = Zeroizing::new(
        fs::read(&key_path)
            .map_err(|e| ServerError::io(format!("reading {}", key_path.display()), e))?,
    );
    let sealed = master.seal(CA_KEY_AAD, &key)?;
    let mut txn = store.write()?;
    if txn.get_meta(META_CLUSTER_CA_CERT)?.is_some() {
        drop(txn);
        adopt_ca(store, master, data_dir)?;
        return Ok(());
    }
    txn.put_meta(META_CLUSTER_CA_CERT, &cert)?;
    txn.put_meta(META_CLUSTER_CA_KEY_SEALED, &sealed)?;
    match txn.commit() {
        Ok(()) => {
            log::info!("published this node's CA as the cluster CA");
            Ok(())
        }
        // Another node published at the same moment: take theirs.
        Err(StoreError::Conflict(_)) => adopt_ca(store, master, data_dir).map(|_| ()),
        Err(e) => Err(e.into()),
    }
}
