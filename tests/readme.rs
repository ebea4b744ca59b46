//! The README's local-mode console examples, run as written (by trycmd): each command's output,
//! stdout and stderr together as a terminal shows them, and its exit status (`? N` after the
//! command, else 0) must be what the README shows, character for character except where it
//! writes `[..]` (the pool's width, which follows the cores of the machine). trycmd takes the
//! last line break before the next command as layout, so each output ends with an empty line.
//!
//! A `console` block is run when every command in it runs the function on this machine:
//! `target/release/frequency-fanout`, `cargo build` or `cargo run`, each after any `NAME=value`
//! settings. The others (the emulator, curl, deployment) need a server or an AWS account and are
//! exercised by their own tests; trycmd reads a copy of the README in which they, and every
//! other fenced block, are marked as plain text, line for line the same, so that a failure
//! names the README's own line numbers.
//! The commands run from the crate's root with the function's settings cleared, as in a fresh
//! shell; cargo runs quietly (`CARGO_TERM_QUIET`), since its progress lines vary from run to run
//! and the README leaves them out.

mod common;
#[path = "support/settings.rs"]
mod settings;

use std::path::PathBuf;

/// The path the README runs the release binary by.
const BINARY: &str = "target/release/frequency-fanout";

/// Whether a console command (the text after `$ `) runs the function on this machine.
fn runs_the_function(command: &str) -> bool {
    let mut words = command
        .split_whitespace()
        .skip_while(|word| word.contains('='));
    matches!(
        (words.next(), words.next()),
        (Some(BINARY), _) | (Some("cargo"), Some("build" | "run"))
    )
}

/// A fenced block of the README: the line of its opening fence, its info string (`console`,
/// `json`, ...) and the commands (`$ ` lines) it holds.
struct Block {
    fence_line: usize,
    info: String,
    commands: Vec<String>,
}

impl Block {
    /// A console block whose every command runs the function.
    fn runs_the_function(&self) -> bool {
        self.info == "console"
            && !self.commands.is_empty()
            && self.commands.iter().all(|c| runs_the_function(c))
    }
}

fn fenced_blocks(readme: &str) -> Vec<Block> {
    let mut blocks = Vec::new();
    let mut open: Option<Block> = None;
    for (index, line) in readme.lines().enumerate() {
        match open.as_mut() {
            Some(_) if line.starts_with("```") => {
                blocks.push(open.take().expect("a block is open"));
            }
            Some(block) => {
                if let Some(command) = line.strip_prefix("$ ") {
                    block.commands.push(command.to_string());
                }
            }
            None => {
                if let Some(info) = line.strip_prefix("```") {
                    open = Some(Block {
                        fence_line: index,
                        info: info.trim().to_string(),
                        commands: Vec::new(),
                    });
                }
            }
        }
    }
    assert!(open.is_none(), "README.md ends inside a fenced block");
    blocks
}

/// README.md in which every fenced block but those that run the function is marked as text
/// (trycmd runs `console` blocks and blocks without an info string), and the blocks it runs.
fn runnable_copy(readme: &str) -> (String, Vec<Block>) {
    let (run, other): (Vec<Block>, Vec<Block>) = fenced_blocks(readme)
        .into_iter()
        .partition(Block::runs_the_function);
    let not_run: Vec<usize> = other.iter().map(|block| block.fence_line).collect();
    let mut copy = String::with_capacity(readme.len() + 8 * not_run.len());
    for (index, line) in readme.lines().enumerate() {
        if not_run.contains(&index) {
            copy.push_str("```text");
        } else {
            copy.push_str(line);
        }
        copy.push('\n');
    }
    (copy, run)
}

#[test]
fn the_readme_examples_print_what_the_readme_shows() {
    let root = common::root();
    let readme = std::fs::read_to_string(root.join("README.md")).expect("README.md");
    let (copy, run) = runnable_copy(&readme);
    // The README's first command, and the local-mode examples of "Running it".
    let first = fenced_blocks(&readme)
        .into_iter()
        .find(|block| block.info == "console")
        .expect("a console block");
    assert!(
        run.iter().any(|block| block.fence_line == first.fence_line),
        "the README's first console block is not run: {:?}",
        first.commands
    );
    let commands: Vec<&String> = run.iter().flat_map(|block| &block.commands).collect();
    assert!(
        commands.iter().filter(|c| c.contains(BINARY)).count() >= 3,
        "too few examples of {BINARY} are run: {commands:#?}"
    );

    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("readme");
    std::fs::create_dir_all(&dir).expect("a directory for the README's copy");
    let path = dir.join("README.md");
    std::fs::write(&path, copy).expect("the README's copy is written");

    // As in a fresh shell: none of the function's settings, from the crate's root.
    for name in settings::INHERITED_SETTINGS {
        std::env::remove_var(name);
    }
    std::env::set_current_dir(root).expect("the crate's root");
    trycmd::TestCases::new()
        .register_bin(BINARY, common::release_binary())
        .register_bin("cargo", PathBuf::from(env!("CARGO")))
        .env("CARGO_TERM_QUIET", "true")
        .env("CARGO_TERM_COLOR", "never")
        .case(&path)
        .run();
}

#[test]
fn only_commands_that_run_the_function_are_run() {
    for command in [
        "cargo run --release -- events/article.json",
        "cargo build --release",
        "target/release/frequency-fanout events/basic.json",
        "MAX_WORKERS=1 FREQUENCY_THRESHOLD=2 target/release/frequency-fanout events/basic.json",
    ] {
        assert!(runs_the_function(command), "{command}");
    }
    for command in [
        "cargo lambda watch",
        "cargo bench --bench process -- crossover",
        ". .venv/bin/activate",
        "curl -i http://127.0.0.1:9000/lambda-url/frequency-fanout/",
        "sam deploy --guided",
        "echo '[]' | target/release/frequency-fanout",
    ] {
        assert!(!runs_the_function(command), "{command}");
    }
    let readme = "```console\n$ cargo lambda watch\n```\n\n```\n$ not a command\n```\n\
                  ```console\n$ cargo build --release\n$ target/release/frequency-fanout x\nout\n```\n";
    let (copy, run) = runnable_copy(readme);
    let lines: Vec<&str> = copy.lines().collect();
    assert_eq!(lines.len(), readme.lines().count());
    assert_eq!(
        (lines[0], lines[4], lines[7]),
        ("```text", "```text", "```console")
    );
    assert_eq!(run.len(), 1);
    assert_eq!(run[0].fence_line, 7);
    assert_eq!(run[0].commands.len(), 2);
}
