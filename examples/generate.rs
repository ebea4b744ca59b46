//! Writes a generated event to a file, for the whole-process benchmark (`bench/run`):
//! `cargo run --example generate -- 100000 bench/out/event-100000.json`.
//!
//! The event is `frequency_fanout::sample::event(ITEMS)`, the same bytes the criterion bench
//! and the tests use.

use std::process::ExitCode;

use frequency_fanout::sample;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(items), Some(path), None) = (
        args.first().and_then(|a| a.parse::<usize>().ok()),
        args.get(1),
        args.get(2),
    ) else {
        eprintln!("usage: generate ITEMS FILE");
        return ExitCode::from(2);
    };
    let event = sample::event(items);
    if let Err(error) = std::fs::write(path, &event) {
        eprintln!("generate: cannot write {path}: {error}");
        return ExitCode::FAILURE;
    }
    println!("{path}: {items} items, {} bytes", event.len());
    ExitCode::SUCCESS
}
