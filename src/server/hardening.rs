//! Process hardening for `keyward serve`: no core dumps, so a crash cannot write the master
//! key or unsealed key material to disk. Minimal version (branch `appliance` extends it).

/// Sets RLIMIT_CORE to 0 (soft and hard) and marks the process non-dumpable, which also keeps
/// other unprivileged processes from attaching with ptrace or reading /proc/PID/mem.
pub fn disable_core_dumps() -> std::io::Result<()> {
    let zero = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: setrlimit reads the rlimit struct we pass by reference for the duration of the
    // call only; it is fully initialised above.
    if unsafe { libc::setrlimit(libc::RLIMIT_CORE, &zero) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: PR_SET_DUMPABLE takes an integer argument and touches no memory of ours.
    if unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}
