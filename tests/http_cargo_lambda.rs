//! The function as a Lambda Function URL under `cargo lambda watch`, which serves one at
//! `http://127.0.0.1:PORT/lambda-url/<function>/`: the example events posted there with curl,
//! as a caller would, answer 200 or 400 with the direct answer as the body, and a GET 405.
//!
//! cargo-lambda comes from the project's virtual environment (`.venv/bin`), installed by
//! `scripts/install-tools` when missing; the watch runs in its own process group, stopped with
//! everything it started when the test ends (tests/support/cargo_lambda_watch.rs, shared with
//! `tests/cargo_lambda.rs`). All traffic stays on 127.0.0.1.

#[path = "support/cargo_lambda_watch.rs"]
mod cargo_lambda_watch;
mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use cargo_lambda_watch::{cargo_lambda, Watch, FUNCTION, WORKERS};
use serde_json::{json, Value};

/// The first request waits for the watch to start the function (`cargo run --release`, whose
/// build may wait for cargo's lock while other builds hold it).
const FIRST_REQUEST_TIMEOUT: Duration = Duration::from_secs(600);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

#[test]
fn function_url_requests_through_cargo_lambda_watch() {
    require_curl();
    // The watch runs `cargo run --release`: built here first, it starts at once.
    common::release_binary();
    let cargo_lambda = cargo_lambda();
    let watch = Watch::start(&cargo_lambda, &["--release"], "cargo-lambda-watch-http");
    let url = format!("http://127.0.0.1:{}/lambda-url/{FUNCTION}/", watch.port);

    let mut failures = Vec::new();
    let mut request_ids = Vec::new();
    let examples = common::examples();
    for (index, example) in examples.iter().enumerate() {
        let timeout = if index == 0 {
            FIRST_REQUEST_TIMEOUT
        } else {
            REQUEST_TIMEOUT
        };
        // cargo lambda answers 500 itself, without invoking the function, when a body labelled
        // as JSON is not UTF-8; labelled as bytes, it is passed on base64-encoded, as a
        // Function URL passes a body whose content type is not text.
        let invalid_utf8 = example.name == "rejected/invalid_utf8.json";
        let content_type = if invalid_utf8 {
            "application/octet-stream"
        } else {
            "application/json"
        };
        let response = match curl(&url, "POST", Some((&example.event, content_type)), timeout) {
            Ok(response) => response,
            Err(problem) => {
                failures.push(format!("{}: {problem}", example.name));
                continue;
            }
        };
        let expected = common::expected_at(example, WORKERS);
        let problems = check_response(&response, if example.rejected { 400 } else { 200 });
        let body_matches = if invalid_utf8 {
            // Decoded, the body is rejected before it is read as JSON, with a message that
            // says so.
            response.body
                == json!({"errorType": "InvalidEvent", "errorMessage":
                    "body: expected UTF-8 text once base64-decoded, found an invalid byte at offset 24"})
        } else if example.name == "rejected/empty_payload.json" {
            // An empty POST arrives as a request without a body.
            response.body
                == json!({"errorType": "InvalidEvent", "errorMessage":
                    "body: expected an event as the request body, found no body"})
        } else {
            response.body == expected
        };
        if !problems.is_empty() || !body_matches {
            failures.push(format!(
                "{}: {} expected body {expected}, got HTTP {} {:?} {}",
                example.name,
                problems.join("; "),
                response.status,
                response.headers,
                response.body
            ));
        }
        if let Some(id) = response.headers.get("x-request-id") {
            request_ids.push(id.clone());
        }
    }

    match curl(&url, "GET", None, REQUEST_TIMEOUT) {
        Ok(response) => {
            let mut problems = check_response(&response, 405);
            if response.headers.get("allow").map(String::as_str) != Some("POST") {
                problems.push("no allow: POST".into());
            }
            if response.body
                != json!({"errorType": "MethodNotAllowed", "errorMessage": "method GET is not allowed: POST an event (JSON) as the request body"})
            {
                problems.push("the 405 body".into());
            }
            if !problems.is_empty() {
                failures.push(format!(
                    "GET: {}: HTTP {} {:?} {}",
                    problems.join("; "),
                    response.status,
                    response.headers,
                    response.body
                ));
            }
        }
        Err(problem) => failures.push(format!("GET: {problem}")),
    }

    // Each request has its own id, and the function's log names it.
    let distinct: std::collections::BTreeSet<&String> = request_ids.iter().collect();
    if distinct.len() != request_ids.len() {
        failures.push(format!("request ids repeat: {request_ids:?}"));
    }
    for id in &request_ids {
        if !watch.wait_for_log(id, Duration::from_secs(10)) {
            failures.push(format!("no log line names request id {id}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} problems with Function URL requests under cargo lambda watch:\n{}\n\
         --- cargo lambda watch output (tail) ---\n{}",
        failures.len(),
        failures.join("\n"),
        watch.log_tail(60)
    );
}

/// The status and headers every answer must have; the problems found.
fn check_response(response: &HttpResponse, status: u16) -> Vec<String> {
    let mut problems = Vec::new();
    if response.status != status {
        problems.push(format!("expected HTTP {status}"));
    }
    if response.headers.get("content-type").map(String::as_str) != Some("application/json") {
        problems.push("content-type is not application/json".into());
    }
    if response
        .headers
        .get("x-request-id")
        .is_none_or(|id| id.is_empty())
    {
        problems.push("no x-request-id".into());
    }
    if status != 405 && response.headers.contains_key("allow") {
        problems.push("an allow header on a non-405 answer".into());
    }
    problems
}

// ---------------------------------------------------------------------------------------------
// curl.

/// One HTTP response: status, headers (names in lower case) and the body parsed as JSON.
struct HttpResponse {
    status: u16,
    headers: BTreeMap<String, String>,
    body: Value,
}

fn require_curl() {
    let found = Command::new("curl")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success());
    assert!(found, "this test posts with curl, which is not on PATH");
}

/// Sends one request with curl: `method`, and the bytes of a file as the body with its content
/// type.
fn curl(
    url: &str,
    method: &str,
    body: Option<(&Path, &str)>,
    timeout: Duration,
) -> Result<HttpResponse, String> {
    let mut command = Command::new("curl");
    command
        .args(["--silent", "--show-error", "--include"])
        .args(["--max-time", &timeout.as_secs().to_string()])
        .args(["--request", method])
        // No `Expect: 100-continue` round trip for larger bodies.
        .args(["--header", "Expect:"]);
    if let Some((file, content_type)) = body {
        command
            .args(["--header", &format!("content-type: {content_type}")])
            .arg("--data-binary")
            .arg(format!("@{}", file.display()));
    }
    let output = command
        .arg(url)
        .stdin(Stdio::null())
        .output()
        .map_err(|error| format!("curl does not run: {error}"))?;
    if !output.status.success() {
        return Err(format!(
            "curl failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    parse_response(&output.stdout)
}

/// Splits curl's `--include` output into status, headers and JSON body.
fn parse_response(raw: &[u8]) -> Result<HttpResponse, String> {
    let shown = || String::from_utf8_lossy(raw).into_owned();
    let split = raw
        .windows(4)
        .position(|window| window == b"\r\n\r\n")
        .ok_or_else(|| format!("no end of headers in {:?}", shown()))?;
    let head = std::str::from_utf8(&raw[..split]).map_err(|_| format!("headers: {:?}", shown()))?;
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|line| line.split_whitespace().nth(1))
        .and_then(|code| code.parse::<u16>().ok())
        .ok_or_else(|| format!("no status in {:?}", shown()))?;
    let mut headers = BTreeMap::new();
    for line in lines {
        let (name, value) = line
            .split_once(':')
            .ok_or_else(|| format!("bad header line {line:?}"))?;
        let name = name.trim().to_ascii_lowercase();
        if headers
            .insert(name.clone(), value.trim().to_string())
            .is_some()
        {
            return Err(format!("header {name} twice in {:?}", shown()));
        }
    }
    let body = serde_json::from_slice(&raw[split + 4..])
        .map_err(|error| format!("body is not JSON ({error}): {:?}", shown()))?;
    Ok(HttpResponse {
        status,
        headers,
        body,
    })
}
