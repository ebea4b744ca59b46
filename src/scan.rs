//! Byte scans of JSON text many bytes at a time: where a string's plain run stops, and whether
//! bytes are UTF-8.
//!
//! The string scan reads 16 bytes per step with the vector unit every target of this function
//! has (SSE2 on x86_64, NEON on aarch64), and 32 bytes per step on x86_64 processors found at
//! run time to have AVX2, once a string has run past its first 16 bytes. Every other target,
//! and the last bytes of a payload, take the portable word-at-a-time scan ([`portable`]), which
//! the tests hold the vector scans to. UTF-8 is checked by `simdutf8`, which picks its own
//! vector routine at run time.
//!
//! Every `unsafe` block in this module is a load of bytes that the code around it has just
//! bounds-checked, or a call to a function compiled for a CPU feature that was detected first.

/// Where a string's plain run stops, as [`string_stop`] finds it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stop {
    /// The offset of the first `"`, `\` or control character (below 0x20), if any.
    pub at: Option<usize>,
    /// Whether a byte that is not ASCII lies before `at` (before the end when there is none).
    pub non_ascii: bool,
}

/// Finds the first byte at or after `from` that is `"`, `\` or below 0x20: inside a JSON
/// string, the first byte that is not plain text. Bytes above 0x7F are text (the caller checks
/// their UTF-8); `non_ascii` says whether any was passed.
#[inline(always)]
pub fn string_stop(p: &[u8], from: usize) -> Stop {
    #[cfg(target_arch = "x86_64")]
    {
        x86::string_stop(p, from)
    }
    #[cfg(target_arch = "aarch64")]
    {
        neon::string_stop(p, from)
    }
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    {
        portable::string_stop(p, from)
    }
}

/// The length of the longest prefix of `bytes` that is UTF-8: `Ok` when all of it is, else
/// `Err(valid_up_to)`, as [`std::str::from_utf8`] reports it.
#[inline]
pub fn utf8_valid_up_to(bytes: &[u8]) -> Result<(), usize> {
    if simdutf8::basic::from_utf8(bytes).is_ok() {
        return Ok(());
    }
    invalid_utf8_at(bytes)
}

#[cold]
fn invalid_utf8_at(bytes: &[u8]) -> Result<(), usize> {
    match simdutf8::compat::from_utf8(bytes) {
        Ok(_) => Ok(()),
        Err(error) => Err(error.valid_up_to()),
    }
}

/// The portable scan, eight bytes at a time in a `u64`.
pub mod portable {
    use super::Stop;

    const ONES: u64 = u64::MAX / 255;
    const HIGHS: u64 = ONES << 7;

    /// [`super::string_stop`] without vector instructions.
    #[inline(always)]
    pub fn string_stop(p: &[u8], from: usize) -> Stop {
        let mut i = from;
        let mut non_ascii = false;
        while let Some(chunk) = p.get(i..i + 8) {
            // A slice of length 8 always converts.
            let word = u64::from_le_bytes(chunk.try_into().expect("eight bytes"));
            let quote = word ^ (ONES * u64::from(b'"'));
            let backslash = word ^ (ONES * u64::from(b'\\'));
            // Each term flags its first matching byte exactly (later flags may be false, which
            // the lowest set bit never reads); a byte above 0x7F is flagged by none of them.
            let stops = ((quote.wrapping_sub(ONES) & !quote)
                | (backslash.wrapping_sub(ONES) & !backslash)
                | (word.wrapping_sub(ONES * 0x20) & !word))
                & HIGHS;
            if stops != 0 {
                let at = (stops.trailing_zeros() / 8) as usize;
                // The high bits of the bytes before the stop.
                let before = word & HIGHS & ((1u64 << (8 * at)) - 1);
                return Stop {
                    at: Some(i + at),
                    non_ascii: non_ascii || before != 0,
                };
            }
            non_ascii |= word & HIGHS != 0;
            i += 8;
        }
        bytewise(p, i, non_ascii)
    }

    /// One bit per byte of `chunk` (16 bytes): the bytes that stop a string, and the bytes
    /// above 0x7F.
    #[cfg_attr(any(target_arch = "x86_64", target_arch = "aarch64"), allow(dead_code))] // Used where there is no vector scan, and by the tests.
    pub fn masks16(chunk: &[u8]) -> (u64, u64) {
        chunk
            .iter()
            .enumerate()
            .fold((0, 0), |(stops, highs), (k, &b)| {
                let stop = matches!(b, b'"' | b'\\' | 0..=0x1f);
                (
                    stops | u64::from(stop) << k,
                    highs | u64::from(b >= 0x80) << k,
                )
            })
    }

    /// The scan one byte at a time, from `i`, for the last bytes of the input.
    #[inline(always)]
    pub(super) fn bytewise(p: &[u8], mut i: usize, mut non_ascii: bool) -> Stop {
        while let Some(&b) = p.get(i) {
            match b {
                b'"' | b'\\' | 0..=0x1f => {
                    return Stop {
                        at: Some(i),
                        non_ascii,
                    }
                }
                0x80.. => non_ascii = true,
                _ => {}
            }
            i += 1;
        }
        Stop {
            at: None,
            non_ascii,
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::{portable, BlockMasks, Stop};
    use std::arch::x86_64::*;

    /// [`super::string_stop`] with SSE2 (part of x86_64 itself), and AVX2 where the processor
    /// has it for strings longer than 32 bytes. The first two blocks of 16 bytes, where most
    /// strings end, are read in line; the AVX2 loop is a call away.
    #[inline(always)]
    pub fn string_stop(p: &[u8], from: usize) -> Stop {
        let mut i = from;
        let mut non_ascii = false;
        if let Some(chunk) = p.get(i..i + 16) {
            let (stops, highs) = masks16(chunk);
            if stops != 0 {
                let at = stops.trailing_zeros() as usize;
                return Stop {
                    at: Some(i + at),
                    non_ascii: u64::from(highs) & BlockMasks::below(at) != 0,
                };
            }
            non_ascii = highs != 0;
            i += 16;
            if let Some(chunk) = p.get(i..i + 16) {
                if let Some(stop) = block_stop(chunk, i, non_ascii) {
                    return stop;
                }
                non_ascii |= masks16(chunk).1 != 0;
                i += 16;
            }
            if p.len() - i >= 32 && std::arch::is_x86_feature_detected!("avx2") {
                // SAFETY: the processor has AVX2, detected on the line above.
                return unsafe { long_string_stop_avx2(p, i, non_ascii) };
            }
        }
        while let Some(chunk) = p.get(i..i + 16) {
            if let Some(stop) = block_stop(chunk, i, non_ascii) {
                return stop;
            }
            non_ascii |= masks16(chunk).1 != 0;
            i += 16;
        }
        portable::bytewise(p, i, non_ascii)
    }

    /// The stop in the 16 bytes of `chunk`, which start at offset `i`, if there is one;
    /// `non_ascii` says whether bytes before the chunk were not ASCII.
    #[inline(always)]
    fn block_stop(chunk: &[u8], i: usize, non_ascii: bool) -> Option<Stop> {
        let (stops, highs) = masks16(chunk);
        if stops == 0 {
            return None;
        }
        let at = stops.trailing_zeros() as usize;
        Some(Stop {
            at: Some(i + at),
            non_ascii: non_ascii || u64::from(highs) & BlockMasks::below(at) != 0,
        })
    }

    /// One bit per byte of `chunk` (16 bytes): the bytes that stop a string, and the bytes
    /// above 0x7F.
    #[inline(always)]
    pub(super) fn masks16(chunk: &[u8]) -> (u32, u32) {
        debug_assert_eq!(chunk.len(), 16);
        // SAFETY: `chunk` holds 16 bytes, and `_mm_loadu_si128` reads 16 bytes from any
        // alignment; SSE2, the only feature used, is part of every x86_64 processor, and the
        // other intrinsics only compute on registers.
        unsafe {
            let bytes = _mm_loadu_si128(chunk.as_ptr().cast());
            let quote = _mm_cmpeq_epi8(bytes, _mm_set1_epi8(b'"' as i8));
            let backslash = _mm_cmpeq_epi8(bytes, _mm_set1_epi8(b'\\' as i8));
            // Below 0x20 exactly when the unsigned minimum with 0x1F is the byte itself.
            let control = _mm_cmpeq_epi8(_mm_min_epu8(bytes, _mm_set1_epi8(0x1f)), bytes);
            let stops = _mm_or_si128(_mm_or_si128(quote, backslash), control);
            (
                _mm_movemask_epi8(stops) as u32,
                _mm_movemask_epi8(bytes) as u32,
            )
        }
    }

    /// The rest of a long string, 32 bytes at a time.
    #[target_feature(enable = "avx2")]
    unsafe fn long_string_stop_avx2(p: &[u8], mut i: usize, mut non_ascii: bool) -> Stop {
        while let Some(chunk) = p.get(i..i + 32) {
            // SAFETY: `chunk` holds 32 bytes, and `_mm256_loadu_si256` reads 32 bytes from
            // any alignment.
            let bytes = unsafe { _mm256_loadu_si256(chunk.as_ptr().cast()) };
            let quote = _mm256_cmpeq_epi8(bytes, _mm256_set1_epi8(b'"' as i8));
            let backslash = _mm256_cmpeq_epi8(bytes, _mm256_set1_epi8(b'\\' as i8));
            let control = _mm256_cmpeq_epi8(_mm256_min_epu8(bytes, _mm256_set1_epi8(0x1f)), bytes);
            let stops = _mm256_or_si256(_mm256_or_si256(quote, backslash), control);
            let stops = _mm256_movemask_epi8(stops) as u32;
            let highs = _mm256_movemask_epi8(bytes) as u32;
            if stops != 0 {
                let at = stops.trailing_zeros();
                let before = if at == 0 {
                    0
                } else {
                    highs & (u32::MAX >> (32 - at))
                };
                return Stop {
                    at: Some(i + at as usize),
                    non_ascii: non_ascii || before != 0,
                };
            }
            non_ascii |= highs != 0;
            i += 32;
        }
        // Fewer than 32 bytes left: the end of the payload.
        portable::string_stop(p, i).or_non_ascii(non_ascii)
    }
}

#[cfg(target_arch = "aarch64")]
mod neon {
    use super::{portable, BlockMasks, Stop};
    use std::arch::aarch64::*;

    /// [`super::string_stop`] with NEON (part of every aarch64 processor).
    #[inline(always)]
    pub fn string_stop(p: &[u8], from: usize) -> Stop {
        let mut i = from;
        let mut non_ascii = false;
        while let Some(chunk) = p.get(i..i + 16) {
            let (stops, highs) = masks16(chunk);
            if stops != 0 {
                let at = (stops.trailing_zeros() / BlockMasks::BITS) as usize;
                return Stop {
                    at: Some(i + at),
                    non_ascii: non_ascii || highs & BlockMasks::below(at) != 0,
                };
            }
            non_ascii |= highs != 0;
            i += 16;
        }
        portable::bytewise(p, i, non_ascii)
    }

    /// Four bits per byte of `chunk` (16 bytes): the bytes that stop a string, and the bytes
    /// above 0x7F.
    #[inline(always)]
    pub(super) fn masks16(chunk: &[u8]) -> (u64, u64) {
        debug_assert_eq!(chunk.len(), 16);
        // SAFETY: `chunk` holds 16 bytes, which `vld1q_u8` reads from any alignment; NEON is
        // part of every aarch64 processor, and the other intrinsics only compute on registers.
        unsafe {
            let bytes = vld1q_u8(chunk.as_ptr());
            let quote = vceqq_u8(bytes, vdupq_n_u8(b'"'));
            let backslash = vceqq_u8(bytes, vdupq_n_u8(b'\\'));
            let control = vcltq_u8(bytes, vdupq_n_u8(0x20));
            let stops = vorrq_u8(vorrq_u8(quote, backslash), control);
            let highs = vcgeq_u8(bytes, vdupq_n_u8(0x80));
            (nibble_mask(stops), nibble_mask(highs))
        }
    }

    /// A comparison's result (each byte 0 or 0xFF) narrowed to four bits per byte.
    #[inline(always)]
    fn nibble_mask(flags: uint8x16_t) -> u64 {
        // SAFETY: NEON is part of every aarch64 processor; these only compute on registers.
        unsafe {
            let narrowed = vshrn_n_u16::<4>(vreinterpretq_u16_u8(flags));
            vget_lane_u64::<0>(vreinterpret_u64_u8(narrowed))
        }
    }
}

/// The offset of the closing quote of a string value whose content starts at `start`, and
/// whether it holds bytes that are not ASCII (their UTF-8 is then the caller's to check).
/// Escapes are read as serde_json reads them in the values it skips: `\"`, `\\`, `\/`, `\b`,
/// `\f`, `\n`, `\r`, `\t`, or `\u` and four hex digits, whatever code unit they make. `None`
/// for a control character, any other escape, or a string that does not end.
///
/// From the first escape on, `STRING_BLOCKS` blocks of 16 bytes are each classified once:
/// every escape in a block is stepped over within the block's masks, with no new scan after
/// it, so a string dense with escapes costs a few instructions per escape. Beyond them (long
/// strings), the scan of [`string_stop`] takes over, 32 bytes at a time where the processor
/// can.
#[inline(always)]
pub fn string_end(p: &[u8], start: usize) -> Option<(usize, bool)> {
    let stop = string_stop(p, start);
    let at = stop.at?;
    match p[at] {
        b'"' => Some((at, stop.non_ascii)),
        b'\\' => string_end_after_escape(p, at, stop.non_ascii),
        _ => None,
    }
}

/// [`string_end`] from the backslash at `escape`, with whether bytes before it were not
/// ASCII.
///
/// Each block of 16 bytes is classified once; then each escape in it costs a look at the
/// byte after its backslash ([`escape_end`]) and no new scan. An escape that does not fit in
/// what is left of the block starts the next block at its backslash.
#[inline(never)]
fn string_end_after_escape(p: &[u8], escape: usize, non_ascii: bool) -> Option<(usize, bool)> {
    let mut non_ascii = non_ascii;
    let mut block = escape;
    for _ in 0..STRING_BLOCKS {
        let Some(chunk) = p.get(block..).and_then(<[u8]>::first_chunk::<16>) else {
            break;
        };
        let BlockMasks { mut stops, highs } = BlockMasks::of(chunk);
        // Where the next block starts, from this one's start.
        let next = loop {
            if stops == 0 {
                break 16;
            }
            // Below 16: the masks cover the block's bytes only.
            let at = (stops.trailing_zeros() / BlockMasks::BITS) as usize;
            match chunk[at] {
                b'"' => {
                    non_ascii |= highs & BlockMasks::below(at) != 0;
                    return Some((block + at, non_ascii));
                }
                b'\\' => {}
                _ => return None,
            }
            let end = match escape_end(chunk, at) {
                Some(end) => end,
                // Not read within the block: the next block starts at the backslash.
                None if at > 0 => break at,
                // From the block's start the longest escape (six bytes) fits: not an escape.
                None => return None,
            };
            // The stops before the escape's end are read. (An escape is ASCII.)
            stops &= !BlockMasks::below(end);
        };
        non_ascii |= highs & BlockMasks::below(next) != 0;
        block += next;
    }
    string_end_by_stops(p, block, non_ascii)
}

/// Whether a backslash followed by the byte is a two-byte JSON escape (`\"`, `\\`, `\/`,
/// `\b`, `\f`, `\n`, `\r`, `\t`).
const IS_SHORT_ESCAPE: [bool; 256] = {
    let mut short = [false; 256];
    let mut escapes = b"\"\\/bfnrt".as_slice();
    while let [byte, rest @ ..] = escapes {
        short[*byte as usize] = true;
        escapes = rest;
    }
    short
};

/// Whether every byte is a hex digit: four lookups in [`IS_HEX_DIGIT`], with no branch per
/// digit.
#[inline(always)]
fn hex_digits(digits: &[u8; 4]) -> bool {
    digits
        .iter()
        .fold(true, |all, &digit| all & IS_HEX_DIGIT[usize::from(digit)])
}

/// Whether each byte is a hex digit (`0-9`, `a-f`, `A-F`).
const IS_HEX_DIGIT: [bool; 256] = {
    let mut is_hex = [false; 256];
    let mut byte = 0;
    while byte < 256 {
        is_hex[byte] = (byte as u8).is_ascii_hexdigit();
        byte += 1;
    }
    is_hex
};

/// How many 16-byte blocks of a string [`string_end`] reads by their masks.
const STRING_BLOCKS: usize = 4;

/// [`string_end`] from `from`, one [`string_stop`] scan after each escape.
#[inline(always)]
fn string_end_by_stops(p: &[u8], from: usize, non_ascii: bool) -> Option<(usize, bool)> {
    let mut stop = string_stop(p, from);
    let mut non_ascii = non_ascii || stop.non_ascii;
    loop {
        let at = stop.at?;
        match p[at] {
            b'"' => return Some((at, non_ascii)),
            b'\\' => {
                stop = string_stop(p, escape_end(p, at)?);
                non_ascii |= stop.non_ascii;
            }
            _ => return None,
        }
    }
}

/// The end of the escape whose backslash is at `at`, as serde_json reads the escapes of a
/// value it skips: a two-byte escape ([`IS_SHORT_ESCAPE`]), or `u` and four hex digits.
/// `None` for any other escape, or one that `p` cuts short.
///
/// The end is found by branches, not computed from a table indexed by the byte after the
/// backslash: the branches follow the same pattern in item after item and are predicted, so
/// the next escape's search need not wait for that byte's load.
#[inline(always)]
fn escape_end(p: &[u8], at: usize) -> Option<usize> {
    let kind = *p.get(at + 1)?;
    if kind == b'u' {
        let digits = p.get(at + 2..)?.first_chunk::<4>()?;
        hex_digits(digits).then_some(at + 6)
    } else if IS_SHORT_ESCAPE[usize::from(kind)] {
        Some(at + 2)
    } else {
        None
    }
}

/// A 16-byte block of a string, classified: which bytes stop a plain run (`"`, `\`, control
/// characters) and which are not ASCII, as bit masks of [`BlockMasks::BITS`] bits per byte.
#[derive(Clone, Copy)]
struct BlockMasks {
    stops: u64,
    highs: u64,
}

impl BlockMasks {
    /// Bits per byte in the masks: one from SSE2's byte mask, four from NEON's narrowing.
    #[cfg(not(target_arch = "aarch64"))]
    const BITS: u32 = 1;
    #[cfg(target_arch = "aarch64")]
    const BITS: u32 = 4;

    #[inline(always)]
    fn of(chunk: &[u8]) -> BlockMasks {
        #[cfg(target_arch = "x86_64")]
        let (stops, highs) = {
            let (stops, highs) = x86::masks16(chunk);
            (u64::from(stops), u64::from(highs))
        };
        #[cfg(target_arch = "aarch64")]
        let (stops, highs) = neon::masks16(chunk);
        #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
        let (stops, highs) = portable::masks16(chunk);
        BlockMasks { stops, highs }
    }

    /// The bits of the bytes before byte `bytes` of a block (`bytes` at most 16).
    #[inline(always)]
    fn below(bytes: usize) -> u64 {
        debug_assert!(bytes <= 16);
        // A shift by 64 (16 bytes of four bits) leaves every bit.
        u64::MAX
            .checked_shl(bytes as u32 * BlockMasks::BITS)
            .map_or(u64::MAX, |above| !above)
    }
}

/// The JSON string whose content starts at `start` (just past its opening quote), decoded as
/// serde_json decodes a string it deserializes, and the offset of its closing quote: the same
/// text for every string serde_json accepts. `None` for anything it would reject (a control
/// character, an unknown escape, bytes that are not UTF-8, no closing quote) and for `\u`
/// escapes of surrogates, which the caller leaves to serde_json.
///
/// The string is read 16 bytes at a time: the bytes that stop a plain run (`"`, `\`, control
/// characters) are found as one mask per block, and each escape in the block is decoded in
/// turn from that mask, the escape's own bytes taken out of it. A string dense with escapes,
/// such as a JSON event inside a JSON string (an HTTP request's body, an escape every few
/// bytes), then costs a few steps per escape, and finding the next escape does not wait on
/// the decoding of the one before it.
pub fn decode_string(p: &[u8], start: usize) -> Option<(String, usize)> {
    let mut text = Vec::new();
    let mut pos = start;
    let close = 'blocks: loop {
        let Some(block) = p.get(pos..).and_then(<[u8]>::first_chunk::<16>) else {
            // Fewer than 16 bytes left in the payload: one stop at a time.
            let at = string_stop(p, pos).at?;
            copy_run(&mut text, p, pos, at);
            match p[at] {
                b'"' => break at,
                b'\\' => pos = at + decode_escape(p, at, &mut text)?,
                // A control character.
                _ => return None,
            }
            continue;
        };
        let mut stops = BlockMasks::of(block).stops;
        // Where, within the block, the plain run being read began.
        let mut from = 0;
        while stops != 0 {
            let stop = (stops.trailing_zeros() / BlockMasks::BITS) as usize;
            copy_run(&mut text, p, pos + from, pos + stop);
            let at = pos + stop;
            from = match p[at] {
                b'"' => break 'blocks at,
                b'\\' => stop + decode_escape(p, at, &mut text)?,
                // A control character.
                _ => return None,
            };
            // The escape's own bytes (an escaped `"` or `\\`) stop nothing.
            stops &= !BlockMasks::below(from.min(16));
        }
        if from < 16 {
            copy_run(&mut text, p, pos + from, pos + 16);
            pos += 16;
        } else {
            // The last escape ended at or beyond the block's end.
            pos += from;
        }
    };
    // Escapes decode to UTF-8; the plain runs are checked here, all at once.
    String::from_utf8(text).ok().map(|text| (text, close))
}

/// Appends `p[from..to]`, a plain run of at most 16 bytes, to `text`: where 16 bytes are left
/// in the payload, as one fixed-size copy of 16 cut back to the run's length, which costs the
/// same for every length instead of a call to copy a few bytes.
#[inline(always)]
fn copy_run(text: &mut Vec<u8>, p: &[u8], from: usize, to: usize) {
    debug_assert!(from <= to && to - from <= 16);
    let len = text.len();
    match p.get(from..).and_then(<[u8]>::first_chunk::<16>) {
        Some(block) => {
            text.extend_from_slice(block);
            text.truncate(len + (to - from));
        }
        None => text.extend_from_slice(&p[from..to]),
    }
}

/// Decodes the escape whose backslash is at `at` onto `text`, as serde_json decodes it, and
/// returns its length (2, or 6 for `\u`). `None` for an escape serde_json rejects, and for a
/// `\u` escape of a surrogate, which is half of a pair or an error: serde_json's to decide.
#[inline(always)]
fn decode_escape(p: &[u8], at: usize, text: &mut Vec<u8>) -> Option<usize> {
    let decoded = match *p.get(at + 1)? {
        b'"' => b'"',
        b'\\' => b'\\',
        b'/' => b'/',
        b'b' => 0x08,
        b'f' => 0x0c,
        b'n' => b'\n',
        b'r' => b'\r',
        b't' => b'\t',
        b'u' => {
            let unit = hex_unit(p.get(at + 2..at + 6)?)?;
            let decoded = char::from_u32(u32::from(unit))?;
            text.extend_from_slice(decoded.encode_utf8(&mut [0; 4]).as_bytes());
            return Some(6);
        }
        _ => return None,
    };
    text.push(decoded);
    Some(2)
}

/// The code unit written by four hex digits, either case.
fn hex_unit(digits: &[u8]) -> Option<u16> {
    digits.iter().try_fold(0u16, |unit, &digit| {
        let value = (digit as char).to_digit(16)?;
        Some(unit << 4 | value as u16)
    })
}

impl Stop {
    /// This stop, found after bytes of which some were not ASCII when `before` says so.
    #[inline(always)]
    #[allow(dead_code)] // Used by the x86_64 scan only.
    fn or_non_ascii(self, before: bool) -> Stop {
        Stop {
            at: self.at,
            non_ascii: self.non_ascii || before,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The plain definition: the first stop byte, and any non-ASCII byte before it.
    fn reference(p: &[u8], from: usize) -> Stop {
        let at = p[from..]
            .iter()
            .position(|&b| b == b'"' || b == b'\\' || b < 0x20)
            .map(|k| from + k);
        let non_ascii = p[from..at.unwrap_or(p.len())].iter().any(|&b| b >= 0x80);
        Stop { at, non_ascii }
    }

    /// Every stop byte at every position of texts of every length up to 80, with and without
    /// non-ASCII bytes before and after it: the scan in use and the portable one agree with
    /// the plain definition.
    #[test]
    fn every_stop_at_every_offset() {
        for len in 0..80 {
            for stop in [None, Some(b'"'), Some(b'\\'), Some(0u8), Some(0x1f)] {
                for at in 0..len.max(1) {
                    for high in [None, Some(0usize), Some(at / 2), Some(at), Some(at + 1)] {
                        let mut text = vec![b'a'; len];
                        if let Some(h) = high.filter(|&h| h < len) {
                            text[h] = 0xC3;
                        }
                        if let Some(s) = stop.filter(|_| at < len) {
                            text[at] = s;
                        }
                        for from in [0, 1, 3].into_iter().filter(|&f| f <= len) {
                            let expected = reference(&text, from);
                            assert_eq!(string_stop(&text, from), expected, "{text:?} {from}");
                            assert_eq!(portable::string_stop(&text, from), expected);
                        }
                    }
                }
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2_000))]

        /// Random texts of the bytes that matter (and the bytes either side of them).
        #[test]
        fn the_scans_agree_with_the_definition(
            text in prop::collection::vec(
                prop::sample::select(vec![b'a', b' ', b'"', b'\\', 0, 0x1f, 0x20, 0x21, 0x5b,
                    0x5d, 0x7f, 0x80, 0xbf, 0xc3, 0xff]),
                0..200,
            ),
            weights in prop::collection::vec(0..100u8, 200),
            from in 0..200usize,
        ) {
            // Mostly plain text, so that the stops fall in every lane of long runs.
            let text: Vec<u8> = text
                .iter()
                .zip(&weights)
                .map(|(&b, &w)| if w < 85 { b'x' } else { b })
                .collect();
            let from = from.min(text.len());
            let expected = reference(&text, from);
            prop_assert_eq!(string_stop(&text, from), expected);
            prop_assert_eq!(portable::string_stop(&text, from), expected);
        }

        #[test]
        fn utf8_is_judged_as_the_standard_library_does(
            text in prop::collection::vec(
                prop::sample::select(vec![b'a', 0x80, 0xbf, 0xc2, 0xc3, 0xe0, 0xe4, 0xed,
                    0xf0, 0xf4, 0xf5, 0xff, 0xa0, 0x9f, 0x90]),
                0..300,
            ),
        ) {
            let expected = std::str::from_utf8(&text).map(|_| ()).map_err(|e| e.valid_up_to());
            prop_assert_eq!(utf8_valid_up_to(&text), expected);
        }
    }

    /// Pieces of string content that matter to a decoder: every escape, valid and not, `\u`
    /// escapes of every kind of code unit (surrogates among them), control characters, text
    /// beyond ASCII, bytes that are not UTF-8, and a bare quote.
    const PIECES: &[&[u8]] = &[
        b"plain",
        b"x",
        b" ",
        b"\\\"",
        b"\\\\",
        b"\\/",
        b"\\b",
        b"\\f",
        b"\\n",
        b"\\r",
        b"\\t",
        b"\\u0041",
        b"\\u00e9",
        b"\\u4E2D",
        b"\\uFFFF",
        b"\\ud834",
        b"\\udd1e",
        b"\\uDBFF\\uDFFF",
        b"\\u12",
        b"\\uZZZZ",
        b"\\x",
        b"\\",
        b"\\'",
        b"\x00",
        b"\x1f",
        b"\x7f",
        "café 中文 𝄞".as_bytes(),
        b"\xc3",
        b"\xff",
        b"\"",
        b"[{",
        b"}]",
    ];

    /// A quote, then pieces of content, then a closing quote and more JSON, or the end of the
    /// text, or nothing.
    fn string_texts() -> impl Strategy<Value = Vec<u8>> {
        (
            prop::collection::vec(prop::sample::select(PIECES), 0..40),
            prop::sample::select(vec![&b"\""[..], b"\", 1]", b""]),
        )
            .prop_map(|(pieces, after)| {
                let mut json = b"\"".to_vec();
                pieces
                    .iter()
                    .for_each(|piece| json.extend_from_slice(piece));
                json.extend_from_slice(after);
                json
            })
    }

    /// Whether the string has a `\u` escape of a surrogate (D800 to DFFF).
    fn has_surrogate_escape(json: &[u8]) -> bool {
        let mut i = 0;
        while i + 1 < json.len() {
            if json[i] == b'\\' {
                let unit = json
                    .get(i + 2..i + 6)
                    .and_then(|hex| u16::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok());
                if json[i + 1] == b'u' && unit.is_some_and(|u| (0xD800..0xE000).contains(&u)) {
                    return true;
                }
                i += 2;
            } else {
                i += 1;
            }
        }
        false
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4_000))]

        /// Whatever `decode_string` decodes, serde_json decodes to the same text, ending at the
        /// same quote; whatever serde_json decodes without a surrogate escape, so does it.
        #[test]
        fn strings_decode_as_serde_json_decodes_them(json in string_texts()) {
            let mut stream = serde_json::Deserializer::from_slice(&json).into_iter::<String>();
            let by_serde = match stream.next() {
                Some(Ok(text)) => Some((text, stream.byte_offset() - 1)),
                _ => None,
            };
            match (decode_string(&json, 1), by_serde) {
                (Some(decoded), by_serde) => prop_assert_eq!(Some(decoded), by_serde),
                (None, Some((text, _))) => {
                    prop_assert!(
                        has_surrogate_escape(&json),
                        "{:?} decodes to {:?}",
                        String::from_utf8_lossy(&json),
                        text
                    );
                }
                (None, None) => {}
            }
        }

        /// The string skip ends where serde_json's does, and refuses what it refuses.
        #[test]
        fn strings_end_where_serde_json_skips_them(json in string_texts()) {
            let mut stream =
                serde_json::Deserializer::from_slice(&json).into_iter::<serde::de::IgnoredAny>();
            let by_serde = match stream.next() {
                Some(Ok(_)) => Some(stream.byte_offset() - 1),
                _ => None,
            };
            let end = string_end(&json, 1);
            prop_assert_eq!(end.map(|(close, _)| close), by_serde);
            if let Some((close, non_ascii)) = end {
                prop_assert_eq!(non_ascii, json[1..close].iter().any(|&b| b >= 0x80));
            }
        }
    }

    /// The block masks in use (SSE2 or NEON) and the portable ones mark the same bytes, for
    /// blocks of every byte value in every lane.
    #[test]
    fn the_block_masks_agree_with_the_portable_ones() {
        for value in 0..=255u8 {
            for lane in 0..16 {
                let mut chunk = [b'a'; 16];
                chunk[lane] = value;
                chunk[(lane + 7) % 16] = 255 - value;
                let in_use = BlockMasks::of(&chunk);
                let (stops, highs) = portable::masks16(&chunk);
                for k in 0..16 {
                    let bit = k as u32 * BlockMasks::BITS;
                    assert_eq!((in_use.stops >> bit) & 1, (stops >> k) & 1, "{chunk:?}");
                    assert_eq!((in_use.highs >> bit) & 1, (highs >> k) & 1, "{chunk:?}");
                }
            }
        }
    }

    /// The plain definition of [`string_end`]: one byte at a time.
    fn string_end_bytewise(p: &[u8], start: usize) -> Option<(usize, bool)> {
        let mut i = start;
        let mut non_ascii = false;
        loop {
            match *p.get(i)? {
                b'"' => return Some((i, non_ascii)),
                b'\\' => {
                    i = match *p.get(i + 1)? {
                        b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => i + 2,
                        b'u' if p.get(i + 2..i + 6)?.iter().all(u8::is_ascii_hexdigit) => i + 6,
                        _ => return None,
                    }
                }
                0..=0x1f => return None,
                b => {
                    non_ascii |= b >= 0x80;
                    i += 1;
                }
            }
        }
    }

    /// Escapes of every kind, valid and not, at every offset of strings up to 100 bytes (and
    /// so on either side of every block boundary), alone, repeated every few bytes, and with
    /// text beyond ASCII before or after them: the string's end and its non-ASCII flag are
    /// the plain definition's.
    #[test]
    fn escapes_at_every_offset_end_strings_where_the_definition_does() {
        let escapes: [&[u8]; 10] = [
            b"\\\"",
            b"\\\\",
            b"\\n",
            b"\\u00e9",
            b"\\u4E2d",
            b"\\u00G9",
            b"\\x",
            // An escaped backslash, then text that would be an escape after a lone one.
            b"\\\\u00e9",
            b"\\\\\\\"",
            // A quote where a hex digit belongs.
            b"\\u12\"",
        ];
        for len in 0..100 {
            for escape in escapes {
                for every in [0, 3, 7] {
                    for high in [None, Some(0), Some(len / 2), Some(len)] {
                        for at in 0..=len {
                            let mut text = b"\"".to_vec();
                            for k in 0..len {
                                if k == at || (every > 0 && k > at && (k - at) % every == 0) {
                                    text.extend_from_slice(escape);
                                }
                                if Some(k) == high {
                                    text.extend_from_slice("é".as_bytes());
                                } else {
                                    text.push(b'a');
                                }
                            }
                            text.extend_from_slice(b"\", 1]");
                            // Bare, and with room for every block read at once.
                            for padding in [0, 64] {
                                let mut padded = text.clone();
                                padded.resize(text.len() + padding, b' ');
                                assert_eq!(
                                    string_end(&padded, 1),
                                    string_end_bytewise(&padded, 1),
                                    "{:?}",
                                    String::from_utf8_lossy(&padded)
                                );
                            }
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn utf8_errors_are_placed_where_the_standard_library_places_them() {
        let mut text = "café 中文 naïve 𝄞 ".repeat(40).into_bytes();
        assert_eq!(utf8_valid_up_to(&text), Ok(()));
        for at in [0, 3, 100, 200, text.len() - 1] {
            let saved = text[at];
            for bad in [0xff, 0x80, 0xc3] {
                text[at] = bad;
                let expected = std::str::from_utf8(&text)
                    .map(|_| ())
                    .map_err(|e| e.valid_up_to());
                assert_eq!(utf8_valid_up_to(&text), expected, "{at} {bad:#x}");
            }
            text[at] = saved;
        }
    }
}
