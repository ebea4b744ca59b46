//! A function binary in Lambda mode, served by its own Runtime API peer: the process, the
//! lines it prints on stdout and stderr, and a guard that kills it when dropped. Shared by
//! tests/lambda_mode.rs, tests/observability.rs, tests/deployment.rs, tests/faults.rs and
//! tests/soak.rs, which include this file with `#[path]`.

// Each test crate that includes this file uses only some of its items.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use runtime_api_peer::{Outcome, RuntimeApiPeer};

#[path = "settings.rs"]
mod settings;

pub use settings::INHERITED_SETTINGS;

/// The crate's root directory.
pub fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("target"))
}

/// The release binary built with the test-only feature `fault-injection` (a part holding
/// `fault-injection: panic in worker` panics on its pool worker), in a target directory of its
/// own so that it never replaces the release binary the other tests run. Built once per test
/// process.
pub fn fault_injection_binary() -> &'static Path {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY.get_or_init(|| {
        let target = target_dir().join("fault-injection");
        let status = Command::new(env!("CARGO"))
            .args(["build", "--release", "--quiet", "--bin", "frequency-fanout"])
            .args(["--features", "fault-injection", "--target-dir"])
            .arg(&target)
            .current_dir(root())
            .status()
            .expect("cargo runs");
        assert!(
            status.success(),
            "building the fault-injection binary failed"
        );
        let binary = target.join("release").join("frequency-fanout");
        assert!(binary.is_file(), "no binary at {}", binary.display());
        binary
    })
}

/// One line the process printed, and on which stream.
#[derive(Clone, Debug)]
pub struct Line {
    pub stream: &'static str,
    pub text: String,
}

/// A function process and its peer. Dropping it kills the process.
pub struct LambdaProcess {
    pub peer: Arc<RuntimeApiPeer>,
    pub child: Child,
    output: Arc<Mutex<Vec<Line>>>,
    readers: Vec<JoinHandle<()>>,
}

impl LambdaProcess {
    /// Starts `binary` in Lambda mode against `peer` with the extra `env`.
    pub fn start(binary: &Path, peer: RuntimeApiPeer, env: &[(&str, &str)]) -> LambdaProcess {
        let mut command = Command::new(binary);
        for name in INHERITED_SETTINGS {
            command.env_remove(name);
        }
        command.envs(peer.lambda_env()).envs(env.iter().copied());
        LambdaProcess::spawn(peer, command)
    }

    /// Starts `command`, which already holds the environment `peer` serves (its
    /// `lambda_env()`), with its output read line by line.
    pub fn spawn(peer: RuntimeApiPeer, mut command: Command) -> LambdaProcess {
        let peer = Arc::new(peer);
        command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = command.spawn().unwrap_or_else(|e| {
            let shown: Vec<_> = std::iter::once(command.get_program())
                .chain(command.get_args())
                .map(|part| part.to_string_lossy())
                .collect();
            panic!("cannot start {}: {e}", shown.join(" "))
        });
        let output = Arc::new(Mutex::new(Vec::new()));
        let stdout = child.stdout.take().expect("stdout is piped");
        let stderr = child.stderr.take().expect("stderr is piped");
        let readers = vec![
            read_lines(stdout, "stdout", &output, None),
            // Once stderr closes the process is gone: waits fail at once instead of timing out.
            read_lines(stderr, "stderr", &output, Some(Arc::clone(&peer))),
        ];
        LambdaProcess {
            peer,
            child,
            output,
            readers,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Invokes the function and returns its answer, or fails the test with the process's output.
    pub fn invoke(&self, payload: impl Into<Vec<u8>>) -> Outcome {
        let result = self.peer.invoke(payload);
        result.unwrap_or_else(|error| panic!("{error}\n{}", self.output_text()))
    }

    pub fn invoke_with_deadline(&self, payload: impl Into<Vec<u8>>, deadline_ms: u64) -> Outcome {
        let result = self.peer.invoke_with_deadline(payload, deadline_ms);
        result.unwrap_or_else(|error| panic!("{error}\n{}", self.output_text()))
    }

    /// Fails the test unless the process is still running.
    pub fn assert_alive(&mut self) {
        if let Some(status) = self.child.try_wait().expect("the process can be polled") {
            panic!(
                "the function's process exited ({status})\n{}",
                self.output_text()
            );
        }
    }

    /// Fails the test if the function spoke the Runtime API wrongly or failed to initialise.
    pub fn assert_clean_protocol(&self) {
        let problems = self.peer.problems();
        assert!(
            problems.is_empty(),
            "Runtime API protocol problems: {problems:#?}\n{}",
            self.output_text()
        );
        let init_errors = self.peer.init_errors();
        assert!(
            init_errors.is_empty(),
            "init errors: {init_errors:?}\n{}",
            self.output_text()
        );
    }

    /// Waits for the process to exit by itself, at most `timeout`; then its output is complete.
    pub fn wait_for_exit(&mut self, timeout: Duration) -> ExitStatus {
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().expect("the process can be polled") {
                for reader in self.readers.drain(..) {
                    let _ = reader.join();
                }
                return status;
            }
            if started.elapsed() > timeout {
                panic!(
                    "the function's process did not exit within {timeout:?}\n{}",
                    self.output_text()
                );
            }
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// What the process has printed so far. While it runs, the threads reading its pipes may
    /// still be behind what it wrote: count or match lines only after [`LambdaProcess::finish`]
    /// or [`LambdaProcess::wait_for_exit`], which read the pipes to the end.
    pub fn lines(&self) -> Vec<Line> {
        self.output
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Everything the process has printed so far, to show in a failure message.
    pub fn output_text(&self) -> String {
        text_of(&self.lines())
    }

    /// Kills the process and returns everything it printed.
    pub fn finish(mut self) -> Vec<Line> {
        self.stop();
        self.lines()
    }

    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        for reader in self.readers.drain(..) {
            let _ = reader.join();
        }
    }
}

impl Drop for LambdaProcess {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Collects the lines of one output stream on a thread, so that the pipe never fills.
fn read_lines(
    stream: impl Read + Send + 'static,
    name: &'static str,
    output: &Arc<Mutex<Vec<Line>>>,
    abort_on_close: Option<Arc<RuntimeApiPeer>>,
) -> JoinHandle<()> {
    let output = Arc::clone(output);
    thread::spawn(move || {
        let mut reader = BufReader::new(stream);
        let mut line = Vec::new();
        loop {
            line.clear();
            match reader.read_until(b'\n', &mut line) {
                Ok(0) | Err(_) => break,
                Ok(_) => {
                    let text = String::from_utf8_lossy(&line)
                        .trim_end_matches(['\n', '\r'])
                        .to_string();
                    output
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .push(Line { stream: name, text });
                }
            }
        }
        if let Some(peer) = abort_on_close {
            peer.abort("the function's process exited (its stderr closed)");
        }
    })
}

/// `lines` as a failure message shows them, each cut at 2,000 characters: a 100,000-item
/// payload logged at TRACE would drown the message.
pub fn text_of(lines: &[Line]) -> String {
    let mut text = format!("the function's output ({} lines):\n", lines.len());
    for line in lines {
        let shown: String = line.text.chars().take(2_000).collect();
        text.push_str(&format!("[{}] {shown}\n", line.stream));
    }
    text
}

/// Milliseconds since the Unix epoch.
pub fn epoch_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("a clock after 1970")
        .as_millis() as u64
}
