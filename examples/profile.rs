//! Runs the in-process path many times at one width, for a profiler:
//! `cargo build --release --example profile && perf record target/release/examples/profile 100000 1 200`.
//! The first argument is a number of items of the benchmark event, or the name of a shape of
//! `frequency_fanout::sample::Shape` (about 5 MB of it): `profile double 1 200`.

use std::io::Write;

use frequency_fanout::number::Threshold;
use frequency_fanout::Phases;
use frequency_fanout::{evaluate, pool, sample};

fn main() {
    let mut args = std::env::args().skip(1);
    let what = args.next().unwrap_or_else(|| "100000".into());
    let width: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(1);
    let rounds: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(100);
    let (items, payload) = match what.parse::<usize>() {
        Ok(items) => (what.clone(), sample::event(items)),
        Err(_) => {
            let shape = sample::Shape::ALL
                .into_iter()
                .find(|shape| shape.name() == what)
                .unwrap_or_else(|| panic!("no shape named {what}"));
            (
                format!("{what} ({} bytes)", 5_000_000),
                shape.event(5_000_000),
            )
        }
    };
    if std::env::var_os("CALIBRATE").is_some() {
        calibrate(&payload);
    }
    let threshold = Threshold::parse("10").expect("10 is a number");
    let pool = pool::build(width).expect("pool");
    let started = std::time::Instant::now();
    let mut count = 0;
    let mut total_items = 0;
    let mut phases = Phases::default();
    for _ in 0..rounds {
        let response = pool
            .install(|| evaluate(&payload, width, &threshold, width))
            .expect("valid event");
        count += response.high_frequency_count;
        total_items = response.total_items;
        phases.recognise += response.phases.recognise;
        phases.split += response.phases.split;
        phases.parse_and_check += response.phases.parse_and_check;
        phases.reassemble += response.phases.reassemble;
    }
    let rounds = rounds as u32;
    let each = started.elapsed() / rounds;
    // Written, not printed: a reader that closes the pipe early (`| head -1`) ends the output
    // without a panic.
    let mut out = std::io::stdout().lock();
    let _ = writeln!(
        out,
        "{items}, width {width}: {each:?} per event, {:.2} GB/s ({total_items} items, {count} counted)",
        payload.len() as f64 / each.as_secs_f64() / 1e9
    );
    // Where the time of one event goes, as the invocation summary logs it.
    let _ = writeln!(
        out,
        "  recognise {:?}, split {:?}, parse and check {:?}, reassemble {:?}",
        phases.recognise / rounds,
        phases.split / rounds,
        phases.parse_and_check / rounds,
        phases.reassemble / rounds,
    );
}

#[allow(dead_code)]
fn calibrate(payload: &[u8]) {
    let started = std::time::Instant::now();
    for _ in 0..20 {
        let _: serde::de::IgnoredAny = serde_json::from_slice(payload).expect("valid");
    }
    println!(
        "serde_json IgnoredAny: {:?} per event",
        started.elapsed() / 20
    );
}
