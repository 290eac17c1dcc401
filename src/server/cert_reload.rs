//! The server certificate, re-read when its files change: `keyward server cert renew` replaces
//! `server.crt` and `server.key` and the next handshake presents the new pair, without a
//! restart. Open connections keep the session they negotiated.
//!
//! Every handshake looks at the two files' metadata (two `stat` calls); they are read again
//! only when that changed. The files are replaced one after the other, so a handshake may see
//! a new key beside the old certificate: a pair whose keys do not match is not taken, the
//! previous pair stays in use, and the next handshake looks again.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use rustls::crypto::CryptoProvider;
use rustls::pki_types::PrivateKeyDer;
use rustls::pki_types::pem::PemObject;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

use super::ServerError;
use super::pem_certs::read_certs;

/// What identifies one version of a file without reading it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FileStamp {
    inode: u64,
    len: u64,
    modified: Option<SystemTime>,
}

fn stamp(path: &Path) -> Option<FileStamp> {
    let meta = std::fs::metadata(path).ok()?;
    Some(FileStamp {
        inode: meta.ino(),
        len: meta.len(),
        modified: meta.modified().ok(),
    })
}

#[derive(Debug)]
struct Current {
    key: Arc<CertifiedKey>,
    /// Stamps of the files `key` was read from, or of a pair that was refused (so it is not
    /// retried and logged on every handshake).
    seen: (Option<FileStamp>, Option<FileStamp>),
}

#[derive(Debug)]
pub struct ReloadingCert {
    cert_path: PathBuf,
    key_path: PathBuf,
    provider: Arc<CryptoProvider>,
    current: Mutex<Current>,
}

fn load(
    cert_path: &Path,
    key_path: &Path,
    provider: &CryptoProvider,
) -> Result<CertifiedKey, ServerError> {
    let chain = read_certs(cert_path)?;
    let key = PrivateKeyDer::from_pem_file(key_path).map_err(|e| ServerError::TlsFile {
        path: key_path.display().to_string(),
        message: format!("not a PEM private key: {e}"),
    })?;
    CertifiedKey::from_der(chain, key, provider)
        .map_err(|e| ServerError::Tls(format!("server certificate and key: {e}")))
}

impl ReloadingCert {
    /// Reads the pair now; a missing or mismatched pair is a start-up error.
    pub fn open(
        cert_path: &Path,
        key_path: &Path,
        provider: Arc<CryptoProvider>,
    ) -> Result<ReloadingCert, ServerError> {
        let seen = (stamp(cert_path), stamp(key_path));
        let key = Arc::new(load(cert_path, key_path, &provider)?);
        Ok(ReloadingCert {
            cert_path: cert_path.to_path_buf(),
            key_path: key_path.to_path_buf(),
            provider,
            current: Mutex::new(Current { key, seen }),
        })
    }

    /// The pair to present now, re-read first if the files changed.
    fn current(&self) -> Option<Arc<CertifiedKey>> {
        let mut current = self.current.lock().ok()?;
        let now = (stamp(&self.cert_path), stamp(&self.key_path));
        if now != current.seen {
            match load(&self.cert_path, &self.key_path, &self.provider) {
                Ok(key) => {
                    log::info!(
                        "server certificate {} changed on disk; new handshakes present it",
                        self.cert_path.display()
                    );
                    current.key = Arc::new(key);
                    current.seen = now;
                }
                // Half-way through a replacement, or a broken file: keep serving the pair
                // that works. Recorded as seen so a lasting problem is logged once.
                Err(e) => {
                    log::warn!("server certificate not reloaded (the previous one stays): {e}");
                    current.seen = now;
                }
            }
        }
        Some(current.key.clone())
    }
}

impl ResolvesServerCert for ReloadingCert {
    fn resolve(&self, _client_hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        self.current()
    }
}
