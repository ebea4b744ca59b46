//! The worker pool the items are fanned out to: rayon's, with each worker kept on a CPU of
//! its own when there is one worker for each CPU the process may use (on Lambda, when the
//! function's memory buys it as many whole vCPUs as its microVM has).
//!
//! Between invocations the workers sleep. When an invocation's parse begins, the worker that
//! takes it splits the work and wakes the others. On this project's 2-vCPU test machine (a
//! Firecracker microVM, as Lambda's are, whose kernel is booted to pack tasks onto few vCPUs:
//! `sched_vcpu_pack=15`, `haltpoll.guest_halt_poll_ns=0`) the kernel often puts a woken worker
//! on the CPU of the worker that woke it, the one busy parsing, rather than on an idle one;
//! there it waits its turn, and the parse runs on one core for a slice of a millisecond or
//! more while the other idles. `cargo bench --bench pool_wake` shows it: a job of two 1 ms
//! shares, handed to a pool that had slept 5 ms, took a median of about 2.1 ms with the
//! workers free to move and 1.2 ms with each kept on its own CPU (BENCHMARKS.md, "Workers on
//! CPUs of their own", for the sitting's figures and the whole process). A worker kept on a
//! CPU still gives it up to any other thread that needs it; it only never waits behind
//! another worker while a CPU of the pool's is idle.
//!
//! Only with one worker for each CPU the process may use, two or more: with fewer workers the
//! kernel has idle CPUs to place them on, and with more it must share CPUs between them.

/// Builds a pool of `workers` threads named `fanout-N`, each kept on a CPU of its own when
/// there are exactly as many CPUs as workers (two or more).
pub fn build(workers: usize) -> Result<rayon::ThreadPool, rayon::ThreadPoolBuildError> {
    let cpus = affinity::allowed_cpus();
    let keep_on_cpus = workers >= 2 && cpus.len() == workers;
    rayon::ThreadPoolBuilder::new()
        .num_threads(workers)
        .thread_name(|i| format!("fanout-{i}"))
        .start_handler(move |i| {
            if keep_on_cpus {
                // `i` is below `workers`, which is `cpus.len()` here.
                affinity::keep_current_thread_on(cpus[i]);
            }
        })
        .build()
}

#[cfg(target_os = "linux")]
mod affinity {
    use std::mem::{size_of, zeroed};

    /// The CPUs this process may run on, in ascending order; empty when they cannot be read.
    pub fn allowed_cpus() -> Vec<usize> {
        // SAFETY: `cpu_set_t` is a plain bit array, for which all zeros is the empty set;
        // sched_getaffinity writes at most `size_of::<cpu_set_t>()` bytes into it, and
        // CPU_ISSET reads a bit of it for an index below CPU_SETSIZE.
        unsafe {
            let mut set: libc::cpu_set_t = zeroed();
            if libc::sched_getaffinity(0, size_of::<libc::cpu_set_t>(), &mut set) != 0 {
                return Vec::new();
            }
            (0..libc::CPU_SETSIZE as usize)
                .filter(|&cpu| libc::CPU_ISSET(cpu, &set))
                .collect()
        }
    }

    /// Keeps the calling thread on `cpu`. A refusal (a CPU taken away since) leaves the
    /// thread where the kernel puts it, which is only slower.
    pub fn keep_current_thread_on(cpu: usize) {
        // SAFETY: as above; CPU_SET writes one bit of the set for `cpu`, which came from
        // `allowed_cpus` and so is below CPU_SETSIZE, and sched_setaffinity reads the set.
        unsafe {
            let mut set: libc::cpu_set_t = zeroed();
            libc::CPU_SET(cpu, &mut set);
            libc::sched_setaffinity(0, size_of::<libc::cpu_set_t>(), &set);
        }
    }
}

#[cfg(not(target_os = "linux"))]
mod affinity {
    pub fn allowed_cpus() -> Vec<usize> {
        Vec::new()
    }

    pub fn keep_current_thread_on(_cpu: usize) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The CPUs each worker of `pool` may run on.
    fn placement(pool: &rayon::ThreadPool) -> Vec<Vec<usize>> {
        pool.broadcast(|_| affinity::allowed_cpus())
    }

    #[test]
    fn one_worker_per_cpu_keeps_each_on_its_own() {
        let cpus = affinity::allowed_cpus();
        assert!(!cpus.is_empty(), "the CPUs this process may use are known");
        let placed = placement(&build(cpus.len()).unwrap());
        if cpus.len() == 1 {
            // One worker: nothing to keep apart, and it stays where it may run.
            assert_eq!(placed, vec![cpus]);
            return;
        }
        let mut own: Vec<usize> = placed
            .iter()
            .map(|set| {
                assert_eq!(set.len(), 1, "a worker kept on one CPU: {set:?}");
                set[0]
            })
            .collect();
        own.sort_unstable();
        assert_eq!(own, cpus, "no two workers share a CPU");
    }

    #[test]
    fn other_widths_are_left_to_the_kernel() {
        let cpus = affinity::allowed_cpus();
        for workers in [1, cpus.len() + 1] {
            let placed = placement(&build(workers).unwrap());
            assert_eq!(placed.len(), workers);
            assert!(
                placed.iter().all(|set| *set == cpus),
                "{workers} workers: {placed:?}"
            );
        }
    }
}
