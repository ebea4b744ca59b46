//! Local mode: one event from a file or standard input, the answer on standard output.
//!
//! Used when `AWS_LAMBDA_RUNTIME_API` is not set, so the binary runs on its own from the
//! command line. The response JSON is printed and the process exits 0; a rejected event
//! prints the same error object Lambda would return and exits 1; logs go to stderr.

use std::io::{self, Read, Write};
use std::process::ExitCode;
use std::time::Instant;

use crate::handler::FrequencyFanout;

/// The request id local mode logs and echoes in HTTP responses.
pub const LOCAL_REQUEST_ID: &str = "local";

/// Usage text for `--help` and for bad arguments.
pub const USAGE: &str = "usage: frequency-fanout [FILE | -]\n\
    Reads one event from FILE, or from standard input for `-` or no argument, and prints the\n\
    response. With AWS_LAMBDA_RUNTIME_API set, serves Lambda invocations instead.";

/// Where the event comes from.
#[derive(Debug, PartialEq, Eq)]
pub enum Source {
    Stdin,
    File(String),
}

/// What the command line asks for.
#[derive(Debug, PartialEq, Eq)]
pub enum Command {
    Run(Source),
    Help,
}

/// Reads the arguments after the program name.
pub fn parse_args(args: &[String]) -> Result<Command, String> {
    match args {
        [] => Ok(Command::Run(Source::Stdin)),
        [flag] if flag == "-h" || flag == "--help" => Ok(Command::Help),
        [dash] if dash == "-" => Ok(Command::Run(Source::Stdin)),
        [flag] if flag.starts_with('-') => Err(format!("unknown option {flag}")),
        [path] => Ok(Command::Run(Source::File(path.clone()))),
        _ => Err("expected at most one argument".into()),
    }
}

/// Runs local mode and returns the process's exit code: 0 answered, 1 rejected, 2 unusable
/// input (unreadable file, bad arguments).
pub fn run(function: &FrequencyFanout, source: &Source) -> ExitCode {
    let payload = match read(source) {
        Ok(payload) => payload,
        Err(error) => {
            let name = match source {
                Source::Stdin => "standard input".to_string(),
                Source::File(path) => path.clone(),
            };
            eprintln!("frequency-fanout: cannot read {name}: {error}");
            return ExitCode::from(2);
        }
    };
    let started = Instant::now();
    // The same span the Lambda runtime opens per invocation, so that logs look alike.
    let span = tracing::info_span!("invocation", requestId = LOCAL_REQUEST_ID);
    let _entered = span.enter();
    let answer = function.process_blocking(&payload, LOCAL_REQUEST_ID);
    // No metrics line: local mode's stdout carries only the answer.
    let record = crate::observability::Invocation {
        request_id: LOCAL_REQUEST_ID,
        xray_trace_id: None,
        payload: &payload,
        elapsed: started.elapsed(),
        workers: function.workers(),
    };
    crate::observability::record_invocation(&record, &answer, None);
    // An HTTP request event is answered with an HTTP response, even for a rejected body: the
    // invocation itself succeeded, as it would in Lambda.
    let (json, code) = match &answer.into_reply() {
        Ok(reply) => (serde_json::to_string(reply), ExitCode::SUCCESS),
        Err(error) => (
            serde_json::to_string(&error.to_error_object()),
            ExitCode::from(1),
        ),
    };
    // Serializing these plain structs cannot fail: no maps with non-string keys, no I/O.
    let json = json.expect("responses serialize");
    let mut stdout = io::stdout().lock();
    if writeln!(stdout, "{json}")
        .and_then(|()| stdout.flush())
        .is_err()
    {
        return ExitCode::from(2);
    }
    code
}

fn read(source: &Source) -> io::Result<Vec<u8>> {
    match source {
        Source::File(path) => std::fs::read(path),
        Source::Stdin => {
            let mut payload = Vec::new();
            io::stdin().lock().read_to_end(&mut payload)?;
            Ok(payload)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn arguments() {
        assert_eq!(parse_args(&args(&[])), Ok(Command::Run(Source::Stdin)));
        assert_eq!(parse_args(&args(&["-"])), Ok(Command::Run(Source::Stdin)));
        assert_eq!(
            parse_args(&args(&["events/basic.json"])),
            Ok(Command::Run(Source::File("events/basic.json".into())))
        );
        assert_eq!(parse_args(&args(&["--help"])), Ok(Command::Help));
        assert!(parse_args(&args(&["a", "b"])).is_err());
        assert!(parse_args(&args(&["--bogus"])).is_err());
    }
}
