//! Property tests of the whole event path: random events, evaluated with their items split
//! into 1 to 8 parts on rayon pools of the same widths, against a plain sequential reference.
//!
//! The events are generated from a structured model, so the reference knows the literal text
//! of every `frequency` and of the threshold. It compares them exactly on its own, as Python
//! compares `json.loads` values: an integer literal is an exact integer (a `BigInt`), any other
//! literal is the nearest double (infinite beyond the range), and an integer against a double
//! compares exactly (both as `BigRational`). `serde_json::Value` cannot serve as the reference:
//! it rejects `1e400` and rounds big integers.
//!
//! The text is where the traps are: strings holding `},{`, escaped quotes, `\uXXXX` escapes and
//! `"frequency": 5`; nested objects and arrays of objects with their own `frequency`; member
//! names spelled with escapes; random whitespace between every pair of tokens; members in
//! random order, and members the event's form ignores.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use frequency_fanout::number::Threshold;
use frequency_fanout::{evaluate, FunctionError};
use num_bigint::BigInt;
use num_rational::BigRational;
use proptest::prelude::*;
use proptest::sample::Index;

const WIDTHS: std::ops::RangeInclusive<usize> = 1..=8;

// ---------------------------------------------------------------------------------------------
// Running the function at every width.

/// One pool per width, built once and shared by every case.
fn pool(width: usize) -> &'static rayon::ThreadPool {
    static POOLS: OnceLock<Vec<rayon::ThreadPool>> = OnceLock::new();
    let pools = POOLS.get_or_init(|| {
        WIDTHS
            .map(|w| {
                rayon::ThreadPoolBuilder::new()
                    .num_threads(w)
                    .build()
                    .expect("a rayon pool")
            })
            .collect()
    });
    &pools[width - 1]
}

/// The serialized response (with `workers` = `width`), or the error message of a rejected
/// event (whose errorType must be InvalidEvent).
fn evaluate_at(payload: &[u8], default_threshold: &str, width: usize) -> Result<String, String> {
    evaluate_reporting(payload, default_threshold, width, width)
}

/// The same, reporting `workers` whatever the width, so that responses at different widths
/// compare whole.
fn evaluate_reporting(
    payload: &[u8],
    default_threshold: &str,
    width: usize,
    workers: usize,
) -> Result<String, String> {
    let default = Threshold::parse(default_threshold).expect("a generated threshold");
    pool(width)
        .install(|| evaluate(payload, width, &default, workers))
        .map(|response| serde_json::to_string(&response).expect("a response serializes"))
        .map_err(|invalid| {
            let object = FunctionError::from(invalid).to_error_object();
            assert_eq!(object.error_type, "InvalidEvent");
            object.error_message
        })
}

// ---------------------------------------------------------------------------------------------
// The reference: exact comparison of number literals.

#[derive(Clone, Debug)]
enum Exact {
    Integer(BigInt),
    Double(f64),
}

fn exact(literal: &str) -> Exact {
    if literal.contains(['.', 'e', 'E']) {
        // Rust's parser rounds to nearest for any number of digits and overflows to infinity.
        Exact::Double(literal.parse().expect("a generated float literal"))
    } else {
        Exact::Integer(literal.parse().expect("a generated integer literal"))
    }
}

fn rational(value: f64) -> BigRational {
    BigRational::from_float(value).expect("a finite double")
}

/// `a > b`, exactly.
fn greater(a: &Exact, b: &Exact) -> bool {
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

#[test]
fn the_reference_compares_as_python_does() {
    let gt = |a: &str, b: &str| greater(&exact(a), &exact(b));
    assert!(gt("9007199254740993", "9007199254740992.0"));
    assert!(!gt("1e1", "10"));
    assert!(!gt("10", "1e1"));
    assert!(gt("9007199254740993", "9007199254740993.0"));
    assert!(!gt("9007199254740992.0", "9007199254740993"));
    assert!(gt("1e400", "99999999999999999999999999999999999999"));
    assert!(!gt("1e400", "1e400"));
    assert!(gt("-99999999999999999999999", "-1e400"));
    assert!(!gt("-0", "0"));
    assert!(!gt("0", "-0.0"));
    assert!(!gt("1e-400", "0"));
    assert!(gt("18446744073709551617", "1.8446744073709551616e19"));
    assert!(!gt("18446744073709551616", "1.8446744073709551616e19"));
}

// ---------------------------------------------------------------------------------------------
// The model of an event.

/// A JSON value; strings and member names hold their escaped text, numbers their literal.
#[derive(Clone, Debug)]
enum Value {
    Null,
    Bool(bool),
    Number(String),
    Str(String),
    Array(Vec<Value>),
    Object(Vec<(String, Value)>),
}

impl Value {
    /// The kind, as the function's messages name it.
    fn kind(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Bool(_) => "a boolean",
            Value::Number(_) => "a number",
            Value::Str(_) => "a string",
            Value::Array(_) => "an array",
            Value::Object(_) => "an object",
        }
    }
}

/// A number literal: one of the event's shared pool (so that equal and neighbouring values
/// meet), or one of its own.
#[derive(Clone, Debug)]
enum Choice {
    Pool(Index),
    Fresh(String),
}

impl Choice {
    fn resolve<'a>(&'a self, pool: &'a [String]) -> &'a str {
        match self {
            Choice::Pool(index) => &pool[index.index(pool.len())],
            Choice::Fresh(literal) => literal,
        }
    }
}

#[derive(Clone, Debug)]
struct Item {
    frequency: Choice,
    /// Members other than `frequency`, none of them named `frequency`.
    extras: Vec<(String, Value)>,
    /// Where `frequency` stands among the extras.
    at: Index,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Form {
    Direct,
    BareArray,
    StepFunctions,
}

impl Form {
    fn items_path(self) -> &'static str {
        match self {
            Form::Direct => "items",
            Form::BareArray => "",
            Form::StepFunctions => "Items",
        }
    }
}

#[derive(Clone, Debug)]
struct Event {
    form: Form,
    pool: Vec<String>,
    items: Vec<Item>,
    threshold: Option<Choice>,
    include_indices: Option<bool>,
    /// The threshold the function is configured with.
    default_threshold: Choice,
    /// Top-level members the form ignores.
    ignored: Vec<(String, Value)>,
    /// Members the form ignores although the other forms know their names: `Items` and
    /// `BatchInput` beside `items`; `threshold` and `include_indices` beside `Items`.
    decoy_items: Option<Vec<Value>>,
    decoy_batch_input: Option<Value>,
    decoy_options: Option<(Choice, bool)>,
    /// Members of `BatchInput` it ignores, and whether it is written when it has no option.
    batch_ignored: Vec<(String, Value)>,
    batch_input_always: bool,
    /// Drives the whitespace, the member order and the spelling of member names.
    seed: u64,
}

impl Event {
    fn threshold_literal(&self) -> &str {
        match (&self.threshold, self.form) {
            (Some(choice), Form::Direct | Form::StepFunctions) => choice.resolve(&self.pool),
            _ => self.default_literal(),
        }
    }

    fn default_literal(&self) -> &str {
        self.default_threshold.resolve(&self.pool)
    }

    fn include_indices(&self) -> bool {
        self.form != Form::BareArray && self.include_indices == Some(true)
    }
}

/// What makes an item rejected.
#[derive(Clone, Debug)]
enum Fault {
    /// `frequency` is this value, which is not a number.
    WrongKind(Value),
    Missing,
    /// A second `frequency` member after the first (numeric) one.
    Duplicate(Value),
    /// The item is this value, not an object.
    NotAnObject(Value),
}

impl Fault {
    fn message(&self, form: Form, index: usize) -> String {
        let item = format!("{}[{index}]", form.items_path());
        match self {
            Fault::WrongKind(value) => {
                format!(
                    "{item}.frequency: expected a number, found {}",
                    value.kind()
                )
            }
            Fault::Missing => {
                format!("{item}.frequency: expected a number, found no \"frequency\" member")
            }
            Fault::Duplicate(_) => {
                format!("{item}.frequency: expected one \"frequency\" member, found a second one")
            }
            Fault::NotAnObject(value) => format!(
                "{item}: expected an object with a numeric \"frequency\" member, found {}",
                value.kind()
            ),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// From the model to bytes.

/// splitmix64: a small deterministic source for the rendering choices.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn one_in(&mut self, n: u64) -> bool {
        self.next() % n == 0
    }

    fn shuffle<T>(&mut self, list: &mut [T]) {
        for i in (1..list.len()).rev() {
            list.swap(i, self.below(i + 1));
        }
    }
}

/// A member name the contract knows, sometimes spelled with `\uXXXX` escapes (which name the
/// same member once decoded, as `json.loads` reads them).
fn spell(name: &str, rng: &mut Rng) -> String {
    if !rng.one_in(6) {
        return name.to_string();
    }
    let mut spelled = String::new();
    for c in name.chars() {
        if rng.one_in(3) {
            if rng.one_in(2) {
                spelled.push_str(&format!("\\u{:04x}", c as u32));
            } else {
                spelled.push_str(&format!("\\u{:04X}", c as u32));
            }
        } else {
            spelled.push(c);
        }
    }
    spelled
}

fn item_tree(item: &Item, pool: &[String], fault: Option<&Fault>, rng: &mut Rng) -> Value {
    if let Some(Fault::NotAnObject(value)) = fault {
        return value.clone();
    }
    let mut members = item.extras.clone();
    let at = item.at.index(members.len() + 1);
    let frequency = match fault {
        Some(Fault::WrongKind(value)) => Some(value.clone()),
        Some(Fault::Missing) => None,
        _ => Some(Value::Number(item.frequency.resolve(pool).to_string())),
    };
    if let Some(value) = frequency {
        members.insert(at, (spell("frequency", rng), value));
    }
    if let Some(Fault::Duplicate(second)) = fault {
        let after = at + 1 + rng.below(members.len() - at);
        members.insert(after, (spell("frequency", rng), second.clone()));
    }
    Value::Object(members)
}

fn event_tree(event: &Event, faults: &BTreeMap<usize, Fault>, rng: &mut Rng) -> Value {
    let items = Value::Array(
        event
            .items
            .iter()
            .enumerate()
            .map(|(i, item)| item_tree(item, &event.pool, faults.get(&i), rng))
            .collect(),
    );
    let threshold = event
        .threshold
        .as_ref()
        .map(|choice| Value::Number(choice.resolve(&event.pool).to_string()));
    let include_indices = event.include_indices.map(Value::Bool);
    let mut members = event.ignored.clone();
    match event.form {
        Form::BareArray => return items,
        Form::Direct => {
            members.push((spell("items", rng), items));
            if let Some(threshold) = threshold {
                members.push((spell("threshold", rng), threshold));
            }
            if let Some(include) = include_indices {
                members.push((spell("include_indices", rng), include));
            }
            if let Some(decoys) = &event.decoy_items {
                members.push((spell("Items", rng), Value::Array(decoys.clone())));
            }
            if let Some(decoy) = &event.decoy_batch_input {
                members.push((spell("BatchInput", rng), decoy.clone()));
            }
        }
        Form::StepFunctions => {
            members.push((spell("Items", rng), items));
            let mut batch = event.batch_ignored.clone();
            if let Some(threshold) = threshold {
                batch.push((spell("threshold", rng), threshold));
            }
            if let Some(include) = include_indices {
                batch.push((spell("include_indices", rng), include));
            }
            rng.shuffle(&mut batch);
            if event.batch_input_always
                || event.threshold.is_some()
                || event.include_indices.is_some()
            {
                members.push((spell("BatchInput", rng), Value::Object(batch)));
            }
            if let Some((threshold, include)) = &event.decoy_options {
                let literal = threshold.resolve(&event.pool).to_string();
                members.push((spell("threshold", rng), Value::Number(literal)));
                members.push((spell("include_indices", rng), Value::Bool(*include)));
            }
        }
    }
    rng.shuffle(&mut members);
    Value::Object(members)
}

fn whitespace(out: &mut String, rng: &mut Rng) {
    out.push_str(match rng.below(12) {
        0..=5 => "",
        6 | 7 => " ",
        8 => "  ",
        9 => "\n",
        10 => "\n\t",
        _ => "\r\n  ",
    });
}

fn render_value(value: &Value, out: &mut String, rng: &mut Rng) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(literal) => out.push_str(literal),
        Value::Str(text) => {
            out.push('"');
            out.push_str(text);
            out.push('"');
        }
        Value::Array(elements) => {
            out.push('[');
            whitespace(out, rng);
            for (i, element) in elements.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                    whitespace(out, rng);
                }
                render_value(element, out, rng);
                whitespace(out, rng);
            }
            out.push(']');
        }
        Value::Object(members) => {
            out.push('{');
            whitespace(out, rng);
            for (i, (name, member)) in members.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                    whitespace(out, rng);
                }
                out.push('"');
                out.push_str(name);
                out.push('"');
                whitespace(out, rng);
                out.push(':');
                whitespace(out, rng);
                render_value(member, out, rng);
                whitespace(out, rng);
            }
            out.push('}');
        }
    }
}

/// The event's bytes, with the items of `faults` (by index) made invalid.
fn render_with(event: &Event, faults: &BTreeMap<usize, Fault>) -> Vec<u8> {
    let mut rng = Rng(event.seed);
    let tree = event_tree(event, faults, &mut rng);
    let mut out = String::new();
    whitespace(&mut out, &mut rng);
    render_value(&tree, &mut out, &mut rng);
    whitespace(&mut out, &mut rng);
    out.into_bytes()
}

fn render(event: &Event) -> Vec<u8> {
    render_with(event, &BTreeMap::new())
}

/// The response the function must give at `workers` workers, computed item by item.
fn reference(event: &Event, workers: usize) -> String {
    let threshold_literal = event.threshold_literal();
    let threshold = exact(threshold_literal);
    let above: Vec<usize> = event
        .items
        .iter()
        .enumerate()
        .filter(|(_, item)| greater(&exact(item.frequency.resolve(&event.pool)), &threshold))
        .map(|(index, _)| index)
        .collect();
    let mut response = format!(
        "{{\"high_frequency_count\":{},\"total_items\":{},\"threshold\":{threshold_literal},\
         \"workers\":{workers}",
        above.len(),
        event.items.len()
    );
    if event.include_indices() {
        let list: Vec<String> = above.iter().map(usize::to_string).collect();
        response.push_str(&format!(",\"high_frequency_indices\":[{}]", list.join(",")));
    }
    response.push('}');
    response
}

// ---------------------------------------------------------------------------------------------
// Strategies.

fn signed(magnitude: BigInt, negative: bool) -> String {
    if negative {
        (-magnitude).to_string()
    } else {
        magnitude.to_string()
    }
}

fn with_sign(digits: String, negative: bool) -> String {
    if negative {
        format!("-{digits}")
    } else {
        digits
    }
}

fn integer_literal() -> BoxedStrategy<String> {
    prop_oneof![
        4 => (-1000i64..=1000).prop_map(|n| n.to_string()),
        1 => Just("-0".to_string()),
        // Around 2^53 (doubles stop holding every integer), 2^63 and 2^64 (i64 and u64 end),
        // and 2^100.
        3 => (prop::sample::select(vec![53u32, 63, 64, 100]), -3i64..=3, any::<bool>())
            .prop_map(|(power, delta, negative)| {
                signed((BigInt::from(1) << power) + delta, negative)
            }),
        1 => prop::sample::select(vec![i64::MAX, i64::MIN, i64::MAX - 1, i64::MIN + 1])
            .prop_map(|n| n.to_string()),
        // 17 to 21 digits: across the 18-digit fast path and the i64 range.
        2 => ("[1-9][0-9]{16,20}", any::<bool>()).prop_map(|(d, n)| with_sign(d, n)),
        2 => ("[1-9][0-9]{29,60}", any::<bool>()).prop_map(|(d, n)| with_sign(d, n)),
    ]
    .boxed()
}

const SPECIAL_FLOATS: &[&str] = &[
    "1e400",
    "-1e400",
    "1e-400",
    "-1e-400",
    "-0.0",
    "0.0",
    "0e0",
    "-0E+0",
    "1.7976931348623157e308",
    "1.7976931348623159e308",
    "-1.7976931348623159e308",
    "4.9e-324",
    "2.5e-324",
    "2.4e-324",
    "9007199254740993.0",
    "9007199254740992.0",
    "9.007199254740993e15",
    "9.007199254740994e15",
    "9223372036854775808.0",
    "9223372036854775807.0",
    "-9223372036854775809.0",
    "1.8446744073709551616e19",
    "18446744073709551615.0",
    "1e1",
    "1E+1",
    "10.0",
    "10.000000000000002",
    "9.999999999999999",
    "0.1",
    "0.30000000000000004",
    "123456789012345678901234567890.5",
    "1e30",
    "1E+2",
];

fn float_literal() -> BoxedStrategy<String> {
    prop_oneof![
        3 => (-100_000i64..=100_000, 1usize..5).prop_map(|(m, scale)| {
            let digits = format!("{:0>width$}", m.unsigned_abs(), width = scale + 1);
            let (int, frac) = digits.split_at(digits.len() - scale);
            format!("{}{int}.{frac}", if m < 0 { "-" } else { "" })
        }),
        3 => ("-?[1-9]", "(\\.[0-9]{1,17})?", "[eE]", "[+-]?", "[0-9]{1,3}")
            .prop_map(|(a, b, e, s, x)| format!("{a}{b}{e}{s}{x}")),
        2 => any::<f64>()
            .prop_filter("finite", |x| x.is_finite())
            .prop_map(|x| format!("{x:?}")),
        1 => any::<f64>()
            .prop_filter("finite", |x| x.is_finite())
            .prop_map(|x| format!("{x:e}")),
        2 => integer_literal().prop_map(|n| format!("{n}.0")),
        1 => (integer_literal(), prop::sample::select(vec!["e0", "E+0", "e-0", "e+00"]))
            .prop_map(|(n, e)| format!("{n}{e}")),
        3 => prop::sample::select(SPECIAL_FLOATS).prop_map(String::from),
    ]
    .boxed()
}

fn literal() -> BoxedStrategy<String> {
    prop_oneof![integer_literal(), float_literal()].boxed()
}

/// A literal and its neighbours: the same value written otherwise, the integers around it,
/// the doubles on either side.
fn family(literal: String) -> Vec<String> {
    let mut family = vec![literal.clone()];
    match exact(&literal) {
        Exact::Integer(n) => {
            family.push(format!("{literal}.0"));
            family.push(format!("{literal}e0"));
            family.push((&n + BigInt::from(1)).to_string());
            family.push((&n - BigInt::from(1)).to_string());
        }
        Exact::Double(x) if x.is_finite() => {
            family.push(format!("{x:?}"));
            if x.fract() == 0.0 {
                // Every digit of an integral double's exact value.
                let integer: BigInt = format!("{x:.0}").parse().expect("digits");
                family.push(integer.to_string());
                family.push((&integer + BigInt::from(1)).to_string());
                family.push((&integer - BigInt::from(1)).to_string());
            }
            if x != 0.0 {
                for bits in [x.to_bits() - 1, x.to_bits() + 1] {
                    let neighbour = f64::from_bits(bits);
                    if neighbour.is_finite() {
                        family.push(format!("{neighbour:?}"));
                    }
                }
            }
        }
        Exact::Double(_) => {}
    }
    family
}

fn pool_strategy() -> BoxedStrategy<Vec<String>> {
    (
        prop::collection::vec(literal().prop_map(family), 1..4),
        prop::collection::vec(literal(), 0..4),
    )
        .prop_map(|(families, singles)| families.into_iter().flatten().chain(singles).collect())
        .boxed()
}

fn choice() -> BoxedStrategy<Choice> {
    prop_oneof![
        5 => any::<Index>().prop_map(Choice::Pool),
        1 => literal().prop_map(Choice::Fresh),
    ]
    .boxed()
}

/// Escaped string contents, built from pieces that look like item boundaries and members.
const FRAGMENTS: &[&str] = &[
    "},{",
    "}, {",
    "}  ,\\n  {",
    "}  ,  {",
    "},{\\\"frequency\\\": 99},{",
    "\\\"}, {\\\"frequency\\\": 1",
    "\\\"frequency\\\": 5",
    "\\\"frequency\\\":5}",
    "frequency: 5",
    "\\\"",
    "\\\\",
    "\\/",
    "\\n",
    "\\t",
    "\\r",
    "\\b",
    "\\f",
    "\\u00e9",
    "\\u007d,\\u007b",
    "\\ud83d\\ude00",
    "\\u0022",
    "\\u005c",
    "\\u0000",
    "é",
    "日本語",
    "🎉",
    "[",
    "]",
    "{",
    "}",
    ",",
    ":",
    "]}",
    "}]",
];

fn string_content() -> BoxedStrategy<String> {
    prop::collection::vec(
        prop_oneof![
            3 => prop::sample::select(FRAGMENTS).prop_map(String::from),
            1 => "[a-zA-Z0-9 ]{0,8}",
        ],
        0..6,
    )
    .prop_map(|pieces| pieces.concat())
    .boxed()
}

/// Names of an item's other members: none decodes to `frequency`.
const ITEM_KEYS: &[&str] = &[
    "id",
    "name",
    "Frequency",
    "FREQUENCY",
    "frequency_",
    "_frequency",
    "freq",
    "frequencies",
    "frequenc",
    "frequency ",
    " frequency",
    "\\\"frequency\\\"",
    "fr\\u0065q",
    "freq\\u0075encies",
    "frequency\\u0000",
    "\\u0066requencyx",
    "meta",
    "tags",
    "note",
    "n\\u00e4me",
    "日本",
    "",
];

const CONTRACT_NAMES: &[&str] = &[
    "items",
    "Items",
    "threshold",
    "include_indices",
    "BatchInput",
];

fn item_key() -> BoxedStrategy<String> {
    prop_oneof![
        3 => prop::sample::select(ITEM_KEYS).prop_map(String::from),
        1 => "[a-z_]{1,8}",
    ]
    .boxed()
}

/// Names inside nested objects: `frequency` is common there, and ignored.
fn nested_key() -> BoxedStrategy<String> {
    prop_oneof![
        2 => Just("frequency".to_string()),
        3 => item_key(),
        1 => prop::sample::select(CONTRACT_NAMES).prop_map(String::from),
    ]
    .boxed()
}

/// Names of top-level members the forms ignore.
fn top_key() -> BoxedStrategy<String> {
    prop_oneof![
        prop::sample::select(vec![
            "id",
            "request",
            "meta",
            "note",
            "data",
            "ITEMS",
            "item",
            "Threshold",
            "include",
            "batchInput",
            "BatchInputs",
            "items ",
            "\\u0049tems_",
            "frequency",
            "thresholds",
            "",
        ])
        .prop_map(String::from),
        "[a-z]{1,6}".prop_filter("not a contract name", |k| !CONTRACT_NAMES
            .contains(&k.as_str())),
    ]
    .boxed()
}

fn value() -> BoxedStrategy<Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        literal().prop_map(Value::Number),
        string_content().prop_map(Value::Str),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec((nested_key(), inner), 0..4).prop_map(Value::Object),
            // An array that looks like a list of items.
            prop::collection::vec((literal(), string_content()), 1..4).prop_map(|items| {
                Value::Array(
                    items
                        .into_iter()
                        .map(|(frequency, name)| {
                            Value::Object(vec![
                                ("name".into(), Value::Str(name)),
                                ("frequency".into(), Value::Number(frequency)),
                            ])
                        })
                        .collect(),
                )
            }),
        ]
    })
    .boxed()
}

fn item() -> BoxedStrategy<Item> {
    (
        choice(),
        prop::collection::vec((item_key(), value()), 0..4),
        any::<Index>(),
    )
        .prop_map(|(frequency, extras, at)| Item {
            frequency,
            extras,
            at,
        })
        .boxed()
}

fn form() -> BoxedStrategy<Form> {
    prop::sample::select(vec![Form::Direct, Form::BareArray, Form::StepFunctions]).boxed()
}

fn event(items: std::ops::Range<usize>) -> BoxedStrategy<Event> {
    let options = (
        prop::option::of(choice()),
        prop::option::of(any::<bool>()),
        choice(),
    );
    let ignored = (
        prop::collection::vec((top_key(), value()), 0..3),
        prop::option::weighted(0.3, prop::collection::vec(value(), 0..4)),
        prop::option::weighted(0.3, value()),
        prop::option::weighted(0.3, (choice(), any::<bool>())),
        prop::collection::vec((nested_key(), value()), 0..3),
        any::<bool>(),
    );
    (
        form(),
        pool_strategy(),
        prop::collection::vec(item(), items),
        options,
        ignored,
        any::<u64>(),
    )
        .prop_map(
            |(
                form,
                pool,
                items,
                (threshold, include_indices, default_threshold),
                (ignored, decoy_items, decoy_batch_input, decoy_options, batch_ignored, always),
                seed,
            )| {
                // BatchInput's own member names other than the options are ignored.
                let batch_ignored = batch_ignored
                    .into_iter()
                    .filter(|(k, _)| k != "threshold" && k != "include_indices")
                    .collect();
                Event {
                    form,
                    pool,
                    items,
                    threshold,
                    include_indices,
                    default_threshold,
                    ignored,
                    decoy_items,
                    decoy_batch_input,
                    decoy_options,
                    batch_ignored,
                    batch_input_always: always,
                    seed,
                }
            },
        )
        .boxed()
}

fn non_number() -> BoxedStrategy<Value> {
    prop_oneof![
        string_content().prop_map(Value::Str),
        Just(Value::Str("12".into())),
        any::<bool>().prop_map(Value::Bool),
        Just(Value::Null),
        prop::collection::vec(value(), 0..3).prop_map(Value::Array),
        prop::collection::vec((nested_key(), value()), 0..3).prop_map(Value::Object),
    ]
    .boxed()
}

fn fault() -> BoxedStrategy<Fault> {
    prop_oneof![
        3 => non_number().prop_map(Fault::WrongKind),
        1 => Just(Fault::Missing),
        1 => prop_oneof![literal().prop_map(Value::Number), non_number()].prop_map(Fault::Duplicate),
        1 => prop_oneof![
            literal().prop_map(Value::Number),
            string_content().prop_map(Value::Str),
            any::<bool>().prop_map(Value::Bool),
            Just(Value::Null),
            prop::collection::vec(value(), 0..3).prop_map(Value::Array),
        ]
        .prop_map(Fault::NotAnObject),
    ]
    .boxed()
}

// ---------------------------------------------------------------------------------------------
// The properties.

/// An item that is a number is "not an object" even when the number lies beyond the double
/// range (`json.loads` reads `1E310` as `inf`): the event is valid JSON, not malformed. The
/// smallest case the property below found.
#[test]
fn an_item_that_is_a_number_beyond_the_double_range_is_not_an_object() {
    let cases = [
        ("{\"items\": [1E310]}".to_string(), "items[0]"),
        ("[{\"frequency\": 1}, -1e400]".to_string(), "[1]"),
        (format!("{{\"Items\": [1{}]}}", "0".repeat(400)), "Items[0]"),
    ];
    for (payload, path) in &cases {
        let payload = payload.as_bytes();
        let expected = format!(
            "{path}: expected an object with a numeric \"frequency\" member, found a number"
        );
        for width in WIDTHS {
            assert_eq!(
                evaluate_at(payload, "10", width),
                Err(expected.clone()),
                "width {width}, payload {}",
                String::from_utf8_lossy(payload)
            );
        }
    }
}

/// Every width gives the reference's response.
fn check_against_reference(event: &Event) -> Result<(), TestCaseError> {
    let payload = render(event);
    let text = String::from_utf8_lossy(&payload);
    for width in WIDTHS {
        let expected = reference(event, width);
        let actual = evaluate_at(&payload, event.default_literal(), width);
        prop_assert_eq!(
            actual.as_deref(),
            Ok(expected.as_str()),
            "width {}, default threshold {}, payload:\n{}",
            width,
            event.default_literal(),
            text
        );
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn every_width_gives_the_reference_response(event in event(0..300)) {
        check_against_reference(&event)?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn the_first_invalid_item_is_rejected_with_its_path_at_every_width(
        event in event(1..200),
        faults in prop::collection::vec((any::<Index>(), fault()), 1..3),
    ) {
        let mut by_index = BTreeMap::new();
        for (index, fault) in faults {
            by_index.entry(index.index(event.items.len())).or_insert(fault);
        }
        let (&first, fault) = by_index.iter().next().expect("at least one fault");
        let expected = fault.message(event.form, first);
        let payload = render_with(&event, &by_index);
        for width in WIDTHS {
            let actual = evaluate_at(&payload, event.default_literal(), width);
            prop_assert_eq!(
                actual.as_ref().map_err(String::as_str),
                Err(expected.as_str()),
                "width {}, payload:\n{}",
                width,
                String::from_utf8_lossy(&payload)
            );
        }
    }

    #[test]
    fn a_truncated_event_is_malformed_with_one_message_at_every_width(
        event in event(0..120),
        cut in any::<Index>(),
    ) {
        let payload = render(&event);
        // Cut before the closing bracket of the top-level value, so no prefix is whole.
        let last = payload
            .iter()
            .rposition(|b| !b" \t\r\n".contains(b))
            .expect("an event has a closing bracket");
        let truncated = &payload[..cut.index(last + 1)];
        let first = evaluate_at(truncated, event.default_literal(), 1);
        let message = match &first {
            Err(message) => message.clone(),
            Ok(response) => {
                return Err(TestCaseError::fail(format!(
                    "truncated event accepted: {response}\npayload:\n{}",
                    String::from_utf8_lossy(truncated)
                )))
            }
        };
        prop_assert!(
            message.contains(": malformed JSON: "),
            "not reported as malformed: {}\npayload:\n{}",
            message,
            String::from_utf8_lossy(truncated)
        );
        for width in 2..=*WIDTHS.end() {
            prop_assert_eq!(
                &evaluate_reporting(truncated, event.default_literal(), width, 1),
                &first,
                "width {}, payload:\n{}",
                width,
                String::from_utf8_lossy(truncated)
            );
        }
    }

    #[test]
    fn a_corrupted_event_gets_one_answer_at_every_width_and_malformed_text_is_rejected(
        event in event(1..120),
        corruptions in prop::collection::vec(
            (any::<Index>(), prop::sample::select(b"\"{}[],:\\ 0-.eat\x00\xff\xc3".to_vec())),
            1..3,
        ),
    ) {
        let mut payload = render(&event);
        for (at, byte) in corruptions {
            let at = at.index(payload.len());
            payload[at] = byte;
        }
        let first = evaluate_at(&payload, event.default_literal(), 1);
        for width in 2..=*WIDTHS.end() {
            prop_assert_eq!(
                &evaluate_reporting(&payload, event.default_literal(), width, 1),
                &first,
                "width {}, payload:\n{}",
                width,
                String::from_utf8_lossy(&payload)
            );
        }
        let is_json = std::str::from_utf8(&payload).is_ok()
            && serde_json::from_slice::<serde::de::IgnoredAny>(&payload).is_ok();
        if !is_json {
            let malformed = matches!(&first, Err(message) if message.contains(": malformed JSON: "));
            prop_assert!(
                malformed,
                "text that is not JSON got {:?}\npayload:\n{}",
                first,
                String::from_utf8_lossy(&payload)
            );
        }
    }
}

proptest! {
    // Fewer, larger events: many items per part, and strings longer than the window in which
    // a part looks for its first item.
    #![proptest_config(ProptestConfig { cases: 4, ..ProptestConfig::default() })]

    #[test]
    fn large_events_with_long_strings_give_the_reference_response(
        mut event in event(1500..2500),
        long in prop::collection::vec((any::<Index>(), 20_000usize..30_000), 0..3),
    ) {
        for (index, repeat) in long {
            let index = index.index(event.items.len());
            let item = &mut event.items[index];
            item.extras.push(("long".into(), Value::Str("},{".repeat(repeat))));
        }
        check_against_reference(&event)?;
    }
}
