//! How soon a pool that has slept puts every worker on a parse: why the function keeps each
//! worker on a CPU of its own (`src/pool.rs`).
//!
//! Between invocations the pool's workers sleep. Each iteration lets them (5 ms, as between
//! two invocations; not timed), then times what the Lambda loop does with a large event: a job
//! handed to the pool (`spawn`, the answer back over a channel) that splits into one 1 ms
//! share of work per worker. With every worker on the parse at once it takes about 1 ms; a
//! worker that the kernel queues behind a busy one instead of on an idle CPU adds up to its
//! share again.
//!
//! - `kept_apart`: the function's pool ([`pool::build`]), one worker per CPU, each kept on its
//!   own;
//! - `free`: a pool of the same width whose workers the kernel places.
//!
//! `cargo bench --bench pool_wake`

use std::sync::mpsc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use frequency_fanout::pool;
use rayon::prelude::*;

/// Each worker's share of the work.
const SHARE: Duration = Duration::from_millis(1);
/// How long the pool is left alone before each job: long enough for its workers to sleep.
const IDLE: Duration = Duration::from_millis(5);

/// Busy work for `duration` (a parse's share stands in for any CPU-bound work here).
fn work_for(duration: Duration) {
    let started = Instant::now();
    while started.elapsed() < duration {
        std::hint::spin_loop();
    }
}

/// Hands `pool` one job of a share per worker after it has slept, as the Lambda loop hands
/// it a parse; returns the time from handing it over to the answer.
fn one_job(pool: &rayon::ThreadPool, workers: usize) -> Duration {
    std::thread::sleep(IDLE);
    let (sender, receiver) = mpsc::channel();
    let started = Instant::now();
    pool.spawn(move || {
        (0..workers)
            .into_par_iter()
            .with_max_len(1)
            .for_each(|_| work_for(SHARE));
        // The bench waits on the receiver below.
        sender.send(()).expect("the bench waits for the answer");
    });
    receiver.recv().expect("the job answers");
    started.elapsed()
}

fn pool_wake(c: &mut Criterion) {
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get());
    let kept_apart = pool::build(workers).expect("the pool starts");
    let free = rayon::ThreadPoolBuilder::new()
        .num_threads(workers)
        .build()
        .expect("the pool starts");
    let mut group = c.benchmark_group(format!("pool_wake/{workers}_workers"));
    group
        .sample_size(30)
        .measurement_time(Duration::from_secs(3));
    for (name, pool) in [("kept_apart", &kept_apart), ("free", &free)] {
        group.bench_function(name, |b| {
            b.iter_custom(|iterations| (0..iterations).map(|_| one_job(pool, workers)).sum())
        });
    }
    group.finish();
}

criterion_group!(benches, pool_wake);
criterion_main!(benches);
