//! Administration of who may connect: the client registry, kept in the store so that a
//! replicated backend carries it to every replica along with the keys; the operations on it;
//! and the admin socket protocol a running server answers them on.

pub mod account_event;
mod audit_record;
pub mod backup_inventory;
pub mod backups;
pub mod clients;
pub mod cluster_nodes;
pub mod console_event;
pub mod credential;
pub mod error;
pub mod expiry;
pub mod import;
pub mod keys;
pub mod ops;
pub mod protocol;
pub mod registry;
pub mod status;
