//! A deliberately small HTTP/1.1 request reader for the local health and metrics listener:
//! GET (and HEAD) of a path, nothing else. Sans-IO: it looks at the bytes received so far and
//! says "need more", "here is the request" or "refuse with this status". The HTTP/1.x grammar
//! is httparse's (the parser under hyper, already in the tree for the admin API); the bounds and
//! the refusals are ours. The head is capped so a peer cannot make the server buffer more than
//! `MAX_HEAD_BYTES`; bodies are refused.

/// Largest request head (request line and headers) accepted.
pub const MAX_HEAD_BYTES: usize = 8 * 1024;
/// Most header lines accepted; more is answered like an oversized head (431).
const MAX_HEADERS: usize = 64;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub head_only: bool,
    /// The path without its query string.
    pub path: String,
}

/// Why a request is refused; each maps to one status code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// 400: not an HTTP/1.x request line or header block.
    Malformed,
    /// 431: the head did not end within `MAX_HEAD_BYTES`.
    HeadTooLarge,
    /// 405: a method other than GET or HEAD.
    MethodNotAllowed,
    /// 413: the request announces a body.
    BodyNotAllowed,
}

impl Refusal {
    pub fn status(self) -> u16 {
        match self {
            Refusal::Malformed => 400,
            Refusal::HeadTooLarge => 431,
            Refusal::MethodNotAllowed => 405,
            Refusal::BodyNotAllowed => 413,
        }
    }
}

/// Reads a request head from `input` (everything received on the connection so far).
/// `Ok(None)`: incomplete, read more. httparse does the HTTP/1.x grammar (and refuses a
/// request line that is already not HTTP without waiting for more bytes); what this listener
/// serves is decided here.
pub fn parse(input: &[u8]) -> Result<Option<Request>, Refusal> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut request = httparse::Request::new(&mut headers);
    let end = match request.parse(input) {
        Ok(httparse::Status::Complete(end)) => end,
        Ok(httparse::Status::Partial) if input.len() >= MAX_HEAD_BYTES => {
            return Err(Refusal::HeadTooLarge);
        }
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(httparse::Error::TooManyHeaders) => return Err(Refusal::HeadTooLarge),
        Err(_) => return Err(Refusal::Malformed),
    };
    if end > MAX_HEAD_BYTES {
        return Err(Refusal::HeadTooLarge);
    }
    let (Some(method), Some(target)) = (request.method, request.path) else {
        return Err(Refusal::Malformed);
    };
    // Stricter than the grammar: methods are upper case, targets in origin form.
    if !method.bytes().all(|b| b.is_ascii_uppercase()) || !target.starts_with('/') {
        return Err(Refusal::Malformed);
    }
    for header in request.headers.iter() {
        let value = header.value.trim_ascii();
        if header.name.eq_ignore_ascii_case("transfer-encoding")
            || (header.name.eq_ignore_ascii_case("content-length") && value != b"0")
        {
            return Err(Refusal::BodyNotAllowed);
        }
    }
    let head_only = match method {
        "GET" => false,
        "HEAD" => true,
        _ => return Err(Refusal::MethodNotAllowed),
    };
    let path = target.split('?').next().unwrap_or(target).to_string();
    Ok(Some(Request { head_only, path }))
}

/// A complete response; the connection closes after it (one request per connection).
pub fn response(status: u16, content_type: &str, body: &str, head_only: bool) -> Vec<u8> {
    let reason = match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        413 => "Content Too Large",
        431 => "Request Header Fields Too Large",
        503 => "Service Unavailable",
        _ => "Error",
    };
    let mut out = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\
         Cache-Control: no-store\r\nConnection: close\r\n",
        body.len()
    );
    if status == 405 {
        out.push_str("Allow: GET, HEAD\r\n");
    }
    out.push_str("\r\n");
    if !head_only {
        out.push_str(body);
    }
    out.into_bytes()
}

/// The JSON body of every answer that is not a metrics page: `{"error": …}`, or the health
/// state with its reason.
#[derive(serde::Serialize)]
#[serde(untagged)]
pub enum Body<'a> {
    Error {
        error: &'a str,
    },
    /// Fields in this order so the text stays what it has always been (`reason` first).
    Health {
        #[serde(skip_serializing_if = "Option::is_none")]
        reason: Option<&'a str>,
        status: &'a str,
    },
}

impl Body<'_> {
    /// One line of JSON (serializing these fields cannot fail; the fallback is never sent).
    pub fn line(&self) -> String {
        let mut text = serde_json::to_string(self).unwrap_or_else(|_| "{}".into());
        text.push('\n');
        text
    }
}

/// A refusal's response, with a one-line JSON body saying why.
pub fn refusal_response(refusal: Refusal) -> Vec<u8> {
    let why = match refusal {
        Refusal::Malformed => "malformed HTTP request",
        Refusal::HeadTooLarge => "request head over 8 KiB",
        Refusal::MethodNotAllowed => "only GET and HEAD are served",
        Refusal::BodyNotAllowed => "requests with a body are not served",
    };
    response(
        refusal.status(),
        "application/json",
        &Body::Error { error: why }.line(),
        false,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_get_in_pieces() {
        let full = b"GET /metrics?x=1 HTTP/1.1\r\nHost: localhost\r\n\r\n";
        for cut in 0..full.len() {
            assert_eq!(parse(&full[..cut]), Ok(None), "cut at {cut}");
        }
        assert_eq!(
            parse(full),
            Ok(Some(Request {
                head_only: false,
                path: "/metrics".into()
            }))
        );
        assert!(
            parse(b"HEAD /healthz HTTP/1.0\n\n")
                .unwrap()
                .unwrap()
                .head_only
        );
    }

    #[test]
    fn refuses_what_it_does_not_serve() {
        assert_eq!(
            parse(b"POST / HTTP/1.1\r\n\r\n"),
            Err(Refusal::MethodNotAllowed)
        );
        assert_eq!(parse(b"hello world\r\n"), Err(Refusal::Malformed));
        assert_eq!(parse(b"\x16\x03\x01\x02"), Err(Refusal::Malformed));
        assert_eq!(parse(b"GET / HTTP/2\r\n\r\n"), Err(Refusal::Malformed));
        assert_eq!(
            parse(b"GET / HTTP/1.1\r\nbad header\r\n\r\n"),
            Err(Refusal::Malformed)
        );
        assert_eq!(
            parse(b"GET / HTTP/1.1\r\nContent-Length: 5\r\n\r\n"),
            Err(Refusal::BodyNotAllowed)
        );
        assert_eq!(parse(b"get / HTTP/1.1\r\n\r\n"), Err(Refusal::Malformed));
        assert_eq!(
            parse(b"GET http://x/ HTTP/1.1\r\n\r\n"),
            Err(Refusal::Malformed)
        );
        let many = format!(
            "GET / HTTP/1.1\r\n{}\r\n",
            "A: b\r\n".repeat(MAX_HEADERS + 1)
        );
        assert_eq!(parse(many.as_bytes()), Err(Refusal::HeadTooLarge));
        let mut big = b"GET / HTTP/1.1\r\nX: ".to_vec();
        big.resize(MAX_HEAD_BYTES, b'a');
        assert_eq!(parse(&big), Err(Refusal::HeadTooLarge));
        assert!(
            String::from_utf8(refusal_response(Refusal::HeadTooLarge))
                .unwrap()
                .starts_with("HTTP/1.1 431 ")
        );
    }
}
