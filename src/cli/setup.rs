//! Where a command finds its appliance: the `--data-dir` and `--config` flags every command
//! shares, and the configuration they select (with the system-wide file as the fallback).

use std::path::{Path, PathBuf};

use clap::Args;

use keyward::config::{Config, ConfigError};

#[derive(Args)]
pub struct SetupArgs {
    /// Directory holding certificates, the root key and the database (default ./keyward-data,
    /// or data_dir from the configuration file).
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// TOML configuration file (see config.example.toml). Without it and without --data-dir,
    /// /etc/keyward/config.toml when it exists (the package's and the appliance's), else
    /// defaults.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
}

/// The configuration the Debian package and the appliance install, so that an administrator
/// on the appliance can type `keyward status` without naming it.
const SYSTEM_CONFIG: &str = "/etc/keyward/config.toml";

pub fn load_config(setup: &SetupArgs) -> Result<Config, ConfigError> {
    load_config_with_system_default(setup, Path::new(SYSTEM_CONFIG))
}

/// `--config` first; with neither `--config` nor `--data-dir`, `system` if it exists.
fn load_config_with_system_default(
    setup: &SetupArgs,
    system: &Path,
) -> Result<Config, ConfigError> {
    let path = match (&setup.config, &setup.data_dir) {
        (Some(path), _) => Some(path.as_path()),
        (None, None) if system.is_file() => Some(system),
        _ => None,
    };
    let mut config = match path {
        Some(path) => Config::load(path)?,
        None => Config::default(),
    };
    if let Some(dir) = &setup.data_dir {
        config.data_dir = dir.clone();
    }
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn setup(config: Option<&Path>, data_dir: Option<&str>) -> SetupArgs {
        SetupArgs {
            config: config.map(Path::to_path_buf),
            data_dir: data_dir.map(PathBuf::from),
        }
    }

    #[test]
    fn the_system_configuration_applies_only_when_nothing_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let system = dir.path().join("system.toml");
        std::fs::write(&system, "data_dir = \"/var/lib/keyward\"\n").unwrap();
        let named = dir.path().join("named.toml");
        std::fs::write(&named, "data_dir = \"/srv/named\"\n").unwrap();

        let data_dir = |args: SetupArgs, system: &Path| {
            load_config_with_system_default(&args, system)
                .unwrap()
                .data_dir
        };
        assert_eq!(
            data_dir(setup(None, None), &system),
            PathBuf::from("/var/lib/keyward")
        );
        assert_eq!(
            data_dir(setup(Some(&named), None), &system),
            PathBuf::from("/srv/named")
        );
        assert_eq!(
            data_dir(setup(None, Some("/tmp/d")), &system),
            PathBuf::from("/tmp/d")
        );
        let absent = dir.path().join("absent.toml");
        assert_eq!(
            data_dir(setup(None, None), &absent),
            Config::default().data_dir
        );
    }
}
