//! Adversarial events, each with its expected answer, evaluated in-process at pool widths 1, 2
//! and 8 (the same answer at each, and the plain reference's of tests/support/differential.rs),
//! and the largest and deepest also through the release binary in local mode.

mod common;
#[path = "support/differential.rs"]
mod differential;
#[path = "support/local_process.rs"]
mod local_process;

use std::io::Write;

use serde_json::Value;

const WIDTHS: [usize; 3] = [1, 2, 8];

/// The answer at widths 1, 2 and 8 (identical, and the reference's), default threshold 10.
fn answer(payload: &[u8]) -> Result<differential::Outcome, String> {
    differential::check_at(payload, "10", &WIDTHS)
}

/// Asserts a valid event's count and total.
fn assert_counts(payload: &[u8], count: usize, total: usize) -> differential::Outcome {
    match answer(payload) {
        Ok(outcome) => {
            assert_eq!(
                (outcome.count, outcome.total),
                (count, total),
                "{}",
                differential::show(payload)
            );
            outcome
        }
        Err(message) => panic!("rejected: {message}\n{}", differential::show(payload)),
    }
}

/// Asserts a rejection whose message begins with `path: ` and contains `words`.
fn assert_rejected(payload: &[u8], path: &str, words: &str) -> String {
    match answer(payload) {
        Ok(outcome) => panic!("accepted: {outcome:?}\n{}", differential::show(payload)),
        Err(message) => {
            assert!(
                message.starts_with(&format!("{path}: ")) && message.contains(words),
                "expected `{path}: ...{words}...`, got `{message}`\n{}",
                differential::show(payload)
            );
            message
        }
    }
}

fn deep(levels: usize) -> String {
    format!("{}{}", "[".repeat(levels), "]".repeat(levels))
}

fn deep_objects(levels: usize) -> String {
    format!("{}1{}", "{\"a\":".repeat(levels), "}".repeat(levels))
}

// ---------------------------------------------------------------------------------------------
// Nesting.

#[test]
fn nesting_100000_deep_is_malformed_naming_the_depth_limit_without_overflowing_the_stack() {
    const LIMIT: &str =
        "malformed JSON: arrays and objects nested more than 127 levels deep at line 1 column";
    let n = 100_000;
    let cases = [
        (deep(n), "[0]"),
        (format!("[{{\"frequency\": 11}}, {}]", deep(n)), "[1]"),
        (
            format!("{{\"items\": [{{\"frequency\": 11, \"x\": {}}}]}}", deep(n)),
            "items[0]",
        ),
        (
            format!(
                "{{\"Items\": [{{\"x\": {}, \"frequency\": 11}}]}}",
                deep_objects(n)
            ),
            "Items[0]",
        ),
        (format!("{{\"items\": [], \"x\": {}}}", deep(n)), "$"),
        (
            format!(
                "{{\"x\": {}, \"items\": [{{\"frequency\": 11}}]}}",
                deep_objects(n)
            ),
            "$",
        ),
        (
            format!(
                "{{\"items\": [{{\"frequency\": 11}}], \"threshold\": {}}}",
                deep(n)
            ),
            "$",
        ),
        (
            format!("{{\"Items\": [], \"BatchInput\": {}}}", deep_objects(n)),
            "$",
        ),
        // After a rejected item the rest of the array is still read, its depth included.
        (format!("[{{\"frequency\": \"11\"}}, {}]", deep(n)), "[1]"),
    ];
    for (payload, path) in &cases {
        // The test thread's stack is small (2 MiB): recursion would overflow it.
        assert_rejected(payload.as_bytes(), path, LIMIT);
    }
    // Unclosed: malformed either way.
    assert_rejected("[".repeat(n).as_bytes(), "[0]", "malformed JSON");
    // At the limit (127 nested arrays and objects in all) the event is valid.
    let at_limit = format!(
        "{{\"items\": [{{\"frequency\": 11, \"x\": {}}}]}}",
        deep(124)
    );
    assert_counts(at_limit.as_bytes(), 1, 1);
    let beyond = format!(
        "{{\"items\": [{{\"frequency\": 11, \"x\": {}}}]}}",
        deep(125)
    );
    assert_rejected(beyond.as_bytes(), "items[0]", LIMIT);
}

#[test]
fn nesting_100000_deep_through_the_release_binary() {
    let payload = format!(
        "{{\"items\": [{{\"frequency\": 11, \"x\": {}}}]}}",
        deep(100_000)
    );
    for workers in ["1", "2", "8"] {
        let (code, stdout, stderr) = run_local(&["-"], Some(payload.as_bytes()), workers);
        assert_eq!(code, Some(1), "stderr: {stderr}");
        let error: Value = serde_json::from_str(&stdout).expect("an error object");
        assert_eq!(error["errorType"], "InvalidEvent");
        let message = error["errorMessage"].as_str().unwrap();
        assert!(
            message.starts_with(
                "items[0]: malformed JSON: arrays and objects nested more than 127 levels deep"
            ),
            "{message}"
        );
        assert!(!stderr.contains("overflow"), "{stderr}");
    }
}

// ---------------------------------------------------------------------------------------------
// Size.

/// A `{"items": [...]}` event of about `bytes` bytes whose answer is known: item `i` has
/// frequency `i % 23` (so 12 of every 23 exceed 10), and every 1,000th item a string full of
/// `},{` and escaped quotes. Returns the payload, the count and the total.
fn big_event(bytes: usize) -> (Vec<u8>, usize, usize) {
    let mut out = Vec::with_capacity(bytes + 1024);
    out.extend_from_slice(b"{\"items\": [");
    let mut total = 0;
    let mut count = 0;
    while out.len() < bytes {
        if total > 0 {
            out.extend_from_slice(b",\n ");
        }
        let frequency = total % 23;
        if total % 1000 == 999 {
            write!(
                out,
                "{{\"id\": {total}, \"note\": \"{}\", \"frequency\": {frequency}}}",
                "},{\\\"frequency\\\": 99},{".repeat(20)
            )
            .unwrap();
        } else {
            write!(
                out,
                "{{\"id\": {total}, \"name\": \"item-{total}\", \"frequency\": {frequency}}}"
            )
            .unwrap();
        }
        if frequency > 10 {
            count += 1;
        }
        total += 1;
    }
    out.extend_from_slice(b"], \"threshold\": 10}");
    (out, count, total)
}

#[test]
fn a_50_mb_event_from_a_file_in_local_mode() {
    let (payload, count, total) = big_event(50 * 1024 * 1024);
    assert!(payload.len() >= 50 * 1024 * 1024);
    let dir = std::env::temp_dir().join(format!(
        "frequency-fanout-adversarial-{}",
        std::process::id()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("50mb.json");
    std::fs::write(&file, &payload).unwrap();
    let path = file.to_str().unwrap();
    for workers in ["1", "2", "8"] {
        let (code, stdout, stderr) = run_local(&[path], None, workers);
        assert_eq!(code, Some(0), "stdout: {stdout}\nstderr: {stderr}");
        let response: Value = serde_json::from_str(&stdout).expect("a response");
        assert_eq!(response["high_frequency_count"], count);
        assert_eq!(response["total_items"], total);
        assert_eq!(response["workers"], workers.parse::<usize>().unwrap());
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn items_with_1_mb_strings_full_of_item_boundaries_and_escaped_quotes() {
    let mb = 1024 * 1024;
    // Inside a JSON string: `},{`, `\"` (a quote), `\\` (a backslash), and `\\\"`.
    let trap = "},{\\\"frequency\\\": 99},{ \\\\\\\"},{\\\\ ";
    let fill = trap.repeat(mb / trap.len() + 1);
    // A string that ends in an escaped backslash: `...\\"` closes it.
    let ends_in_backslash = format!("{}\\\\", "},{".repeat(mb / 3));
    let payload = format!(
        "{{\"items\": [{{\"frequency\": 11, \"s\": \"{fill}\"}}, {{\"s\": \"{ends_in_backslash}\", \"frequency\": 5}}, \
         {{\"s\": [\"{fill}\", {{\"frequency\": 1}}], \"frequency\": 12}}, {{\"frequency\": 10, \"t\": \"{fill}\"}}], \
         \"include_indices\": true}}"
    );
    assert!(payload.len() > 4 * mb);
    let outcome = assert_counts(payload.as_bytes(), 2, 4);
    assert_eq!(outcome.indices, Some(vec![0, 2]));
    // The same strings as a bare array, and in a batch.
    let bare = format!("[{{\"s\": \"{fill}\", \"frequency\": 99}}, {{\"frequency\": 1, \"s\": \"{ends_in_backslash}\"}}]");
    assert_counts(bare.as_bytes(), 1, 2);
    let batch = format!(
        "{{\"Items\": [{{\"s\": \"{fill}\", \"frequency\": 99}}, {{\"frequency\": 1}}], \"BatchInput\": {{\"threshold\": 0}}}}"
    );
    assert_counts(batch.as_bytes(), 2, 2);
    // A `frequency` that is a string full of traps is still a string.
    let wrong = format!("[{{\"frequency\": 1}}, {{\"frequency\": \"{fill}\"}}]");
    assert_rejected(
        wrong.as_bytes(),
        "[1].frequency",
        "expected a number, found a string",
    );
}

#[test]
fn numbers_with_10000_digits() {
    let nines = "9".repeat(10_000);
    let power = format!("1{}", "0".repeat(10_000));
    let power_plus_one = format!("1{}1", "0".repeat(9_999));
    let tiny = format!("0.{}1", "0".repeat(9_999));
    let huge_fraction = format!("{nines}.5");
    let payload = format!(
        "[{{\"frequency\": {nines}}}, {{\"frequency\": -{nines}}}, {{\"frequency\": {tiny}}}, \
         {{\"frequency\": {huge_fraction}}}, {{\"frequency\": {power}}}, {{\"frequency\": 1e10000}}]"
    );
    let outcome = assert_counts(payload.as_bytes(), 4, 6);
    assert_eq!(outcome.threshold, "10");

    // Against a 10,001-digit threshold, echoed exactly; integers compare exactly, and doubles
    // beyond the range are infinite.
    let payload = format!(
        "{{\"items\": [{{\"frequency\": {power_plus_one}}}, {{\"frequency\": {power}}}, {{\"frequency\": {nines}}}, \
         {{\"frequency\": {huge_fraction}}}, {{\"frequency\": 1e308}}], \"threshold\": {power}, \"include_indices\": true}}"
    );
    let outcome = assert_counts(payload.as_bytes(), 2, 5);
    assert_eq!(outcome.indices, Some(vec![0, 3]));
    assert_eq!(outcome.threshold, power);

    // A 10,000-digit fraction rounds to the nearest double: 10.000...01 is 10.0.
    let ten_and_a_bit = format!("10.{}1", "0".repeat(9_998));
    let payload = format!(
        "{{\"items\": [{{\"frequency\": {ten_and_a_bit}}}, {{\"frequency\": 11}}], \"threshold\": 10.0}}"
    );
    assert_counts(payload.as_bytes(), 1, 2);
    let payload = format!("{{\"items\": [{{\"frequency\": 10}}, {{\"frequency\": 11}}], \"threshold\": {ten_and_a_bit}}}");
    assert_counts(payload.as_bytes(), 1, 2);

    // 10,000 digits with a leading zero are not a JSON number.
    let payload = format!("[{{\"frequency\": 0{nines}}}]");
    assert_rejected(payload.as_bytes(), "[0]", "malformed JSON");
}

// ---------------------------------------------------------------------------------------------
// Bytes.

#[test]
fn invalid_utf8_inside_and_outside_strings_is_malformed() {
    let cases: &[(&[u8], &str)] = &[
        (b"[{\"frequency\": 11, \"s\": \"\xff\"}]", "$"),
        (b"[{\"frequency\": 11, \"s\": \"caf\xc3\"}]", "$"),
        (b"[{\"frequency\": 11, \"s\": \"\xc0\x80\"}]", "$"),
        (b"[{\"frequency\": 11, \"s\": \"\xed\xa0\x80\"}]", "$"),
        (b"[{\"frequency\": 11, \"s\": \"\xf0\x9f\x98\"}]", "$"),
        (b"{\"items\": [{\"frequency\": 11}], \"x\": \"\xfe\"}", "$"),
        (b"{\"items\": [{\"frequency\": 11}], \"\xff\": 1}", "$"),
        (
            b"{\"Items\": [{\"frequency\": 11}], \"BatchInput\": {\"n\": \"\x80\"}}",
            "$",
        ),
        (b"[{\"frequency\": 11}\xff]", "$"),
        (b"[{\"frequency\": 11},\xff{\"frequency\": 1}]", "[1]"),
        (b"{\"items\": []}\xff", "$"),
        (b"\xff[{\"frequency\": 11}]", "$"),
        (b"[{\"frequency\": 1\xff}]", "[0]"),
    ];
    for (payload, path) in cases {
        assert_rejected(payload, path, "malformed JSON");
    }
    // Inside a string, the position of the bad byte is named.
    let message = assert_rejected(
        b"[{\"frequency\": 11, \"s\": \"\xff\"}]",
        "$",
        "invalid UTF-8",
    );
    assert!(message.ends_with("line 1 column 26"), "{message}");
    // Valid multi-byte text is fine anywhere a string may be.
    assert_counts(
        "[{\"fr\u{e9}quence\": 1, \"frequency\": 11, \"\u{1f600}\": \"\u{65e5}\"}]".as_bytes(),
        1,
        1,
    );
}

#[test]
fn nul_bytes() {
    // Inside a string a raw NUL is a control character, which JSON forbids.
    for payload in [
        &b"[{\"frequency\": 11, \"s\": \"a\x00b\"}]"[..],
        b"{\"items\": [{\"frequency\": 11}], \"s\": \"\x00\"}",
        b"[{\"frequency\": 11, \"a\x00\": 1}]",
    ] {
        let message = answer(payload).expect_err("a raw NUL in a string");
        assert!(
            message.contains("malformed JSON: unescaped control character"),
            "{message}"
        );
    }
    // Outside strings it is not JSON at all.
    for payload in [
        &b"[{\"frequency\": 11}\x00]"[..],
        b"[{\"frequency\": 11}]\x00",
        b"\x00[{\"frequency\": 11}]",
        b"{\"items\":\x00[]}",
        b"[{\"frequency\": 1\x001}]",
    ] {
        let message = answer(payload).expect_err("a raw NUL outside strings");
        assert!(message.contains(": malformed JSON: "), "{message}");
    }
    // The escape `\u0000` is a valid string character.
    assert_counts(b"[{\"frequency\": 11, \"s\": \"a\\u0000b\"}]", 1, 1);
}

#[test]
fn a_byte_order_mark() {
    let bom = "\u{feff}";
    assert_counts(format!("{bom}[{{\"frequency\": 11}}]").as_bytes(), 1, 1);
    assert_counts(
        format!("{bom} \n {{\"items\": [{{\"frequency\": 11}}]}}").as_bytes(),
        1,
        1,
    );
    assert_counts(
        format!("{bom}{{\"Items\": [{{\"frequency\": 11}}]}}").as_bytes(),
        1,
        1,
    );
    // Only one, and only first.
    assert_rejected(format!("{bom}{bom}[]").as_bytes(), "$", "malformed JSON");
    assert_rejected(format!(" {bom}[]").as_bytes(), "$", "malformed JSON");
    assert_rejected(
        format!("[{bom}{{\"frequency\": 11}}]").as_bytes(),
        "[0]",
        "malformed JSON",
    );
    assert_rejected(
        format!("{{\"items\": []}}{bom}").as_bytes(),
        "$",
        "malformed JSON",
    );
    // A BOM inside a string is a character like any other.
    assert_counts(
        format!("[{{\"frequency\": 11, \"s\": \"{bom}\"}}]").as_bytes(),
        1,
        1,
    );
    // Half a BOM is invalid UTF-8.
    assert_rejected(b"\xEF\xBB[]", "$", "malformed JSON");
}

// ---------------------------------------------------------------------------------------------
// Shapes.

/// The tokens of `text` (a compact JSON text without spaces inside strings) with `ws` between
/// every two, and before and after.
fn spaced(tokens: &[&str], ws: &str) -> String {
    let mut out = String::from(ws);
    for token in tokens {
        out.push_str(token);
        out.push_str(ws);
    }
    out
}

#[test]
fn every_form_with_whitespace_between_every_token() {
    let item = |f: &'static str| -> Vec<&'static str> {
        vec![
            "{",
            "\"id\"",
            ":",
            "\"a },{ b\"",
            ",",
            "\"frequency\"",
            ":",
            f,
            ",",
            "\"n\"",
            ":",
            "[",
            "{",
            "\"frequency\"",
            ":",
            "99",
            "}",
            "]",
            "}",
        ]
    };
    let items = |out: &mut Vec<&'static str>| {
        out.push("[");
        out.extend(item("11"));
        out.push(",");
        out.extend(item("5"));
        out.push(",");
        out.extend(item("1e400"));
        out.push("]");
    };
    let mut direct = vec!["{", "\"threshold\"", ":", "4", ",", "\"items\"", ":"];
    items(&mut direct);
    direct.extend([
        ",",
        "\"include_indices\"",
        ":",
        "true",
        ",",
        "\"BatchInput\"",
        ":",
        "{",
        "}",
        "}",
    ]);
    let mut bare = Vec::new();
    items(&mut bare);
    let mut batch = vec!["{", "\"Items\"", ":"];
    items(&mut batch);
    batch.extend([
        ",",
        "\"BatchInput\"",
        ":",
        "{",
        "\"include_indices\"",
        ":",
        "true",
        ",",
        "\"threshold\"",
        ":",
        "5",
        "}",
        "}",
    ]);
    for ws in [" ", "\n", "\t", "\r\n", " \t\r\n ", &" ".repeat(70_000)] {
        let outcome = assert_counts(spaced(&direct, ws).as_bytes(), 3, 3);
        assert_eq!(
            (outcome.indices, outcome.threshold.as_str()),
            (Some(vec![0, 1, 2]), "4")
        );
        assert_counts(spaced(&bare, ws).as_bytes(), 2, 3);
        let outcome = assert_counts(spaced(&batch, ws).as_bytes(), 2, 3);
        assert_eq!(outcome.indices, Some(vec![0, 2]));
    }
    // Whitespace JSON does not know is not whitespace.
    for ws in ["\u{a0}", "\u{2028}", "\u{b}", "\u{c}"] {
        let message = answer(spaced(&bare, ws).as_bytes()).expect_err(ws);
        assert!(message.contains("malformed JSON"), "{ws:?}: {message}");
    }
}

#[test]
fn items_arrays_of_one_huge_item() {
    // One item of about 3 MB whose inside is full of structural `},{` (arrays of objects, some
    // with their own `frequency`): every guessed boundary falls inside it.
    let mut item = String::from("{\"a\": [");
    for i in 0..70_000 {
        if i > 0 {
            item.push(',');
        }
        item.push_str(&format!("{{\"frequency\": {i}, \"s\": \"}},{{\"}}"));
    }
    item.push_str("], \"frequency\": 11, \"b\": {\"frequency\": \"x\"}, \"c\": [[{\"frequency\": 1}],{\"frequency\": 2}]}");
    assert!(item.len() > 2_000_000);
    assert_counts(format!("[{item}]").as_bytes(), 1, 1);
    assert_counts(
        format!("{{\"items\": [{item}], \"threshold\": 11}}").as_bytes(),
        0,
        1,
    );
    assert_counts(format!("{{\"Items\": [ {item} ]}}").as_bytes(), 1, 1);
    // The same huge item, rejected for a second `frequency` at its very end.
    let twice = format!("[{}, \"frequency\": 3}}]", &item[..item.len() - 1]);
    assert_rejected(
        twice.as_bytes(),
        "[0].frequency",
        "expected one \"frequency\" member, found a second one",
    );
    // And malformed at its very end.
    let cut = format!("[{}]", &item[..item.len() - 1]);
    assert_rejected(cut.as_bytes(), "[0]", "malformed JSON");
    // One huge string item, and one huge array item.
    assert_rejected(
        format!("[\"{}\"]", "},{".repeat(1_000_000)).as_bytes(),
        "[0]",
        "found a string",
    );
    assert_rejected(
        format!("[[{}]]", "{\"frequency\": 1},".repeat(100_000) + "1").as_bytes(),
        "[0]",
        "found an array",
    );
}

// ---------------------------------------------------------------------------------------------
// The release binary in local mode.

/// Runs the release binary in local mode with `MAX_WORKERS=workers`: exit code, stdout, stderr.
fn run_local(args: &[&str], stdin: Option<&[u8]>, workers: &str) -> (Option<i32>, String, String) {
    let env = [("MAX_WORKERS", workers)];
    let output = local_process::run(common::release_binary(), args, stdin, &env);
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// Every shape of the benchmark corpus (`sample::Shape`) gives the reference's answer at every
/// width, with its own threshold and with thresholds inside the range of its frequencies,
/// and still does with one byte of a string or number changed, and with its text cut short
/// inside a frequency or a string.
#[test]
fn every_benchmark_shape_gives_the_reference_answer() {
    use frequency_fanout::sample::Shape;
    for shape in Shape::ALL {
        let event = shape.event(60_000);
        for threshold in [
            "10",
            "12.5",
            "0.000000000001",
            "14.578301734827",
            "1e12",
            "-1",
        ] {
            let outcome = differential::check(&event, threshold)
                .unwrap_or_else(|message| panic!("{shape:?} rejected: {message}"));
            assert!(outcome.total > 100, "{shape:?}");
        }
        let text = String::from_utf8(event.clone()).expect("a generated event is UTF-8");
        // Each kind of byte the fast paths read, changed in turn at a few places.
        for (from, to) in [
            (".", "e"),
            ("e+", "e-"),
            ("\\\"", "\\x"),
            ("\\u", "\\U"),
            ("é", "\u{1}"),
            ("\"", "'"),
            ("1", "/"),
        ] {
            for (at, _) in text.match_indices(from).take(400).step_by(97) {
                let mut changed = text.clone();
                changed.replace_range(at..at + from.len(), to);
                // Accepted or rejected, as the reference and at every width alike.
                let _ = differential::check(changed.as_bytes(), "10");
            }
        }
        for cut in [text.len() / 3, text.len() / 2 + 7, text.len() - 3] {
            assert!(differential::check(&event[..cut], "10").is_err());
        }
    }
}
