//! The release binary in local mode (no `AWS_LAMBDA_RUNTIME_API`): every example event by file
//! and by standard input at every pool width, the exit codes, `--help` and `--version`, the
//! configuration checks at init, the warning about events Lambda would refuse, and the logs on
//! stderr (errors only by default, more when `AWS_LAMBDA_LOG_LEVEL` or `RUST_LOG` asks).

mod common;
#[path = "support/local_process.rs"]
mod local_process;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use common::{examples, expected_at, release_binary, Example};
use serde_json::value::RawValue;
use serde_json::{json, Value};

const WIDTHS: std::ops::RangeInclusive<usize> = 1..=8;

/// How the event reaches the function.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Input {
    /// `frequency-fanout FILE`
    File,
    /// `frequency-fanout -` with the event on standard input.
    Dash,
    /// `frequency-fanout` with the event on standard input.
    NoArgument,
}

const INPUTS: [Input; 3] = [Input::File, Input::Dash, Input::NoArgument];

#[derive(Debug)]
struct Outcome {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

/// Runs the release binary in local mode with `args`, `stdin` on standard input (none when
/// `None`) and `env` set over a cleared environment. Checks that no output carries an ANSI
/// escape, whatever the log format.
fn run(args: &[&str], stdin: Option<&[u8]>, env: &[(&str, &str)]) -> Outcome {
    let output = local_process::run(release_binary(), args, stdin, env);
    let context = format!("args {args:?}, env {env:?}");
    assert!(
        !output.stdout.contains(&0x1b),
        "ANSI escape on stdout ({context}): {:?}",
        String::from_utf8_lossy(&output.stdout)
    );
    assert!(
        !output.stderr.contains(&0x1b),
        "ANSI escape on stderr ({context}): {:?}",
        String::from_utf8_lossy(&output.stderr)
    );
    Outcome {
        code: output.status.code(),
        stdout: String::from_utf8(output.stdout).expect("stdout is UTF-8"),
        stderr: String::from_utf8(output.stderr).expect("stderr is UTF-8"),
    }
}

/// Runs the function on the event in `path`, given as `input`.
fn run_event(path: &Path, input: Input, env: &[(&str, &str)]) -> Outcome {
    let path_text = path.to_str().expect("a UTF-8 path");
    match input {
        Input::File => run(&[path_text], None, env),
        Input::Dash | Input::NoArgument => {
            let event = std::fs::read(path).expect("the event is readable");
            let args: &[&str] = if input == Input::Dash { &["-"] } else { &[] };
            run(args, Some(&event), env)
        }
    }
}

/// The single line of stdout, parsed; fails unless stdout is exactly one line of JSON.
fn the_one_line(outcome: &Outcome, context: &str) -> Value {
    assert!(
        outcome.stdout.ends_with('\n') && outcome.stdout.matches('\n').count() == 1,
        "stdout is not exactly one line ({context}): {:?}\nstderr: {}",
        outcome.stdout,
        outcome.stderr
    );
    serde_json::from_str(outcome.stdout.trim_end()).unwrap_or_else(|error| {
        panic!(
            "stdout is not JSON ({context}): {error}: {:?}",
            outcome.stdout
        )
    })
}

/// The `threshold` member's text, exactly as written.
fn threshold_text(json: &str) -> Option<String> {
    let members: BTreeMap<String, Box<RawValue>> =
        serde_json::from_str(json).expect("a JSON object");
    members.get("threshold").map(|raw| raw.get().to_string())
}

/// Stdout with the width taken out, to compare responses across widths.
fn without_workers(stdout: &str, workers: usize) -> String {
    stdout.replace(&format!("\"workers\":{workers}"), "\"workers\":_")
}

/// Checks one run of an example at `workers` and returns its stdout without the width.
fn check_example(example: &Example, input: Input, workers: usize, env: &[(&str, &str)]) -> String {
    let width = workers.to_string();
    let mut env = env.to_vec();
    env.push(("MAX_WORKERS", &width));
    let outcome = run_event(&example.event, input, &env);
    let context = format!("{} by {input:?}, MAX_WORKERS={workers}", example.name);
    let expected_code = if example.rejected { 1 } else { 0 };
    assert_eq!(
        outcome.code,
        Some(expected_code),
        "exit code ({context}); stdout {:?}, stderr {}",
        outcome.stdout,
        outcome.stderr
    );
    let response = the_one_line(&outcome, &context);
    assert_eq!(
        response,
        expected_at(example, workers),
        "response ({context})"
    );
    if example.rejected {
        assert_eq!(response["errorType"], "InvalidEvent", "({context})");
    } else {
        // The threshold is echoed as written, digit for digit.
        let expected_file = example.event.with_file_name(format!(
            "{}.expected.json",
            example
                .event
                .file_stem()
                .and_then(|s| s.to_str())
                .expect("a file name")
        ));
        let expected_text = std::fs::read_to_string(expected_file).expect("expected output");
        assert_eq!(
            threshold_text(outcome.stdout.trim_end()),
            threshold_text(&expected_text),
            "threshold text ({context})"
        );
    }
    // At the default log level the answer on stdout stands alone.
    assert!(
        outcome.stderr.is_empty(),
        "stderr at the default log level ({context}): {}",
        outcome.stderr
    );
    without_workers(&outcome.stdout, workers)
}

#[test]
fn every_example_by_file_and_by_standard_input_at_every_width() {
    let examples = examples();
    assert!(examples.iter().any(|e| e.rejected) && examples.iter().any(|e| !e.rejected));
    for example in &examples {
        let mut responses = BTreeSet::new();
        for input in INPUTS {
            for workers in WIDTHS {
                responses.insert(check_example(example, input, workers, &[]));
            }
        }
        assert_eq!(
            responses.len(),
            1,
            "{}: responses differ beyond `workers`: {responses:#?}",
            example.name
        );
    }
}

/// Every `NAME.json` under `events/` (HTTP requests included) with its `NAME.expected.json`.
fn every_pair(dir: &Path, pairs: &mut Vec<(PathBuf, PathBuf)>) {
    for entry in std::fs::read_dir(dir).expect("events/ is readable") {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            every_pair(&path, pairs);
            continue;
        }
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if let Some(stem) = name.strip_suffix(".expected.json") {
            let event = path.with_file_name(format!("{stem}.json"));
            assert!(event.is_file(), "{} has no event beside it", path.display());
        } else if let Some(stem) = name.strip_suffix(".json") {
            let expected = path.with_file_name(format!("{stem}.expected.json"));
            assert!(
                expected.is_file(),
                "{} has no {stem}.expected.json",
                path.display()
            );
            pairs.push((path, expected));
        }
    }
}

/// What `events/README.md` promises: each `NAME.expected.json` is, byte for byte, what
/// `MAX_WORKERS=1 frequency-fanout NAME.json` prints on stdout; the exit code is 1 for the
/// events in `rejected/`, 0 for the others (an HTTP request is answered even when its body is
/// rejected); nothing on stderr.
#[test]
fn every_example_pair_is_the_exact_output_at_one_worker() {
    let events = common::root().join("events");
    let mut pairs = Vec::new();
    every_pair(&events, &mut pairs);
    pairs.sort();
    assert!(pairs.len() >= 40, "only {} example pairs", pairs.len());
    for (event, expected) in &pairs {
        let relative = event.strip_prefix(common::root()).unwrap();
        let relative = relative.to_str().expect("a UTF-8 path");
        let rejected = relative.starts_with("events/rejected/");
        let expected = std::fs::read_to_string(expected).expect("the expected output");
        let outcome = run(&[relative], None, &[("MAX_WORKERS", "1")]);
        assert_eq!(outcome.stdout, expected, "{relative}: stdout");
        assert_eq!(
            outcome.code,
            Some(i32::from(rejected)),
            "{relative}: exit code; stderr {}",
            outcome.stderr
        );
        assert!(outcome.stderr.is_empty(), "{relative}: {}", outcome.stderr);
        // A rejected event prints the error object; every other one an answer.
        let printed: Value = serde_json::from_str(&expected).expect("JSON");
        assert_eq!(printed.get("errorType").is_some(), rejected, "{relative}");
    }
}

/// An event past the size below which the function parses on the calling thread, so that
/// the pool really splits it; its items hold strings with `},{` and nested `frequency` members.
fn large_event(form: &str) -> (String, Value) {
    const ITEMS: usize = 4_000;
    let mut items = Vec::with_capacity(ITEMS);
    let mut above = Vec::new();
    for i in 0..ITEMS {
        let small = i % 23;
        let (literal, is_above) = match i % 5 {
            0 => (format!("{small}.5"), small >= 10),
            1 => ("1e400".to_string(), true),
            2 => ("-123456789012345678901234567890".to_string(), false),
            _ => (small.to_string(), small > 10),
        };
        if is_above {
            above.push(i);
        }
        items.push(format!(
            "{{\"id\": {i}, \"name\": \"item-{i} }},{{ \\\"frequency\\\": 99 }}, {{\", \
             \"meta\": {{\"frequency\": 1000}}, \"tags\": [{{\"frequency\": 50}}, {{\"frequency\": 60}}], \
             \"frequency\": {literal}}}"
        ));
    }
    let items = items.join(if form == "bare" { ",\n" } else { ", " });
    let (event, indices) = match form {
        "direct" => (
            format!("{{\"include_indices\": true, \"items\": [{items}]}}"),
            true,
        ),
        "bare" => (format!("[{items}]"), false),
        "step_functions" => (
            format!("{{\"Items\": [{items}], \"BatchInput\": {{\"include_indices\": true}}}}"),
            true,
        ),
        _ => unreachable!("a known form"),
    };
    let mut expected = json!({
        "high_frequency_count": above.len(),
        "total_items": ITEMS,
        "threshold": 10,
        "workers": 1,
    });
    if indices {
        expected["high_frequency_indices"] = json!(above);
    }
    (event, expected)
}

/// A temporary file, removed when dropped.
struct TempFile(PathBuf);

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[test]
fn a_large_event_gives_the_same_response_at_every_width() {
    for form in ["direct", "bare", "step_functions"] {
        let (event, expected) = large_event(form);
        assert!(event.len() > 64 * 1024, "the event is large");
        let file = TempFile(std::env::temp_dir().join(format!(
            "frequency-fanout-local-mode-{}-{form}.json",
            std::process::id()
        )));
        std::fs::write(&file.0, &event).expect("the temporary event is written");
        let example = Example {
            name: format!("large {form} event"),
            event: file.0.clone(),
            expected,
            rejected: false,
        };
        for input in [Input::File, Input::Dash] {
            for workers in WIDTHS {
                let outcome = run_event(
                    &example.event,
                    input,
                    &[("MAX_WORKERS", &workers.to_string())],
                );
                let context = format!("{} by {input:?}, MAX_WORKERS={workers}", example.name);
                assert_eq!(
                    outcome.code,
                    Some(0),
                    "({context}) stderr: {}",
                    outcome.stderr
                );
                assert_eq!(
                    the_one_line(&outcome, &context),
                    expected_at(&example, workers),
                    "({context})"
                );
            }
        }
    }
}

#[test]
fn a_missing_file_exits_2_and_names_it() {
    let missing = "events/no-such-event.json";
    let outcome = run(&[missing], None, &[]);
    assert_eq!(outcome.code, Some(2), "{outcome:?}");
    assert!(outcome.stdout.is_empty(), "{outcome:?}");
    assert!(outcome.stderr.contains(missing), "{outcome:?}");
}

#[test]
fn help_exits_0_with_the_usage() {
    for flag in ["--help", "-h"] {
        let outcome = run(&[flag], None, &[]);
        assert_eq!(outcome.code, Some(0), "{flag}: {outcome:?}");
        assert!(
            outcome.stdout.starts_with("usage: frequency-fanout"),
            "{flag}: {outcome:?}"
        );
        assert!(outcome.stdout.contains("--version"), "{flag}: {outcome:?}");
        assert!(outcome.stderr.is_empty(), "{flag}: {outcome:?}");
    }
}

#[test]
fn version_exits_0_with_the_crates_version() {
    let expected = format!("frequency-fanout {}\n", env!("CARGO_PKG_VERSION"));
    for flag in ["--version", "-V"] {
        let outcome = run(&[flag], None, &[]);
        assert_eq!(outcome.code, Some(0), "{flag}: {outcome:?}");
        assert_eq!(outcome.stdout, expected, "{flag}");
        assert!(outcome.stderr.is_empty(), "{flag}: {outcome:?}");
    }
    // Anything else that looks like an option is refused, with the usage.
    let outcome = run(&["--versions"], None, &[]);
    assert_eq!(outcome.code, Some(2), "{outcome:?}");
    assert!(
        outcome.stderr.contains("unknown option --versions"),
        "{outcome:?}"
    );
    assert!(
        outcome.stderr.contains("usage: frequency-fanout"),
        "{outcome:?}"
    );
}

/// Lambda's limit for a synchronous invocation's payload.
const LAMBDA_SYNCHRONOUS_LIMIT: usize = 6_291_456;

/// An event of exactly `bytes` bytes (spaces after the last item) with 1,000 items, and its
/// response at one worker.
fn event_of_size(bytes: usize) -> (Vec<u8>, Value) {
    let items: Vec<String> = (0..1_000)
        .map(|i| format!("{{\"id\": {i}, \"frequency\": {}}}", i % 23))
        .collect();
    let head = format!("{{\"items\": [{}", items.join(", "));
    let mut event = head.into_bytes();
    event.resize(bytes - 2, b' ');
    event.extend_from_slice(b"]}");
    let above = (0..1_000).filter(|i| i % 23 > 10).count();
    let response =
        json!({"high_frequency_count": above, "total_items": 1_000, "threshold": 10, "workers": 1});
    (event, response)
}

#[test]
fn an_event_lambda_would_refuse_is_answered_with_one_warning() {
    let (at_limit, response) = event_of_size(LAMBDA_SYNCHRONOUS_LIMIT);
    let (above_limit, _) = event_of_size(LAMBDA_SYNCHRONOUS_LIMIT + 1);
    for (event, warned) in [(&at_limit, false), (&above_limit, true)] {
        let file = TempFile(std::env::temp_dir().join(format!(
            "frequency-fanout-local-mode-{}-{}.json",
            std::process::id(),
            event.len()
        )));
        std::fs::write(&file.0, event).expect("the temporary event is written");
        let path = file.0.to_str().expect("a UTF-8 path");
        let by_file = run(&[path], None, &[("MAX_WORKERS", "1")]);
        let by_stdin = run(&["-"], Some(event), &[("MAX_WORKERS", "1")]);
        for outcome in [by_file, by_stdin] {
            let context = format!("{} bytes", event.len());
            assert_eq!(outcome.code, Some(0), "({context}) {outcome:?}");
            assert_eq!(the_one_line(&outcome, &context), response, "({context})");
            if warned {
                let lines: Vec<&str> = outcome.stderr.lines().collect();
                assert_eq!(lines.len(), 1, "one warning ({context}): {lines:#?}");
                let line = lines[0];
                assert!(line.starts_with("frequency-fanout: warning: "), "{line}");
                assert!(line.contains(&format!("{} bytes", event.len())), "{line}");
                assert!(line.contains("6291456 bytes (6 MB)"), "{line}");
                assert!(line.contains("Step Functions Distributed Map"), "{line}");
            } else {
                assert!(outcome.stderr.is_empty(), "({context}) {outcome:?}");
            }
        }
    }
}

#[test]
fn invalid_configuration_stops_the_function_at_init() {
    let cases = [
        ("MAX_WORKERS", "0"),
        ("MAX_WORKERS", "abc"),
        ("MAX_WORKERS", "100000"),
        ("FREQUENCY_THRESHOLD", "ten"),
    ];
    for (name, value) in cases {
        for log_format in [None, Some("JSON")] {
            let mut env = vec![(name, value)];
            if let Some(format) = log_format {
                env.push(("AWS_LAMBDA_LOG_FORMAT", format));
            }
            let context = format!("{name}={value}, AWS_LAMBDA_LOG_FORMAT={log_format:?}");
            // Given a valid event, by file and on standard input: neither is answered.
            let by_file = run(&["events/basic.json"], None, &env);
            let basic = std::fs::read("events/basic.json").expect("basic.json");
            let by_stdin = run(&["-"], Some(&basic), &env);
            for outcome in [by_file, by_stdin] {
                assert!(
                    outcome.code.is_some_and(|code| code != 0),
                    "exit code ({context}): {outcome:?}"
                );
                assert!(outcome.stdout.is_empty(), "stdout ({context}): {outcome:?}");
                let lines: Vec<&str> = outcome
                    .stderr
                    .lines()
                    .filter(|line| !line.trim().is_empty())
                    .collect();
                assert_eq!(lines.len(), 1, "one stderr line ({context}): {lines:#?}");
                let line = lines[0];
                let quoted = format!("{name}=\"{value}\"");
                if log_format.is_some() {
                    let object: Value = serde_json::from_str(line)
                        .unwrap_or_else(|e| panic!("not JSON ({context}): {e}: {line}"));
                    assert_eq!(object["level"], "ERROR", "({context}): {line}");
                    let message = object["message"].as_str().expect("a message");
                    assert!(message.contains(&quoted), "({context}): {line}");
                } else {
                    assert!(line.contains(&quoted), "({context}): {line}");
                }
            }
        }
    }
}

/// The frequencies of a small example's items, read with serde_json.
fn frequencies(event: &Path) -> Vec<f64> {
    let event: Value =
        serde_json::from_slice(&std::fs::read(event).expect("the event")).expect("JSON");
    let items = match &event {
        Value::Array(items) => items,
        Value::Object(members) => members
            .get("items")
            .or_else(|| members.get("Items"))
            .and_then(Value::as_array)
            .expect("an items array"),
        _ => panic!("an object or an array"),
    };
    items
        .iter()
        .map(|item| item["frequency"].as_f64().expect("a numeric frequency"))
        .collect()
}

#[test]
fn frequency_threshold_sets_the_default_and_the_event_overrides_it() {
    let examples = examples();
    let find = |name: &str| {
        examples
            .iter()
            .find(|e| e.name == name)
            .unwrap_or_else(|| panic!("events/{name}"))
    };
    let env = [("FREQUENCY_THRESHOLD", "3")];
    // Events without a threshold of their own take the configured one.
    for name in [
        "article.json",
        "basic.json",
        "step_functions_defaults.json",
        "empty.json",
        "empty_array.json",
    ] {
        let example = find(name);
        let above: Vec<usize> = frequencies(&example.event)
            .iter()
            .enumerate()
            .filter(|(_, &f)| f > 3.0)
            .map(|(i, _)| i)
            .collect();
        let mut expected = example.expected.clone();
        expected["threshold"] = json!(3);
        expected["high_frequency_count"] = json!(above.len());
        if expected.get("high_frequency_indices").is_some() {
            expected["high_frequency_indices"] = json!(above);
        }
        let changed = Example {
            name: format!("{name} with FREQUENCY_THRESHOLD=3"),
            event: example.event.clone(),
            expected,
            rejected: false,
        };
        for input in [Input::File, Input::Dash] {
            for workers in [1, 2] {
                let response = check_threshold_run(&changed, input, workers, &env);
                assert_eq!(threshold_text(&response).as_deref(), Some("3"), "{name}");
            }
        }
    }
    // Events with their own threshold (top level, or BatchInput's) keep it.
    for name in [
        "threshold.json",
        "include_indices.json",
        "step_functions_batch.json",
        "exact_numbers.json",
    ] {
        let example = find(name);
        for input in [Input::File, Input::Dash] {
            for workers in [1, 2] {
                check_threshold_run(example, input, workers, &env);
            }
        }
    }
}

/// One run with `env` whose response must be the example's; returns stdout.
fn check_threshold_run(
    example: &Example,
    input: Input,
    workers: usize,
    env: &[(&str, &str)],
) -> String {
    let width = workers.to_string();
    let mut env = env.to_vec();
    env.push(("MAX_WORKERS", &width));
    let outcome = run_event(&example.event, input, &env);
    let context = format!("{} by {input:?}, MAX_WORKERS={workers}", example.name);
    assert_eq!(outcome.code, Some(0), "({context}) {outcome:?}");
    assert_eq!(
        the_one_line(&outcome, &context),
        expected_at(example, workers),
        "({context})"
    );
    outcome.stdout
}

#[test]
fn json_logs_are_one_object_per_line_with_a_level() {
    for example in examples() {
        for input in [Input::File, Input::NoArgument] {
            for workers in [1, 3] {
                let width = workers.to_string();
                let env = [
                    ("AWS_LAMBDA_LOG_FORMAT", "JSON"),
                    ("AWS_LAMBDA_LOG_LEVEL", "INFO"),
                    ("MAX_WORKERS", width.as_str()),
                ];
                let outcome = run_event(&example.event, input, &env);
                let context = format!("{} by {input:?}, MAX_WORKERS={workers}", example.name);
                // stdout is still the response alone.
                assert_eq!(
                    the_one_line(&outcome, &context),
                    expected_at(&example, workers),
                    "({context})"
                );
                let lines: Vec<Value> = outcome
                    .stderr
                    .lines()
                    .filter(|line| !line.trim().is_empty())
                    .map(|line| {
                        let object: Value = serde_json::from_str(line).unwrap_or_else(|e| {
                            panic!("stderr line is not JSON ({context}): {e}: {line}")
                        });
                        assert!(
                            object.is_object() && object["level"].is_string(),
                            "no level ({context}): {line}"
                        );
                        object
                    })
                    .collect();
                assert!(!lines.is_empty(), "no log line ({context})");
                if !example.rejected {
                    // The invocation's INFO line tells the items and the width.
                    let expected = expected_at(&example, workers);
                    assert!(
                        lines.iter().any(|line| line["level"] == "INFO"
                            && line["items"] == expected["total_items"]
                            && line["workers"] == json!(workers)),
                        "no INFO line with the items and the width ({context}): {lines:#?}"
                    );
                }
            }
        }
    }
}

#[test]
fn text_logs_carry_no_ansi_escapes_at_any_level() {
    // `run` rejects an escape anywhere; this makes sure text logs are written at all.
    for level in ["INFO", "DEBUG", "TRACE"] {
        let env = [("AWS_LAMBDA_LOG_LEVEL", level)];
        for event in ["events/basic.json", "events/rejected/malformed.json"] {
            let outcome = run(&[event], None, &env);
            assert!(
                outcome
                    .stderr
                    .lines()
                    .any(|line| line.contains("invocation")),
                "no invocation log line for {event} at {level:?}: {outcome:?}"
            );
        }
    }
}

/// Local mode logs errors only, unless `AWS_LAMBDA_LOG_LEVEL` (or else `RUST_LOG`) names a level:
/// the answer on stdout says what happened.
#[test]
fn the_log_level_is_error_by_default_and_follows_the_variables() {
    let answered = "events/basic.json";
    let rejected = "events/rejected/frequency_string.json";
    // (variables, whether the answered event logs its INFO line, whether the rejected one logs
    // its WARN line)
    type Variables<'a> = &'a [(&'a str, &'a str)];
    let cases: [(Variables, bool, bool); 7] = [
        (&[], false, false),
        (&[("AWS_LAMBDA_LOG_LEVEL", "INFO")], true, true),
        (&[("AWS_LAMBDA_LOG_LEVEL", "WARN")], false, true),
        (&[("AWS_LAMBDA_LOG_LEVEL", "ERROR")], false, false),
        (&[("RUST_LOG", "info")], true, true),
        (&[("RUST_LOG", "warn")], false, true),
        // AWS_LAMBDA_LOG_LEVEL wins over RUST_LOG.
        (
            &[("AWS_LAMBDA_LOG_LEVEL", "ERROR"), ("RUST_LOG", "info")],
            false,
            false,
        ),
    ];
    for (env, info_line, warn_line) in cases {
        let outcome = run(&[answered], None, env);
        assert_eq!(outcome.code, Some(0), "{env:?}: {outcome:?}");
        assert_eq!(
            outcome.stderr.contains("INFO") && outcome.stderr.contains("invocation processed"),
            info_line,
            "{env:?}: {outcome:?}"
        );
        assert_eq!(
            outcome.stderr.is_empty(),
            !info_line,
            "{env:?}: {outcome:?}"
        );
        let outcome = run(&[rejected], None, env);
        assert_eq!(outcome.code, Some(1), "{env:?}: {outcome:?}");
        assert_eq!(
            outcome.stderr.contains("WARN") && outcome.stderr.contains("invocation rejected"),
            warn_line,
            "{env:?}: {outcome:?}"
        );
        assert_eq!(
            outcome.stderr.is_empty(),
            !warn_line,
            "{env:?}: {outcome:?}"
        );
    }
}
