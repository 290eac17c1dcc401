//! Certificates that expire soon: the server's own and the clients' (vCenter's certificate or
//! CA, or one this appliance issued or signed). An expired certificate stops vCenter from
//! reaching its keys, so the dashboard, `keyward status` and `/metrics` all warn from the
//! same list, computed here once.

use serde::{Deserialize, Serialize};

use super::registry::{ClientEntry, ClientKind};

/// Warn this long before a certificate expires.
pub const WARN_DAYS: i64 = 30;
const DAY: i64 = 86_400;

/// One certificate that expires within [`WARN_DAYS`] (or already has).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExpiryWarning {
    /// "server" or "client".
    pub kind: String,
    /// The client's name, or "server certificate".
    pub name: String,
    /// Seconds since the epoch.
    pub not_after: i64,
    /// Whole days left; negative once expired.
    pub days_left: i64,
}

impl ExpiryWarning {
    pub fn describe(&self) -> String {
        if self.days_left < 0 {
            format!(
                "{} {:?} EXPIRED {} day(s) ago",
                self.kind, self.name, -self.days_left
            )
        } else {
            format!(
                "{} {:?} expires in {} day(s)",
                self.kind, self.name, self.days_left
            )
        }
    }
}

/// The `notAfter` (seconds since the epoch) of the first certificate in `pem`.
pub fn pem_not_after(pem: &str) -> Option<i64> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let der = CertificateDer::pem_slice_iter(pem.as_bytes())
        .next()?
        .ok()?;
    der_not_after(&der)
}

pub fn der_not_after(der: &[u8]) -> Option<i64> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    Some(cert.validity().not_after.timestamp())
}

/// When a client's certificate (or the CA it is trusted by) expires, if known.
pub fn client_not_after(entry: &ClientEntry) -> Option<i64> {
    match &entry.kind {
        ClientKind::TrustedCa { ca_pem, .. } => pem_not_after(ca_pem),
        _ => entry.cert_not_after,
    }
}

fn warning(kind: &str, name: &str, not_after: i64, now: i64) -> Option<ExpiryWarning> {
    let left = not_after - now;
    (left < WARN_DAYS * DAY).then(|| ExpiryWarning {
        kind: kind.into(),
        name: name.into(),
        not_after,
        days_left: left.div_euclid(DAY),
    })
}

/// The clients whose certificate expires within [`WARN_DAYS`] of `now`.
pub fn clients<'a>(
    entries: impl IntoIterator<Item = &'a ClientEntry>,
    now: i64,
) -> Vec<ExpiryWarning> {
    entries
        .into_iter()
        .filter_map(|entry| {
            client_not_after(entry).and_then(|at| warning("client", &entry.name, at, now))
        })
        .collect()
}

/// The server certificate (PEM file) if it expires within [`WARN_DAYS`]; `None` also when the
/// file cannot be read (the server would not have started).
pub fn server(cert_path: &std::path::Path, now: i64) -> Option<ExpiryWarning> {
    let pem = std::fs::read_to_string(cert_path).ok()?;
    warning("server", "server certificate", pem_not_after(&pem)?, now)
}

/// How many certificates warn now: the registered clients' (read from `store`'s registry,
/// not their keys, so it is cheap enough to run after every admin request) and the server's.
/// What the `/metrics` gauge `keyward_certificates_expiring_soon` shows; the server's admin
/// thread keeps it current, so it holds whether or not the HTTPS admin API runs.
pub fn count_now(
    store: &dyn crate::store::Store,
    server_cert: &std::path::Path,
) -> Result<usize, super::ops::AdminError> {
    let now = super::registry::now();
    let registry = super::registry::Registry::load(&*store.read()?)?;
    Ok(clients(registry.clients(), now).len() + usize::from(server(server_cert, now).is_some()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warns_within_thirty_days_and_after_expiry() {
        let now = 1_000_000_000;
        assert!(warning("client", "vc", now + 31 * DAY, now).is_none());
        let soon = warning("client", "vc", now + 29 * DAY + 5, now).unwrap();
        assert_eq!(soon.days_left, 29);
        assert!(soon.describe().contains("expires in 29 day(s)"));
        let past = warning("server", "server certificate", now - DAY - 1, now).unwrap();
        assert_eq!(past.days_left, -2);
        assert!(past.describe().contains("EXPIRED"));
    }
}
