//! Local mode: one event from a file or standard input, the answer on standard output.
//!
//! Used when `AWS_LAMBDA_RUNTIME_API` is not set, so the binary runs on its own from the
//! command line. The response JSON is printed and the process exits 0; a rejected event
//! prints the same error object Lambda would return and exits 1; logs go to stderr, errors
//! only unless `AWS_LAMBDA_LOG_LEVEL` or `RUST_LOG` asks for more.

use std::io::{self, Read, Write};
use std::process::ExitCode;
use std::time::Instant;

use tracing::level_filters::LevelFilter;

use crate::handler::FrequencyFanout;

/// The request id local mode logs and echoes in HTTP responses.
pub const LOCAL_REQUEST_ID: &str = "local";

/// The log level when neither `AWS_LAMBDA_LOG_LEVEL` nor `RUST_LOG` is set. On the command
/// line the answer on stdout says what happened, so the per-invocation INFO summary and the
/// WARN line of a rejected event would only repeat it; errors (a panic, a bad configuration)
/// are still shown.
pub const DEFAULT_LOG_LEVEL: LevelFilter = LevelFilter::ERROR;

/// The largest payload Lambda accepts in a synchronous invocation (6 MB).
pub const LAMBDA_SYNCHRONOUS_LIMIT: usize = 6 * 1024 * 1024;

/// `--version`'s answer.
pub const VERSION: &str = concat!(env!("CARGO_PKG_NAME"), " ", env!("CARGO_PKG_VERSION"));

/// Usage text for `--help` and for bad arguments.
pub const USAGE: &str = "usage: frequency-fanout [FILE | -]\n\
    \x20      frequency-fanout --help | --version\n\
    Reads one event from FILE, or from standard input for `-` or no argument, and prints the\n\
    response. With AWS_LAMBDA_RUNTIME_API set, serves Lambda invocations instead.\n\
    \n\
    \x20 -h, --help     print this text\n\
    \x20 -V, --version  print the version";

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
    Version,
}

/// Reads the arguments after the program name.
pub fn parse_args(args: &[String]) -> Result<Command, String> {
    match args {
        [] => Ok(Command::Run(Source::Stdin)),
        [flag] if flag == "-h" || flag == "--help" => Ok(Command::Help),
        [flag] if flag == "-V" || flag == "--version" => Ok(Command::Version),
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
    warn_if_too_large_for_lambda(payload.len());
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

/// Local mode reads events of any size; Lambda refuses a synchronous invocation above
/// [`LAMBDA_SYNCHRONOUS_LIMIT`]. Said once, before the answer, which is still given.
fn warn_if_too_large_for_lambda(bytes: usize) {
    if let Some(warning) = too_large_for_lambda(bytes) {
        eprintln!("frequency-fanout: warning: {warning}");
    }
}

fn too_large_for_lambda(bytes: usize) -> Option<String> {
    (bytes > LAMBDA_SYNCHRONOUS_LIMIT).then(|| {
        format!(
            "the event is {bytes} bytes, more than the {LAMBDA_SYNCHRONOUS_LIMIT} bytes (6 MB) \
             Lambda accepts in a synchronous invocation, so Lambda would refuse it; to count it \
             on Lambda, put its items in S3 and run the Step Functions Distributed Map \
             (README.md, \"Data beyond one invocation\")"
        )
    })
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
        assert_eq!(parse_args(&args(&["-h"])), Ok(Command::Help));
        assert_eq!(parse_args(&args(&["--version"])), Ok(Command::Version));
        assert_eq!(parse_args(&args(&["-V"])), Ok(Command::Version));
        assert!(parse_args(&args(&["--version", "events/basic.json"])).is_err());
        assert!(parse_args(&args(&["a", "b"])).is_err());
        assert!(parse_args(&args(&["--bogus"])).is_err());
    }

    #[test]
    fn only_events_above_lambdas_synchronous_limit_are_warned_of() {
        assert_eq!(LAMBDA_SYNCHRONOUS_LIMIT, 6_291_456);
        assert_eq!(too_large_for_lambda(0), None);
        assert_eq!(too_large_for_lambda(LAMBDA_SYNCHRONOUS_LIMIT), None);
        let warning = too_large_for_lambda(LAMBDA_SYNCHRONOUS_LIMIT + 1).expect("a warning");
        assert!(warning.contains("6291457 bytes"), "{warning}");
        assert!(warning.contains("Distributed Map"), "{warning}");
    }

    #[test]
    fn the_version_is_the_crates() {
        assert_eq!(
            VERSION,
            format!("frequency-fanout {}", env!("CARGO_PKG_VERSION"))
        );
    }

    #[test]
    fn the_usage_names_every_option() {
        for option in ["-h", "--help", "-V", "--version"] {
            assert!(USAGE.contains(option), "{option}");
        }
    }
}
