//! Exact comparison of JSON number literals, as Python compares the values `json.loads` gives.
//!
//! An integer literal (no fraction, no exponent) is an exact integer of any size; any other
//! literal is the nearest IEEE-754 double, with literals beyond the double range becoming
//! plus or minus infinity. Integers and doubles compare exactly, with no rounding, so
//! `9007199254740993 > 9007199254740992.0` holds and `1e1 > 10` does not.
//!
//! The threshold is prepared once per invocation ([`Threshold`]) into two cut points, one for
//! integer items and one for double items, so that the per-item test is a single comparison
//! for every item whose integer fits in an `i64`. Integers beyond `i64` keep their digits in
//! the payload and are compared digit by digit.

use std::cmp::Ordering;
use std::fmt;

/// One item's `frequency`, parsed by the worker that parsed the item.
///
/// Sixteen bytes, so that a million items cost 16 MB while they wait for the threshold:
/// the threshold may come after the items in the event, and is only known when the whole
/// event has been read.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Frequency {
    /// An integer literal that fits in an `i64`.
    Int(i64),
    /// A literal with a fraction or an exponent, rounded to the nearest double.
    Float(f64),
    /// An integer literal beyond `i64`: its text is `payload[start..start + len]`.
    /// (`u32` offsets: a Lambda payload is at most 6 MB, a local event far below 4 GiB.) Its
    /// sign alone settles the comparison with any threshold inside the `i64` range, without
    /// reading the payload again.
    Big {
        start: u32,
        len: u32,
        negative: bool,
    },
    /// A literal with a fraction or an exponent whose nearest double was not worked out when
    /// it was read, because its digits are more than a double's fast conversion takes exactly.
    /// `value` lies within a relative [`NEAR_MARGIN`] of that double, which settles the
    /// comparison with every threshold but one as close as that; such a comparison reads the
    /// literal again from `payload[start..]` and converts it exactly.
    Near { value: f64, start: u32 },
}

// Sixteen bytes per item, as the type's comment says.
const _: () = assert!(std::mem::size_of::<Frequency>() == 16);

/// How far a [`Frequency::Near`] value may lie from the literal's nearest double, relative to
/// the value. The value is the literal's first 19 significant digits (the rest dropped: a
/// relative error below 1e-18) converted to a double (2^-53), times or divided by an exact
/// power of ten (2^-53 again); the nearest double lies within 2^-53 of the literal. In all
/// under 2^-51: the margin is eight times that.
pub const NEAR_MARGIN: f64 = 1.0 / (1u64 << 48) as f64;

/// The powers of ten that a double holds exactly.
const EXACT_POWERS_OF_TEN: [f64; 23] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
    1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
];

/// A number literal's value as its digits give it: `mantissa × 10^exponent`, the mantissa
/// holding at most its first 19 significant digits. The item scanner reads it while it scans
/// the literal, eight digits at a time; [`Decimal::read`] is the plain reading.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Decimal {
    pub negative: bool,
    pub mantissa: u64,
    pub exponent: i64,
    /// Non-zero digits beyond the mantissa's were dropped: the literal lies strictly between
    /// `mantissa × 10^exponent` and `(mantissa + 1) × 10^exponent`.
    pub truncated: bool,
    /// The literal has neither a fraction nor an exponent.
    pub integer: bool,
}

impl Decimal {
    /// The largest mantissa that takes another digit (at most 19 digits in all: below 2^64).
    pub const MAX_BEFORE_DIGIT: u64 = 10u64.pow(18) - 1;
    /// An exponent beyond every double, where exponents are clamped (the literal is then zero
    /// or infinite, and converted by the standard library).
    pub const EXPONENT_LIMIT: i64 = 100_000;

    /// An integer literal of at most 19 digits.
    #[inline(always)]
    pub fn integer(negative: bool, magnitude: u64) -> Decimal {
        Decimal {
            negative,
            mantissa: magnitude,
            exponent: 0,
            truncated: false,
            integer: true,
        }
    }

    /// Reads a JSON number literal one byte at a time (the literal has passed the JSON
    /// grammar; other text gives a meaningless value).
    pub fn read(literal: &[u8]) -> Decimal {
        let mut decimal = Decimal {
            integer: true,
            ..Decimal::default()
        };
        let mut bytes = literal.iter().copied().peekable();
        if bytes.peek() == Some(&b'-') {
            decimal.negative = true;
            bytes.next();
        }
        let mut in_fraction = false;
        while let Some(b) = bytes.next() {
            match b {
                b'0'..=b'9' => decimal.push_digit(b - b'0', in_fraction),
                b'.' => {
                    in_fraction = true;
                    decimal.integer = false;
                }
                _ => {
                    // The exponent.
                    decimal.integer = false;
                    let negative = bytes.peek() == Some(&b'-');
                    if matches!(bytes.peek(), Some(b'+' | b'-')) {
                        bytes.next();
                    }
                    let mut exponent: i64 = 0;
                    for digit in bytes.by_ref() {
                        exponent =
                            (exponent * 10 + i64::from(digit - b'0')).min(Decimal::EXPONENT_LIMIT);
                    }
                    decimal.add_exponent(if negative { -exponent } else { exponent });
                }
            }
        }
        decimal
    }

    /// Appends one digit of the integer part or of the fraction.
    #[inline(always)]
    pub fn push_digit(&mut self, digit: u8, in_fraction: bool) {
        if self.mantissa <= Decimal::MAX_BEFORE_DIGIT {
            self.mantissa = self.mantissa * 10 + u64::from(digit);
            if in_fraction {
                self.exponent -= 1;
            }
        } else {
            self.truncated |= digit != 0;
            if !in_fraction {
                self.exponent += 1;
            }
        }
    }

    /// Adds the literal's written exponent (already clamped to [`Decimal::EXPONENT_LIMIT`]).
    #[inline(always)]
    pub fn add_exponent(&mut self, exponent: i64) {
        self.exponent = (self.exponent + exponent)
            .clamp(-2 * Decimal::EXPONENT_LIMIT, 2 * Decimal::EXPONENT_LIMIT);
    }
}

impl Frequency {
    /// Parses the text of a JSON number literal that serde_json has already checked against
    /// the JSON grammar. `offset` is where the literal starts in the payload.
    pub fn from_literal(literal: &str, offset: usize) -> Frequency {
        Frequency::from_decimal(
            Decimal::read(literal.as_bytes()),
            literal.as_bytes(),
            offset,
        )
    }

    /// The frequency of a literal whose digits were read into `decimal`; `literal` is its text,
    /// at `offset` in the payload.
    ///
    /// Integers of up to 19 digits come from the digits; a double whose digits fit a double
    /// exactly (at most 2^53) with a power of ten a double holds exactly (at most 10^22) is one
    /// correctly rounded multiplication or division of the two, which is the nearest double to
    /// the literal; a double of more digits with such a power is kept [`Frequency::Near`]; any
    /// other literal is converted by the standard library, which rounds correctly at any
    /// length, as Python does.
    #[inline(always)]
    pub fn from_decimal(decimal: Decimal, literal: &[u8], offset: usize) -> Frequency {
        const TWO_POW_53: u64 = 1 << 53;
        let Decimal {
            negative,
            mantissa,
            exponent,
            truncated,
            integer,
        } = decimal;
        if integer {
            if exponent == 0 {
                // At most 19 digits: below 2^64.
                if let Ok(magnitude) = i64::try_from(mantissa) {
                    return Frequency::Int(if negative { -magnitude } else { magnitude });
                }
                if negative && mantissa == 1 << 63 {
                    return Frequency::Int(i64::MIN);
                }
            }
            return Frequency::Big {
                // Payload offsets fit in u32: see the variant's comment.
                start: offset as u32,
                len: literal.len() as u32,
                negative,
            };
        }
        let signed = |value: f64| if negative { -value } else { value };
        if mantissa == 0 {
            return Frequency::Float(signed(0.0));
        }
        if (-22..=22).contains(&exponent) {
            let power = EXACT_POWERS_OF_TEN[exponent.unsigned_abs() as usize];
            // Exact when the mantissa is below 2^53: the one rounding is the operation's.
            let value = if exponent >= 0 {
                mantissa as f64 * power
            } else {
                mantissa as f64 / power
            };
            if mantissa <= TWO_POW_53 && !truncated {
                return Frequency::Float(signed(value));
            }
            return Frequency::Near {
                value: signed(value),
                start: offset as u32,
            };
        }
        Frequency::Float(parse_double_bytes(literal))
    }
}

/// The nearest double to a literal's text, from bytes the JSON grammar has checked.
fn parse_double_bytes(literal: &[u8]) -> f64 {
    std::str::from_utf8(literal).map_or(f64::NAN, parse_double)
}

/// The text of the number literal that starts at `payload[start]`: its sign, digits, point and
/// exponent (empty when `start` is at or past the end).
pub fn literal_at(payload: &[u8], start: usize) -> &[u8] {
    let rest = payload.get(start..).unwrap_or_default();
    let len = rest
        .iter()
        .position(|b| !matches!(b, b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E'))
        .unwrap_or(rest.len());
    &rest[..len]
}

/// True when the literal has neither a fraction nor an exponent.
fn is_integer_literal(literal: &str) -> bool {
    !literal.bytes().any(|b| matches!(b, b'.' | b'e' | b'E'))
}

/// The nearest double to a JSON literal; beyond the range, infinity of the literal's sign.
/// Rust's parser rounds correctly for any number of digits, as Python's does.
fn parse_double(literal: &str) -> f64 {
    // The literal passed serde_json's grammar check, which accepts nothing Rust's f64 parser
    // rejects, so the fallback is unreachable; NaN would only make every comparison false.
    literal.parse::<f64>().unwrap_or(f64::NAN)
}

/// An integer of any size, as sign and decimal digits without leading zeros.
#[derive(Clone, Debug, PartialEq, Eq)]
struct BigInteger {
    negative: bool,
    digits: String,
}

impl BigInteger {
    /// From an integer literal; `-0` and leading zeros cannot reach here beyond `i64`.
    fn from_literal(literal: &str) -> BigInteger {
        let (negative, digits) = match literal.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, literal),
        };
        let digits = digits.trim_start_matches('0');
        BigInteger {
            negative: negative && !digits.is_empty(),
            digits: if digits.is_empty() {
                "0".into()
            } else {
                digits.into()
            },
        }
    }

    /// The exact value of an integral double (Rust prints `{:.0}` with every digit exact).
    fn from_integral_double(value: f64) -> BigInteger {
        debug_assert!(value.is_finite() && value.fract() == 0.0);
        BigInteger::from_literal(&format!("{value:.0}"))
    }

    fn cmp_literal(&self, literal: &str) -> Ordering {
        // `literal` compared to `self`, reversed at the end.
        let other = BigInteger::from_literal(literal);
        other.cmp(self)
    }
}

impl Ord for BigInteger {
    fn cmp(&self, other: &Self) -> Ordering {
        match (self.negative, other.negative) {
            (false, true) => Ordering::Greater,
            (true, false) => Ordering::Less,
            (negative, _) => {
                let magnitude = self
                    .digits
                    .len()
                    .cmp(&other.digits.len())
                    .then_with(|| self.digits.cmp(&other.digits));
                if negative {
                    magnitude.reverse()
                } else {
                    magnitude
                }
            }
        }
    }
}

impl PartialOrd for BigInteger {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// The largest integer that an integer item must exceed: `floor(threshold)`.
///
/// For an integer `n` and any real `t`, `n > t` exactly when `n > floor(t)`.
#[derive(Clone, Debug, PartialEq)]
enum IntegerCut {
    /// Every integer exceeds it (the threshold is negative infinity).
    BelowAll,
    /// No integer exceeds it (the threshold is positive infinity).
    AboveAll,
    Small(i64),
    Big(BigInteger),
}

/// The double a double item must exceed, or reach when `inclusive`.
///
/// For an integer threshold `N` with nearest double `d`: when `d < N` or `d == N`, a double
/// `x` exceeds `N` exactly when `x > d`; when `d > N`, exactly when `x >= d`, because no double
/// lies strictly between `N` and `d`.
#[derive(Clone, Copy, Debug, PartialEq)]
struct DoubleCut {
    value: f64,
    inclusive: bool,
}

impl DoubleCut {
    #[inline(always)]
    fn is_exceeded_by(self, value: f64) -> bool {
        // Without short-circuits: one branch-free answer, as the counting loop over random
        // values wants (a branch on each comparison is mispredicted half the time).
        (value > self.value) | (self.inclusive & (value == self.value))
    }
}

/// A threshold, prepared for exact comparison against every item of one invocation.
#[derive(Clone, Debug, PartialEq)]
pub struct Threshold {
    /// The literal as written, echoed in the response so no digit is lost.
    literal: Box<str>,
    integer_cut: IntegerCut,
    double_cut: DoubleCut,
}

impl Threshold {
    /// Prepares a threshold from a JSON number literal.
    ///
    /// Returns `None` when `literal` is not exactly one JSON number.
    pub fn parse(literal: &str) -> Option<Threshold> {
        if !is_json_number(literal) {
            return None;
        }
        let (integer_cut, double_cut) = if is_integer_literal(literal) {
            match literal.parse::<i64>() {
                Ok(value) => (IntegerCut::Small(value), double_cut_for_i64(value)),
                Err(_) => {
                    let big = BigInteger::from_literal(literal);
                    let cut = double_cut_for_big(&big, parse_double(literal));
                    (IntegerCut::Big(big), cut)
                }
            }
        } else {
            let value = parse_double(literal);
            (
                integer_cut_for_double(value),
                DoubleCut {
                    value,
                    inclusive: false,
                },
            )
        };
        Some(Threshold {
            literal: literal.into(),
            integer_cut,
            double_cut,
        })
    }

    /// The literal as written in the event or the environment.
    pub fn literal(&self) -> &str {
        &self.literal
    }

    /// Whether `frequency > threshold`, exactly. `payload` holds the literals of big
    /// integers and of [`Frequency::Near`] values, read again only when they must be.
    ///
    /// Small enough to be inlined into the counting loop: the rare cases are out of line.
    #[inline(always)]
    pub fn is_exceeded_by(&self, frequency: &Frequency, payload: &[u8]) -> bool {
        match *frequency {
            Frequency::Int(value) => match self.integer_cut {
                IntegerCut::Small(cut) => value > cut,
                _ => self.int_beyond_small_cut(),
            },
            Frequency::Float(value) => self.double_cut.is_exceeded_by(value),
            Frequency::Near { value, start } => {
                let cut = self.double_cut.value;
                let margin = value.abs() * NEAR_MARGIN;
                if value - margin > cut {
                    true
                } else if value + margin < cut {
                    false
                } else {
                    self.near_at_cut(payload, start)
                }
            }
            Frequency::Big {
                start,
                len,
                negative,
            } => self.big_is_above(payload, start, len, negative),
        }
    }

    /// An `i64` against an integer cut that is not itself an `i64`.
    #[cold]
    fn int_beyond_small_cut(&self) -> bool {
        match &self.integer_cut {
            IntegerCut::BelowAll => true,
            IntegerCut::AboveAll => false,
            // A big cut lies outside the i64 range.
            IntegerCut::Big(cut) => cut.negative,
            IntegerCut::Small(_) => unreachable!("handled inline"),
        }
    }

    /// A [`Frequency::Near`] value as close to the cut as its error: the literal decides.
    #[cold]
    fn near_at_cut(&self, payload: &[u8], start: u32) -> bool {
        let exact = parse_double_bytes(literal_at(payload, start as usize));
        self.double_cut.is_exceeded_by(exact)
    }

    /// A big integer literal (beyond `i64`) at `payload[start..start + len]`.
    #[cold]
    fn big_is_above(&self, payload: &[u8], start: u32, len: u32, negative: bool) -> bool {
        match &self.integer_cut {
            IntegerCut::BelowAll => true,
            IntegerCut::AboveAll => false,
            // A big literal lies outside the i64 range: its sign decides, without reading the
            // payload again.
            IntegerCut::Small(_) => !negative,
            IntegerCut::Big(cut) => {
                let (start, len) = (start as usize, len as usize);
                // The span was taken from this payload by the item parser, and the literal is
                // ASCII digits and a sign; a mismatch would be a bug, answered as "not above".
                let Some(literal) = payload
                    .get(start..start + len)
                    .and_then(|bytes| std::str::from_utf8(bytes).ok())
                else {
                    debug_assert!(false, "big integer span outside the payload");
                    return false;
                };
                cut.cmp_literal(literal) == Ordering::Greater
            }
        }
    }
}

impl fmt::Display for Threshold {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.literal)
    }
}

fn integer_cut_for_double(value: f64) -> IntegerCut {
    if value.is_nan() {
        // Unreachable for JSON literals; NaN is exceeded by nothing, as in Python.
        return IntegerCut::AboveAll;
    }
    if value == f64::INFINITY {
        return IntegerCut::AboveAll;
    }
    if value == f64::NEG_INFINITY {
        return IntegerCut::BelowAll;
    }
    let floor = value.floor();
    // 2^63 is exact as a double; the i64 range is [-2^63, 2^63).
    const TWO_POW_63: f64 = 9_223_372_036_854_775_808.0;
    if (-TWO_POW_63..TWO_POW_63).contains(&floor) {
        IntegerCut::Small(floor as i64)
    } else {
        IntegerCut::Big(BigInteger::from_integral_double(floor))
    }
}

fn double_cut_for_i64(value: i64) -> DoubleCut {
    let nearest = value as f64;
    // Every i64 and its nearest double fit in i128, where the comparison is exact.
    DoubleCut {
        value: nearest,
        inclusive: (nearest as i128) > i128::from(value),
    }
}

fn double_cut_for_big(value: &BigInteger, nearest: f64) -> DoubleCut {
    let inclusive = if nearest.is_infinite() {
        // Beyond the double range: +inf lies above a positive N, -inf below a negative one.
        nearest > 0.0
    } else {
        BigInteger::from_integral_double(nearest) > *value
    };
    DoubleCut {
        value: nearest,
        inclusive,
    }
}

/// Whether `text` is exactly one JSON number: `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`.
pub fn is_json_number(text: &str) -> bool {
    is_json_number_bytes(text.as_bytes())
}

/// [`is_json_number`] over bytes.
#[inline]
pub fn is_json_number_bytes(bytes: &[u8]) -> bool {
    let mut i = 0;
    let digits = |i: &mut usize| {
        let start = *i;
        while *i < bytes.len() && bytes[*i].is_ascii_digit() {
            *i += 1;
        }
        *i > start
    };
    if bytes.get(i) == Some(&b'-') {
        i += 1;
    }
    match bytes.get(i) {
        Some(b'0') => i += 1,
        Some(b'1'..=b'9') => {
            digits(&mut i);
        }
        _ => return false,
    }
    if bytes.get(i) == Some(&b'.') {
        i += 1;
        if !digits(&mut i) {
            return false;
        }
    }
    if matches!(bytes.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(bytes.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        if !digits(&mut i) {
            return false;
        }
    }
    i == bytes.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `frequency > threshold`, both given as JSON literals.
    fn exceeds(frequency: &str, threshold: &str) -> bool {
        let threshold = Threshold::parse(threshold).expect("test threshold is a JSON number");
        let payload = frequency.as_bytes();
        let parsed = Frequency::from_literal(frequency, 0);
        threshold.is_exceeded_by(&parsed, payload)
    }

    #[test]
    fn integers_compare_exactly_at_any_size() {
        assert!(exceeds("11", "10"));
        assert!(!exceeds("10", "10"));
        assert!(!exceeds("9", "10"));
        assert!(exceeds("9223372036854775808", "9223372036854775807"));
        assert!(!exceeds("9223372036854775807", "9223372036854775808"));
        assert!(exceeds(
            "123456789012345678901234567890123456789012345678901",
            "123456789012345678901234567890123456789012345678900"
        ));
        assert!(!exceeds(
            "-123456789012345678901234567890123456789012345678901",
            "-123456789012345678901234567890123456789012345678900"
        ));
        assert!(exceeds("-99999999999999999999", "-100000000000000000000"));
        assert!(exceeds("1", "-99999999999999999999"));
        assert!(!exceeds("-1", "99999999999999999999"));
        assert!(exceeds("99999999999999999999", "5"));
        assert!(!exceeds("-99999999999999999999", "5"));
    }

    #[test]
    fn integer_against_double_at_two_to_the_53() {
        assert!(exceeds("9007199254740993", "9007199254740992.0"));
        assert!(!exceeds("9007199254740992", "9007199254740992.0"));
        // 9007199254740993.0 rounds to ...992.0 as a double, so the integer exceeds it.
        assert!(exceeds("9007199254740993", "9007199254740993.0"));
        // A double item against an integer threshold it cannot represent.
        assert!(!exceeds("9007199254740992.0", "9007199254740993"));
        assert!(exceeds("9007199254740994.0", "9007199254740993"));
    }

    #[test]
    fn integer_against_double_at_two_to_the_64() {
        // 2^64 = 18446744073709551616 exactly representable as a double.
        assert!(exceeds("18446744073709551617", "1.8446744073709551616e19"));
        assert!(!exceeds("18446744073709551616", "1.8446744073709551616e19"));
        assert!(!exceeds("18446744073709551615", "18446744073709551616.0"));
        assert!(exceeds("1.8446744073709551616e19", "18446744073709551615"));
        assert!(!exceeds("1.8446744073709551616e19", "18446744073709551616"));
        assert!(!exceeds("1.8446744073709551616e19", "18446744073709551617"));
        // 2^63 against i64::MAX, across the i64 boundary both ways.
        assert!(exceeds("9223372036854775808.0", "9223372036854775807"));
        assert!(!exceeds("9223372036854775807", "9223372036854775808.0"));
        // -9223372036854775809.0 rounds to -2^63 as a double.
        assert!(!exceeds("-9223372036854775808", "-9223372036854775809.0"));
        assert!(exceeds("-9223372036854775807", "-9223372036854775809.0"));
    }

    #[test]
    fn exponents_and_fractions_are_doubles() {
        assert!(!exceeds("1e1", "10"));
        assert!(exceeds("1.1e1", "10"));
        assert!(!exceeds("10", "1e1"));
        assert!(exceeds("11", "1E1"));
        assert!(exceeds("10.5", "10"));
        assert!(!exceeds("10.0", "10"));
        assert!(exceeds("10", "9.999999999999999"));
        assert!(!exceeds("0.1", "0.1"));
        assert!(exceeds("0.30000000000000004", "0.3"));
        assert!(!exceeds("1E+2", "100"));
        assert!(exceeds("1E+2", "99"));
        assert!(exceeds("10", "1e-400"));
    }

    #[test]
    fn negative_zero_equals_zero() {
        assert!(!exceeds("-0", "0"));
        assert!(!exceeds("0", "-0"));
        assert!(!exceeds("-0.0", "0"));
        assert!(!exceeds("0", "-0.0"));
        assert!(!exceeds("0.0", "-0.0"));
        assert!(exceeds("1", "-0.0"));
        assert!(exceeds("0", "-0.5"));
        assert!(!exceeds("-1", "-0.5"));
    }

    #[test]
    fn literals_beyond_the_double_range_are_infinite() {
        assert!(exceeds("1e400", "10"));
        assert!(exceeds("1e400", "99999999999999999999999999999999999999"));
        assert!(!exceeds("1e400", "1e400"));
        assert!(!exceeds("-1e400", "-10"));
        assert!(exceeds("5", "-1e400"));
        assert!(exceeds("-99999999999999999999999", "-1e400"));
        assert!(!exceeds("99999999999999999999999", "1e400"));
        // An integer beyond the double range exceeds every finite double.
        let huge = format!("1{}", "0".repeat(400));
        assert!(exceeds(&huge, "1.7976931348623157e308"));
        assert!(!exceeds("1.7976931348623157e308", &huge));
        assert!(exceeds("1e400", &huge));
        assert!(exceeds(&format!("-{huge}"), "-1e400"));
        assert!(!exceeds("-1e400", &format!("-{huge}")));
    }

    #[test]
    fn ten_thousand_digit_integers() {
        let big = format!("9{}", "9".repeat(9_999));
        let smaller = format!("9{}8", "9".repeat(9_998));
        assert!(exceeds(&big, &smaller));
        assert!(!exceeds(&smaller, &big));
        assert!(exceeds(&big, "1e308"));
        assert!(!exceeds(&big, "1e400"));
    }

    #[test]
    fn exact_decimal_of_large_doubles() {
        assert_eq!(
            BigInteger::from_integral_double(2f64.powi(100)).digits,
            "1267650600228229401496703205376"
        );
        assert_eq!(
            BigInteger::from_integral_double(1e23).digits,
            "99999999999999991611392"
        );
    }

    #[test]
    fn json_number_grammar() {
        for good in ["0", "-0", "12", "1.5", "1e5", "1E+5", "-1.5e-5", "0.0"] {
            assert!(is_json_number(good), "{good}");
        }
        for bad in [
            "", "-", "01", "1.", ".5", "1e", "+1", "ten", "1 ", " 1", "NaN", "inf", "0x10",
        ] {
            assert!(!is_json_number(bad), "{bad}");
        }
    }

    /// Literals whose digits are more than the fast conversion takes are kept `Near`, and
    /// decided exactly even when the threshold is their own nearest double or its neighbour.
    #[test]
    fn near_literals_are_decided_exactly_at_the_threshold() {
        let literal = "14.578301734827123";
        assert!(matches!(
            Frequency::from_literal(literal, 0),
            Frequency::Near { .. }
        ));
        let x: f64 = literal.parse().unwrap();
        for (threshold, expected) in [
            (format!("{x:e}"), false),
            (format!("{:e}", x.next_down()), true),
            (format!("{:e}", x.next_up()), false),
            ("14".to_string(), true),
            ("15".to_string(), false),
            (literal.to_string(), false),
        ] {
            assert_eq!(
                exceeds(literal, &threshold),
                expected,
                "{literal} > {threshold}"
            );
        }
        // Just above 10 in its digits, yet its nearest double is 10.0.
        assert!(!exceeds("10.0000000000000000001", "10"));
        assert!(!exceeds("10.000000000000000888", "10"));
        assert!(exceeds("10.000000000000000889", "10"));
        assert!(!exceeds("-9.9999999999999999999", "-10"));
        assert!(exceeds("9007199254740993.0000001", "9007199254740992"));
        assert!(!exceeds("9007199254740992.9999999", "9007199254740992"));
    }

    mod against_exact_rationals {
        use super::super::*;
        use num_bigint::BigInt;
        use num_rational::BigRational;
        use proptest::prelude::*;

        /// A literal's value as Python's `json.loads` gives it, on a line with infinities.
        #[derive(PartialEq, PartialOrd)]
        enum Value {
            NegativeInfinity,
            Finite(BigRational),
            PositiveInfinity,
        }

        fn value(literal: &str) -> Value {
            if is_integer_literal(literal) {
                return Value::Finite(BigRational::from_integer(
                    literal.parse::<BigInt>().unwrap(),
                ));
            }
            let double: f64 = literal.parse().unwrap();
            match double {
                f64::INFINITY => Value::PositiveInfinity,
                f64::NEG_INFINITY => Value::NegativeInfinity,
                _ => Value::Finite(BigRational::from_float(double).unwrap()),
            }
        }

        fn literal() -> impl Strategy<Value = String> {
            (
                any::<bool>(),
                "[1-9][0-9]{0,24}|0",
                prop::option::of("[0-9]{1,25}"),
                prop::option::of(prop_oneof![-30i32..30, -400i32..400]),
            )
                .prop_map(|(negative, int, fraction, exponent)| {
                    let mut literal = String::new();
                    if negative {
                        literal.push('-');
                    }
                    literal.push_str(&int);
                    if let Some(fraction) = fraction {
                        literal.push('.');
                        literal.push_str(&fraction);
                    }
                    if let Some(exponent) = exponent {
                        literal.push_str(&format!("e{exponent}"));
                    }
                    literal
                })
        }

        /// Thresholds at and around the literal: its nearest double and the doubles either
        /// side, the integers either side, the literal itself, and an unrelated literal.
        fn thresholds(literal: &str, other: &str) -> Vec<String> {
            let x: f64 = literal.parse().unwrap();
            let mut out = vec![literal.to_string(), other.to_string()];
            if x.is_finite() {
                for near in [x, x.next_up(), x.next_down()] {
                    if near.is_finite() {
                        out.push(format!("{near:e}"));
                        out.push(format!("{near:?}"));
                    }
                }
                if x.abs() < 1e30 {
                    out.push(format!("{:.0}", x.floor()));
                    out.push(format!("{:.0}", x.ceil()));
                }
            }
            out
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(4_000))]

            /// Every way a frequency is kept (`Int`, `Float`, `Big`, `Near`) compares with every
            /// threshold as exact rationals do.
            #[test]
            fn every_comparison_is_exact(literal in literal(), other in literal()) {
                let payload = format!("[{literal}]");
                let frequency = Frequency::from_literal(&literal, 1);
                for threshold in thresholds(&literal, &other) {
                    let cut = Threshold::parse(&threshold).unwrap();
                    let expected = value(&literal) > value(&threshold);
                    prop_assert_eq!(
                        cut.is_exceeded_by(&frequency, payload.as_bytes()),
                        expected,
                        "{} > {} ({:?})", literal, threshold, frequency
                    );
                }
            }
        }
    }
}
