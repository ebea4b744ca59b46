//! Logs and metrics of the release binary in Lambda mode, served by a Runtime API peer on
//! loopback: every line the process prints is read back and checked.
//!
//! - With `AWS_LAMBDA_LOG_FORMAT=JSON` every stderr line is one JSON object with `level`,
//!   `timestamp` and `message`; the lines of an invocation carry the request id and the X-Ray
//!   trace id the peer sent with it; each invocation has exactly one summary line.
//! - A rejected event logs one WARN line with its errorType and path and never the payload,
//!   which is logged only at TRACE; `AWS_LAMBDA_LOG_LEVEL` filters.
//! - Every stdout line is a CloudWatch Embedded Metric Format document, one per invocation,
//!   checked against the structure of AWS's specification ([`check_emf`]).
//! - No ANSI escape appears in any log format.

mod common;
#[path = "support/lambda_process.rs"]
mod lambda_process;

use std::collections::BTreeSet;
use std::io::{BufReader, Read};

use lambda_process::{epoch_ms, text_of, LambdaProcess, Line};
use runtime_api_peer::{Outcome, RuntimeApiPeer, DEFAULT_FUNCTION_ARN};
use serde_json::{json, Map, Value};

/// The pool's width in these tests.
const WORKERS: usize = 2;

/// CloudWatch's event size limit; an EMF document is one log event.
const CLOUDWATCH_EVENT_LIMIT: usize = 256 * 1024;

/// Text that appears in the test payloads and must never appear in a log line below TRACE.
const PRIVATE_MARKER: &str = "PRIVATE-7c1e-jane.doe@example.com";

/// The units a metric definition may name (CloudWatch's StandardUnit).
const EMF_UNITS: &[&str] = &[
    "Seconds",
    "Microseconds",
    "Milliseconds",
    "Bytes",
    "Kilobytes",
    "Megabytes",
    "Gigabytes",
    "Terabytes",
    "Bits",
    "Kilobits",
    "Megabits",
    "Gigabits",
    "Terabits",
    "Percent",
    "Count",
    "Bytes/Second",
    "Kilobytes/Second",
    "Megabytes/Second",
    "Gigabytes/Second",
    "Terabytes/Second",
    "Bits/Second",
    "Kilobits/Second",
    "Megabits/Second",
    "Gigabits/Second",
    "Terabits/Second",
    "Count/Second",
    "None",
];

/// One invocation: the peer's outcome, and the epoch milliseconds around the call (the peer
/// builds the trace id from the moment it queues the invocation).
struct Invocation {
    outcome: Outcome,
    sent_from_ms: u64,
    sent_until_ms: u64,
}

/// The release binary serving invocations from its own peer. Dropping it kills the process.
struct Function {
    process: LambdaProcess,
}

impl Function {
    /// Starts the binary in Lambda mode with a pool of [`WORKERS`] and the extra `env`.
    fn start(env: &[(&str, &str)]) -> Function {
        let peer = RuntimeApiPeer::start().expect("the Runtime API peer starts");
        let workers = WORKERS.to_string();
        let settings = [&[("MAX_WORKERS", workers.as_str())], env].concat();
        Function {
            process: LambdaProcess::start(common::release_binary(), peer, &settings),
        }
    }

    fn invoke(&self, payload: impl Into<Vec<u8>>) -> Invocation {
        let sent_from_ms = epoch_ms();
        let outcome = self.process.invoke(payload);
        Invocation {
            outcome,
            sent_from_ms,
            sent_until_ms: epoch_ms(),
        }
    }

    /// Kills the process and returns everything it printed. Every answer has been received
    /// by then, and the function writes an invocation's lines before it answers.
    fn finish(self) -> Vec<Line> {
        self.process.assert_clean_protocol();
        self.process.finish()
    }
}

fn read_event(relative: &str) -> Vec<u8> {
    let path = common::root().join("events").join(relative);
    std::fs::read(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

fn function_name() -> &'static str {
    DEFAULT_FUNCTION_ARN.rsplit(':').next().unwrap()
}

/// A request through a Lambda function URL (payload format 2.0), as Lambda delivers it.
fn function_url_request(method: &str, body: &str) -> Vec<u8> {
    let request = json!({
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": "/",
        "rawQueryString": "",
        "headers": {"content-type": "application/json", "host": "abc.lambda-url.us-east-1.on.aws"},
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "abc",
            "domainName": "abc.lambda-url.us-east-1.on.aws",
            "domainPrefix": "abc",
            "http": {"method": method, "path": "/", "protocol": "HTTP/1.1", "sourceIp": "192.0.2.1", "userAgent": "curl/8"},
            "requestId": "c0ffee00-0000-4000-8000-000000000000",
            "routeKey": "$default",
            "stage": "$default",
            "time": "25/Nov/2026:18:00:00 +0000",
            "timeEpoch": 1_795_630_800_000u64
        },
        "body": body,
        "isBase64Encoded": false
    });
    serde_json::to_vec(&request).unwrap()
}

/// The answer's JSON: the response, the error object, or the body of an HTTP reply.
fn answer_json(outcome: &Outcome) -> Value {
    let value = outcome.json().unwrap_or_else(|e| {
        panic!(
            "invocation {}: the answer is not JSON ({e}): {}",
            outcome.request_id,
            outcome.body_text()
        )
    });
    match value.get("statusCode") {
        Some(_) => serde_json::from_str(value["body"].as_str().expect("an HTTP reply has a body"))
            .expect("the HTTP reply's body is JSON"),
        None => value,
    }
}

/// Every line parsed: each must be one JSON object, without ANSI escapes; stdout carries only
/// metrics documents and stderr only log lines.
struct Parsed {
    logs: Vec<Value>,
    metrics: Vec<(Value, usize)>,
}

fn parse_all(lines: &[Line]) -> Parsed {
    let mut parsed = Parsed {
        logs: Vec::new(),
        metrics: Vec::new(),
    };
    for line in lines {
        assert!(
            !line.text.contains('\x1b'),
            "an ANSI escape in a {} line: {:?}",
            line.stream,
            line.text
        );
        let value: Value = serde_json::from_str(&line.text).unwrap_or_else(|e| {
            panic!(
                "a {} line is not JSON ({e}): {:?}\n{}",
                line.stream,
                line.text,
                text_of(lines)
            )
        });
        assert!(
            value.is_object(),
            "a {} line is not a JSON object: {}",
            line.stream,
            line.text
        );
        if line.stream == "stdout" {
            assert!(
                value.get("_aws").is_some(),
                "stdout carries only metrics documents in Lambda mode: {}",
                line.text
            );
            parsed.metrics.push((value, line.text.len()));
        } else {
            assert!(
                value.get("_aws").is_none(),
                "a metrics document on stderr: {}",
                line.text
            );
            check_log_line(&value)
                .unwrap_or_else(|problem| panic!("{problem}: {}\n{}", line.text, text_of(lines)));
            parsed.logs.push(value);
        }
    }
    parsed
}

/// A log line as Lambda's JSON log format expects it: `timestamp`, `level` and `message`.
fn check_log_line(line: &Value) -> Result<(), String> {
    let level = line["level"].as_str().ok_or("no string \"level\"")?;
    if !["TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"].contains(&level) {
        return Err(format!("level {level:?} is not one Lambda knows"));
    }
    line["message"].as_str().ok_or("no string \"message\"")?;
    let timestamp = line["timestamp"]
        .as_str()
        .ok_or("no string \"timestamp\"")?;
    if !is_rfc3339_utc(timestamp) {
        return Err(format!("timestamp {timestamp:?} is not RFC 3339 UTC"));
    }
    Ok(())
}

/// `YYYY-MM-DDTHH:MM:SS[.fraction]Z`.
fn is_rfc3339_utc(text: &str) -> bool {
    let bytes = text.as_bytes();
    let digits = |range: std::ops::Range<usize>| {
        bytes
            .get(range)
            .is_some_and(|d| d.iter().all(u8::is_ascii_digit))
    };
    let fixed = digits(0..4)
        && bytes.get(4) == Some(&b'-')
        && digits(5..7)
        && bytes.get(7) == Some(&b'-')
        && digits(8..10)
        && bytes.get(10) == Some(&b'T')
        && digits(11..13)
        && bytes.get(13) == Some(&b':')
        && digits(14..16)
        && bytes.get(16) == Some(&b':')
        && digits(17..19);
    let rest = &text[19.min(text.len())..];
    let rest = rest.strip_suffix('Z');
    fixed
        && match rest {
            Some("") => true,
            Some(fraction) => fraction
                .strip_prefix('.')
                .is_some_and(|f| !f.is_empty() && f.bytes().all(|b| b.is_ascii_digit())),
            None => false,
        }
}

fn request_id_of(line: &Value) -> Option<&str> {
    line.get("requestId").and_then(Value::as_str)
}

fn is_summary(line: &Value) -> bool {
    matches!(
        line["message"].as_str(),
        Some("invocation processed" | "invocation rejected" | "invocation failed")
    )
}

/// The summary lines of one invocation.
fn summaries<'a>(logs: &'a [Value], request_id: &str) -> Vec<&'a Value> {
    logs.iter()
        .filter(|l| is_summary(l) && request_id_of(l) == Some(request_id))
        .collect()
}

/// The one summary line of an invocation.
fn summary<'a>(logs: &'a [Value], request_id: &str, output: &str) -> &'a Value {
    let found = summaries(logs, request_id);
    assert_eq!(
        found.len(),
        1,
        "expected exactly one summary line for invocation {request_id}\n{output}"
    );
    found[0]
}

/// Fails unless `document` has the structure of AWS's Embedded Metric Format specification:
/// `_aws.Timestamp` a number of epoch milliseconds, `_aws.CloudWatchMetrics` an array of
/// metric directives, each with only `Namespace` (a string), `Dimensions` (an array of
/// dimension sets: arrays of at most 30 strings, each naming a top-level string member) and
/// `Metrics` (at most 100 definitions with only `Name`, an optional `Unit` among CloudWatch's
/// units and an optional `StorageResolution` of 1 or 60, each naming a top-level member that
/// is a number or an array of at most 100 numbers).
fn check_emf(document: &Value) -> Result<(), String> {
    let root = document
        .as_object()
        .ok_or("the document is not an object")?;
    let aws = root
        .get("_aws")
        .and_then(Value::as_object)
        .ok_or("no object _aws")?;
    let timestamp = aws.get("Timestamp").ok_or("no _aws.Timestamp")?;
    if timestamp.as_u64().is_none() {
        return Err(format!(
            "_aws.Timestamp is not a whole number of milliseconds: {timestamp}"
        ));
    }
    let directives = aws
        .get("CloudWatchMetrics")
        .and_then(Value::as_array)
        .ok_or("no array _aws.CloudWatchMetrics")?;
    if directives.is_empty() {
        return Err("_aws.CloudWatchMetrics is empty".into());
    }
    for directive in directives {
        let directive = directive
            .as_object()
            .ok_or("a metric directive is not an object")?;
        only_members(
            directive,
            &["Namespace", "Dimensions", "Metrics"],
            "a metric directive",
        )?;
        let namespace = directive
            .get("Namespace")
            .and_then(Value::as_str)
            .ok_or("a metric directive has no string Namespace")?;
        if namespace.is_empty() || namespace.len() > 255 || namespace.starts_with(':') {
            return Err(format!(
                "Namespace {namespace:?} is not a CloudWatch namespace"
            ));
        }
        let dimension_sets = directive
            .get("Dimensions")
            .and_then(Value::as_array)
            .ok_or("a metric directive has no array Dimensions")?;
        for set in dimension_sets {
            let set = set
                .as_array()
                .ok_or_else(|| format!("a dimension set is not an array: {set}"))?;
            if set.len() > 30 {
                return Err(format!(
                    "a dimension set has {} dimensions, over 30",
                    set.len()
                ));
            }
            for name in set {
                let name = name
                    .as_str()
                    .ok_or_else(|| format!("a dimension name is not a string: {name}"))?;
                match root.get(name) {
                    Some(Value::String(value)) if !value.is_empty() && value.len() <= 1024 => {}
                    Some(other) => {
                        return Err(format!(
                            "dimension {name}: the top-level member is not a string of 1 to \
                             1024 characters: {other}"
                        ))
                    }
                    None => return Err(format!("dimension {name} has no top-level member")),
                }
            }
        }
        let definitions = directive
            .get("Metrics")
            .and_then(Value::as_array)
            .ok_or("a metric directive has no array Metrics")?;
        if definitions.is_empty() || definitions.len() > 100 {
            return Err(format!(
                "{} metric definitions (1 to 100)",
                definitions.len()
            ));
        }
        let mut names = BTreeSet::new();
        for definition in definitions {
            let definition = definition
                .as_object()
                .ok_or("a metric definition is not an object")?;
            only_members(
                definition,
                &["Name", "Unit", "StorageResolution"],
                "a metric definition",
            )?;
            let name = definition
                .get("Name")
                .and_then(Value::as_str)
                .ok_or("a metric definition has no string Name")?;
            if name.is_empty() || name.len() > 255 {
                return Err(format!("metric name {name:?} is not 1 to 255 characters"));
            }
            if !names.insert(name) {
                return Err(format!("metric {name} is defined twice"));
            }
            if let Some(unit) = definition.get("Unit") {
                if !unit.as_str().is_some_and(|u| EMF_UNITS.contains(&u)) {
                    return Err(format!("metric {name}: {unit} is not a CloudWatch unit"));
                }
            }
            if let Some(resolution) = definition.get("StorageResolution") {
                if !matches!(resolution.as_u64(), Some(1 | 60)) {
                    return Err(format!("metric {name}: StorageResolution {resolution}"));
                }
            }
            match root.get(name) {
                Some(Value::Number(_)) => {}
                Some(Value::Array(values))
                    if !values.is_empty()
                        && values.len() <= 100
                        && values.iter().all(Value::is_number) => {}
                Some(other) => {
                    return Err(format!(
                        "metric {name}: the top-level member is not a number: {other}"
                    ))
                }
                None => return Err(format!("metric {name} has no top-level member")),
            }
        }
    }
    Ok(())
}

fn only_members(object: &Map<String, Value>, allowed: &[&str], what: &str) -> Result<(), String> {
    match object.keys().find(|key| !allowed.contains(&key.as_str())) {
        Some(key) => Err(format!(
            "{what} has a member the specification does not define: {key}"
        )),
        None => Ok(()),
    }
}

/// The metric definitions of a document's one directive, as name → unit.
fn metric_units(document: &Value) -> Vec<(String, String)> {
    document["_aws"]["CloudWatchMetrics"][0]["Metrics"]
        .as_array()
        .expect("checked by check_emf")
        .iter()
        .map(|d| {
            (
                d["Name"].as_str().unwrap().to_string(),
                d["Unit"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

/// Checks the `Lambda-Runtime-Trace-Id` runtime-api-peer sent with invocation `request_id`:
/// the peer builds `Root=1-{epoch s:08x}-{seed >> 32:08x}{counter:016x};Parent={epoch ms:016x};
/// Sampled=0` from its seed and counter (which also make its request ids:
/// `{seed >> 32:08x}-...-8{counter >> 48:03x}-{counter:012x}`) and the epoch millisecond at
/// which it queued the invocation, which lies between `from_ms` and `until_ms`.
fn check_trace_id(
    trace: &str,
    request_id: &str,
    from_ms: u64,
    until_ms: u64,
) -> Result<(), String> {
    let fields: Vec<&str> = trace.split(';').collect();
    let [root, parent, sampled] = fields[..] else {
        return Err(format!("{trace:?} is not Root;Parent;Sampled"));
    };
    if sampled != "Sampled=0" {
        return Err(format!("{trace:?}: {sampled}"));
    }
    let root = root
        .strip_prefix("Root=1-")
        .ok_or_else(|| format!("{trace:?} has no Root=1-"))?;
    let (seconds, unique) = root
        .split_once('-')
        .ok_or_else(|| format!("{trace:?}: Root is not 1-TIME-ID"))?;
    let parent = parent
        .strip_prefix("Parent=")
        .ok_or_else(|| format!("{trace:?} has no Parent="))?;
    if seconds.len() != 8 || unique.len() != 24 || parent.len() != 16 {
        return Err(format!("{trace:?}: wrong field widths"));
    }
    let hex = |digits: &str| u64::from_str_radix(digits, 16).map_err(|e| format!("{trace:?}: {e}"));
    let (seconds, seed_high, counter, queued_ms) = (
        hex(seconds)?,
        &unique[..8],
        hex(&unique[8..])?,
        hex(parent)?,
    );
    let made_by_the_same_peer = request_id.starts_with(&format!("{seed_high}-"))
        && request_id.ends_with(&format!(
            "-8{:03x}-{:012x}",
            (counter >> 48) & 0xfff,
            counter & 0xffff_ffff_ffff
        ));
    if !made_by_the_same_peer {
        return Err(format!(
            "{trace:?} was not made by the peer that made request id {request_id}"
        ));
    }
    if !(from_ms..=until_ms).contains(&queued_ms) || queued_ms / 1000 != seconds {
        return Err(format!(
            "{trace:?} was not made between epoch ms {from_ms} and {until_ms}"
        ));
    }
    Ok(())
}

/// What the test expects of one invocation's lines.
struct Expected {
    what: &'static str,
    invocation: Invocation,
    /// `None` for a rejected event.
    source: Option<&'static str>,
    step_functions_batch: bool,
}

#[test]
fn json_logs_and_emf_metrics_of_every_kind_of_invocation() {
    let large = frequency_fanout::sample::event(100_000);
    assert!(large.len() > frequency_fanout::handler::INLINE_BELOW_BYTES);
    let private_direct = format!(
        r#"{{"items": [{{"frequency": 12, "owner": "{PRIVATE_MARKER}"}}, {{"frequency": 3}}, {{"frequency": 10.5}}], "threshold": 10}}"#
    );
    let private_rejected =
        format!(r#"{{"items": [{{"frequency": 1}}, {{"frequency": "{PRIVATE_MARKER}"}}]}}"#);
    let http_body = format!(
        r#"{{"items": [{{"frequency": 11, "note": "{PRIVATE_MARKER}"}}, {{"frequency": 10}}, {{"frequency": 10.01}}], "threshold": 10}}"#
    );
    let function = Function::start(&[("AWS_LAMBDA_LOG_FORMAT", "JSON")]);
    let started_ms = epoch_ms();
    let run = |what, payload: Vec<u8>, source, step_functions_batch| Expected {
        what,
        invocation: function.invoke(payload),
        source,
        step_functions_batch,
    };
    let expected = vec![
        run(
            "basic.json",
            read_event("basic.json"),
            Some("Direct"),
            false,
        ),
        run("100,000 items", large, Some("Direct"), false),
        run(
            "step_functions_batch.json",
            read_event("step_functions_batch.json"),
            Some("StepFunctions"),
            true,
        ),
        run(
            "rejected/frequency_string.json",
            read_event("rejected/frequency_string.json"),
            None,
            false,
        ),
        run(
            "function URL request",
            function_url_request("POST", &http_body),
            Some("HttpPayloadV2"),
            false,
        ),
        run(
            "direct event with private text",
            private_direct.into_bytes(),
            Some("Direct"),
            false,
        ),
        run(
            "rejected event with private text",
            private_rejected.into_bytes(),
            None,
            false,
        ),
    ];
    let finished_ms = epoch_ms();
    let lines = function.finish();
    let output = text_of(&lines);
    let parsed = parse_all(&lines);

    // Answers, for the values the lines must repeat.
    let ids: Vec<&str> = expected
        .iter()
        .map(|e| e.invocation.outcome.request_id.as_str())
        .collect();
    assert_eq!(ids.iter().collect::<BTreeSet<_>>().len(), ids.len());
    for e in &expected {
        let outcome = &e.invocation.outcome;
        match e.source {
            Some(_) => assert!(outcome.is_response(), "{}: {}", e.what, outcome.body_text()),
            None => assert!(outcome.is_error(), "{}: {}", e.what, outcome.body_text()),
        }
    }

    // At INFO every log line belongs to an invocation: it carries the request id the peer sent
    // and the X-Ray trace id it sent with it.
    let mut traces = std::collections::BTreeMap::new();
    for line in &parsed.logs {
        let request_id = request_id_of(line)
            .unwrap_or_else(|| panic!("a log line without requestId: {line}\n{output}"));
        let e = expected
            .iter()
            .find(|e| e.invocation.outcome.request_id == request_id)
            .unwrap_or_else(|| panic!("a log line of an unknown request id: {line}"));
        let trace = line["xrayTraceId"]
            .as_str()
            .unwrap_or_else(|| panic!("a log line without xrayTraceId: {line}"));
        check_trace_id(
            trace,
            request_id,
            e.invocation.sent_from_ms,
            e.invocation.sent_until_ms,
        )
        .unwrap_or_else(|problem| panic!("{}: {problem}\n{line}", e.what));
        let first = traces.entry(request_id).or_insert(trace);
        assert_eq!(*first, trace, "{}: two trace ids in one invocation", e.what);
    }
    assert_eq!(
        traces.len(),
        expected.len(),
        "every invocation logs\n{output}"
    );

    // Nothing of a payload is logged at INFO.
    for line in &lines {
        for private in [
            PRIVATE_MARKER,
            "elderberry",
            "daily-run",
            r#""frequency": "12""#,
            r#"\"frequency\": \"12\""#,
            "item-99999",
        ] {
            assert!(
                !line.text.contains(private),
                "payload text {private:?} in a line at INFO: {}",
                line.text
            );
        }
    }

    // One summary line per invocation.
    let mut sums_of_phases = Vec::new();
    for (index, e) in expected.iter().enumerate() {
        let outcome = &e.invocation.outcome;
        let line = summary(&parsed.logs, &outcome.request_id, &output);
        let what = e.what;
        let own_lines = parsed
            .logs
            .iter()
            .filter(|l| request_id_of(l) == Some(&outcome.request_id))
            .count();
        assert_eq!(
            own_lines, 1,
            "{what}: one log line at INFO, its summary\n{output}"
        );
        assert_eq!(line["cold_start"], index == 0, "{what}: cold_start: {line}");
        assert!(
            line["duration_ms"].as_f64().is_some_and(|ms| ms >= 0.0),
            "{what}: {line}"
        );
        match e.source {
            Some(source) => {
                let answer = answer_json(outcome);
                assert_eq!(line["level"], "INFO", "{what}: {line}");
                assert_eq!(line["message"], "invocation processed", "{what}: {line}");
                assert_eq!(
                    line["items"], answer["total_items"],
                    "{what}: items: {line}"
                );
                assert_eq!(
                    line["high_frequency_count"], answer["high_frequency_count"],
                    "{what}: high_frequency_count: {line}"
                );
                assert_eq!(line["workers"], WORKERS, "{what}: workers: {line}");
                assert_eq!(line["event_source"], source, "{what}: event_source: {line}");
                assert_eq!(
                    line["step_functions_batch"], e.step_functions_batch,
                    "{what}: step_functions_batch: {line}"
                );
                let mut phases = 0.0;
                for phase in [
                    "receive_ms",
                    "recognise_ms",
                    "split_ms",
                    "parse_and_check_ms",
                    "reassemble_ms",
                ] {
                    let ms = line[phase].as_f64().unwrap_or_else(|| {
                        panic!("{what}: no number {phase} in the summary: {line}")
                    });
                    assert!(ms >= 0.0 && ms.is_finite(), "{what}: {phase}: {line}");
                    phases += ms;
                }
                // The phases are timed inside the handler's own time.
                let duration = line["duration_ms"].as_f64().unwrap();
                assert!(
                    phases <= duration + 1e-3,
                    "{what}: phases sum to {phases} ms, over duration_ms {duration}: {line}"
                );
                sums_of_phases.push((what, phases, duration));
            }
            None => {
                assert_eq!(line["level"], "WARN", "{what}: {line}");
                assert_eq!(line["message"], "invocation rejected", "{what}: {line}");
                assert_eq!(line["error_type"], "InvalidEvent", "{what}: {line}");
                assert_eq!(
                    answer_json(outcome)["errorType"],
                    "InvalidEvent",
                    "{what}: the answer"
                );
                assert!(line.get("items").is_none(), "{what}: {line}");
            }
        }
    }
    let rejected = summary(&parsed.logs, ids[3], &output);
    assert_eq!(rejected["path"], "items[3].frequency", "{rejected}");
    assert!(rejected.to_string().contains("items[3].frequency"));
    let large_summary = summary(&parsed.logs, ids[1], &output);
    assert_eq!(large_summary["items"], 100_000);
    assert!(
        large_summary["parse_and_check_ms"].as_f64().unwrap() > 0.0,
        "{large_summary}"
    );
    let warnings: Vec<&Value> = parsed
        .logs
        .iter()
        .filter(|l| l["level"] == "WARN")
        .collect();
    assert_eq!(
        warnings.len(),
        2,
        "one WARN line per rejected event\n{output}"
    );
    assert!(
        parsed.logs.iter().all(|l| l["level"] != "ERROR"),
        "no ERROR line\n{output}"
    );

    // One EMF document per invocation, in invocation order.
    assert_eq!(
        parsed.metrics.len(),
        expected.len(),
        "one metrics line per invocation\n{output}"
    );
    for (index, (e, (document, bytes))) in expected.iter().zip(&parsed.metrics).enumerate() {
        let what = e.what;
        check_emf(document).unwrap_or_else(|problem| panic!("{what}: {problem}: {document}"));
        assert!(
            *bytes < CLOUDWATCH_EVENT_LIMIT / 64,
            "{what}: a {bytes}-byte metrics line is not well under 256 KB"
        );
        let timestamp = document["_aws"]["Timestamp"].as_u64().unwrap();
        assert!(
            (started_ms.saturating_sub(1_000)..=finished_ms + 1_000).contains(&timestamp),
            "{what}: _aws.Timestamp {timestamp} is not now ({started_ms}..{finished_ms})"
        );
        let directives = document["_aws"]["CloudWatchMetrics"].as_array().unwrap();
        assert_eq!(directives.len(), 1, "{what}: {document}");
        assert_eq!(directives[0]["Namespace"], "FrequencyFanout", "{what}");
        assert_eq!(
            directives[0]["Dimensions"],
            json!([["FunctionName"], ["FunctionName", "EventSource"]]),
            "{what}"
        );
        assert_eq!(document["FunctionName"], function_name(), "{what}");
        let mut units = vec![
            ("Items", "Count"),
            ("HighFrequencyItems", "Count"),
            ("Rejected", "Count"),
            ("Duration", "Milliseconds"),
            ("Workers", "Count"),
        ];
        if index == 0 {
            units.push(("ColdStart", "Count"));
        }
        let mut found = metric_units(document);
        found.sort();
        let mut units: Vec<(String, String)> = units
            .into_iter()
            .map(|(n, u)| (n.to_string(), u.to_string()))
            .collect();
        units.sort();
        assert_eq!(found, units, "{what}: the metric definitions");
        if index == 0 {
            assert_eq!(document["ColdStart"], 1, "{what}");
        } else {
            assert!(document.get("ColdStart").is_none(), "{what}: {document}");
        }
        let line = summary(&parsed.logs, &e.invocation.outcome.request_id, &output);
        assert_eq!(
            document["Duration"], line["duration_ms"],
            "{what}: the Duration metric is the summary's duration_ms"
        );
        match e.source {
            Some(source) => {
                let answer = answer_json(&e.invocation.outcome);
                assert_eq!(document["EventSource"], source, "{what}");
                assert_eq!(document["Items"], answer["total_items"], "{what}");
                assert_eq!(
                    document["HighFrequencyItems"], answer["high_frequency_count"],
                    "{what}"
                );
                assert_eq!(document["Rejected"], 0, "{what}");
                assert_eq!(document["Workers"], WORKERS, "{what}");
            }
            None => {
                assert_eq!(document["Rejected"], 1, "{what}: {document}");
                assert_eq!(document["Items"], 0, "{what}");
                assert_eq!(document["HighFrequencyItems"], 0, "{what}");
            }
        }
    }
    assert_eq!(parsed.metrics[1].0["Items"], 100_000);
    println!("phases against duration (ms): {sums_of_phases:?}");
}

#[test]
fn trace_level_logs_the_payload_and_every_line_is_still_json() {
    let private_rejected =
        format!(r#"{{"items": [{{"frequency": 1}}, {{"frequency": "{PRIVATE_MARKER}"}}]}}"#);
    let function = Function::start(&[
        ("AWS_LAMBDA_LOG_FORMAT", "JSON"),
        ("AWS_LAMBDA_LOG_LEVEL", "TRACE"),
    ]);
    let valid = function.invoke(read_event("basic.json"));
    let rejected = function.invoke(private_rejected.clone());
    let lines = function.finish();
    let output = text_of(&lines);
    let parsed = parse_all(&lines);
    for (invocation, marker) in [(&valid, "elderberry"), (&rejected, PRIVATE_MARKER)] {
        let id = &invocation.outcome.request_id;
        let payload_lines: Vec<&Value> = parsed
            .logs
            .iter()
            .filter(|l| l["message"] == "invocation payload" && request_id_of(l) == Some(id))
            .collect();
        assert_eq!(
            payload_lines.len(),
            1,
            "one payload line for {id}\n{output}"
        );
        let line = payload_lines[0];
        assert_eq!(line["level"], "TRACE", "{line}");
        assert!(
            line["payload"].as_str().is_some_and(|p| p.contains(marker)),
            "the payload at TRACE: {line}"
        );
        let trace = line["xrayTraceId"].as_str().expect("xrayTraceId");
        check_trace_id(trace, id, invocation.sent_from_ms, invocation.sent_until_ms)
            .unwrap_or_else(|problem| panic!("{problem}"));
        assert_eq!(summaries(&parsed.logs, id).len(), 1, "{output}");
    }
    // The rejected event's WARN line itself stays without the payload.
    let warning = summaries(&parsed.logs, &rejected.outcome.request_id)[0];
    assert_eq!(warning["level"], "WARN");
    assert!(!warning.to_string().contains(PRIVATE_MARKER), "{warning}");
    assert_eq!(parsed.metrics.len(), 2, "{output}");
}

#[test]
fn warn_level_drops_the_summaries_and_keeps_the_warning_and_the_metrics() {
    let function = Function::start(&[
        ("AWS_LAMBDA_LOG_FORMAT", "JSON"),
        ("AWS_LAMBDA_LOG_LEVEL", "WARN"),
    ]);
    function.invoke(read_event("basic.json"));
    function.invoke(read_event("rejected/frequency_string.json"));
    function.invoke(frequency_fanout::sample::event(20_000));
    let lines = function.finish();
    let output = text_of(&lines);
    let parsed = parse_all(&lines);
    for line in &parsed.logs {
        assert!(
            matches!(line["level"].as_str(), Some("WARN" | "ERROR")),
            "a line below WARN at AWS_LAMBDA_LOG_LEVEL=WARN: {line}"
        );
    }
    assert_eq!(
        parsed.logs.len(),
        1,
        "only the rejected event's line\n{output}"
    );
    let warning = &parsed.logs[0];
    assert_eq!(warning["message"], "invocation rejected", "{warning}");
    assert_eq!(warning["error_type"], "InvalidEvent", "{warning}");
    assert_eq!(warning["path"], "items[3].frequency", "{warning}");
    // Metrics are not logs: the level does not filter them.
    assert_eq!(parsed.metrics.len(), 3, "{output}");
    for (document, _) in &parsed.metrics {
        check_emf(document).unwrap_or_else(|problem| panic!("{problem}: {document}"));
    }
    assert_eq!(parsed.metrics[1].0["Rejected"], 1);
}

/// `AWS_LAMBDA_LOG_LEVEL=WARN` (or ERROR) must not strip the request id and trace id from the
/// lines it keeps: the WARN line of a rejected event is the one line an operator looks for.
#[test]
fn warn_level_lines_still_carry_the_request_id_and_trace_id() {
    let function = Function::start(&[
        ("AWS_LAMBDA_LOG_FORMAT", "JSON"),
        ("AWS_LAMBDA_LOG_LEVEL", "WARN"),
    ]);
    let rejected = function.invoke(read_event("rejected/frequency_string.json"));
    let lines = function.finish();
    let output = text_of(&lines);
    let parsed = parse_all(&lines);
    assert_eq!(parsed.logs.len(), 1, "{output}");
    let line = &parsed.logs[0];
    assert_eq!(
        request_id_of(line),
        Some(rejected.outcome.request_id.as_str()),
        "the WARN line names its invocation: {line}"
    );
    let trace = line["xrayTraceId"]
        .as_str()
        .unwrap_or_else(|| panic!("the WARN line has no xrayTraceId: {line}"));
    check_trace_id(
        trace,
        &rejected.outcome.request_id,
        rejected.sent_from_ms,
        rejected.sent_until_ms,
    )
    .unwrap_or_else(|problem| panic!("{problem}"));
}

/// A GET through a function URL is the caller's mistake, answered 405 like a rejected event is
/// answered 400: a WARN line, not an ERROR line an alarm on errors would fire on.
#[test]
fn a_method_not_allowed_is_logged_as_a_warning() {
    let function = Function::start(&[("AWS_LAMBDA_LOG_FORMAT", "JSON")]);
    let get = function.invoke(function_url_request("GET", ""));
    assert!(get.outcome.is_response(), "{}", get.outcome.body_text());
    assert_eq!(get.outcome.json().unwrap()["statusCode"], 405);
    let lines = function.finish();
    let output = text_of(&lines);
    let parsed = parse_all(&lines);
    let line = summary(&parsed.logs, &get.outcome.request_id, &output);
    assert_eq!(line["error_type"], "MethodNotAllowed", "{line}");
    assert_eq!(line["level"], "WARN", "{line}");
    assert_eq!(parsed.metrics[0].0["Rejected"], 1);
}

#[test]
fn the_metrics_namespace_comes_from_metrics_namespace() {
    let function = Function::start(&[
        ("AWS_LAMBDA_LOG_FORMAT", "JSON"),
        ("METRICS_NAMESPACE", "Team/FrequencyFanout-Prod"),
    ]);
    function.invoke(read_event("basic.json"));
    function.invoke(read_event("basic.json"));
    let lines = function.finish();
    let parsed = parse_all(&lines);
    assert_eq!(parsed.metrics.len(), 2, "{}", text_of(&lines));
    for (document, _) in &parsed.metrics {
        check_emf(document).unwrap_or_else(|problem| panic!("{problem}: {document}"));
        assert_eq!(
            document["_aws"]["CloudWatchMetrics"][0]["Namespace"],
            "Team/FrequencyFanout-Prod"
        );
    }
}

#[test]
fn metrics_disabled_writes_no_metrics_lines() {
    let function = Function::start(&[
        ("AWS_LAMBDA_LOG_FORMAT", "JSON"),
        ("METRICS_DISABLED", "true"),
    ]);
    let first = function.invoke(read_event("basic.json"));
    let second = function.invoke(read_event("rejected/frequency_string.json"));
    let lines = function.finish();
    let output = text_of(&lines);
    let parsed = parse_all(&lines);
    assert!(
        lines.iter().all(|l| l.stream != "stdout"),
        "METRICS_DISABLED=true: nothing on stdout\n{output}"
    );
    assert!(parsed.metrics.is_empty());
    // The logs are unaffected.
    assert_eq!(
        summaries(&parsed.logs, &first.outcome.request_id).len(),
        1,
        "{output}"
    );
    assert_eq!(
        summaries(&parsed.logs, &second.outcome.request_id).len(),
        1,
        "{output}"
    );
}

#[test]
fn no_ansi_escape_in_any_log_format() {
    for format in [Some("JSON"), Some("json"), Some("Text"), None] {
        let env: Vec<(&str, &str)> = format
            .map(|f| vec![("AWS_LAMBDA_LOG_FORMAT", f)])
            .unwrap_or_default();
        let what = format.unwrap_or("unset");
        let function = Function::start(&env);
        let valid = function.invoke(read_event("basic.json"));
        let rejected = function.invoke(read_event("rejected/frequency_string.json"));
        let lines = function.finish();
        for line in &lines {
            assert!(
                !line.text.contains('\x1b'),
                "AWS_LAMBDA_LOG_FORMAT={what}: an ANSI escape in a {} line: {:?}",
                line.stream,
                line.text
            );
        }
        let stdout: Vec<&Line> = lines.iter().filter(|l| l.stream == "stdout").collect();
        assert_eq!(
            stdout.len(),
            2,
            "AWS_LAMBDA_LOG_FORMAT={what}: {}",
            text_of(&lines)
        );
        for line in stdout {
            let document: Value = serde_json::from_str(&line.text)
                .unwrap_or_else(|e| panic!("{what}: a metrics line is not JSON ({e})"));
            check_emf(&document).unwrap_or_else(|problem| panic!("{what}: {problem}"));
        }
        let json_format = format.is_some_and(|f| f.eq_ignore_ascii_case("json"));
        for (invocation, level) in [(&valid, "INFO"), (&rejected, "WARN")] {
            let id = &invocation.outcome.request_id;
            let named = lines
                .iter()
                .filter(|l| l.stream == "stderr" && l.text.contains(id.as_str()))
                .collect::<Vec<_>>();
            assert_eq!(
                named.len(),
                1,
                "{what}: one line names {id}\n{}",
                text_of(&lines)
            );
            if json_format {
                let line: Value = serde_json::from_str(&named[0].text).unwrap();
                assert_eq!(line["level"], level, "{what}: {line}");
            } else {
                assert!(
                    named[0].text.contains(level),
                    "{what}: the {level} line names no level: {}",
                    named[0].text
                );
                assert!(
                    !named[0].text.starts_with('{'),
                    "{what}: text lines are not JSON: {}",
                    named[0].text
                );
            }
        }
    }
}

/// The checker itself: it accepts the specification's example and rejects what breaks it.
#[test]
fn the_emf_checker_rejects_documents_that_break_the_specification() {
    let good = json!({
        "_aws": {
            "Timestamp": 1_574_109_732_004u64,
            "CloudWatchMetrics": [{
                "Namespace": "lambda-function-metrics",
                "Dimensions": [["functionVersion"]],
                "Metrics": [{"Name": "time", "Unit": "Milliseconds", "StorageResolution": 60}]
            }]
        },
        "functionVersion": "$LATEST",
        "time": 100,
        "requestId": "989ffbf8-9ace-4817-a57c-e4dd734019ee"
    });
    check_emf(&good).expect("the specification's example is valid");
    let broken = |edit: &dyn Fn(&mut Value)| {
        let mut document = good.clone();
        edit(&mut document);
        check_emf(&document)
    };
    type Edit = Box<dyn Fn(&mut Value)>;
    let cases: Vec<(&str, Edit)> = vec![
        (
            "no _aws",
            Box::new(|d| {
                d.as_object_mut().unwrap().remove("_aws");
            }),
        ),
        (
            "string timestamp",
            Box::new(|d| d["_aws"]["Timestamp"] = json!("1574109732004")),
        ),
        (
            "fractional timestamp",
            Box::new(|d| d["_aws"]["Timestamp"] = json!(1.5)),
        ),
        (
            "no namespace",
            Box::new(|d| {
                d["_aws"]["CloudWatchMetrics"][0]
                    .as_object_mut()
                    .unwrap()
                    .remove("Namespace");
            }),
        ),
        (
            "dimensions not nested",
            Box::new(|d| {
                d["_aws"]["CloudWatchMetrics"][0]["Dimensions"] = json!(["functionVersion"])
            }),
        ),
        (
            "dimension missing",
            Box::new(|d| {
                d.as_object_mut().unwrap().remove("functionVersion");
            }),
        ),
        (
            "dimension not a string",
            Box::new(|d| d["functionVersion"] = json!(1)),
        ),
        (
            "metric missing",
            Box::new(|d| {
                d.as_object_mut().unwrap().remove("time");
            }),
        ),
        (
            "metric not a number",
            Box::new(|d| d["time"] = json!("100")),
        ),
        (
            "bad unit",
            Box::new(|d| d["_aws"]["CloudWatchMetrics"][0]["Metrics"][0]["Unit"] = json!("Millis")),
        ),
        (
            "extra member in a definition",
            Box::new(|d| d["_aws"]["CloudWatchMetrics"][0]["Metrics"][0]["Value"] = json!(1)),
        ),
        (
            "bad storage resolution",
            Box::new(|d| {
                d["_aws"]["CloudWatchMetrics"][0]["Metrics"][0]["StorageResolution"] = json!(5)
            }),
        ),
    ];
    for (what, edit) in cases {
        assert!(broken(&*edit).is_err(), "{what} was accepted");
    }
}

/// The trace id checker accepts what the peer sends and nothing else.
#[test]
fn the_trace_id_the_peer_sends_is_recognised() {
    let peer = RuntimeApiPeer::start().expect("the peer starts");
    let from = epoch_ms();
    let request_id = peer.enqueue(b"{}".to_vec(), None);
    let until = epoch_ms();
    // The trace id travels only in the `/next` answer's headers: fetch it as a function would.
    let trace = next_trace_id(&peer);
    check_trace_id(&trace, &request_id, from, until).unwrap_or_else(|p| panic!("{p}"));
    assert!(check_trace_id(&trace, "00000000-0000-4000-8000-000000000001", from, until).is_err());
    assert!(check_trace_id(&trace, &request_id, until + 5_000, until + 6_000).is_err());
    let tampered = trace.replace("Sampled=0", "Sampled=1");
    assert!(check_trace_id(&tampered, &request_id, from, until).is_err());
}

/// `GET /invocation/next` over a plain socket; returns its `Lambda-Runtime-Trace-Id`.
fn next_trace_id(peer: &RuntimeApiPeer) -> String {
    use std::io::Write;
    let mut stream = std::net::TcpStream::connect(peer.socket_addr()).expect("connect");
    write!(
        stream,
        "GET /2018-06-01/runtime/invocation/next HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
        peer.address()
    )
    .unwrap();
    let mut response = String::new();
    BufReader::new(stream)
        .read_to_string(&mut response)
        .unwrap();
    response
        .lines()
        .find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.eq_ignore_ascii_case("lambda-runtime-trace-id")
                .then(|| value.trim().to_string())
        })
        .unwrap_or_else(|| panic!("no Lambda-Runtime-Trace-Id in {response:?}"))
}
