//! A function binary in local mode: one run on a file or on standard input, its exit status and
//! output. Shared by tests/local_mode.rs and tests/adversarial.rs, which include this file with
//! `#[path]`.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

#[path = "settings.rs"]
mod settings;

use settings::INHERITED_SETTINGS;

/// Runs `binary` in local mode from the crate's root with `args`, `stdin` on standard input
/// (none when `None`) and `env` set over the environment less [`INHERITED_SETTINGS`].
pub fn run(binary: &Path, args: &[&str], stdin: Option<&[u8]>, env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(binary);
    command.current_dir(env!("CARGO_MANIFEST_DIR"));
    for name in INHERITED_SETTINGS {
        command.env_remove(name);
    }
    command
        .args(args)
        .envs(env.iter().copied())
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command.spawn().expect("the release binary starts");
    // Written from another thread so that a full pipe cannot block both sides; a process that
    // stops before reading (a configuration error) closes the pipe, which is not an error here.
    let writer = stdin.map(|input| {
        let mut pipe = child.stdin.take().expect("stdin is piped");
        let input = input.to_vec();
        std::thread::spawn(move || {
            let _ = pipe.write_all(&input);
        })
    });
    let output = child.wait_with_output().expect("the release binary runs");
    if let Some(writer) = writer {
        writer.join().expect("the stdin writer");
    }
    output
}
