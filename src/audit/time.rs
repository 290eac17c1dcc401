//! UTC time stamps for audit records: RFC 3339 text in and out, no time zone database. The
//! calendar arithmetic is the `time` crate's.

use ::time::format_description::FormatItem;
use ::time::macros::format_description;
use ::time::{Date, OffsetDateTime, PrimitiveDateTime};

/// `2026-11-29T03:30:00.123Z`.
pub fn format_time(ms: i64) -> String {
    match OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000) {
        Ok(t) => format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
            t.year(),
            u8::from(t.month()),
            t.day(),
            t.hour(),
            t.minute(),
            t.second(),
            t.millisecond()
        ),
        // Beyond the years 9999 BC..AD 9999 no record can honestly be: the number as it is.
        Err(_) => format!("{ms}ms"),
    }
}

/// Why a text is not a time an audit query accepts.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a time: use 2026-11-29, 2026-11-29T03:30:00Z or Unix seconds")]
pub struct BadTime(String);

const DATE: &[FormatItem<'_>] = format_description!("[year]-[month]-[day]");
const DATE_TIME: &[FormatItem<'_>] = format_description!(
    "[year]-[month]-[day][first [T] [ ]][hour]:[minute]:[second][optional [.[subsecond]]]"
);

/// Accepts `YYYY-MM-DD`, `YYYY-MM-DDTHH:MM:SS[.fff]Z` (a space for `T` too) or Unix seconds.
pub fn parse_time(text: &str) -> Result<i64, BadTime> {
    let text = text.trim();
    let bad = || BadTime(text.to_string());
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        return text
            .parse::<i64>()
            .ok()
            .and_then(|s| s.checked_mul(1000))
            .ok_or_else(bad);
    }
    let utc = match Date::parse(text, DATE) {
        Ok(date) => date.midnight().assume_utc(),
        Err(_) => PrimitiveDateTime::parse(text.trim_end_matches('Z'), DATE_TIME)
            .map_err(|_| bad())?
            .assume_utc(),
    };
    i64::try_from(utc.unix_timestamp_nanos() / 1_000_000).map_err(|_| bad())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_known_instants() {
        assert_eq!(format_time(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(parse_time("2000-02-29").unwrap(), 951_782_400_000);
        let t = parse_time("2026-12-31T23:59:59.5Z").unwrap();
        assert_eq!(format_time(t), "2026-12-31T23:59:59.500Z");
        assert_eq!(parse_time("2026-12-31 23:59:59").unwrap(), t - 500);
        assert_eq!(parse_time("1700000000").unwrap(), 1_700_000_000_000);
        assert_eq!(format_time(-1), "1969-12-31T23:59:59.999Z");
        assert!(parse_time("2026-13-01").is_err());
        assert!(parse_time("2026-02-30").is_err());
        assert!(parse_time("yesterday").is_err());
    }
}
