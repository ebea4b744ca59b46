//! Replays the fuzz corpus (`fuzz/corpus/differential/`, minimized with `cargo fuzz cmin`) through
//! the same differential check the fuzz target runs: each input becomes a payload (raw bytes or
//! a generated event, tests/support/fuzz_input.rs), evaluated at pool widths 1, 2, 3 and 8 and
//! compared with the plain reference (tests/support/differential.rs). Fuzzing itself is not
//! part of the suite: `cargo +nightly fuzz run differential` (see fuzz/README.md).

#[path = "support/differential.rs"]
mod differential;
#[path = "support/fuzz_input.rs"]
mod fuzz_input;

use std::path::Path;

#[test]
fn every_corpus_input_gives_the_reference_answer_at_every_width() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/differential");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.expect("a directory entry").path())
        .collect();
    files.sort();
    assert!(
        files.len() >= 50,
        "the corpus has only {} inputs",
        files.len()
    );
    let (mut accepted, mut rejected) = (0, 0);
    for file in &files {
        let data = std::fs::read(file).expect("a corpus file");
        let (payload, threshold) = fuzz_input::payload(&data);
        let outcome = std::panic::catch_unwind(|| differential::check(&payload, threshold))
            .unwrap_or_else(|_| panic!("corpus input {} failed (see above)", file.display()));
        match outcome {
            Ok(_) => accepted += 1,
            Err(_) => rejected += 1,
        }
    }
    println!(
        "{} corpus inputs: {accepted} accepted, {rejected} rejected, each the same at widths {:?} and as the reference",
        files.len(),
        differential::WIDTHS
    );
    // A corpus of only rejections (or only acceptances) would check little.
    assert!(
        accepted >= 10 && rejected >= 10,
        "{accepted} accepted, {rejected} rejected"
    );
}

/// The reference itself, on cases whose answers are known.
#[test]
fn the_reference_follows_the_contract() {
    use differential::reference;
    let count = |text: &str| reference(text.as_bytes(), "10").map(|o| (o.count, o.total));
    assert_eq!(
        count(r#"[{"frequency": 11}, {"frequency": 10}]"#),
        Ok((1, 2))
    );
    assert_eq!(count("\u{feff}[{\"frequency\": 11}]"), Ok((1, 1)));
    assert_eq!(
        count(r#"{"items": [{"frequency": 11}], "items": []}"#),
        Ok((0, 0))
    );
    assert_eq!(
        count(r#"{"Items": [{"frequency": 3}], "BatchInput": {"threshold": 2}, "threshold": 5}"#),
        Ok((1, 1))
    );
    assert_eq!(
        count(r#"{"items": [{"frequency": 3}], "Items": 7, "BatchInput": 1, "threshold": 2}"#),
        Ok((1, 1))
    );
    assert_eq!(
        count(r#"[{"fr\u0065quency": 1e400, "x": {"frequency": "no"}}]"#),
        Ok((1, 1))
    );
    assert_eq!(count(r#"[{"frequency": 9007199254740993}]"#), Ok((1, 1)));
    assert!(reference(br#"[{"frequency": 1, "frequency": 2}]"#, "10").is_err());
    assert!(reference(br#"[{"frequency": "1"}]"#, "10").is_err());
    assert!(reference(br#"{"items": [], "include_indices": 1}"#, "10").is_err());
    assert!(reference(b"[\"\xff\"]", "10").is_err());
    assert!(reference(b"{\"items\": []}\xEF\xBB\xBF", "10").is_err());
    let deep = |n: usize| {
        format!(
            "[{{\"frequency\": 1, \"a\": {}{}}}]",
            "[".repeat(n),
            "]".repeat(n)
        )
    };
    assert!(reference(deep(125).as_bytes(), "10").is_ok());
    assert!(reference(deep(126).as_bytes(), "10").is_err());
    let indices = reference(br#"{"items": [{"frequency": 9007199254740993}, {"frequency": 1e1}], "threshold": 9007199254740992.0, "include_indices": true}"#, "10");
    assert_eq!(indices.map(|o| o.indices), Ok(Some(vec![0])));
}

/// The one difference the check accepts: a lone UTF-16 surrogate escape is valid JSON to Python
/// and to the reference; serde_json rejects it in the member names the function decodes and
/// accepts it in the values the function skips.
#[test]
fn lone_surrogate_escapes_are_the_one_accepted_difference() {
    let rejected = [
        r#"{"\ud800": 1, "items": []}"#,
        r#"[{"\ud800": 1, "frequency": 11}]"#,
        r#"{"requestContext": {"\udc00": 1}, "items": []}"#,
    ];
    for payload in rejected {
        assert!(differential::reference(payload.as_bytes(), "10").is_ok());
        let message = differential::check(payload.as_bytes(), "10").expect_err(payload);
        assert!(
            message.contains("unpaired UTF-16 surrogate"),
            "{payload}: {message}"
        );
    }
    let accepted = [
        r#"[{"x": "\ud800", "frequency": 11}]"#,
        r#"{"items": [], "x": {"\udc00": "\udfff"}}"#,
    ];
    for payload in accepted {
        assert!(
            differential::check(payload.as_bytes(), "10").is_ok(),
            "{payload}"
        );
    }
}
