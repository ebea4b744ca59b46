//! The function itself, from payload bytes to response, independent of where the bytes came
//! from (the Lambda Runtime API in [`crate::lambda`], a file in [`crate::local`]).
//!
//! bytes in → [`crate::event::recognise`] (the form and options; the items array handed to
//! [`crate::fanout`], which splits it, parses and checks each part on the pool, and reassembles
//! the parts by index) → `count` against the threshold → [`Response`] out.
//!
//! Several invocations may be in flight at once (Lambda Managed Instances), and all of them
//! share the one pool ([`FrequencyFanout::process`]): a small event is answered on the thread
//! that received it and never waits for the pool; large events take the pool one at a time, in
//! the order they arrived, each on every worker.

use std::panic::{self, AssertUnwindSafe};
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::value::RawValue;
use tokio::sync::Semaphore;

use crate::config::Config;
use crate::error::{FunctionError, InvalidEvent};
use crate::event::{self, Event, Recognised};
use crate::fanout::{ItemsPlan, ParsedItems};
use crate::http::{self, HttpReply};
use crate::number::Threshold;
use crate::pool;
pub use crate::response::{Phases, Response};

/// Payloads smaller than this are processed on the calling thread: handing them to the pool
/// and waiting for the answer costs more than parsing them. Measured with `cargo bench --bench
/// process -- crossover` on 2 cores (BENCHMARKS.md): the hand-off costs about 13 µs, and the
/// pool starts to win between events of 34,524 bytes (pool / inline 1.07) and 49,399 bytes
/// (0.93), so the line is drawn at 40 KiB.
pub const INLINE_BELOW_BYTES: usize = 40 * 1024;

/// What one invocation produced: the event's own result, and the HTTP reply when the payload
/// was an HTTP request (whose errors are HTTP answers, not failed invocations).
#[derive(Debug)]
pub struct Answer {
    pub result: Result<Response, FunctionError>,
    pub http: Option<HttpReply>,
}

/// What the function returns to Lambda for a successful invocation.
#[derive(Clone, Debug, Serialize)]
#[serde(untagged)]
pub enum Reply {
    Event(Response),
    Http(HttpReply),
}

impl Reply {
    /// About how many bytes the reply's JSON takes, so that it is written into a buffer
    /// allocated once: a list of 100,000 indices is some hundreds of kilobytes.
    pub fn json_size_hint(&self) -> usize {
        match self {
            Reply::Event(response) => {
                let indices = response.high_frequency_indices.as_ref().map_or(0, Vec::len);
                256 + response.threshold.get().len() + indices * 8
            }
            Reply::Http(reply) => 1024 + reply.body_len(),
        }
    }
}

impl Answer {
    /// Records the receive phase: from `received` until the work began, which is now minus
    /// the time the work took.
    fn received(mut self, received: Instant) -> Answer {
        if let Ok(response) = &mut self.result {
            let work = response.phases.recognise
                + response.phases.split
                + response.phases.parse_and_check
                + response.phases.reassemble;
            response.phases.receive = received.elapsed().saturating_sub(work);
        }
        self
    }

    /// The invocation's result as Lambda sees it.
    pub fn into_reply(self) -> Result<Reply, FunctionError> {
        match self.http {
            Some(reply) => Ok(Reply::Http(reply)),
            None => self.result.map(Reply::Event),
        }
    }
}

/// Processes any payload: a direct event, or an HTTP request whose body is one.
pub fn answer(
    payload: &[u8],
    parts: usize,
    default_threshold: &Threshold,
    workers: usize,
    request_id: &str,
) -> Answer {
    let started = Instant::now();
    match event::recognise_request(payload, plan(parts, default_threshold)) {
        Ok(Recognised::Event(event)) => Answer {
            result: Ok(respond(event, payload, default_threshold, workers, started)),
            http: None,
        },
        Ok(Recognised::Http(envelope)) => {
            let evaluated = http::respond(payload, envelope, request_id, |body| {
                evaluate(body, parts, default_threshold, workers).map_err(FunctionError::from)
            });
            match evaluated {
                Ok((reply, result)) => Answer {
                    result,
                    http: Some(reply),
                },
                Err(invalid) => Answer {
                    result: Err(invalid.into()),
                    http: None,
                },
            }
        }
        Err(invalid) => Answer {
            result: Err(invalid.into()),
            http: None,
        },
    }
}

/// Processes one direct-invocation payload with its items parsed by `parts` workers of the
/// current rayon pool (serially for 1). The response does not depend on `parts`.
pub fn evaluate(
    payload: &[u8],
    parts: usize,
    default_threshold: &Threshold,
    workers: usize,
) -> Result<Response, InvalidEvent> {
    let started = Instant::now();
    let event = event::recognise(payload, plan(parts, default_threshold))?;
    Ok(respond(event, payload, default_threshold, workers, started))
}

/// Items parsed by `parts` workers, counted against the default threshold unless the event
/// names its own before its items.
fn plan(parts: usize, default_threshold: &Threshold) -> ItemsPlan<'_> {
    ItemsPlan {
        workers: parts,
        likely_threshold: Some(default_threshold),
    }
}

/// The response to a recognised event.
fn respond(
    event: Event,
    payload: &[u8],
    default_threshold: &Threshold,
    workers: usize,
    started: Instant,
) -> Response {
    let recognised = started.elapsed();
    let threshold = event.threshold.as_ref().unwrap_or(default_threshold);
    let (high_frequency_count, indices) =
        count(&event.items, threshold, payload, event.include_indices);
    let counted = started.elapsed();
    let items = event.items.timings;
    let mut response = Response {
        high_frequency_count,
        total_items: event.items.len(),
        // Threshold::parse accepted the literal as exactly one JSON number.
        threshold: RawValue::from_string(threshold.literal().to_string())
            .expect("a threshold literal is one JSON number"),
        workers,
        high_frequency_indices: indices,
        form: Some(event.form),
        phases: Phases::default(),
    };
    response.phases = Phases {
        receive: Duration::ZERO,
        recognise: recognised.saturating_sub(items.total()),
        split: items.split,
        parse_and_check: items.parse + (counted - recognised),
        reassemble: items.reassemble + started.elapsed().saturating_sub(counted),
    };
    response
}

/// Counts the items above `threshold`, and lists their indices when asked. The parts counted
/// them already when they were parsed against the same threshold.
fn count(
    items: &ParsedItems,
    threshold: &Threshold,
    payload: &[u8],
    include_indices: bool,
) -> (usize, Option<Vec<usize>>) {
    if !include_indices {
        if let Some(count) = items.counted_above(threshold) {
            return (count, None);
        }
    }
    items.count_where(
        |frequency| threshold.is_exceeded_by(frequency, payload),
        include_indices,
    )
}

/// The function: its configuration and the rayon pool built once at init and shared by every
/// invocation.
pub struct FrequencyFanout {
    config: Config,
    pool: rayon::ThreadPool,
    /// The pool's turn: one large event at a time, granted in the order asked (tokio's
    /// semaphore is fair). Finishing one event on every worker before the next starts gives the
    /// first its answer in one event's time and the second in two; sharing the workers between
    /// them would give both their answers in about two (see BENCHMARKS.md, "Pool order").
    pool_turn: Semaphore,
}

impl FrequencyFanout {
    /// Builds the pool. Its threads start now, at init, not in the first invocation.
    pub fn new(config: Config) -> Result<FrequencyFanout, rayon::ThreadPoolBuildError> {
        let pool = pool::build(config.workers)?;
        Ok(FrequencyFanout {
            config,
            pool,
            pool_turn: Semaphore::new(1),
        })
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The pool's width.
    pub fn workers(&self) -> usize {
        self.config.workers
    }

    /// Processes a payload, blocking the calling thread (local mode).
    pub fn process_blocking(&self, payload: &[u8], request_id: &str) -> Answer {
        let received = Instant::now();
        if payload.len() < INLINE_BELOW_BYTES {
            return self
                .answer_caught(payload, 1, request_id)
                .received(received);
        }
        self.pool.install(|| {
            self.answer_caught(payload, self.workers(), request_id)
                .received(received)
        })
    }

    /// Processes a payload in Lambda mode and gives its buffer back with the answer, for the
    /// next invocation to be read into.
    ///
    /// A small event is processed on the calling thread: it costs less than handing it over,
    /// and it never queues behind a large event's work. A large event waits for the pool's
    /// turn, then is parsed on every worker while the calling thread is free to receive and
    /// answer other invocations.
    pub async fn process(&self, payload: Vec<u8>, request_id: &str) -> (Answer, Vec<u8>) {
        let received = Instant::now();
        if payload.len() < INLINE_BELOW_BYTES {
            let answer = self
                .answer_caught(&payload, 1, request_id)
                .received(received);
            return (answer, payload);
        }
        // The semaphore is never closed, so acquiring it only waits.
        let _turn = self.pool_turn.acquire().await;
        let (sender, receiver) = tokio::sync::oneshot::channel();
        let threshold = self.config.default_threshold.clone();
        let workers = self.workers();
        let request_id = request_id.to_string();
        self.pool.spawn(move || {
            let answer =
                catch_panic(|| answer(&payload, workers, &threshold, workers, &request_id))
                    .received(received);
            // The receiver is gone only if the invocation was dropped; nobody is left to tell.
            let _ = sender.send((answer, payload));
        });
        receiver.await.unwrap_or_else(|_| {
            let answer = Answer {
                result: Err(FunctionError::WorkerPanic(
                    "the pool dropped the work without an answer".into(),
                )),
                http: None,
            };
            (answer, Vec::new())
        })
    }

    fn answer_caught(&self, payload: &[u8], parts: usize, request_id: &str) -> Answer {
        catch_panic(|| {
            answer(
                payload,
                parts,
                &self.config.default_threshold,
                self.workers(),
                request_id,
            )
        })
    }
}

/// Runs `work`, turning a panic into this invocation's error so the process keeps serving.
/// Nothing is shared between invocations but the pool, which survives a panicking job.
fn catch_panic(work: impl FnOnce() -> Answer) -> Answer {
    match panic::catch_unwind(AssertUnwindSafe(work)) {
        Ok(answer) => answer,
        Err(payload) => {
            let message = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "a panic without a message".into());
            Answer {
                result: Err(FunctionError::WorkerPanic(message)),
                http: None,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The parts count against the threshold read before the items; a later member of the
    /// same name, or a default that differs, must still decide the answer.
    #[test]
    fn the_threshold_the_event_ends_with_decides_the_count() {
        let items: Vec<String> = (0..5_000)
            .map(|i| format!(r#"{{"frequency": {}}}"#, i % 30))
            .collect();
        let items = items.join(", ");
        let above_1 = (0..5_000).filter(|i| i % 30 > 1).count();
        let above_20 = (0..5_000).filter(|i| i % 30 > 20).count();
        let above_10 = (0..5_000).filter(|i| i % 30 > 10).count();
        let cases = [
            (
                format!(r#"{{"threshold": 1, "items": [{items}]}}"#),
                above_1,
            ),
            (
                format!(r#"{{"items": [{items}], "threshold": 20}}"#),
                above_20,
            ),
            (
                format!(r#"{{"threshold": 1, "items": [{items}], "threshold": 20}}"#),
                above_20,
            ),
            (
                format!(r#"{{"threshold": 20, "items": [{items}], "threshold": 1}}"#),
                above_1,
            ),
            (
                format!(r#"{{"threshold": 10, "items": [{items}], "threshold": 10.0}}"#),
                above_10,
            ),
            (
                format!(r#"{{"BatchInput": {{"threshold": 1}}, "Items": [{items}]}}"#),
                above_1,
            ),
            (
                format!(r#"{{"threshold": 20, "Items": [{items}]}}"#),
                above_10,
            ),
            (
                format!(r#"{{"Items": [{items}], "BatchInput": {{"threshold": 20}}}}"#),
                above_20,
            ),
            (format!(r#"{{"items": [{items}]}}"#), above_10),
            (format!(r#"[{items}]"#), above_10),
            // The parts count against the last `"threshold"` after the items, a guess that is
            // wrong here: it is a member of another object.
            (
                format!(r#"{{"items": [{items}], "threshold": 1, "x": {{"threshold": 20}}}}"#),
                above_1,
            ),
            (
                format!(r#"{{"items": [{items}], "x": {{"threshold": 20}}}}"#),
                above_10,
            ),
        ];
        let default = Threshold::parse("10").unwrap();
        for width in [1, 2, 3] {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(width)
                .build()
                .unwrap();
            for (event, expected) in &cases {
                let response = pool
                    .install(|| evaluate(event.as_bytes(), width, &default, width))
                    .unwrap();
                let start = &event[..event.len().min(40)];
                assert_eq!(
                    response.high_frequency_count, *expected,
                    "{start} at width {width}"
                );
            }
        }
    }
}
