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

/// Installs the logger: `level` (from `[log] level`) unless RUST_LOG is set, which then
/// wins with its full env_logger syntax. Calling it twice does nothing the second time.
pub fn init(level: &str) {
    let journald = under_systemd();
    let mut builder = env_logger::Builder::new();
    builder.parse_filters(level);
    if let Ok(filters) = std::env::var("RUST_LOG") {
        builder.parse_filters(&filters);
    }
    builder.target(env_logger::Target::Stderr);
    builder.format(move |buf, record| {
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
