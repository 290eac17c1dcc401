//! UUID text: version 4 (random) for identifiers, version 7 (time-ordered) for the Unique
//! Identifiers of new objects. Each caller chooses its random source and its error; the `uuid`
//! crate lays out the version and variant bits and writes the text.

use ::uuid::Builder;

/// Sets the version (4) and variant bits and formats `bytes` as a hyphenated UUID.
pub fn format_v4(bytes: [u8; 16]) -> String {
    Builder::from_random_bytes(bytes)
        .into_uuid()
        .hyphenated()
        .to_string()
}

/// A version-7 UUID (RFC 9562): the 48-bit Unix time in milliseconds, then 74 of the random
/// bits in `random`. Object UIDs use it so that new objects land at the right-hand edge of the
/// store's btrees (ordered by UID) instead of on random pages: a group commit of Creates then
/// copies a few pages rather than one per object. The time is no secret: it is the object's
/// Initial Date, which its owner can read anyway, and UIDs are shown to the owner only. UIDs
/// stay unique across cluster nodes without coordination: 74 random bits per millisecond.
pub fn format_v7(unix_ms: u64, random: [u8; 16]) -> String {
    let mut tail = [0u8; 10];
    tail.copy_from_slice(&random[6..]);
    Builder::from_unix_timestamp_millis(unix_ms, &tail)
        .into_uuid()
        .hyphenated()
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v4_sets_version_and_variant() {
        let uid = format_v4([0xff; 16]);
        assert_eq!(uid, "ffffffff-ffff-4fff-bfff-ffffffffffff");
    }

    #[test]
    fn v7_starts_with_the_time_and_sorts_by_it() {
        let uid = format_v7(0x0123_4567_89ab, [0; 16]);
        assert_eq!(uid, "01234567-89ab-7000-8000-000000000000");
        let earlier = format_v7(1_700_000_000_000, [0xff; 16]);
        let later = format_v7(1_700_000_000_001, [0; 16]);
        assert!(earlier < later, "{earlier} !< {later}");
        assert_eq!(&earlier[14..15], "7");
    }
}
