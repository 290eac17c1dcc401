//! The workloads: what one client does in one iteration, over a kept connection or a new
//! connection per exchange.

use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::ClientConfig;

use super::messages;
use super::stats::Samples;
use crate::client::KmipClient;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Workload {
    /// Create an AES-256 key (the Creates/s of a store, e.g. a cluster's against one node's).
    Create,
    /// Create an AES-256 key, then Get it.
    CreateGet,
    /// Get one of `--keys` keys created before the run.
    Get,
    /// vCenter's sequence: Discover Versions, Create, Get Attributes ×3, Add Attribute
    /// batch, Get, Activate (each exchange on a new connection with --new-conn).
    Vcenter,
    /// Create (named), Activate, Get Attributes, Get, Locate by name.
    Mixed,
    /// All clients connect at the same moment and each fetches `--keys` existing keys.
    BootStorm,
}

/// One client's connection policy and its samples.
pub struct Session {
    addr: String,
    tls: Arc<ClientConfig>,
    new_conn: bool,
    timeout: Duration,
    conn: Option<KmipClient>,
    pub samples: Samples,
}

impl Session {
    pub fn new(addr: &str, tls: Arc<ClientConfig>, new_conn: bool, timeout: Duration) -> Session {
        Session {
            addr: addr.to_string(),
            tls,
            new_conn,
            timeout,
            conn: None,
            samples: Samples::default(),
        }
    }

    fn connect(&mut self) -> Option<KmipClient> {
        let started = Instant::now();
        match KmipClient::connect(&self.addr, self.tls.clone(), self.timeout) {
            Ok(conn) => {
                self.samples.handshakes += 1;
                self.samples.record("handshake", started.elapsed());
                Some(conn)
            }
            Err(e) => {
                log::debug!("bench: connect failed: {e}");
                self.samples.error("handshake");
                None
            }
        }
    }

    /// Connect, handshake, close: the baseline for handshake-bound workloads.
    pub fn bare_handshake(&mut self) -> bool {
        match self.connect() {
            Some(conn) => {
                conn.close_without_reading();
                true
            }
            None => false,
        }
    }

    /// Drops the kept connection (so the next exchange opens a new one).
    pub fn disconnect(&mut self) {
        if let Some(conn) = self.conn.take() {
            conn.close_without_reading();
        }
    }

    /// One request/response. The latency covers the exchange, not the handshake (which is
    /// sampled on its own). Returns the outcome when the server answered with success.
    pub fn exchange(
        &mut self,
        operation: &'static str,
        request: &[u8],
    ) -> Option<messages::Outcome> {
        if self.conn.is_none() {
            self.conn = Some(self.connect()?);
        }
        let conn = self.conn.as_mut()?;
        let started = Instant::now();
        let response = conn.roundtrip(request);
        let elapsed = started.elapsed();
        let outcome = match response {
            Ok(bytes) => messages::outcome(&bytes),
            Err(e) => {
                log::debug!("bench: {operation} failed: {e}");
                self.conn = None;
                None
            }
        };
        if self.new_conn {
            self.disconnect();
        }
        match outcome {
            Some(o) if o.success => {
                self.samples.record(operation, elapsed);
                Some(o)
            }
            _ => {
                self.samples.error(operation);
                None
            }
        }
    }

    /// vCenter opens each exchange with Discover Versions on a fresh connection; on a kept
    /// connection it is sent once.
    fn vcenter_exchange(
        &mut self,
        operation: &'static str,
        request: &[u8],
    ) -> Option<messages::Outcome> {
        if self.new_conn || self.conn.is_none() {
            let dv = messages::discover_versions();
            // The DV and the operation share one connection, as vCenter does.
            let keep = self.new_conn;
            self.new_conn = false;
            let ok = self.exchange("discover-versions", &dv).is_some();
            self.new_conn = keep;
            if !ok {
                return None;
            }
        }
        self.exchange(operation, request)
    }

    pub fn create(&mut self, name: Option<&str>) -> Option<String> {
        self.exchange("create", &messages::create(name))?.uid
    }
}

/// Runs one iteration of `workload`; `keys` are the existing keys (get, boot-storm), `n` the
/// iteration number (for unique names). Returns false when the iteration failed.
pub fn iterate(
    session: &mut Session,
    workload: Workload,
    keys: &[String],
    n: u64,
    client: usize,
) -> bool {
    match workload {
        Workload::Create => session.create(None).is_some(),
        Workload::CreateGet => {
            let Some(id) = session.create(None) else {
                return false;
            };
            session.exchange("get", &messages::get(&id)).is_some()
        }
        Workload::Get => {
            let Some(id) = keys.get((n as usize).wrapping_add(client) % keys.len().max(1)) else {
                return false;
            };
            session.exchange("get", &messages::get(id)).is_some()
        }
        Workload::Vcenter => vcenter(session),
        Workload::Mixed => {
            let name = format!("bench-{client}-{n}-{}", std::process::id());
            let Some(id) = session.create(Some(&name)) else {
                return false;
            };
            let steps: [(&'static str, Vec<u8>); 4] = [
                ("activate", messages::activate(&id)),
                ("get-attributes", messages::get_attribute(&id, "State")),
                ("get", messages::get(&id)),
                ("locate", messages::locate_by_name(&name)),
            ];
            for (operation, request) in steps {
                let Some(outcome) = session.exchange(operation, &request) else {
                    return false;
                };
                if operation == "locate" && outcome.uid.as_deref() != Some(id.as_str()) {
                    session.samples.error("locate-wrong-result");
                    return false;
                }
            }
            true
        }
        Workload::BootStorm => {
            // A rebooting host: one connection, every key it needs, then gone.
            let mut ok = true;
            for id in keys {
                ok &= session.exchange("get", &messages::get(id)).is_some();
            }
            session.disconnect();
            ok
        }
    }
}

fn vcenter(session: &mut Session) -> bool {
    let Some(id) = session
        .vcenter_exchange("create", &messages::create(None))
        .and_then(|o| o.uid)
    else {
        return false;
    };
    for (name, _) in messages::VCENTER_TAGS {
        if session
            .vcenter_exchange("get-attributes", &messages::get_attribute(&id, name))
            .is_none()
        {
            return false;
        }
    }
    let steps: [(&'static str, Vec<u8>); 3] = [
        (
            "add-attribute",
            messages::add_attributes(&id, &messages::VCENTER_TAGS),
        ),
        ("get", messages::get(&id)),
        ("activate", messages::activate(&id)),
    ];
    steps
        .iter()
        .all(|(operation, request)| session.vcenter_exchange(operation, request).is_some())
}
