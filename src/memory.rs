//! How the process uses memory for the life of an execution environment: the C library's own
//! allocator (glibc's, on `provided.al2023`), told at the start of `main` to keep what an
//! invocation used for the next one.
//!
//! glibc maps an allocation above its mmap threshold (128 KiB, raised as large blocks are
//! freed) afresh and gives it back when it is freed, and hands the top of its heap back to the
//! kernel once more than its trim threshold is free there. An invocation of a 5.3 MB event
//! touches megabytes (the payload's buffer, hyper's read buffer, the parts' frequencies), so
//! with those defaults some of it is page-faulted in again by the next invocation, and the CPU
//! that costs grows with how the Runtime API writes: 8,000 to 18,000 minor faults every four
//! seconds of 100,000-item invocations, against 2 to 128 with [`keep_memory_for_reuse`]
//! (BENCHMARKS.md, "Memory for the life of an environment").
//!
//! Chosen among the C libraries and allocators measured there in one sitting, with this
//! crate's own Runtime API loop (which keeps memory flat with Lambda's per-invocation trace ids
//! on any C library; lambda_runtime's loop grew 182 bytes per invocation on glibc):
//!
//! | candidate | minor faults per invocation, after the first | peak RSS | init |
//! | --- | ---: | ---: | ---: |
//! | glibc, defaults | 26 | 15.5 MiB | 2.01 ms |
//! | glibc, these settings | 0 (steady state) | 15.4 MiB | 1.61 ms |
//! | glibc + mimalloc | 0 | 53.8 MiB | 2.80 ms |
//! | glibc + jemalloc | 74 | 16.9 MiB | 2.80 ms |
//! | musl, its own malloc | 503 | 11.9 MiB | 1.19 ms |
//! | musl + mimalloc | 0 | 49.8 MiB | 2.06 ms |
//!
//! mimalloc keeps everything mapped too, but holds three times the memory; musl's malloc
//! faults on every large invocation and is the slowest; jemalloc adds 250 KB to the binary and
//! nothing here. These two settings cost nothing at init and need no crate of their own.

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
