//! The HTTP front door: every request in `events/http/` (Function URL, API Gateway HTTP API and
//! REST API proxy events) answered by the release binary in local mode and in Lambda mode, each
//! answer checked against its `NAME.expected.json`, local mode's exact output at one worker (see
//! `events/http/README.md`; tests/local_mode.rs compares it byte for byte); how an
//! HTTP envelope is told from a direct event; and, for random events, that the HTTP answer's body
//! is the direct answer.

mod common;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use base64::Engine;
use frequency_fanout::number::Threshold;
use frequency_fanout::{answer, Answer, Reply};
use proptest::prelude::*;
use runtime_api_peer::RuntimeApiPeer;
use serde_json::{json, Value};

/// The pool width both modes run with.
const WORKERS: usize = 2;

/// Variables of the developer's shell that would change what the function does (or, for
/// `AWS_LAMBDA_RUNTIME_API`, which mode it runs in).
const INHERITED_SETTINGS: &[&str] = &[
    "AWS_LAMBDA_RUNTIME_API",
    "MAX_WORKERS",
    "FREQUENCY_THRESHOLD",
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
    "AWS_LAMBDA_LOG_FORMAT",
    "AWS_LAMBDA_LOG_LEVEL",
    "RUST_LOG",
    "AWS_LAMBDA_MAX_CONCURRENCY",
    "AWS_LAMBDA_INITIALIZATION_TYPE",
    "METRICS_NAMESPACE",
];

// ---------------------------------------------------------------------------------------------
// The fixtures.

/// One request in `events/http/` and the response it must get.
struct Fixture {
    name: String,
    path: PathBuf,
    event: Vec<u8>,
    /// The reply local mode prints at one worker: `x-request-id` is `local`, and a `200` body
    /// has `"workers":1`.
    expected: Value,
}

/// The request id local mode answers with.
const LOCAL_REQUEST_ID: &str = "local";

fn http_dir() -> PathBuf {
    common::root().join("events").join("http")
}

fn fixtures() -> Vec<Fixture> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(http_dir()).expect("events/http/ is readable") {
        let path = entry.expect("a directory entry").path();
        let file = path.file_name().unwrap().to_string_lossy().into_owned();
        let Some(name) = file.strip_suffix(".json") else {
            continue;
        };
        if name.ends_with(".expected") {
            continue;
        }
        let expected_path = path.with_file_name(format!("{name}.expected.json"));
        let expected = std::fs::read(&expected_path)
            .unwrap_or_else(|_| panic!("{} has no {}", path.display(), expected_path.display()));
        let expected: Value = serde_json::from_slice(&expected)
            .unwrap_or_else(|e| panic!("{}: {e}", expected_path.display()));
        found.push(Fixture {
            name: name.to_string(),
            event: std::fs::read(&path).expect("the fixture is readable"),
            path,
            expected,
        });
    }
    found.sort_by(|a, b| a.name.cmp(&b.name));
    found
}

/// The fixture's envelope, parsed.
fn envelope(fixture: &Fixture) -> Value {
    serde_json::from_slice(&fixture.event)
        .unwrap_or_else(|e| panic!("{}: not JSON: {e}", fixture.path.display()))
}

/// The request's method and, for a body that decodes to text, that text.
fn method_and_body(envelope: &Value) -> (String, Option<String>) {
    let method = envelope["requestContext"]["http"]["method"]
        .as_str()
        .or_else(|| envelope["httpMethod"].as_str())
        .expect("an HTTP envelope names its method")
        .to_string();
    let body = envelope["body"].as_str().map(|body| {
        if envelope["isBase64Encoded"] == json!(true) {
            base64::engine::general_purpose::STANDARD
                .decode(body)
                .ok()
                .and_then(|bytes| String::from_utf8(bytes).ok())
        } else {
            Some(body.to_string())
        }
    });
    (method, body.flatten())
}

/// Checks an HTTP response (the JSON the function returned) against what is expected of it:
/// the fixture's reply, with `request_id` for local mode's and `workers` for the width of a 200
/// body.
fn check_reply(name: &str, reply: &Value, expected: &Value, request_id: &str, workers: usize) {
    assert_eq!(
        reply["statusCode"], expected["statusCode"],
        "{name}: status of {reply}"
    );
    let headers = lower_case_headers(name, &reply["headers"]);
    let mut expected_headers = lower_case_headers(name, &expected["headers"]);
    let local_id = expected_headers.insert("x-request-id".into(), request_id.into());
    assert_eq!(
        local_id.as_deref(),
        Some(LOCAL_REQUEST_ID),
        "{name}: the expected reply is local mode's"
    );
    assert_eq!(headers, expected_headers, "{name}: headers of {reply}");
    // The front ends merge multiValueHeaders into headers: none may contradict them.
    if let Some(multi) = reply.get("multiValueHeaders").and_then(Value::as_object) {
        for (header, values) in multi {
            assert_eq!(
                values,
                &json!([headers[&header.to_ascii_lowercase()]]),
                "{name}: multiValueHeaders of {reply}"
            );
        }
    }
    assert_eq!(
        reply["isBase64Encoded"],
        json!(false),
        "{name}: the body is text: {reply}"
    );
    let body = reply["body"]
        .as_str()
        .unwrap_or_else(|| panic!("{name}: the body is a string: {reply}"));
    let body: Value = serde_json::from_str(body)
        .unwrap_or_else(|e| panic!("{name}: body not JSON ({e}): {reply}"));
    let mut expected_body: Value = expected["body"]
        .as_str()
        .and_then(|body| serde_json::from_str(body).ok())
        .unwrap_or_else(|| panic!("{name}: the expected body is a string of JSON"));
    if expected["statusCode"] == json!(200) {
        assert_eq!(expected_body["workers"], json!(1), "{name}: expected body");
        expected_body["workers"] = json!(workers);
    }
    assert_eq!(body, expected_body, "{name}: body");
    // Every other member of the reply (multiValueHeaders, cookies, ...) as expected.
    let others = |reply: &Value| {
        let mut reply = reply.clone();
        let members = reply.as_object_mut().expect("a reply is an object");
        members.remove("headers");
        members.remove("body");
        reply
    };
    assert_eq!(others(reply), others(expected), "{name}: reply");
}

fn lower_case_headers(name: &str, headers: &Value) -> BTreeMap<String, String> {
    let headers = headers
        .as_object()
        .unwrap_or_else(|| panic!("{name}: headers are an object: {headers}"));
    let mut lower = BTreeMap::new();
    for (header, value) in headers {
        let value = value
            .as_str()
            .unwrap_or_else(|| panic!("{name}: header {header} is a string: {value}"));
        let previous = lower.insert(header.to_ascii_lowercase(), value.to_string());
        assert!(previous.is_none(), "{name}: header {header} twice");
    }
    lower
}

#[test]
fn fixtures_cover_every_shape_and_request() {
    let names: Vec<String> = fixtures().into_iter().map(|f| f.name).collect();
    for shape in ["function_url", "http_api", "rest_api"] {
        for request in ["valid", "base64", "rejected", "get"] {
            let name = format!("{shape}_{request}");
            assert!(names.contains(&name), "events/http/{name}.json is missing");
        }
    }
    for fixture in fixtures() {
        let envelope = envelope(&fixture);
        let name = &fixture.name;
        let (method, _) = method_and_body(&envelope);
        assert_eq!(
            method == "GET",
            name.ends_with("_get"),
            "{name}: method {method}"
        );
        assert_eq!(
            envelope["isBase64Encoded"] == json!(true),
            name.ends_with("_base64")
                || name.ends_with("_bad_base64")
                || name.ends_with("_not_utf8"),
            "{name}: isBase64Encoded"
        );
        if name.starts_with("function_url_") {
            assert_eq!(envelope["version"], "2.0", "{name}");
            let domain = envelope["requestContext"]["domainName"].as_str().unwrap();
            assert!(
                domain.contains(".lambda-url.") && domain.ends_with(".on.aws"),
                "{name}: a Function URL's domain, not {domain}"
            );
        } else if name.starts_with("http_api_") {
            assert_eq!(envelope["version"], "2.0", "{name}");
            assert!(envelope["requestContext"]["domainName"]
                .as_str()
                .unwrap()
                .contains(".execute-api."));
        } else {
            assert!(name.starts_with("rest_api_"), "{name}: unknown shape");
            assert_eq!(envelope["httpMethod"], json!(method), "{name}");
            assert_eq!(
                envelope["requestContext"]["httpMethod"],
                json!(method),
                "{name}"
            );
        }
        let status = fixture.expected["statusCode"].as_i64().unwrap();
        let expected_status = match name.rsplit('_').next().unwrap() {
            "valid" | "base64" if !name.ends_with("bad_base64") => 200,
            "get" => 405,
            _ => 400,
        };
        assert_eq!(status, expected_status, "{name}: expected status");
    }
}

// ---------------------------------------------------------------------------------------------
// Local mode.

/// Runs the release binary in local mode on `stdin`; returns its exit code and stdout.
fn run_local(args: &[&Path], stdin: &[u8]) -> (i32, String) {
    let mut command = Command::new(common::release_binary());
    for name in INHERITED_SETTINGS {
        command.env_remove(name);
    }
    let mut child = command
        .args(args)
        .env("MAX_WORKERS", WORKERS.to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the release binary starts");
    let mut input = child.stdin.take().expect("stdin is piped");
    let stdin = stdin.to_vec();
    let writer = thread::spawn(move || {
        // A binary given a file does not read stdin: a broken pipe is fine.
        let _ = input.write_all(&stdin);
    });
    let output = child.wait_with_output().expect("the release binary runs");
    writer.join().expect("the writer thread");
    let stdout = String::from_utf8(output.stdout).expect("stdout is UTF-8");
    let code = output.status.code().expect("the binary exits with a code");
    assert!(
        code == 0 || code == 1,
        "exit code {code}; stderr: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    (code, stdout)
}

#[test]
fn every_fixture_in_local_mode() {
    let fixtures = fixtures();
    for fixture in &fixtures {
        let (code, stdout) = run_local(&[&fixture.path], b"");
        // An HTTP request is answered with an HTTP response even for a rejected body: the
        // invocation itself succeeded.
        assert_eq!(code, 0, "{}: exit code; stdout {stdout}", fixture.name);
        let reply: Value = serde_json::from_str(stdout.trim())
            .unwrap_or_else(|e| panic!("{}: stdout not JSON ({e}): {stdout}", fixture.name));
        check_reply(
            &fixture.name,
            &reply,
            &fixture.expected,
            LOCAL_REQUEST_ID,
            WORKERS,
        );
    }
}

/// The body of every POST that decodes to text gets, byte for byte, the answer the same text
/// gets as a direct invocation: the same members in the same order, the same error object.
#[test]
fn http_bodies_answer_as_direct_invocations() {
    let mut compared = 0;
    for fixture in fixtures() {
        let envelope = envelope(&fixture);
        let (method, body) = method_and_body(&envelope);
        let Some(body) = body.filter(|_| method == "POST") else {
            continue;
        };
        let (_, stdout) = run_local(&[&fixture.path], b"");
        let reply: Value = serde_json::from_str(stdout.trim()).unwrap();
        let (direct_code, direct) = run_local(&[], body.as_bytes());
        let status = reply["statusCode"].as_i64().unwrap();
        assert_eq!(
            direct_code,
            if status == 200 { 0 } else { 1 },
            "{}: the direct invocation's exit code",
            fixture.name
        );
        assert_eq!(
            reply["body"].as_str().unwrap(),
            direct.trim_end(),
            "{}: the HTTP body and the direct answer",
            fixture.name
        );
        compared += 1;
    }
    assert!(compared >= 9, "only {compared} bodies compared");
}

// ---------------------------------------------------------------------------------------------
// Lambda mode.

/// The release binary serving invocations from a Runtime API peer; killed when dropped.
struct LambdaFunction {
    peer: RuntimeApiPeer,
    child: Child,
    /// Everything the process printed, both streams.
    output: Arc<Mutex<Vec<u8>>>,
}

impl LambdaFunction {
    fn start() -> LambdaFunction {
        let peer = RuntimeApiPeer::start().expect("the Runtime API peer starts");
        let mut command = Command::new(common::release_binary());
        for name in INHERITED_SETTINGS {
            command.env_remove(name);
        }
        let mut child = command
            .envs(peer.lambda_env())
            .env("MAX_WORKERS", WORKERS.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the release binary starts");
        let output = Arc::new(Mutex::new(Vec::new()));
        let stdout = child.stdout.take().expect("stdout is piped");
        let stderr = child.stderr.take().expect("stderr is piped");
        collect(stdout, &output);
        collect(stderr, &output);
        LambdaFunction {
            peer,
            child,
            output,
        }
    }

    /// Invokes the function; returns the request id and the JSON it answered with.
    fn invoke(&self, payload: &[u8]) -> (String, Value) {
        let outcome = self
            .peer
            .invoke(payload.to_vec())
            .unwrap_or_else(|e| panic!("invocation failed: {e}\n{}", self.output_text()));
        assert!(
            outcome.is_response(),
            "an HTTP request never fails the invocation: {} {}",
            outcome.error_type.as_deref().unwrap_or(""),
            outcome.body_text()
        );
        let reply = outcome
            .json()
            .unwrap_or_else(|e| panic!("the answer is not JSON ({e}): {}", outcome.body_text()));
        (outcome.request_id.clone(), reply)
    }

    fn output_text(&self) -> String {
        String::from_utf8_lossy(&self.output.lock().unwrap()).into_owned()
    }

    /// Waits until the process has logged `text` (its output arrives through pipes, after the
    /// answer at the latest).
    fn assert_logged(&self, text: &str) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !self.output_text().contains(text) {
            assert!(
                Instant::now() < deadline,
                "no log line names {text}:\n{}",
                self.output_text()
            );
            thread::sleep(Duration::from_millis(20));
        }
    }
}

/// Copies a pipe into `sink` on a thread of its own, until the pipe closes.
fn collect(mut pipe: impl Read + Send + 'static, sink: &Arc<Mutex<Vec<u8>>>) {
    let sink = Arc::clone(sink);
    thread::spawn(move || {
        let mut buffer = [0u8; 4096];
        while let Ok(n) = pipe.read(&mut buffer) {
            if n == 0 {
                break;
            }
            sink.lock().unwrap().extend_from_slice(&buffer[..n]);
        }
    });
}

impl Drop for LambdaFunction {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn every_fixture_in_lambda_mode() {
    let function = LambdaFunction::start();
    let mut request_ids = Vec::new();
    for fixture in fixtures() {
        let (request_id, reply) = function.invoke(&fixture.event);
        assert!(!request_id.is_empty());
        check_reply(
            &fixture.name,
            &reply,
            &fixture.expected,
            &request_id,
            WORKERS,
        );
        // x-request-id is there so that a caller can find the invocation's log line.
        function.assert_logged(&request_id);
        request_ids.push(request_id);
    }
    request_ids.sort();
    request_ids.dedup();
    assert_eq!(
        request_ids.len(),
        fixtures().len(),
        "one request id per invocation"
    );
    assert!(
        function.peer.problems().is_empty(),
        "Runtime API problems: {:?}",
        function.peer.problems()
    );
}

/// A body far above the size processed on the calling thread goes through the pool: the HTTP
/// answer is still the direct one, in both modes, plain and base64-encoded.
#[test]
fn large_bodies_in_both_modes() {
    let event = frequency_fanout::sample::event(5_000);
    let (code, direct) = run_local(&[], &event);
    assert_eq!(code, 0, "{direct}");
    let direct = direct.trim_end().to_string();
    let text = String::from_utf8(event).unwrap();
    let template = fixtures()
        .into_iter()
        .find(|f| f.name == "function_url_valid")
        .expect("the Function URL fixture");
    let mut plain = envelope(&template);
    plain["body"] = json!(text);
    let mut encoded = plain.clone();
    encoded["body"] = json!(base64::engine::general_purpose::STANDARD.encode(&text));
    encoded["isBase64Encoded"] = json!(true);

    let function = LambdaFunction::start();
    for (name, request) in [("plain", plain), ("base64", encoded)] {
        let payload = serde_json::to_vec(&request).unwrap();
        let (_, stdout) = run_local(&[], &payload);
        let local: Value = serde_json::from_str(stdout.trim()).unwrap();
        let (request_id, lambda) = function.invoke(&payload);
        for (mode, reply, id) in [
            ("local", &local, LOCAL_REQUEST_ID),
            ("lambda", &lambda, &*request_id),
        ] {
            assert_eq!(reply["statusCode"], 200, "{name} in {mode} mode");
            assert_eq!(
                reply["headers"]["x-request-id"], id,
                "{name} in {mode} mode"
            );
            assert_eq!(reply["body"], json!(direct), "{name} in {mode} mode");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Envelope or direct event.

fn default_threshold() -> Threshold {
    Threshold::parse("10").expect("10 is a threshold")
}

fn answer_to(payload: &[u8]) -> Answer {
    answer(payload, 1, &default_threshold(), 1, "req-1")
}

/// The JSON the function returns for `payload` (failing the test on a failed invocation).
fn reply_to(payload: &[u8]) -> Value {
    let reply = answer_to(payload)
        .into_reply()
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(payload)));
    serde_json::to_value(reply).unwrap()
}

/// Objects with `items` and some of the HTTP envelope's members, but not all the members that
/// make an envelope, are direct events: their `items` are counted.
#[test]
fn http_looking_direct_events_stay_direct() {
    let items = r#""items": [{"frequency": 11}, {"frequency": 3}, {"frequency": 12}]"#;
    let body = r#""body": "[{\"frequency\": 50}]""#;
    let cases = [
        format!(
            r#"{{"headers": {{"content-type": "application/json"}}, {body}, "isBase64Encoded": false, {items}}}"#
        ),
        format!(r#"{{{items}, "httpMethod": "POST", "headers": {{}}, {body}}}"#),
        format!(r#"{{"version": "2.0", "routeKey": "$default", {body}, {items}}}"#),
        // requestContext, but no http object in it, for 2.0.
        format!(r#"{{"version": "2.0", "requestContext": {{"requestId": "x"}}, {body}, {items}}}"#),
        format!(r#"{{"version": "2.0", "requestContext": {{"http": "POST"}}, {body}, {items}}}"#),
        // requestContext.http, but not version 2.0 (and no httpMethod for 1.0).
        format!(
            r#"{{"version": "1.0", "requestContext": {{"http": {{"method": "POST"}}}}, {body}, {items}}}"#
        ),
        format!(r#"{{"requestContext": {{"http": {{"method": "POST"}}}}, {body}, {items}}}"#),
        // httpMethod that is not a string.
        format!(
            r#"{{"httpMethod": ["POST"], "requestContext": {{"httpMethod": "POST"}}, {body}, {items}}}"#
        ),
        // The envelope's members nested one level down.
        format!(
            r#"{{"request": {{"version": "2.0", "requestContext": {{"http": {{"method": "POST"}}}}, {body}}}, {items}}}"#
        ),
    ];
    for case in &cases {
        let answer = answer_to(case.as_bytes());
        assert!(answer.http.is_none(), "an HTTP answer to {case}");
        assert_eq!(
            reply_to(case.as_bytes()),
            json!({"high_frequency_count": 2, "total_items": 3, "threshold": 10, "workers": 1}),
            "{case}"
        );
    }
    // The Step Functions form, likewise.
    let batch = format!(
        r#"{{"httpMethod": "POST", {body}, "Items": [{{"frequency": 11}}], "BatchInput": {{"threshold": 1}}}}"#
    );
    assert_eq!(
        reply_to(batch.as_bytes()),
        json!({"high_frequency_count": 1, "total_items": 1, "threshold": 1, "workers": 1})
    );
}

/// An HTTP envelope is answered from its body even when it also has an `items` member, before,
/// between or after the members that make it an envelope; the `items` member is not checked.
#[test]
fn envelopes_with_items_are_http_requests() {
    for fixture in fixtures() {
        let text = String::from_utf8(fixture.event.clone()).unwrap();
        let inner = text
            .trim()
            .strip_prefix('{')
            .unwrap()
            .strip_suffix('}')
            .unwrap();
        for items in [
            r#""items": [{"frequency": 99}, {"frequency": 98}]"#,
            r#""items": [{"frequency": "not a number"}]"#,
            r#""items": 5"#,
        ] {
            for payload in [
                format!("{{{items},{inner}}}"),
                format!("{{{inner},{items}}}"),
            ] {
                let answer = answer_to(payload.as_bytes());
                let reply = answer
                    .http
                    .unwrap_or_else(|| panic!("{}: no HTTP answer with {items}", fixture.name));
                let reply = serde_json::to_value(reply).unwrap();
                check_reply(&fixture.name, &reply, &fixture.expected, "req-1", 1);
            }
        }
    }
    // A minimal envelope of each format, with items in the middle.
    let minimal = [
        r#"{"version": "2.0", "items": [{"frequency": 99}], "requestContext": {"http": {"method": "POST"}}, "body": "[{\"frequency\": 11}]"}"#,
        r#"{"httpMethod": "POST", "items": [{"frequency": 99}], "requestContext": {"httpMethod": "POST"}, "body": "[{\"frequency\": 11}]"}"#,
    ];
    for payload in minimal {
        let reply = reply_to(payload.as_bytes());
        assert_eq!(reply["statusCode"], 200, "{payload}");
        assert_eq!(
            reply["body"],
            r#"{"high_frequency_count":1,"total_items":1,"threshold":10,"workers":1}"#,
            "{payload}"
        );
    }
}

/// The envelope's format 1.0 is documented as "a string `httpMethod` beside a `requestContext`
/// object" (src/event.rs, `HttpFormat::V1`): a `requestContext` that is not an object does not
/// make an envelope, so these are direct events.
#[test]
fn a_request_context_that_is_not_an_object_makes_no_envelope() {
    for context in ["null", "5", "\"ctx\"", "[]"] {
        let payload = format!(
            r#"{{"httpMethod": "POST", "requestContext": {context}, "items": [{{"frequency": 11}}]}}"#
        );
        assert_eq!(
            reply_to(payload.as_bytes()),
            json!({"high_frequency_count": 1, "total_items": 1, "threshold": 10, "workers": 1}),
            "{payload}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Property: for random events, the HTTP answer's body is the direct answer.

/// A number literal of one of JSON's spellings.
fn number_literal() -> impl Strategy<Value = String> {
    prop_oneof![
        (0i64..30).prop_map(|n| n.to_string()),
        any::<i64>().prop_map(|n| n.to_string()),
        ("-?[1-9][0-9]{19,30}").prop_map(|s| s),
        (0u32..30, 0u32..100).prop_map(|(i, f)| format!("{i}.{f:02}")),
        (1u32..10, -3i32..4).prop_map(|(m, e)| format!("{m}e{e}")),
        (-1.0e300f64..1.0e300).prop_map(|x| format!("{x:e}")),
    ]
}

/// A string value with the characters that trap a careless scanner, as JSON text.
fn string_value() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("plain".to_string()),
        Just("},{\"frequency\": 99}".to_string()),
        Just("quote \" and backslash \\".to_string()),
        Just("café ☕ 🍒".to_string()),
        "[a-z ]{0,12}",
    ]
    .prop_map(|s| serde_json::to_string(&s).unwrap())
}

/// A member other than `frequency`, as JSON text.
fn extra_member() -> impl Strategy<Value = String> {
    (
        prop_oneof![
            Just("id"),
            Just("name"),
            Just("Frequency"),
            Just("frequency_note"),
            Just("tags")
        ],
        prop_oneof![
            string_value(),
            number_literal(),
            Just("null".to_string()),
            Just("{\"frequency\": \"nested, ignored\"}".to_string()),
            Just("[{\"frequency\": 1000}, []]".to_string()),
        ],
    )
        .prop_map(|(name, value)| format!("\"{name}\": {value}"))
}

/// An item: `frequency` (a number, or for a rejected event a string) among other members.
fn item(frequency: String) -> impl Strategy<Value = String> {
    (
        prop::collection::vec(extra_member(), 0..3),
        any::<prop::sample::Index>(),
    )
        .prop_map(move |(mut members, at)| {
            let at = at.index(members.len() + 1);
            members.insert(at, format!("\"frequency\": {frequency}"));
            format!("{{{}}}", members.join(", "))
        })
}

/// A direct event in one of the three forms, its text; a few are rejected by the contract.
fn event() -> impl Strategy<Value = String> {
    let items = prop::collection::vec(
        prop_oneof![
            20 => number_literal(),
            1 => Just("\"12\"".to_string()),
        ]
        .prop_flat_map(item),
        0..24,
    );
    (
        0..3u8,
        items,
        prop::option::of(number_literal()),
        prop::option::of(any::<bool>()),
        prop_oneof![Just(", "), Just(","), Just(",\n  ")],
    )
        .prop_map(|(form, items, threshold, include_indices, separator)| {
            let array = format!("[{}]", items.join(separator));
            let mut options = Vec::new();
            if let Some(threshold) = threshold {
                options.push(format!("\"threshold\": {threshold}"));
            }
            if let Some(include) = include_indices {
                options.push(format!("\"include_indices\": {include}"));
            }
            match form {
                0 => {
                    options.insert(0, format!("\"items\": {array}"));
                    format!("{{{}}}", options.join(separator))
                }
                1 => array,
                _ => format!(
                    "{{\"Items\": {array}{separator}\"BatchInput\": {{{}}}}}",
                    options.join(separator)
                ),
            }
        })
}

fn envelope_template(name: &str) -> Value {
    static TEMPLATES: std::sync::OnceLock<BTreeMap<String, Value>> = std::sync::OnceLock::new();
    TEMPLATES.get_or_init(|| {
        fixtures()
            .iter()
            .filter(|f| f.name.ends_with("_valid"))
            .map(|f| (f.name.clone(), envelope(f)))
            .collect()
    })[name]
        .clone()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Wrapped as the body of a Function URL, HTTP API or REST API request, plain or
    /// base64-encoded, a direct event gets an HTTP answer whose body is, byte for byte, the
    /// direct answer (response or error object), with status 200 or 400 to match.
    #[test]
    fn the_http_body_is_the_direct_answer(
        event in event(),
        shape in prop_oneof![Just("function_url_valid"), Just("http_api_valid"), Just("rest_api_valid")],
        encoded in any::<bool>(),
        parts in 1usize..4,
    ) {
        let threshold = default_threshold();
        let direct = answer(event.as_bytes(), parts, &threshold, 3, "direct");
        prop_assert!(direct.http.is_none());
        let (status, direct_json) = match direct.into_reply() {
            Ok(Reply::Event(response)) => (200, serde_json::to_string(&response).unwrap()),
            Ok(Reply::Http(_)) => unreachable!("a direct event"),
            Err(error) => {
                prop_assert_eq!(error.error_type(), "InvalidEvent");
                (400, serde_json::to_string(&error.to_error_object()).unwrap())
            }
        };

        let mut request = envelope_template(shape);
        if encoded {
            request["body"] = json!(base64::engine::general_purpose::STANDARD.encode(&event));
            request["isBase64Encoded"] = json!(true);
        } else {
            request["body"] = json!(event);
            request["isBase64Encoded"] = json!(false);
        }
        let payload = serde_json::to_vec(&request).unwrap();
        let http = answer(&payload, parts, &threshold, 3, "req-7");
        let reply = serde_json::to_value(http.http.expect("an HTTP answer")).unwrap();
        prop_assert_eq!(&reply["statusCode"], &json!(status));
        prop_assert_eq!(&reply["headers"]["x-request-id"], "req-7");
        prop_assert_eq!(&reply["headers"]["content-type"], "application/json");
        prop_assert_eq!(reply["body"].as_str().unwrap(), direct_json.as_str());
    }
}
