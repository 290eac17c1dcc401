//! Process-level protections for a process that holds key material: no core dumps, and no
//! ptrace attach or /proc/PID/mem reads by other processes of the same user. The systemd unit
//! sets `LimitCORE=0` too; this covers `keyward serve` started any other way.

use rustix::process::{
    DumpableBehavior, Resource, Rlimit, dumpable_behavior, getrlimit, set_dumpable_behavior,
    setrlimit,
};

/// Makes this process non-dumpable (`PR_SET_DUMPABLE` 0: no core file, no same-user ptrace)
/// and sets `RLIMIT_CORE` to 0. Failures are logged, not fatal: a sandbox that forbids the
/// call (a seccomp filter) is itself a protection, and refusing to start would help no one.
pub fn refuse_core_dumps() {
    if let Err(e) = set_dumpable_behavior(DumpableBehavior::NotDumpable) {
        log::warn!("cannot mark the process non-dumpable: {e}");
    }
    let zero = Rlimit {
        current: Some(0),
        maximum: Some(0),
    };
    if let Err(e) = setrlimit(Resource::Core, zero) {
        log::warn!("cannot set RLIMIT_CORE to 0: {e}");
    }
}

/// Whether the process is currently dumpable (for tests and `keyward status`).
pub fn is_dumpable() -> bool {
    matches!(dumpable_behavior(), Ok(DumpableBehavior::Dumpable))
}

/// The current core-size limit (soft, hard); `u64::MAX` is unlimited (`RLIM_INFINITY`).
pub fn core_limit() -> Option<(u64, u64)> {
    let limit = getrlimit(Resource::Core);
    Some((
        limit.current.unwrap_or(u64::MAX),
        limit.maximum.unwrap_or(u64::MAX),
    ))
}
