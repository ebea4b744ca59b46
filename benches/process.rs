//! In-process benchmark: a payload's processing from bytes to response, at several widths.
//!
//! `cargo bench --bench process` (all sizes), `cargo bench --bench process -- 100000`
//! (one size), `cargo bench --bench process -- crossover` (where the pool starts to pay),
//! `cargo bench --bench process -- shapes/` (each shape of event at widths 1 and 2).

use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use frequency_fanout::number::Threshold;
use frequency_fanout::sample::{self, Shape};
use frequency_fanout::{evaluate, pool};

fn widths() -> Vec<usize> {
    let available = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut widths = vec![1, 2, available];
    widths.sort_unstable();
    widths.dedup();
    widths
}

fn sizes() -> Vec<usize> {
    // FANOUT_BENCH_TINY=1 (CI) keeps the benchmark building and running without timing much.
    if std::env::var_os("FANOUT_BENCH_TINY").is_some() {
        vec![1_000]
    } else {
        vec![1_000, 10_000, 100_000, 1_000_000]
    }
}

fn process(c: &mut Criterion) {
    let threshold = Threshold::parse("10").expect("10 is a number");
    for items in sizes() {
        let payload = sample::event(items);
        let mut group = c.benchmark_group(format!("process/{items}"));
        group.throughput(Throughput::Bytes(payload.len() as u64));
        if items >= 1_000_000 {
            group
                .sample_size(20)
                .measurement_time(Duration::from_secs(8));
        }
        for width in widths() {
            let pool = pool::build(width).expect("pool");
            group.bench_with_input(BenchmarkId::new("width", width), &payload, |b, payload| {
                b.iter(|| {
                    pool.install(|| evaluate(payload, width, &threshold, width))
                        .expect("valid event")
                })
            });
        }
        group.finish();
    }
}

/// Where handing an event to the pool starts to pay: the same events processed inline on the
/// calling thread (one part) and handed to a pool of the machine's width, as `process` does
/// above `INLINE_BELOW_BYTES`.
fn crossover(c: &mut Criterion) {
    let threshold = Threshold::parse("10").expect("10 is a number");
    let width = std::thread::available_parallelism()
        .map_or(2, |n| n.get())
        .max(2);
    let pool = pool::build(width).expect("pool");
    let sizes: &[usize] = if std::env::var_os("FANOUT_BENCH_TINY").is_some() {
        &[10]
    } else {
        &[
            10, 50, 100, 200, 300, 500, 700, 1_000, 1_500, 2_000, 3_000, 5_000,
        ]
    };
    for &items in sizes {
        let payload = sample::event(items);
        let mut group = c.benchmark_group(format!("crossover/{}B", payload.len()));
        group.throughput(Throughput::Bytes(payload.len() as u64));
        group.bench_function("inline", |b| {
            b.iter(|| evaluate(&payload, 1, &threshold, width).expect("valid event"))
        });
        group.bench_function("pool", |b| {
            b.iter(|| {
                pool.install(|| evaluate(&payload, width, &threshold, width))
                    .expect("valid event")
            })
        });
        group.finish();
    }
}

/// Each shape of event users send (`sample::Shape`), about 5 MB, at widths 1 and 2.
fn shapes(c: &mut Criterion) {
    let threshold = Threshold::parse("10").expect("10 is a number");
    let bytes = if std::env::var_os("FANOUT_BENCH_TINY").is_some() {
        20_000
    } else {
        5_000_000
    };
    let pools: Vec<(usize, rayon::ThreadPool)> = [1, 2]
        .into_iter()
        .map(|width| {
            let pool = pool::build(width).expect("pool");
            (width, pool)
        })
        .collect();
    for shape in Shape::ALL {
        let payload = shape.event(bytes);
        let mut group = c.benchmark_group(format!("shapes/{}", shape.name()));
        group
            .throughput(Throughput::Bytes(payload.len() as u64))
            .sample_size(30)
            .warm_up_time(Duration::from_secs(1))
            .measurement_time(Duration::from_secs(3));
        for (width, pool) in &pools {
            let width = *width;
            group.bench_with_input(BenchmarkId::new("width", width), &payload, |b, payload| {
                b.iter(|| {
                    pool.install(|| evaluate(payload, width, &threshold, width))
                        .expect("valid event")
                })
            });
        }
        group.finish();
    }
}

criterion_group!(benches, process, crossover, shapes);
criterion_main!(benches);
