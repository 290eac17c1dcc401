//! KMIP enumerations and bit masks the typed layer and the engine reason about.
//!
//! Every enumeration and mask of KMIP 1.4 / 2.1 is generated into `registry.rs` (Rust name,
//! wire value and XML/JSON name from one row); this module re-exports them and adds what the
//! tables cannot say.

pub use super::registry::*;

impl State {
    pub fn is_destroyed(self) -> bool {
        matches!(self, State::Destroyed | State::DestroyedCompromised)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_values_round_trip() {
        assert_eq!(Operation::from_u32(0x1E), Some(Operation::DiscoverVersions));
        assert_eq!(Operation::from_u32(0x3C), None);
        assert_eq!(ResultReason::WrongKeyLifecycleState.value(), 0x43);
        assert_eq!(
            ResultReason::from_u32(0x100),
            Some(ResultReason::GeneralFailure)
        );
        assert_eq!(State::from_u32(6), Some(State::DestroyedCompromised));
        assert!(State::Destroyed.is_destroyed());
        assert!(!State::Compromised.is_destroyed());
    }
}
