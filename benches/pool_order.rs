//! The order in which large events that arrive together take the pool (Lambda Managed
//! Instances: several invocations in flight). Four 100,000-item events handed over at once, on a
//! pool of two workers:
//!
//! - `one_at_a_time`: the function's order ([`FrequencyFanout::process`]): each event waits for
//!   the pool's turn and is then parsed on every worker;
//! - `shared`: every event handed to the pool at once, its parts interleaved with the others'
//!   by work stealing.
//!
//! The time reported is what the callers see: the mean, over the four events, of the time from
//! handing them over to each one's answer (`--  --nocapture` also prints the time to the last
//! answer). One at a time answers the first after one event's work and the last after four;
//! shared answers them all at about four, so its mean is worse while its last answer is no
//! sooner.
//!
//! `cargo bench --bench pool_order`

use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use frequency_fanout::number::Threshold;
use frequency_fanout::{answer, pool, sample, Config, FrequencyFanout};

const EVENTS: usize = 4;
const WORKERS: usize = 2;

fn items() -> usize {
    if std::env::var_os("FANOUT_BENCH_TINY").is_some() {
        2_000
    } else {
        100_000
    }
}

/// Mean and last of the completion times of one round.
fn summarise(done: &[Duration]) -> (Duration, Duration) {
    let mean = done.iter().sum::<Duration>() / done.len() as u32;
    (mean, *done.iter().max().expect("events were handed over"))
}

fn pool_order(c: &mut Criterion) {
    let payload = sample::event(items());
    let threshold = Threshold::parse("10").expect("a number");
    let config = Config {
        workers: WORKERS,
        default_threshold: threshold.clone(),
    };
    let function = Arc::new(FrequencyFanout::new(config).expect("the pool starts"));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("the async runtime starts");
    let shared_pool = pool::build(WORKERS).expect("the pool starts");

    let mut lasts = (Vec::new(), Vec::new());
    let mut group = c.benchmark_group(format!("pool_order/{EVENTS}_events_of_{}_items", items()));
    group.bench_function("one_at_a_time", |b| {
        b.iter_custom(|rounds| {
            let mut total = Duration::ZERO;
            for _ in 0..rounds {
                // Copied before the clock starts: the events arrive whole.
                let payloads: Vec<Vec<u8>> = (0..EVENTS).map(|_| payload.clone()).collect();
                let started = Instant::now();
                let done: Vec<Duration> = runtime.block_on(async {
                    let tasks: Vec<_> = payloads
                        .into_iter()
                        .enumerate()
                        .map(|(n, payload)| {
                            let function = Arc::clone(&function);
                            tokio::spawn(async move {
                                let (answer, _) = function.process(payload, &n.to_string()).await;
                                assert!(answer.result.is_ok());
                                started.elapsed()
                            })
                        })
                        .collect();
                    let mut done = Vec::new();
                    for task in tasks {
                        done.push(task.await.expect("the task ran"));
                    }
                    done
                });
                let (mean, last) = summarise(&done);
                total += mean;
                lasts.0.push(last);
            }
            total
        })
    });
    group.bench_function("shared", |b| {
        b.iter_custom(|rounds| {
            let mut total = Duration::ZERO;
            for _ in 0..rounds {
                let payloads: Vec<Vec<u8>> = (0..EVENTS).map(|_| payload.clone()).collect();
                let started = Instant::now();
                let (sender, receiver) = std::sync::mpsc::channel();
                for (n, payload) in payloads.into_iter().enumerate() {
                    let (threshold, sender) = (threshold.clone(), sender.clone());
                    shared_pool.spawn(move || {
                        let answer = answer(&payload, WORKERS, &threshold, WORKERS, &n.to_string());
                        assert!(answer.result.is_ok());
                        let _ = sender.send(started.elapsed());
                    });
                }
                drop(sender);
                let done: Vec<Duration> = receiver.iter().collect();
                let (mean, last) = summarise(&done);
                total += mean;
                lasts.1.push(last);
            }
            total
        })
    });
    group.finish();
    let median = |times: &mut Vec<Duration>| {
        times.sort();
        times.get(times.len() / 2).copied().unwrap_or_default()
    };
    println!(
        "pool_order: median time to the last answer: one at a time {:?}, shared {:?}",
        median(&mut lasts.0),
        median(&mut lasts.1)
    );
}

criterion_group!(benches, pool_order);
criterion_main!(benches);
