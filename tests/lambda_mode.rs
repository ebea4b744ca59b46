//! The release binary in Lambda mode, served by a Runtime API peer on loopback: what a caller
//! gets back through lambda_runtime, invocation after invocation in one process, at every pool
//! width, and what the process logs.

mod common;
#[path = "support/lambda_process.rs"]
mod lambda_process;

use std::path::Path;
use std::thread;
use std::time::{Duration, Instant};

use lambda_process::LambdaProcess;
use runtime_api_peer::{Outcome, RuntimeApiPeer};
use serde_json::Value;

/// The release binary in Lambda mode, serving invocations from its own peer with a pool of
/// `workers` and the extra `env`.
fn start_function(workers: usize, env: &[(&str, &str)]) -> LambdaProcess {
    let peer = RuntimeApiPeer::start().expect("the Runtime API peer starts");
    let workers = workers.to_string();
    let settings = [&[("MAX_WORKERS", workers.as_str())], env].concat();
    LambdaProcess::start(common::release_binary(), peer, &settings)
}

fn example(name: &str) -> common::Example {
    common::examples()
        .into_iter()
        .find(|example| example.name == name)
        .unwrap_or_else(|| panic!("no example event {name} in events/"))
}

fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

fn json(outcome: &Outcome) -> Value {
    outcome.json().unwrap_or_else(|e| {
        panic!(
            "invocation {}: the answer is not JSON ({e}): {}",
            outcome.request_id,
            outcome.body_text()
        )
    })
}

fn kind(outcome: &Outcome) -> &'static str {
    if outcome.is_error() {
        "error"
    } else {
        "response"
    }
}

/// Fails the test unless `outcome` is a successful response equal to `expected`.
fn assert_response(outcome: &Outcome, expected: &Value, what: &str) {
    assert!(
        outcome.is_response(),
        "{what}: expected a response, got an error: {}",
        outcome.body_text()
    );
    assert_eq!(&json(outcome), expected, "{what}: wrong response");
}

/// Fails the test unless `outcome` is an `InvalidEvent` error answer equal to `expected`.
fn assert_rejected(outcome: &Outcome, expected: &Value, what: &str) {
    assert!(
        outcome.is_error(),
        "{what}: expected an error answer, got a response: {}",
        outcome.body_text()
    );
    let body = json(outcome);
    assert_eq!(
        body["errorType"], expected["errorType"],
        "{what}: errorType"
    );
    assert_eq!(
        body["errorMessage"], expected["errorMessage"],
        "{what}: errorMessage"
    );
    let header = outcome.error_type.as_deref().unwrap_or("");
    assert!(
        !header.is_empty(),
        "{what}: the error answer has no Lambda-Runtime-Function-Error-Type header"
    );
}

/// A `{"items": [...]}` event from the deterministic generator, and its high-frequency count
/// (frequency above the default threshold 10) worked out independently with serde_json::Value.
fn large_event() -> (Vec<u8>, usize) {
    let payload = frequency_fanout::sample::event(100_000);
    assert!(
        payload.len() > frequency_fanout::handler::INLINE_BELOW_BYTES,
        "the large event must be above the inline cutoff to go through the pool"
    );
    let value: Value = serde_json::from_slice(&payload).expect("the generated event is JSON");
    let items = value["items"].as_array().expect("an items array");
    assert_eq!(items.len(), 100_000);
    let count = items
        .iter()
        .filter(|item| item["frequency"].as_f64().expect("a numeric frequency") > 10.0)
        .count();
    (payload, count)
}

#[test]
fn a_rejected_event_does_not_stop_the_process() {
    let basic = example("basic.json");
    let rejected = example("rejected/frequency_string.json");
    let mut function = start_function(2, &[]);

    let first = function.invoke(read(&basic.event));
    assert_response(&first, &common::expected_at(&basic, 2), "basic.json, first");

    let error = function.invoke(read(&rejected.event));
    assert_rejected(&error, &rejected.expected, "rejected/frequency_string.json");
    assert_eq!(json(&error)["errorType"], "InvalidEvent");
    // The function posts its own errors so that the header names the real errorType.
    assert_eq!(
        error.error_type.as_deref(),
        Some("InvalidEvent"),
        "Lambda-Runtime-Function-Error-Type"
    );

    let third = function.invoke(read(&basic.event));
    assert_response(&third, &common::expected_at(&basic, 2), "basic.json, third");

    let ids = [&first.request_id, &error.request_id, &third.request_id];
    assert!(ids[0] != ids[1] && ids[1] != ids[2] && ids[0] != ids[2]);
    // Every answer, response or error, carries the Lambda-Runtime-Invocation-Id its invocation
    // was handed out with, so that the Runtime API can refuse a late one.
    for outcome in [&first, &error, &third] {
        assert!(outcome.invocation_id_echoed, "{}", outcome.request_id);
    }
    function.assert_alive();
    // Still serving: after its third answer the process asks for a fourth invocation.
    let waiting_since = Instant::now();
    while function.peer.next_requests() < 4 {
        assert!(
            waiting_since.elapsed() < Duration::from_secs(30),
            "the process did not come back to /next after its third answer\n{}",
            function.output_text()
        );
        thread::sleep(Duration::from_millis(5));
    }
    function.assert_alive();
    function.assert_clean_protocol();
}

#[test]
fn every_example_at_every_width_from_1_to_8() {
    let examples = common::examples();
    let mut failures = Vec::new();
    for workers in 1..=8 {
        let mut function = start_function(workers, &[]);
        for example in &examples {
            let what = format!("{} at width {workers}", example.name);
            let outcome = function.invoke(read(&example.event));
            let expected = common::expected_at(example, workers);
            let body = outcome.json().unwrap_or(Value::Null);
            if example.rejected {
                if !outcome.is_error()
                    || body["errorType"] != expected["errorType"]
                    || body["errorMessage"] != expected["errorMessage"]
                {
                    failures.push(format!(
                        "{what}: expected error {expected}, got {} {}",
                        kind(&outcome),
                        outcome.body_text()
                    ));
                }
            } else if !outcome.is_response() || body != expected {
                failures.push(format!(
                    "{what}: expected response {expected}, got {} {}",
                    kind(&outcome),
                    outcome.body_text()
                ));
            }
        }
        function.assert_alive();
        function.assert_clean_protocol();
    }
    assert!(
        failures.is_empty(),
        "{} of {} invocations answered wrongly:\n{}",
        failures.len(),
        examples.len() * 8,
        failures.join("\n")
    );
}

#[test]
fn a_large_event_gives_the_same_answer_at_widths_1_2_and_8() {
    let (payload, high_frequency) = large_event();
    let mut answers = Vec::new();
    for workers in [1, 2, 8] {
        let mut function = start_function(workers, &[]);
        // Twice: the second invocation reuses the pool the first one warmed.
        for round in 1..=2 {
            let outcome = function.invoke(payload.clone());
            assert!(
                outcome.is_response(),
                "width {workers}, round {round}: {}",
                outcome.body_text()
            );
            let mut body = json(&outcome);
            assert_eq!(body["workers"], workers, "width {workers}: workers");
            assert_eq!(body["total_items"], 100_000, "width {workers}: total_items");
            assert_eq!(
                body["high_frequency_count"], high_frequency,
                "width {workers}: the count differs from serde_json::Value's"
            );
            body.as_object_mut().unwrap().remove("workers");
            answers.push((workers, body));
        }
        function.assert_alive();
        function.assert_clean_protocol();
    }
    let (_, first) = &answers[0];
    for (workers, answer) in &answers {
        assert_eq!(
            answer, first,
            "width {workers} answers differently from width 1"
        );
    }
}

/// The request id a log line belongs to.
fn request_id_of(line: &Value) -> Option<&str> {
    line.get("requestId")
        .or_else(|| line.get("request_id"))
        .and_then(Value::as_str)
}

/// A CloudWatch Embedded Metric Format document: a metrics record, not a log line.
fn is_metrics_document(line: &Value) -> bool {
    line.get("_aws")
        .is_some_and(|aws| aws.get("CloudWatchMetrics").is_some())
}

#[test]
fn json_logs_are_json_lines_with_a_level_and_one_summary_per_invocation() {
    let (large, _) = large_event();
    let basic = example("basic.json");
    let rejected = example("rejected/frequency_string.json");
    let function = start_function(2, &[("AWS_LAMBDA_LOG_FORMAT", "JSON")]);
    let valid = [
        function.invoke(read(&basic.event)),
        function.invoke(large),
        function.invoke(read(&basic.event)),
    ];
    let error = function.invoke(read(&rejected.event));
    function.assert_clean_protocol();
    let lines = function.finish();
    let text = || {
        lines
            .iter()
            .map(|l| format!("[{}] {}", l.stream, l.text))
            .collect::<Vec<_>>()
            .join("\n")
    };

    let mut logs = Vec::new();
    for line in &lines {
        assert!(
            !line.text.contains('\x1b'),
            "an ANSI escape in a log line: {:?}",
            line.text
        );
        let value: Value = serde_json::from_str(&line.text).unwrap_or_else(|e| {
            panic!("a {} line is not JSON ({e}): {:?}", line.stream, line.text)
        });
        assert!(
            value.is_object(),
            "a {} line is JSON but not an object: {}",
            line.stream,
            line.text
        );
        // Metric documents are records for CloudWatch, not log lines; everything else must
        // carry a level for Lambda's log-level filtering.
        if is_metrics_document(&value) {
            continue;
        }
        assert!(
            value.get("level").is_some_and(Value::is_string),
            "a {} line has no string \"level\": {}",
            line.stream,
            line.text
        );
        logs.push(value);
    }

    for outcome in &valid {
        let body = json(outcome);
        let summaries: Vec<&Value> = logs
            .iter()
            .filter(|l| l["level"] == "INFO" && request_id_of(l) == Some(&outcome.request_id))
            .filter(|l| l.get("items").is_some())
            .collect();
        assert_eq!(
            summaries.len(),
            1,
            "expected one INFO line with items for invocation {}, found {}:\n{}",
            outcome.request_id,
            summaries.len(),
            text()
        );
        let summary = summaries[0];
        assert_eq!(summary["items"], body["total_items"], "items: {summary}");
        assert_eq!(
            summary["high_frequency_count"], body["high_frequency_count"],
            "high_frequency_count: {summary}"
        );
        assert_eq!(summary["workers"], 2, "workers: {summary}");
        assert!(
            summary["duration_ms"].as_f64().is_some_and(|ms| ms >= 0.0),
            "duration_ms: {summary}"
        );
    }
    let warnings = logs
        .iter()
        .filter(|l| l["level"] == "WARN" && request_id_of(l) == Some(&error.request_id))
        .count();
    assert_eq!(
        warnings,
        1,
        "expected one WARN line for the rejected invocation {}:\n{}",
        error.request_id,
        text()
    );
    // A caller's bad input is not the function's error: nothing above WARN is logged for it.
    let errors = logs.iter().filter(|l| l["level"] == "ERROR").count();
    assert_eq!(errors, 0, "no ERROR line expected:\n{}", text());
}

#[test]
fn text_logs_have_no_ansi_escapes() {
    let basic = example("basic.json");
    let rejected = example("rejected/frequency_string.json");
    for format in [Some("Text"), None] {
        let env: Vec<(&str, &str)> = format
            .map(|f| vec![("AWS_LAMBDA_LOG_FORMAT", f)])
            .unwrap_or_default();
        let function = start_function(2, &env);
        let valid = function.invoke(read(&basic.event));
        let error = function.invoke(read(&rejected.event));
        function.assert_clean_protocol();
        let lines = function.finish();
        let what = format.unwrap_or("unset");
        for line in &lines {
            assert!(
                !line.text.contains('\x1b'),
                "AWS_LAMBDA_LOG_FORMAT={what}: an ANSI escape in a {} line: {:?}",
                line.stream,
                line.text
            );
        }
        for (outcome, level) in [(&valid, "INFO"), (&error, "WARN")] {
            assert!(
                lines
                    .iter()
                    .any(|l| l.text.contains(level) && l.text.contains(&outcome.request_id)),
                "AWS_LAMBDA_LOG_FORMAT={what}: no {level} line names invocation {}:\n{:#?}",
                outcome.request_id,
                lines
            );
        }
    }
}

#[test]
fn a_deadline_in_the_past_is_still_answered() {
    let basic = example("basic.json");
    let rejected = example("rejected/frequency_string.json");
    let (large, high_frequency) = large_event();
    // `cargo lambda watch` sends a deadline of 600000 (in 1970) and sets this variable.
    let mut function = start_function(2, &[("AWS_LAMBDA_MAX_CONCURRENCY", "1")]);
    for deadline in [600_000, 1, 0] {
        let what = format!("basic.json, deadline {deadline}");
        let outcome = function.invoke_with_deadline(read(&basic.event), deadline);
        assert_eq!(outcome.deadline_ms, deadline);
        assert_response(&outcome, &common::expected_at(&basic, 2), &what);

        let outcome = function.invoke_with_deadline(large.clone(), deadline);
        assert!(outcome.is_response(), "large event, deadline {deadline}");
        assert_eq!(json(&outcome)["high_frequency_count"], high_frequency);

        let outcome = function.invoke_with_deadline(read(&rejected.event), deadline);
        assert_rejected(&outcome, &rejected.expected, "rejected, past deadline");
    }
    function.assert_alive();
    function.assert_clean_protocol();
}
