//! One item: a JSON object whose own top-level `frequency` member is a number.
//!
//! Most items are flat objects, read by [`ItemScanner`] a word at a time, with what it learns
//! of one item's layout used on the next. Anything else goes to serde_json, whose visitor here
//! keeps only the text of `frequency` (as a borrowed [`RawValue`], so integers of any size and
//! literals beyond the double range keep their exact text) and skips every other member
//! without building it.

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

/// Reads the items of one run, in order. It remembers how the members of the items it read
/// were laid out, and whether every byte it read was proven UTF-8.
#[derive(Debug, Default)]
pub struct ItemScanner {
    /// The leads of the first members, as the last item that had them wrote them.
    leads: [MemberLead; LEARNED_MEMBERS],
    /// Set when some bytes were read without checking that they are UTF-8 (serde_json does
    /// not check the strings it skips); the caller then checks them. Left clear, every byte
    /// the scanner read is proven UTF-8 already.
    pub utf8_unchecked: bool,
}

/// How many members of an item have their lead remembered.
const LEARNED_MEMBERS: usize = 8;

/// The bytes from the end of a member's value (or from an item's `{`) to the start of the next
/// member's value, such as `, "name": ` or `{"id":`: a separator, a plain name, a colon and
/// whitespace. Items of one event nearly always repeat them byte for byte, so one masked
/// comparison of 16 bytes takes the place of scanning the name and the punctuation around it.
/// A lead is remembered only after it was read in full, and the same bytes in the same place
/// are the same JSON, so a match proves what the full read would.
#[derive(Clone, Copy, Debug, Default)]
struct MemberLead {
    /// The lead's bytes, the first in the lowest byte, zero beyond its length.
    bytes: u128,
    /// Ones over the lead's bytes; zero when nothing is remembered.
    mask: u128,
    len: usize,
    is_frequency: bool,
}

impl MemberLead {
    const MAX_LEN: usize = 16;

    fn new(lead: &[u8], is_frequency: bool) -> MemberLead {
        // A lead holds at least `{` or `,`, two quotes and a colon, and the caller keeps only
        // leads of up to 16 bytes: the shift below is within 0..128.
        debug_assert!((4..=MemberLead::MAX_LEN).contains(&lead.len()));
        let mut bytes = [0; MemberLead::MAX_LEN];
        bytes[..lead.len()].copy_from_slice(lead);
        MemberLead {
            bytes: u128::from_le_bytes(bytes),
            mask: u128::MAX >> (8 * (MemberLead::MAX_LEN - lead.len())),
            len: lead.len(),
            is_frequency,
        }
    }

    /// The offset just past the lead when the bytes at `at` begin with it.
    #[inline(always)]
    fn matches(&self, p: &[u8], at: usize) -> Option<usize> {
        let chunk = p.get(at..at + MemberLead::MAX_LEN)?;
        // A slice of length 16 always converts.
        let word = u128::from_le_bytes(chunk.try_into().expect("sixteen bytes"));
        (self.mask != 0 && (word ^ self.bytes) & self.mask == 0).then_some(at + self.len)
    }
}

impl ItemScanner {
    /// Parses the item starting at `pos` and returns its frequency (or why it has none) and
    /// the offset just past the item. `Err` only for bytes that are not JSON.
    ///
    /// Most items are flat objects of short plain strings and numbers, which
    /// [`ItemScanner::scan_flat_item`] reads at several times serde_json's speed; anything
    /// else (escapes, syntax errors, items that are not objects) is parsed by serde_json, which
    /// also words every error. `depth` is the number of arrays and objects around the item:
    /// nesting beyond [`json::MAX_DEPTH`] in all is malformed.
    #[inline]
    pub fn parse_item(
        &mut self,
        payload: &[u8],
        pos: usize,
        depth: usize,
    ) -> Result<(Result<Frequency, ItemFault>, usize), Malformed> {
        match self.scan_flat_item(payload, pos, depth) {
            Some(found) => Ok(found),
            None => {
                self.utf8_unchecked = true;
                let (frequency, end) = parse_item_with_serde(payload, pos)?;
                json::check_depth(payload, pos, end, depth)?;
                Ok((frequency, end))
            }
        }
    }

    /// Reads an item that is an object whose member names are plain strings (no escapes) and
    /// whose values are plain strings, numbers, `true`, `false` or `null`; nested objects and
    /// arrays, and strings with escapes, are skipped by serde_json. Returns `None` at the first
    /// byte outside that shape, including every syntax error, so that serde_json reads the item
    /// instead: this scanner only ever accepts what serde_json accepts, with the same result.
    /// It proves the UTF-8 of every byte it reads itself, and sets `utf8_unchecked` when it
    /// hands a value to serde_json, which skips strings without checking them.
    #[inline]
    fn scan_flat_item(
        &mut self,
        p: &[u8],
        pos: usize,
        depth: usize,
    ) -> Option<(Result<Frequency, ItemFault>, usize)> {
        if *p.get(pos)? != b'{' {
            return None;
        }
        let mut frequency: Option<Result<Frequency, ItemFault>> = None;
        let mut duplicate = false;
        // Where the next member's lead starts: the `{`, then the end of each value.
        let mut i = pos;
        let mut member = 0;
        let close = loop {
            let remembered = self.leads.get(member).and_then(|lead| {
                let value = lead.matches(p, i)?;
                Some((lead.is_frequency, value))
            });
            let (is_frequency, value) = match remembered {
                Some(found) => found,
                None => match self.read_lead(p, i, member)? {
                    Lead::Member {
                        is_frequency,
                        value,
                    } => (is_frequency, value),
                    Lead::Close(close) => break close,
                },
            };
            let first = *p.get(value)?;
            let value_end = match first {
                b'"' => match plain_string_end(p, value + 1, &mut self.utf8_unchecked) {
                    Some(close) => close + 1,
                    None => {
                        self.utf8_unchecked = true;
                        skip_with_serde(p, value)?
                    }
                },
                b'-' | b'0'..=b'9' => {
                    let (end, integer) = scan_number(p, value)?;
                    if is_frequency && frequency.is_none() {
                        frequency = Some(Ok(match integer {
                            Some(integer) => Frequency::Int(integer),
                            None => frequency_of(&p[value..end], value)?,
                        }));
                        i = end;
                        member += 1;
                        continue;
                    }
                    end
                }
                b't' => literal_end(p, value, b"true")?,
                b'f' => literal_end(p, value, b"false")?,
                b'n' => literal_end(p, value, b"null")?,
                b'{' | b'[' => {
                    // Nested too deep: serde_json's fallback reports it.
                    self.utf8_unchecked = true;
                    let end = skip_with_serde(p, value)?;
                    json::check_depth(p, value, end, depth + 1).ok()?;
                    end
                }
                _ => return None,
            };
            if is_frequency {
                if frequency.is_some() {
                    duplicate = true;
                } else {
                    frequency = Some(Err(ItemFault::FrequencyNotANumber(
                        JsonKind::of_first_byte(first),
                    )));
                }
            }
            i = value_end;
            member += 1;
        };
        let result = match frequency {
            _ if duplicate => Err(ItemFault::DuplicateFrequency),
            None => Err(ItemFault::MissingFrequency),
            Some(found) => found,
        };
        Some((result, close + 1))
    }

    /// Reads the lead of member `member` at `at` (the item's `{` for the first member, else the
    /// end of the previous value) in full, and remembers it when it is short enough. `None`
    /// where the bytes leave the flat shape.
    #[inline(always)]
    fn read_lead(&mut self, p: &[u8], at: usize, member: usize) -> Option<Lead> {
        let name = if member == 0 {
            // `{` is at `at`; the object may be empty.
            let name = skip_ws(p, at + 1);
            if *p.get(name)? == b'}' {
                return Some(Lead::Close(name));
            }
            name
        } else {
            let separator = skip_ws(p, at);
            match *p.get(separator)? {
                b',' => skip_ws(p, separator + 1),
                b'}' => return Some(Lead::Close(separator)),
                _ => return None,
            }
        };
        if *p.get(name)? != b'"' {
            return None;
        }
        // The one name that matters is compared whole, quote included; any other name is
        // only scanned to its end.
        let mut name_unchecked = false;
        let (is_frequency, name_end) = if is_frequency_name(p, name + 1) {
            (true, name + FREQUENCY_NAME.len())
        } else {
            (false, plain_string_end(p, name + 1, &mut name_unchecked)?)
        };
        self.utf8_unchecked |= name_unchecked;
        let colon = skip_ws(p, name_end + 1);
        if *p.get(colon)? != b':' {
            return None;
        }
        let value = skip_ws(p, colon + 1);
        // Only a name proven UTF-8 is remembered: a match must prove everything a read does.
        if value - at <= MemberLead::MAX_LEN && member < LEARNED_MEMBERS && !name_unchecked {
            self.leads[member] = MemberLead::new(&p[at..value], is_frequency);
        }
        Some(Lead::Member {
            is_frequency,
            value,
        })
    }
}

/// What [`ItemScanner::read_lead`] found where a member's lead may start.
enum Lead {
    /// A member, whose value starts at `value`.
    Member { is_frequency: bool, value: usize },
    /// The item's closing `}`, at this offset.
    Close(usize),
}

/// The item parsed by serde_json: the reference for [`ItemScanner::scan_flat_item`] and its
/// fallback.
pub fn parse_item_with_serde(
    payload: &[u8],
    pos: usize,
) -> Result<(Result<Frequency, ItemFault>, usize), Malformed> {
    let start = json::skip_whitespace(payload, pos);
    if let Some(&first) = payload.get(start).filter(|&&b| b != b'{') {
        // Not an object: skipped without being read as a value, since a number beyond the
        // double range (valid JSON, infinity in Python) would fail serde_json's f64 parse.
        let (_, end) = json::parse_value::<IgnoredAny>(payload, start)?;
        return Ok((
            Err(ItemFault::NotAnObject(JsonKind::of_first_byte(first))),
            end,
        ));
    }
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

/// The text of a number literal as a [`Frequency`]; `None` if it is not a number after all
/// (never, for text [`scan_number`] accepted).
#[inline]
fn frequency_of(text: &[u8], offset: usize) -> Option<Frequency> {
    std::str::from_utf8(text)
        .ok()
        .map(|literal| Frequency::from_literal(literal, offset))
}

#[inline(always)]
fn skip_ws(p: &[u8], mut i: usize) -> usize {
    while let Some(b' ' | b'\n' | b'\r' | b'\t') = p.get(i) {
        i += 1;
    }
    i
}

/// The offset of the closing quote of a string whose content starts at `start`, or `None`
/// if the string has an escape or a control character (or does not end). Eight bytes at a
/// time: the first byte that is `"`, `\\`, below 0x20 or not ASCII ends the scan. A string
/// that is not UTF-8 sets `utf8_unchecked`, for the caller's check to report the byte.
#[inline(always)]
fn plain_string_end(p: &[u8], start: usize, utf8_unchecked: &mut bool) -> Option<usize> {
    let mut i = start;
    while let Some(chunk) = p.get(i..i + 8) {
        // A slice of length 8 always converts.
        let word = u64::from_le_bytes(chunk.try_into().expect("eight bytes"));
        let quote = word ^ (ONES * u64::from(b'"'));
        let backslash = word ^ (ONES * u64::from(b'\\'));
        // Each term flags its first matching byte exactly (later flags may be false, which
        // the lowest set bit never reads); `word` itself flags the bytes that are not ASCII.
        let stops = (quote.wrapping_sub(ONES) & !quote)
            | (backslash.wrapping_sub(ONES) & !backslash)
            | (word.wrapping_sub(ONES * 0x20) & !word)
            | word;
        let stops = stops & HIGHS;
        if stops != 0 {
            let at = i + (stops.trailing_zeros() / 8) as usize;
            return match p[at] {
                b'"' => Some(at),
                b'\\' | 0..=0x1f => None,
                _ => non_ascii_string_end(p, at, utf8_unchecked),
            };
        }
        i += 8;
    }
    while let Some(&b) = p.get(i) {
        match b {
            b'"' => return Some(i),
            b'\\' | 0..=0x1f => return None,
            0x80.. => return non_ascii_string_end(p, i, utf8_unchecked),
            _ => i += 1,
        }
    }
    None
}

/// [`plain_string_end`] from the first byte that is not ASCII: the end found a byte at a time,
/// then the bytes from `from` to it checked as UTF-8 (a byte of a multi-byte character is
/// never a quote or a backslash, so the end is found the same way either way).
#[cold]
fn non_ascii_string_end(p: &[u8], from: usize, utf8_unchecked: &mut bool) -> Option<usize> {
    let mut i = from;
    loop {
        match *p.get(i)? {
            b'"' => break,
            b'\\' | 0..=0x1f => return None,
            _ => i += 1,
        }
    }
    if std::str::from_utf8(&p[from..i]).is_err() {
        *utf8_unchecked = true;
    }
    Some(i)
}

/// `frequency` and the quote that closes it: a member name that is exactly `frequency`.
const FREQUENCY_NAME: &[u8; 10] = b"frequency\"";

/// Whether the name whose content starts at `start` is exactly `frequency` (no escapes).
#[inline(always)]
fn is_frequency_name(p: &[u8], start: usize) -> bool {
    p.get(start..start + FREQUENCY_NAME.len()) == Some(&FREQUENCY_NAME[..])
}

const ONES: u64 = u64::MAX / 255;
const HIGHS: u64 = ONES << 7;

/// Scans the JSON number at `start` (`-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`)
/// and returns its end, with its value when it is an integer of at most 18 digits (which
/// always fits an `i64`). `None` when the text is not a number there.
///
/// Integers of one to seven digits followed by at least one more byte, the usual case, are
/// read eight bytes at a time without a branch per digit; anything else takes the byte loop.
#[inline(always)]
fn scan_number(p: &[u8], start: usize) -> Option<(usize, Option<i64>)> {
    let negative = p.get(start) == Some(&b'-');
    let digits_start = start + usize::from(negative);
    if let Some(chunk) = p.get(digits_start..digits_start + 8) {
        // A slice of length 8 always converts.
        let word = u64::from_le_bytes(chunk.try_into().expect("eight bytes"));
        // Each byte's distance from `0`: a digit exactly when below 10.
        let values = word ^ (ONES * u64::from(b'0'));
        // High bit of each byte: set when the byte is not a digit (its value is 128 or more,
        // or its low seven bits are 10 or more; the sum cannot carry between bytes).
        let not_digits = ((values & !HIGHS).wrapping_add(ONES * (0x80 - 10)) | values) & HIGHS;
        let len = (not_digits.trailing_zeros() / 8) as usize;
        // One to seven digits, no leading zero, and neither a fraction nor an exponent next.
        if (1..8).contains(&len)
            && (len == 1 || chunk[0] != b'0')
            && !matches!(chunk[len], b'.' | b'e' | b'E')
        {
            // The digits moved to the word's high bytes; the zeros below are leading zeros.
            let magnitude = eight_digits(values << (8 * (8 - len))) as i64;
            let value = if negative { -magnitude } else { magnitude };
            return Some((digits_start + len, Some(value)));
        }
    }
    scan_number_bytewise(p, start)
}

/// The number written by eight digit values, one per byte, the first in the lowest byte
/// (three multiplications instead of eight: pairs, then fours, then the whole).
#[inline(always)]
fn eight_digits(values: u64) -> u64 {
    const MASK: u64 = 0x0000_00FF_0000_00FF;
    const MUL1: u64 = 100 + (1_000_000 << 32);
    const MUL2: u64 = 1 + (10_000 << 32);
    let pairs = values.wrapping_mul(10).wrapping_add(values >> 8);
    ((pairs & MASK)
        .wrapping_mul(MUL1)
        .wrapping_add(((pairs >> 16) & MASK).wrapping_mul(MUL2)))
        >> 32
}

/// [`scan_number`] one byte at a time, for every number its fast path does not take.
fn scan_number_bytewise(p: &[u8], start: usize) -> Option<(usize, Option<i64>)> {
    let digit = |i: usize| p.get(i).filter(|b| b.is_ascii_digit()).map(|b| b - b'0');
    let mut i = start;
    let negative = p[i] == b'-';
    if negative {
        i += 1;
    }
    let int_start = i;
    let mut value: u64 = 0;
    match digit(i)? {
        0 => i += 1,
        _ => {
            while let Some(d) = digit(i) {
                value = value.wrapping_mul(10).wrapping_add(u64::from(d));
                i += 1;
            }
        }
    }
    let int_digits = i - int_start;
    let mut integer = true;
    if p.get(i) == Some(&b'.') {
        integer = false;
        i += 1;
        digit(i)?;
        while digit(i).is_some() {
            i += 1;
        }
    }
    if let Some(b'e' | b'E') = p.get(i) {
        integer = false;
        i += 1;
        if let Some(b'+' | b'-') = p.get(i) {
            i += 1;
        }
        digit(i)?;
        while digit(i).is_some() {
            i += 1;
        }
    }
    let value = (integer && int_digits <= 18).then(|| {
        // At most 18 digits: below 10^18 < 2^63, so neither the sum nor the sign overflows.
        let value = value as i64;
        if negative {
            -value
        } else {
            value
        }
    });
    Some((i, value))
}

#[inline(always)]
fn literal_end(p: &[u8], start: usize, word: &[u8]) -> Option<usize> {
    p[start..].starts_with(word).then_some(start + word.len())
}

/// Skips a value with serde_json; `None` on a syntax error, which the caller's fallback reports.
fn skip_with_serde(p: &[u8], start: usize) -> Option<usize> {
    json::parse_value::<IgnoredAny>(p, start)
        .ok()
        .map(|(_, end)| end)
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
        let (frequency, end) = ItemScanner::default()
            .parse_item(text.as_bytes(), 0, 0)
            .expect("well-formed");
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
        assert!(ItemScanner::default()
            .parse_item(br#"{"frequency": 1"#, 0, 0)
            .is_err());
        assert!(ItemScanner::default()
            .parse_item(br#"{"frequency": 01}"#, 0, 0)
            .is_err());
    }
}

#[cfg(test)]
mod flat_scan_tests {
    use super::*;
    use proptest::prelude::*;

    const NAMES: &[&[u8]] = &[
        b"id",
        b"name",
        b"frequency",
        // Names as long as `frequency`: a lead compared in part would take them for it.
        b"Frequency",
        b"frequencz",
        b"freq ency",
        b"frequencyX",
        b"frequenc",
        b"",
        b"a-rather-long-member-name",
        "ключ".as_bytes(),
        b"freq\\u0075ency",
        b"bad\xffname",
    ];
    const VALUES: &[&[u8]] = &[
        b"7",
        b"-12",
        b"1234567",
        b"12345678",
        b"123456789012345678901234567890",
        b"2.5e-3",
        b"\"item-123\"",
        b"\"caf\xc3\xa9\"",
        b"\"bad \xc3\"",
        b"\"esc\\\"aped\"",
        b"true",
        b"null",
        b"{\"frequency\": 1}",
        b"[1, [2]]",
        b"01",
        b"tru",
    ];
    const SPACES: &[&[u8]] = &[b"", b" ", b"  ", b"\n\t"];

    /// One member: spaces before its separator, its name, spaces around its colon, its value.
    type Member = (usize, usize, usize, usize, usize);

    fn item_bytes(members: &[Member]) -> Vec<u8> {
        let mut out = b"{".to_vec();
        for (k, &(before, name, around, after, value)) in members.iter().enumerate() {
            if k > 0 {
                out.extend_from_slice(SPACES[before]);
                out.push(b',');
            }
            out.extend_from_slice(SPACES[after]);
            out.push(b'"');
            out.extend_from_slice(NAMES[name]);
            out.push(b'"');
            out.extend_from_slice(SPACES[around]);
            out.push(b':');
            out.extend_from_slice(SPACES[after]);
            out.extend_from_slice(VALUES[value]);
        }
        out.push(b'}');
        out
    }

    fn member() -> impl Strategy<Value = Member> {
        (
            0..SPACES.len(),
            0..NAMES.len(),
            0..SPACES.len(),
            0..SPACES.len(),
            0..VALUES.len(),
        )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2_000))]

        /// One scanner reading a run of items, each laid out like or unlike the ones before
        /// it, gives serde_json's result for every item that is UTF-8, and flags every item
        /// that is not, for the caller's check to report (serde_json words some of those
        /// differently, or not at all).
        #[test]
        fn remembered_leads_never_change_a_result(
            layouts in prop::collection::vec(prop::collection::vec(member(), 0..11), 1..6),
            order in prop::collection::vec(0..6usize, 1..24),
        ) {
            let mut payload = Vec::new();
            let mut items = Vec::new();
            for &pick in &order {
                if !items.is_empty() {
                    payload.extend_from_slice(b", ");
                }
                let start = payload.len();
                payload.extend_from_slice(&item_bytes(&layouts[pick % layouts.len()]));
                items.push((start, payload.len()));
            }
            // Room for a full 16-byte comparison at the last item too, and none.
            for tail in [&b"]                "[..], &b"]"[..]] {
                let mut payload = payload.clone();
                payload.extend_from_slice(tail);
                let mut scanner = ItemScanner::default();
                for &(start, end) in &items {
                    let expected = parse_item_with_serde(&payload, start);
                    scanner.utf8_unchecked = false;
                    let found = scanner.parse_item(&payload, start, 1);
                    if std::str::from_utf8(&payload[start..end]).is_ok() {
                        prop_assert_eq!(&found, &expected);
                    } else {
                        prop_assert!(scanner.utf8_unchecked || found.is_err());
                    }
                    if found.is_err() {
                        break;
                    }
                }
            }
        }
    }

    /// The word-at-a-time number scan gives the byte loop's answer for every literal, at
    /// every length, before every kind of byte that can follow a number.
    #[test]
    fn the_fast_number_scan_agrees_with_the_byte_loop() {
        let mut literals: Vec<String> = Vec::new();
        for digits in 1..=20 {
            for first in ['0', '1', '5', '9'] {
                let body: String = std::iter::once(first)
                    .chain((1..digits).map(|k| char::from(b'0' + (k * 7 % 10) as u8)))
                    .collect();
                literals.push(body.clone());
                literals.push(format!("-{body}"));
                literals.push(format!("{body}.5"));
                literals.push(format!("{body}e3"));
                literals.push(format!("{body}E-3"));
            }
        }
        for value in (0..100_000).chain([9_999_999, 10_000_000, 99_999_999, 123_456_789]) {
            literals.push(value.to_string());
        }
        literals
            .extend(["-", "-0", "-01", "01", "0.", "1.e5", "-a", "1e", "1e+"].map(String::from));
        for literal in &literals {
            let afters = ["", ",", "}", " ", "]", "\"", "é", "\u{7f}", ":", "/", "0"];
            // Bare, and padded so that eight bytes are always there to read at once.
            for (after, padding) in afters.iter().flat_map(|a| [(a, ""), (a, "        ")]) {
                let text = format!("{literal}{after}{padding}");
                let p = text.as_bytes();
                let fast = scan_number(p, 0);
                assert_eq!(fast, scan_number_bytewise(p, 0), "{text:?}");
                if let Some((end, Some(value))) = fast {
                    assert_eq!(text[..end].parse::<i64>(), Ok(value), "{text:?}");
                }
            }
        }
    }

    /// Where the fast scanner accepts an item, serde_json must accept it with the same result.
    #[test]
    fn the_scanner_agrees_with_serde_json_wherever_it_answers() {
        let cases = [
            r#"{"id": 1, "name": "item-1", "frequency": 12}"#,
            r#"{"frequency":12,"frequency":12}"#,
            r#"{}"#,
            r#"{ }"#,
            r#"{"frequency": "12"}"#,
            r#"{"frequency": true}"#,
            r#"{"frequency": null}"#,
            r#"{"frequency": [1]}"#,
            r#"{"frequency": {"a": 1}}"#,
            r#"{"frequency": -0.0e-0}"#,
            r#"{"frequency": 1e400}"#,
            r#"{"frequency": 123456789012345678901234567890}"#,
            r#"{"a": {"frequency": 1}, "frequency": 2}"#,
            r#"{"a": "x\"y", "frequency": 3}"#,
            r#"{"freq\u0075ency": 3}"#,
            r#"{"frequency": 01}"#,
            r#"{"frequency": 1.}"#,
            r#"{"frequency": -}"#,
            r#"{"frequency": 1 2}"#,
            r#"{"frequency": 1,}"#,
            r#"{"frequency" 1}"#,
            r#"{"frequency": tru}"#,
            r#"{"frequency": truex}"#,
            r#"{"frequency": nul}"#,
            r#"{"frequency": 1}x"#,
            r#"{"frequency": 1"#,
            r#"{"frequency": "a
b"}"#,
            r#"{"a": [1, 2, {"b": [}]], "frequency": 1}"#,
            r#"{,"frequency": 1}"#,
            r#"{"frequency": +1}"#,
            r#"{"frequency": 1e}"#,
            "{\"frequency\":\t1\r\n}",
            r#"{"frequency": 1e5, "x": false, "y": null, "z": true}"#,
        ];
        for case in cases {
            let payload = case.as_bytes();
            let serde = parse_item_with_serde(payload, 0);
            if let Some(fast) = ItemScanner::default().scan_flat_item(payload, 0, 0) {
                assert_eq!(Ok(fast), serde, "{case}");
            }
            assert_eq!(
                ItemScanner::default().parse_item(payload, 0, 0),
                serde,
                "{case}"
            );
        }
    }
}
