//! Reading PEM certificate files with an error that names the file. Shared by the TLS
//! configuration (`tls.rs`, CA files) and the server certificate reloader (`cert_reload.rs`),
//! so neither has to import the other for it.

use std::path::Path;

use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

use super::ServerError;

/// Every certificate in a PEM file; an empty file is an error.
pub(crate) fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, ServerError> {
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| tls_file_err(path, format!("cannot read: {e}")))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| tls_file_err(path, format!("not PEM certificates: {e}")))?;
    if certs.is_empty() {
        return Err(tls_file_err(path, "contains no certificate".into()));
    }
    Ok(certs)
}

/// A TLS file problem, naming the file.
pub(crate) fn tls_file_err(path: &Path, message: String) -> ServerError {
    ServerError::TlsFile {
        path: path.display().to_string(),
        message,
    }
}
