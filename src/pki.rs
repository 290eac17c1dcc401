//! The appliance's own PKI: a local CA, the KMIP server certificate, and client certificates
//! issued to KMIP clients (the "KMS certificate and private key" trust method of vCenter).
//!
//! Files in the data directory: `ca.crt`, `ca.key` (0600), `server.crt`, `server.key` (0600).

use std::fs;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SerialNumber,
};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use zeroize::Zeroizing;

use crate::config::ServerKeyType;

pub const CA_CERT_FILE: &str = "ca.crt";
pub const CA_KEY_FILE: &str = "ca.key";
pub const SERVER_CERT_FILE: &str = "server.crt";
pub const SERVER_KEY_FILE: &str = "server.key";

const CA_ORGANIZATION: &str = "Keyward";
const CA_VALID_DAYS: i64 = 20 * 365;
const SERVER_VALID_DAYS: i64 = 5 * 365;
const CLIENT_VALID_DAYS: i64 = 5 * 365;
/// Tolerates clients whose clocks run a little behind ours.
const BACKDATE_SECS: i64 = 3600;

/// Errors of the PKI layer. Never carries private key bytes.
#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    #[error("I/O on {path}: {message}")]
    Io { path: String, message: String },
    #[error("certificate generation failed: {0}")]
    Generate(String),
    #[error("{path} is not a usable {what}: {message}")]
    BadFile {
        path: String,
        what: &'static str,
        message: String,
    },
    #[error("client name {0:?} is not usable (1–64 characters, no control characters)")]
    BadName(String),
}

fn io_err(path: &Path, e: std::io::Error) -> PkiError {
    PkiError::Io {
        path: path.display().to_string(),
        message: e.to_string(),
    }
}

fn gen_err(e: rcgen::Error) -> PkiError {
    PkiError::Generate(e.to_string())
}

/// The appliance's certificate files after [`ensure_appliance_pki`].
#[derive(Debug, Clone)]
pub struct AppliancePki {
    pub ca_cert: PathBuf,
    pub server_cert: PathBuf,
    pub server_key: PathBuf,
    /// SHA-256 of the server certificate (DER): what vCenter shows the admin to accept.
    pub server_fingerprint: [u8; 32],
    /// True when this call created the CA and server certificate.
    pub created: bool,
}

/// Files written by [`issue_client`].
#[derive(Debug, Clone)]
pub struct IssuedClient {
    pub cert: PathBuf,
    pub key: PathBuf,
    pub ca_cert: PathBuf,
    pub fingerprint: [u8; 32],
}

/// SHA-256 of a certificate's DER encoding.
pub fn fingerprint(der: &[u8]) -> [u8; 32] {
    Sha256::digest(der).into()
}

/// "AB:CD:…" — the form browsers and vCenter show.
pub fn fingerprint_hex(fingerprint: &[u8; 32]) -> String {
    fingerprint
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// The first Common Name of a certificate's subject, if it has a readable one.
pub fn common_name(der: &[u8]) -> Option<String> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    let cn = cert.subject().iter_common_name().next()?;
    cn.as_str().ok().map(str::to_string)
}

/// Identity of the client whose verified leaf certificate is `leaf_der`: `cn:<CN>`, or
/// `sha256:<hex>` when the certificate has no readable Common Name. Here beside the
/// fingerprint and Common Name it is made of, so the server's handshake, the admin API and
/// `keyward client` derive it the same way.
pub fn client_identity(leaf_der: &[u8]) -> crate::engine::ClientIdentity {
    let fingerprint = fingerprint(leaf_der);
    let owner = match common_name(leaf_der) {
        Some(cn) if !cn.is_empty() => format!("cn:{cn}"),
        _ => format!("sha256:{}", hex::encode(fingerprint)),
    };
    crate::engine::ClientIdentity { owner, fingerprint }
}

/// Creates the CA and server certificate in `data_dir` when absent; otherwise reads them.
pub fn ensure_appliance_pki(
    data_dir: &Path,
    key_type: ServerKeyType,
) -> Result<AppliancePki, PkiError> {
    let ca_cert = data_dir.join(CA_CERT_FILE);
    let ca_key = data_dir.join(CA_KEY_FILE);
    let server_cert = data_dir.join(SERVER_CERT_FILE);
    let server_key = data_dir.join(SERVER_KEY_FILE);

    let mut created = false;
    if !ca_cert.exists() || !ca_key.exists() {
        create_ca(&ca_cert, &ca_key, key_type)?;
        // A new CA invalidates any server certificate signed by an old one.
        let _ = fs::remove_file(&server_cert);
        created = true;
    }
    if !server_cert.exists() || !server_key.exists() {
        let issuer = load_issuer(&ca_cert, &ca_key)?;
        create_server_cert(&issuer, &server_cert, &server_key, key_type)?;
        created = true;
    }
    let der = read_cert_der(&server_cert)?;
    Ok(AppliancePki {
        ca_cert,
        server_cert,
        server_key,
        server_fingerprint: fingerprint(&der),
        created,
    })
}

/// Issues a client certificate signed by the appliance CA: writes `out_dir/client.crt`,
/// `out_dir/client.key` (0600) and `out_dir/ca.crt`. The subject CN is `name`.
pub fn issue_client(data_dir: &Path, name: &str, out_dir: &Path) -> Result<IssuedClient, PkiError> {
    if name.is_empty() || name.chars().count() > 64 || name.chars().any(char::is_control) {
        return Err(PkiError::BadName(name.to_string()));
    }
    let ca_cert_path = data_dir.join(CA_CERT_FILE);
    let issuer = load_issuer(&ca_cert_path, &data_dir.join(CA_KEY_FILE))?;
    let key_pair = new_key_pair_like(issuer.key())?;

    let mut params = leaf_params(CLIENT_VALID_DAYS)?;
    params.distinguished_name = DistinguishedName::new();
    params.distinguished_name.push(DnType::CommonName, name);
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    let cert = params.signed_by(&key_pair, &issuer).map_err(gen_err)?;

    fs::create_dir_all(out_dir).map_err(|e| io_err(out_dir, e))?;
    let cert_path = out_dir.join("client.crt");
    let key_path = out_dir.join("client.key");
    let out_ca = out_dir.join("ca.crt");
    write_public(&cert_path, cert.pem().as_bytes())?;
    write_secret(
        &key_path,
        Zeroizing::new(key_pair.serialize_pem()).as_bytes(),
    )?;
    let ca_pem = fs::read(&ca_cert_path).map_err(|e| io_err(&ca_cert_path, e))?;
    write_public(&out_ca, &ca_pem)?;
    Ok(IssuedClient {
        cert: cert_path,
        key: key_path,
        ca_cert: out_ca,
        fingerprint: fingerprint(cert.der()),
    })
}

/// A certificate signed by the appliance CA from a client's CSR (vCenter's "New Certificate
/// Signing Request" method). The subject and public key come from the CSR; validity, serial and
/// key usages are ours, and the EKU is clientAuth whatever the CSR asked for.
#[derive(Debug, Clone)]
pub struct SignedCsr {
    pub pem: String,
    pub der: Vec<u8>,
    pub fingerprint: [u8; 32],
}

pub fn sign_csr(data_dir: &Path, csr_path: &Path) -> Result<SignedCsr, PkiError> {
    let csr_pem = fs::read_to_string(csr_path).map_err(|e| io_err(csr_path, e))?;
    let mut csr = rcgen::CertificateSigningRequestParams::from_pem(&csr_pem).map_err(|e| {
        PkiError::BadFile {
            path: csr_path.display().to_string(),
            what: "certificate signing request (PEM, signature checked)",
            message: e.to_string(),
        }
    })?;
    let issuer = load_issuer(&data_dir.join(CA_CERT_FILE), &data_dir.join(CA_KEY_FILE))?;
    let requested = std::mem::take(&mut csr.params);
    let mut params = leaf_params(CLIENT_VALID_DAYS)?;
    params.distinguished_name = requested.distinguished_name;
    params.subject_alt_names = requested.subject_alt_names;
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    csr.params = params;
    let cert = csr.signed_by(&issuer).map_err(gen_err)?;
    Ok(SignedCsr {
        pem: cert.pem(),
        der: cert.der().to_vec(),
        fingerprint: fingerprint(cert.der()),
    })
}

fn create_ca(cert_path: &Path, key_path: &Path, key_type: ServerKeyType) -> Result<(), PkiError> {
    let key_pair = new_key_pair(key_type)?;
    let mut params = CertificateParams::default();
    set_validity(&mut params, CA_VALID_DAYS)?;
    params.serial_number = Some(random_serial()?);
    // A random suffix keeps two appliances' CAs apart in a client's trust store.
    let suffix = hex::encode(random_bytes::<4>()?);
    params.distinguished_name = ca_name(&format!("Keyward local CA {suffix}"));
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = ca_key_usages();
    let cert = params.self_signed(&key_pair).map_err(gen_err)?;
    write_secret(
        key_path,
        Zeroizing::new(key_pair.serialize_pem()).as_bytes(),
    )?;
    write_public(cert_path, cert.pem().as_bytes())
}

/// Subject alternative names of a first server certificate.
pub const DEFAULT_SERVER_NAMES: &[&str] = &["localhost", "127.0.0.1", "::1"];

fn create_server_cert(
    issuer: &Issuer<'_, KeyPair>,
    cert_path: &Path,
    key_path: &Path,
    key_type: ServerKeyType,
) -> Result<(), PkiError> {
    let names: Vec<String> = DEFAULT_SERVER_NAMES.iter().map(|n| n.to_string()).collect();
    let (cert, key_pair) = server_cert(issuer, key_type, &names)?;
    write_secret(
        key_path,
        Zeroizing::new(key_pair.serialize_pem()).as_bytes(),
    )?;
    write_public(cert_path, cert.pem().as_bytes())
}

/// A new server key and certificate from the appliance CA, written over `server.key` (0600)
/// and `server.crt` in `data_dir`. Each file is replaced atomically (written beside it, synced,
/// renamed), the key first; a running server picks the pair up at its next handshake.
/// `names` are the subject alternative names (host names or IP addresses); empty keeps those
/// of the current certificate. Returns the new certificate's SHA-256.
pub fn renew_server_cert(
    data_dir: &Path,
    key_type: ServerKeyType,
    names: &[String],
) -> Result<[u8; 32], PkiError> {
    let cert_path = data_dir.join(SERVER_CERT_FILE);
    let key_path = data_dir.join(SERVER_KEY_FILE);
    let issuer = load_issuer(&data_dir.join(CA_CERT_FILE), &data_dir.join(CA_KEY_FILE))?;
    let names = if names.is_empty() {
        current_server_names(&cert_path)
    } else {
        names.to_vec()
    };
    let (cert, key_pair) = server_cert(&issuer, key_type, &names)?;
    replace_file(
        &key_path,
        Zeroizing::new(key_pair.serialize_pem()).as_bytes(),
        0o600,
    )?;
    replace_file(&cert_path, cert.pem().as_bytes(), 0o644)?;
    Ok(fingerprint(cert.der()))
}

/// The DNS names and IP addresses of the certificate at `path`; the defaults if unreadable.
fn current_server_names(path: &Path) -> Vec<String> {
    let from_cert = read_cert_der(path).ok().and_then(|der| {
        let (_, cert) = x509_parser::parse_x509_certificate(&der).ok()?;
        let san = cert.subject_alternative_name().ok()??;
        let names: Vec<String> = san
            .value
            .general_names
            .iter()
            .filter_map(|name| match name {
                x509_parser::extensions::GeneralName::DNSName(dns) => Some(dns.to_string()),
                x509_parser::extensions::GeneralName::IPAddress(ip) => match ip.len() {
                    4 => <[u8; 4]>::try_from(*ip)
                        .ok()
                        .map(|b| std::net::IpAddr::from(b).to_string()),
                    16 => <[u8; 16]>::try_from(*ip)
                        .ok()
                        .map(|b| std::net::IpAddr::from(b).to_string()),
                    _ => None,
                },
                _ => None,
            })
            .collect();
        (!names.is_empty()).then_some(names)
    });
    from_cert.unwrap_or_else(|| DEFAULT_SERVER_NAMES.iter().map(|n| n.to_string()).collect())
}

/// Writes `path.tmp` with `mode`, syncs it, renames it over `path` and syncs the directory.
fn replace_file(path: &Path, contents: &[u8], mode: u32) -> Result<(), PkiError> {
    let mut tmp_name = path.as_os_str().to_owned();
    tmp_name.push(".tmp");
    let tmp = PathBuf::from(tmp_name);
    let _ = fs::remove_file(&tmp);
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(&tmp)
        .map_err(|e| io_err(&tmp, e))?;
    file.set_permissions(fs::Permissions::from_mode(mode))
        .map_err(|e| io_err(&tmp, e))?;
    file.write_all(contents).map_err(|e| io_err(&tmp, e))?;
    file.sync_all().map_err(|e| io_err(&tmp, e))?;
    fs::rename(&tmp, path).map_err(|e| io_err(path, e))?;
    if let Some(dir) = path.parent()
        && let Ok(dir) = fs::File::open(dir)
    {
        let _ = dir.sync_all();
    }
    Ok(())
}

/// A server certificate for `names` (the first is also the Common Name) and its key.
fn server_cert(
    issuer: &Issuer<'_, KeyPair>,
    key_type: ServerKeyType,
    names: &[String],
) -> Result<(rcgen::Certificate, KeyPair), PkiError> {
    let key_pair = new_key_pair(key_type)?;
    let mut params = leaf_params(SERVER_VALID_DAYS)?;
    params.subject_alt_names = CertificateParams::new(names.to_vec())
        .map_err(gen_err)?
        .subject_alt_names;
    params.distinguished_name = DistinguishedName::new();
    params
        .distinguished_name
        .push(DnType::OrganizationName, CA_ORGANIZATION);
    params.distinguished_name.push(
        DnType::CommonName,
        names.first().map(String::as_str).unwrap_or("localhost"),
    );
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    // clientAuth as well: vCenter and ESXi have been seen to insist on both.
    params.extended_key_usages = vec![
        ExtendedKeyUsagePurpose::ServerAuth,
        ExtendedKeyUsagePurpose::ClientAuth,
    ];
    let cert = params.signed_by(&key_pair, issuer).map_err(gen_err)?;
    Ok((cert, key_pair))
}

fn ca_name(common_name: &str) -> DistinguishedName {
    let mut name = DistinguishedName::new();
    name.push(DnType::OrganizationName, CA_ORGANIZATION);
    name.push(DnType::CommonName, common_name);
    name
}

fn ca_key_usages() -> Vec<KeyUsagePurpose> {
    vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ]
}

/// Rebuilds the issuer from the CA files. rcgen derives the authority key identifier from the
/// public key, and our CA name is (O, CN) encoded by rcgen itself, so the rebuilt issuer
/// produces certificates that chain to the stored `ca.crt`.
fn load_issuer(cert_path: &Path, key_path: &Path) -> Result<Issuer<'static, KeyPair>, PkiError> {
    let der = read_cert_der(cert_path)?;
    let bad = |message: String| PkiError::BadFile {
        path: cert_path.display().to_string(),
        what: "CA certificate",
        message,
    };
    let cn = common_name(&der).ok_or_else(|| bad("no common name".into()))?;
    let key_pem = Zeroizing::new(fs::read_to_string(key_path).map_err(|e| io_err(key_path, e))?);
    let key_pair = KeyPair::from_pem(&key_pem).map_err(|e| PkiError::BadFile {
        path: key_path.display().to_string(),
        what: "CA private key",
        message: e.to_string(),
    })?;
    let mut params = CertificateParams::default();
    params.distinguished_name = ca_name(&cn);
    params.key_usages = ca_key_usages();
    Ok(Issuer::new(params, key_pair))
}

fn read_cert_der(path: &Path) -> Result<Vec<u8>, PkiError> {
    use rustls::pki_types::{CertificateDer, pem::PemObject};
    let cert = CertificateDer::from_pem_file(path).map_err(|e| PkiError::BadFile {
        path: path.display().to_string(),
        what: "PEM certificate",
        message: e.to_string(),
    })?;
    Ok(cert.to_vec())
}

fn new_key_pair(key_type: ServerKeyType) -> Result<KeyPair, PkiError> {
    match key_type {
        ServerKeyType::Rsa2048 => {
            KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA256, rcgen::RsaKeySize::_2048)
        }
        ServerKeyType::EcdsaP256 => KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256),
        ServerKeyType::Rsa3072 => {
            KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA256, rcgen::RsaKeySize::_3072)
        }
        ServerKeyType::EcdsaP384 => KeyPair::generate_for(&rcgen::PKCS_ECDSA_P384_SHA384),
    }
    .map_err(gen_err)
}

/// Client keys follow the CA's algorithm, so an RSA appliance hands out RSA client keys.
fn new_key_pair_like(ca_key: &KeyPair) -> Result<KeyPair, PkiError> {
    if ca_key.algorithm() == &rcgen::PKCS_ECDSA_P256_SHA256 {
        new_key_pair(ServerKeyType::EcdsaP256)
    } else if ca_key.algorithm() == &rcgen::PKCS_ECDSA_P384_SHA384 {
        new_key_pair(ServerKeyType::EcdsaP384)
    } else {
        new_key_pair(ServerKeyType::Rsa2048)
    }
}

fn leaf_params(valid_days: i64) -> Result<CertificateParams, PkiError> {
    let mut params = CertificateParams::default();
    set_validity(&mut params, valid_days)?;
    params.serial_number = Some(random_serial()?);
    params.is_ca = IsCa::ExplicitNoCa;
    params.use_authority_key_identifier_extension = true;
    Ok(params)
}

/// Sets the validity window; dates are whole days (certificates need no finer grain).
fn set_validity(params: &mut CertificateParams, valid_days: i64) -> Result<(), PkiError> {
    let now = OffsetDateTime::now_utc();
    let day = |shift: time::Duration| {
        now.checked_add(shift)
            .map(|t| t.replace_time(time::Time::MIDNIGHT))
            .ok_or_else(|| PkiError::Generate(format!("{valid_days} days of validity is too long")))
    };
    params.not_before = day(-time::Duration::seconds(BACKDATE_SECS))?;
    params.not_after = day(time::Duration::seconds(valid_days.saturating_mul(86_400)))?;
    Ok(())
}

fn random_bytes<const N: usize>() -> Result<[u8; N], PkiError> {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes)
        .map_err(|e| PkiError::Generate(format!("OS random generator: {e}")))?;
    Ok(bytes)
}

fn random_serial() -> Result<SerialNumber, PkiError> {
    let mut bytes = random_bytes::<16>()?;
    // Serial numbers must be positive.
    bytes[0] &= 0x7F;
    bytes[0] |= 0x01;
    Ok(SerialNumber::from_slice(&bytes))
}

fn write_public(path: &Path, contents: &[u8]) -> Result<(), PkiError> {
    fs::write(path, contents).map_err(|e| io_err(path, e))
}

/// Writes a private key readable by the owner only, also when the file already existed.
fn write_secret(path: &Path, contents: &[u8]) -> Result<(), PkiError> {
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| io_err(path, e))?;
    file.set_permissions(fs::Permissions::from_mode(0o600))
        .map_err(|e| io_err(path, e))?;
    file.write_all(contents).map_err(|e| io_err(path, e))?;
    file.sync_all().map_err(|e| io_err(path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validity_is_whole_days_around_now() {
        let mut params = CertificateParams::default();
        set_validity(&mut params, 365).unwrap();
        assert_eq!(params.not_before.time(), time::Time::MIDNIGHT);
        assert_eq!(params.not_after.time(), time::Time::MIDNIGHT);
        let now = OffsetDateTime::now_utc();
        assert!(params.not_before <= now - time::Duration::seconds(BACKDATE_SECS));
        let span = params.not_after - params.not_before;
        assert!((365..=367).contains(&span.whole_days()), "{span}");
        assert!(set_validity(&mut params, i64::MAX).is_err());
    }

    #[test]
    fn fingerprint_format() {
        let fp = [0xABu8; 32];
        let text = fingerprint_hex(&fp);
        assert_eq!(text.len(), 32 * 3 - 1);
        assert!(text.starts_with("AB:AB:"));
        assert_eq!(crate::config::parse_fingerprint(&text), Some(fp));
    }
}
