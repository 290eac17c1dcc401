//! The web console: a single page and its script and style, embedded in the binary (no web
//! server, no download at run time), served by the admin API's listener. The page talks to
//! the same JSON API; its session is an HttpOnly, Secure, SameSite=Strict cookie, changes carry
//! the session's CSRF token, and a strict Content-Security-Policy allows only these files.

const PAGE: &[u8] = include_bytes!("console/index.html");
const SCRIPT: &[u8] = include_bytes!("console/console.js");
const STYLE: &[u8] = include_bytes!("console/console.css");

/// Sent with every console file.
pub const PAGE_HEADERS: &[(&str, &str)] = &[
    (
        "content-security-policy",
        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; \
         img-src 'self'; form-action 'none'; frame-ancestors 'none'; base-uri 'none'",
    ),
    ("x-frame-options", "DENY"),
    ("referrer-policy", "no-referrer"),
];

/// The console file at `path`, with its content type.
pub fn asset(path: &str) -> Option<(&'static str, &'static [u8])> {
    match path {
        "/" | "/console" => Some(("text/html; charset=utf-8", PAGE)),
        "/console.js" => Some(("text/javascript; charset=utf-8", SCRIPT)),
        "/console.css" => Some(("text/css; charset=utf-8", STYLE)),
        _ => None,
    }
}
