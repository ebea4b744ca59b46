//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The crate's root directory.
pub fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The release binary, built once per test process if it is missing or stale: the tests of the
/// running function exercise the build that ships (`panic = "unwind"`, LTO), not the debug one.
pub fn release_binary() -> &'static Path {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY.get_or_init(|| {
        let status = Command::new(env!("CARGO"))
            .args(["build", "--release", "--quiet", "--bin", "frequency-fanout"])
            .current_dir(root())
            .status()
            .expect("cargo runs");
        assert!(status.success(), "cargo build --release failed");
        let target = std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| root().join("target"));
        let binary = target.join("release").join("frequency-fanout");
        assert!(
            binary.is_file(),
            "no release binary at {}",
            binary.display()
        );
        binary
    })
}

/// An example event and what it must produce.
pub struct Example {
    pub name: String,
    pub event: PathBuf,
    /// The exact response, or the error object for a rejected event, with `"workers": 1`.
    pub expected: serde_json::Value,
    pub rejected: bool,
}

/// Every `events/**/NAME.json` beside its `NAME.expected.json` (the HTTP fixtures in
/// `events/http/` have their own format and test).
pub fn examples() -> Vec<Example> {
    let mut found = Vec::new();
    collect(&root().join("events"), &mut found);
    found.sort_by(|a, b| a.name.cmp(&b.name));
    assert!(found.len() >= 10, "expected the example events in events/");
    found
}

fn collect(dir: &Path, found: &mut Vec<Example>) {
    for entry in std::fs::read_dir(dir).expect("events/ is readable") {
        let path = entry.expect("directory entry").path();
        if path.is_dir() {
            if path.file_name().is_some_and(|n| n != "http") {
                collect(&path, found);
            }
            continue;
        }
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let Some(stem) = name.strip_suffix(".json") else {
            continue;
        };
        if stem.ends_with(".expected") {
            continue;
        }
        let expected_path = path.with_file_name(format!("{stem}.expected.json"));
        let expected: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&expected_path).unwrap_or_else(|_| {
                panic!("{} has no {}", path.display(), expected_path.display())
            }))
            .expect("expected output is JSON");
        let rejected = expected.get("errorType").is_some();
        let relative = path.strip_prefix(root().join("events")).unwrap();
        found.push(Example {
            name: relative.to_string_lossy().into_owned(),
            event: path,
            expected,
            rejected,
        });
    }
}

/// The expected output for a run at `workers` workers.
pub fn expected_at(example: &Example, workers: usize) -> serde_json::Value {
    let mut expected = example.expected.clone();
    if !example.rejected {
        expected["workers"] = serde_json::json!(workers);
    }
    expected
}
