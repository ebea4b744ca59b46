//! Writes a generated event to a file, for the whole-process benchmark (`bench/run`):
//! `cargo run --example generate -- 100000 bench/out/event-100000.json`, or with
//! `--function-url` the same event as the body of a Lambda Function URL request (the envelope
//! of `events/http/function_url_valid.json`, its body replaced).
//!
//! The event is `frequency_fanout::sample::event(ITEMS)`, the same bytes the criterion bench
//! and the tests use.

use std::process::ExitCode;

use frequency_fanout::sample;

/// The Function URL request whose body is replaced, read when the example is built.
const FUNCTION_URL_REQUEST: &str = include_str!("../events/http/function_url_valid.json");

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(items), Some(path), wrap) = (
        args.first().and_then(|a| a.parse::<usize>().ok()),
        args.get(1),
        args.get(2).map(String::as_str),
    ) else {
        eprintln!("usage: generate ITEMS FILE [--function-url]");
        return ExitCode::from(2);
    };
    let event = sample::event(items);
    let written = match wrap {
        None => event,
        Some("--function-url") => match function_url_request(&event) {
            Ok(request) => request,
            Err(error) => {
                eprintln!("generate: {error}");
                return ExitCode::FAILURE;
            }
        },
        Some(other) => {
            eprintln!(
                "generate: unknown argument {other}\nusage: generate ITEMS FILE [--function-url]"
            );
            return ExitCode::from(2);
        }
    };
    if let Err(error) = std::fs::write(path, &written) {
        eprintln!("generate: cannot write {path}: {error}");
        return ExitCode::FAILURE;
    }
    println!("{path}: {items} items, {} bytes", written.len());
    ExitCode::SUCCESS
}

/// The event as the body of a Function URL `POST`, as Lambda sends it: the body a JSON string.
fn function_url_request(event: &[u8]) -> Result<Vec<u8>, String> {
    let mut request: serde_json::Value = serde_json::from_str(FUNCTION_URL_REQUEST)
        .map_err(|error| format!("events/http/function_url_valid.json: {error}"))?;
    let body = String::from_utf8(event.to_vec()).map_err(|error| error.to_string())?;
    request["body"] = serde_json::Value::String(body);
    request["headers"]["content-length"] = serde_json::Value::String(event.len().to_string());
    serde_json::to_vec(&request).map_err(|error| error.to_string())
}
