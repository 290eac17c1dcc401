//! Durations in the configuration: an integer number of seconds, or a string in the one
//! duration grammar (`crate::duration`: `"250ms"`, `"60s"`, `"5m"`, `"2h"`), so tests can shorten
//! intervals by configuration alone.

use std::time::Duration;

use serde::{Deserialize, Deserializer};

#[derive(Deserialize)]
#[serde(untagged)]
enum Raw {
    Seconds(u64),
    Text(String),
}

/// The configuration's one duration grammar (`crate::duration`).
pub(crate) fn parse(text: &str) -> Result<Duration, crate::duration::DurationError> {
    crate::duration::parse(text)
}

fn from_raw(raw: Raw) -> Result<Duration, crate::duration::DurationError> {
    match raw {
        Raw::Seconds(secs) => Ok(Duration::from_secs(secs)),
        Raw::Text(text) => parse(&text),
    }
}

pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    from_raw(Raw::deserialize(d)?).map_err(serde::de::Error::custom)
}

/// For optional settings: absent means off; `0`/`"0s"` also means off.
pub(crate) fn deserialize_optional<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<Duration>, D::Error> {
    let value = from_raw(Raw::deserialize(d)?).map_err(serde::de::Error::custom)?;
    Ok((!value.is_zero()).then_some(value))
}

#[cfg(test)]
mod tests {
    use super::parse;
    use std::time::Duration;

    #[test]
    fn units() {
        assert_eq!(parse("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse("60s"), Ok(Duration::from_secs(60)));
        assert_eq!(parse("60"), Ok(Duration::from_secs(60)));
        assert_eq!(parse("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse("2h"), Ok(Duration::from_secs(7200)));
        assert!(parse("5 fortnights").is_err());
        assert!(parse("ms").is_err());
        assert!(parse("99999999999999999999h").is_err());
    }
}
