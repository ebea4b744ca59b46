//! `runtime-api-peer`: runs a Lambda function's binary against a Runtime API on loopback,
//! feeds it events, and prints what it answered and how long it took, as JSON lines for
//! benchmark scripts.
//!
//! ```text
//! runtime-api-peer --events events/basic.json big.json --repeat 20 -- target/release/bootstrap
//! ```
//!
//! How the events arrive:
//!
//! - by default one after another: each event is queued when the answer to the one before it
//!   has arrived (a closed loop, as a sequential Lambda environment is served);
//! - `--open PERIOD_MS`: on a clock. Each round of the event list is spread evenly over
//!   `PERIOD_MS` and rounds follow one another, whether or not the function has answered
//!   (an open arrival schedule, as callers arrive at a Lambda Managed Instances environment);
//! - `--all-at-once`: every invocation is queued at the start, for throughput.
//!
//! stdout gets one line per invocation, in the order the invocations were queued:
//!
//! ```text
//! {"type":"invocation","event":"big.json","round":1,"request_id":"…","outcome":"response",
//!  "error_type":null,"payload_bytes":5300000,"body_bytes":80,"function_ms":8.1,
//!  "round_trip_ms":8.3,"body":{…}}
//! ```
//!
//! `function_ms` runs from handing the invocation out on `/next` to reading its answer;
//! `round_trip_ms` from queueing it (its arrival) to reading its answer, so it includes the wait
//! for a free `/next`. A last line sums up: the init time (spawn to the first `/next` request),
//! the function process's CPU time over the invocations (user plus system, fields 14 and 15 of
//! `/proc/PID/stat`, from just before the first invocation is queued to just after the last
//! answer) in all and per invocation, its minor page faults per invocation (field 10: memory
//! touched afresh, as when the allocator maps what it gave back), both also for the invocations
//! after the first when they arrive one after another (the first maps what the rest reuse), the most invocations in flight at once, the time from the
//! first arrival to the last answer and the throughput it gives, and the process's peak resident
//! memory (`VmHWM` from `/proc/PID/status`, read just before the process is killed) and its
//! resident memory just before the first invocation and just after the last (`VmRSS`):
//!
//! ```text
//! {"type":"summary","invocations":40,"errors":0,"init_ms":2.1,"cpu_ms":150.0,
//!  "cpu_ms_per_invocation":3.75,"minor_faults_per_invocation":12.5,
//!  "cpu_ms_per_invocation_after_first":3.5,"minor_faults_per_invocation_after_first":0.1,
//!  "max_in_flight":1,"elapsed_ms":160.2,"throughput_per_s":249.7,
//!  "peak_rss_kb":13800,"exited":null}
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

use runtime_api_peer::{Options, Outcome, RuntimeApiPeer, Writes};
use serde_json::{json, Value};

const USAGE: &str = "\
usage: runtime-api-peer [OPTIONS] --events FILE... -- COMMAND [ARGS...]

Starts COMMAND with AWS_LAMBDA_RUNTIME_API pointing at a local Runtime API, sends it each
event in turn, prints one JSON line per invocation and a summary line, and kills it.

options:
  --events FILE...   event payloads, sent in this order (the flag may be repeated)
  --repeat N         send the list N times (default 1)
  --open PERIOD_MS   queue the events on a clock: each round of the list spread evenly over
                     PERIOD_MS, rounds back to back, whether or not answers have come
  --all-at-once      queue every invocation at the start (throughput)
  --writes one|two   how /next answers are written: `one` write of head and body with
                     TCP_NODELAY (default, as a Go server sends), or `two` writes, head then
                     body, with Nagle's algorithm on
  --deadline-ms MS   Lambda-Runtime-Deadline-Ms of every invocation (default: now + 900 s)
  --memory MB        AWS_LAMBDA_FUNCTION_MEMORY_SIZE (default 128)
  --env NAME=VALUE   an extra variable for COMMAND (may be repeated)
  --timeout SECS     give up waiting for one answer after SECS (default 120)
  --no-body          leave the answers' bodies out of the output
  --quiet            discard COMMAND's output (default: it goes to stderr)
  -h, --help         this text";

/// How invocations are queued.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Arrivals {
    /// Each one when the answer to the one before it has arrived.
    OneAfterAnother,
    /// On a clock: each round of the event list spread evenly over the period.
    Open { period: Duration },
    /// All at the start.
    AllAtOnce,
}

struct Args {
    events: Vec<PathBuf>,
    repeat: usize,
    arrivals: Arrivals,
    writes: Writes,
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
        arrivals: Arrivals::OneAfterAnother,
        writes: Writes::default(),
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
            "--open" => {
                let period: f64 = value(i, flag)?
                    .parse()
                    .ok()
                    .filter(|ms: &f64| ms.is_finite() && *ms > 0.0)
                    .ok_or("--open needs a period in ms above 0")?;
                args.arrivals = Arrivals::Open {
                    period: Duration::from_secs_f64(period / 1e3),
                };
                i += 1;
            }
            "--all-at-once" => args.arrivals = Arrivals::AllAtOnce,
            "--writes" => {
                let name = value(i, flag)?;
                args.writes = Writes::from_name(&name)
                    .ok_or(format!("--writes needs `one` or `two`, got {name:?}"))?;
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

/// One event file.
struct Event {
    name: String,
    payload: Arc<[u8]>,
}

/// One invocation as queued: which event, which round, and its request id.
struct Queued {
    event: usize,
    round: usize,
    request_id: String,
}

/// Runs the whole session; `Ok(false)` when some invocation got no answer.
fn run(args: &Args) -> Result<bool, String> {
    let events = args
        .events
        .iter()
        .map(|path| {
            std::fs::read(path)
                .map(|bytes| Event {
                    name: path.display().to_string(),
                    payload: Arc::from(bytes),
                })
                .map_err(|e| format!("cannot read {}: {e}", path.display()))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let peer = Arc::new(
        RuntimeApiPeer::start_with(Options {
            invoke_timeout: args.timeout,
            writes: args.writes,
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

    // Init first, so that the CPU time counted below is the invocations' alone.
    let init_ms = peer
        .wait_for_first_next(args.timeout)
        .ok()
        .map(|at| ms(at.saturating_duration_since(spawned_at)));
    let before = process_stat(pid);
    let rss_before_kb = status_kb(pid, "VmRSS:");
    let started = Instant::now();
    let (outcomes, answered_all, after_first) = match args.arrivals {
        Arrivals::OneAfterAnother => one_after_another(&peer, args, &events, pid),
        Arrivals::Open { period } => {
            let (outcomes, answered_all) = scheduled(&peer, args, &events, Some(period));
            (outcomes, answered_all, None)
        }
        Arrivals::AllAtOnce => {
            let (outcomes, answered_all) = scheduled(&peer, args, &events, None);
            (outcomes, answered_all, None)
        }
    };
    let elapsed = started.elapsed();
    let after = process_stat(pid);
    let rss_after_kb = status_kb(pid, "VmRSS:");

    let (mut invocations, mut errors) = (0usize, 0usize);
    for (queued, outcome) in &outcomes {
        let event = &events[queued.event];
        invocations += 1;
        if outcome.is_error() {
            errors += 1;
        }
        let mut line = json!({
            "type": "invocation",
            "event": event.name,
            "round": queued.round,
            "request_id": outcome.request_id,
            "outcome": if outcome.is_response() { "response" } else { "error" },
            "error_type": outcome.error_type,
            "payload_bytes": event.payload.len(),
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

    done.store(true, Ordering::SeqCst);
    let mut child = child.lock().unwrap_or_else(|p| p.into_inner());
    let exited = child.try_wait().ok().flatten();
    // Read before the kill: afterwards /proc/PID is gone.
    let peak_rss_kb = if exited.is_none() {
        status_kb(pid, "VmHWM:")
    } else {
        None
    };
    let _ = child.kill();
    let _ = child.wait();
    drop(child);
    let _ = watcher.join();
    let hz = clock_ticks_per_second();
    // CPU time, in ms, between two readings of /proc/PID/stat.
    let cpu_ms_between = |from: ProcessStat, to: ProcessStat| {
        hz.map(|hz| to.cpu_ticks.saturating_sub(from.cpu_ticks) as f64 * 1e3 / hz as f64)
    };
    let per_invocation = |from: Option<ProcessStat>, count: usize| -> (Option<f64>, Option<f64>) {
        let (Some(from), Some(to), true) = (from, after, count > 0) else {
            return (None, None);
        };
        let round = |value: f64, places: f64| (value * places).round() / places;
        let cpu = cpu_ms_between(from, to).map(|ms| round(ms / count as f64, 1e3));
        let faults = to.minor_faults.saturating_sub(from.minor_faults) as f64 / count as f64;
        (cpu, Some(round(faults, 10.0)))
    };
    let (cpu_per_invocation, faults_per_invocation) = per_invocation(before, invocations);
    let (cpu_after_first, faults_after_first) =
        per_invocation(after_first, invocations.saturating_sub(1));
    let cpu_ms = before
        .zip(after)
        .and_then(|(from, to)| cpu_ms_between(from, to));
    let init_errors: Vec<String> = peer.init_errors().iter().map(|e| e.to_string()).collect();
    println!(
        "{}",
        json!({
            "type": "summary",
            "invocations": invocations,
            "errors": errors,
            "init_ms": init_ms,
            "cpu_ms": cpu_ms,
            "cpu_ms_per_invocation": cpu_per_invocation,
            "minor_faults_per_invocation": faults_per_invocation,
            "cpu_ms_per_invocation_after_first": cpu_after_first,
            "minor_faults_per_invocation_after_first": faults_after_first,
            "max_in_flight": peer.max_in_flight(),
            "elapsed_ms": ms(elapsed),
            "throughput_per_s": (invocations as f64 / elapsed.as_secs_f64() * 10.0).round() / 10.0,
            "peak_rss_kb": peak_rss_kb,
            "rss_before_kb": rss_before_kb,
            "rss_after_kb": rss_after_kb,
            "exited": exited.map(|status| status.to_string()),
            "init_errors": init_errors,
            "problems": peer.problems(),
            "writes": args.writes.name(),
        })
    );
    Ok(answered_all)
}

/// Each invocation queued when the one before it has been answered.
/// Also returns `/proc/PID/stat` as it was once the first invocation was answered, so that the
/// steady state can be told from the first invocation, which maps the memory the rest reuse.
fn one_after_another(
    peer: &RuntimeApiPeer,
    args: &Args,
    events: &[Event],
    pid: u32,
) -> (Vec<(Queued, Outcome)>, bool, Option<ProcessStat>) {
    let mut outcomes = Vec::new();
    let mut after_first = None;
    for round in 1..=args.repeat {
        for (index, event) in events.iter().enumerate() {
            let request_id = peer.enqueue_shared(Arc::clone(&event.payload), args.deadline_ms);
            match peer.wait(&request_id, args.timeout) {
                Ok(outcome) => outcomes.push((
                    Queued {
                        event: index,
                        round,
                        request_id,
                    },
                    outcome,
                )),
                Err(error) => {
                    eprintln!("runtime-api-peer: {}, round {round}: {error}", event.name);
                    return (outcomes, false, after_first);
                }
            }
            if outcomes.len() == 1 {
                after_first = process_stat(pid);
            }
        }
    }
    (outcomes, true, after_first)
}

/// Every invocation queued on a clock (`period` per round of the list), or all at once
/// (`None`), then every answer awaited.
fn scheduled(
    peer: &RuntimeApiPeer,
    args: &Args,
    events: &[Event],
    period: Option<Duration>,
) -> (Vec<(Queued, Outcome)>, bool) {
    let started = Instant::now();
    let mut queued = Vec::new();
    for round in 1..=args.repeat {
        for (index, event) in events.iter().enumerate() {
            if let Some(period) = period {
                let slot = (round - 1) * events.len() + index;
                let due = started + period.mul_f64(slot as f64 / events.len() as f64);
                sleep_until(due);
            }
            let request_id = peer.enqueue_shared(Arc::clone(&event.payload), args.deadline_ms);
            queued.push(Queued {
                event: index,
                round,
                request_id,
            });
        }
    }
    let mut outcomes = Vec::new();
    let mut answered_all = true;
    for invocation in queued {
        match peer.wait(&invocation.request_id, args.timeout) {
            Ok(outcome) => outcomes.push((invocation, outcome)),
            Err(error) => {
                eprintln!(
                    "runtime-api-peer: {}, round {}: {error}",
                    events[invocation.event].name, invocation.round
                );
                answered_all = false;
            }
        }
    }
    (outcomes, answered_all)
}

/// Sleeps until `due`, finishing with a short spin so that arrivals keep to the clock within
/// some microseconds rather than a scheduler tick.
fn sleep_until(due: Instant) {
    const SPIN: Duration = Duration::from_micros(200);
    loop {
        let now = Instant::now();
        if now >= due {
            return;
        }
        let left = due - now;
        if left > SPIN {
            thread::sleep(left - SPIN);
        } else {
            std::hint::spin_loop();
        }
    }
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

/// A field of a live process's `/proc/PID/status` in kB, such as `VmRSS:` (resident now) or
/// `VmHWM:` (the most ever resident).
fn status_kb(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix(field))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()
}

/// What `/proc/PID/stat` says of a live process and all its threads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct ProcessStat {
    /// Minor page faults (field 10): pages the process touched for the first time since they
    /// were mapped, such as memory the allocator took from the kernel afresh.
    minor_faults: u64,
    /// User plus system CPU time (fields 14 and 15), in clock ticks.
    cpu_ticks: u64,
}

fn process_stat(pid: u32) -> Option<ProcessStat> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_stat(&stat)
}

/// Fields 10, 14 and 15 of a `/proc/PID/stat` line. The second field, the command name in
/// parentheses, may hold spaces, so fields are counted after its `)`.
fn parse_stat(stat: &str) -> Option<ProcessStat> {
    let after_name = &stat[stat.rfind(')')? + 1..];
    // After the name, field 3 (state) is the first: field N is at index N - 3.
    let fields: Vec<&str> = after_name.split_ascii_whitespace().collect();
    let field = |n: usize| -> Option<u64> { fields.get(n - 3)?.parse().ok() };
    Some(ProcessStat {
        minor_faults: field(10)?,
        cpu_ticks: field(14)? + field(15)?,
    })
}

/// `getconf CLK_TCK`: the unit of `/proc/PID/stat`'s times (100 on Linux's usual builds).
fn clock_ticks_per_second() -> Option<u64> {
    let output = Command::new("getconf").arg("CLK_TCK").output().ok()?;
    String::from_utf8(output.stdout).ok()?.trim().parse().ok()
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
        assert_eq!(args.arrivals, Arrivals::OneAfterAnother);
        assert_eq!(args.writes, Writes::OneWriteNoDelay);
        let args = parse_args(&strings(&[
            "--events", "a.json", "--open", "15", "--writes", "two", "--", "bin",
        ]))
        .unwrap()
        .unwrap();
        assert_eq!(
            args.arrivals,
            Arrivals::Open {
                period: Duration::from_millis(15)
            }
        );
        assert_eq!(args.writes, Writes::TwoWritesNagle);
        assert!(parse_args(&strings(&["--help"])).unwrap().is_none());
        for bad in [
            &["--", "bin"][..],
            &["--events", "a.json"],
            &["--events", "--", "bin"],
            &["--events", "a", "--repeat", "0", "--", "bin"],
            &["--events", "a", "--bogus", "--", "bin"],
            &["--events", "a", "--writes", "three", "--", "bin"],
            &["--events", "a", "--open", "0", "--", "bin"],
        ] {
            assert!(parse_args(&strings(bad)).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn faults_are_field_10_and_cpu_fields_14_and_15() {
        // A command name with spaces and a parenthesis, as a process may give itself.
        let stat = "4242 (a (b) c) S 1 4242 4242 0 -1 4194560 100 0 0 0 37 5 0 0 20 0 3 0";
        assert_eq!(
            parse_stat(stat),
            Some(ProcessStat {
                minor_faults: 100,
                cpu_ticks: 42
            })
        );
        assert_eq!(parse_stat("4242 (x) S 1 2"), None);
        assert!(process_stat(std::process::id()).is_some());
        assert!(clock_ticks_per_second().is_some_and(|hz| hz > 0));
    }

    #[test]
    fn peak_rss_of_this_process() {
        assert!(status_kb(std::process::id(), "VmHWM:").is_some_and(|kb| kb > 0));
        assert!(status_kb(std::process::id(), "VmRSS:").is_some_and(|kb| kb > 0));
        assert_eq!(status_kb(std::process::id(), "NoSuchField:"), None);
    }
}
