//! Keyward's own KMIP extensions, as Query's Extension List and Extension Map report them.
//!
//! Why a file of its own: the list is data the Query answer and the support matrix
//! (docs/kmip-support.md) both describe, and it must grow here, in one place, the day Keyward
//! puts a vendor tag or attribute on the wire.
//!
//! Today Keyward defines none. Its 0x54FFxx tags (`src/engine/object.rs`) frame stored records
//! and never leave the server; `x-` custom attributes are the clients' own (vCenter's
//! `x-Vendor`, ...), which Keyward stores and returns without interpreting; `y-` attributes are
//! reserved to servers and Keyward sets none; and it accepts no Message Extension. So both
//! Query functions answer an empty list: no Extension Information item at all, which is how
//! KMIP says "no extensions".

use crate::ttlv::{Item, ItemType, Value};

use super::tag;

/// One vendor extension: its name, tag and item type.
pub(super) struct Extension {
    pub name: &'static str,
    pub tag: u32,
    pub item_type: ItemType,
}

/// Every extension Keyward puts on the wire (none, see the file header).
pub(super) const KEYWARD_EXTENSIONS: &[Extension] = &[];

/// The Extension Information items of a Query: names only for Extension List, with tag and
/// type for Extension Map.
pub(super) fn extension_information(map: bool) -> Vec<Item> {
    KEYWARD_EXTENSIONS
        .iter()
        .map(|x| {
            let mut fields = vec![Item::new(
                tag::EXTENSION_NAME,
                Value::TextString(x.name.to_string()),
            )];
            if map {
                fields.push(Item::new(
                    tag::EXTENSION_TAG,
                    Value::Integer(i32::try_from(x.tag).unwrap_or(i32::MAX)),
                ));
                fields.push(Item::new(
                    tag::EXTENSION_TYPE,
                    Value::Integer(x.item_type as i32),
                ));
            }
            Item::structure(tag::EXTENSION_INFORMATION, fields)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keyward_declares_no_wire_extensions() {
        assert!(extension_information(false).is_empty());
        assert!(extension_information(true).is_empty());
    }
}
