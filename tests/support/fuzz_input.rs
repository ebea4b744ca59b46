//! How a fuzz input becomes a payload and a default threshold: shared by the fuzz target
//! (`fuzz/fuzz_targets/differential.rs`) and the replay of its corpus (`tests/fuzz_corpus.rs`),
//! which include this file with `#[path]`.
//!
//! The first byte chooses the default threshold (bits 1 to 4) and the mode (bit 0):
//!
//! - even: the rest of the input is the payload, as bytes;
//! - odd: the rest drives a generator of events (`arbitrary::Unstructured`), which writes
//!   the three forms and their traps: items whose strings hold `},{`, `\"` and `"frequency": 5`,
//!   nested objects and arrays with their own `frequency`, member names spelled with escapes,
//!   numbers of every kind (huge integers, `1e400`, `-0`, near-ties around the threshold),
//!   whitespace between any two tokens, repeated members, values of the wrong kind, a byte order
//!   mark, nesting around serde_json's depth limit, and now and then a corrupted byte.

#![allow(dead_code)]

use arbitrary::Unstructured;

/// Default thresholds (the `FREQUENCY_THRESHOLD` of the run), chosen by the first byte.
pub const DEFAULT_THRESHOLDS: [&str; 16] = [
    "10",
    "0",
    "-1",
    "10.5",
    "1e1",
    "9007199254740992",
    "9007199254740993",
    "1e400",
    "-1e400",
    "123456789012345678901234567890",
    "0.1",
    "-0",
    "18446744073709551615",
    "1.7976931348623157e308",
    "5e-324",
    "99",
];

/// The payload and default threshold a fuzz input stands for.
pub fn payload(data: &[u8]) -> (Vec<u8>, &'static str) {
    let Some((&selector, rest)) = data.split_first() else {
        return (Vec::new(), DEFAULT_THRESHOLDS[0]);
    };
    let threshold = DEFAULT_THRESHOLDS[usize::from(selector >> 1) % DEFAULT_THRESHOLDS.len()];
    if selector & 1 == 0 {
        (rest.to_vec(), threshold)
    } else {
        (Generator::new(rest).event(), threshold)
    }
}

/// Writes events from the choices an `Unstructured` gives (zeros once it runs dry).
pub struct Generator<'a> {
    u: Unstructured<'a>,
    out: Vec<u8>,
}

const NUMBERS: &[&str] = &[
    "0",
    "-0",
    "1",
    "-1",
    "9",
    "10",
    "11",
    "10.0",
    "1e1",
    "1E1",
    "1e+1",
    "100e-1",
    "10.5",
    "9.999999999999999",
    "10.000000000000002",
    "0.1",
    "-0.0",
    "0e0",
    "1e400",
    "-1e400",
    "1E310",
    "1e-400",
    "-1e-400",
    "9007199254740992",
    "9007199254740993",
    "9007199254740992.0",
    "9007199254740993.0",
    "9223372036854775807",
    "9223372036854775808",
    "-9223372036854775808",
    "-9223372036854775809",
    "18446744073709551615",
    "18446744073709551616",
    "1.8446744073709551616e19",
    "1.7976931348623157e308",
    "1.7976931348623159e308",
    "5e-324",
    "2.4703282292062328e-324",
    "123456789012345678901234567890",
    "99",
    "100",
    "1.5",
    "-2.5e3",
];

const STRING_PIECES: &[&str] = &[
    "},{",
    "}, {",
    "},\n{",
    "\\\"",
    "\\\\",
    "\\\"},{\\\"frequency\\\": 50},{\\\"",
    "\\\"frequency\\\": 5",
    "{\\\"frequency\\\": 99}",
    "frequency",
    "items",
    "]",
    "[",
    "{",
    "}",
    ",",
    ":",
    " ",
    "\\n",
    "\\t",
    "\\/",
    "\\u0041",
    "\\u0022",
    "\\u005c",
    "\\ud83d\\ude00",
    "\u{e9}",
    "\u{65e5}\u{672c}",
    "\u{1f600}",
    "abc",
    "x",
    "0",
    "true",
    "null",
];

/// Member names of items and nested objects: `frequency` spelled every way, and its neighbours.
const ITEM_KEYS: &[&str] = &[
    "frequency",
    "frequency",
    "frequency",
    "fr\\u0065quency",
    "\\u0066requency",
    "Frequency",
    "frequency ",
    "frequencies",
    "freq",
    "id",
    "name",
    "",
    "},{",
    "\\\"frequency\\\"",
    "items",
    "threshold",
];

const TOP_KEYS: &[&str] = &[
    "items",
    "Items",
    "threshold",
    "include_indices",
    "BatchInput",
    "it\\u0065ms",
    "\\u0049tems",
    "thresh\\u006fld",
    "ITEMS",
    "data",
    "version",
    "requestContext",
    "body",
    "b\\u006fdy",
    "httpMethod",
    "frequency",
];

impl<'a> Generator<'a> {
    pub fn new(data: &'a [u8]) -> Generator<'a> {
        Generator {
            u: Unstructured::new(data),
            out: Vec::new(),
        }
    }

    fn n(&mut self, low: usize, high: usize) -> usize {
        self.u.int_in_range(low..=high).unwrap_or(low)
    }

    fn chance(&mut self, one_in: usize) -> bool {
        self.n(0, one_in - 1) == 0
    }

    fn pick<T: Copy>(&mut self, choices: &[T]) -> T {
        choices[self.n(0, choices.len() - 1)]
    }

    fn put(&mut self, text: &str) {
        self.out.extend_from_slice(text.as_bytes());
    }

    /// Whitespace, often none.
    fn ws(&mut self) {
        let ws = match self.n(0, 11) {
            0..=5 => "",
            6 => " ",
            7 => "\n",
            8 => "\t",
            9 => "\r\n  ",
            10 => "  \t\n ",
            _ => "\n\n\n        ",
        };
        self.put(ws);
    }

    /// Token then whitespace.
    fn token(&mut self, text: &str) {
        self.put(text);
        self.ws();
    }

    /// The whole event.
    pub fn event(mut self) -> Vec<u8> {
        if self.chance(12) {
            self.put("\u{feff}");
        }
        self.ws();
        match self.n(0, 9) {
            0..=3 => self.top_object(Some("items")),
            4..=5 => self.items_array(),
            6..=7 => self.top_object(Some("Items")),
            8 => self.top_object(None),
            _ => self.value(2),
        }
        self.ws();
        if self.chance(8) {
            self.corrupt();
        }
        self.out
    }

    /// A top-level object with the items under `items_key` (and any other members).
    fn top_object(&mut self, items_key: Option<&'static str>) {
        self.token("{");
        let members = self.n(0, 5);
        let items_at = self.n(0, members);
        let mut first = true;
        for index in 0..=members {
            let key = if index == items_at {
                match items_key {
                    Some(key) => key,
                    None => self.pick(TOP_KEYS),
                }
            } else {
                self.pick(TOP_KEYS)
            };
            if !first {
                self.token(",");
            }
            first = false;
            self.string_token(key);
            self.token(":");
            match key {
                "items" | "Items" | "it\\u0065ms" | "\\u0049tems" => {
                    if self.chance(10) {
                        self.value(2)
                    } else {
                        self.items_array()
                    }
                }
                "threshold" | "thresh\\u006fld" => self.option_threshold(),
                "include_indices" => self.option_boolean(),
                "BatchInput" => self.batch_input(),
                _ => self.value(3),
            }
            self.ws();
        }
        self.token("}");
    }

    fn option_threshold(&mut self) {
        if self.chance(8) {
            self.value(1)
        } else {
            self.number()
        }
    }

    fn option_boolean(&mut self) {
        if self.chance(8) {
            self.value(1)
        } else {
            let value = self.pick(&["true", "false"]);
            self.put(value)
        }
    }

    fn batch_input(&mut self) {
        if self.chance(10) {
            return self.value(2);
        }
        self.token("{");
        let members = self.n(0, 4);
        for index in 0..members {
            if index > 0 {
                self.token(",");
            }
            let key = self.pick(&[
                "threshold",
                "include_indices",
                "other",
                "threshold",
                "items",
            ]);
            self.string_token(key);
            self.token(":");
            match key {
                "threshold" => self.option_threshold(),
                "include_indices" => self.option_boolean(),
                _ => self.value(2),
            }
            self.ws();
        }
        self.put("}");
    }

    fn items_array(&mut self) {
        self.token("[");
        let count = match self.n(0, 7) {
            0 => 0,
            1..=5 => self.n(1, 12),
            _ => self.n(10, 80),
        };
        for index in 0..count {
            if index > 0 {
                self.token(",");
            }
            self.item();
            self.ws();
        }
        self.put("]");
    }

    fn item(&mut self) {
        if self.chance(25) {
            return self.value(2);
        }
        self.token("{");
        let frequencies = match self.n(0, 30) {
            0 => 0,
            1 => 2,
            _ => 1,
        };
        let extras = self.n(0, 4);
        let total = frequencies + extras;
        let mut placed = 0;
        for index in 0..total {
            if index > 0 {
                self.token(",");
            }
            let left = total - index;
            let frequency_here = placed < frequencies && self.n(0, left - 1) < frequencies - placed;
            if frequency_here {
                placed += 1;
                let key = self.pick(&["frequency", "frequency", "frequency", "fr\\u0065quency"]);
                self.string_token(key);
                self.token(":");
                if self.chance(20) {
                    self.value(2)
                } else {
                    self.number()
                }
            } else {
                let key = self.pick(&ITEM_KEYS[3..]);
                self.string_token(key);
                self.token(":");
                self.value(3);
            }
            self.ws();
        }
        self.put("}");
    }

    fn string_token(&mut self, content: &str) {
        self.put("\"");
        self.put(content);
        self.put("\"");
        self.ws();
    }

    /// Any value, nesting at most `depth` more levels (now and then far more).
    fn value(&mut self, depth: usize) {
        let kind = if depth == 0 {
            self.n(0, 4)
        } else {
            self.n(0, 7)
        };
        match kind {
            0 => {
                let literal = self.pick(&["null", "true", "false"]);
                self.put(literal)
            }
            1 => self.number(),
            2 | 3 => self.string(),
            4 if self.chance(40) => self.deep(),
            4 => self.put("[]"),
            5 => {
                self.token("[");
                let count = self.n(0, 3);
                for index in 0..count {
                    if index > 0 {
                        self.token(",");
                    }
                    self.value(depth - 1);
                    self.ws();
                }
                self.put("]")
            }
            _ => {
                self.token("{");
                let count = self.n(0, 3);
                for index in 0..count {
                    if index > 0 {
                        self.token(",");
                    }
                    let key = self.pick(ITEM_KEYS);
                    self.string_token(key);
                    self.token(":");
                    self.value(depth - 1);
                    self.ws();
                }
                self.put("}")
            }
        }
    }

    /// Arrays and objects nested around serde_json's limit of 127.
    fn deep(&mut self) {
        let levels = self.n(118, 130);
        let mut closers = Vec::with_capacity(levels);
        for _ in 0..levels {
            if self.chance(3) {
                self.put("{\"frequency\":");
                closers.push('}');
            } else {
                self.put("[");
                closers.push(']');
            }
        }
        self.number();
        for closer in closers.into_iter().rev() {
            self.out.push(closer as u8);
        }
    }

    fn number(&mut self) {
        match self.n(0, 9) {
            0..=5 => {
                let literal = self.pick(NUMBERS);
                self.put(literal)
            }
            6 => {
                let value = self.n(0, 40) as i64 - 20;
                self.put(&value.to_string())
            }
            7 => {
                // An integer of any length.
                if self.chance(2) {
                    self.put("-");
                }
                let digits = self.pick(&[19usize, 20, 21, 39, 40, 310, 400]);
                let first = self.n(1, 9);
                self.put(&first.to_string());
                for _ in 1..digits {
                    let digit = self.n(0, 9);
                    self.put(&digit.to_string());
                }
            }
            8 => {
                // A fraction with many digits, near a threshold (its digits beyond a double's
                // fast conversion, or the exponent moving it back near one).
                let whole = self.pick(&["10", "9", "0", "-10", "9007199254740992", "1"]);
                self.put(whole);
                self.put(".");
                let digits = self.n(1, 30);
                for _ in 0..digits {
                    let digit = self.pick(&['0', '0', '9', '1', '5']);
                    self.out.push(digit as u8);
                }
                if self.chance(4) {
                    let exponent = self.pick(&["e0", "e1", "e-1", "E+22", "e-22", "e23", "e-23"]);
                    self.put(exponent);
                }
            }
            _ => {
                let mantissa = self.pick(&["1", "1.5", "-2", "9.99", "0", "123456789"]);
                self.put(mantissa);
                let e = self.pick(&["e", "E", "e+", "e-", "E-"]);
                self.put(e);
                let exponent =
                    self.pick(&[0usize, 1, 2, 15, 16, 17, 300, 308, 309, 320, 400, 10000]);
                self.put(&exponent.to_string());
            }
        }
    }

    fn string(&mut self) {
        self.put("\"");
        let pieces = match self.n(0, 9) {
            0 => 0,
            1..=8 => self.n(1, 6),
            _ => self.n(20, 200),
        };
        for _ in 0..pieces {
            if self.chance(60) {
                // Rarely, something that is not valid JSON text (or is, in Python's eyes).
                let bad: &[u8] = self.pick(&[
                    b"\x01" as &[u8],
                    b"\x00",
                    b"\xff",
                    b"\xc3",
                    b"\\x",
                    b"\\ud800",
                    b"\n",
                    b"\\u12",
                ]);
                self.out.extend_from_slice(bad);
            } else {
                let piece = self.pick(STRING_PIECES);
                self.put(piece);
            }
        }
        self.put("\"");
    }

    /// One or two bytes changed, inserted or removed, or the text cut short.
    fn corrupt(&mut self) {
        if self.out.is_empty() {
            return;
        }
        let at = self.n(0, self.out.len() - 1);
        let byte = self.pick(b"\"{}[],:\\ 0-.eatn\x00\xff\xc3\xef");
        match self.n(0, 3) {
            0 => self.out[at] = byte,
            1 => self.out.insert(at, byte),
            2 => {
                self.out.remove(at);
            }
            _ => self.out.truncate(at),
        }
    }
}
