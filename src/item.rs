//! One item: a JSON object whose own top-level `frequency` member is a number.
//!
//! serde_json parses the item; this visitor keeps only the text of `frequency` (as a
//! borrowed [`RawValue`], so integers of any size and literals beyond the double range keep
//! their exact text) and skips every other member without building it.

use std::fmt;

use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::error::{JsonKind, Problem};
use crate::json::{self, Malformed};
use crate::number::Frequency;

/// Why a well-formed item is rejected; the path is `<items>[i]` or `<items>[i].frequency`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ItemFault {
    NotAnObject(JsonKind),
    MissingFrequency,
    FrequencyNotANumber(JsonKind),
    DuplicateFrequency,
}

impl ItemFault {
    /// The item-relative path suffix and the problem.
    pub fn describe(self) -> (&'static str, Problem) {
        match self {
            ItemFault::NotAnObject(found) => (
                "",
                Problem::WrongKind {
                    expected: "an object with a numeric \"frequency\" member",
                    found,
                },
            ),
            ItemFault::MissingFrequency => (
                ".frequency",
                Problem::Missing {
                    expected: "a number",
                    member: "frequency",
                },
            ),
            ItemFault::FrequencyNotANumber(found) => (
                ".frequency",
                Problem::WrongKind {
                    expected: "a number",
                    found,
                },
            ),
            ItemFault::DuplicateFrequency => (
                ".frequency",
                Problem::Duplicate {
                    member: "frequency",
                },
            ),
        }
    }
}

/// Parses the item starting at `pos` and returns its frequency (or why it has none) and the
/// offset just past the item. `Err` only for bytes that are not JSON.
#[inline]
pub fn parse_item(
    payload: &[u8],
    pos: usize,
) -> Result<(Result<Frequency, ItemFault>, usize), Malformed> {
    let (shape, end) = json::parse_value::<ItemShape<'_>>(payload, pos)?;
    let frequency = match shape {
        ItemShape::NotAnObject(kind) => Err(ItemFault::NotAnObject(kind)),
        ItemShape::Object {
            duplicate: true, ..
        } => Err(ItemFault::DuplicateFrequency),
        ItemShape::Object {
            frequency: None, ..
        } => Err(ItemFault::MissingFrequency),
        ItemShape::Object {
            frequency: Some(raw),
            ..
        } => {
            let literal = raw.get();
            match JsonKind::of_first_byte(literal.as_bytes()[0]) {
                JsonKind::Number => {
                    // The raw value borrows from the payload, so its address gives its offset.
                    let offset = literal.as_ptr() as usize - payload.as_ptr() as usize;
                    Ok(Frequency::from_literal(literal, offset))
                }
                other => Err(ItemFault::FrequencyNotANumber(other)),
            }
        }
    };
    Ok((frequency, end))
}

/// What serde_json found at an item's position.
enum ItemShape<'a> {
    NotAnObject(JsonKind),
    Object {
        frequency: Option<&'a RawValue>,
        duplicate: bool,
    },
}

impl<'de> Deserialize<'de> for ItemShape<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ItemVisitor)
    }
}

struct ItemVisitor;

impl<'de> Visitor<'de> for ItemVisitor {
    type Value = ItemShape<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an item")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut frequency = None;
        let mut duplicate = false;
        while let Some(key) = map.next_key::<ItemKey>()? {
            match key {
                ItemKey::Frequency if frequency.is_none() => {
                    frequency = Some(map.next_value::<&'de RawValue>()?);
                }
                ItemKey::Frequency => {
                    duplicate = true;
                    map.next_value::<IgnoredAny>()?;
                }
                ItemKey::Other => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(ItemShape::Object {
            frequency,
            duplicate,
        })
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(ItemShape::NotAnObject(JsonKind::Array))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(ItemShape::NotAnObject(JsonKind::Null))
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
        Ok(ItemShape::NotAnObject(JsonKind::Bool))
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
        Ok(ItemShape::NotAnObject(JsonKind::Number))
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
        Ok(ItemShape::NotAnObject(JsonKind::Number))
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
        Ok(ItemShape::NotAnObject(JsonKind::Number))
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
        Ok(ItemShape::NotAnObject(JsonKind::String))
    }
}

/// A member name of an item: `frequency` (after unescaping, as Python compares keys) or not.
enum ItemKey {
    Frequency,
    Other,
}

impl<'de> Deserialize<'de> for ItemKey {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl Visitor<'_> for KeyVisitor {
            type Value = ItemKey;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a member name")
            }
            fn visit_str<E: de::Error>(self, name: &str) -> Result<ItemKey, E> {
                Ok(if name == "frequency" {
                    ItemKey::Frequency
                } else {
                    ItemKey::Other
                })
            }
        }
        deserializer.deserialize_identifier(KeyVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(text: &str) -> Result<Frequency, ItemFault> {
        let (frequency, end) = parse_item(text.as_bytes(), 0).expect("well-formed");
        assert_eq!(end, text.len());
        frequency
    }

    #[test]
    fn only_the_top_level_frequency_counts() {
        assert_eq!(item(r#"{"id":1,"frequency":12}"#), Ok(Frequency::Int(12)));
        assert_eq!(
            item(r#"{"meta":{"frequency":99},"note":"\"frequency\": 5","frequency":-3.5}"#),
            Ok(Frequency::Float(-3.5))
        );
        assert_eq!(
            item(r#"{"meta":{"frequency":99}}"#),
            Err(ItemFault::MissingFrequency)
        );
        assert_eq!(item(r#"{"freq\u0075ency":7}"#), Ok(Frequency::Int(7)));
    }

    #[test]
    fn faults_name_what_was_found() {
        assert_eq!(item("[1,2]"), Err(ItemFault::NotAnObject(JsonKind::Array)));
        assert_eq!(item("\"x\""), Err(ItemFault::NotAnObject(JsonKind::String)));
        assert_eq!(item("null"), Err(ItemFault::NotAnObject(JsonKind::Null)));
        assert_eq!(item("true"), Err(ItemFault::NotAnObject(JsonKind::Bool)));
        for (value, kind) in [
            ("null", JsonKind::Null),
            ("\"12\"", JsonKind::String),
            ("false", JsonKind::Bool),
            ("[12]", JsonKind::Array),
            ("{\"v\":12}", JsonKind::Object),
        ] {
            assert_eq!(
                item(&format!("{{\"frequency\":{value}}}")),
                Err(ItemFault::FrequencyNotANumber(kind))
            );
        }
        assert_eq!(
            item(r#"{"frequency":1,"frequency":2}"#),
            Err(ItemFault::DuplicateFrequency)
        );
    }

    #[test]
    fn big_integers_keep_their_text() {
        let text = r#"{"frequency": 123456789012345678901234567890}"#;
        match item(text) {
            Ok(Frequency::Big { start, len }) => assert_eq!(
                &text[start as usize..(start + len) as usize],
                "123456789012345678901234567890"
            ),
            other => panic!("expected a big integer, got {other:?}"),
        }
    }

    #[test]
    fn malformed_items_are_syntax_errors() {
        assert!(parse_item(br#"{"frequency": 1"#, 0).is_err());
        assert!(parse_item(br#"{"frequency": 01}"#, 0).is_err());
    }
}
