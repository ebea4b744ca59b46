//! How the process uses memory for the life of an execution environment: the C library's own
//! allocator (glibc's, on `provided.al2023`), told at the start of `main` to keep what an
//! invocation used for the next one.
//!
//! glibc maps an allocation above its mmap threshold (128 KiB, raised as large blocks are
//! freed) afresh and gives it back when it is freed, and hands the top of its heap back to the
//! kernel once more than its trim threshold is free there. An invocation of a 5.3 MB event
//! touches megabytes (the payload's buffer, the parts' frequencies, and hyper's read buffer
//! while the Runtime API was read through hyper's client), so
//! with those defaults some of it is page-faulted in again by the next invocation, and the CPU
//! that costs grows with how the Runtime API writes: 8,000 to 18,000 minor faults every four
//! seconds of 100,000-item invocations, against 2 to 128 with [`keep_memory_for_reuse`]
//! (BENCHMARKS.md, "Memory for the life of an environment").
//!
//! Chosen among the C libraries and allocators measured there in one sitting (100,000-item
//! event, 3 rounds of 40 invocations per way the Runtime API writes, 12 spawns for init), with
//! this crate's own Runtime API loop, which keeps memory flat with Lambda's per-invocation
//! trace ids on any C library (lambda_runtime's loop, which sets `_X_AMZN_TRACE_ID` each time,
//! grew 186 bytes per invocation on glibc):
//!
//! | candidate | median ms, one / two writes | CPU ms, one / two | faults per invocation, one / two | peak RSS | init | aarch64 bootstrap |
//! | --- | ---: | ---: | ---: | ---: | ---: | ---: |
//! | glibc, defaults | 5.52 / 5.84 | 6.15 / 5.90 | 80 / 97 | 16.7 MiB | 2.15 ms | 1,628,896 B |
//! | glibc, these settings | 5.25 / 6.58 | 5.64 / 6.92 | 24 / 18 | 17.5 MiB | 1.83 ms | 1,628,888 B |
//! | glibc + mimalloc | 4.87 / 6.22 | 7.44 / 6.41 | 0 / 0 | 59.6 MiB | 2.88 ms | 1,763,288 B |
//! | glibc + jemalloc | 5.08 / 6.04 | 5.90 / 6.15 | 18 / 15 | 17.1 MiB | 2.42 ms | 1,904,744 B |
//! | musl, its own malloc | 6.84 / 7.44 | 7.95 / 7.95 | 472 / 477 | 12.2 MiB | 1.25 ms | 1,630,296 B |
//! | musl + mimalloc | 5.32 / 5.27 | 7.18 / 6.67 | 0 / 0 | 55.8 MiB | 2.04 ms | 1,753,896 B |
//!
//! The faults of these settings are those of the first invocations of each run; a warm
//! process takes a few a second. mimalloc keeps everything mapped too, but holds three times
//! the memory and starts slower; musl's malloc faults on every large invocation and is the
//! slowest; jemalloc adds 270 KB to the binary and starts slower for no gain. The latencies
//! differ by less than the machine's noise. These two settings cost nothing at init and need
//! no crate of their own.

/// Allocations up to this size come from the heap, which keeps them, never from a mapping of
/// their own: far above an invocation's largest buffer (a 6 MB payload).
pub const MMAP_THRESHOLD_BYTES: i32 = 32 << 20;

/// Free memory at the top of the heap is given back to the kernel only beyond this much: more
/// than any invocation frees at once, so the heap stays at the size the largest invocation
/// needed. Resident memory does not grow from it: the heap only ever reaches the peak an
/// invocation needs, and the same pages serve the next one.
pub const TRIM_THRESHOLD_BYTES: i32 = 256 << 20;

/// Tells the C library's allocator to keep the memory an invocation used for the next one. Call
/// it first thing in `main`, before threads start: a setting of glibc's `mallopt`, fixed here
/// rather than left to `GLIBC_TUNABLES`, which nobody sets on Lambda. Elsewhere than glibc it
/// does nothing.
pub fn keep_memory_for_reuse() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: mallopt only records two numbers in glibc's allocator state; it is called
        // before any other thread exists, with parameters glibc documents for it.
        let (mmap, trim) = unsafe {
            (
                libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES),
                libc::mallopt(libc::M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES),
            )
        };
        // glibc returns 1 on success; a failure leaves its defaults, which are only slower.
        debug_assert!(mmap == 1 && trim == 1, "mallopt refused a setting");
    }
}
