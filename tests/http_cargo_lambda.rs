//! The function as a Lambda Function URL under `cargo lambda watch`, which serves one at
//! `http://127.0.0.1:PORT/lambda-url/<function>/`: the example events posted there with curl,
//! as a caller would, answer 200 or 400 with the direct answer as the body, and a GET 405.
//!
//! cargo-lambda comes from the project's virtual environment (`.venv/bin`), installed by
//! `scripts/install-tools` when missing; the watch runs in its own process group, stopped with
//! everything it started when the test ends (the approach of `tests/cargo_lambda.rs`). All
//! traffic stays on 127.0.0.1.

mod common;

use std::collections::BTreeMap;
use std::fs::File;
use std::net::{TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

/// The pool width set through `--env-var`; every response must report it.
const WORKERS: usize = 3;
/// The function's name in the emulator: the binary's name.
const FUNCTION: &str = "frequency-fanout";
/// The first request waits for the watch to start the function (`cargo run --release`, whose
/// build may wait for cargo's lock while other builds hold it).
const FIRST_REQUEST_TIMEOUT: Duration = Duration::from_secs(600);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
const SERVER_START_TIMEOUT: Duration = Duration::from_secs(60);

/// Variables of the developer's shell that would change what the function does.
const INHERITED_SETTINGS: &[&str] = &[
    "AWS_LAMBDA_RUNTIME_API",
    "MAX_WORKERS",
    "FREQUENCY_THRESHOLD",
    "AWS_LAMBDA_LOG_FORMAT",
    "AWS_LAMBDA_LOG_LEVEL",
    "RUST_LOG",
    "METRICS_NAMESPACE",
];

#[test]
fn function_url_requests_through_cargo_lambda_watch() {
    require_curl();
    // The watch runs `cargo run --release`: built here first, it starts at once.
    common::release_binary();
    let cargo_lambda = cargo_lambda();
    let watch = Watch::start(&cargo_lambda);
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

// ---------------------------------------------------------------------------------------------
// cargo lambda watch, in a process group of its own.

/// The cargo-lambda binary in `.venv/bin`, installed by `scripts/install-tools` when missing.
fn cargo_lambda() -> PathBuf {
    let binary = common::root().join(".venv/bin/cargo-lambda");
    if !binary.is_file() {
        let status = Command::new(common::root().join("scripts/install-tools"))
            .arg("cargo-lambda")
            .current_dir(common::root())
            .stdin(Stdio::null())
            .status()
            .expect("scripts/install-tools runs");
        assert!(
            status.success(),
            "scripts/install-tools cargo-lambda failed: {status}"
        );
    }
    assert!(binary.is_file(), "no cargo-lambda at {}", binary.display());
    binary
}

/// `PATH` with `.venv/bin` first, for the tools cargo-lambda itself looks for.
fn path_with_venv() -> std::ffi::OsString {
    let venv_bin = common::root().join(".venv/bin");
    let rest = std::env::var_os("PATH").unwrap_or_default();
    std::env::join_paths(std::iter::once(venv_bin).chain(std::env::split_paths(&rest)))
        .expect("PATH entries join")
}

/// A port on 127.0.0.1 that was free a moment ago (never 9000, cargo lambda's default, which
/// a developer's own `cargo lambda watch` may hold).
fn free_port() -> u16 {
    loop {
        let listener = TcpListener::bind("127.0.0.1:0").expect("binding an ephemeral port");
        let port = listener.local_addr().expect("local address").port();
        if port != 9000 {
            return port;
        }
    }
}

/// A running `cargo lambda watch`, in its own process group. Dropping it stops the watch and
/// every process it started, on success and on panic alike.
struct Watch {
    child: Child,
    port: u16,
    log: PathBuf,
}

impl Watch {
    fn start(cargo_lambda: &Path) -> Watch {
        let port = free_port();
        let log = Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("cargo-lambda-watch-http-{port}.log"));
        let log_file = File::create(&log).expect("creating the watch log");
        let mut command = Command::new(cargo_lambda);
        command
            .args(["lambda", "watch"])
            .args(["--invoke-address", "127.0.0.1"])
            .args(["--invoke-port", &port.to_string()])
            // Edits to the sources while the test runs must not rebuild the function under it.
            .arg("--ignore-changes")
            .arg("--offline")
            .arg("--release")
            .args(["--bin", FUNCTION])
            .args(["--env-var", &format!("MAX_WORKERS={WORKERS}")])
            .current_dir(common::root())
            .env("PATH", path_with_venv())
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(log_file.try_clone().expect("cloning the log handle"))
            .stderr(log_file)
            .process_group(0);
        for name in INHERITED_SETTINGS {
            command.env_remove(name);
        }
        let child = command.spawn().expect("cargo lambda watch starts");
        let mut watch = Watch { child, port, log };
        watch.wait_for_server();
        watch
    }

    /// Waits until the emulator accepts connections.
    fn wait_for_server(&mut self) {
        let deadline = Instant::now() + SERVER_START_TIMEOUT;
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "cargo lambda watch exited ({status}):\n{}",
                    self.log_tail(60)
                );
            }
            assert!(
                Instant::now() < deadline,
                "cargo lambda watch did not listen on 127.0.0.1:{} within {:?}:\n{}",
                self.port,
                SERVER_START_TIMEOUT,
                self.log_tail(40)
            );
            thread::sleep(Duration::from_millis(100));
        }
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn log_tail(&self, lines: usize) -> String {
        let log = self.log_text();
        let all: Vec<&str> = log.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    /// Whether the watch's output (the function's logs among it) names `text` within `timeout`.
    fn wait_for_log(&self, text: &str, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            if self.log_text().contains(text) {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        // The watch runs the function (and `cargo run` before it) in a process group of their
        // own: note them now, while they are still the watch's descendants.
        let descendants = descendants(self.child.id());
        let group = format!("-{}", self.child.id());
        signal("TERM", &group);
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            thread::sleep(Duration::from_millis(50));
        }
        signal("KILL", &group);
        let _ = self.child.wait();
        for process in descendants {
            // Only the very processes noted above: same pid and same start time.
            if process.start_time() == Some(process.start) {
                signal("KILL", &process.pid.to_string());
            }
        }
    }
}

/// A process, told apart from a later one with the same pid by its start time.
struct Process {
    pid: u32,
    start: u64,
}

impl Process {
    fn start_time(&self) -> Option<u64> {
        proc_stat(self.pid).map(|(_, start)| start)
    }
}

/// `(parent pid, start time)` from `/proc/PID/stat`.
fn proc_stat(pid: u32) -> Option<(u32, u64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name, in parentheses, may contain spaces: the fields follow its last `)`.
    let fields: Vec<&str> = stat[stat.rfind(')')? + 1..].split_whitespace().collect();
    // Fields 4 (ppid) and 22 (starttime), counted from 1 with pid and name as 1 and 2.
    Some((fields.get(1)?.parse().ok()?, fields.get(19)?.parse().ok()?))
}

/// Every living descendant of `root`.
fn descendants(root: u32) -> Vec<Process> {
    let mut all = Vec::new();
    if let Ok(entries) = std::fs::read_dir("/proc") {
        for entry in entries.flatten() {
            if let Some(pid) = entry
                .file_name()
                .to_str()
                .and_then(|n| n.parse::<u32>().ok())
            {
                if let Some((parent, start)) = proc_stat(pid) {
                    all.push((pid, parent, start));
                }
            }
        }
    }
    let mut found = Vec::new();
    let mut frontier = vec![root];
    while let Some(parent) = frontier.pop() {
        for &(pid, ppid, start) in &all {
            if ppid == parent {
                found.push(Process { pid, start });
                frontier.push(pid);
            }
        }
    }
    found
}

/// Sends a signal with kill(1) to a pid, or to a process group as `-PGID`.
fn signal(name: &str, target: &str) {
    let _ = Command::new("kill")
        .args([format!("-{name}").as_str(), "--", target])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}
