//! Who a verified client is. The single place that turns a TLS peer certificate into an
//! [`ClientIdentity`]; the client-registry issue replaces this with a registry lookup.

use crate::engine::ClientIdentity;
use crate::pki;

/// Identity of the client whose verified leaf certificate is `leaf_der`: `cn:<CN>`, or
/// `sha256:<hex>` when the certificate has no readable Common Name.
pub fn client_identity(leaf_der: &[u8]) -> ClientIdentity {
    let fingerprint = pki::fingerprint(leaf_der);
    let owner = match pki::common_name(leaf_der) {
        Some(cn) if !cn.is_empty() => format!("cn:{cn}"),
        _ => format!("sha256:{}", hex::encode(fingerprint)),
    };
    ClientIdentity { owner, fingerprint }
}
