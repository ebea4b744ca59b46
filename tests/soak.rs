//! Soak: one process of the release binary serves 10,000 invocations through the Runtime API
//! peer, a mix of small valid events (every form, some asking for indices), 100,000-item
//! events (3 in every 100 invocations) and rejected events (10 in every 100). Every answer is
//! checked, the process must be alive at the end, and its resident memory at the end must be
//! within 5% of what it was after warm-up. The figures are printed (`--nocapture`).
//!
//! The soak sends one X-Ray trace id with every invocation. lambda_runtime copies each
//! invocation's trace id into the environment variable `_X_AMZN_TRACE_ID` with
//! `std::env::set_var`, and glibc's `setenv` keeps every distinct value it has ever been given
//! (a caller may still hold the old string), so with Lambda's fresh trace id per invocation the
//! process grows by about 150 bytes per invocation whatever the function does. The second test
//! measures that growth on its own, and shows that it is the only one.

mod common;
#[path = "support/lambda_process.rs"]
mod lambda_process;

use std::time::{Duration, Instant};

use lambda_process::LambdaProcess;
use runtime_api_peer::RuntimeApiPeer;
use serde_json::{json, Value};

const INVOCATIONS: usize = 10_000;

/// `SOAK_INVOCATIONS` runs a longer soak (a multiple of the period; at least 3,000).
fn invocations() -> usize {
    std::env::var("SOAK_INVOCATIONS")
        .ok()
        .and_then(|n| n.parse().ok())
        .map_or(INVOCATIONS, |n: usize| (n / PERIOD * PERIOD).max(3_000))
}
/// The mix repeats every `PERIOD` invocations, so that samples taken at the same point of two
/// periods follow the same work.
const PERIOD: usize = 100;
const WARM_UP: usize = 1_000;
const WORKERS: usize = 2;
const BIG_ITEMS: usize = 100_000;
const TRACE_ID: &str = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1";

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
        (deep.into_bytes(), "items[0]: malformed JSON: recursion limit exceeded at line 1 column 158"),
        (br#"[{"frequency": 1, "frequency": 2}]"#.to_vec(), "[0].frequency: expected one \"frequency\" member, found a second one"),
    ]
    .into_iter()
    .map(|(payload, message)| (payload, Expected::Rejected(message.to_string())))
    .collect()
}

/// `VmRSS` and `VmHWM` of a process, in kB.
fn memory_kb(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("/proc/PID/status");
    let field = |name: &str| {
        status
            .lines()
            .find_map(|line| line.strip_prefix(name))
            .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or_else(|| panic!("no {name} in /proc/{pid}/status"))
    };
    (field("VmRSS:"), field("VmHWM:"))
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
fn one_process_serves_10000_mixed_invocations_with_every_answer_right_and_flat_memory() {
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
    let plan = |n: usize| -> &(Vec<u8>, Expected) {
        let k = n % PERIOD;
        match k {
            37 => &big[0],
            71 => &big[1],
            99 => &big[2],
            _ if k % 10 == 3 => &rejected[(n / 10) % rejected.len()],
            _ => &small[k],
        }
    };

    let peer = RuntimeApiPeer::start().expect("the Runtime API peer starts");
    let mut function = LambdaProcess::start(
        common::release_binary(),
        peer,
        &[("MAX_WORKERS", &WORKERS.to_string())],
    );
    function
        .peer
        .wait_for_first_next(Duration::from_secs(60))
        .unwrap_or_else(|e| panic!("{e}\n{}", function.output_text()));
    // One trace id for every invocation: see the next test for what distinct ones cost.
    function.peer.set_fixed_trace_id(Some(TRACE_ID));
    let pid = function.pid();
    let (rss_start, _) = memory_kb(pid);

    let started = Instant::now();
    let mut failures = Vec::new();
    let (mut big_count, mut rejected_count) = (0, 0);
    let mut rss_warm = 0;
    let mut samples = Vec::new();
    let invocations = invocations();
    for n in 0..invocations {
        let (payload, expected) = plan(n);
        if payload.len() > 1_000_000 {
            big_count += 1;
        }
        if matches!(expected, Expected::Rejected(_)) {
            rejected_count += 1;
        }
        match function.peer.invoke(payload.clone()) {
            Ok(outcome) => {
                if let Err(failure) = check(&outcome, expected, n) {
                    failures.push(failure);
                }
            }
            Err(error) => panic!("invocation {n}: {error}\n{}", function.output_text()),
        }
        if (n + 1) % PERIOD == 0 {
            let (rss, _) = memory_kb(pid);
            samples.push(rss);
            if n + 1 == WARM_UP {
                rss_warm = rss;
            }
        }
    }
    let elapsed = started.elapsed();
    println!("soak: VmRSS every {PERIOD} invocations (kB): {samples:?}");
    function.assert_alive();
    function.assert_clean_protocol();
    let (rss_end, hwm_end) = memory_kb(pid);
    // glibc gives memory back to the system now and then, so a single sample can dip far below
    // the process's working size; each figure is the highest of ten samples taken at the same
    // point of ten periods: the ten periods after warm-up, and the last ten.
    let first = WARM_UP / PERIOD - 1;
    let rss_after_warm_up = *samples[first..first + 10].iter().max().unwrap();
    let rss_at_end = *samples[samples.len() - 10..].iter().max().unwrap();
    let growth = (rss_at_end as f64 - rss_after_warm_up as f64) / rss_after_warm_up as f64 * 100.0;
    let after_warm_up = &samples[first..];
    let (min_after, max_after) = (
        after_warm_up.iter().min().unwrap(),
        after_warm_up.iter().max().unwrap(),
    );
    println!(
        "soak: {invocations} invocations ({big_count} of {BIG_ITEMS} items, {rejected_count} rejected, {} small valid) in {:.1} s at width {WORKERS}; failures: {}; process alive at the end",
        invocations - big_count - rejected_count,
        elapsed.as_secs_f64(),
        failures.len()
    );
    println!(
        "soak: VmRSS at start {rss_start} kB; after warm-up ({WARM_UP} invocations) {rss_warm} kB, highest of the next ten samples {rss_after_warm_up} kB; at the end {rss_end} kB, highest of the last ten samples {rss_at_end} kB ({growth:+.2}%); every sample after warm-up between {min_after} and {max_after} kB; VmHWM (peak) {hwm_end} kB"
    );
    assert!(
        failures.is_empty(),
        "{} wrong answers, the first: {:#?}",
        failures.len(),
        &failures[..failures.len().min(5)]
    );
    assert!(
        growth < 5.0,
        "resident memory grew by {growth:.2}% after warm-up ({rss_after_warm_up} kB to {rss_at_end} kB); samples {samples:?}"
    );
}

#[test]
fn distinct_trace_ids_are_the_only_growth_and_it_is_lambda_runtimes_environment_variable() {
    const N: usize = 20_000;
    let (payload, expected) = valid(50, 0, 3, 10, true);
    let peer = RuntimeApiPeer::start().expect("the Runtime API peer starts");
    let mut function = LambdaProcess::start(
        common::release_binary(),
        peer,
        &[("MAX_WORKERS", &WORKERS.to_string())],
    );
    let pid = function.pid();
    let run = |distinct: bool| -> (u64, u64) {
        function.peer.set_fixed_trace_id(Some(TRACE_ID));
        for n in 0..1_000 {
            let outcome = function.invoke(payload.clone());
            check(&outcome, &expected, n).unwrap();
        }
        let (before, _) = memory_kb(pid);
        for n in 0..N {
            if distinct {
                let id = format!("Root=1-5759e988-{n:024x};Parent=53995c3f42cd8ad8;Sampled=1");
                function.peer.set_fixed_trace_id(Some(&id));
            }
            let outcome = function.invoke(payload.clone());
            check(&outcome, &expected, n).unwrap();
        }
        let (after, _) = memory_kb(pid);
        (before, after)
    };
    let (fixed_before, fixed_after) = run(false);
    let (distinct_before, distinct_after) = run(true);
    function.assert_alive();
    function.assert_clean_protocol();
    let per_invocation =
        |before: u64, after: u64| (after as f64 - before as f64) * 1024.0 / N as f64;
    let fixed = per_invocation(fixed_before, fixed_after);
    let distinct = per_invocation(distinct_before, distinct_after);
    println!(
        "trace ids: {N} invocations with one trace id: VmRSS {fixed_before} kB to {fixed_after} kB ({fixed:.1} bytes per invocation); \
         {N} with a distinct trace id each: {distinct_before} kB to {distinct_after} kB ({distinct:.1} bytes per invocation)"
    );
    // The same invocations with one trace id leave memory flat (a page or two of noise) ...
    assert!(
        fixed < 10.0,
        "{fixed:.1} bytes per invocation with one trace id"
    );
    // ... and each distinct trace id costs about one environment entry (`_X_AMZN_TRACE_ID=` and
    // the id, plus glibc's bookkeeping). Should lambda_runtime stop setting the variable, or
    // glibc stop keeping old values, this bound still holds.
    assert!(
        distinct < 400.0,
        "{distinct:.1} bytes per invocation with distinct trace ids"
    );
}
