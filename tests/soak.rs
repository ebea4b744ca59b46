//! Memory for the life of an execution environment, through the release binary in Lambda
//! mode and the Runtime API peer:
//!
//! - 200,000 small invocations, each with its own X-Ray trace id as Lambda sends them: the
//!   resident set does not grow after warm-up;
//! - invocations of every kind (small valid events of every form, 100,000-item events, rejected
//!   events), after a warm-up on the largest event: every answer is right, and the resident set
//!   does not grow either;
//! - a function configured with `MemorySize: 128` answers the largest events Lambda accepts, run
//!   under a 128 MiB memory limit (a memory cgroup, or `prlimit --data` where the kernel offers
//!   none).
//!
//! Growth is judged as a trend over the run (tests/support/memory_trend.rs), never as two
//! samples: an allocator step of up to 2 MiB passes, a leak of 50 bytes per invocation fails.
//! The figures are printed (`--nocapture`). `SOAK_INVOCATIONS` runs longer soaks.

mod common;
#[path = "support/lambda_process.rs"]
mod lambda_process;
#[path = "support/memory_trend.rs"]
mod memory_trend;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use lambda_process::{LambdaProcess, INHERITED_SETTINGS};
use memory_trend::{resident_bytes, Trend};
use runtime_api_peer::RuntimeApiPeer;
use serde_json::{json, Value};

/// The mix repeats every `PERIOD` invocations.
const PERIOD: usize = 100;
const WORKERS: usize = 2;
const BIG_ITEMS: usize = 100_000;
/// Periods of the mix run before the mixed soak's trend is taken.
const WARM_UP_PERIODS: usize = 30;
/// Resident memory is sampled every this many invocations.
const SAMPLE_EVERY: usize = 1_000;

/// `SOAK_INVOCATIONS` scales both soaks (a multiple of 1,000; at least the defaults' tenth).
fn invocations(default: usize) -> usize {
    std::env::var("SOAK_INVOCATIONS")
        .ok()
        .and_then(|n| n.parse().ok())
        .map_or(default, |n: usize| {
            (n / SAMPLE_EVERY * SAMPLE_EVERY).max(default / 10)
        })
}

/// The release binary in Lambda mode at width [`WORKERS`], once it has asked for its first
/// invocation.
fn start() -> LambdaProcess {
    let peer = RuntimeApiPeer::start().expect("the Runtime API peer starts");
    let function = LambdaProcess::start(
        common::release_binary(),
        peer,
        &[("MAX_WORKERS", &WORKERS.to_string())],
    );
    function
        .peer
        .wait_for_first_next(Duration::from_secs(60))
        .unwrap_or_else(|e| panic!("{e}\n{}", function.output_text()));
    function
}

/// What an invocation must answer.
#[derive(Clone, Debug)]
enum Expected {
    /// The whole response, `workers` included.
    Response(Value),
    /// An InvalidEvent with this message.
    Rejected(String),
}

/// A `{"items": [...]}`-like event of `items` items in `form` (0 direct, 1 bare array, 2 batch),
/// item `i` with frequency `(i * step) % 23`, threshold `threshold` (given in the event, except
/// for the bare array, which gets the default 10), and indices when asked.
fn valid(
    items: usize,
    form: usize,
    step: usize,
    threshold: u32,
    indices: bool,
) -> (Vec<u8>, Expected) {
    let threshold = if form == 1 { 10 } else { threshold };
    let indices = indices && form != 1;
    let mut list = String::with_capacity(items * 56 + 2);
    list.push('[');
    let mut high = Vec::new();
    for i in 0..items {
        if i > 0 {
            list.push_str(", ");
        }
        let frequency = (i * step) % 23;
        list.push_str(&format!(
            "{{\"id\": {i}, \"name\": \"item-{i}\", \"frequency\": {frequency}}}"
        ));
        if frequency as u32 > threshold {
            high.push(i);
        }
    }
    list.push(']');
    let payload = match form {
        0 => format!("{{\"items\": {list}, \"threshold\": {threshold}, \"include_indices\": {indices}}}"),
        1 => list,
        _ => format!(
            "{{\"Items\": {list}, \"BatchInput\": {{\"threshold\": {threshold}, \"include_indices\": {indices}}}}}"
        ),
    };
    let mut response = json!({
        "high_frequency_count": high.len(),
        "total_items": items,
        "threshold": threshold,
        "workers": WORKERS,
    });
    if indices {
        response["high_frequency_indices"] = json!(high);
    }
    (payload.into_bytes(), Expected::Response(response))
}

/// Rejected events and their messages.
fn rejected() -> Vec<(Vec<u8>, Expected)> {
    let deep = format!(
        "{{\"items\": [{{\"frequency\": 1, \"x\": {}{}}}]}}",
        "[".repeat(200),
        "]".repeat(200)
    );
    [
        (br#"{"items": [{"frequency": 1}, {"frequency": "2"}]}"#.to_vec(), "items[1].frequency: expected a number, found a string"),
        (br#"[{"frequency": 1}, {"frequency": 2}"#.to_vec(), "$: malformed JSON: expected `,` or `]`, found the end of the input at line 1 column 36"),
        (b"[{\"frequency\": 1, \"s\": \"\xff\"}]".to_vec(), "$: malformed JSON: invalid UTF-8 at line 1 column 25"),
        (br#"{"data": []}"#.to_vec(), "items: expected an array of items under \"items\" (or \"Items\" for a Step Functions batch), or a bare array, found an object with neither member"),
        (br#"{"Items": [], "BatchInput": {"threshold": "ten"}}"#.to_vec(), "BatchInput.threshold: expected a number, found a string"),
        (deep.into_bytes(), "items[0]: malformed JSON: arrays and objects nested more than 127 levels deep at line 1 column 158"),
        (br#"[{"frequency": 1, "frequency": 2}]"#.to_vec(), "[0].frequency: expected one \"frequency\" member, found a second one"),
    ]
    .into_iter()
    .map(|(payload, message)| (payload, Expected::Rejected(message.to_string())))
    .collect()
}

fn check(outcome: &runtime_api_peer::Outcome, expected: &Expected, n: usize) -> Result<(), String> {
    let body: Value = outcome
        .json()
        .map_err(|e| format!("invocation {n}: not JSON ({e}): {}", outcome.body_text()))?;
    match expected {
        Expected::Response(response) if outcome.is_response() && body == *response => Ok(()),
        Expected::Rejected(message)
            if outcome.is_error()
                && outcome.error_type.as_deref() == Some("InvalidEvent")
                && body["errorType"] == "InvalidEvent"
                && body["errorMessage"] == message.as_str() =>
        {
            Ok(())
        }
        _ => Err(format!(
            "invocation {n}: expected {expected:?}, got {} {}",
            if outcome.is_error() {
                "an error"
            } else {
                "a response"
            },
            outcome.body_text().chars().take(500).collect::<String>()
        )),
    }
}

#[test]
fn the_trend_judge_passes_a_2_mib_step_and_fails_a_50_byte_leak() {
    use memory_trend::synthetic::run;
    const MIB: f64 = 1024.0 * 1024.0;
    for span in [150_000, 200_000] {
        let flat = run(span, 0.0, 0.0, 0.0).judge();
        assert!(flat.is_flat(), "flat: {flat}");
        for at in [0.1, 0.25, 0.5, 0.75, 0.9] {
            let step = run(span, 0.0, 2.0 * MIB, at).judge();
            assert!(step.is_flat(), "a 2 MiB step at {at} of {span}: {step}");
        }
        let leak = run(span, 50.0, 0.0, 0.0).judge();
        assert!(!leak.is_flat(), "a 50-byte leak over {span}: {leak}");
        // A leak hidden behind memory given back halfway still shows.
        let leak = run(span, 50.0, -2.0 * MIB, 0.5).judge();
        assert!(
            !leak.is_flat(),
            "a 50-byte leak and a 2 MiB drop over {span}: {leak}"
        );
    }
}

#[test]
fn two_hundred_thousand_distinct_trace_ids_leave_resident_memory_flat() {
    const WARM_UP: usize = 5_000;
    let invocations = invocations(200_000);
    let (payload, expected) = valid(50, 0, 3, 10, true);
    let mut function = start();
    // No fixed trace id: the peer sends a fresh one with every invocation, as Lambda does.
    function.peer.set_fixed_trace_id(None);
    for n in 0..WARM_UP {
        check(&function.invoke(payload.clone()), &expected, n).unwrap();
    }
    let pid = function.pid();
    let started = Instant::now();
    let mut trend = Trend::default();
    trend.push(0, resident_bytes(pid));
    for n in 1..=invocations {
        let outcome = function.invoke(payload.clone());
        check(&outcome, &expected, n).unwrap();
        if n % SAMPLE_EVERY == 0 {
            trend.push(n as u64, resident_bytes(pid));
        }
    }
    function.assert_alive();
    function.assert_clean_protocol();
    let verdict = trend.judge();
    println!(
        "trace ids: {invocations} invocations after {WARM_UP} of warm-up, each with its own trace \
         id, in {:.1} s: {verdict}",
        started.elapsed().as_secs_f64()
    );
    assert!(
        verdict.is_flat(),
        "resident memory grows with distinct trace ids: {verdict}; samples (invocations, bytes) \
         {:?}",
        trend.samples
    );
}

#[test]
fn mixed_invocations_after_a_warm_up_on_the_largest_event_are_right_and_leave_memory_flat() {
    let invocations = invocations(150_000);
    let big = [
        valid(BIG_ITEMS, 0, 1, 10, false),
        valid(BIG_ITEMS, 1, 7, 10, false),
        valid(BIG_ITEMS, 2, 5, 17, true),
    ];
    for (payload, _) in &big {
        assert!(payload.len() > 5_000_000, "{}", payload.len());
    }
    let rejected = rejected();
    // The small valid events of one period.
    let small: Vec<(Vec<u8>, Expected)> = (0..PERIOD)
        .map(|k| {
            valid(
                (k * 37) % 300,
                k % 3,
                1 + k % 5,
                (k % 25) as u32,
                k % 4 == 0,
            )
        })
        .collect();
    // One large event in every period, each form in turn, and ten rejected ones.
    let plan = |n: usize| -> &(Vec<u8>, Expected) {
        let k = n % PERIOD;
        match k {
            37 => &big[(n / PERIOD) % big.len()],
            _ if k % 10 == 3 => &rejected[(n / 10) % rejected.len()],
            _ => &small[k],
        }
    };

    let mut function = start();
    // Warm-up: the largest events of each form, then thirty periods of everything, so that the
    // buffers kept between invocations (the payload's, and the parts' up to their bound) have
    // grown to what the mix needs before the trend is taken.
    for (n, (payload, expected)) in big.iter().chain(big.iter()).enumerate() {
        check(&function.invoke(payload.clone()), expected, n).unwrap();
    }
    for n in 0..WARM_UP_PERIODS * PERIOD {
        let (payload, expected) = plan(n);
        check(&function.invoke(payload.clone()), expected, n).unwrap();
    }
    let pid = function.pid();
    let started = Instant::now();
    let mut trend = Trend::default();
    trend.push(0, resident_bytes(pid));
    let mut failures = Vec::new();
    let (mut big_count, mut rejected_count) = (0, 0);
    for n in 1..=invocations {
        let (payload, expected) = plan(n);
        if payload.len() > 1_000_000 {
            big_count += 1;
        }
        if matches!(expected, Expected::Rejected(_)) {
            rejected_count += 1;
        }
        if let Err(failure) = check(&function.invoke(payload.clone()), expected, n) {
            failures.push(failure);
        }
        if n % SAMPLE_EVERY == 0 {
            trend.push(n as u64, resident_bytes(pid));
        }
    }
    function.assert_alive();
    function.assert_clean_protocol();
    let verdict = trend.judge();
    println!(
        "soak: VmRSS every {SAMPLE_EVERY} invocations (kB): {:?}",
        trend
            .samples
            .iter()
            .map(|&(_, rss)| rss / 1024)
            .collect::<Vec<_>>()
    );
    println!(
        "soak: {invocations} invocations ({big_count} of {BIG_ITEMS} items, {rejected_count} \
         rejected, {} small valid) in {:.1} s at width {WORKERS}, after a warm-up on the largest \
         events; failures: {}; {verdict}",
        invocations - big_count - rejected_count,
        started.elapsed().as_secs_f64(),
        failures.len()
    );
    assert!(
        failures.is_empty(),
        "{} wrong answers, the first: {:#?}",
        failures.len(),
        &failures[..failures.len().min(5)]
    );
    assert!(
        verdict.is_flat(),
        "resident memory grows with mixed invocations: {verdict}; samples (invocations, bytes) \
         {:?}",
        trend.samples
    );
}

/// 128 MiB, the smallest memory a Lambda function can have.
const LIMIT_BYTES: u64 = 128 * 1024 * 1024;

/// How a process is held to [`LIMIT_BYTES`].
enum MemoryLimit {
    /// A memory cgroup of its own (the directory), as Lambda holds a function to its
    /// `MemorySize`: it counts the pages the process really uses.
    Cgroup { dir: PathBuf, v2: bool },
    /// `RLIMIT_DATA`: heap, anonymous mappings and thread stacks, counted as mapped.
    DataRlimit,
}

impl MemoryLimit {
    /// A cgroup where root may make one (v2's unified hierarchy with the memory controller,
    /// else v1's memory controller), else `prlimit --data`.
    fn new(name: &str) -> MemoryLimit {
        let candidates = [
            (Path::new("/sys/fs/cgroup"), true),
            (Path::new("/sys/fs/cgroup/unified"), true),
            (Path::new("/sys/fs/cgroup/memory"), false),
        ];
        for (root, v2) in candidates {
            let usable = if v2 {
                std::fs::read_to_string(root.join("cgroup.controllers"))
                    .is_ok_and(|controllers| controllers.split_whitespace().any(|c| c == "memory"))
            } else {
                root.join("memory.limit_in_bytes").is_file()
            };
            if !usable {
                continue;
            }
            let dir = root.join(format!("{name}-{}", std::process::id()));
            let limit_file = if v2 {
                "memory.max"
            } else {
                "memory.limit_in_bytes"
            };
            let made = std::fs::create_dir_all(&dir).is_ok()
                && std::fs::write(dir.join(limit_file), LIMIT_BYTES.to_string()).is_ok();
            if made {
                if v2 {
                    let _ = std::fs::write(dir.join("memory.swap.max"), "0");
                }
                return MemoryLimit::Cgroup { dir, v2 };
            }
            let _ = std::fs::remove_dir(&dir);
        }
        MemoryLimit::DataRlimit
    }

    /// The command that runs `binary` under the limit.
    fn command(&self, binary: &Path) -> Command {
        match self {
            MemoryLimit::Cgroup { dir, .. } => {
                // The shell joins the cgroup, then becomes the function.
                let mut command = Command::new("sh");
                command
                    .arg("-c")
                    .arg("echo $$ > \"$0/cgroup.procs\" && exec \"$1\"")
                    .arg(dir)
                    .arg(binary);
                command
            }
            MemoryLimit::DataRlimit => {
                let mut command = Command::new("prlimit");
                command
                    .arg(format!("--data={LIMIT_BYTES}"))
                    .arg("--")
                    .arg(binary);
                command
            }
        }
    }

    /// Proof that `pid` runs under the limit, and its peak use as the limit counts it.
    fn describe(&self, pid: u32) -> String {
        match self {
            MemoryLimit::Cgroup { dir, v2 } => {
                let cgroup = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
                let name = dir.file_name().unwrap().to_string_lossy().into_owned();
                assert!(
                    cgroup.contains(&name),
                    "{pid} is not in {}: {cgroup}",
                    dir.display()
                );
                let (limit, peak) = if *v2 {
                    ("memory.max", "memory.peak")
                } else {
                    ("memory.limit_in_bytes", "memory.max_usage_in_bytes")
                };
                let read = |file: &str| {
                    std::fs::read_to_string(dir.join(file))
                        .map(|text| text.trim().to_string())
                        .unwrap_or_else(|_| "unknown".into())
                };
                assert_eq!(read(limit), LIMIT_BYTES.to_string());
                format!(
                    "memory cgroup {} (limit {} bytes, peak use {} bytes)",
                    dir.display(),
                    read(limit),
                    read(peak)
                )
            }
            MemoryLimit::DataRlimit => {
                let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).unwrap();
                let line = limits
                    .lines()
                    .find(|line| line.starts_with("Max data size"))
                    .unwrap()
                    .to_string();
                assert!(line.contains(&LIMIT_BYTES.to_string()), "{line}");
                format!("prlimit --data ({line})")
            }
        }
    }
}

impl Drop for MemoryLimit {
    fn drop(&mut self) {
        if let MemoryLimit::Cgroup { dir, .. } = self {
            let _ = std::fs::remove_dir(dir);
        }
    }
}

#[test]
fn a_128_mb_function_answers_the_largest_events_under_a_128_mib_memory_limit() {
    let limit = MemoryLimit::new("frequency-fanout-128mb");
    let peer = RuntimeApiPeer::start().expect("the Runtime API peer starts");
    let mut command = limit.command(common::release_binary());
    for name in INHERITED_SETTINGS {
        command.env_remove(name);
    }
    // MemorySize 128: the pool's width follows it (one worker).
    command
        .envs(peer.lambda_env())
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128");
    let mut function = LambdaProcess::spawn(peer, command);
    function
        .peer
        .wait_for_first_next(Duration::from_secs(60))
        .unwrap_or_else(|e| panic!("{e}\n{}", function.output_text()));
    let pid = function.pid();
    // The 100,000-item event (5.3 MB), and one as close to Lambda's 6 MB limit as items go.
    let largest = frequency_fanout::sample::event(117_000);
    assert!(largest.len() <= 6 * 1024 * 1024, "{}", largest.len());
    let events = [
        (frequency_fanout::sample::event(BIG_ITEMS), BIG_ITEMS, 50),
        (largest, 117_000, 10),
    ];
    let mut answered = 0;
    for (payload, items, times) in &events {
        let expected = reference_count(payload);
        for n in 0..*times {
            let outcome = function.invoke(payload.clone());
            let body: Value = outcome.json().unwrap_or_else(|e| {
                panic!("invocation {n}: not JSON ({e}): {}", outcome.body_text())
            });
            assert!(
                outcome.is_response()
                    && body["total_items"] == *items
                    && body["high_frequency_count"] == expected
                    && body["workers"] == 1,
                "invocation {n} of the {items}-item event: {body}\n{}",
                function.output_text()
            );
            answered += 1;
        }
    }
    function.assert_alive();
    function.assert_clean_protocol();
    let how = limit.describe(pid);
    let hwm = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap()
        .lines()
        .find(|line| line.starts_with("VmHWM:"))
        .unwrap()
        .to_string();
    println!("128 MB: {answered} invocations of the largest events answered under {how}; {hwm}");
}

/// The high-frequency count of a generated event, by serde_json (threshold 10).
fn reference_count(payload: &[u8]) -> usize {
    let event: Value = serde_json::from_slice(payload).unwrap();
    event["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|item| item["frequency"].as_f64().unwrap() > 10.0)
        .count()
}
