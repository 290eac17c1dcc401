//! The `[keyprotect]` configuration table.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use super::KpError;

/// Regions Key Protect serves (KP docs, `regions.md`).
pub const KNOWN_REGIONS: &[&str] = &[
    "us-south", "us-east", "eu-gb", "eu-de", "au-syd", "jp-tok", "jp-osa", "ca-tor", "br-sao",
    "eu-es", "ca-mon", "in-che", "in-mum",
];

/// Public IAM token endpoint, used unless `iam_endpoint` is set or `private_endpoint` is on.
pub const PUBLIC_IAM_TOKEN_URL: &str = "https://iam.cloud.ibm.com/identity/token";
/// Private IAM token endpoint, used when `private_endpoint = true` and `iam_endpoint` is unset.
pub const PRIVATE_IAM_TOKEN_URL: &str = "https://private.iam.cloud.ibm.com/identity/token";
/// Environment variable holding the API key when `api_key_file` is not set.
pub const API_KEY_ENV: &str = "KEYWARD_KP_API_KEY";

/// `[keyprotect]`: where the customer root key (CRK) lives and how to reach it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyProtectConfig {
    /// GUID of the Key Protect service instance (sent as the `bluemix-instance` header).
    pub instance_id: String,
    /// ID (or alias) of the customer root key that wraps the master key. Must be a root key
    /// (not extractable). The appliance's service ID needs only the Reader role on it.
    pub root_key_id: String,
    /// Key Protect region, e.g. `"us-south"`; the endpoint is derived from it. Set exactly one
    /// of `region` and `endpoint`.
    #[serde(default)]
    pub region: Option<String>,
    /// Explicit Key Protect base URL, e.g. `"https://us-south.kms.cloud.ibm.com"`, instead of
    /// `region`. Plain `http://` is accepted only for loopback addresses (tests, emulators).
    #[serde(default)]
    pub endpoint: Option<String>,
    /// Use the private endpoints (`private.<region>.kms.cloud.ibm.com` and the private IAM
    /// endpoint). Required when the instance's network policy allows only private access.
    #[serde(default)]
    pub private_endpoint: bool,
    /// IAM token URL. Default: `https://iam.cloud.ibm.com/identity/token`, or
    /// `https://private.iam.cloud.ibm.com/identity/token` with `private_endpoint = true`.
    #[serde(default)]
    pub iam_endpoint: Option<String>,
    /// Key ring of the root key (`x-kms-key-ring` header); optional, speeds up lookups.
    #[serde(default)]
    pub key_ring: Option<String>,
    /// File holding the IBM Cloud API key (mode 0600, owned by the appliance user; a file that
    /// group or others can read is refused). When unset, the API key is read from the
    /// environment variable `KEYWARD_KP_API_KEY`. Never given on the command line.
    #[serde(default)]
    pub api_key_file: Option<PathBuf>,
    /// PEM bundle of CA certificates trusted for the IAM and Key Protect endpoints (e.g. a
    /// TLS-inspecting proxy's CA). Default: the system bundle
    /// `/etc/ssl/certs/ca-certificates.crt`.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// HTTP(S) proxy URL, e.g. `"http://proxy.example:3128"`. Without it no proxy is used, and
    /// `HTTP_PROXY`-style environment variables are ignored.
    #[serde(default)]
    pub proxy: Option<String>,
    /// How often the sync thread reads the root key's state and version (default `"60s"`).
    /// A disabled or deleted root key is noticed within one interval.
    #[serde(
        default = "default_sync_interval",
        deserialize_with = "super::duration::deserialize"
    )]
    pub sync_interval: Duration,
    /// Seal (stop serving key material) once Key Protect has been unreachable this long, e.g.
    /// `"1h"`. Off by default: an outage then never stops the appliance, but a revocation made
    /// during an outage takes effect only when Key Protect is reachable again. Turning it on
    /// makes revocation certain within this bound, at the price of an outage becoming an
    /// appliance outage.
    #[serde(default, deserialize_with = "super::duration::deserialize_optional")]
    pub max_unreachable: Option<Duration>,
    /// Time limit for one HTTP request to IAM or Key Protect, connection included
    /// (default `"30s"`).
    #[serde(
        default = "default_request_timeout",
        deserialize_with = "super::duration::deserialize"
    )]
    pub request_timeout: Duration,
    /// Attempts per call, the first included, before Key Protect counts as unreachable
    /// (default 5; 1 to 10). Only network errors, 429 and 5xx (not 501) are retried.
    #[serde(default = "default_max_attempts")]
    pub max_attempts: u32,
    /// First retry delay (default `"1s"`); doubled per attempt, with random jitter, and raised
    /// to the server's `Retry-After` when that is longer.
    #[serde(
        default = "default_retry_backoff",
        deserialize_with = "super::duration::deserialize"
    )]
    pub retry_backoff: Duration,
    /// Upper bound of one retry delay (default `"30s"`).
    #[serde(
        default = "default_retry_backoff_max",
        deserialize_with = "super::duration::deserialize"
    )]
    pub retry_backoff_max: Duration,
}

fn default_sync_interval() -> Duration {
    Duration::from_secs(60)
}
fn default_request_timeout() -> Duration {
    Duration::from_secs(30)
}
fn default_max_attempts() -> u32 {
    5
}
fn default_retry_backoff() -> Duration {
    Duration::from_secs(1)
}
fn default_retry_backoff_max() -> Duration {
    Duration::from_secs(30)
}

fn is_identifier(text: &str) -> bool {
    !text.is_empty()
        && text.len() <= 256
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

impl KeyProtectConfig {
    /// A configuration with every optional field at its default, for a given endpoint.
    pub fn new(instance_id: &str, root_key_id: &str, endpoint: &str, iam_endpoint: &str) -> Self {
        KeyProtectConfig {
            instance_id: instance_id.into(),
            root_key_id: root_key_id.into(),
            region: None,
            endpoint: Some(endpoint.into()),
            private_endpoint: false,
            iam_endpoint: Some(iam_endpoint.into()),
            key_ring: None,
            api_key_file: None,
            ca_file: None,
            proxy: None,
            sync_interval: default_sync_interval(),
            max_unreachable: None,
            request_timeout: default_request_timeout(),
            max_attempts: default_max_attempts(),
            retry_backoff: default_retry_backoff(),
            retry_backoff_max: default_retry_backoff_max(),
        }
    }

    /// Checks what serde cannot: identifiers, one of region/endpoint, bounds.
    pub fn validate(&self) -> Result<(), KpError> {
        let bad = |msg: String| Err(KpError::Config(msg));
        // Both go into a URL path or a header unescaped, so only safe characters are allowed.
        if !is_identifier(&self.instance_id) {
            return bad("instance_id must be the instance GUID (letters, digits, '-')".into());
        }
        if !is_identifier(&self.root_key_id) {
            return bad("root_key_id must be a key id or alias (letters, digits, '-', '_')".into());
        }
        if let Some(ring) = &self.key_ring
            && !is_identifier(ring)
        {
            return bad("key_ring must be letters, digits, '-' or '_'".into());
        }
        match (&self.region, &self.endpoint) {
            (Some(_), Some(_)) => return bad("set either region or endpoint, not both".into()),
            (None, None) => return bad("set region (e.g. \"us-south\") or endpoint".into()),
            (Some(region), None) if !KNOWN_REGIONS.contains(&region.as_str()) => {
                return bad(format!(
                    "unknown region \"{region}\"; known: {}",
                    KNOWN_REGIONS.join(", ")
                ));
            }
            _ => {}
        }
        if self.sync_interval.is_zero() {
            return bad("sync_interval must be longer than zero".into());
        }
        if self.request_timeout.is_zero() {
            return bad("request_timeout must be longer than zero".into());
        }
        if !(1..=10).contains(&self.max_attempts) {
            return bad("max_attempts must be between 1 and 10".into());
        }
        if self.retry_backoff > self.retry_backoff_max {
            return bad("retry_backoff must not exceed retry_backoff_max".into());
        }
        Ok(())
    }

    /// The Key Protect base URL, without a trailing slash.
    pub fn kp_base_url(&self) -> String {
        match (&self.endpoint, &self.region) {
            (Some(endpoint), _) => endpoint.trim_end_matches('/').to_string(),
            (None, Some(region)) if self.private_endpoint => {
                format!("https://private.{region}.kms.cloud.ibm.com")
            }
            (None, Some(region)) => format!("https://{region}.kms.cloud.ibm.com"),
            (None, None) => String::new(),
        }
    }

    /// The IAM token URL.
    pub fn iam_token_url(&self) -> String {
        match &self.iam_endpoint {
            Some(url) => url.clone(),
            None if self.private_endpoint => PRIVATE_IAM_TOKEN_URL.into(),
            None => PUBLIC_IAM_TOKEN_URL.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize)]
    struct Wrapper {
        keyprotect: KeyProtectConfig,
    }

    #[test]
    fn defaults_and_durations() {
        let text = r#"
            [keyprotect]
            instance_id = "12e8c9c2-a162-472d-b7d6-8b9a86b815a6"
            root_key_id = "02fd6835-6001-4482-a892-13bd2085f75d"
            region = "eu-de"
            private_endpoint = true
            sync_interval = "250ms"
            max_unreachable = "1h"
        "#;
        let config = toml::from_str::<Wrapper>(text).unwrap().keyprotect;
        config.validate().unwrap();
        assert_eq!(config.sync_interval, Duration::from_millis(250));
        assert_eq!(config.max_unreachable, Some(Duration::from_secs(3600)));
        assert_eq!(config.request_timeout, Duration::from_secs(30));
        assert_eq!(config.max_attempts, 5);
        assert_eq!(
            config.kp_base_url(),
            "https://private.eu-de.kms.cloud.ibm.com"
        );
        assert_eq!(config.iam_token_url(), PRIVATE_IAM_TOKEN_URL);
    }

    #[test]
    fn unknown_fields_and_bad_values_are_refused() {
        let unknown = r#"
            [keyprotect]
            instance_id = "i"
            root_key_id = "k"
            region = "us-south"
            api_key = "secret"
        "#;
        assert!(toml::from_str::<Wrapper>(unknown).is_err());
        let mut config = KeyProtectConfig::new("i", "k", "http://127.0.0.1:1", "http://x");
        config.validate().unwrap();
        config.root_key_id = "../etc".into();
        assert!(config.validate().is_err());
        config.root_key_id = "k".into();
        config.region = Some("us-south".into());
        assert!(config.validate().is_err());
        config.endpoint = None;
        config.region = Some("mars-1".into());
        assert!(config.validate().is_err());
    }
}
