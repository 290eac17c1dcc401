//! UTC time stamps for audit records: RFC 3339 text in and out, no time zone database.

/// `2026-11-29T03:30:00.123Z`.
pub fn format_time(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let (year, month, day) = civil_from_days(secs.div_euclid(86_400));
    let rem = secs.rem_euclid(86_400);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        ms.rem_euclid(1000)
    )
}

/// Accepts `YYYY-MM-DD`, `YYYY-MM-DDTHH:MM:SS[.fff]Z` (a space for `T` too) or Unix seconds.
pub fn parse_time(text: &str) -> Result<i64, String> {
    let text = text.trim();
    let bad =
        || format!("{text:?} is not a time: use 2026-11-29, 2026-11-29T03:30:00Z or Unix seconds");
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        return text
            .parse::<i64>()
            .ok()
            .and_then(|s| s.checked_mul(1000))
            .ok_or_else(bad);
    }
    let number = |s: Option<&str>| s.and_then(|s| s.parse::<i64>().ok()).ok_or_else(bad);
    let (date, clock) = match text.split_once(['T', ' ']) {
        Some((date, clock)) => (date, Some(clock.trim_end_matches('Z'))),
        None => (text, None),
    };
    let mut parts = date.split('-');
    let (year, month, day) = (
        number(parts.next())?,
        number(parts.next())?,
        number(parts.next())?,
    );
    if parts.next().is_some() || !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return Err(bad());
    }
    let mut ms = days_from_civil(year, month, day) * 86_400_000;
    if let Some(clock) = clock {
        let (hms, frac) = clock.split_once('.').unwrap_or((clock, ""));
        let mut parts = hms.split(':');
        let (h, m, s) = (
            number(parts.next())?,
            number(parts.next())?,
            number(parts.next())?,
        );
        if parts.next().is_some() || h > 23 || m > 59 || s > 60 {
            return Err(bad());
        }
        let frac_ms = if frac.is_empty() {
            0
        } else {
            let digits: String = frac.chars().chain("000".chars()).take(3).collect();
            number(Some(&digits))?
        };
        ms += ((h * 60 + m) * 60 + s) * 1000 + frac_ms;
    }
    Ok(ms)
}

// Howard Hinnant's civil calendar conversions.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(month <= 2), month, day)
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
        assert_eq!(parse_time("1700000000").unwrap(), 1_700_000_000_000);
        assert!(parse_time("2026-13-01").is_err());
        assert!(parse_time("yesterday").is_err());
    }
}
