//! A cursor over the payload: whitespace, punctuation and offsets between values.
//!
//! serde_json parses every value; this module only walks the punctuation between values
//! (`{`, `:`, `,`, `]`) so that the event's parts can be located by byte offset and the
//! items array handed to several workers. serde_json's own deserializer does not report
//! where a value ends, so each value is parsed by a short-lived `StreamDeserializer`,
//! which does.

use serde::Deserialize;

use crate::error::Problem;

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
        None => Err(Malformed::new(payload.len(), "EOF while parsing a value")),
    }
}

/// A serde_json error from parsing `payload[base..]`, placed at its offset in the payload.
pub fn from_serde(payload: &[u8], base: usize, error: &serde_json::Error) -> Malformed {
    let text = error.to_string();
    // serde_json appends " at line L column C"; the caller's message gives its own.
    let detail = match text.rfind(" at line ") {
        Some(cut) => text[..cut].to_string(),
        None => text,
    };
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
    Malformed::new((base + offset).min(payload.len()), detail)
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
            b'"' => {
                pos += 1;
                while pos < end && payload[pos] != b'"' {
                    pos += if payload[pos] == b'\\' { 2 } else { 1 };
                }
            }
            b'[' | b'{' => {
                depth += 1;
                if depth > MAX_DEPTH {
                    return Err(Malformed::new(pos, "recursion limit exceeded"));
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
            (MAX_DEPTH - 1, "recursion limit exceeded")
        );
        // Brackets inside strings, escaped quotes included, do not count.
        let text = format!(r#"["\"{}"]"#, "[{".repeat(200));
        assert_eq!(
            check_depth(text.as_bytes(), 0, text.len(), MAX_DEPTH - 1),
            Ok(MAX_DEPTH - 1)
        );
    }

    #[test]
    fn invalid_utf8_is_found_at_its_offset() {
        let payload = b"{\"a\": \"\xff\"}";
        assert_eq!(check_utf8(payload, 0, payload.len()).unwrap_err().offset, 7);
    }
}
