//! Log lines to stderr, shaped for where they end up. Under systemd (JOURNAL_STREAM or
//! INVOCATION_ID set) each line starts with its sd-daemon priority, `<3>` to `<7>`, and
//! carries no timestamp: journald parses the prefix into the entry's priority and stamps the
//! time itself. Elsewhere a line starts with an RFC 3339 UTC timestamp and the level name.

use std::io::Write;

/// sd-daemon.h priority of a log level (LOG_ERR 3, LOG_WARNING 4, LOG_INFO 6, LOG_DEBUG 7).
pub fn priority(level: log::Level) -> u8 {
    match level {
        log::Level::Error => 3,
        log::Level::Warn => 4,
        log::Level::Info => 6,
        log::Level::Debug | log::Level::Trace => 7,
    }
}

/// Whether stderr most likely goes to the journal.
pub fn under_systemd() -> bool {
    std::env::var_os("JOURNAL_STREAM").is_some() || std::env::var_os("INVOCATION_ID").is_some()
}

/// One formatted line (without its newline).
pub fn format_line(
    journald: bool,
    timestamp: &dyn std::fmt::Display,
    level: log::Level,
    target: &str,
    message: &std::fmt::Arguments<'_>,
) -> String {
    // Multi-line messages would become several journal entries, the later ones without
    // priority: keep one event on one line.
    let message = message.to_string().replace('\n', " ");
    if journald {
        format!("<{}>{target}: {message}", priority(level))
    } else {
        format!("{timestamp} {level:<5} {target}: {message}")
    }
}

/// Crates that log HTTP bodies and headers at debug and trace: the IAM request carries the
/// API key and its answer the access token, which must never reach a log. They log at info
/// and above only, whatever RUST_LOG asks for.
const WIRE_DUMPERS: [&str; 2] = ["ureq", "ureq_proto"];

fn dumps_the_wire(target: &str, level: log::Level) -> bool {
    level > log::Level::Info
        && WIRE_DUMPERS
            .iter()
            .any(|m| target == *m || target.starts_with(&format!("{m}::")))
}

/// Installs the logger: `level` (from `[log] level`) unless RUST_LOG is set, which then
/// wins with its full env_logger syntax. Calling it twice does nothing the second time.
pub fn init(level: &str) {
    let journald = under_systemd();
    let mut builder = env_logger::Builder::new();
    builder.parse_filters(level);
    if let Ok(filters) = std::env::var("RUST_LOG") {
        builder.parse_filters(&filters);
    }
    for module in WIRE_DUMPERS {
        builder.filter_module(module, log::LevelFilter::Info);
    }
    builder.target(env_logger::Target::Stderr);
    builder.format(move |buf, record| {
        // Also refused here, so that a more specific RUST_LOG directive cannot bring them back.
        if dumps_the_wire(record.target(), record.level()) {
            return Ok(());
        }
        let line = format_line(
            journald,
            &buf.timestamp_millis(),
            record.level(),
            record.target(),
            record.args(),
        );
        writeln!(buf, "{line}")
    });
    let _ = builder.try_init();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_http_client_never_logs_below_info() {
        assert!(dumps_the_wire("ureq_proto::util", log::Level::Trace));
        assert!(dumps_the_wire("ureq", log::Level::Debug));
        assert!(!dumps_the_wire("ureq", log::Level::Info));
        assert!(!dumps_the_wire(
            "ureq_protocol_lookalike",
            log::Level::Trace
        ));
        assert!(!dumps_the_wire("keyward::keyprotect", log::Level::Trace));
    }

    #[test]
    fn journald_lines_carry_priority_and_no_time() {
        let line = format_line(
            true,
            &"2026-01-01T00:00:00Z",
            log::Level::Warn,
            "keyward::server",
            &format_args!("client 1.2.3.4: connection failure:\nno client certificate"),
        );
        assert_eq!(
            line,
            "<4>keyward::server: client 1.2.3.4: connection failure: no client certificate"
        );
        let line = format_line(
            false,
            &"2026-01-01T00:00:00Z",
            log::Level::Error,
            "keyward",
            &format_args!("x"),
        );
        assert_eq!(line, "2026-01-01T00:00:00Z ERROR keyward: x");
        assert_eq!(priority(log::Level::Info), 6);
        assert_eq!(priority(log::Level::Trace), 7);
    }
}
