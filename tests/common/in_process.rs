//! A `keyward` server run inside the test process, on a thread of its own, for the tests that
//! need to look into the appliance while it serves (its store, its audit log) or to set it up
//! with a configuration written in Rust. It is the same `Appliance::open` → `Server::bind` →
//! `Server::run` path `keyward serve` takes, over real TLS on 127.0.0.1; tests that only talk
//! KMIP use the binary instead ([`super::Appliance::start`]).

use std::net::SocketAddr;
use std::thread::JoinHandle;

use keyward::appliance::setup::Appliance;
use keyward::config::Config;
use keyward::server::{Server, ServerError, ServerOptions, ShutdownHandle};

/// A served appliance: where it listens, and how to stop it.
pub struct InProcess {
    pub appliance: Appliance,
    pub addr: SocketAddr,
    pub shutdown: ShutdownHandle,
    pub thread: JoinHandle<Result<(), ServerError>>,
}

/// Opens the appliance `config` describes and serves it on an ephemeral loopback port.
pub fn serve_in_process(config: Config) -> InProcess {
    let appliance = Appliance::open(config.clone()).unwrap();
    let services = appliance.services().unwrap();
    let mut options = ServerOptions::from_settings(&config.server);
    options.listen = "127.0.0.1:0".parse().unwrap();
    let server = Server::bind(options, services).unwrap();
    let addr = server.local_addr();
    let shutdown = server.shutdown_handle();
    let thread = std::thread::spawn(move || server.run());
    InProcess {
        appliance,
        addr,
        shutdown,
        thread,
    }
}

impl InProcess {
    /// Shuts the server down and waits for it, failing the test if it ended in an error.
    /// Returns the appliance still open (its forwarder and read journal with it): keep it
    /// until the test has read what it needs.
    pub fn stop(self) -> Appliance {
        self.shutdown.shutdown();
        self.thread.join().unwrap().unwrap();
        self.appliance
    }
}
