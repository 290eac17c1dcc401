//! The one duration grammar of the configuration and the command line: humantime's ("250ms",
//! "90s", "5m", "2h", "7d", "1h 30m"), plus a bare number, which counts as seconds (settings
//! written before units existed). Three hand-written parsers with three unit sets used to
//! disagree on what "5d" or "250ms" meant.

use std::time::Duration;

/// Why a text is not a duration.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("\"{text}\" is not a duration like \"500ms\", \"60s\", \"5m\", \"2h\" or \"7d\": {source}")]
pub struct DurationError {
    text: String,
    #[source]
    source: humantime::DurationError,
}

/// Parses a duration with a unit, or a bare number of seconds.
pub fn parse(text: &str) -> Result<Duration, DurationError> {
    let text = text.trim();
    if !text.is_empty()
        && text.bytes().all(|b| b.is_ascii_digit())
        && let Ok(secs) = text.parse::<u64>()
    {
        return Ok(Duration::from_secs(secs));
    }
    humantime::parse_duration(text).map_err(|source| DurationError {
        text: text.to_string(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_and_bare_seconds() {
        assert_eq!(parse("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse("60"), Ok(Duration::from_secs(60)));
        assert_eq!(parse(" 90s "), Ok(Duration::from_secs(90)));
        assert_eq!(parse("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse("2h"), Ok(Duration::from_secs(7200)));
        assert_eq!(parse("7d"), Ok(Duration::from_secs(7 * 86_400)));
        assert_eq!(parse("1h 30m"), Ok(Duration::from_secs(5400)));
        for bad in [
            "",
            "ms",
            "5 fortnights",
            "5x",
            "-1s",
            "99999999999999999999h",
        ] {
            let error = parse(bad).unwrap_err();
            assert!(
                error.to_string().contains("is not a duration"),
                "{bad}: {error}"
            );
        }
    }
}
