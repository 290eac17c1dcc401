//! Process-level protections for a process that holds key material: no core dumps, and no
//! ptrace attach or /proc/PID/mem reads by other processes of the same user. The systemd unit
//! sets `LimitCORE=0` too; this covers `keyward serve` started any other way.

/// Makes this process non-dumpable (`PR_SET_DUMPABLE` 0: no core file, no same-user ptrace)
/// and sets `RLIMIT_CORE` to 0. Failures are logged, not fatal: a sandbox that forbids the
/// call (a seccomp filter) is itself a protection, and refusing to start would help no one.
pub fn refuse_core_dumps() {
    // SAFETY: prctl(PR_SET_DUMPABLE, 0) takes integer arguments only and touches no memory of
    // ours; the unused trailing arguments are passed as 0 as the man page asks.
    let rc = unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 0 as libc::c_ulong, 0, 0, 0) };
    if rc != 0 {
        log::warn!(
            "cannot mark the process non-dumpable: {}",
            std::io::Error::last_os_error()
        );
    }
    let zero = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `zero` is a fully initialised rlimit that lives across the call; setrlimit only
    // reads it.
    let rc = unsafe { libc::setrlimit(libc::RLIMIT_CORE, &zero) };
    if rc != 0 {
        log::warn!(
            "cannot set RLIMIT_CORE to 0: {}",
            std::io::Error::last_os_error()
        );
    }
}

/// Whether the process is currently dumpable (for tests and `keyward status`).
pub fn is_dumpable() -> bool {
    // SAFETY: PR_GET_DUMPABLE takes no pointer arguments and returns the flag.
    unsafe { libc::prctl(libc::PR_GET_DUMPABLE, 0, 0, 0, 0) == 1 }
}

/// The current core-size limit (soft, hard).
pub fn core_limit() -> Option<(u64, u64)> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `limit` is a valid, writable rlimit for the duration of the call.
    let rc = unsafe { libc::getrlimit(libc::RLIMIT_CORE, &mut limit) };
    (rc == 0).then_some((limit.rlim_cur, limit.rlim_max))
}
