//! A cursor over the payload: whitespace, punctuation and offsets between values.
//!
//! serde_json parses every value; this module only walks the punctuation between values
//! (`{`, `:`, `,`, `]`) so that the event's parts can be located by byte offset and the
//! items array handed to several workers. serde_json's own deserializer does not report
//! where a value ends, so each value is parsed by a short-lived `StreamDeserializer`,
//! which does.

use serde::de::IgnoredAny;
use serde::Deserialize;

use crate::error::Problem;
use crate::scan;

/// A syntax error at a byte offset of the payload; the path is added by the caller.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Malformed {
    pub offset: usize,
    pub detail: String,
    /// The JSON path of the value being read, when known (`items[3]`); else the whole event.
    pub path: Option<String>,
}

impl Malformed {
    pub fn new(offset: usize, detail: impl Into<String>) -> Malformed {
        Malformed {
            offset,
            detail: detail.into(),
            path: None,
        }
    }

    /// Places the error in the value at `path`, unless a deeper path is known already.
    pub fn within(mut self, path: impl FnOnce() -> String) -> Malformed {
        if self.path.is_none() {
            self.path = Some(path());
        }
        self
    }

    /// The problem, with the offset turned into the line and column a text editor shows.
    pub fn into_problem(self, payload: &[u8]) -> Problem {
        let (line, column) = line_and_column(payload, self.offset);
        Problem::Malformed {
            detail: self.detail,
            line,
            column,
        }
    }
}

/// 1-based line and column (in bytes) of `offset`.
pub fn line_and_column(payload: &[u8], offset: usize) -> (usize, usize) {
    let before = &payload[..offset.min(payload.len())];
    let line = 1 + before.iter().filter(|&&b| b == b'\n').count();
    let line_start = before
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |i| i + 1);
    (line, offset.min(payload.len()) - line_start + 1)
}

/// The first offset at or after `pos` that is not JSON whitespace.
#[inline]
pub fn skip_whitespace(payload: &[u8], mut pos: usize) -> usize {
    while let Some(b' ' | b'\n' | b'\r' | b'\t') = payload.get(pos) {
        pos += 1;
    }
    pos
}

/// Parses one value starting at `pos` (whitespace allowed before it) and returns it with the
/// offset just past it.
#[inline]
pub fn parse_value<'a, T: Deserialize<'a>>(
    payload: &'a [u8],
    pos: usize,
) -> Result<(T, usize), Malformed> {
    let mut stream = serde_json::Deserializer::from_slice(&payload[pos..]).into_iter::<T>();
    match stream.next() {
        Some(Ok(value)) => Ok((value, pos + stream.byte_offset())),
        Some(Err(error)) => Err(from_serde(payload, pos, &error)),
        None => Err(Malformed::new(payload.len(), EXPECTED_VALUE_FOUND_END)),
    }
}

/// A serde_json error from parsing `payload[base..]`, placed at its offset in the payload and
/// said in this function's words ([`plain_words`]).
/// The offset just past the value at `pos`, skipped as [`parse_value`] skips it with
/// `IgnoredAny`, with the same errors. Strings, the one kind of value that can be megabytes
/// long outside the items (an HTTP request's body, say), are found 16 bytes at a time
/// ([`scan::string_end`]) rather than by serde_json's byte loop; like serde_json when it
/// skips, this leaves their UTF-8 to the caller's check.
pub fn skip_value(payload: &[u8], pos: usize) -> Result<usize, Malformed> {
    if payload.get(pos) == Some(&b'"') {
        if let Some((close, _)) = scan::string_end(payload, pos + 1) {
            return Ok(close + 1);
        }
    }
    parse_value::<IgnoredAny>(payload, pos).map(|(_, end)| end)
}

pub fn from_serde(payload: &[u8], base: usize, error: &serde_json::Error) -> Malformed {
    let text = error.to_string();
    // serde_json appends " at line L column C"; the caller's message gives its own.
    let message = match text.rfind(" at line ") {
        Some(cut) => &text[..cut],
        None => &text,
    };
    let offset = serde_offset(payload, base, error);
    Malformed::new(offset, plain_words(message, payload, offset))
}

/// The payload offset of a serde_json error from parsing `payload[base..]`.
fn serde_offset(payload: &[u8], base: usize, error: &serde_json::Error) -> usize {
    let rest = &payload[base..];
    let mut offset = 0;
    for _ in 1..error.line() {
        match rest[offset..].iter().position(|&b| b == b'\n') {
            Some(newline) => offset += newline + 1,
            None => break,
        }
    }
    // serde_json's column counts the bytes read on the line, so the offending byte is the
    // last one read.
    offset += error.column().saturating_sub(1);
    (base + offset).min(payload.len())
}

/// Where a value should begin, the end of the input.
pub const EXPECTED_VALUE_FOUND_END: &str = "expected a JSON value, found the end of the input";

/// The end of the input before an array's `]`.
pub const END_INSIDE_ARRAY: &str = "the input ends inside an array";

/// Nesting beyond [`MAX_DEPTH`].
pub const TOO_DEEP: &str = "arrays and objects nested more than 127 levels deep";

/// "expected WHAT, found BYTE", the form of every syntax message that knows what it expected.
pub fn expected(what: &str, payload: &[u8], pos: usize) -> String {
    format!("expected {what}, found {}", describe_byte(payload, pos))
}

/// serde_json's message for a syntax error, said in words a user of the function knows, with
/// the byte found where the message is "expected ..." (at `offset`, the byte serde_json stopped
/// at). serde_json's error kinds are private, so its messages are matched as text; the unit test
/// `every_serde_json_syntax_message_is_reworded` makes each of them happen, so that a new
/// wording in serde_json fails it. Messages not listed pass unchanged: the type errors and the
/// numeric-map-key errors, which the deserializers here never raise on input.
pub fn plain_words(message: &str, payload: &[u8], offset: usize) -> String {
    let found = |what: &str| expected(what, payload, offset);
    match message {
        "EOF while parsing a value" => EXPECTED_VALUE_FOUND_END.into(),
        "EOF while parsing a list" => END_INSIDE_ARRAY.into(),
        "EOF while parsing an object" => "the input ends inside an object".into(),
        "EOF while parsing a string" => "the input ends inside a string".into(),
        // `expected ident` stops at the first wrong letter of `true`, `false` or `null` (or of
        // text that is not JSON at all), so the byte it found would mislead.
        "expected ident" => "expected a JSON value".into(),
        "expected value" => found("a JSON value"),
        // A comma before `]` or `}`: what the other readers say there.
        "trailing comma" if payload.get(offset) == Some(&b'}') => found("a member name"),
        "trailing comma" => found("a JSON value"),
        "expected `:`" => found("`:`"),
        "expected `,` or `]`" => found("`,` or `]`"),
        "expected `,` or `}`" => found("`,` or `}`"),
        "key must be a string" => found("a member name"),
        "trailing characters" => found("the end of the input"),
        "invalid escape" => "invalid escape in a string: after `\\` come only `\"`, `\\`, `/`, \
                             `b`, `f`, `n`, `r`, `t`, or `u` and four hex digits"
            .into(),
        "invalid number" => {
            "invalid number: expected a JSON number such as `-12`, `3.5` or `1e6`".into()
        }
        "number out of range" => "number too large".into(),
        "control character (\\u0000-\\u001F) found while parsing a string" => {
            "unescaped control character (U+0000 to U+001F, such as a line break) in a string"
                .into()
        }
        "lone leading surrogate in hex escape" | "unexpected end of hex escape" => {
            "unpaired UTF-16 surrogate in a `\\u` escape".into()
        }
        "invalid unicode code point" => "invalid UTF-8".into(),
        "recursion limit exceeded" => TOO_DEEP.into(),
        other => other.into(),
    }
}

/// Checks that `payload[start..end]` is UTF-8. serde_json checks the strings it decodes but
/// skips over the ones it ignores without looking at their bytes; JSON text must be UTF-8.
#[inline]
pub fn check_utf8(payload: &[u8], start: usize, end: usize) -> Result<(), Malformed> {
    crate::scan::utf8_valid_up_to(&payload[start..end])
        .map_err(|valid_up_to| Malformed::new(start + valid_up_to, "invalid UTF-8"))
}

/// The deepest nesting of arrays and objects a payload may have: serde_json's recursion limit,
/// under which the 128th nested array or object is an error.
pub const MAX_DEPTH: usize = 127;

/// Checks that the JSON text `payload[start..end]`, which serde_json has already read and which
/// begins outside any string inside `depth` open arrays and objects, never nests deeper than
/// [`MAX_DEPTH`]; returns the depth at `end`. serde_json skips the values it ignores without
/// counting their depth (and without recursion), so the limit is enforced here.
pub fn check_depth(
    payload: &[u8],
    start: usize,
    end: usize,
    mut depth: usize,
) -> Result<usize, Malformed> {
    let mut pos = start;
    while pos < end {
        match payload[pos] {
            // A string read as JSON closes (else `end` is inside it, and the walk is over).
            b'"' => pos = scan::string_end(payload, pos + 1).map_or(end, |(close, _)| close),
            b'[' | b'{' => {
                depth += 1;
                if depth > MAX_DEPTH {
                    return Err(Malformed::new(pos, TOO_DEEP));
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
        pos += 1;
    }
    Ok(depth)
}

/// What a byte was, for "expected X, found Y" syntax messages.
pub fn describe_byte(payload: &[u8], pos: usize) -> String {
    match payload.get(pos) {
        None => "the end of the input".into(),
        Some(&b) if b.is_ascii_graphic() => format!("`{}`", b as char),
        Some(&b) => format!("byte 0x{b:02x}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::de::IgnoredAny;

    #[test]
    fn parse_value_reports_the_end_offset() {
        let payload = br#"  {"a": [1, 2]} , 3"#;
        let (_, end): (IgnoredAny, usize) = parse_value(payload, 0).unwrap();
        assert_eq!(&payload[end..], b" , 3");
    }

    #[test]
    fn serde_errors_are_placed_in_the_payload() {
        let payload = b"[1,\n  {\"a\": tru}]";
        let error = parse_value::<IgnoredAny>(payload, 4).unwrap_err();
        assert_eq!(payload[error.offset], b'}');
        assert_eq!(line_and_column(payload, error.offset), (2, 12));
    }

    #[test]
    fn nesting_beyond_serde_jsons_limit_is_found_at_its_bracket() {
        let deep = |n: usize| format!("{}{}", "[".repeat(n), "]".repeat(n));
        // serde_json's own limit, for the values it does not skip.
        assert!(serde_json::from_str::<serde_json::Value>(&deep(MAX_DEPTH)).is_ok());
        assert!(serde_json::from_str::<serde_json::Value>(&deep(MAX_DEPTH + 1)).is_err());
        assert_eq!(
            check_depth(deep(MAX_DEPTH).as_bytes(), 0, 2 * MAX_DEPTH, 0),
            Ok(0)
        );
        let error = check_depth(deep(MAX_DEPTH).as_bytes(), 0, 2 * MAX_DEPTH, 1).unwrap_err();
        assert_eq!(
            (error.offset, error.detail.as_str()),
            (MAX_DEPTH - 1, TOO_DEEP)
        );
        // Brackets inside strings, escaped quotes included, do not count.
        let text = format!(r#"["\"{}"]"#, "[{".repeat(200));
        assert_eq!(
            check_depth(text.as_bytes(), 0, text.len(), MAX_DEPTH - 1),
            Ok(MAX_DEPTH - 1)
        );
        // Strings longer than a vector step, ending in an escaped backslash or holding an
        // escaped quote, then real brackets after them.
        let long = "plain text longer than one step of the scan";
        let text = format!(r#"["{long}\\", "{long}\"[[", ["\\\"[{long}", [["{long}"#);
        assert_eq!(check_depth(text.as_bytes(), 0, text.len(), 0), Ok(4));
        let error = check_depth(text.as_bytes(), 0, text.len(), MAX_DEPTH - 2).unwrap_err();
        assert_eq!(text.as_bytes()[error.offset], b'[');
        assert_eq!(
            error.offset,
            text.rfind(r#"[[""#).expect("the last brackets")
        );
    }

    /// serde_json's message for `text` read as `T`, and that message in plain words.
    fn reworded<T: serde::de::DeserializeOwned>(text: &[u8]) -> (String, String) {
        let error = match serde_json::from_slice::<T>(text) {
            Ok(_) => panic!("{} was accepted", String::from_utf8_lossy(text)),
            Err(error) => error,
        };
        let serde = error.to_string();
        let serde = serde[..serde.rfind(" at line ").expect("a position")].to_string();
        (serde, from_serde(text, 0, &error).detail)
    }

    #[test]
    fn every_serde_json_syntax_message_is_reworded() {
        type Value = serde_json::Value;
        let deep = "[".repeat(MAX_DEPTH + 1);
        // Each text, how it is read, and what the function says of it.
        type Reader = fn(&[u8]) -> (String, String);
        let cases: [(&[u8], Reader, &str); 24] = [
            (b"not json at all", reworded::<IgnoredAny>, "expected a JSON value"),
            (b"[tru]", reworded::<IgnoredAny>, "expected a JSON value"),
            (b"{\"a\": }", reworded::<IgnoredAny>, "expected a JSON value, found `}`"),
            (b"[1,]", reworded::<IgnoredAny>, "expected a JSON value, found `]`"),
            (b"[1,]", reworded::<Value>, "expected a JSON value, found `]`"),
            (b"{\"a\":1,}", reworded::<IgnoredAny>, "expected a member name, found `}`"),
            (b"{\"a\":1,}", reworded::<Value>, "expected a member name, found `}`"),
            (b"{1:2}", reworded::<IgnoredAny>, "expected a member name, found `1`"),
            (b"[1 2]", reworded::<IgnoredAny>, "expected `,` or `]`, found `2`"),
            (b"{\"a\" 1}", reworded::<IgnoredAny>, "expected `:`, found `1`"),
            (b"{\"a\":1 \"b\"}", reworded::<IgnoredAny>, "expected `,` or `}`, found `\"`"),
            (b"1 2", reworded::<Value>, "expected the end of the input, found `2`"),
            (b"", reworded::<Value>, EXPECTED_VALUE_FOUND_END),
            (b"[1", reworded::<IgnoredAny>, END_INSIDE_ARRAY),
            (b"{\"a\":1", reworded::<IgnoredAny>, "the input ends inside an object"),
            (b"\"ab", reworded::<IgnoredAny>, "the input ends inside a string"),
            (b"\"\\q\"", reworded::<IgnoredAny>, "invalid escape in a string: after `\\` come only `\"`, `\\`, `/`, `b`, `f`, `n`, `r`, `t`, or `u` and four hex digits"),
            (b"01", reworded::<IgnoredAny>, "invalid number: expected a JSON number such as `-12`, `3.5` or `1e6`"),
            (b"1e999", reworded::<f64>, "number too large"),
            (b"\"a\nb\"", reworded::<IgnoredAny>, "unescaped control character (U+0000 to U+001F, such as a line break) in a string"),
            (b"\"\\uD800\"", reworded::<String>, "unpaired UTF-16 surrogate in a `\\u` escape"),
            (b"\"\\uDC00\"", reworded::<String>, "unpaired UTF-16 surrogate in a `\\u` escape"),
            (b"\"\xff\"", reworded::<String>, "invalid UTF-8"),
            (deep.as_bytes(), reworded::<Value>, TOO_DEEP),
        ];
        let mut serde_messages = std::collections::BTreeSet::new();
        for (text, read, plain) in cases {
            let (serde, words) = read(text);
            assert_eq!(
                words,
                plain,
                "{}: serde_json said {serde:?}",
                String::from_utf8_lossy(text)
            );
            serde_messages.insert(serde);
        }
        // Each of the twenty messages plain_words names happened above.
        assert_eq!(serde_messages.len(), 20, "{serde_messages:#?}");
        assert!(TOO_DEEP.contains(&MAX_DEPTH.to_string()));
    }

    #[test]
    fn invalid_utf8_is_found_at_its_offset() {
        let payload = b"{\"a\": \"\xff\"}";
        assert_eq!(check_utf8(payload, 0, payload.len()).unwrap_err().offset, 7);
    }
}
