//! Short scheduler slices for the threads that answer requests.
//!
//! On a machine whose cores the database's backends keep busy (a release storm on two cores), a
//! request's thread that wakes waits for a core behind them, and that wait, not the answer's
//! work, was the calendar's latency. Linux's EEVDF scheduler (6.12 on) lets a thread ask for a
//! shorter slice than the default (`sched_attr.sched_runtime`): it then gets an earlier deadline
//! and, waking, preempts a thread running a longer one. Its share of the CPU stays the same;
//! only when it runs changes. Older kernels ignore the request.

/// The slice asked for: a cached answer takes tens of microseconds of work.
const SLICE_NS: u64 = 300_000;
/// The longest slice the kernel grants, for work nobody waits on by the millisecond.
const LONG_SLICE_NS: u64 = 100_000_000;

/// Asks the scheduler for short slices for the calling thread. Best effort: where the kernel
/// refuses, the thread keeps the default and the error is for the log.
pub fn ask_for_short_slices() -> std::io::Result<()> {
    set_slice(SLICE_NS)
}

/// Asks for the longest slices, for a thread of long computations (a password hash): any thread
/// on the default slice that wakes then preempts it, while over time it keeps its share.
pub fn ask_for_long_slices() -> std::io::Result<()> {
    set_slice(LONG_SLICE_NS)
}

/// Gives the calling thread the scheduler's default slice again.
pub fn ask_for_default_slices() -> std::io::Result<()> {
    set_slice(0)
}

/// `0` asks for the default.
fn set_slice(slice_ns: u64) -> std::io::Result<()> {
    #[cfg(target_os = "linux")]
    {
        /// `struct sched_attr`, as `sched_setattr(2)` reads it (its first version, 56 bytes).
        #[repr(C)]
        struct SchedAttr {
            size: u32,
            policy: u32,
            flags: u64,
            nice: i32,
            priority: u32,
            runtime: u64,
            deadline: u64,
            period: u64,
            util_min: u32,
            util_max: u32,
        }
        // SAFETY: getpriority only reads the calling thread's nice value.
        let nice = unsafe { libc::getpriority(libc::PRIO_PROCESS, 0) };
        let attr = SchedAttr {
            size: std::mem::size_of::<SchedAttr>() as u32,
            policy: libc::SCHED_OTHER as u32,
            flags: 0,
            nice,
            priority: 0,
            runtime: slice_ns,
            deadline: 0,
            period: 0,
            util_min: 0,
            util_max: 0,
        };
        // SAFETY: the pointer is to a live local of the layout the call reads, and `pid 0`
        // changes only the calling thread.
        let done =
            unsafe { libc::syscall(libc::SYS_sched_setattr, 0, &attr as *const SchedAttr, 0) };
        if done == 0 {
            Ok(())
        } else {
            Err(std::io::Error::last_os_error())
        }
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = slice_ns;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_calling_thread_gets_the_short_slice() {
        std::thread::spawn(|| {
            super::ask_for_short_slices().unwrap();
            // /proc shows the slice a fair thread runs with (`se.slice`, nanoseconds).
            let sched = std::fs::read_to_string("/proc/thread-self/sched").unwrap();
            let slice = sched
                .lines()
                .find(|l| l.starts_with("se.slice"))
                .and_then(|l| l.split(':').nth(1))
                .map(|v| v.trim().parse::<f64>().unwrap());
            if let Some(slice) = slice {
                assert_eq!(slice as u64, super::SLICE_NS);
            }
            super::ask_for_default_slices().unwrap();
        })
        .join()
        .unwrap();
    }
}
