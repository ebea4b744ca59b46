//! The function under the ecosystem's emulator: `cargo lambda watch` builds and runs the
//! binary behind its Runtime API, and every example event goes through `cargo lambda invoke`.
//!
//! cargo-lambda comes from the project's virtual environment (`.venv/bin`); when it is missing
//! the test installs it with `scripts/install-tools`, the same step `scripts/test` runs. All
//! traffic stays on 127.0.0.1.
//!
//! Each example is also posted as raw bytes to the emulator's Invoke endpoint, which compares
//! the exact JSON body (`cargo lambda invoke` prints an error as a wrapped text report) and is
//! the only way to send `events/rejected/invalid_utf8.json` through the emulator at all.

#[path = "support/cargo_lambda_watch.rs"]
mod cargo_lambda_watch;
mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use cargo_lambda_watch::{cargo_lambda, path_with_venv, Watch, FUNCTION, WORKERS};
use serde_json::Value;

/// The first invocation waits for `cargo lambda watch` to compile the crate in debug, which
/// can take minutes on a small machine whose other builds hold cargo's lock.
const FIRST_INVOCATION_TIMEOUT: Duration = Duration::from_secs(600);
const INVOCATION_TIMEOUT: Duration = Duration::from_secs(60);

#[test]
fn every_example_through_cargo_lambda_watch_and_invoke() {
    let cargo_lambda = cargo_lambda();
    let mut watch = Watch::start(&cargo_lambda, &[], "cargo-lambda-watch");

    let examples = common::examples();
    let mut failures = Vec::new();
    for (index, example) in examples.iter().enumerate() {
        let timeout = if index == 0 {
            FIRST_INVOCATION_TIMEOUT
        } else {
            INVOCATION_TIMEOUT
        };
        let expected = common::expected_at(example, WORKERS);
        let invoked = watch.invoke(&cargo_lambda, &example.event, timeout);
        if let Err(problem) = check_invoke(example, &expected, &invoked) {
            failures.push(format!(
                "{} via cargo lambda invoke: {problem}",
                example.name
            ));
        }
        let payload = std::fs::read(&example.event).expect("the example is readable");
        match watch.post(&payload) {
            Ok(response) if response.body == expected => {}
            Ok(response) => failures.push(format!(
                "{} via POST: expected {expected}, got {} (HTTP {})",
                example.name, response.body, response.status
            )),
            Err(problem) => failures.push(format!("{} via POST: {problem}", example.name)),
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} examples failed under cargo lambda watch:\n{}\n--- cargo lambda watch output (tail) ---\n{}",
        failures.len(),
        examples.len(),
        failures.join("\n"),
        watch.log_tail(60)
    );
}

/// What `cargo lambda invoke` printed and how it ended.
struct Invoked {
    status: ExitStatus,
    stdout: String,
    stderr: String,
}

/// Checks one `cargo lambda invoke` run against the example's expected output.
fn check_invoke(
    example: &common::Example,
    expected: &Value,
    invoked: &Invoked,
) -> Result<(), String> {
    let shown = || {
        format!(
            "exit {}, stdout {:?}, stderr {:?}",
            invoked.status, invoked.stdout, invoked.stderr
        )
    };
    if example.name == "rejected/invalid_utf8.json" {
        // `cargo lambda invoke` reads --data-file into a UTF-8 string before sending it, so it
        // refuses this payload without invoking anything (cargo-lambda 1.9). The raw POST in
        // the caller delivers the bytes and checks the function's answer.
        let refused = !invoked.status.success()
            && invoked.stderr.contains("error reading data file")
            && invoked
                .stderr
                .contains("stream did not contain valid UTF-8");
        return if refused {
            Ok(())
        } else {
            Err(format!(
                "expected cargo lambda invoke to refuse the invalid UTF-8 file: {}",
                shown()
            ))
        };
    }
    if example.rejected {
        // A function error makes `cargo lambda invoke` exit 1 with a report on stderr:
        // `Error: <errorType>`, then the errorMessage after `×`, wrapped at the terminal width
        // with `│` starting each continuation line. (The empty payload is sent as it is: its
        // message, "... found the end of the input at line 1 column 1", shows that the function
        // got zero bytes.)
        if invoked.status.success() {
            return Err(format!("expected a failed invocation: {}", shown()));
        }
        let (error_type, message) = parse_error_report(&invoked.stderr)
            .ok_or_else(|| format!("no error report on stderr: {}", shown()))?;
        if error_type != expected["errorType"] || message != expected["errorMessage"] {
            return Err(format!(
                "expected {expected}, got errorType {error_type:?} errorMessage {message:?}"
            ));
        }
        return Ok(());
    }
    if !invoked.status.success() {
        return Err(format!("expected a response: {}", shown()));
    }
    let response: Value = serde_json::from_str(&invoked.stdout)
        .map_err(|error| format!("stdout is not JSON ({error}): {}", shown()))?;
    if &response != expected {
        return Err(format!("expected {expected}, got {response}"));
    }
    Ok(())
}

/// Reads `(errorType, errorMessage)` from the report `cargo lambda invoke` prints for a
/// function error, joining the message's wrapped lines with single spaces.
fn parse_error_report(stderr: &str) -> Option<(String, String)> {
    let mut lines = stderr.lines();
    let error_type = lines
        .by_ref()
        .find_map(|line| line.trim().strip_prefix("Error:"))?
        .trim()
        .to_string();
    let mut lines = lines.map(str::trim).skip_while(|line| line.is_empty());
    let first = lines.next()?.strip_prefix('×')?.trim();
    let mut message = first.to_string();
    for line in lines {
        let Some(continued) = line.strip_prefix('│') else {
            break;
        };
        message.push(' ');
        message.push_str(continued.trim());
    }
    Some((error_type, message))
}

/// The status and JSON body of one HTTP response.
struct HttpResponse {
    status: u16,
    body: Value,
}

/// What this test does with the watch: `cargo lambda invoke`, and a raw POST.
impl Watch {
    /// Runs `cargo lambda invoke` on one event file, bounded by `timeout`.
    fn invoke(&mut self, cargo_lambda: &Path, event: &Path, timeout: Duration) -> Invoked {
        let mut child = KillOnDrop(
            Command::new(cargo_lambda)
                .args(["lambda", "invoke", FUNCTION])
                .arg("--data-file")
                .arg(event)
                .args(["--invoke-address", "127.0.0.1"])
                .args(["--invoke-port", &self.port.to_string()])
                .args(["--output-format", "json"])
                .args(["--color", "never"])
                .current_dir(common::root())
                .env("PATH", path_with_venv())
                .env("NO_COLOR", "1")
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("cargo lambda invoke starts"),
        );
        let stdout = read_in_background(child.0.stdout.take().expect("piped stdout"));
        let stderr = read_in_background(child.0.stderr.take().expect("piped stderr"));
        let deadline = Instant::now() + timeout;
        let status = loop {
            if let Some(status) = child.0.try_wait().expect("waiting for cargo lambda invoke") {
                break status;
            }
            assert!(
                Instant::now() < deadline,
                "cargo lambda invoke --data-file {} did not finish within {timeout:?}:\n{}",
                event.display(),
                self.log_tail(60)
            );
            // A failed build leaves the invocation waiting forever: stop at once instead.
            self.assert_healthy();
            thread::sleep(Duration::from_millis(100));
        };
        Invoked {
            status,
            stdout: stdout.join().expect("stdout reader"),
            stderr: stderr.join().expect("stderr reader"),
        }
    }

    /// Posts `payload` as it is to the emulator's Invoke endpoint and reads the JSON answer.
    fn post(&self, payload: &[u8]) -> Result<HttpResponse, String> {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port))
            .map_err(|error| format!("connecting: {error}"))?;
        stream
            .set_read_timeout(Some(INVOCATION_TIMEOUT))
            .and_then(|()| stream.set_write_timeout(Some(INVOCATION_TIMEOUT)))
            .map_err(|error| format!("setting timeouts: {error}"))?;
        let head = format!(
            "POST /2015-03-31/functions/{FUNCTION}/invocations HTTP/1.1\r\n\
             Host: 127.0.0.1:{}\r\n\
             Content-Type: application/json\r\n\
             Content-Length: {}\r\n\
             Connection: close\r\n\r\n",
            self.port,
            payload.len()
        );
        stream
            .write_all(head.as_bytes())
            .and_then(|()| stream.write_all(payload))
            .map_err(|error| format!("sending: {error}"))?;
        let mut raw = Vec::new();
        stream
            .read_to_end(&mut raw)
            .map_err(|error| format!("reading the response: {error}"))?;
        parse_http_response(&raw)
    }
}

/// A child process that is killed if it is still running when the guard goes (on a panic).
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

fn read_in_background(mut source: impl Read + Send + 'static) -> thread::JoinHandle<String> {
    thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = source.read_to_end(&mut bytes);
        String::from_utf8_lossy(&bytes).into_owned()
    })
}

/// Splits an HTTP/1.1 response into status and JSON body (`Content-Length` or chunked).
fn parse_http_response(raw: &[u8]) -> Result<HttpResponse, String> {
    let shown = || String::from_utf8_lossy(raw).into_owned();
    let split = raw
        .windows(4)
        .position(|window| window == b"\r\n\r\n")
        .ok_or_else(|| format!("no end of headers in {:?}", shown()))?;
    let head = std::str::from_utf8(&raw[..split]).map_err(|_| format!("headers: {:?}", shown()))?;
    let mut body = raw[split + 4..].to_vec();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse::<u16>().ok())
        .ok_or_else(|| format!("no status in {:?}", shown()))?;
    let chunked = head.lines().any(|line| {
        let line = line.to_ascii_lowercase();
        line.starts_with("transfer-encoding:") && line.contains("chunked")
    });
    if chunked {
        body = dechunk(&body).ok_or_else(|| format!("bad chunked body in {:?}", shown()))?;
    }
    let body = serde_json::from_slice(&body)
        .map_err(|error| format!("body is not JSON ({error}): {:?}", shown()))?;
    Ok(HttpResponse { status, body })
}

fn dechunk(mut body: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let line_end = body.windows(2).position(|w| w == b"\r\n")?;
        let size_text = std::str::from_utf8(&body[..line_end]).ok()?;
        let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
        body = &body[line_end + 2..];
        if size == 0 {
            return Some(out);
        }
        out.extend_from_slice(body.get(..size)?);
        body = body.get(size + 2..)?;
    }
}

#[test]
fn error_reports_unwrap_into_the_message() {
    let stderr = "Error: InvalidEvent\n\n  × items: expected an array of items under \"items\" (or \"Items\" for a Step\n  │ Functions batch), or a bare array\n\n  Was this behavior unexpected?\n";
    assert_eq!(
        parse_error_report(stderr),
        Some((
            "InvalidEvent".to_string(),
            "items: expected an array of items under \"items\" (or \"Items\" for a Step Functions batch), or a bare array".to_string()
        ))
    );
}
