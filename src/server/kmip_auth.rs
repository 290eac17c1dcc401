//! KMIP username/password check per connection. A client with a credential in the registry
//! must send it (Authentication / Credential, Username and Password) in every request; a
//! client without one is never asked, and a credential it sends anyway is ignored.
//!
//! Argon2 is deliberately slow, so it runs at most once per connection and password: the
//! connection remembers a SHA-256 of the pair it verified (and of the last pair it refused),
//! and later requests are compared against that.

use std::sync::Arc;

use sha2::{Digest, Sha256};

use crate::admin::credential::{self, KmipCredential};
use crate::engine::{Engine, Prepared, Refusal};
use crate::kmip::message::Credential;

/// Argon2 runs on the event loop thread: after this many wrong passwords a connection is
/// refused without another verification, so a client cannot stall the loop by guessing.
const MAX_VERIFICATIONS_FAILED: u32 = 3;

/// One connection's credential requirement and what it already verified.
#[derive(Default)]
pub struct CredentialCheck {
    required: Option<Arc<KmipCredential>>,
    verified: Option<[u8; 32]>,
    refused: Option<[u8; 32]>,
    failures: u32,
}

impl std::fmt::Debug for CredentialCheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CredentialCheck")
            .field("required", &self.required.is_some())
            .finish_non_exhaustive()
    }
}

fn digest(username: &str, password: &str) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(username.as_bytes());
    hasher.update([0]);
    hasher.update(password.as_bytes());
    hasher.finalize().into()
}

impl CredentialCheck {
    /// Sets what the client must present (after the handshake, and when the registry
    /// changes); a different requirement forgets what was verified.
    pub fn require(&mut self, required: Option<Arc<KmipCredential>>) {
        if self.required != required {
            self.required = required;
            self.verified = None;
            self.refused = None;
            self.failures = 0;
        }
    }

    /// Whether a request carrying `presented` may run.
    pub fn admits(&mut self, presented: &[Credential]) -> bool {
        let Some(required) = self.required.clone() else {
            return true;
        };
        let Some((username, password)) = presented
            .iter()
            .find(|c| c.username == required.username)
            .and_then(|c| c.password.as_ref().map(|p| (&c.username, p)))
        else {
            return false;
        };
        let pair = digest(username, password);
        if self.verified == Some(pair) {
            return true;
        }
        if self.refused == Some(pair) || self.failures >= MAX_VERIFICATIONS_FAILED {
            return false;
        }
        if credential::verify_password(&required, password.as_bytes()) {
            self.verified = Some(pair);
            true
        } else {
            self.refused = Some(pair);
            self.failures += 1;
            false
        }
    }
}

/// Turns a request whose credential does not pass into its Authentication Not Successful
/// response; anything else passes through.
pub fn gate(
    prepared: Prepared,
    check: &mut CredentialCheck,
    engine: &Engine,
    who: &str,
) -> Prepared {
    match prepared {
        Prepared::Read(request) | Prepared::Write(request)
            if !check.admits(request.credentials()) =>
        {
            log::warn!("client {who}: KMIP credential missing or wrong; request refused");
            Prepared::Respond(engine.refuse(&request, Refusal::Authentication))
        }
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use zeroize::Zeroizing;

    fn presented(username: &str, password: &str) -> Vec<Credential> {
        vec![Credential {
            username: username.into(),
            password: Some(Zeroizing::new(password.into())),
        }]
    }

    #[test]
    fn requires_the_configured_pair_caches_it_and_stops_verifying_guesses() {
        let mut check = CredentialCheck::default();
        assert!(check.admits(&[]), "nothing required, nothing asked");
        assert!(check.admits(&presented("any", "thing")));
        let required = Arc::new(credential::hash_password("vc", b"pw").unwrap());
        check.require(Some(required.clone()));
        assert!(!check.admits(&[]));
        assert!(!check.admits(&presented("other", "pw")));
        assert!(check.admits(&presented("vc", "pw")));
        assert_eq!(check.verified, Some(digest("vc", "pw")));
        assert!(check.admits(&presented("vc", "pw")), "cached");
        for guess in ["a", "b", "c", "d"] {
            assert!(!check.admits(&presented("vc", guess)));
        }
        assert_eq!(
            check.failures, MAX_VERIFICATIONS_FAILED,
            "no Argon2 run after the cap"
        );
        assert!(
            check.admits(&presented("vc", "pw")),
            "the verified pair stays good"
        );
        check.require(Some(required.clone()));
        assert_eq!(
            check.failures, MAX_VERIFICATIONS_FAILED,
            "same requirement, same state"
        );
        check.require(None);
        assert!(check.admits(&[]));
    }
}
