//! Differential fuzzing of the event parser: every input becomes a payload (raw bytes, or an
//! event generated from the bytes; see tests/support/fuzz_input.rs), which the function
//! evaluates at pool widths 1, 2, 3 and 8 and a plain reference evaluates on its own (see
//! tests/support/differential.rs). Any difference between widths, or between the function
//! and the reference, is a crash.
//!
//! `cargo +nightly fuzz run differential fuzz/corpus/differential -- -max_len=16384`

#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../../tests/support/differential.rs"]
mod differential;
#[path = "../../tests/support/fuzz_input.rs"]
mod fuzz_input;

fuzz_target!(|data: &[u8]| {
    let (payload, threshold) = fuzz_input::payload(data);
    let _ = differential::check(&payload, threshold);
});
