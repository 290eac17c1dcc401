//! The three shapes `registry.rs` is written in, so that one row per tag, enumeration value or
//! mask bit gives everything the code needs of it: the Rust name, the wire value and the
//! XML/JSON name. Nothing else may spell those facts a second time.

/// Tag constants plus the (tag, CamelCase name) table the XML and JSON codecs look names up in.
macro_rules! tags {
    ($($name:ident = $value:literal, $text:literal;)*) => {
        $(pub const $name: u32 = $value;)*
        /// (tag, CamelCase name) for every tag this build knows.
        pub const ALL: &[(u32, &str)] = &[$(($value, $text)),*];
    };
}

/// A `u32`-backed enumeration: the Rust enum, its wire values and its XML/JSON names.
macro_rules! kmip_enum {
    ($(#[$meta:meta])* $name:ident { $($variant:ident = $value:literal, $text:literal,)* }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        #[repr(u32)]
        pub enum $name { $($variant = $value,)* }

        impl $name {
            /// (wire value, XML/JSON name) of every variant.
            pub const NAMES: &'static [(u32, &'static str)] = &[$(($value, $text)),*];

            /// The variant for a wire value, if this build knows it.
            pub fn from_u32(value: u32) -> Option<$name> {
                match value { $($value => Some($name::$variant),)* _ => None }
            }

            pub fn value(self) -> u32 {
                self as u32
            }

            /// The name the XML and JSON encodings give this value.
            pub fn kmip_name(self) -> &'static str {
                match self { $($name::$variant => $text,)* }
            }

            /// The variant an XML/JSON name denotes.
            pub fn from_kmip_name(name: &str) -> Option<$name> {
                match name { $($text => Some($name::$variant),)* _ => None }
            }
        }
    };
}

/// A bit mask: one `i32` constant per bit and the (bit, XML/JSON name) table.
macro_rules! kmip_mask {
    ($(#[$meta:meta])* $module:ident { $($name:ident = $value:literal, $text:literal;)* }) => {
        $(#[$meta])*
        pub mod $module {
            $(pub const $name: i32 = $value;)*
            /// (bit, XML/JSON name) of every bit.
            pub const NAMES: &[(i32, &str)] = &[$(($value, $text)),*];
        }
    };
}

pub(crate) use {kmip_enum, kmip_mask, tags};
