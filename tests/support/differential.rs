//! A plain reference for the event contract, and the differential check of the function against
//! it at several pool widths. Shared by the fuzz target (`fuzz/fuzz_targets/differential.rs`)
//! and the test suite (`tests/fuzz_corpus.rs`, `tests/adversarial.rs`), which include this file
//! with `#[path]`.
//!
//! The reference does not use the function's parser. serde_json checks the syntax of the whole
//! text at once; the values the contract reads are then taken apart one level at a time as
//! borrowed `RawValue`s, so that every number keeps its literal text (`serde_json::Value`
//! cannot hold `1e400` or a 400-digit integer) and repeated members stay visible. Numbers are
//! compared exactly, as Python compares the values `json.loads` gives: an integer literal is an
//! exact integer (`BigInt`), any other literal the nearest double (infinite beyond the range),
//! and mixed comparisons are exact (`BigRational`).
//!
//! The contract (README.md, src/event.rs): a leading UTF-8 byte order mark is skipped; the text
//! must be UTF-8 and JSON, nested at most 127 arrays and objects deep (serde_json's limit: the
//! 128th is an error); the event is `{"items": [...], "threshold", "include_indices"}`, or a
//! bare array, or `{"Items": [...], "BatchInput": {"threshold", "include_indices"}}`; an
//! object with `items` is the direct form; a repeated member counts the last time; each item
//! is an object with exactly one `frequency` member, a number; `threshold` is a number,
//! `include_indices` a boolean; an item counts when `frequency > threshold`, strictly.
//!
//! One accepted difference from `json.loads`: a string escape that is a lone UTF-16 surrogate
//! (`"\ud800"`) is valid JSON to Python and to this reference, while serde_json rejects it in
//! the strings it decodes (member names the function reads, an item that is a string) and
//! accepts it in the values it skips. Where the text holds one, a rejection that names the
//! surrogate is accepted in place of the reference's answer.

#![allow(dead_code)]

use std::fmt;
use std::sync::OnceLock;

use frequency_fanout::number::Threshold;
use frequency_fanout::{evaluate, FunctionError};
use num_bigint::BigInt;
use num_rational::BigRational;
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use serde_json::value::RawValue;

/// The pool widths every payload is evaluated at (items split into as many parts).
pub const WIDTHS: [usize; 4] = [1, 2, 3, 8];

/// The nesting serde_json accepts: 127 arrays and objects; the 128th is an error.
pub const MAX_DEPTH: usize = 127;

/// One rayon pool per width of [`WIDTHS`], built once.
pub fn pool(width: usize) -> &'static rayon::ThreadPool {
    static POOLS: OnceLock<Vec<rayon::ThreadPool>> = OnceLock::new();
    let pools = POOLS.get_or_init(|| {
        WIDTHS
            .iter()
            .map(|&w| {
                rayon::ThreadPoolBuilder::new()
                    .num_threads(w)
                    .build()
                    .expect("a rayon pool")
            })
            .collect()
    });
    let index = WIDTHS
        .iter()
        .position(|&w| w == width)
        .unwrap_or_else(|| panic!("no pool of width {width}"));
    &pools[index]
}

/// What a valid event produces, widths aside.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    pub count: usize,
    pub total: usize,
    pub indices: Option<Vec<usize>>,
    /// The threshold's literal as echoed.
    pub threshold: String,
}

/// The function's answer at `width` (items in `width` parts on the pool of that width): the
/// outcome, or the rejection's message (whose errorType must be InvalidEvent).
pub fn function_at(
    payload: &[u8],
    default_threshold: &str,
    width: usize,
) -> Result<Outcome, String> {
    let default = Threshold::parse(default_threshold).expect("a valid default threshold");
    pool(width)
        .install(|| evaluate(payload, width, &default, width))
        .map(|response| {
            assert_eq!(response.workers, width);
            Outcome {
                count: response.high_frequency_count,
                total: response.total_items,
                indices: response.high_frequency_indices,
                threshold: response.threshold.get().to_string(),
            }
        })
        .map_err(|invalid| {
            let object = FunctionError::from(invalid).to_error_object();
            assert_eq!(object.error_type, "InvalidEvent");
            object.error_message
        })
}

/// Evaluates `payload` at every width and checks the answers against each other and against
/// the reference. Returns the function's answer; panics with a description on any difference.
pub fn check(payload: &[u8], default_threshold: &str) -> Result<Outcome, String> {
    check_at(payload, default_threshold, &WIDTHS)
}

/// [`check`] at the given widths (each one of [`WIDTHS`]).
pub fn check_at(
    payload: &[u8],
    default_threshold: &str,
    widths: &[usize],
) -> Result<Outcome, String> {
    let first = function_at(payload, default_threshold, widths[0]);
    for &width in &widths[1..] {
        let other = function_at(payload, default_threshold, width);
        if other != first {
            panic!(
                "width {} and width {width} differ:\n  {:?}\n  {other:?}\npayload: {}",
                widths[0],
                first,
                show(payload)
            );
        }
    }
    let expected = reference(payload, default_threshold);
    match (&first, &expected) {
        (Ok(actual), Ok(expected)) if actual == expected => {}
        (Err(_), Err(_)) => {}
        (Err(message), Ok(_))
            if has_lone_surrogate(payload)
                && message.contains("unpaired UTF-16 surrogate") => {}
        _ => panic!(
            "the function and the reference differ:\n  function:  {first:?}\n  reference: {expected:?}\npayload: {}",
            show(payload)
        ),
    }
    first
}

/// The payload for a failure message: the text when short, else its length and ends.
pub fn show(payload: &[u8]) -> String {
    let text = String::from_utf8_lossy(payload);
    if payload.len() <= 2000 {
        format!("{text:?} ({} bytes)", payload.len())
    } else {
        let head: String = text.chars().take(600).collect();
        let tail: String = {
            let chars: Vec<char> = text.chars().collect();
            chars[chars.len().saturating_sub(600)..].iter().collect()
        };
        format!("{} bytes: {head:?} ... {tail:?}", payload.len())
    }
}

// ---------------------------------------------------------------------------------------------
// The reference.

/// Why the reference rejects an event (only the fact of rejection is compared).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rejected(pub String);

impl fmt::Display for Rejected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn reject<T>(why: impl Into<String>) -> Result<T, Rejected> {
    Err(Rejected(why.into()))
}

/// The reference's answer to `payload`.
pub fn reference(payload: &[u8], default_threshold: &str) -> Result<Outcome, Rejected> {
    let text = payload.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(payload);
    let Ok(text) = std::str::from_utf8(text) else {
        return reject("invalid UTF-8");
    };
    let root: &RawValue = match serde_json::from_str(text) {
        Ok(root) => root,
        Err(error) => return reject(format!("not JSON: {error}")),
    };
    if max_depth(root.get()) > MAX_DEPTH {
        return reject("nested too deep");
    }
    let (items, threshold, include_indices) = match first_byte(root) {
        b'[' => (root, None, None),
        b'{' => {
            let top = members(root);
            if let Some(items) = last(&top, "items") {
                (
                    items,
                    last(&top, "threshold"),
                    last(&top, "include_indices"),
                )
            } else if let Some(items) = last(&top, "Items") {
                match last(&top, "BatchInput") {
                    None => (items, None, None),
                    Some(input) if first_byte(input) == b'{' => {
                        let options = members(input);
                        (
                            items,
                            last(&options, "threshold"),
                            last(&options, "include_indices"),
                        )
                    }
                    Some(_) => return reject("BatchInput is not an object"),
                }
            } else {
                return reject("no items");
            }
        }
        _ => return reject("neither an object nor an array"),
    };
    if first_byte(items) != b'[' {
        return reject("items is not an array");
    }
    let mut frequencies = Vec::new();
    for item in elements(items) {
        if first_byte(item) != b'{' {
            return reject("an item is not an object");
        }
        let item_members = members(item);
        let mut found = item_members.iter().filter(|(name, _)| name == b"frequency");
        let frequency = match (found.next(), found.next()) {
            (None, _) => return reject("an item without frequency"),
            (Some(_), Some(_)) => return reject("an item with two frequencies"),
            (Some((_, value)), None) => *value,
        };
        if !is_number(frequency) {
            return reject("a frequency that is not a number");
        }
        frequencies.push(exact(frequency.get()));
    }
    let threshold = match threshold {
        Some(value) if is_number(value) => value.get().to_string(),
        Some(_) => return reject("threshold is not a number"),
        None => default_threshold.to_string(),
    };
    let include_indices = match include_indices.map(RawValue::get) {
        None | Some("false") => false,
        Some("true") => true,
        Some(_) => return reject("include_indices is not a boolean"),
    };
    let cut = exact(&threshold);
    let indices: Vec<usize> = frequencies
        .iter()
        .enumerate()
        .filter(|(_, frequency)| greater(frequency, &cut))
        .map(|(index, _)| index)
        .collect();
    Ok(Outcome {
        count: indices.len(),
        total: frequencies.len(),
        indices: include_indices.then_some(indices),
        threshold,
    })
}

fn first_byte(value: &RawValue) -> u8 {
    value.get().as_bytes()[0]
}

fn is_number(value: &RawValue) -> bool {
    matches!(first_byte(value), b'-' | b'0'..=b'9')
}

/// The last member named `name` (its name compared after unescaping).
fn last<'a>(members: &[(Vec<u8>, &'a RawValue)], name: &str) -> Option<&'a RawValue> {
    members
        .iter()
        .rev()
        .find(|(n, _)| n == name.as_bytes())
        .map(|(_, value)| *value)
}

/// The members of an object, in order, repeats included; names unescaped to bytes (a lone
/// surrogate escape becomes bytes that match no name the contract knows).
fn members(object: &RawValue) -> Vec<(Vec<u8>, &RawValue)> {
    struct Members;
    impl<'de> Visitor<'de> for Members {
        type Value = Vec<(Vec<u8>, &'de RawValue)>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("an object")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut members = Vec::new();
            while let Some(Name(name)) = map.next_key()? {
                members.push((name, map.next_value::<&RawValue>()?));
            }
            Ok(members)
        }
    }
    struct ObjectMembers<'a>(Vec<(Vec<u8>, &'a RawValue)>);
    impl<'de> Deserialize<'de> for ObjectMembers<'de> {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            d.deserialize_map(Members).map(ObjectMembers)
        }
    }
    serde_json::from_str::<ObjectMembers<'_>>(object.get())
        .expect("an object serde_json has read")
        .0
}

/// A member name, unescaped without checking surrogates (serde_json's `parse_str_raw`).
struct Name(Vec<u8>);

impl<'de> Deserialize<'de> for Name {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Bytes;
        impl<'de> Visitor<'de> for Bytes {
            type Value = Vec<u8>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a member name")
            }
            fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<Vec<u8>, E> {
                Ok(v.to_vec())
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Vec<u8>, E> {
                Ok(v.as_bytes().to_vec())
            }
        }
        d.deserialize_bytes(Bytes).map(Name)
    }
}

/// The elements of an array, in order.
fn elements(array: &RawValue) -> Vec<&RawValue> {
    struct Elements;
    impl<'de> Visitor<'de> for Elements {
        type Value = Vec<&'de RawValue>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("an array")
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            let mut elements = Vec::new();
            while let Some(element) = seq.next_element::<&RawValue>()? {
                elements.push(element);
            }
            Ok(elements)
        }
    }
    struct ArrayElements<'a>(Vec<&'a RawValue>);
    impl<'de> Deserialize<'de> for ArrayElements<'de> {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            d.deserialize_seq(Elements).map(ArrayElements)
        }
    }
    serde_json::from_str::<ArrayElements<'_>>(array.get())
        .expect("an array serde_json has read")
        .0
}

/// The deepest nesting of arrays and objects in well-formed JSON text.
pub fn max_depth(text: &str) -> usize {
    let (mut depth, mut max, mut in_string, mut escaped) = (0usize, 0usize, false, false);
    for byte in text.bytes() {
        if in_string {
            match byte {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match byte {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                max = max.max(depth);
            }
            b']' | b'}' => depth -= 1,
            _ => {}
        }
    }
    max
}

/// Whether the text holds a `\uXXXX` escape of a UTF-16 surrogate that is not part of a pair
/// (looked for loosely: any surrogate escape at all).
pub fn has_lone_surrogate(payload: &[u8]) -> bool {
    payload.windows(4).any(|w| {
        w[0] == b'\\'
            && (w[1] == b'u' || w[1] == b'U')
            && (w[2] == b'd' || w[2] == b'D')
            && matches!(w[3], b'8'..=b'9' | b'a'..=b'f' | b'A'..=b'F')
    })
}

// ---------------------------------------------------------------------------------------------
// Exact comparison.

/// A JSON number's value as Python's `json.loads` gives it.
#[derive(Clone, Debug)]
pub enum Exact {
    Integer(BigInt),
    Double(f64),
}

/// The value of a JSON number literal.
pub fn exact(literal: &str) -> Exact {
    if literal.contains(['.', 'e', 'E']) {
        // Rust's parser rounds to nearest for any number of digits and overflows to infinity.
        Exact::Double(literal.parse().expect("a JSON number literal"))
    } else {
        Exact::Integer(literal.parse().expect("a JSON integer literal"))
    }
}

fn rational(value: f64) -> BigRational {
    BigRational::from_float(value).expect("a finite double")
}

/// `a > b`, exactly.
pub fn greater(a: &Exact, b: &Exact) -> bool {
    match (a, b) {
        (Exact::Double(x), Exact::Double(y)) => x > y,
        (Exact::Integer(m), Exact::Integer(n)) => m > n,
        (Exact::Integer(n), Exact::Double(y)) => {
            if y.is_infinite() {
                *y < 0.0
            } else {
                BigRational::from_integer(n.clone()) > rational(*y)
            }
        }
        (Exact::Double(x), Exact::Integer(n)) => {
            if x.is_infinite() {
                *x > 0.0
            } else {
                rational(*x) > BigRational::from_integer(n.clone())
            }
        }
    }
}
