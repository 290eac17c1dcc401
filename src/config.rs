//! Configuration (TOML). (Stub: the server owner fills it in.)
