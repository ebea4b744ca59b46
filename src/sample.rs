//! Deterministic generators of example events, for benchmarks and tests.
//!
//! [`event`] is the benchmark event: items shaped like `{"id": N, "name": "item-N",
//! "frequency": F}` with `F` in `0..25`. [`Shape`] names the other shapes of event users send
//! (pretty-printed, wide, non-ASCII, escaped, doubles, long integers, a Step Functions batch, a
//! threshold after the items), so that the parser's speed is measured on each. Every value
//! comes from a fixed linear congruential sequence, so every run sees the same bytes.

use std::fmt::Write as _;

/// A direct-invocation event of `items` items: `{"items": [...]}`.
pub fn event(items: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(items * 56 + 16);
    out.extend_from_slice(b"{\"items\": [");
    let mut rng = Sequence::new();
    for id in 0..items {
        if id > 0 {
            out.extend_from_slice(b", ");
        }
        let frequency = rng.below(25);
        out.extend_from_slice(
            format!("{{\"id\": {id}, \"name\": \"item-{id}\", \"frequency\": {frequency}}}")
                .as_bytes(),
        );
    }
    out.extend_from_slice(b"]}");
    out
}

/// A shape of event, for measuring the parser on each.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shape {
    /// The benchmark event's items: `{"id": N, "name": "item-N", "frequency": F}`.
    Flat,
    /// The same, pretty-printed as Python's `json.dumps(indent=2)` writes it.
    Pretty,
    /// Wide items: a 200-byte name, a nested array holding an object.
    Wide,
    /// A member of non-ASCII text, as UTF-8 (`"café 中文 naïve"`).
    NonAscii,
    /// The same text as `\u` escapes, as `json.dumps(ensure_ascii=True)` writes it.
    UnicodeEscapes,
    /// Strings with `\"` and `\\` escapes.
    Escapes,
    /// `frequency` a double with full precision (`14.578301734827`).
    Double,
    /// `frequency` a double in exponent form (`2.291e+01`).
    Exponent,
    /// `frequency` an integer of 12 to 21 digits.
    LongInteger,
    /// A Step Functions Distributed Map batch: `{"Items": [...], "BatchInput": {...}}`.
    Batch,
    /// Items with double frequencies, then the event's threshold after them.
    ThresholdAfter,
}

impl Shape {
    pub const ALL: [Shape; 11] = [
        Shape::Flat,
        Shape::Pretty,
        Shape::Wide,
        Shape::NonAscii,
        Shape::UnicodeEscapes,
        Shape::Escapes,
        Shape::Double,
        Shape::Exponent,
        Shape::LongInteger,
        Shape::Batch,
        Shape::ThresholdAfter,
    ];

    /// A short name, for benchmark ids.
    pub fn name(self) -> &'static str {
        match self {
            Shape::Flat => "flat",
            Shape::Pretty => "pretty",
            Shape::Wide => "wide",
            Shape::NonAscii => "non-ascii",
            Shape::UnicodeEscapes => "unicode-escapes",
            Shape::Escapes => "escapes",
            Shape::Double => "double",
            Shape::Exponent => "exponent",
            Shape::LongInteger => "long-integer",
            Shape::Batch => "batch",
            Shape::ThresholdAfter => "threshold-after",
        }
    }

    /// An event of this shape with items until it holds at least `bytes` bytes.
    pub fn event(self, bytes: usize) -> Vec<u8> {
        let mut out = String::with_capacity(bytes + 1024);
        let (open, close) = match self {
            Shape::Pretty => ("{\n  \"items\": [", "\n  ]\n}"),
            Shape::Batch => (
                "{\"Items\": [",
                "], \"BatchInput\": {\"threshold\": 10, \"include_indices\": false}}",
            ),
            Shape::ThresholdAfter => ("{\"items\": [", "], \"threshold\": 12.5}"),
            _ => ("{\"items\": [", "]}"),
        };
        out.push_str(open);
        let mut rng = Sequence::new();
        let mut id = 0;
        while out.len() < bytes || id == 0 {
            if id > 0 {
                out.push_str(if self == Shape::Pretty { "," } else { ", " });
            }
            self.item(id, &mut rng, &mut out);
            id += 1;
        }
        out.push_str(close);
        out.into_bytes()
    }

    fn item(self, id: usize, rng: &mut Sequence, out: &mut String) {
        // Writing to a String cannot fail.
        let _ = match self {
            Shape::Flat | Shape::Batch => write!(
                out,
                r#"{{"id": {id}, "name": "item-{id}", "frequency": {}}}"#,
                rng.below(25)
            ),
            Shape::Pretty => write!(
                out,
                "\n    {{\n      \"id\": {id},\n      \"name\": \"item-{id}\",\n      \"frequency\": {}\n    }}",
                rng.below(25)
            ),
            Shape::Wide => {
                let name: String = (0..200)
                    .map(|k| char::from(b'a' + ((id + k * 7) % 26) as u8))
                    .collect();
                write!(
                    out,
                    r#"{{"id": {id}, "name": "{name}", "tags": ["t{}", {{"key": "k{id}", "weight": {}}}], "active": true, "frequency": {}}}"#,
                    id % 10,
                    rng.below(100),
                    rng.below(25)
                )
            }
            Shape::NonAscii => write!(
                out,
                r#"{{"id": {id}, "name": "café 中文 naïve {id}", "frequency": {}}}"#,
                rng.below(25)
            ),
            Shape::UnicodeEscapes => write!(
                out,
                r#"{{"id": {id}, "name": "caf\u00e9 \u4e2d\u6587 na\u00efve {id}", "frequency": {}}}"#,
                rng.below(25)
            ),
            Shape::Escapes => write!(
                out,
                r#"{{"id": {id}, "name": "say \"hi\" to C:\\items\\{id}", "frequency": {}}}"#,
                rng.below(25)
            ),
            Shape::Double | Shape::ThresholdAfter => write!(
                out,
                r#"{{"id": {id}, "name": "item-{id}", "frequency": {}}}"#,
                rng.double()
            ),
            Shape::Exponent => {
                // Python's `'%.3e' % x`: a signed exponent of at least two digits.
                let x = rng.double().max(0.001);
                let exponent = x.log10().floor() as i32;
                let mantissa = x / 10f64.powi(exponent);
                let (mantissa, exponent) = if format!("{mantissa:.3}").starts_with("10") {
                    (mantissa / 10.0, exponent + 1)
                } else {
                    (mantissa, exponent)
                };
                let sign = if exponent < 0 { '-' } else { '+' };
                write!(
                    out,
                    r#"{{"id": {id}, "name": "item-{id}", "frequency": {mantissa:.3}e{sign}{:02}}}"#,
                    exponent.abs()
                )
            }
            Shape::LongInteger => {
                let digits = 12 + rng.below(10) as usize;
                let mut literal = (1 + rng.below(9)).to_string();
                for _ in 1..digits {
                    literal.push(char::from(b'0' + rng.below(10) as u8));
                }
                write!(
                    out,
                    r#"{{"id": {id}, "name": "item-{id}", "frequency": {literal}}}"#
                )
            }
        };
    }
}

/// A fixed linear congruential sequence.
struct Sequence(u64);

impl Sequence {
    fn new() -> Sequence {
        Sequence(0x2545_f491_4f6c_dd1d)
    }

    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// A double in `0..25` rounded to twelve decimals and written as Python writes it (the
    /// shortest text that reads back as the same double).
    fn double(&mut self) -> f64 {
        let micro = (self.next() << 20 | self.next() & 0xF_FFFF) % 25_000_000_000_000;
        micro as f64 / 1e12
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_valid_and_deterministic() {
        let event = super::event(1_000);
        assert_eq!(event, super::event(1_000));
        let value: serde_json::Value = serde_json::from_slice(&event).unwrap();
        assert_eq!(value["items"].as_array().unwrap().len(), 1_000);
        assert_eq!(value["items"][7]["name"], "item-7");
    }

    /// Each shape is JSON, as large as asked, and has what its name says.
    #[test]
    fn every_shape_is_json_and_has_its_trait() {
        for shape in Shape::ALL {
            let event = shape.event(20_000);
            assert_eq!(event, shape.event(20_000), "{shape:?}");
            assert!(event.len() >= 20_000, "{shape:?}");
            let value: serde_json::Value = serde_json::from_slice(&event).unwrap();
            let items = if shape == Shape::Batch {
                &value["Items"]
            } else {
                &value["items"]
            };
            let items = items.as_array().unwrap();
            assert!(items.len() > 50, "{shape:?}");
            let text = std::str::from_utf8(&event).unwrap();
            let frequency = |i: usize| {
                let start = text.match_indices("\"frequency\": ").nth(i).unwrap().0 + 13;
                let end = start + text[start..].find(['}', '\n']).unwrap();
                &text[start..end]
            };
            match shape {
                Shape::Flat => assert_eq!(event, super::event(items.len())),
                Shape::Pretty => assert!(text.contains("\n      \"frequency\": ")),
                Shape::Wide => {
                    assert!(items[3]["name"].as_str().unwrap().len() == 200);
                    assert!(items[3]["tags"][1].is_object());
                }
                Shape::NonAscii => assert_eq!(items[0]["name"], "café 中文 naïve 0"),
                Shape::UnicodeEscapes => {
                    assert!(text.is_ascii());
                    assert_eq!(items[0]["name"], "café 中文 naïve 0");
                }
                Shape::Escapes => assert_eq!(items[2]["name"], r#"say "hi" to C:\items\2"#),
                Shape::Double | Shape::ThresholdAfter => {
                    let digits = (0..50)
                        .map(|i| frequency(i).chars().filter(char::is_ascii_digit).count())
                        .max();
                    assert!(digits >= Some(13), "{shape:?}: {digits:?}");
                    assert!(items.iter().all(|item| item["frequency"].is_f64()));
                }
                Shape::Exponent => {
                    assert!((0..50).all(|i| frequency(i).len() == 9), "{}", frequency(0));
                    assert!(frequency(0).contains("e+0") || frequency(0).contains("e-0"));
                }
                Shape::LongInteger => {
                    let lengths: Vec<usize> = (0..200).map(|i| frequency(i).len()).collect();
                    assert_eq!(lengths.iter().min(), Some(&12));
                    assert_eq!(lengths.iter().max(), Some(&21));
                }
                Shape::Batch => assert_eq!(value["BatchInput"]["threshold"], 10),
            }
            if shape == Shape::ThresholdAfter {
                assert!(text.ends_with(r#"], "threshold": 12.5}"#));
            }
        }
    }
}
