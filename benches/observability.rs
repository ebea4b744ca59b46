//! What the logs and metrics of one invocation cost, next to the work of the invocation itself.
//!
//! `cargo bench --bench observability` times, for the 100,000-item event
//! (`FANOUT_BENCH_TINY=1`: 1,000 items):
//!
//! - `process`: the event's processing, `frequency_fanout::answer` on a rayon pool of width 2;
//! - `record_invocation`: everything the function adds per invocation for observability, as in
//!   Lambda mode with `AWS_LAMBDA_LOG_FORMAT=JSON`: the invocation's span (request id and trace
//!   id, as lambda_runtime opens it), the JSON summary line written to stderr and the EMF line
//!   written to stdout. Both streams point at a pipe drained by another process while it runs,
//!   as in Lambda, where they are pipes to the runtime's log collector;
//! - `emf_line`: formatting the EMF line alone.
//!
//! The observability budget is 2% of `process`.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use frequency_fanout::number::Threshold;
use frequency_fanout::observability::{self, Metrics};
use frequency_fanout::{answer, pool, sample};

const WIDTH: usize = 2;
const REQUEST_ID: &str = "8f5e2d1c-0b4a-4c3d-9e8f-7a6b5c4d3e2f";
const TRACE_ID: &str = "Root=1-6b0728cc-189dba293c365f1113f75d5b;Parent=745279ceadd56c60;Sampled=0";

fn items() -> usize {
    // FANOUT_BENCH_TINY=1 (CI) keeps the benchmark building and running without timing much.
    if std::env::var_os("FANOUT_BENCH_TINY").is_some() {
        1_000
    } else {
        100_000
    }
}

fn observability_cost(c: &mut Criterion) {
    let items = items();
    let payload = sample::event(items);
    let threshold = Threshold::parse("10").expect("10 is a number");
    let pool = pool::build(WIDTH).expect("pool");
    let process = || pool.install(|| answer(&payload, WIDTH, &threshold, WIDTH, REQUEST_ID));
    let answer = process();
    let response = answer.result.as_ref().expect("a valid event");
    assert_eq!(response.total_items, items);

    // The subscriber Lambda mode installs with JSON logs at INFO.
    std::env::set_var("AWS_LAMBDA_LOG_FORMAT", "JSON");
    for variable in ["AWS_LAMBDA_LOG_LEVEL", "RUST_LOG"] {
        std::env::remove_var(variable);
    }
    observability::init();
    let metrics = Metrics::new(observability::DEFAULT_METRICS_NAMESPACE, "frequency-fanout");
    let invocation = observability::Invocation {
        request_id: REQUEST_ID,
        xray_trace_id: Some(TRACE_ID),
        payload: &payload,
        elapsed: Duration::from_micros(4_321),
        workers: 2,
    };

    let mut group = c.benchmark_group(format!("observability/{items}"));
    group.bench_function("process", |b| b.iter(|| black_box(process())));
    group.bench_function("record_invocation", |b| {
        b.iter_custom(|iterations| {
            let _redirected = output::to_drained_pipe();
            let started = Instant::now();
            for _ in 0..iterations {
                let span = tracing::info_span!(
                    "Lambda runtime invoke",
                    requestId = REQUEST_ID,
                    xrayTraceId = TRACE_ID
                );
                let _entered = span.enter();
                observability::record_invocation(
                    black_box(&invocation),
                    black_box(&answer),
                    Some(&metrics),
                );
            }
            started.elapsed()
        })
    });
    group.bench_function("emf_line", |b| {
        b.iter(|| metrics.line(black_box(&answer), "Direct", false, &invocation))
    });
    group.finish();
}

/// Points the process's stdout and stderr at a pipe read by `cat > /dev/null` while the
/// returned guard lives, so that the lines written are real writes to a pipe and do not mix
/// with the benchmark's report.
#[cfg(unix)]
mod output {
    use std::io::Write;
    use std::os::fd::{AsRawFd, RawFd};
    use std::process::{Child, ChildStdin, Command, Stdio};
    use std::sync::OnceLock;

    extern "C" {
        fn dup(fd: RawFd) -> RawFd;
        fn dup2(from: RawFd, to: RawFd) -> RawFd;
        fn close(fd: RawFd) -> i32;
    }

    /// The pipe into a `cat` that discards everything, started once; it ends when the
    /// benchmark's process does (its input closes).
    fn drain() -> &'static ChildStdin {
        static DRAIN: OnceLock<(Child, ChildStdin)> = OnceLock::new();
        let (_, stdin) = DRAIN.get_or_init(|| {
            let mut child = Command::new("cat")
                .stdin(Stdio::piped())
                .stdout(Stdio::null())
                .spawn()
                .expect("cat starts");
            let stdin = child.stdin.take().expect("stdin is piped");
            (child, stdin)
        });
        stdin
    }

    pub struct Redirected {
        saved: Vec<(RawFd, RawFd)>,
    }

    pub fn to_drained_pipe() -> Redirected {
        let pipe = drain().as_raw_fd();
        flush();
        let mut saved = Vec::new();
        for fd in [1, 2] {
            // SAFETY: plain descriptor calls on descriptors this process owns; the originals
            // are kept and put back in `drop`.
            unsafe {
                let copy = dup(fd);
                assert!(copy >= 0, "dup({fd}) failed");
                assert!(dup2(pipe, fd) >= 0, "dup2 onto {fd} failed");
                saved.push((fd, copy));
            }
        }
        Redirected { saved }
    }

    fn flush() {
        let _ = std::io::stdout().flush();
        let _ = std::io::stderr().flush();
    }

    impl Drop for Redirected {
        fn drop(&mut self) {
            flush();
            for (fd, copy) in self.saved.drain(..) {
                // SAFETY: as above; `copy` came from `dup` and is closed once.
                unsafe {
                    dup2(copy, fd);
                    close(copy);
                }
            }
        }
    }
}

/// Elsewhere the lines go where the process's output goes.
#[cfg(not(unix))]
mod output {
    pub struct Redirected;

    pub fn to_drained_pipe() -> Redirected {
        Redirected
    }
}

criterion_group!(benches, observability_cost);
criterion_main!(benches);
