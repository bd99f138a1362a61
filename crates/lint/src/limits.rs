//! Process-level limits for the lint worker: a memory budget enforced by the kernel, and the
//! CPU time each file takes (what `--timings` reports, unaffected by other processes).

/// Memory a lint worker may allocate (heap and anonymous mappings, the linter thread's stack
/// included). A file that needs more stops its worker; `pyoci lint` reports it as PYO004.
pub const MEMORY_BUDGET_BYTES: u64 = 1 << 30;

/// Caps this process's data segment at [`MEMORY_BUDGET_BYTES`]: allocations past it fail,
/// which ends the process instead of exhausting the machine.
pub fn apply_memory_budget() -> std::io::Result<()> {
    let limit = libc::rlimit {
        rlim_cur: MEMORY_BUDGET_BYTES as libc::rlim_t,
        rlim_max: libc::RLIM_INFINITY,
    };
    // SAFETY: setrlimit reads the struct we pass and touches nothing else.
    if unsafe { libc::setrlimit(libc::RLIMIT_DATA, &limit) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// CPU seconds the calling thread has used so far.
pub fn thread_cpu_seconds() -> f64 {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes only the struct we pass.
    if unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut now) } != 0 {
        return 0.0;
    }
    now.tv_sec as f64 + now.tv_nsec as f64 / 1e9
}
