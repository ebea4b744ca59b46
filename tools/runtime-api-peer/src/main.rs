//! `runtime-api-peer`: runs a Lambda function's binary against a Runtime API on loopback,
//! feeds it events, and prints what it answered and how long it took, as JSON lines for
//! benchmark scripts.
//!
//! ```text
//! runtime-api-peer --events events/basic.json big.json --repeat 20 -- target/release/bootstrap
//! ```
//!
//! stdout gets one line per invocation:
//!
//! ```text
//! {"type":"invocation","event":"big.json","round":1,"request_id":"…","outcome":"response",
//!  "error_type":null,"payload_bytes":5300000,"body_bytes":80,"function_ms":8.1,
//!  "round_trip_ms":8.3,"body":{…}}
//! ```
//!
//! and a last line with the init time (spawn to the first `/next` request) and the function
//! process's peak resident memory (`VmHWM` from `/proc/PID/status`, read just before the
//! process is killed):
//!
//! ```text
//! {"type":"summary","invocations":40,"errors":0,"init_ms":2.1,"peak_rss_kb":13800,"exited":null}
//! ```
//!
//! The function's own output goes to stderr (or nowhere with `--quiet`). Exit status: 0 when
//! every invocation was answered (a function error is an answer), 1 when one was not, 2 for a
//! usage error.

use std::path::PathBuf;
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use runtime_api_peer::{Options, RuntimeApiPeer};
use serde_json::{json, Value};

const USAGE: &str = "\
usage: runtime-api-peer [OPTIONS] --events FILE... -- COMMAND [ARGS...]

Starts COMMAND with AWS_LAMBDA_RUNTIME_API pointing at a local Runtime API, sends it each
event in turn, prints one JSON line per invocation and a summary line, and kills it.

options:
  --events FILE...   event payloads, sent in this order (the flag may be repeated)
  --repeat N         send the list N times (default 1)
  --deadline-ms MS   Lambda-Runtime-Deadline-Ms of every invocation (default: now + 900 s)
  --memory MB        AWS_LAMBDA_FUNCTION_MEMORY_SIZE (default 128)
  --env NAME=VALUE   an extra variable for COMMAND (may be repeated)
  --timeout SECS     give up waiting for one answer after SECS (default 120)
  --no-body          leave the answers' bodies out of the output
  --quiet            discard COMMAND's output (default: it goes to stderr)
  -h, --help         this text";

struct Args {
    events: Vec<PathBuf>,
    repeat: usize,
    deadline_ms: Option<u64>,
    memory: String,
    env: Vec<(String, String)>,
    timeout: Duration,
    body: bool,
    quiet: bool,
    command: Vec<String>,
}

fn parse_args(raw: &[String]) -> Result<Option<Args>, String> {
    let mut args = Args {
        events: Vec::new(),
        repeat: 1,
        deadline_ms: None,
        memory: "128".into(),
        env: Vec::new(),
        timeout: runtime_api_peer::DEFAULT_INVOKE_TIMEOUT,
        body: true,
        quiet: false,
        command: Vec::new(),
    };
    let mut i = 0;
    let value = |i: usize, flag: &str| -> Result<String, String> {
        raw.get(i + 1)
            .cloned()
            .ok_or_else(|| format!("{flag} needs a value"))
    };
    while i < raw.len() {
        let flag = raw[i].as_str();
        match flag {
            "-h" | "--help" => return Ok(None),
            "--" => {
                args.command = raw[i + 1..].to_vec();
                break;
            }
            "--events" => {
                let start = i + 1;
                i = start;
                while i < raw.len() && !raw[i].starts_with("--") {
                    args.events.push(PathBuf::from(&raw[i]));
                    i += 1;
                }
                if i == start {
                    return Err("--events needs at least one file".into());
                }
                continue;
            }
            "--repeat" => {
                args.repeat = value(i, flag)?
                    .parse()
                    .ok()
                    .filter(|&n| n > 0)
                    .ok_or("--repeat needs a whole number above 0")?;
                i += 1;
            }
            "--deadline-ms" => {
                args.deadline_ms = Some(
                    value(i, flag)?
                        .parse()
                        .map_err(|_| "--deadline-ms needs a whole number of ms")?,
                );
                i += 1;
            }
            "--memory" => {
                args.memory = value(i, flag)?;
                i += 1;
            }
            "--env" => {
                let pair = value(i, flag)?;
                let (name, val) = pair
                    .split_once('=')
                    .ok_or_else(|| format!("--env needs NAME=VALUE, got {pair:?}"))?;
                args.env.push((name.into(), val.into()));
                i += 1;
            }
            "--timeout" => {
                let secs: f64 = value(i, flag)?
                    .parse()
                    .ok()
                    .filter(|s: &f64| s.is_finite() && *s > 0.0)
                    .ok_or("--timeout needs a number of seconds above 0")?;
                args.timeout = Duration::from_secs_f64(secs);
                i += 1;
            }
            "--no-body" => args.body = false,
            "--quiet" => args.quiet = true,
            other => return Err(format!("unknown argument {other:?}")),
        }
        i += 1;
    }
    if args.events.is_empty() {
        return Err("no --events given".into());
    }
    if args.command.is_empty() {
        return Err("no COMMAND given after --".into());
    }
    Ok(Some(args))
}

fn main() -> ExitCode {
    let raw: Vec<String> = std::env::args().skip(1).collect();
    let args = match parse_args(&raw) {
        Ok(Some(args)) => args,
        Ok(None) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(problem) => {
            eprintln!("runtime-api-peer: {problem}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match run(&args) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(problem) => {
            eprintln!("runtime-api-peer: {problem}");
            ExitCode::FAILURE
        }
    }
}

/// Runs the whole session; `Ok(false)` when some invocation got no answer.
fn run(args: &Args) -> Result<bool, String> {
    let events = args
        .events
        .iter()
        .map(|path| {
            std::fs::read(path)
                .map(|bytes| (path.display().to_string(), bytes))
                .map_err(|e| format!("cannot read {}: {e}", path.display()))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let peer = Arc::new(
        RuntimeApiPeer::start_with(Options {
            invoke_timeout: args.timeout,
            ..Options::default()
        })
        .map_err(|e| format!("cannot start the Runtime API: {e}"))?,
    );
    let mut command = Command::new(&args.command[0]);
    command
        .args(&args.command[1..])
        .envs(peer.lambda_env())
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", &args.memory)
        .envs(args.env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null());
    if args.quiet {
        command.stdout(Stdio::null()).stderr(Stdio::null());
    } else {
        // stdout is this program's results: the function's output goes to stderr.
        command.stdout(Stdio::from(std::io::stderr()));
    }
    let spawned_at = Instant::now();
    let child = command
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", args.command[0]))?;
    let pid = child.id();
    let child = Arc::new(Mutex::new(child));
    let done = Arc::new(AtomicBool::new(false));
    let watcher = watch(Arc::clone(&child), Arc::clone(&peer), Arc::clone(&done));

    let mut answered_all = true;
    let (mut invocations, mut errors) = (0usize, 0usize);
    'rounds: for round in 1..=args.repeat {
        for (name, payload) in &events {
            let result = match args.deadline_ms {
                Some(deadline) => peer.invoke_with_deadline(payload.clone(), deadline),
                None => peer.invoke(payload.clone()),
            };
            let outcome = match result {
                Ok(outcome) => outcome,
                Err(error) => {
                    eprintln!("runtime-api-peer: {name}, round {round}: {error}");
                    answered_all = false;
                    break 'rounds;
                }
            };
            invocations += 1;
            if outcome.is_error() {
                errors += 1;
            }
            let mut line = json!({
                "type": "invocation",
                "event": name,
                "round": round,
                "request_id": outcome.request_id,
                "outcome": if outcome.is_response() { "response" } else { "error" },
                "error_type": outcome.error_type,
                "payload_bytes": payload.len(),
                "body_bytes": outcome.body.len(),
                "function_ms": ms(outcome.function_time()),
                "round_trip_ms": ms(outcome.round_trip()),
            });
            if args.body {
                line["body"] = outcome
                    .json()
                    .unwrap_or_else(|_| Value::String(outcome.body_text().into_owned()));
            }
            println!("{line}");
        }
    }

    let init_ms = peer
        .first_next_at()
        .map(|at| ms(at.saturating_duration_since(spawned_at)));
    done.store(true, Ordering::SeqCst);
    let mut child = child.lock().unwrap_or_else(|p| p.into_inner());
    let exited = child.try_wait().ok().flatten();
    // Read before the kill: afterwards /proc/PID is gone.
    let peak_rss_kb = if exited.is_none() {
        peak_rss_kb(pid)
    } else {
        None
    };
    let _ = child.kill();
    let _ = child.wait();
    drop(child);
    let _ = watcher.join();
    let init_errors: Vec<String> = peer.init_errors().iter().map(|e| e.to_string()).collect();
    println!(
        "{}",
        json!({
            "type": "summary",
            "invocations": invocations,
            "errors": errors,
            "init_ms": init_ms,
            "peak_rss_kb": peak_rss_kb,
            "exited": exited.map(|status| status.to_string()),
            "init_errors": init_errors,
            "problems": peer.problems(),
        })
    );
    Ok(answered_all)
}

/// Aborts the peer's waits as soon as the function's process exits on its own.
fn watch(
    child: Arc<Mutex<Child>>,
    peer: Arc<RuntimeApiPeer>,
    done: Arc<AtomicBool>,
) -> thread::JoinHandle<()> {
    thread::spawn(move || {
        while !done.load(Ordering::SeqCst) {
            let status = child.lock().unwrap_or_else(|p| p.into_inner()).try_wait();
            if let Ok(Some(status)) = status {
                peer.abort(format!("the function's process exited ({status})"));
                return;
            }
            thread::sleep(Duration::from_millis(20));
        }
    })
}

/// `VmHWM` of a live process, in kB.
fn peak_rss_kb(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()
}

fn ms(duration: Duration) -> f64 {
    (duration.as_secs_f64() * 1e6).round() / 1e3
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(args: &[&str]) -> Vec<String> {
        args.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn arguments() {
        let args = parse_args(&strings(&[
            "--events",
            "a.json",
            "b.json",
            "--repeat",
            "3",
            "--env",
            "X=1=2",
            "--no-body",
            "--",
            "bin",
            "--flag",
        ]))
        .unwrap()
        .unwrap();
        assert_eq!(
            args.events,
            [PathBuf::from("a.json"), PathBuf::from("b.json")]
        );
        assert_eq!(args.repeat, 3);
        assert_eq!(args.env, [("X".to_string(), "1=2".to_string())]);
        assert!(!args.body);
        assert_eq!(args.command, ["bin", "--flag"]);
        assert!(parse_args(&strings(&["--help"])).unwrap().is_none());
        for bad in [
            &["--", "bin"][..],
            &["--events", "a.json"],
            &["--events", "--", "bin"],
            &["--events", "a", "--repeat", "0", "--", "bin"],
            &["--events", "a", "--bogus", "--", "bin"],
        ] {
            assert!(parse_args(&strings(bad)).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn peak_rss_of_this_process() {
        assert!(peak_rss_kb(std::process::id()).is_some_and(|kb| kb > 0));
    }
}
