//! KMIP tag values and their XML/JSON names (KMIP 2.1 spelling, CamelCase).
//!
//! The table itself is generated into `registry.rs` (every 1.x and 2.x tag); this module is
//! the name every caller uses for it, plus the two lookups the text codecs need.

pub use super::registry::tag::*;

/// CamelCase name of `tag`, if known.
pub fn name(tag: u32) -> Option<&'static str> {
    ALL.iter().find(|(t, _)| *t == tag).map(|(_, n)| *n)
}

/// Tag for a CamelCase name, if known.
pub fn by_name(name: &str) -> Option<u32> {
    ALL.iter().find(|(_, n)| *n == name).map(|(t, _)| *t)
}
