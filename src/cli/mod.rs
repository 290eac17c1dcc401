//! Subcommands for operators and developers that sit beside the server: reading and writing
//! KMIP messages by hand, and playing conformance vectors against a running server.

pub mod ttlv;
pub mod vectors;
