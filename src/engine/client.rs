//! Who sends a request: the identity the TLS handshake proved (built by the server from the
//! verified client certificate) and the KMIP username/password that client must present. A
//! client with a credential in the registry must send it (Authentication / Credential,
//! Username and Password) in every request; a client without one is never asked, and a
//! credential it sends anyway is ignored.
//!
//! Why the engine holds it: the server resolves the client once, at the handshake, and hands
//! the engine this [`Client`] with each message; the engine checks the credential as it parses
//! the request, before anything runs, so no request goes back to the server to be
//! authenticated and returned to the engine to be refused.
//!
//! Argon2 is deliberately slow, so it runs at most once per connection and password: the
//! client remembers a SHA-256 of the pair it verified (and of the last pair it refused), and
//! later requests are compared against that.

use std::sync::Arc;

use sha2::{Digest, Sha256};

use super::credential::{self, KmipCredential};
use crate::kmip::message::Credential;

/// Who is asking, as the TLS handshake proved it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientIdentity {
    /// Stable owner id stored with every object this client creates (e.g. `cn:vcenter-01`).
    pub owner: String,
    /// SHA-256 of the client certificate (DER), for logs and audit.
    pub fingerprint: [u8; 32],
}

/// An authenticated connection's client: its identity and its KMIP credential check.
#[derive(Debug)]
pub struct Client {
    identity: ClientIdentity,
    credential: CredentialCheck,
}

impl Client {
    /// A client that must present no KMIP credential (until [`Client::require`] says so).
    pub fn new(identity: ClientIdentity) -> Client {
        Client {
            identity,
            credential: CredentialCheck::default(),
        }
    }

    pub fn identity(&self) -> &ClientIdentity {
        &self.identity
    }

    /// Sets what the client must present (after the handshake, and when the registry
    /// changes); a different requirement forgets what was verified.
    pub fn require(&mut self, required: Option<Arc<KmipCredential>>) {
        self.credential.require(required);
    }

    /// Whether a request carrying `presented` may run.
    pub(super) fn admits(&mut self, presented: &[Credential]) -> bool {
        self.credential.admits(presented)
    }
}

/// Argon2 runs on the event loop thread: after this many wrong passwords a connection is
/// refused without another verification, so a client cannot stall the loop by guessing.
const MAX_VERIFICATIONS_FAILED: u32 = 3;

/// One connection's credential requirement and what it already verified.
#[derive(Default)]
struct CredentialCheck {
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
    fn require(&mut self, required: Option<Arc<KmipCredential>>) {
        if self.required != required {
            self.required = required;
            self.verified = None;
            self.refused = None;
            self.failures = 0;
        }
    }

    fn admits(&mut self, presented: &[Credential]) -> bool {
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
