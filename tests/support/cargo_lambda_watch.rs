//! `cargo lambda watch` serving the function on 127.0.0.1, in a process group of its own: the
//! cargo-lambda binary of the project's virtual environment, the watch's start (it waits until
//! the emulator listens) and its stop, with every process it started, when the guard is
//! dropped. Shared by tests/cargo_lambda.rs and tests/http_cargo_lambda.rs, which include this
//! file with `#[path]`.

// Each test crate that includes this file uses only some of its items.
#![allow(dead_code)]

use std::ffi::OsString;
use std::fs::File;
use std::net::{TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

#[path = "settings.rs"]
mod settings;

use settings::INHERITED_SETTINGS;

/// The pool width set through `--env-var`; every response must report it.
pub const WORKERS: usize = 3;
/// The function's name in the emulator: the binary's name.
pub const FUNCTION: &str = "frequency-fanout";
const SERVER_START_TIMEOUT: Duration = Duration::from_secs(60);

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The cargo-lambda binary in `.venv/bin`, installed by `scripts/install-tools` when missing.
pub fn cargo_lambda() -> PathBuf {
    let binary = root().join(".venv/bin/cargo-lambda");
    if !binary.is_file() {
        let status = Command::new(root().join("scripts/install-tools"))
            .arg("cargo-lambda")
            .current_dir(root())
            .stdin(Stdio::null())
            .status()
            .expect("scripts/install-tools runs");
        assert!(
            status.success(),
            "scripts/install-tools cargo-lambda failed: {status}"
        );
    }
    assert!(binary.is_file(), "no cargo-lambda at {}", binary.display());
    binary
}

/// `PATH` with `.venv/bin` first, for the tools cargo-lambda itself looks for.
pub fn path_with_venv() -> OsString {
    let venv_bin = root().join(".venv/bin");
    let rest = std::env::var_os("PATH").unwrap_or_default();
    std::env::join_paths(std::iter::once(venv_bin).chain(std::env::split_paths(&rest)))
        .expect("PATH entries join")
}

/// A port on 127.0.0.1 that was free a moment ago (never 9000, cargo lambda's default, which
/// a developer's own `cargo lambda watch` may hold).
fn free_port() -> u16 {
    loop {
        let listener = TcpListener::bind("127.0.0.1:0").expect("binding an ephemeral port");
        let port = listener.local_addr().expect("local address").port();
        if port != 9000 {
            return port;
        }
    }
}

/// A running `cargo lambda watch`, in its own process group. Dropping it stops the watch and
/// every process it started, on success and on panic alike.
pub struct Watch {
    child: Child,
    pub port: u16,
    log: PathBuf,
}

impl Watch {
    /// Starts the watch on a free port with [`WORKERS`] and the extra `args` (such as
    /// `--release`), its output in `CARGO_TARGET_TMPDIR/{log_name}-{port}.log`, and waits until
    /// the emulator accepts connections.
    pub fn start(cargo_lambda: &Path, args: &[&str], log_name: &str) -> Watch {
        let port = free_port();
        let log = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("{log_name}-{port}.log"));
        let log_file = File::create(&log).expect("creating the watch log");
        // `cargo lambda watch` is what `cargo-lambda lambda watch` runs when cargo finds the
        // subcommand on PATH; calling the binary directly pins the one in .venv/bin.
        let mut command = Command::new(cargo_lambda);
        command
            .args(["lambda", "watch"])
            .args(["--invoke-address", "127.0.0.1"])
            .args(["--invoke-port", &port.to_string()])
            // Edits to the sources while the test runs must not rebuild the function under it.
            .arg("--ignore-changes")
            // Everything was fetched when this test was built.
            .arg("--offline")
            .args(args)
            .args(["--bin", FUNCTION])
            .args(["--env-var", &format!("MAX_WORKERS={WORKERS}")])
            .current_dir(root())
            .env("PATH", path_with_venv())
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(log_file.try_clone().expect("cloning the log handle"))
            .stderr(log_file)
            .process_group(0);
        // The watch passes its own environment on to the function: only --env-var may set the
        // width, and nothing from the developer's shell may change the function's behaviour.
        for name in INHERITED_SETTINGS {
            command.env_remove(name);
        }
        let child = command.spawn().expect("cargo lambda watch starts");
        let mut watch = Watch { child, port, log };
        watch.wait_for_server();
        watch
    }

    /// Waits until the emulator accepts connections.
    fn wait_for_server(&mut self) {
        let deadline = Instant::now() + SERVER_START_TIMEOUT;
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            self.assert_healthy();
            assert!(
                Instant::now() < deadline,
                "cargo lambda watch did not listen on 127.0.0.1:{} within {:?}:\n{}",
                self.port,
                SERVER_START_TIMEOUT,
                self.log_tail(40)
            );
            thread::sleep(Duration::from_millis(100));
        }
    }

    /// Panics with the watch's output when the watch has exited or the function's build or
    /// process failed (watch reports `command exited` and keeps the invocation waiting).
    pub fn assert_healthy(&mut self) {
        if let Ok(Some(status)) = self.child.try_wait() {
            panic!(
                "cargo lambda watch exited ({status}):\n{}",
                self.log_tail(60)
            );
        }
        if self.log_text().contains("command exited") {
            panic!(
                "the function's build or process failed under cargo lambda watch:\n{}",
                self.log_tail(60)
            );
        }
    }

    /// Everything the watch has printed so far, the function's logs among it.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn log_tail(&self, lines: usize) -> String {
        let log = self.log_text();
        let all: Vec<&str> = log.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    /// Whether the watch's output (the function's logs among it) names `text` within `timeout`.
    pub fn wait_for_log(&self, text: &str, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            if self.log_text().contains(text) {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        // The watch runs the function (and `cargo run` before it) in a process group of their
        // own: note them now, while they are still the watch's descendants.
        let descendants = descendants(self.child.id());
        let group = format!("-{}", self.child.id());
        signal("TERM", &group);
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            thread::sleep(Duration::from_millis(50));
        }
        signal("KILL", &group);
        let _ = self.child.wait();
        for process in descendants {
            // Only the very processes noted above: same pid and same start time.
            if process.start_time() == Some(process.start) {
                signal("KILL", &process.pid.to_string());
            }
        }
    }
}

/// A process, told apart from a later one with the same pid by its start time.
struct Process {
    pid: u32,
    start: u64,
}

impl Process {
    fn start_time(&self) -> Option<u64> {
        proc_stat(self.pid).map(|(_, start)| start)
    }
}

/// `(parent pid, start time)` from `/proc/PID/stat`.
fn proc_stat(pid: u32) -> Option<(u32, u64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name, in parentheses, may contain spaces: the fields follow its last `)`.
    let fields: Vec<&str> = stat[stat.rfind(')')? + 1..].split_whitespace().collect();
    // Fields 4 (ppid) and 22 (starttime), counted from 1 with pid and name as 1 and 2.
    Some((fields.get(1)?.parse().ok()?, fields.get(19)?.parse().ok()?))
}

/// Every living descendant of `root`.
fn descendants(root: u32) -> Vec<Process> {
    let mut all = Vec::new();
    if let Ok(entries) = std::fs::read_dir("/proc") {
        for entry in entries.flatten() {
            if let Some(pid) = entry
                .file_name()
                .to_str()
                .and_then(|n| n.parse::<u32>().ok())
            {
                if let Some((parent, start)) = proc_stat(pid) {
                    all.push((pid, parent, start));
                }
            }
        }
    }
    let mut found = Vec::new();
    let mut frontier = vec![root];
    while let Some(parent) = frontier.pop() {
        for &(pid, ppid, start) in &all {
            if ppid == parent {
                found.push(Process { pid, start });
                frontier.push(pid);
            }
        }
    }
    found
}

/// Sends a signal with kill(1) to a pid, or to a process group as `-PGID`.
fn signal(name: &str, target: &str) {
    let _ = Command::new("kill")
        .args([format!("-{name}").as_str(), "--", target])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}
