//! Many invocations at once in one process, as on Lambda Managed Instances: the release binary
//! in Lambda mode with `AWS_LAMBDA_MAX_CONCURRENCY`, against the Runtime API peer, which hands
//! out as many invocations as the function asks for and counts how many are in flight.
//!
//! - exactly as many invocations in flight as the variable says, never more; one at a time
//!   without it or with a value Lambda's runtime does not take;
//! - events of every kind in flight together, each answered right for its own request id;
//! - every summary log line and metrics line carries its own invocation's request id, trace id
//!   and figures; `cold_start` is true for exactly one invocation;
//! - a panic in one invocation, or a deadline already past, fails or affects that one only.

mod common;
#[path = "support/lambda_process.rs"]
mod lambda_process;

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use lambda_process::{LambdaProcess, Line};
use runtime_api_peer::{Outcome, RuntimeApiPeer};
use serde_json::{json, Value};

const WORKERS: usize = 2;

/// The binary in Lambda mode at width [`WORKERS`] with `AWS_LAMBDA_MAX_CONCURRENCY` set to
/// `concurrency` (unset for `None`), once it has asked for its first invocation.
fn start(binary: &Path, concurrency: Option<&str>, env: &[(&str, &str)]) -> LambdaProcess {
    let peer = RuntimeApiPeer::start().expect("the Runtime API peer starts");
    let workers = WORKERS.to_string();
    let mut settings = vec![("MAX_WORKERS", workers.as_str())];
    if let Some(concurrency) = concurrency {
        settings.push(("AWS_LAMBDA_MAX_CONCURRENCY", concurrency));
    }
    settings.extend_from_slice(env);
    let function = LambdaProcess::start(binary, peer, &settings);
    function
        .peer
        .wait_for_first_next(Duration::from_secs(60))
        .unwrap_or_else(|e| panic!("{e}\n{}", function.output_text()));
    function
}

/// `{"items": [...]}` of `items` items whose frequencies step by `step`, with the marker that
/// makes a fault-injection build panic in the item `panic_at`, if any; and its count above 10.
fn event(items: usize, step: usize, panic_at: Option<usize>) -> (Vec<u8>, usize) {
    let mut text = String::with_capacity(items * 60 + 16);
    text.push_str("{\"items\": [");
    let mut count = 0;
    for i in 0..items {
        if i > 0 {
            text.push_str(", ");
        }
        let frequency = (i * step) % 23;
        if frequency > 10 {
            count += 1;
        }
        let name = if panic_at == Some(i) {
            "fault-injection: panic in worker".to_string()
        } else {
            format!("item-{i}")
        };
        text.push_str(&format!(
            "{{\"id\": {i}, \"name\": \"{name}\", \"frequency\": {frequency}}}"
        ));
    }
    text.push_str("]}");
    (text.into_bytes(), count)
}

/// What one invocation must get.
#[derive(Clone, Debug)]
enum Expected {
    Counted { count: usize, total: usize },
    Rejected(&'static str),
    Http { status: i64, count: Option<usize> },
}

fn check(outcome: &Outcome, expected: &Expected, what: &str) {
    let body: Value = outcome
        .json()
        .unwrap_or_else(|e| panic!("{what}: not JSON ({e}): {}", outcome.body_text()));
    match expected {
        Expected::Counted { count, total } => assert!(
            outcome.is_response()
                && body["high_frequency_count"] == *count
                && body["total_items"] == *total
                && body["workers"] == WORKERS,
            "{what}: expected {count} of {total}, got {body}"
        ),
        Expected::Rejected(message) => assert!(
            outcome.is_error()
                && outcome.error_type.as_deref() == Some("InvalidEvent")
                && body["errorMessage"] == *message,
            "{what}: expected the rejection {message:?}, got {body}"
        ),
        Expected::Http { status, count } => {
            let inner: Option<Value> = body["body"]
                .as_str()
                .and_then(|b| serde_json::from_str(b).ok());
            let counted = inner
                .as_ref()
                .map(|inner| inner["high_frequency_count"].clone());
            assert!(
                outcome.is_response()
                    && body["statusCode"] == *status
                    && count.is_none_or(|count| counted == Some(json!(count))),
                "{what}: expected HTTP {status} counting {count:?}, got {body}"
            );
        }
    }
}

/// Waits until the function holds `n` `/next` requests (it is idle and ready for `n`).
fn wait_for_waiting_next(function: &LambdaProcess, n: usize) {
    let started = Instant::now();
    while function.peer.waiting_next_requests() < n {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the function holds {} /next requests, not {n}\n{}",
            function.peer.waiting_next_requests(),
            function.output_text()
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Queues every payload at once and waits for every answer, in queue order.
fn invoke_all(
    function: &LambdaProcess,
    payloads: &[Vec<u8>],
    deadline_ms: &[Option<u64>],
) -> Vec<Outcome> {
    // Copied before any is queued, so that they arrive together.
    let shared: Vec<Arc<[u8]>> = payloads.iter().map(|p| Arc::from(p.as_slice())).collect();
    let ids: Vec<String> = shared
        .into_iter()
        .enumerate()
        .map(|(i, payload)| {
            function
                .peer
                .enqueue_shared(payload, deadline_ms.get(i).copied().flatten())
        })
        .collect();
    ids.iter()
        .map(|id| {
            function
                .peer
                .wait(id, Duration::from_secs(120))
                .unwrap_or_else(|e| panic!("{e}\n{}", function.output_text()))
        })
        .collect()
}

#[test]
fn with_max_concurrency_8_exactly_8_invocations_are_in_flight() {
    let mut function = start(common::release_binary(), Some("8"), &[]);
    // Idle, it holds a /next request for each of its eight loops, and no more.
    wait_for_waiting_next(&function, 8);
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(function.peer.waiting_next_requests(), 8);
    // Large events keep their invocations in flight while the pool takes them one at a time.
    let (payload, count) = event(50_000, 7, None);
    let payloads = vec![payload; 40];
    let outcomes = invoke_all(&function, &payloads, &[]);
    for (n, outcome) in outcomes.iter().enumerate() {
        check(
            outcome,
            &Expected::Counted {
                count,
                total: 50_000,
            },
            &format!("invocation {n}"),
        );
    }
    assert_eq!(
        function.peer.max_in_flight(),
        8,
        "40 large events queued at once with AWS_LAMBDA_MAX_CONCURRENCY=8"
    );
    function.assert_alive();
    function.assert_clean_protocol();
}

#[test]
fn without_a_valid_max_concurrency_one_invocation_is_served_at_a_time() {
    let (payload, count) = event(20_000, 3, None);
    for concurrency in [
        None,
        Some("1"),
        Some("0"),
        Some("eight"),
        Some("2.5"),
        Some("-4"),
        Some(""),
    ] {
        let mut function = start(common::release_binary(), concurrency, &[]);
        wait_for_waiting_next(&function, 1);
        std::thread::sleep(Duration::from_millis(100));
        assert_eq!(function.peer.waiting_next_requests(), 1, "{concurrency:?}");
        let outcomes = invoke_all(&function, &vec![payload.clone(); 6], &[]);
        for outcome in &outcomes {
            check(
                outcome,
                &Expected::Counted {
                    count,
                    total: 20_000,
                },
                &format!("{concurrency:?}"),
            );
        }
        assert_eq!(function.peer.max_in_flight(), 1, "{concurrency:?}");
        function.assert_alive();
        function.assert_clean_protocol();
        let warnings: Vec<String> = function
            .finish()
            .into_iter()
            .filter(|line| line.text.contains("AWS_LAMBDA_MAX_CONCURRENCY"))
            .map(|line| line.text)
            .collect();
        match concurrency {
            // Unset or a value it takes: nothing to say.
            None | Some("1") => assert!(warnings.is_empty(), "{warnings:?}"),
            Some(value) => assert!(
                warnings.len() == 1
                    && warnings[0].contains("WARN")
                    && warnings[0].contains(&format!("{value:?}")),
                "{value:?}: {warnings:?}"
            ),
        }
    }
}

/// A mix of every kind of event, each with what it must get.
fn mixed_events() -> Vec<(Vec<u8>, Expected)> {
    let mut events = Vec::new();
    for (items, step) in [(60_000, 1), (30_000, 5), (45_000, 7)] {
        let (payload, count) = event(items, step, None);
        events.push((
            payload,
            Expected::Counted {
                count,
                total: items,
            },
        ));
    }
    for (items, step) in [(3, 11), (40, 2), (700, 9), (1, 1), (0, 1)] {
        let (payload, count) = event(items, step, None);
        events.push((
            payload,
            Expected::Counted {
                count,
                total: items,
            },
        ));
    }
    events.push((
        br#"{"items": [{"frequency": 1}, {"frequency": "2"}]}"#.to_vec(),
        Expected::Rejected("items[1].frequency: expected a number, found a string"),
    ));
    events.push((
        br#"[{"frequency": 1, "frequency": 2}]"#.to_vec(),
        Expected::Rejected("[0].frequency: expected one \"frequency\" member, found a second one"),
    ));
    let (large_body, large_count) = event(20_000, 3, None);
    let http = |body: &[u8]| {
        json!({
            "version": "2.0",
            "rawPath": "/",
            "requestContext": {"http": {"method": "POST", "path": "/"}},
            "isBase64Encoded": false,
            "body": String::from_utf8(body.to_vec()).unwrap(),
        })
        .to_string()
        .into_bytes()
    };
    events.push((
        http(&large_body),
        Expected::Http {
            status: 200,
            count: Some(large_count),
        },
    ));
    events.push((
        http(b"[1]"),
        Expected::Http {
            status: 400,
            count: None,
        },
    ));
    events
}

#[test]
fn events_of_every_kind_in_flight_together_are_each_answered_right() {
    let mut function = start(common::release_binary(), Some("8"), &[]);
    wait_for_waiting_next(&function, 8);
    let events = mixed_events();
    // Four rounds, shuffled differently each time, all queued at once.
    let mut order: Vec<usize> = Vec::new();
    for round in 0..4 {
        let mut indices: Vec<usize> = (0..events.len()).collect();
        indices.rotate_left(round * 3 % events.len());
        if round % 2 == 1 {
            indices.reverse();
        }
        order.extend(indices);
    }
    let payloads: Vec<Vec<u8>> = order.iter().map(|&i| events[i].0.clone()).collect();
    let outcomes = invoke_all(&function, &payloads, &[]);
    for (outcome, &i) in outcomes.iter().zip(&order) {
        check(
            outcome,
            &events[i].1,
            &format!("event {i}, request {}", outcome.request_id),
        );
    }
    assert!(function.peer.max_in_flight() > 1, "nothing ran at once");
    assert!(function.peer.max_in_flight() <= 8);
    function.assert_alive();
    function.assert_clean_protocol();
}

/// The `requestId` a log or metrics line carries; a line without one fails the test.
fn request_id(line: &Value) -> &str {
    line["requestId"]
        .as_str()
        .unwrap_or_else(|| panic!("no requestId: {line}"))
}

fn json_lines(lines: &[Line], stream: &str) -> Vec<Value> {
    lines
        .iter()
        .filter(|line| line.stream == stream)
        .map(|line| {
            serde_json::from_str(&line.text)
                .unwrap_or_else(|e| panic!("a {stream} line is not JSON ({e}): {}", line.text))
        })
        .collect()
}

#[test]
fn every_summary_and_metrics_line_carries_its_own_invocation() {
    let mut function = start(
        common::release_binary(),
        Some("8"),
        &[("AWS_LAMBDA_LOG_FORMAT", "JSON")],
    );
    wait_for_waiting_next(&function, 8);
    // Every event a different size, so that each line's figures point at one invocation.
    let mut events = Vec::new();
    for k in 0..40 {
        let items = if k % 5 == 0 { 30_000 + k } else { 10 + k };
        let (payload, count) = event(items, 1 + k % 7, None);
        events.push((payload, items, count));
    }
    events.push((b"[{\"frequency\": true}]".to_vec(), 1, 0));
    let payloads: Vec<Vec<u8>> = events.iter().map(|(p, _, _)| p.clone()).collect();
    let outcomes = invoke_all(&function, &payloads, &[]);
    function.assert_alive();
    function.assert_clean_protocol();
    // Every line is written before its answer is posted; once the process is stopped its pipes
    // are read to the end, so every line is here.
    let lines = function.finish();
    let by_request: HashMap<&str, (&Outcome, usize, usize)> = outcomes
        .iter()
        .zip(&events)
        .map(|(outcome, (_, items, count))| {
            (outcome.request_id.as_str(), (outcome, *items, *count))
        })
        .collect();
    let logs = json_lines(&lines, "stderr");
    let summaries: Vec<&Value> = logs
        .iter()
        .filter(|line| {
            line["message"] == "invocation processed" || line["message"] == "invocation rejected"
        })
        .collect();
    assert_eq!(summaries.len(), events.len(), "one summary per invocation");
    let mut cold_starts = 0;
    for line in &summaries {
        let id = request_id(line);
        let (outcome, items, count) = by_request[id];
        assert_eq!(line["xrayTraceId"], outcome.trace_id.as_str(), "{line}");
        if line["message"] == "invocation processed" {
            assert_eq!(line["items"], items, "{line}");
            assert_eq!(line["high_frequency_count"], count, "{line}");
            assert_eq!(
                outcome.json().unwrap()["high_frequency_count"],
                count,
                "the answer to {id}"
            );
        } else {
            assert!(outcome.is_error(), "{line}");
            assert_eq!(line["event_source"], "Direct", "{line}");
        }
        if line["cold_start"] == true {
            cold_starts += 1;
        }
    }
    assert_eq!(
        cold_starts, 1,
        "cold_start must be true for exactly one invocation"
    );
    let metrics = json_lines(&lines, "stdout");
    assert_eq!(
        metrics.len(),
        events.len(),
        "one metrics line per invocation"
    );
    let mut cold_start_metrics = 0;
    for line in &metrics {
        let id = request_id(line);
        let (outcome, items, count) = by_request[id];
        assert_eq!(line["xrayTraceId"], outcome.trace_id.as_str(), "{line}");
        if outcome.is_response() {
            assert_eq!(line["Items"], items, "{line}");
            assert_eq!(line["HighFrequencyItems"], count, "{line}");
        } else {
            assert_eq!(line["Rejected"], 1, "{line}");
        }
        if line.get("ColdStart").is_some() {
            cold_start_metrics += 1;
        }
    }
    assert_eq!(
        cold_start_metrics, 1,
        "ColdStart in exactly one metrics line"
    );
}

#[test]
fn a_panic_in_one_of_8_concurrent_invocations_fails_that_one_only() {
    let mut function = start(lambda_process::fault_injection_binary(), Some("8"), &[]);
    wait_for_waiting_next(&function, 8);
    let (valid, count) = event(40_000, 3, None);
    let (marked, _) = event(40_000, 3, Some(25_000));
    for round in 0..3 {
        let mut payloads = vec![valid.clone(); 8];
        payloads[(round * 3) % 8] = marked.clone();
        let outcomes = invoke_all(&function, &payloads, &[]);
        for (n, outcome) in outcomes.iter().enumerate() {
            if n == (round * 3) % 8 {
                assert!(
                    outcome.is_error() && outcome.error_type.as_deref() == Some("WorkerPanic"),
                    "round {round}: the marked invocation: {}",
                    outcome.body_text()
                );
            } else {
                check(
                    outcome,
                    &Expected::Counted {
                        count,
                        total: 40_000,
                    },
                    &format!("round {round}, invocation {n}"),
                );
            }
        }
    }
    function.assert_alive();
    function.assert_clean_protocol();
}

#[test]
fn a_deadline_already_past_in_one_invocation_does_not_disturb_the_others() {
    let mut function = start(common::release_binary(), Some("8"), &[]);
    wait_for_waiting_next(&function, 8);
    let events = mixed_events();
    let payloads: Vec<Vec<u8>> = events.iter().map(|(p, _)| p.clone()).collect();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    for past in [0, 2, 5] {
        let mut deadlines = vec![None; payloads.len()];
        deadlines[past] = Some(now - 60_000);
        let outcomes = invoke_all(&function, &payloads, &deadlines);
        for (i, outcome) in outcomes.iter().enumerate() {
            check(
                outcome,
                &events[i].1,
                &format!("event {i}, the past deadline on {past}"),
            );
        }
    }
    function.assert_alive();
    function.assert_clean_protocol();
}
