//! Runs a set-up appliance: the KMIP server with its admin socket, the optional health/metrics
//! and admin API listeners, the root key sync and the scheduled backups, until a signal stops
//! it. The wiring `keyward serve` does after `init`; here so the command line never reaches
//! into the server. What is bound is announced on standard output (the tests and the
//! operator read those lines) and systemd is told once the appliance is ready.

use std::io::Write;
use std::net::SocketAddr;

use super::error::ApplianceError;
use super::root_sync::RootSync;
use super::setup::Appliance;
use crate::server::{Server, ServerOptions, sd_notify};

/// Serves until a signal stops the server; `listen` overrides `[server] listen`.
pub fn serve(mut appliance: Appliance, listen: Option<SocketAddr>) -> Result<(), ApplianceError> {
    if let Some(addr) = listen {
        appliance.config.server.listen = addr;
    }
    let services = appliance.services()?;
    let options = ServerOptions::from_settings(&appliance.config.server);
    let services_for_admin = services.clone();
    let mut server = Server::bind(options, services)?;
    server.handle_signals()?;
    let admin_socket = appliance
        .config
        .data_dir
        .join(crate::admin::protocol::SOCKET_FILE);
    server.serve_admin_socket(&admin_socket)?;
    if let Some(addr) = appliance.config.http.listen {
        let bound = server.serve_http(addr)?;
        println!("health and metrics on http://{bound}");
        log::info!("health and metrics on http://{bound} (/healthz, /metrics)");
    }
    // Its own thread and runtime: nothing the admin API does runs on the KMIP event loop.
    if let Some(bound) = crate::admin_http::start(
        &appliance.config.admin_http,
        services_for_admin,
        appliance.config.data_dir.clone(),
        appliance.pki.server_cert.clone(),
        appliance.pki.server_key.clone(),
        server.registry_notifier(),
        appliance.config.backup.clone(),
    )? {
        println!("admin API on https://{bound}");
        log::info!("admin API on https://{bound} (/api/openapi.json)");
    }
    // Started before "listening" is announced, so the sync state is known by then.
    let root_sync = RootSync::start(&appliance)?;
    println!("listening on {}", server.local_addr());
    let _ = std::io::stdout().flush();
    log::info!("KMIP server listening on {}", server.local_addr());
    let backups = match appliance.config.backup.clone() {
        Some(settings) => Some(
            crate::backup::schedule::Scheduler::start(
                settings,
                appliance.store.clone(),
                appliance.engine.gate().clone(),
                appliance.appliance_id.clone(),
                appliance.audit_log(),
            )
            .map_err(ApplianceError::Schedule)?,
        ),
        None => None,
    };
    // The listener is bound and the master key unwrapped (or the appliance knows why it is
    // sealed): systemd may start what depends on us.
    sd_notify::ready(&match &appliance.sealed_at_start {
        None => format!("serving KMIP on {}", server.local_addr()),
        Some(reason) => format!("SEALED on {}: {reason}", server.local_addr()),
    });
    let result = server.run().map_err(ApplianceError::from);
    if let Some(backups) = backups {
        backups.shutdown();
    }
    root_sync.shutdown();
    result
}
