//! The obvious Rust implementation of the function, as a baseline for the whole-process
//! benchmark (`bench/run`): what the lambda_runtime template becomes when the article's
//! algorithm is written with rayon. lambda_runtime deserializes the payload into a typed
//! `Event` holding a `Vec<Item>`; a rayon `par_iter` compares each parsed item with the
//! threshold on the global pool, and `collect` reassembles the results by index.
//!
//! It answers `{"high_frequency_count": N, "total_items": N}` for `{"items": [...]}` events,
//! with the article's threshold, 10.

use lambda_runtime::{run, service_fn, tracing, Error, LambdaEvent};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

/// The article's threshold.
const THRESHOLD: f64 = 10.0;

#[derive(Deserialize)]
struct Item {
    frequency: f64,
}

#[derive(Deserialize)]
struct Event {
    items: Vec<Item>,
}

#[derive(Serialize)]
struct Response {
    high_frequency_count: usize,
    total_items: usize,
}

async fn handler(event: LambdaEvent<Event>) -> Result<Response, Error> {
    let items = event.payload.items;
    let high: Vec<bool> = items
        .par_iter()
        .map(|item| item.frequency > THRESHOLD)
        .collect();
    Ok(Response {
        high_frequency_count: high.iter().filter(|&&is_high| is_high).count(),
        total_items: items.len(),
    })
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    tracing::init_default_subscriber();
    run(service_fn(handler)).await
}
