//! Endpoint addresses for the etcd gateway client, without a thread per request.
//!
//! Why: ureq resolves every request's host (before it looks in its pool of kept-alive
//! connections) and, with a timeout set, as ours is (`[cluster] request_timeout_ms`), it does
//! so on a thread of its own that it starts for that request. A cluster node sends etcd a few
//! requests per KMIP request, so it started thousands of threads a second, each waiting for a
//! core on a loaded machine. etcd endpoints are usually IP addresses: those need no lookup
//! and are answered here at once. Host names still go to ureq's own resolver.

use std::net::{IpAddr, SocketAddr};

use ureq::config::Config;
use ureq::http::Uri;
use ureq::unversioned::resolver::{DefaultResolver, ResolvedSocketAddrs, Resolver};
use ureq::unversioned::transport::NextTimeout;

#[derive(Debug, Default)]
pub(super) struct LiteralFirst {
    names: DefaultResolver,
}

impl Resolver for LiteralFirst {
    fn resolve(
        &self,
        uri: &Uri,
        config: &Config,
        timeout: NextTimeout,
    ) -> Result<ResolvedSocketAddrs, ureq::Error> {
        match literal(uri) {
            Some(address) => {
                let mut found = self.empty();
                found.push(address);
                Ok(found)
            }
            None => self.names.resolve(uri, config, timeout),
        }
    }
}

/// The address of a URI whose host is an IP address (IPv6 in brackets), with its port or the
/// scheme's default; `None` for a host name.
fn literal(uri: &Uri) -> Option<SocketAddr> {
    let authority = uri.authority()?;
    let host = authority.host();
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    let ip: IpAddr = host.parse().ok()?;
    let port = authority.port_u16().or(match uri.scheme_str() {
        Some("https") => Some(443),
        Some("http") => Some(80),
        _ => None,
    })?;
    Some(SocketAddr::new(ip, port))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn of(uri: &str) -> Option<SocketAddr> {
        literal(&uri.parse().unwrap())
    }

    #[test]
    fn ip_hosts_are_answered_and_names_are_left_to_the_lookup() {
        assert_eq!(
            of("http://127.0.0.1:2379/v3/kv/range"),
            "127.0.0.1:2379".parse().ok()
        );
        assert_eq!(
            of("https://[::1]:2379/v3/kv/txn"),
            "[::1]:2379".parse().ok()
        );
        assert_eq!(
            of("https://10.0.0.7/v3/kv/txn"),
            "10.0.0.7:443".parse().ok()
        );
        assert_eq!(of("https://kms1.example:2379/v3/kv/txn"), None);
    }
}
