//! A small blocking KMIP client over rustls, for the CLI, tests and the load generator.
//! (Stub: the server owner fills it in.)
