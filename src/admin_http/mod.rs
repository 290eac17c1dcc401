//! The HTTPS admin API (`[admin_http]`): everything the CLI's admin commands do, for
//! automation and browsers, over the same admin operations (`crate::admin::ops`), on a
//! listener and threads of its own. Accounts and API tokens with roles guard it.

pub mod accounts;
pub mod appliance;
pub mod approvals;
pub mod auth;
pub mod backups;
pub mod console;
pub mod dispatch;
pub mod file_body;
pub mod handlers;
pub mod own_account;
pub mod routes;
pub mod shape;
pub mod totp;
mod transport;
mod views;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use crate::server::registry_notify::RegistryNotifier;
use crate::server::{ServerError, Services};

/// Starts the admin API on `settings.listen` (if set); returns the bound address.
pub fn start(
    settings: &crate::config::admin_http::AdminHttpSettings,
    services: Services,
    data_dir: PathBuf,
    server_cert: PathBuf,
    server_key: PathBuf,
    notifier: RegistryNotifier,
    backup: Option<crate::backup::schedule::BackupSettings>,
) -> Result<Option<SocketAddr>, ServerError> {
    let Some(listen) = settings.listen else {
        return Ok(None);
    };
    let tls = crate::server::admin_tls::server_config(&server_cert, &server_key)?;
    let app = Arc::new(handlers::App {
        services,
        gatekeeper: auth::Gatekeeper::new(data_dir.clone(), settings.clone()),
        data_dir,
        server_cert,
        notifier: Some(notifier),
        approvals: settings.destroy_approval.then(|| {
            approvals::Approvals::new(std::time::Duration::from_secs(settings.approval_ttl_secs))
        }),
        backup,
    });
    let bound = transport::spawn(
        listen,
        tls,
        app,
        transport::Limits {
            max_body: settings.max_body_bytes(),
            max_upload: settings.max_upload_bytes(),
            request_timeout: settings.request_timeout(),
        },
    )
    .map_err(|e| ServerError::io(format!("cannot listen for the admin API on {listen}"), e))?;
    Ok(Some(bound))
}
