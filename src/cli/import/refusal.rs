//! A KMIP server's refusal of one batch item, as the import reports it. In a file of its own
//! because both the source connection (`source.rs`, which reads it off the wire) and the run's
//! error (`error.rs`, a refused Locate) carry it, and neither should import the other for it.

/// The server's refusal of one batch item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// Result Reason by name (`Permission Denied`, `Item Not Found`, …).
    pub reason: String,
    pub message: String,
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.message.is_empty() {
            write!(f, "{}", self.reason)
        } else {
            write!(f, "{}: {}", self.reason, self.message)
        }
    }
}
