//! The event contract: which of the three payload forms an event is, its options, and where
//! its items are.
//!
//! 1. `{"items": [ITEM, ...], "threshold": NUMBER, "include_indices": BOOL}` (direct invocation);
//! 2. `[ITEM, ...]`, a bare array, every option at its default;
//! 3. `{"Items": [ITEM, ...], "BatchInput": {"threshold": NUMBER, "include_indices": BOOL}}`,
//!    a Step Functions Distributed Map batch.
//!
//! An object with `items` is form 1 even if it also has `Items`: form 1 ignores its other
//! members. Members other than these are ignored, and so are the members of the form not
//! taken (`BatchInput` in form 1, a top-level `threshold` in form 3). A repeated member
//! counts once, the last time, as in Python's `json.loads`.
//!
//! Errors follow one rule, so that every width gives the same answer: malformed JSON anywhere
//! is reported first (the first in the text); otherwise the first rejected value, in the
//! text's order, among the members the form uses.
//!
//! The object is walked member by member with [`crate::json`]; the items array is handed to
//! [`crate::fanout`] the moment it is met, so it is read once.

use std::fmt;
use std::ops::Range;

use serde::de::{self, Deserializer, IgnoredAny, Visitor};
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::error::{InvalidEvent, JsonKind, Problem};
use crate::fanout::{self, ItemsPlan, ParsedItems};
use crate::json::{self, Malformed};
use crate::number::{self, Threshold};
use crate::scan;

/// Which payload form an event is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventForm {
    /// `{"items": [...], ...}`
    Direct,
    /// `[...]`
    BareArray,
    /// `{"Items": [...], "BatchInput": {...}}`
    StepFunctionsBatch,
}

impl EventForm {
    /// How paths into this form's items begin: `items`, `` or `Items`.
    pub fn items_path(self) -> &'static str {
        match self {
            EventForm::Direct => "items",
            EventForm::BareArray => "",
            EventForm::StepFunctionsBatch => "Items",
        }
    }
}

/// A recognised, valid event: its items parsed, its options read.
#[derive(Debug)]
pub struct Event {
    pub form: EventForm,
    pub items: ParsedItems,
    /// The event's own threshold, when it gives one.
    pub threshold: Option<Threshold>,
    pub include_indices: bool,
}

/// The shape of an HTTP request event, recognised in [`recognise`]; see [`crate::http`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HttpFormat {
    /// Payload format 2.0: Lambda Function URLs and API Gateway HTTP APIs. Recognised by
    /// `"version": "2.0"` beside a `requestContext` object with an `http` object.
    V2,
    /// Payload format 1.0: API Gateway REST API proxy integrations (and HTTP APIs configured for
    /// 1.0). Recognised by a string `httpMethod` beside a `requestContext` object.
    V1,
}

/// What a payload is.
#[derive(Debug)]
pub enum Recognised {
    /// A direct invocation in one of the three forms.
    Event(Event),
    /// An HTTP request envelope: its body holds the event. An envelope is never read as a direct
    /// event, even when it also has an `items` member.
    Http(Envelope),
}

/// An HTTP request envelope, as [`recognise_request`] found it.
#[derive(Debug)]
pub struct Envelope {
    pub format: HttpFormat,
    /// The top level's `body`, decoded as the walk met it, when there is one `body` member and
    /// it is a string that [`scan::decode_string`] reads: [`crate::http`] then takes it rather
    /// than have the envelope's deserializer read megabytes a byte at a time.
    pub body: Option<DecodedBody>,
}

/// A string member decoded where it lies.
#[derive(Debug)]
pub struct DecodedBody {
    /// The string's place in the payload, quotes included.
    pub span: Range<usize>,
    pub text: String,
}

/// Reads a direct-invocation event, its items arrays parsed as `plan` says.
pub fn recognise(payload: &[u8], plan: ItemsPlan<'_>) -> Result<Event, InvalidEvent> {
    match recognise_any(payload, plan, false)? {
        Recognised::Event(event) => Ok(event),
        Recognised::Http(_) => unreachable!("envelopes are only recognised when asked for"),
    }
}

/// Reads a payload that may also be an HTTP request envelope.
pub fn recognise_request(payload: &[u8], plan: ItemsPlan<'_>) -> Result<Recognised, InvalidEvent> {
    recognise_any(payload, plan, true)
}

fn recognise_any(
    payload: &[u8],
    plan: ItemsPlan<'_>,
    envelopes: bool,
) -> Result<Recognised, InvalidEvent> {
    // A UTF-8 byte order mark before the text is skipped, as RFC 8259 (section 8.1) allows
    // and Python's json.loads does for bytes.
    let start = json::skip_whitespace(payload, bom_length(payload));
    match payload.get(start) {
        Some(b'{') => recognise_object(payload, start, plan, envelopes),
        Some(b'[') => {
            let (items, end) = fanout::parse_items(payload, start, plan, "")
                .map_err(|m| malformed("$", m, payload))?;
            expect_end(payload, end).map_err(|m| malformed("$", m, payload))?;
            if let Some(rejection) = items.rejection {
                return Err(item_rejection(EventForm::BareArray, rejection));
            }
            Ok(Recognised::Event(Event {
                form: EventForm::BareArray,
                items,
                threshold: None,
                include_indices: false,
            }))
        }
        _ => {
            // Either not JSON at all, or JSON of the wrong kind: find out which.
            let (_, end) = json::parse_value::<IgnoredAny>(payload, start)
                .map_err(|m| malformed("$", m, payload))?;
            expect_end(payload, end).map_err(|m| malformed("$", m, payload))?;
            json::check_utf8(payload, 0, payload.len()).map_err(|m| malformed("$", m, payload))?;
            Err(InvalidEvent {
                path: "$".into(),
                problem: Problem::WrongKind {
                    expected: "an object or an array",
                    found: JsonKind::of_first_byte(payload[start]),
                },
            })
        }
    }
}

/// The length of a leading UTF-8 byte order mark: 3 or 0.
fn bom_length(payload: &[u8]) -> usize {
    if payload.starts_with(b"\xEF\xBB\xBF") {
        3
    } else {
        0
    }
}

/// A syntax error, at the deepest path known (`fallback` when none is).
fn malformed(fallback: &str, mut malformed: Malformed, payload: &[u8]) -> InvalidEvent {
    let path = malformed.path.take().unwrap_or_else(|| fallback.into());
    InvalidEvent {
        path,
        problem: malformed.into_problem(payload),
    }
}

fn item_rejection(form: EventForm, rejection: fanout::ItemRejection) -> InvalidEvent {
    let (suffix, problem) = rejection.fault.describe();
    InvalidEvent {
        path: format!("{}[{}]{}", form.items_path(), rejection.index, suffix),
        problem,
    }
}

/// Only whitespace may follow the event.
fn expect_end(payload: &[u8], end: usize) -> Result<(), Malformed> {
    let pos = json::skip_whitespace(payload, end);
    if pos == payload.len() {
        Ok(())
    } else {
        Err(Malformed::new(
            pos,
            json::expected("the end of the input", payload, pos),
        ))
    }
}

/// A member value as read, and where it starts (the text's order decides between errors).
struct Member<T> {
    offset: usize,
    value: T,
}

/// An `items` or `Items` member.
enum ItemsMember {
    Array(ParsedItems),
    NotAnArray(JsonKind),
}

/// The options of one form, as found (checked only for the form taken).
#[derive(Default)]
struct Options<'a> {
    threshold: Option<Member<&'a RawValue>>,
    include_indices: Option<Member<&'a RawValue>>,
}

enum BatchInput<'a> {
    Object(Options<'a>),
    NotAnObject(JsonKind),
}

fn recognise_object(
    payload: &[u8],
    open: usize,
    plan: ItemsPlan<'_>,
    envelopes: bool,
) -> Result<Recognised, InvalidEvent> {
    let members = read_members(payload, open, plan)?;
    if envelopes {
        if let Some(format) = members.envelope.format() {
            return Ok(Recognised::Http(Envelope {
                format,
                body: members.envelope.body.single(),
            }));
        }
    }
    let (form, items, options) = choose_form(members)?;
    let options = read_options(form, &items, options)?;
    match items.value {
        ItemsMember::Array(items) => Ok(Recognised::Event(Event {
            form,
            items,
            threshold: options.threshold,
            include_indices: options.include_indices,
        })),
        // read_options reported it.
        ItemsMember::NotAnArray(_) => unreachable!("a non-array items member is an error"),
    }
}

/// The top level of an object event, as read: every member the contract knows, with where it
/// starts.
#[derive(Default)]
struct Members<'a> {
    envelope: EnvelopeMarkers,
    items: Option<Member<ItemsMember>>,
    batch_items: Option<Member<ItemsMember>>,
    /// The direct form's options (top-level `threshold` and `include_indices`).
    options: Options<'a>,
    batch_input: Option<Member<BatchInput<'a>>>,
}

impl Members<'_> {
    /// The threshold of the form the items array `name` stands for, when it was read before
    /// the array: the top-level one for `items`, `BatchInput`'s for `Items`.
    fn threshold_so_far(&self, name: MemberName) -> Option<Threshold> {
        let options = match (name, &self.batch_input) {
            (MemberName::Items, _) => &self.options,
            (
                _,
                Some(Member {
                    value: BatchInput::Object(options),
                    ..
                }),
            ) => options,
            _ => return None,
        };
        Threshold::parse(options.threshold.as_ref()?.value.get())
    }
}

/// Walks the object whose `{` is at `open` once, the items arrays parsed on the pool as they
/// are met, then checks what lies outside them: malformed JSON anywhere is reported before
/// anything else.
fn read_members<'a>(
    payload: &'a [u8],
    open: usize,
    plan: ItemsPlan<'_>,
) -> Result<Members<'a>, InvalidEvent> {
    let mut members = Members::default();
    // The extents of the values whose UTF-8 is proven and whose nesting is balanced: the items
    // arrays the workers parsed, and a decoded `body` string.
    let mut proven: Vec<(usize, usize)> = Vec::new();
    let end = walk_object(payload, open, &mut |name, pos| {
        Ok(match name {
            MemberName::Items | MemberName::BatchItems => {
                let path = if name == MemberName::Items {
                    "items"
                } else {
                    "Items"
                };
                let likely = members
                    .threshold_so_far(name)
                    .or_else(|| threshold_after_items(payload));
                let plan = ItemsPlan {
                    likely_threshold: likely.as_ref().or(plan.likely_threshold),
                    ..plan
                };
                let (value, end) = read_items(payload, pos, plan, path)?;
                if let ItemsMember::Array(_) = value {
                    proven.push((pos, end));
                }
                let member = Some(Member { offset: pos, value });
                if name == MemberName::Items {
                    members.items = member;
                } else {
                    members.batch_items = member;
                }
                end
            }
            MemberName::Threshold => read_raw(payload, pos, &mut members.options.threshold)
                .map_err(|m| m.within(|| "threshold".into()))?,
            MemberName::IncludeIndices => {
                read_raw(payload, pos, &mut members.options.include_indices)
                    .map_err(|m| m.within(|| "include_indices".into()))?
            }
            MemberName::BatchInput => {
                let (value, end) =
                    read_batch_input(payload, pos).map_err(|m| m.within(|| "BatchInput".into()))?;
                members.batch_input = Some(Member { offset: pos, value });
                end
            }
            MemberName::Version => {
                let (version, end) = json::parse_value::<&RawValue>(payload, pos)?;
                members.envelope.version_2 = version.get() == "\"2.0\"";
                end
            }
            MemberName::HttpMethod => {
                members.envelope.http_method = payload[pos] == b'"';
                json::skip_value(payload, pos)?
            }
            MemberName::RequestContext => {
                let (context, end) = read_request_context(payload, pos)?;
                members.envelope.request_context = context;
                end
            }
            // Decoded whether or not the payload turns out an envelope (its markers may come
            // after it): the decode finds the string's end as a skip would, and a direct event
            // seldom has a `body`.
            MemberName::Body => {
                let decoded = (payload[pos] == b'"')
                    .then(|| scan::decode_string(payload, pos + 1))
                    .flatten();
                match decoded {
                    Some((text, close)) => {
                        // Proven UTF-8 and balanced, as the items arrays are.
                        proven.push((pos, close + 1));
                        members.envelope.body.record(Some(DecodedBody {
                            span: pos..close + 1,
                            text,
                        }));
                        close + 1
                    }
                    None => {
                        members.envelope.body.record(None);
                        json::skip_value(payload, pos)?
                    }
                }
            }
            MemberName::Http | MemberName::Method | MemberName::Other => {
                json::skip_value(payload, pos)?
            }
        })
    })
    .map_err(|m| malformed("$", m, payload))?;
    expect_end(payload, end).map_err(|m| malformed("$", m, payload))?;
    check_utf8_outside(payload, &proven).map_err(|m| malformed("$", m, payload))?;
    Ok(members)
}

/// How far back from the payload's end [`threshold_after_items`] looks.
const THRESHOLD_AFTER_ITEMS_WITHIN: usize = 1024;

/// The threshold an event most likely names after its items, as in `{"items": [...],
/// "threshold": 12.5}` or a batch whose `BatchInput` follows its `Items`: the last
/// `"threshold"` member after the payload's last `]`, within its last kilobyte.
///
/// Only a guess, read before the members are, so that the parts count their items against it
/// while they parse them (the threshold is otherwise known only after every item is read, and
/// counting then takes a second pass over the pool). The count is used only when the
/// threshold the event turns out to have is the same ([`ParsedItems::counted_above`]); any
/// other is counted after the parse, so a wrong guess costs time, never a wrong answer.
fn threshold_after_items(payload: &[u8]) -> Option<Threshold> {
    const NAME: &[u8] = b"\"threshold\"";
    let tail = &payload[payload.len().saturating_sub(THRESHOLD_AFTER_ITEMS_WITHIN)..];
    let after_items = &tail[tail.iter().rposition(|&b| b == b']')? + 1..];
    let name = after_items
        .windows(NAME.len())
        .rposition(|window| window == NAME)?;
    let colon = json::skip_whitespace(after_items, name + NAME.len());
    if after_items.get(colon) != Some(&b':') {
        return None;
    }
    let value = json::skip_whitespace(after_items, colon + 1);
    Threshold::parse(std::str::from_utf8(number::literal_at(after_items, value)).ok()?)
}

/// The form the members make, its items and the options it reads, which are named under
/// `BatchInput.` in a batch. `items` wins over `Items`; a batch without `BatchInput` takes every
/// option at its default.
fn choose_form(
    members: Members<'_>,
) -> Result<(EventForm, Member<ItemsMember>, Options<'_>), InvalidEvent> {
    match (members.items, members.batch_items) {
        (Some(items), _) => Ok((EventForm::Direct, items, members.options)),
        (None, Some(items)) => match members.batch_input {
            None => Ok((EventForm::StepFunctionsBatch, items, Options::default())),
            Some(Member {
                value: BatchInput::Object(options),
                ..
            }) => Ok((EventForm::StepFunctionsBatch, items, options)),
            Some(Member {
                offset,
                value: BatchInput::NotAnObject(found),
            }) => {
                let error = InvalidEvent {
                    path: "BatchInput".into(),
                    problem: Problem::WrongKind {
                        expected: "an object",
                        found,
                    },
                };
                // The first in the text's order.
                Err(match items_error(EventForm::StepFunctionsBatch, &items) {
                    Some((items_offset, items_error)) if items_offset < offset => items_error,
                    _ => error,
                })
            }
        },
        (None, None) => Err(InvalidEvent {
            path: "items".into(),
            problem: Problem::NoItems,
        }),
    }
}

/// The options of the form taken, read.
struct ReadOptions {
    threshold: Option<Threshold>,
    include_indices: bool,
}

/// Reads the options of the form taken; of the rejected values among them and the items, the
/// first in the text's order is the error.
fn read_options(
    form: EventForm,
    items: &Member<ItemsMember>,
    options: Options<'_>,
) -> Result<ReadOptions, InvalidEvent> {
    let prefix = match form {
        EventForm::StepFunctionsBatch => "BatchInput.",
        EventForm::Direct | EventForm::BareArray => "",
    };
    let wrong_kind = |offset: usize, name: &str, expected: &'static str, value: &RawValue| {
        let problem = Problem::WrongKind {
            expected,
            found: kind_of(value),
        };
        let path = format!("{prefix}{name}");
        (offset, InvalidEvent { path, problem })
    };
    let mut errors: Vec<(usize, InvalidEvent)> = items_error(form, items).into_iter().collect();
    let threshold = options.threshold.and_then(|Member { offset, value }| {
        let threshold = Threshold::parse(value.get());
        if threshold.is_none() {
            errors.push(wrong_kind(offset, "threshold", "a number", value));
        }
        threshold
    });
    let include_indices = match options.include_indices {
        None => false,
        Some(Member { offset, value }) => match value.get() {
            "true" => true,
            "false" => false,
            _ => {
                errors.push(wrong_kind(offset, "include_indices", "a boolean", value));
                false
            }
        },
    };
    match errors.into_iter().min_by_key(|(offset, _)| *offset) {
        Some((_, error)) => Err(error),
        None => Ok(ReadOptions {
            threshold,
            include_indices,
        }),
    }
}

/// The items member's own error, if any, with its offset in the text.
fn items_error(form: EventForm, items: &Member<ItemsMember>) -> Option<(usize, InvalidEvent)> {
    let error = match &items.value {
        ItemsMember::NotAnArray(found) => InvalidEvent {
            path: form.items_path().into(),
            problem: Problem::WrongKind {
                expected: "an array",
                found: *found,
            },
        },
        ItemsMember::Array(parsed) => item_rejection(form, parsed.rejection?),
    };
    Some((items.offset, error))
}

fn kind_of(value: &RawValue) -> JsonKind {
    JsonKind::of_first_byte(value.get().as_bytes()[0])
}

fn read_items(
    payload: &[u8],
    pos: usize,
    plan: ItemsPlan<'_>,
    path: &'static str,
) -> Result<(ItemsMember, usize), Malformed> {
    if payload.get(pos) == Some(&b'[') {
        let (parsed, end) = fanout::parse_items(payload, pos, plan, path)?;
        Ok((ItemsMember::Array(parsed), end))
    } else {
        let (_, end) =
            json::parse_value::<IgnoredAny>(payload, pos).map_err(|m| m.within(|| path.into()))?;
        Ok((
            ItemsMember::NotAnArray(JsonKind::of_first_byte(payload[pos])),
            end,
        ))
    }
}

fn read_raw<'a>(
    payload: &'a [u8],
    pos: usize,
    slot: &mut Option<Member<&'a RawValue>>,
) -> Result<usize, Malformed> {
    let (value, end) = json::parse_value::<&RawValue>(payload, pos)?;
    *slot = Some(Member { offset: pos, value });
    Ok(end)
}

fn read_batch_input(payload: &[u8], pos: usize) -> Result<(BatchInput<'_>, usize), Malformed> {
    if payload.get(pos) != Some(&b'{') {
        let (_, end) = json::parse_value::<IgnoredAny>(payload, pos)?;
        return Ok((
            BatchInput::NotAnObject(JsonKind::of_first_byte(payload[pos])),
            end,
        ));
    }
    let mut options = Options::default();
    let end = walk_object(payload, pos, &mut |name, pos| match name {
        MemberName::Threshold => read_raw(payload, pos, &mut options.threshold),
        MemberName::IncludeIndices => read_raw(payload, pos, &mut options.include_indices),
        _ => json::skip_value(payload, pos),
    })?;
    Ok((BatchInput::Object(options), end))
}

/// What the top level says about being an HTTP request envelope.
#[derive(Default)]
struct EnvelopeMarkers {
    /// `"version": "2.0"`.
    version_2: bool,
    /// A string `httpMethod`.
    http_method: bool,
    request_context: RequestContext,
    body: BodyMember,
}

/// The `body` members of the top level, as far as taking the body decoded goes.
#[derive(Default)]
struct BodyMember {
    /// The last one, when it was decoded.
    decoded: Option<DecodedBody>,
    seen: usize,
}

impl BodyMember {
    fn record(&mut self, decoded: Option<DecodedBody>) {
        self.seen += 1;
        self.decoded = decoded;
    }

    /// The one `body` member, decoded; `None` when there are several (serde_json's reading of
    /// the envelope decides what they mean).
    fn single(self) -> Option<DecodedBody> {
        self.decoded.filter(|_| self.seen == 1)
    }
}

/// What a `requestContext` member holds, as far as recognising envelopes goes.
#[derive(Default)]
struct RequestContext {
    /// A string `httpMethod` (payload format 1.0).
    http_method: bool,
    /// An `http` object with a string `method` (payload format 2.0).
    http_method_v2: bool,
}

impl EnvelopeMarkers {
    /// The envelope's format: every member its reader needs to tell the method is there.
    fn format(&self) -> Option<HttpFormat> {
        if self.version_2 && self.request_context.http_method_v2 {
            Some(HttpFormat::V2)
        } else if self.http_method && self.request_context.http_method {
            Some(HttpFormat::V1)
        } else {
            None
        }
    }
}

/// Reads a `requestContext` member (anything but an object holds no marker).
fn read_request_context(payload: &[u8], pos: usize) -> Result<(RequestContext, usize), Malformed> {
    let mut context = RequestContext::default();
    if payload.get(pos) != Some(&b'{') {
        let (_, end) = json::parse_value::<IgnoredAny>(payload, pos)?;
        return Ok((context, end));
    }
    let end = walk_object(payload, pos, &mut |name, pos| match name {
        MemberName::HttpMethod => {
            context.http_method = payload.get(pos) == Some(&b'"');
            json::skip_value(payload, pos)
        }
        MemberName::Http if payload.get(pos) == Some(&b'{') => {
            let mut method = false;
            let end = walk_object(payload, pos, &mut |name, pos| {
                if name == MemberName::Method {
                    method = payload.get(pos) == Some(&b'"');
                }
                json::skip_value(payload, pos)
            })?;
            context.http_method_v2 = method;
            Ok(end)
        }
        _ => json::skip_value(payload, pos),
    })?;
    Ok((context, end))
}

/// The member names the contract knows; any other is [`MemberName::Other`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum MemberName {
    Items,
    BatchItems,
    Threshold,
    IncludeIndices,
    BatchInput,
    /// HTTP envelope markers: `version`, `httpMethod`, `requestContext`, and inside the latter
    /// `http`.
    Version,
    HttpMethod,
    RequestContext,
    Http,
    Method,
    /// `body`, an HTTP request's body.
    Body,
    Other,
}

impl<'de> Deserialize<'de> for MemberName {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct NameVisitor;
        impl Visitor<'_> for NameVisitor {
            type Value = MemberName;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a member name")
            }
            fn visit_str<E: de::Error>(self, name: &str) -> Result<MemberName, E> {
                Ok(match name {
                    "items" => MemberName::Items,
                    "Items" => MemberName::BatchItems,
                    "threshold" => MemberName::Threshold,
                    "include_indices" => MemberName::IncludeIndices,
                    "BatchInput" => MemberName::BatchInput,
                    "version" => MemberName::Version,
                    "httpMethod" => MemberName::HttpMethod,
                    "requestContext" => MemberName::RequestContext,
                    "http" => MemberName::Http,
                    "method" => MemberName::Method,
                    "body" => MemberName::Body,
                    _ => MemberName::Other,
                })
            }
        }
        deserializer.deserialize_str(NameVisitor)
    }
}

/// Walks the object whose `{` is at `open`, calling `on_member(name, value_offset)` for each
/// member, which reads the value and returns the offset past it. Returns the offset past `}`.
fn walk_object(
    payload: &[u8],
    open: usize,
    on_member: &mut dyn FnMut(MemberName, usize) -> Result<usize, Malformed>,
) -> Result<usize, Malformed> {
    let expected = |pos: usize, what: &str| Malformed::new(pos, json::expected(what, payload, pos));
    let mut pos = json::skip_whitespace(payload, open + 1);
    if payload.get(pos) == Some(&b'}') {
        return Ok(pos + 1);
    }
    loop {
        if payload.get(pos) != Some(&b'"') {
            return Err(expected(pos, "a member name"));
        }
        let (name, end) = json::parse_value::<MemberName>(payload, pos)?;
        let colon = json::skip_whitespace(payload, end);
        if payload.get(colon) != Some(&b':') {
            return Err(expected(colon, "`:`"));
        }
        let value = json::skip_whitespace(payload, colon + 1);
        if value >= payload.len() {
            return Err(Malformed::new(value, json::EXPECTED_VALUE_FOUND_END));
        }
        let end = on_member(name, value)?;
        let after = json::skip_whitespace(payload, end);
        match payload.get(after) {
            Some(b',') => pos = json::skip_whitespace(payload, after + 1),
            Some(b'}') => return Ok(after + 1),
            _ => return Err(expected(after, "`,` or `}`")),
        }
    }
}

/// Checks UTF-8 and nesting depth everywhere except inside the items arrays, whose workers
/// checked their bytes.
fn check_utf8_outside(payload: &[u8], arrays: &[(usize, usize)]) -> Result<(), Malformed> {
    let mut pos = 0;
    let mut depth = 0;
    // Arrays are recorded in the text's order and do not overlap; each is balanced, so the
    // depth after it is the depth before it.
    for &(start, end) in arrays {
        json::check_utf8(payload, pos, start)?;
        depth = json::check_depth(payload, pos, start, depth)?;
        pos = end;
    }
    json::check_utf8(payload, pos, payload.len())?;
    json::check_depth(payload, pos, payload.len(), depth).map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::number::Frequency;

    fn event(text: &str) -> Event {
        recognise(text.as_bytes(), ItemsPlan::workers(1)).unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    fn rejection(text: &str) -> String {
        match recognise(text.as_bytes(), ItemsPlan::workers(1)) {
            Ok(_) => panic!("{text} was accepted"),
            Err(error) => error.to_string(),
        }
    }

    fn frequencies(event: &Event) -> Vec<Frequency> {
        event.items.iter().copied().collect()
    }

    #[test]
    fn the_three_forms() {
        let direct = event(
            r#"{"items": [{"frequency": 1}], "threshold": 0.5, "include_indices": true, "x": [1]}"#,
        );
        assert_eq!(direct.form, EventForm::Direct);
        assert_eq!(frequencies(&direct), vec![Frequency::Int(1)]);
        assert_eq!(direct.threshold.unwrap().literal(), "0.5");
        assert!(direct.include_indices);

        let bare = event(r#" [ {"frequency": 2} , {"frequency": 3.5} ] "#);
        assert_eq!(bare.form, EventForm::BareArray);
        assert_eq!(
            frequencies(&bare),
            vec![Frequency::Int(2), Frequency::Float(3.5)]
        );
        assert!(bare.threshold.is_none() && !bare.include_indices);

        let batch = event(
            r#"{"Items": [{"frequency": 4}], "BatchInput": {"threshold": 3, "include_indices": false, "other": {}}}"#,
        );
        assert_eq!(batch.form, EventForm::StepFunctionsBatch);
        assert_eq!(batch.threshold.unwrap().literal(), "3");

        let batch_defaults = event(r#"{"Items": []}"#);
        assert_eq!(batch_defaults.form, EventForm::StepFunctionsBatch);
        assert!(batch_defaults.items.is_empty());
    }

    #[test]
    fn a_threshold_after_the_items_is_counted_while_they_are_parsed() {
        let items = r#"[{"frequency": 3}, {"frequency": 13}, {"frequency": 2.5e1}]"#;
        for (text, above) in [
            (format!(r#"{{"items": {items}, "threshold": 12.5}}"#), 2),
            (format!(r#"{{"items": {items},"threshold" :-1e400 }}"#), 3),
            (
                format!(r#"{{"Items": {items}, "BatchInput": {{"threshold": 3, "x": 1}}}}"#),
                2,
            ),
            (
                format!(r#"{{"items": {items}, "threshold": 30, "threshold": 20}}"#),
                1,
            ),
        ] {
            let event = event(&text);
            let threshold = event.threshold.as_ref().expect("a threshold");
            assert_eq!(event.items.counted_above(threshold), Some(above), "{text}");
        }
    }

    #[test]
    fn a_guess_at_the_threshold_that_proves_wrong_is_not_counted() {
        let text = r#"{"items": [{"frequency": 3}, {"frequency": 13}], "threshold": 1, "x": {"threshold": 5}}"#;
        let event = event(text);
        let threshold = event.threshold.as_ref().expect("a threshold");
        assert_eq!(threshold.literal(), "1");
        assert_eq!(event.items.counted_above(threshold), None);
        // Nothing is guessed where no `"threshold"` follows the last `]`, nor where one is
        // read before the items.
        for text in [
            r#"{"items": [{"frequency": 3}], "x": "\"threshold\": 1"}"#,
            r#"{"items": [{"frequency": 3}], "threshold": 1, "x": [0]}"#,
            r#"{"items": [{"frequency": 3}], "threshold": "1"}"#,
        ] {
            let parsed = recognise(text.as_bytes(), ItemsPlan::workers(1));
            let counted = parsed.ok().and_then(|event| {
                let one = Threshold::parse("1").expect("a number");
                event.items.counted_above(&one)
            });
            assert_eq!(counted, None, "{text}");
        }
    }

    #[test]
    fn the_options_of_the_form_not_taken_are_ignored() {
        let direct = event(r#"{"items": [], "BatchInput": {"threshold": "x"}, "Items": 5}"#);
        assert_eq!(direct.form, EventForm::Direct);
        assert!(direct.threshold.is_none());
        let batch = event(r#"{"threshold": "x", "include_indices": 3, "Items": []}"#);
        assert_eq!(batch.form, EventForm::StepFunctionsBatch);
        assert!(batch.threshold.is_none());
    }

    #[test]
    fn a_repeated_member_counts_once_the_last_time() {
        let direct =
            event(r#"{"threshold": 1, "items": [{"frequency": 1}], "threshold": 2, "items": []}"#);
        assert_eq!(direct.threshold.unwrap().literal(), "2");
        assert!(direct.items.is_empty());
    }

    #[test]
    fn each_rejection_names_its_path() {
        let cases = [
            ("", "$: malformed JSON"),
            ("{\"items\": [", "items: malformed JSON"),
            (
                "{\"items\": [{\"frequency\": 1}, {\"frequency\": }]}",
                "items[1]: malformed JSON",
            ),
            (
                "{\"items\": []} x",
                "$: malformed JSON: expected the end of the input, found `x`",
            ),
            ("17", "$: expected an object or an array, found a number"),
            ("null", "$: expected an object or an array, found null"),
            ("{\"data\": []}", "items: expected an array of items"),
            (
                "{\"items\": \"all\"}",
                "items: expected an array, found a string",
            ),
            (
                "{\"Items\": {}}",
                "Items: expected an array, found an object",
            ),
            (
                "{\"items\": [{\"frequency\": 1}, 2]}",
                "items[1]: expected an object with a numeric \"frequency\" member, found a number",
            ),
            (
                "[[]]",
                "[0]: expected an object with a numeric \"frequency\" member, found an array",
            ),
            (
                "{\"items\": [{}]}",
                "items[0].frequency: expected a number, found no \"frequency\" member",
            ),
            (
                "{\"items\": [{\"frequency\": null}]}",
                "items[0].frequency: expected a number, found null",
            ),
            (
                "{\"Items\": [{\"frequency\": \"1\"}]}",
                "Items[0].frequency: expected a number, found a string",
            ),
            (
                "[{\"frequency\": false}]",
                "[0].frequency: expected a number, found a boolean",
            ),
            (
                "[{\"frequency\": [1]}]",
                "[0].frequency: expected a number, found an array",
            ),
            (
                "[{\"frequency\": {}}]",
                "[0].frequency: expected a number, found an object",
            ),
            (
                "[{\"frequency\": 1, \"frequency\": 1}]",
                "[0].frequency: expected one \"frequency\" member, found a second one",
            ),
            (
                "{\"items\": [], \"threshold\": \"10\"}",
                "threshold: expected a number, found a string",
            ),
            (
                "{\"items\": [], \"include_indices\": 1}",
                "include_indices: expected a boolean, found a number",
            ),
            (
                "{\"Items\": [], \"BatchInput\": {\"threshold\": true}}",
                "BatchInput.threshold: expected a number, found a boolean",
            ),
            (
                "{\"Items\": [], \"BatchInput\": {\"include_indices\": null}}",
                "BatchInput.include_indices: expected a boolean, found null",
            ),
            (
                "{\"Items\": [], \"BatchInput\": []}",
                "BatchInput: expected an object, found an array",
            ),
        ];
        for (text, expected) in cases {
            let message = rejection(text);
            assert!(message.starts_with(expected), "{text}: {message}");
        }
    }

    #[test]
    fn malformed_json_outranks_a_rejected_value_and_the_first_in_the_text_wins() {
        assert!(
            rejection(r#"{"items": [{"frequency": "x"}], "threshold": tru}"#)
                .starts_with("threshold: malformed JSON")
        );
        assert!(
            rejection(r#"{"threshold": "x", "items": [{"frequency": "x"}]}"#)
                .starts_with("threshold: expected a number")
        );
        assert!(
            rejection(r#"{"items": [{"frequency": "x"}], "threshold": "x"}"#)
                .starts_with("items[0].frequency")
        );
    }

    #[test]
    fn nesting_beyond_serde_jsons_limit_is_malformed_wherever_it_is() {
        let deep = |n: usize| format!("{}{}", "[".repeat(n), "]".repeat(n));
        // At most 127 nested arrays and objects in all, counting the event's own brackets
        // (`None`: no nesting error).
        let cases = [
            (format!(r#"[{{"frequency": 1, "a": {}}}]"#, deep(125)), None),
            (
                format!(r#"[{{"frequency": 1, "a": {}}}]"#, deep(126)),
                Some("[0]"),
            ),
            (
                format!(r#"{{"items": [{{"frequency": 1, "a": {}}}]}}"#, deep(124)),
                None,
            ),
            (
                format!(r#"{{"items": [{{"frequency": 1, "a": {}}}]}}"#, deep(125)),
                Some("items[0]"),
            ),
            (
                format!(r#"{{"Items": [{{"frequency": 1}}], "x": {}}}"#, deep(126)),
                None,
            ),
            (
                format!(r#"{{"Items": [{{"frequency": 1}}], "x": {}}}"#, deep(127)),
                Some("$"),
            ),
            (
                format!(r#"{{"BatchInput": {{"a": {}}}, "Items": []}}"#, deep(126)),
                Some("$"),
            ),
            // After a rejected item the rest of the array is still checked.
            (format!(r#"[{{"frequency": "x"}}, {}]"#, deep(126)), None),
            (
                format!(r#"[{{"frequency": "x"}}, {}]"#, deep(127)),
                Some("[1]"),
            ),
            (
                format!(
                    r#"[{{"frequency": 1}}, {{"frequency": 2, "a": {}}}]"#,
                    deep(100_000)
                ),
                Some("[1]"),
            ),
        ];
        for (text, rejected_at) in cases {
            let result = recognise(text.as_bytes(), ItemsPlan::workers(1));
            match rejected_at {
                None => {
                    if let Err(error) = result {
                        assert!(!error.to_string().contains(json::TOO_DEEP), "{error}");
                    }
                }
                Some(path) => {
                    let message = result.expect_err(&text[..60]).to_string();
                    let expected = format!("{path}: malformed JSON: {} at line 1", json::TOO_DEEP);
                    assert!(message.starts_with(&expected), "{message}");
                }
            }
        }
    }

    #[test]
    fn a_leading_byte_order_mark_is_skipped() {
        let with_bom = b"\xEF\xBB\xBF{\"items\": [{\"frequency\": 11}]}";
        let event =
            recognise(with_bom, ItemsPlan::workers(1)).expect("a BOM before the text is allowed");
        assert_eq!(frequencies(&event), vec![Frequency::Int(11)]);
        assert!(recognise(b"{\"items\": []}\xEF\xBB\xBF", ItemsPlan::workers(1)).is_err());
    }

    #[test]
    fn http_envelopes_are_recognised_only_when_asked_for() {
        let v2 = r#"{"version": "2.0", "requestContext": {"http": {"method": "POST"}}, "body": "[]", "items": []}"#;
        assert!(matches!(
            recognise_request(v2.as_bytes(), ItemsPlan::workers(1)),
            Ok(Recognised::Http(Envelope {
                format: HttpFormat::V2,
                body: Some(_)
            }))
        ));
        let v1 =
            r#"{"httpMethod": "POST", "requestContext": {"httpMethod": "POST"}, "body": "[]"}"#;
        assert!(matches!(
            recognise_request(v1.as_bytes(), ItemsPlan::workers(1)),
            Ok(Recognised::Http(Envelope {
                format: HttpFormat::V1,
                body: Some(_)
            }))
        ));
        // HTTP-looking, but no envelope its reader could read: direct events.
        for direct in [
            r#"{"headers": {}, "body": "x", "httpMethod": "POST", "items": []}"#,
            r#"{"httpMethod": "POST", "requestContext": null, "items": []}"#,
            r#"{"httpMethod": "POST", "requestContext": {}, "items": []}"#,
            r#"{"version": "2.0", "requestContext": {"http": {}}, "items": []}"#,
            r#"{"version": "1.0", "requestContext": {"http": {"method": "GET"}}, "items": []}"#,
        ] {
            assert!(
                matches!(
                    recognise_request(direct.as_bytes(), ItemsPlan::workers(1)),
                    Ok(Recognised::Event(_))
                ),
                "{direct}"
            );
        }
        assert_eq!(event(v2).form, EventForm::Direct);
    }
}
