//! Appliance configuration, read from a TOML file. Every setting has a default, so an empty
//! file (or no file at all) is a working configuration; unknown keys are refused so that a
//! typo never silently falls back to a default.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

pub mod admin_http;

/// Errors in the configuration: the operator's file is at fault, and the message says where.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read configuration file {path}: {message}")]
    Read { path: String, message: String },
    #[error("configuration file {path} is invalid: {message}")]
    Parse { path: String, message: String },
    #[error("configuration setting {setting}: {message}")]
    Invalid { setting: String, message: String },
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Where the CA, server certificate, root key and database live.
    pub data_dir: PathBuf,
    pub server: ServerSettings,
    pub tls: TlsSettings,
    pub root: RootSettings,
    /// Required when `root.provider = "keyprotect"`.
    pub keyprotect: Option<crate::keyprotect::KeyProtectConfig>,
    /// Present: this appliance is a cluster node and keeps its store in etcd.
    pub cluster: Option<crate::store::etcd::ClusterConfig>,
    /// The embedded store's disk reserve.
    pub store: StoreSettings,
    /// The `[audit]` table (issue 6).
    pub audit: crate::audit::settings::AuditSettings,
    /// Scheduled encrypted backups (off without this table).
    pub backup: Option<crate::backup::schedule::BackupSettings>,
    /// The local health and metrics listener.
    pub http: HttpSettings,
    /// The HTTPS admin API (`src/admin_http/`); off without `listen`.
    pub admin_http: admin_http::AdminHttpSettings,
    pub log: LogSettings,
    /// KMIP semantics a site may choose (`[kmip]`).
    pub kmip: KmipSettings,
}

/// The `[kmip]` table: protocol behaviour KMIP leaves to the server.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct KmipSettings {
    /// Refuse a Name that another live object of the same client already holds. KMIP lets
    /// names repeat (PyKMIP relies on it: Locate by name then returns every match), so this is
    /// off by default; destroyed objects never hold a name either way.
    pub unique_names: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StoreSettings {
    /// MiB of disk kept allocated beside the database and given back when the disk fills,
    /// so reads and their audit records go on while changes are refused. 0: no reserve.
    pub disk_reserve_mib: u64,
    /// MiB of memory the database's page cache may use.
    pub cache_mib: usize,
    /// When every database page is verified at start-up after a clean shutdown.
    pub verify_at_start: crate::store::redb::VerifyAtStart,
}

impl Default for StoreSettings {
    fn default() -> Self {
        StoreSettings {
            disk_reserve_mib: 16,
            cache_mib: crate::store::redb::DEFAULT_CACHE_BYTES >> 20,
            verify_at_start: Default::default(),
        }
    }
}

impl StoreSettings {
    /// How the embedded database is opened.
    pub fn redb_options(&self) -> crate::store::redb::RedbOptions {
        crate::store::redb::RedbOptions {
            cache_bytes: self.cache_mib.saturating_mul(1 << 20),
            verify: self.verify_at_start,
        }
    }

    pub fn disk_reserve_bytes(&self) -> u64 {
        self.disk_reserve_mib.saturating_mul(1 << 20)
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpSettings {
    /// Address of the `/healthz` and `/metrics` listener; no listener when absent.
    pub listen: Option<SocketAddr>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogSettings {
    /// error, warn, info, debug or trace; RUST_LOG overrides it.
    pub level: String,
}

impl Default for LogSettings {
    fn default() -> Self {
        LogSettings {
            level: "info".into(),
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            data_dir: PathBuf::from("./keyward-data"),
            server: ServerSettings::default(),
            tls: TlsSettings::default(),
            root: RootSettings::default(),
            keyprotect: None,
            cluster: None,
            store: StoreSettings::default(),
            audit: Default::default(),
            backup: None,
            http: HttpSettings::default(),
            admin_http: Default::default(),
            log: LogSettings::default(),
            kmip: KmipSettings::default(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerSettings {
    /// Address and port of the KMIP listener.
    pub listen: SocketAddr,
    /// Most authenticated connections (mutual TLS completed); a handshake completing beyond
    /// this many is closed. Unauthenticated connections never count against it.
    pub max_connections: usize,
    /// Most authenticated connections of one client identity; none: no cap of its own.
    pub max_connections_per_client: Option<usize>,
    /// Most connections still in their TLS handshake (no trusted certificate yet); when
    /// full, a newcomer evicts the oldest one of the busiest source address.
    pub max_unauthenticated: usize,
    /// Most such connections from one source address (IPv6: one /64); a newcomer beyond it
    /// replaces that address's own oldest.
    pub max_unauthenticated_per_ip: usize,
    /// A connection that has sent no byte this many seconds after it was accepted is closed.
    pub first_byte_timeout_secs: u64,
    /// Most accepted connections that have sent nothing yet, held apart from (and in front
    /// of) `max_unauthenticated`; a quarter of them per source address. Holding more silent
    /// sockets than an attacker re-opens keeps the kernel's accept queue from filling.
    /// 0: no pool, a connection takes an unauthenticated slot when accepted.
    pub max_silent_connections: usize,
    /// Full TLS handshakes per second and source address that may end without an
    /// authenticated client (each costs a private-key operation); beyond, only session
    /// resumption is served to that address until its allowance refills.
    pub handshake_rate_per_ip: u32,
    /// How many such handshakes one address may start in a burst.
    pub handshake_burst_per_ip: u32,
    /// A client must finish the TLS handshake within this many seconds.
    pub handshake_timeout_secs: u64,
    /// A connection with no request in progress is closed after this many idle seconds.
    pub idle_timeout_secs: u64,
    /// Largest KMIP message accepted, header included.
    pub max_message_bytes: usize,
    /// Most batch items in one request.
    pub max_batch_items: usize,
    /// A request must arrive complete within this many seconds of its first byte, so a
    /// client trickling bytes (slow-loris) cannot hold a connection slot for ever.
    pub request_timeout_secs: u64,
    /// Deepest nesting of TTLV structures accepted in a request.
    pub max_nesting_depth: usize,
}

impl Default for ServerSettings {
    fn default() -> Self {
        ServerSettings {
            listen: SocketAddr::from(([127, 0, 0, 1], 5696)),
            max_connections: 1024,
            max_connections_per_client: None,
            max_unauthenticated: 256,
            max_unauthenticated_per_ip: 64,
            first_byte_timeout_secs: 2,
            max_silent_connections: 16384,
            handshake_rate_per_ip: 10,
            handshake_burst_per_ip: 64,
            handshake_timeout_secs: 10,
            idle_timeout_secs: 60,
            max_message_bytes: 1 << 20,
            max_batch_items: 256,
            request_timeout_secs: 30,
            max_nesting_depth: 32,
        }
    }
}

impl ServerSettings {
    pub fn handshake_timeout(&self) -> Duration {
        Duration::from_secs(self.handshake_timeout_secs)
    }

    pub fn idle_timeout(&self) -> Duration {
        Duration::from_secs(self.idle_timeout_secs)
    }

    pub fn request_timeout(&self) -> Duration {
        Duration::from_secs(self.request_timeout_secs)
    }

    pub fn first_byte_timeout(&self) -> Duration {
        Duration::from_secs(self.first_byte_timeout_secs)
    }
}

/// Key type of the appliance CA and server certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum ServerKeyType {
    /// RSA 2048: ECDHE-RSA-AES-GCM, the combination reported to work with vCenter.
    #[serde(rename = "rsa2048")]
    Rsa2048,
    /// ECDSA P-256: several times cheaper per handshake.
    #[serde(rename = "ecdsa-p256")]
    EcdsaP256,
    #[serde(rename = "rsa3072")]
    Rsa3072,
    #[serde(rename = "ecdsa-p384")]
    EcdsaP384,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TlsSettings {
    /// Used only when the CA and server certificate are first created.
    pub server_key_type: ServerKeyType,
    /// PEM files of further CAs whose client certificates are trusted (e.g. the vCenter root CA).
    pub trusted_ca_files: Vec<PathBuf>,
    /// SHA-256 fingerprints (hex, colons optional) of client certificates trusted as they are.
    pub pinned_client_fingerprints: Vec<String>,
}

impl Default for TlsSettings {
    fn default() -> Self {
        TlsSettings {
            server_key_type: ServerKeyType::Rsa2048,
            trusted_ca_files: Vec::new(),
            pinned_client_fingerprints: Vec::new(),
        }
    }
}

impl TlsSettings {
    /// The pinned fingerprints as bytes; an entry that is not 32 bytes of hex is an error.
    pub fn pinned_fingerprints(&self) -> Result<Vec<[u8; 32]>, ConfigError> {
        self.pinned_client_fingerprints
            .iter()
            .map(|text| {
                parse_fingerprint(text).ok_or_else(|| ConfigError::Invalid {
                    setting: "tls.pinned_client_fingerprints".into(),
                    message: format!(
                        "{text:?} is not a SHA-256 fingerprint (64 hex digits, colons optional)"
                    ),
                })
            })
            .collect()
    }
}

/// Parses "AB:CD:…" or "abcd…" (64 hex digits).
pub fn parse_fingerprint(text: &str) -> Option<[u8; 32]> {
    let digits: String = text.chars().filter(|c| *c != ':').collect();
    let bytes = hex::decode(digits.trim()).ok()?;
    bytes.try_into().ok()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RootProvider {
    /// Root key in a 0600 file in the data directory, or derived from a passphrase.
    Local,
    /// A customer root key in IBM Key Protect (the `[keyprotect]` table).
    Keyprotect,
}

impl RootProvider {
    pub fn name(self) -> &'static str {
        match self {
            RootProvider::Local => "local",
            RootProvider::Keyprotect => "keyprotect",
        }
    }
}

/// A root key provider name that is neither "local" nor "keyprotect".
#[derive(Debug, thiserror::Error)]
#[error("unknown root key provider {0:?}; use \"local\" or \"keyprotect\"")]
pub struct UnknownRootProvider(String);

impl std::str::FromStr for RootProvider {
    type Err = UnknownRootProvider;

    fn from_str(text: &str) -> Result<RootProvider, UnknownRootProvider> {
        match text {
            "local" => Ok(RootProvider::Local),
            "keyprotect" => Ok(RootProvider::Keyprotect),
            other => Err(UnknownRootProvider(other.to_string())),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RootSettings {
    pub provider: RootProvider,
    /// When set, the root key is derived with Argon2id from the passphrase in this file
    /// instead of being read from `<data_dir>/root.key`.
    pub passphrase_file: Option<PathBuf>,
    /// The passphrase is never stored: the root key is derived from a passphrase an operator
    /// types at every start, so the server starts sealed and serves no key material until
    /// `keyward unseal` (or the appliance console) gives it. Local provider, no
    /// `passphrase_file`.
    pub seal_at_start: bool,
}

impl Default for RootSettings {
    fn default() -> Self {
        RootSettings {
            provider: RootProvider::Local,
            passphrase_file: None,
            seal_at_start: false,
        }
    }
}

impl Config {
    pub fn from_toml(text: &str, origin: &str) -> Result<Config, ConfigError> {
        let config: Config = toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: origin.to_string(),
            message: e.to_string(),
        })?;
        config.validate()?;
        Ok(config)
    }

    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Read {
            path: path.display().to_string(),
            message: e.to_string(),
        })?;
        Config::from_toml(&text, &path.display().to_string())
    }

    /// Checks what serde cannot: values that parse but make no sense.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let positive = [
            ("server.max_connections", self.server.max_connections as u64),
            (
                "server.max_connections_per_client",
                self.server.max_connections_per_client.unwrap_or(1) as u64,
            ),
            (
                "server.max_unauthenticated",
                self.server.max_unauthenticated as u64,
            ),
            (
                "server.max_unauthenticated_per_ip",
                self.server.max_unauthenticated_per_ip as u64,
            ),
            (
                "server.first_byte_timeout_secs",
                self.server.first_byte_timeout_secs,
            ),
            (
                "server.handshake_rate_per_ip",
                u64::from(self.server.handshake_rate_per_ip),
            ),
            (
                "server.handshake_burst_per_ip",
                u64::from(self.server.handshake_burst_per_ip),
            ),
            (
                "server.handshake_timeout_secs",
                self.server.handshake_timeout_secs,
            ),
            ("server.idle_timeout_secs", self.server.idle_timeout_secs),
            ("server.max_batch_items", self.server.max_batch_items as u64),
            (
                "server.request_timeout_secs",
                self.server.request_timeout_secs,
            ),
            (
                "server.max_nesting_depth",
                self.server.max_nesting_depth as u64,
            ),
        ];
        for (setting, value) in positive {
            if value == 0 {
                return Err(ConfigError::Invalid {
                    setting: setting.into(),
                    message: "must be at least 1".into(),
                });
            }
        }
        if self.server.max_message_bytes < 64 {
            return Err(ConfigError::Invalid {
                setting: "server.max_message_bytes".into(),
                message: "must be at least 64 bytes".into(),
            });
        }
        self.tls.pinned_fingerprints()?;
        if self.log.level.parse::<log::LevelFilter>().is_err() {
            return Err(ConfigError::Invalid {
                setting: "log.level".into(),
                message: "must be one of off, error, warn, info, debug, trace".into(),
            });
        }
        if let Some(keyprotect) = &self.keyprotect {
            keyprotect.validate().map_err(|e| ConfigError::Invalid {
                setting: "keyprotect".into(),
                message: e.to_string(),
            })?;
        }
        if self.root.provider == RootProvider::Keyprotect && self.keyprotect.is_none() {
            return Err(ConfigError::Invalid {
                setting: "root.provider".into(),
                message: "\"keyprotect\" needs a [keyprotect] table".into(),
            });
        }
        if self.root.seal_at_start
            && (self.root.provider != RootProvider::Local || self.root.passphrase_file.is_some())
        {
            return Err(ConfigError::Invalid {
                setting: "root.seal_at_start".into(),
                message: "needs provider = \"local\" and no passphrase_file: the passphrase is \
                          typed by an operator at every start (`keyward unseal`), never stored"
                    .into(),
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn example_file_documents_exactly_the_defaults() {
        let text = include_str!("../config.example.toml");
        let parsed = Config::from_toml(text, "config.example.toml").unwrap();
        assert_eq!(parsed, Config::default());
    }

    #[test]
    fn example_keyprotect_table_documents_its_defaults() {
        let text = include_str!("../config.example.toml");
        let table = text
            .split_once("# [keyprotect]")
            .expect("the example has a commented [keyprotect] table")
            .1;
        // Settings without a default (or exclusive with region) stay commented out.
        let optional = [
            "endpoint",
            "iam_endpoint",
            "key_ring",
            "api_key_file",
            "ca_file",
            "proxy",
            "max_unreachable",
        ];
        let mut uncommented = String::from("[keyprotect]\n");
        for line in table.lines().filter_map(|l| l.strip_prefix("# ")) {
            if let Some((name, _)) = line.split_once(" = ")
                && !name.contains(' ')
                && !optional.contains(&name)
            {
                uncommented.push_str(line);
                uncommented.push('\n');
            }
        }
        let parsed = Config::from_toml(&uncommented, "example [keyprotect]").unwrap();
        let keyprotect = parsed.keyprotect.unwrap();
        let mut expected = crate::keyprotect::KeyProtectConfig::new(
            &keyprotect.instance_id,
            &keyprotect.root_key_id,
            "unused",
            "unused",
        );
        expected.endpoint = None;
        expected.iam_endpoint = None;
        expected.region = Some("us-south".into());
        assert_eq!(keyprotect, expected);
    }

    #[test]
    fn empty_file_is_the_default() {
        assert_eq!(Config::from_toml("", "empty").unwrap(), Config::default());
    }

    #[test]
    fn unknown_setting_is_refused() {
        let err = Config::from_toml("[server]\nlisten_port = 1\n", "typo").unwrap_err();
        assert!(err.to_string().contains("listen_port"), "{err}");
    }

    #[test]
    fn settings_override_defaults() {
        let text = "data_dir = \"/var/lib/keyward\"\n[server]\nlisten = \"0.0.0.0:15696\"\n\
                    [tls]\nserver_key_type = \"ecdsa-p256\"\npinned_client_fingerprints = [\"aa\"]\n";
        let err = Config::from_toml(text, "t").unwrap_err();
        assert!(
            err.to_string().contains("pinned_client_fingerprints"),
            "{err}"
        );
        let good = text.replace("\"aa\"", &format!("\"{}\"", "AB:".repeat(31) + "AB"));
        let config = Config::from_toml(&good, "t").unwrap();
        assert_eq!(config.data_dir, PathBuf::from("/var/lib/keyward"));
        assert_eq!(config.server.listen.port(), 15696);
        assert_eq!(config.tls.server_key_type, ServerKeyType::EcdsaP256);
        assert_eq!(config.tls.pinned_fingerprints().unwrap(), vec![[0xAB; 32]]);
    }

    #[test]
    fn keyprotect_root_needs_a_valid_keyprotect_table() {
        let err = Config::from_toml("[root]\nprovider = \"keyprotect\"\n", "t").unwrap_err();
        assert!(err.to_string().contains("[keyprotect]"), "{err}");
        let table = "[keyprotect]\ninstance_id = \"i-1\"\nroot_key_id = \"k-1\"\n";
        let err = Config::from_toml(table, "t").unwrap_err();
        assert!(err.to_string().contains("region"), "{err}");
        let text = format!(
            "[root]\nprovider = \"keyprotect\"\n{table}region = \"us-south\"\nsync_interval = \"2s\"\n"
        );
        let config = Config::from_toml(&text, "t").unwrap();
        assert_eq!(config.root.provider, RootProvider::Keyprotect);
        let keyprotect = config.keyprotect.unwrap();
        assert_eq!(keyprotect.sync_interval, Duration::from_secs(2));
        assert_eq!(keyprotect.max_unreachable, None);
    }

    #[test]
    fn zero_limits_are_refused() {
        assert!(Config::from_toml("[server]\nmax_connections = 0\n", "t").is_err());
        assert!(Config::from_toml("[server]\nmax_unauthenticated = 0\n", "t").is_err());
        assert!(Config::from_toml("[server]\nmax_connections_per_client = 0\n", "t").is_err());
        assert!(Config::from_toml("[server]\nmax_message_bytes = 8\n", "t").is_err());
    }
}
