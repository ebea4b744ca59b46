//! Faults: a panic inside the pool during one invocation, a Runtime API that misbehaves (an
//! error status on `/next`, a connection dropped mid-body, a slow peer, a deadline already
//! passed), and invalid configuration at init, in Lambda mode and in local mode.

mod common;
#[path = "support/lambda_process.rs"]
mod lambda_process;

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use lambda_process::{
    epoch_ms, fault_injection_binary, text_of, LambdaProcess, INHERITED_SETTINGS,
};
use runtime_api_peer::{Fault, InvokeError, Options, Outcome, RuntimeApiPeer};
use serde_json::Value;

/// What makes a part panic on its pool worker in the fault-injection build.
const PANIC_MARKER: &str = "fault-injection: panic in worker";

/// A `{"items": [...]}` event of `items` items (item `i` has frequency `i % 23`), with the panic
/// marker in item `marker_at` when given; and its count above the default threshold 10.
fn event(items: usize, marker_at: Option<usize>) -> (Vec<u8>, usize) {
    let mut out = String::from("{\"items\": [");
    let mut count = 0;
    for i in 0..items {
        if i > 0 {
            out.push_str(", ");
        }
        let note = if marker_at == Some(i) {
            PANIC_MARKER
        } else {
            "-"
        };
        out.push_str(&format!(
            "{{\"id\": {i}, \"note\": \"{note}\", \"frequency\": {}}}",
            i % 23
        ));
        if i % 23 > 10 {
            count += 1;
        }
    }
    out.push_str("]}");
    (out.into_bytes(), count)
}

fn json(outcome: &Outcome) -> Value {
    outcome
        .json()
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", outcome.body_text()))
}

fn assert_counted(outcome: &Outcome, count: usize, total: usize, workers: usize, what: &str) {
    assert!(
        outcome.is_response(),
        "{what}: expected a response, got {}",
        outcome.body_text()
    );
    let body = json(outcome);
    assert_eq!(body["high_frequency_count"], count, "{what}: {body}");
    assert_eq!(body["total_items"], total, "{what}: {body}");
    assert_eq!(body["workers"], workers, "{what}: {body}");
}

fn assert_error(outcome: &Outcome, error_type: &str, what: &str) -> String {
    assert!(
        outcome.is_error(),
        "{what}: expected an error, got {}",
        outcome.body_text()
    );
    assert_eq!(
        outcome.error_type.as_deref(),
        Some(error_type),
        "{what}: header"
    );
    let body = json(outcome);
    assert_eq!(body["errorType"], error_type, "{what}: {body}");
    body["errorMessage"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

fn start(binary: &std::path::Path, workers: usize) -> LambdaProcess {
    let peer = RuntimeApiPeer::start().expect("the Runtime API peer starts");
    LambdaProcess::start(binary, peer, &[("MAX_WORKERS", &workers.to_string())])
}

// ---------------------------------------------------------------------------------------------
// A panic in the pool.

#[test]
fn a_panic_in_the_pool_fails_that_invocation_and_the_same_process_serves_the_next() {
    let binary = fault_injection_binary();
    // Above `INLINE_BELOW_BYTES`, below which an event is processed inline: these go through
    // the pool.
    let (panicking, _) = event(2_000, Some(1_500));
    let (panicking_first_part, _) = event(2_000, Some(3));
    let (valid, count) = event(2_000, None);
    assert!(valid.len() > frequency_fanout::handler::INLINE_BELOW_BYTES);
    // Below it: processed on the runtime's thread, caught the same way.
    let (small_panicking, _) = event(10, Some(5));
    let (small, small_count) = event(10, None);
    let rejected = br#"{"items": [{"frequency": "11"}]}"#.to_vec();

    for workers in [2, 1] {
        let mut function = start(binary, workers);
        let mut rounds = Vec::new();
        for round in 0..4 {
            let started = Instant::now();
            let what = format!("width {workers}, round {round}");
            // Several panics in a row, in either part.
            for payload in [&panicking, &panicking_first_part, &panicking] {
                let message = assert_error(&function.invoke(payload.clone()), "WorkerPanic", &what);
                assert!(message.contains("fault injection"), "{what}: {message}");
            }
            // The same process answers the next invocations, at its full width: no worker is
            // lost and nothing is left locked.
            assert_counted(
                &function.invoke(valid.clone()),
                count,
                2_000,
                workers,
                &what,
            );
            assert_error(
                &function.invoke(small_panicking.clone()),
                "WorkerPanic",
                &what,
            );
            assert_counted(
                &function.invoke(small.clone()),
                small_count,
                10,
                workers,
                &what,
            );
            assert_error(&function.invoke(rejected.clone()), "InvalidEvent", &what);
            assert_counted(
                &function.invoke(valid.clone()),
                count,
                2_000,
                workers,
                &what,
            );
            rounds.push(started.elapsed());
        }
        function.assert_alive();
        function.assert_clean_protocol();
        // Each panic is logged as one line naming it, before its invocation is answered; once
        // the process is stopped its stderr is read to the end, so every such line is here.
        let lines = function.finish();
        let panics = lines
            .iter()
            .filter(|line| line.text.contains("panic: fault injection"))
            .count();
        assert!(panics >= 4 * 4, "{panics} panic lines\n{}", text_of(&lines));
        println!(
            "width {workers}: 4 rounds of 4 panics and 4 answers each, round times {rounds:?}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// The Runtime API misbehaving.

/// The line in which the process says why it stopped serving.
fn stop_line(function: &LambdaProcess) -> String {
    let lines: Vec<String> = function
        .lines()
        .into_iter()
        .filter(|line| line.text.contains("the Lambda runtime stopped"))
        .map(|line| line.text)
        .collect();
    assert_eq!(
        lines.len(),
        1,
        "expected one line saying the runtime stopped\n{}",
        function.output_text()
    );
    lines[0].clone()
}

#[test]
fn a_500_on_next_makes_the_process_exit_non_zero_with_one_clear_line() {
    // The Runtime API answers /next with 500 when the execution environment is broken, and
    // expects the runtime to exit. The function stops serving at once, says why in one ERROR
    // line naming the status and the Runtime API's own message, and exits with status 1.
    for status in [500, 502] {
        let peer = RuntimeApiPeer::start().unwrap();
        peer.inject(Fault::NextStatus(status));
        let mut function = LambdaProcess::start(common::release_binary(), peer, &[]);
        let exit = function.wait_for_exit(Duration::from_secs(60));
        assert_eq!(exit.code(), Some(1), "{}", function.output_text());
        assert_eq!(
            function.peer.applied_faults(),
            vec![Fault::NextStatus(status)]
        );
        let lines = function.lines();
        assert_eq!(lines.len(), 1, "{}", function.output_text());
        let line = stop_line(&function);
        assert!(
            line.contains("ERROR")
                && line.contains(&format!("answered /next with status {status}"))
                && line.contains("ServiceException"),
            "{line}"
        );
        assert!(
            function.peer.problems().is_empty(),
            "{:?}",
            function.peer.problems()
        );
        println!("{status} on /next: {exit}, log line: {line}");
    }
}

#[test]
fn a_connection_dropped_mid_body_makes_the_process_exit_non_zero_with_one_clear_line() {
    // lambda_runtime reads the whole body before the handler runs; a connection that closes
    // before it is complete is an error of its runtime loop, which ends: the process says so
    // and exits non-zero, and Lambda starts a fresh execution environment. The invocation is
    // not answered (the peer puts it back in its queue).
    for (after, payload) in [(0, event(10, None).0), (5_000, event(2_000, None).0)] {
        let peer = RuntimeApiPeer::start().unwrap();
        peer.inject(Fault::DropMidBody { after });
        let id = peer.enqueue(payload, None);
        let mut function = LambdaProcess::start(common::release_binary(), peer, &[]);
        let status = function.wait_for_exit(Duration::from_secs(60));
        assert_eq!(status.code(), Some(1), "{}", function.output_text());
        assert_eq!(
            function.peer.applied_faults(),
            vec![Fault::DropMidBody { after }]
        );
        let line = stop_line(&function);
        assert!(line.contains("ERROR"), "{line}");
        match function.peer.wait(&id, Duration::from_secs(5)) {
            Err(InvokeError::Aborted(_)) => {}
            other => panic!("the cut invocation was answered: {other:?}"),
        }
        assert!(
            function.peer.problems().is_empty(),
            "{:?}",
            function.peer.problems()
        );
        println!(
            "connection dropped after {after} body bytes: exit status {status}, log line: {line}"
        );
    }
}

#[test]
fn a_slow_peer_still_gets_correct_answers() {
    let (large, large_count) = event(3_000, None);
    let (small, small_count) = event(10, None);
    let peer = RuntimeApiPeer::start_with(Options {
        invoke_timeout: Duration::from_secs(120),
        ..Options::default()
    })
    .unwrap();
    let function = LambdaProcess::start(common::release_binary(), peer, &[("MAX_WORKERS", "2")]);
    // The head and body trickle in: a large event 1 KiB every 2 ms, a small one byte by byte.
    let slow = [
        (
            Fault::Trickle {
                chunk: 1024,
                pause: Duration::from_millis(2),
            },
            &large,
            large_count,
            3_000,
        ),
        (
            Fault::Trickle {
                chunk: 1,
                pause: Duration::from_millis(1),
            },
            &small,
            small_count,
            10,
        ),
        (
            Fault::Trickle {
                chunk: 7,
                pause: Duration::ZERO,
            },
            &large,
            large_count,
            3_000,
        ),
    ];
    for (fault, payload, count, total) in &slow {
        function.peer.inject(fault.clone());
        let started = Instant::now();
        let outcome = function.invoke((*payload).clone());
        assert_counted(&outcome, *count, *total, 2, &format!("{fault:?}"));
        println!("{fault:?}: answered in {:?}", started.elapsed());
    }
    assert_eq!(function.peer.applied_faults().len(), slow.len());
    // And at full speed again.
    assert_counted(
        &function.invoke(large.clone()),
        large_count,
        3_000,
        2,
        "after",
    );
    function.assert_clean_protocol();
}

#[test]
fn an_event_whose_deadline_has_passed_is_answered_not_hung() {
    let (large, large_count) = event(3_000, None);
    let (small, small_count) = event(10, None);
    let mut function = start(common::release_binary(), 2);
    let past = epoch_ms() - 60_000;
    for deadline in [past, epoch_ms(), 1] {
        let started = Instant::now();
        let outcome = function.invoke_with_deadline(small.clone(), deadline);
        assert_eq!(outcome.deadline_ms, deadline);
        assert_counted(&outcome, small_count, 10, 2, "small, past deadline");
        let outcome = function.invoke_with_deadline(large.clone(), deadline);
        assert_counted(&outcome, large_count, 3_000, 2, "large, past deadline");
        let outcome = function.invoke_with_deadline(b"[1]".to_vec(), deadline);
        assert_error(&outcome, "InvalidEvent", "rejected, past deadline");
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "{:?}",
            started.elapsed()
        );
    }
    function.assert_alive();
    function.assert_clean_protocol();
}

// ---------------------------------------------------------------------------------------------
// Invalid configuration.

const INVALID: [(&str, &str); 4] = [
    ("MAX_WORKERS", "0"),
    ("MAX_WORKERS", "abc"),
    ("MAX_WORKERS", "100000"),
    ("FREQUENCY_THRESHOLD", "ten"),
];

/// The one line that names the variable and its value.
fn assert_one_configuration_line(lines: &[String], name: &str, value: &str, what: &str) {
    let nonempty: Vec<&String> = lines.iter().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(
        nonempty.len(),
        1,
        "{what}: expected exactly one line, got {lines:#?}"
    );
    let line = nonempty[0];
    // `NAME="value"`, its quotes escaped in a JSON log line.
    let plain = format!("{name}=\"{value}\"");
    let escaped = format!("{name}=\\\"{value}\\\"");
    assert!(
        line.contains("invalid configuration")
            && (line.contains(&plain) || line.contains(&escaped)),
        "{what}: the line does not name {name}={value:?}: {line}"
    );
}

#[test]
fn invalid_configuration_fails_at_init_in_lambda_mode_with_one_line_and_an_init_error() {
    for (name, value) in INVALID {
        for format in ["Text", "JSON"] {
            let what = format!("{name}={value} ({format} logs)");
            let peer = RuntimeApiPeer::start().unwrap();
            let mut function = LambdaProcess::start(
                common::release_binary(),
                peer,
                &[(name, value), ("AWS_LAMBDA_LOG_FORMAT", format)],
            );
            let status = function.wait_for_exit(Duration::from_secs(60));
            assert_eq!(status.code(), Some(2), "{what}\n{}", function.output_text());
            let lines: Vec<String> = function.lines().into_iter().map(|l| l.text).collect();
            assert_one_configuration_line(&lines, name, value, &what);
            if format == "JSON" {
                let line: Value = serde_json::from_str(&lines[0]).expect("a JSON log line");
                assert_eq!(line["level"], "ERROR", "{what}: {line}");
            }
            let init_errors = function.peer.init_errors();
            assert_eq!(init_errors.len(), 1, "{what}: {init_errors:?}");
            assert_eq!(
                init_errors[0].error_type.as_deref(),
                Some("InvalidConfiguration")
            );
            let body: Value = serde_json::from_slice(&init_errors[0].body).unwrap();
            assert_eq!(body["errorType"], "InvalidConfiguration");
            let message = body["errorMessage"].as_str().unwrap();
            assert!(
                message.contains(&format!("{name}=\"{value}\"")),
                "{what}: {message}"
            );
            // It never asked for an invocation.
            assert_eq!(function.peer.next_requests(), 0, "{what}");
        }
    }
}

#[test]
fn invalid_configuration_fails_at_init_in_local_mode_with_one_line() {
    let event = common::root().join("events/basic.json");
    for (name, value) in INVALID {
        for stdin in [false, true] {
            let what = format!(
                "{name}={value} (event from {})",
                if stdin { "stdin" } else { "a file" }
            );
            let mut command = Command::new(common::release_binary());
            for variable in INHERITED_SETTINGS {
                command.env_remove(variable);
            }
            command.env(name, value);
            if stdin {
                command.arg("-").stdin(Stdio::piped());
            } else {
                command.arg(&event).stdin(Stdio::null());
            }
            let mut child = command
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap();
            if stdin {
                // The process may exit before reading: a closed pipe is fine.
                let _ = child
                    .stdin
                    .take()
                    .unwrap()
                    .write_all(&std::fs::read(&event).unwrap());
            }
            let output = child.wait_with_output().unwrap();
            assert_eq!(output.status.code(), Some(2), "{what}");
            assert!(
                output.stdout.is_empty(),
                "{what}: stdout {:?}",
                String::from_utf8_lossy(&output.stdout)
            );
            let stderr = String::from_utf8_lossy(&output.stderr);
            let lines: Vec<String> = stderr.lines().map(str::to_string).collect();
            assert_one_configuration_line(&lines, name, value, &what);
        }
    }
}
