//! Administration of who may connect: the client registry, kept in the store so that a
//! replicated backend carries it to every replica along with the keys.

pub mod registry;
