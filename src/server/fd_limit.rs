//! Raises the open-file limit at start-up to what the connection budgets need. Many systems
//! start services with a soft limit of 1024 descriptors, below `max_connections` plus
//! `max_unauthenticated`: the budgets would then never be reached and a flood would end in
//! failing `accept` calls instead of orderly evictions. The soft limit may be raised up to
//! the hard one without privileges; the log says what was obtained.
//!
//! The descriptor table is then grown to that size at once ([`presize_table`]). The kernel
//! grows a process's table by doubling it when a new descriptor does not fit, and in a
//! process with several threads each growth waits for an RCU grace period: measured under
//! `tests/unauth_flood.rs`'s flood, `accept` slept 10-30 ms at 256, 512, … 8192 open
//! connections, and an authenticated client waited behind it. Grown at start-up, the table
//! never grows under load (it never shrinks either).

use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};

/// Descriptors kept beyond the connection budgets: the store and audit files, the listeners,
/// the admin socket, the HTTP connections, the signal pipe, the poll instance, etcd.
const RESERVE: u64 = 128;

/// What the budgets need: one descriptor per connection of any budget (authenticated,
/// unauthenticated, the silent pool), plus the reserve.
pub(super) fn needed(max_connections: usize, max_unauthenticated: usize, max_silent: usize) -> u64 {
    (max_connections as u64)
        .saturating_add(max_unauthenticated as u64)
        .saturating_add(max_silent as u64)
        .saturating_add(super::http_conn::MAX_HTTP_CONNECTIONS as u64)
        .saturating_add(RESERVE)
}

/// Raises the soft `RLIMIT_NOFILE` towards `needed` (never lowers it) and logs the result.
/// Returns the soft limit in force afterwards (`None`: unlimited).
pub(super) fn raise_to(needed: u64) -> Option<u64> {
    let limit = getrlimit(Resource::Nofile);
    let current = limit.current;
    if current.is_none_or(|soft| soft >= needed) {
        log::info!(
            "open file limit {} (the connection budgets need {needed})",
            describe(current)
        );
        return current;
    }
    let target = match limit.maximum {
        Some(hard) => needed.min(hard),
        None => needed,
    };
    let raised = Rlimit {
        current: Some(target),
        maximum: limit.maximum,
    };
    match setrlimit(Resource::Nofile, raised) {
        Ok(()) if target >= needed => {
            log::info!(
                "open file limit raised from {} to {target} (the connection budgets need {needed})",
                describe(current)
            );
            Some(target)
        }
        Ok(()) => {
            log::warn!(
                "open file limit raised from {} to the hard limit {target}, below the {needed} \
                 the connection budgets need: lower max_connections/max_unauthenticated or raise \
                 LimitNOFILE",
                describe(current)
            );
            Some(target)
        }
        Err(e) => {
            log::warn!(
                "open file limit {} is below the {needed} the connection budgets need, and \
                 raising it failed: {e}",
                describe(current)
            );
            current
        }
    }
}

/// Grows the descriptor table to hold descriptor `size - 1` (bounded by the soft limit), by
/// duplicating a descriptor of `/dev/null` there and closing both. Best effort: a failure only leaves
/// the growth to the kernel, as before; the size is what the budgets need, not the hard limit
/// (the table costs 8 bytes and two bits per slot, about 150 KB for the default budgets).
pub(super) fn presize_table(size: u64, soft: Option<u64>) {
    let top = soft.map_or(size, |soft| soft.min(size)).saturating_sub(1);
    let Ok(top) = i32::try_from(top) else {
        return;
    };
    let grown = std::fs::File::open("/dev/null").and_then(|null| {
        // The lowest free descriptor at or above `top`: the table grows to hold it.
        rustix::io::fcntl_dupfd_cloexec(&null, top).map_err(std::io::Error::from)
    });
    if let Err(e) = grown {
        log::debug!("could not grow the descriptor table to {size}: {e}");
    }
}

/// The silent pool that fits under the descriptor limit `soft` next to the other budgets:
/// `wanted` when it fits, else what is left (at least 1), so that a low hard limit shrinks
/// the pool instead of making `accept` fail. 0 (no pool) stays 0.
pub(super) fn silent_pool_within(
    soft: Option<u64>,
    max_connections: usize,
    max_unauthenticated: usize,
    wanted: usize,
) -> usize {
    let Some(soft) = soft.filter(|_| wanted > 0) else {
        return wanted;
    };
    let others = needed(max_connections, max_unauthenticated, 0);
    let room = usize::try_from(soft.saturating_sub(others)).unwrap_or(usize::MAX);
    wanted.min(room).max(1)
}

fn describe(limit: Option<u64>) -> String {
    limit.map_or_else(|| "unlimited".to_string(), |n| n.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_limit_in_force_covers_a_modest_need() {
        // Every test runner allows a few hundred descriptors; raising to it is a no-op or works.
        let need = needed(16, 16, 16);
        assert!(raise_to(need).is_none_or(|soft| soft >= need));
    }

    #[test]
    fn the_table_is_grown_to_the_budgets_without_leaving_a_descriptor_open() {
        // Slots the kernel has allocated for this process's descriptors.
        let slots = || {
            std::fs::read_to_string("/proc/self/status")
                .ok()
                .and_then(|status| {
                    let line = status.lines().find(|l| l.starts_with("FDSize:"))?;
                    line.split_whitespace().nth(1)?.parse::<u64>().ok()
                })
                .unwrap_or(0)
        };
        let need = needed(1_000, 1_000, 1_000);
        let soft = raise_to(need);
        let size = soft.map_or(need, |s| s.min(need));
        presize_table(size, soft);
        assert!(slots() >= size, "FDSize {} < {size}", slots());
        // The copy at the top is closed again: a new one lands exactly there (the kernel takes
        // the lowest free descriptor at or above the one asked for).
        let top = i32::try_from(size - 1).unwrap();
        let null = std::fs::File::open("/dev/null").unwrap();
        let copy = rustix::io::fcntl_dupfd_cloexec(&null, top).unwrap();
        assert_eq!(rustix::fd::AsRawFd::as_raw_fd(&copy), top);
    }

    #[test]
    fn the_silent_pool_shrinks_to_the_descriptors_left() {
        let others = needed(100, 10, 0);
        assert_eq!(silent_pool_within(None, 100, 10, 5000), 5000);
        assert_eq!(silent_pool_within(Some(others + 5000), 100, 10, 5000), 5000);
        assert_eq!(silent_pool_within(Some(others + 4999), 100, 10, 5000), 4999);
        assert_eq!(silent_pool_within(Some(others), 100, 10, 5000), 1);
        assert_eq!(silent_pool_within(Some(10), 100, 10, 5000), 1);
        assert_eq!(
            silent_pool_within(Some(10), 100, 10, 0),
            0,
            "no pool stays no pool"
        );
    }
}
