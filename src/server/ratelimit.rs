//! Rate-limited logging for events a misconfigured or hostile peer can repeat at will
//! (failed handshakes, refused connections), so they cannot flood the log.

use std::time::{Duration, Instant};

pub(super) struct RateLimit {
    window: Duration,
    per_window: u32,
    window_start: Instant,
    emitted: u32,
    suppressed: u64,
}

impl RateLimit {
    pub(super) fn new(per_window: u32, window: Duration) -> RateLimit {
        RateLimit {
            window,
            per_window,
            window_start: Instant::now(),
            emitted: 0,
            suppressed: 0,
        }
    }

    /// True when the caller may log now. The first line of a new window reports how many
    /// were held back in the previous one.
    pub(super) fn allow(&mut self, what: &str) -> bool {
        let now = Instant::now();
        if now.duration_since(self.window_start) >= self.window {
            if self.suppressed > 0 {
                log::warn!(
                    "{} similar {what} lines were not logged in the last {:?}",
                    self.suppressed,
                    self.window
                );
            }
            self.window_start = now;
            self.emitted = 0;
            self.suppressed = 0;
        }
        if self.emitted < self.per_window {
            self.emitted += 1;
            true
        } else {
            self.suppressed += 1;
            false
        }
    }
}

/// The log budgets of the event loop, one per kind of event a flood repeats, so that one
/// cannot hide another.
pub(super) struct ConnectionLogs {
    pub eviction: RateLimit,
    /// First-byte timeouts.
    pub silent: RateLimit,
    /// Throttled full handshakes.
    pub throttle: RateLimit,
    /// Failed handshakes.
    pub handshake: RateLimit,
    /// Refused connections and accept failures.
    pub refused: RateLimit,
}

impl ConnectionLogs {
    pub(super) fn new() -> ConnectionLogs {
        let minute = Duration::from_secs(60);
        ConnectionLogs {
            eviction: RateLimit::new(10, minute),
            silent: RateLimit::new(10, minute),
            throttle: RateLimit::new(10, minute),
            handshake: RateLimit::new(20, minute),
            refused: RateLimit::new(5, minute),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holds_back_beyond_the_window_budget() {
        let mut limit = RateLimit::new(2, Duration::from_secs(3600));
        assert!(limit.allow("x"));
        assert!(limit.allow("x"));
        assert!(!limit.allow("x"));
        assert_eq!(limit.suppressed, 1);
    }
}
