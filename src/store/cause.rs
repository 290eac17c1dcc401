//! What a [`super::StoreError`] says went wrong below the store: the words every caller has
//! always printed, and, where there is one, the lower layer's own error (redb, the file system,
//! etcd's gateway) kept as the `source`, so nothing is flattened to a string on the way up.
//! It reads like the `String` it replaced (`Display`, `Deref<Target = str>`, `From<String>`),
//! so the variants kept their names and most callers did not change.

use std::error::Error as StdError;
use std::fmt;

#[derive(Debug)]
pub struct Cause {
    /// The whole message, the source's words included.
    message: String,
    source: Option<Box<dyn StdError + Send + Sync>>,
}

impl Cause {
    /// `context: source`, keeping `source` for [`StdError::source`].
    pub fn with_source(
        context: impl fmt::Display,
        source: impl StdError + Send + Sync + 'static,
    ) -> Cause {
        Cause {
            message: format!("{context}: {source}"),
            source: Some(Box::new(source)),
        }
    }

    /// The source's own words, keeping it for [`StdError::source`].
    pub fn from_source(source: impl StdError + Send + Sync + 'static) -> Cause {
        Cause {
            message: source.to_string(),
            source: Some(Box::new(source)),
        }
    }
}

impl fmt::Display for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl StdError for Cause {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.source
            .as_deref()
            .map(|source| source as &(dyn StdError + 'static))
    }
}

impl std::ops::Deref for Cause {
    type Target = str;
    fn deref(&self) -> &str {
        &self.message
    }
}

impl From<String> for Cause {
    fn from(message: String) -> Cause {
        Cause {
            message,
            source: None,
        }
    }
}

impl From<&str> for Cause {
    fn from(message: &str) -> Cause {
        Cause::from(message.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_like_the_message_and_keeps_the_source() {
        let io = std::io::Error::other("no space left");
        let cause = Cause::with_source("committing", io);
        assert_eq!(cause.to_string(), "committing: no space left");
        assert!(cause.contains("committing"));
        assert_eq!(cause.source().unwrap().to_string(), "no space left");
        let error = super::super::StoreError::Full(cause);
        assert_eq!(
            error.to_string(),
            "the disk holding the store is full: committing: no space left"
        );
        assert!(error.source().is_some());
        assert!(Cause::from("plain").source().is_none());
    }
}
