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
use crate::number::{Decimal, Frequency};
use crate::scan;

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

/// One item of an array, as [`ItemScanner::parse_array_item`] reads it.
#[derive(Debug, PartialEq)]
pub struct ArrayItem {
    /// The item's frequency, or why it has none.
    pub frequency: Result<Frequency, ItemFault>,
    /// The offset just past the item.
    pub end: usize,
    /// Where the next item starts, when the separator after this one was read with it.
    pub next: Option<usize>,
}

/// Reads the items of one run, in order. It remembers how the members of the items it read
/// were laid out, and whether every byte it read was proven UTF-8.
#[derive(Debug, Default)]
pub struct ItemScanner {
    /// The leads of the first members, as the last item that had them wrote them.
    leads: [MemberLead; LEARNED_MEMBERS],
    /// The whole layout of the last item read member by member, when it can be matched again
    /// in one pass ([`ItemLayout`]).
    layout: ItemLayout,
    /// How many items to read before trying to learn a layout again.
    layout_retry_after: usize,
    /// Set when some bytes were read without checking that they are UTF-8 (serde_json does
    /// not check the strings it skips); the caller then checks them. Left clear, every byte
    /// the scanner read is proven UTF-8 already.
    pub utf8_unchecked: bool,
}

/// How many members of an item have their lead remembered.
const LEARNED_MEMBERS: usize = 8;

/// The bytes from the end of a member's value (or from an item's `{`) to the start of the next
/// member's value, such as `, "name": ` or `{"id":`: a separator, a plain name, a colon and
/// whitespace. Items of one event nearly always repeat them byte for byte, so a masked
/// comparison of eight-byte words, one for each eight bytes of the lead (at most four, as
/// pretty-printed items need), takes the place of scanning the name and the punctuation around
/// it. A lead is remembered only after it was read in full, and the same bytes in the same
/// place are the same JSON, so a match proves what the full read would.
#[derive(Clone, Copy, Debug, Default)]
struct MemberLead {
    /// The lead's bytes, the first in the lowest byte of the first word, zero beyond its
    /// length.
    words: [u64; 4],
    /// Ones over the lead's bytes; zero when nothing is remembered.
    masks: [u64; 4],
    len: usize,
    is_frequency: bool,
}

impl MemberLead {
    const MAX_LEN: usize = 32;
    /// The bytes one comparison covers.
    const WORD: usize = 8;

    fn new(lead: &[u8], is_frequency: bool) -> MemberLead {
        // A lead holds at least `{` or `,`, two quotes and a colon (an item's close, at least
        // its `}`), and the caller keeps only leads of up to 32 bytes.
        debug_assert!((1..=MemberLead::MAX_LEN).contains(&lead.len()));
        let mut bytes = [0; MemberLead::MAX_LEN];
        bytes[..lead.len()].copy_from_slice(lead);
        let mut words = [0; 4];
        let mut masks = [0; 4];
        for (k, chunk) in bytes.chunks_exact(MemberLead::WORD).enumerate() {
            // Chunks of length 8 always convert.
            words[k] = u64::from_le_bytes(chunk.try_into().expect("eight bytes"));
            let covered = lead.len().saturating_sub(k * MemberLead::WORD);
            // Within 0..=64 bits: a word with no bytes has no mask.
            masks[k] = u64::MAX
                .checked_shr(8 * MemberLead::WORD.saturating_sub(covered) as u32)
                .unwrap_or(0);
        }
        MemberLead {
            words,
            masks,
            len: lead.len(),
            is_frequency,
        }
    }

    /// The offset just past the lead when the bytes at `at` begin with it. Reads 16 bytes (32
    /// for a lead longer than 16) whatever the lead's length: a lead too close to the end of
    /// the payload does not match, and the member is read in full instead.
    #[inline(always)]
    fn matches(&self, p: &[u8], at: usize) -> Option<usize> {
        self.matches_as::<false>(p, at)
    }

    /// [`MemberLead::matches`], for a lead known to hold 1 to 16 bytes when `SHORT` (as a
    /// layout checks once for all its leads): then with no test of the length per comparison.
    #[inline(always)]
    fn matches_as<const SHORT: bool>(&self, p: &[u8], at: usize) -> Option<usize> {
        debug_assert!(!SHORT || (1..=2 * MemberLead::WORD).contains(&self.len));
        let word = |chunk: &[u8]| -> u64 {
            // Slices of length 8 always convert.
            u64::from_le_bytes(chunk.try_into().expect("eight bytes"))
        };
        let first = p.get(at..)?.first_chunk::<{ 2 * MemberLead::WORD }>()?;
        let mut differ_bits = ((word(&first[..8]) ^ self.words[0]) & self.masks[0])
            | ((word(&first[8..]) ^ self.words[1]) & self.masks[1]);
        if !SHORT && self.len > 2 * MemberLead::WORD {
            let second = p.get(at + 2 * MemberLead::WORD..at + 4 * MemberLead::WORD)?;
            differ_bits |= ((word(&second[..8]) ^ self.words[2]) & self.masks[2])
                | ((word(&second[8..]) ^ self.words[3]) & self.masks[3]);
        }
        // An empty lead (nothing remembered) has no mask, and matches nothing.
        (differ_bits == 0 && (SHORT || self.len != 0)).then_some(at + self.len)
    }
}

impl ItemScanner {
    /// Parses the item starting at `pos` and returns its frequency (or why it has none) and
    /// the offset just past the item. `Err` only for bytes that are not JSON.
    ///
    /// Most items are flat objects of short plain strings and numbers, which
    /// `ItemScanner::scan_flat_item` reads at several times serde_json's speed; anything
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
        self.parse_array_item(payload, pos, depth)
            .map(|item| (item.frequency, item.end))
    }

    /// [`ItemScanner::parse_item`] for an item of an array, with the start of the next item
    /// when the item was read by its layout and the tail learned with it follows (the same
    /// close and separator, then the next item's `{`): a run of items laid out alike is read
    /// one step per item, with nothing between them to skip one byte at a time.
    #[inline]
    pub fn parse_array_item(
        &mut self,
        payload: &[u8],
        pos: usize,
        depth: usize,
    ) -> Result<ArrayItem, Malformed> {
        if let Some((frequency, values_end)) = self.scan_by_layout(payload, pos) {
            if let Some((end, next)) = self.layout.item_end(payload, values_end) {
                return Ok(ArrayItem {
                    frequency: Ok(frequency),
                    end,
                    next,
                });
            }
        }
        match self.scan_flat_item(payload, pos, depth) {
            Some((frequency, end)) => {
                self.learn_layout(payload, pos);
                Ok(ArrayItem {
                    frequency,
                    end,
                    next: None,
                })
            }
            None => {
                self.utf8_unchecked = true;
                let (frequency, end) = parse_item_with_serde(payload, pos)?;
                json::check_depth(payload, pos, end, depth)?;
                Ok(ArrayItem {
                    frequency,
                    end,
                    next: None,
                })
            }
        }
    }

    /// Reads an item that is an object whose member names are plain strings (no escapes), in
    /// a few steps: each member's lead (matched against the one remembered for its position,
    /// else read in full), then its value (the `frequency` number converted, any other value
    /// only skipped), and the item's result from what the members held. Returns `None` at the
    /// first byte outside that shape, including every syntax error, so that serde_json reads
    /// the item instead: this scanner only ever accepts what serde_json accepts, with the same
    /// result. It proves the UTF-8 of what it reads, or sets `utf8_unchecked` for the caller's
    /// check to do it (strings that are not ASCII, values handed to serde_json).
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
        let mut found = FrequencyMember::default();
        // The layout is learned again from this item once it is read.
        self.layout.count = 0;
        // Where the next member's lead starts: the `{`, then the end of each value.
        let mut at = pos;
        for member in 0.. {
            let (is_frequency, value) = match self.member_lead(p, at, member)? {
                Lead::Member {
                    is_frequency,
                    value,
                } => (is_frequency, value),
                Lead::Close(close) => return Some((found.result(), close + 1)),
            };
            at = if is_frequency {
                self.frequency_value(p, value, depth, &mut found)?
            } else {
                self.value_end(p, value, depth)?
            };
        }
        unreachable!("an item has fewer than usize::MAX members")
    }

    /// Learns the layout of the item at `pos`, just read member by member, when it has one
    /// ([`ItemLayout`]). After an item without one, the next few items are not tried, so that
    /// events of other shapes pay for this only now and then.
    #[inline]
    fn learn_layout(&mut self, p: &[u8], pos: usize) {
        if self.layout_retry_after > 0 {
            self.layout_retry_after -= 1;
            return;
        }
        match ItemLayout::of(&self.leads, p, pos) {
            Some(layout) => self.layout = layout,
            None => self.layout_retry_after = LAYOUT_RETRY_AFTER,
        }
    }

    /// Reads the items from `pos` that are laid out as the last one read member by member
    /// (`ItemLayout`) and followed by the layout's tail (the close, a comma and the next
    /// item's `{`), while they start before `limit`; pushes their frequencies. Returns where it
    /// stopped: the start of the first item it did not read. An item read here is read exactly
    /// as the member-by-member read would read it, since every byte between its values is the
    /// same as in an item that was.
    ///
    /// This is the hot loop for events whose items look alike: one masked comparison per lead
    /// and one scan per value, with nothing else between two items.
    #[inline(always)]
    pub fn read_items_by_layout(
        &mut self,
        p: &[u8],
        pos: usize,
        limit: usize,
        frequencies: &mut Vec<Frequency>,
    ) -> usize {
        if self.layout.count == 0 {
            return pos;
        }
        // Most layouts' leads are all short: their loop compares each in two words, with no
        // test of its length.
        let (end, non_ascii) = if self.layout.short_leads {
            self.layout.read_items::<true>(p, pos, limit, frequencies)
        } else {
            self.layout.read_items::<false>(p, pos, limit, frequencies)
        };
        self.utf8_unchecked |= non_ascii;
        end
    }

    /// Reads the item at `pos` by the layout, when it has it: its frequency and the end of
    /// its last value, where the caller matches the layout's close.
    #[inline(always)]
    fn scan_by_layout(&mut self, p: &[u8], pos: usize) -> Option<(Frequency, usize)> {
        if self.layout.count == 0 {
            return None;
        }
        let mut non_ascii = false;
        let read = self
            .layout
            .values::<false>(p, pos, &mut non_ascii, &mut LiteralForm::default());
        self.utf8_unchecked |= non_ascii;
        read
    }

    /// The lead of member `member` at `at`: the one remembered for that position when the
    /// bytes match it, else read in full (and remembered).
    #[inline(always)]
    fn member_lead(&mut self, p: &[u8], at: usize, member: usize) -> Option<Lead> {
        if let Some(lead) = self.leads.get(member) {
            if let Some(value) = lead.matches(p, at) {
                // A remembered lead ends where its value began; more whitespace here means a
                // longer lead, read in full so that the result never depends on what was
                // remembered.
                if skip_ws(p, value) == value {
                    return Some(Lead::Member {
                        is_frequency: lead.is_frequency,
                        value,
                    });
                }
            }
        }
        self.read_lead(p, at, member)
    }

    /// Reads the value of a `frequency` member at `value` into `found`; returns its end.
    #[inline(always)]
    fn frequency_value(
        &mut self,
        p: &[u8],
        value: usize,
        depth: usize,
        found: &mut FrequencyMember,
    ) -> Option<usize> {
        let first = *p.get(value)?;
        if let b'-' | b'0'..=b'9' = first {
            let (end, decimal) = scan_number(p, value)?;
            found.number(Frequency::from_decimal(decimal, &p[value..end], value));
            Some(end)
        } else {
            let end = self.value_end(p, value, depth)?;
            found.not_a_number(JsonKind::of_first_byte(first));
            Some(end)
        }
    }

    /// The end of the value at `value`, skipped: strings (escapes included), numbers,
    /// literals, and nested arrays and objects of them. `None` where serde_json must read it.
    #[inline(always)]
    fn value_end(&mut self, p: &[u8], value: usize, depth: usize) -> Option<usize> {
        match *p.get(value)? {
            b'"' => {
                let (close, non_ascii) = scan::string_end(p, value + 1)?;
                self.utf8_unchecked |= non_ascii;
                Some(close + 1)
            }
            b'-' | b'0'..=b'9' => scan_number(p, value).map(|(end, _)| end),
            b't' => literal_end(p, value, b"true"),
            b'f' => literal_end(p, value, b"false"),
            b'n' => literal_end(p, value, b"null"),
            b'{' | b'[' => self.nested_end(p, value, depth),
            _ => None,
        }
    }

    /// The end of the array or object at `start`, a member's value in an item nested `depth`
    /// deep: read here when it holds only what [`ItemScanner::value_end`] reads, else skipped
    /// by serde_json, whose error then words what is wrong (and nesting beyond
    /// [`json::MAX_DEPTH`] is left to the caller's fallback).
    #[cold]
    fn nested_end(&mut self, p: &[u8], start: usize, depth: usize) -> Option<usize> {
        // The item is level `depth + 1`; this value opens the next.
        if let Some((end, non_ascii)) = nested_end(p, start, depth + 2) {
            self.utf8_unchecked |= non_ascii;
            return Some(end);
        }
        self.utf8_unchecked = true;
        let end = skip_with_serde(p, start)?;
        json::check_depth(p, start, end, depth + 1).ok()?;
        Some(end)
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
        let (is_frequency, name_end) = if is_frequency_name(p, name + 1) {
            (true, name + FREQUENCY_NAME.len())
        } else {
            (false, plain_name_end(p, name + 1)?)
        };
        let colon = skip_ws(p, name_end + 1);
        if *p.get(colon)? != b':' {
            return None;
        }
        let value = skip_ws(p, colon + 1);
        // The name is proven UTF-8, so a match proves everything this read did.
        if value - at <= MemberLead::MAX_LEN && member < LEARNED_MEMBERS {
            self.leads[member] = MemberLead::new(&p[at..value], is_frequency);
        }
        Some(Lead::Member {
            is_frequency,
            value,
        })
    }
}

/// The layout of an item whose values are all numbers or plain strings, one of them the
/// only `frequency`, and whose leads are all remembered: an item of the same layout is read
/// in one pass of masked comparisons and value scans ([`ItemScanner::scan_by_layout`]), with
/// no step to find what comes next. A lead ends where its value begins (the whitespace before
/// a value is part of its lead), and a number or string ends at a fixed byte, so a match
/// leaves nothing for the member-by-member read to decide differently.
///
/// The layout keeps copies of the leads the scanner remembered when it was learned. An item
/// read member by member forgets it first and learns it again at the end, so that it always
/// describes the last such item.
#[derive(Clone, Copy, Debug, Default)]
struct ItemLayout {
    /// The members in order: each one's lead, and the kind of its value. A string value's
    /// lead takes in its opening quote.
    members: [LayoutMember; LEARNED_MEMBERS],
    /// How many members; zero when nothing is learned.
    count: usize,
    /// The bytes from the last value's end to the item's `}`, inclusive.
    close: MemberLead,
    /// The close, then the separator to the next item (a comma and whitespace) and that
    /// item's `{`, when the item learned from had a next one: the bytes between the last
    /// value of one item and the first lead of the next, compared at once.
    tail: MemberLead,
    /// Every member's lead and the tail hold 1 to 16 bytes (see
    /// [`MemberLead::matches_as`]).
    short_leads: bool,
}

/// One member of an [`ItemLayout`].
#[derive(Clone, Copy, Debug, Default)]
struct LayoutMember {
    lead: MemberLead,
    kind: ValueKind,
}

/// What a member of an [`ItemLayout`] holds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum ValueKind {
    #[default]
    Number,
    String,
    /// The `frequency` member, a number.
    Frequency,
}

/// How many items are read member by member, after one that has no layout, before the next
/// try to learn one.
const LAYOUT_RETRY_AFTER: usize = 32;

impl ItemLayout {
    /// The frequency of the item at `pos` and the end of its last value, when its members are
    /// laid out as this layout's; `non_ascii` is set when a string held bytes that are not
    /// ASCII (their UTF-8 is then the caller's to check). `None` at the first difference.
    ///
    /// Not for a layout of no members (nothing learned): its callers check for that once,
    /// outside their loops.
    #[inline(always)]
    fn values<const SHORT: bool>(
        &self,
        p: &[u8],
        pos: usize,
        non_ascii: &mut bool,
        form: &mut LiteralForm,
    ) -> Option<(Frequency, usize)> {
        debug_assert!(self.count > 0, "a layout is learned before it reads");
        read_values::<SHORT>(&self.members[..self.count], p, pos, non_ascii, form)
    }

    /// [`ItemScanner::read_items_by_layout`]'s loop, comparing leads as `SHORT` says (true
    /// only when [`ItemLayout::short_leads`]); returns where it stopped and whether a string
    /// held bytes that are not ASCII.
    #[inline(always)]
    fn read_items<const SHORT: bool>(
        &self,
        p: &[u8],
        mut pos: usize,
        limit: usize,
        frequencies: &mut Vec<Frequency>,
    ) -> (usize, bool) {
        let mut non_ascii = false;
        let mut form = LiteralForm::default();
        let members = &self.members[..self.count];
        while pos < limit {
            let Some((frequency, values_end)) =
                read_values::<SHORT>(members, p, pos, &mut non_ascii, &mut form)
            else {
                break;
            };
            let Some(after_tail) = self.tail.matches_as::<SHORT>(p, values_end) else {
                break;
            };
            frequencies.push(frequency);
            // The tail ends with the next item's `{`.
            pos = after_tail - 1;
        }
        (pos, non_ascii)
    }

    /// Where an item read by this layout ends, from the end of its last value: just past its
    /// `}`, and the next item's start when the tail follows.
    #[inline(always)]
    fn item_end(&self, p: &[u8], values_end: usize) -> Option<(usize, Option<usize>)> {
        // The close, the separator and the next item's `{`, in one comparison.
        if let Some(after_tail) = self.tail.matches(p, values_end) {
            return Some((values_end + self.close.len, Some(after_tail - 1)));
        }
        self.close.matches(p, values_end).map(|end| (end, None))
    }

    /// The layout of the well-formed item at `pos` when its leads are `leads` and it has one.
    fn of(leads: &[MemberLead; LEARNED_MEMBERS], p: &[u8], pos: usize) -> Option<ItemLayout> {
        let mut layout = ItemLayout::default();
        let mut frequencies = 0;
        let mut at = pos;
        for member in 0..=LEARNED_MEMBERS {
            let Some((lead, value)) = leads
                .get(member)
                .and_then(|lead| Some((lead, lead.matches(p, at)?)))
            else {
                // Not this member's lead: the item's close, or a lead not remembered.
                let close = skip_ws(p, at);
                if p.get(close) != Some(&b'}') || close - at >= MemberLead::MAX_LEN {
                    return None;
                }
                layout.close = MemberLead::new(&p[at..=close], false);
                layout.count = member;
                let comma = skip_ws(p, close + 1);
                let next = skip_ws(p, comma + 1);
                if p.get(comma) == Some(&b',')
                    && p.get(next) == Some(&b'{')
                    && next - at < MemberLead::MAX_LEN
                {
                    layout.tail = MemberLead::new(&p[at..=next], false);
                }
                let short = |lead: &MemberLead| (1..=2 * MemberLead::WORD).contains(&lead.len);
                layout.short_leads = layout.members[..member]
                    .iter()
                    .all(|member| short(&member.lead))
                    && short(&layout.tail);
                return (frequencies == 1).then_some(layout);
            };
            let (kind, layout_lead, end) = match p.get(value)? {
                b'-' | b'0'..=b'9' => {
                    let end = scan_number(p, value)?.0;
                    if lead.is_frequency {
                        (ValueKind::Frequency, *lead, end)
                    } else {
                        (ValueKind::Number, *lead, end)
                    }
                }
                // The opening quote joins the lead, when it has room.
                b'"' if !lead.is_frequency && value + 1 - at <= MemberLead::MAX_LEN => (
                    ValueKind::String,
                    MemberLead::new(&p[at..=value], false),
                    scan::string_end(p, value + 1)?.0 + 1,
                ),
                _ => return None,
            };
            frequencies += usize::from(lead.is_frequency);
            layout.members[member] = LayoutMember {
                kind,
                lead: layout_lead,
            };
            at = end;
        }
        // More members than leads are remembered.
        None
    }
}

/// [`ItemLayout::values`] over the layout's `members`, taken once by a loop over many items
/// rather than sliced again for each.
#[inline(always)]
fn read_values<const SHORT: bool>(
    members: &[LayoutMember],
    p: &[u8],
    pos: usize,
    non_ascii: &mut bool,
    form: &mut LiteralForm,
) -> Option<(Frequency, usize)> {
    // A layout has exactly one frequency member, which sets this.
    let mut frequency = Frequency::Int(0);
    let mut at = pos;
    for member in members {
        let value = member.lead.matches_as::<SHORT>(p, at)?;
        at = match member.kind {
            ValueKind::Number => number_end(p, value)?,
            ValueKind::String => {
                // The lead ended with the opening quote.
                let (close, text) = scan::string_end(p, value)?;
                *non_ascii |= text;
                close + 1
            }
            ValueKind::Frequency => {
                let (end, read) = form.read(p, value)?;
                frequency = read;
                end
            }
        };
    }
    Some((frequency, at))
}

/// How a run of items read by one layout reads their `frequency` literals: a word at a time
/// ([`scan_frequency`]), or byte by byte ([`number_by_bytes`]) once literals with a fraction
/// or an exponent have kept one length, item after item.
///
/// The word-at-a-time reading has no branch on how many digits a literal has, which suits
/// literals whose lengths vary (`json.dumps` writes the shortest text of each double, so
/// `14.578301734827` is followed by `3.5`). Literals of one form, such as `'%.3e'` writes
/// (`2.291e+01`, `8.809e+00`), make a byte loop's branches go the same way every time: read
/// byte by byte, each byte's place is predicted before the bytes before it are read, and in
/// fewer instructions (BENCHMARKS.md, "Literals of one length read byte by byte").
#[derive(Clone, Copy, Debug, Default)]
struct LiteralForm {
    /// The length of the last literal with a fraction or an exponent, zero after any other.
    last_len: usize,
    /// How many literals in a row have had `last_len` (with a fraction or an exponent).
    repeats: usize,
}

impl LiteralForm {
    /// How many literals in a row must repeat the length of the one before them before the
    /// next is read byte by byte.
    const STEADY_AFTER: usize = 16;

    /// The `frequency` literal at `start`: its end and its value, as [`scan_frequency`] reads
    /// them.
    #[inline(always)]
    fn read(&mut self, p: &[u8], start: usize) -> Option<(usize, Frequency)> {
        if self.repeats >= LiteralForm::STEADY_AFTER {
            if let Some((end, decimal)) = number_by_bytes(p, start) {
                self.note(if decimal.integer { 0 } else { end - start });
                return Some((end, Frequency::from_decimal(decimal, &p[start..end], start)));
            }
        }
        let (end, frequency) = scan_frequency(p, start)?;
        self.note(match frequency {
            Frequency::Int(_) | Frequency::Big { .. } => 0,
            Frequency::Float(_) | Frequency::Near { .. } => end - start,
        });
        Some((end, frequency))
    }

    /// Counts a literal of `len` bytes, zero for an integer.
    #[inline(always)]
    fn note(&mut self, len: usize) {
        self.repeats = if len != 0 && len == self.last_len {
            self.repeats + 1
        } else {
            0
        };
        self.last_len = len;
    }
}

/// The number at `start` read one byte at a time, when it has at most 19 digits before its
/// exponent and at most four in it: its end and its digits, as [`scan_number`] reads them.
/// `None` for any other text, which [`scan_number`] then reads (or finds is not a number).
#[inline(always)]
fn number_by_bytes(p: &[u8], start: usize) -> Option<(usize, Decimal)> {
    let negative = p.get(start) == Some(&b'-');
    let integer_start = start + usize::from(negative);
    let mut mantissa = 0;
    let mut i = digits_by_bytes(p, integer_start, &mut mantissa);
    let integer_len = i - integer_start;
    // A lone `0` is a number; `0` followed by digits is not.
    if integer_len == 0 || (integer_len > 1 && p[integer_start] == b'0') {
        return None;
    }
    let mut decimal = Decimal::integer(negative, 0);
    if p.get(i) == Some(&b'.') {
        let fraction = i + 1;
        i = digits_by_bytes(p, fraction, &mut mantissa);
        if i == fraction {
            return None;
        }
        decimal.integer = false;
        decimal.exponent = -((i - fraction) as i64);
    }
    // Nineteen digits at most, as `Decimal::push_digit` keeps them: below 10^19, so the
    // mantissa did not overflow, and no digit was dropped.
    if i - integer_start - usize::from(!decimal.integer) > 19 {
        return None;
    }
    decimal.mantissa = mantissa;
    if let Some(b'e' | b'E') = p.get(i) {
        let sign = *p.get(i + 1)?;
        let digits = i + 1 + usize::from(sign == b'+' || sign == b'-');
        let mut exponent = 0;
        i = digits_by_bytes(p, digits, &mut exponent);
        if !(1..=4).contains(&(i - digits)) {
            return None;
        }
        decimal.integer = false;
        // Four digits at most: far inside the range `Decimal::add_exponent` clamps to.
        let exponent = exponent as i64;
        decimal.exponent += if sign == b'-' { -exponent } else { exponent };
    }
    Some((i, decimal))
}

/// Reads the digits at `i` into `value` (which wraps past 2^64; the caller bounds how many
/// digits it keeps); returns the end of the digits.
#[inline(always)]
fn digits_by_bytes(p: &[u8], mut i: usize, value: &mut u64) -> usize {
    while let Some(&byte) = p.get(i) {
        let digit = byte.wrapping_sub(b'0');
        if digit > 9 {
            break;
        }
        *value = value.wrapping_mul(10).wrapping_add(u64::from(digit));
        i += 1;
    }
    i
}

/// What [`ItemScanner::read_lead`] found where a member's lead may start.
enum Lead {
    /// A member, whose value starts at `value`.
    Member { is_frequency: bool, value: usize },
    /// The item's closing `}`, at this offset.
    Close(usize),
}

/// What an item's `frequency` members held, as [`ItemScanner::scan_flat_item`] reads them.
#[derive(Default)]
struct FrequencyMember {
    first: Option<Result<Frequency, ItemFault>>,
    repeated: bool,
}

impl FrequencyMember {
    #[inline(always)]
    fn number(&mut self, frequency: Frequency) {
        self.record(Ok(frequency));
    }

    #[inline(always)]
    fn not_a_number(&mut self, found: JsonKind) {
        self.record(Err(ItemFault::FrequencyNotANumber(found)));
    }

    #[inline(always)]
    fn record(&mut self, value: Result<Frequency, ItemFault>) {
        if self.first.is_some() {
            self.repeated = true;
        } else {
            self.first = Some(value);
        }
    }

    /// The item's frequency, or why it has none.
    #[inline(always)]
    fn result(self) -> Result<Frequency, ItemFault> {
        match self.first {
            _ if self.repeated => Err(ItemFault::DuplicateFrequency),
            None => Err(ItemFault::MissingFrequency),
            Some(found) => found,
        }
    }
}

/// The item parsed by serde_json: the reference for `ItemScanner::scan_flat_item` and its
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

#[inline(always)]
fn skip_ws(p: &[u8], mut i: usize) -> usize {
    while let Some(b' ' | b'\n' | b'\r' | b'\t') = p.get(i) {
        i += 1;
    }
    i
}

/// The offset of the closing quote of a member name whose content starts at `start`, or `None`
/// if the name has an escape or a control character, is not UTF-8, or does not end: serde_json
/// decodes such names, and words their errors, whatever the scanner has learned before (so
/// that the answer never depends on where a part began).
#[inline(always)]
fn plain_name_end(p: &[u8], start: usize) -> Option<usize> {
    let stop = scan::string_stop(p, start);
    let close = stop.at.filter(|&at| p[at] == b'"')?;
    (!stop.non_ascii || std::str::from_utf8(&p[start..close]).is_ok()).then_some(close)
}

/// The end of the array or object at `start`, which opens nesting level `level` (the item
/// being `level - 1`), with whether it holds bytes that are not ASCII; `None` for anything
/// [`ItemScanner::value_end`] would not read, a syntax error, or nesting beyond
/// [`json::MAX_DEPTH`]. One pass, no recursion: `objects` has a bit per open level, set for
/// an object.
fn nested_end(p: &[u8], start: usize, level: usize) -> Option<(usize, bool)> {
    // Levels beyond 128 are beyond MAX_DEPTH, so a u128 holds every open level's bit.
    const _: () = assert!(json::MAX_DEPTH < 128);
    let mut objects: u128 = 0;
    let mut open = 0usize;
    let mut non_ascii = false;
    let mut i = start;
    loop {
        // `i` is at a value.
        let after_value = match *p.get(i)? {
            open_byte @ (b'{' | b'[') => {
                if level + open > json::MAX_DEPTH {
                    return None;
                }
                let is_object = open_byte == b'{';
                objects = (objects << 1) | u128::from(is_object);
                open += 1;
                let inner = skip_ws(p, i + 1);
                if p.get(inner) == Some(if is_object { &b'}' } else { &b']' }) {
                    objects >>= 1;
                    open -= 1;
                    inner + 1
                } else {
                    i = if is_object {
                        nested_member_value(p, inner, &mut non_ascii)?
                    } else {
                        inner
                    };
                    continue;
                }
            }
            b'"' => {
                let (close, text) = scan::string_end(p, i + 1)?;
                non_ascii |= text;
                close + 1
            }
            b'-' | b'0'..=b'9' => scan_number(p, i)?.0,
            b't' => literal_end(p, i, b"true")?,
            b'f' => literal_end(p, i, b"false")?,
            b'n' => literal_end(p, i, b"null")?,
            _ => return None,
        };
        // After a value: a separator and the next value, or the ends of levels.
        i = after_value;
        loop {
            if open == 0 {
                return Some((i, non_ascii));
            }
            let is_object = objects & 1 == 1;
            let next = skip_ws(p, i);
            match *p.get(next)? {
                b',' => {
                    let value = skip_ws(p, next + 1);
                    i = if is_object {
                        nested_member_value(p, value, &mut non_ascii)?
                    } else {
                        value
                    };
                    break;
                }
                b'}' if is_object => {}
                b']' if !is_object => {}
                _ => return None,
            }
            objects >>= 1;
            open -= 1;
            i = next + 1;
        }
    }
}

/// From a member's name at `name` in a nested object (any string), past its colon: the offset
/// of its value.
#[inline(always)]
fn nested_member_value(p: &[u8], name: usize, non_ascii: &mut bool) -> Option<usize> {
    if *p.get(name)? != b'"' {
        return None;
    }
    let (close, text) = scan::string_end(p, name + 1)?;
    *non_ascii |= text;
    let colon = skip_ws(p, close + 1);
    (*p.get(colon)? == b':').then(|| skip_ws(p, colon + 1))
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
/// and returns its end and its digits. `None` when the text is not a number there.
///
/// The usual numbers are read a word at a time, without a branch on how many digits they
/// have: integers of one to seven digits from one eight-byte word, of eight to nineteen from
/// three ([`long_integer`]), and doubles of a short integer part with up to fifteen digits of
/// fraction and four of exponent ([`short_fraction_and_exponent`]). Any other number, and a
/// number too near the end of the payload for those words, is read eight digits at a time
/// ([`scan_long_number`]).
#[inline(always)]
fn scan_number(p: &[u8], start: usize) -> Option<(usize, Decimal)> {
    scan_number_then(p, start, |read| read)
}

/// The `frequency` number at `start`: its end and its value, as [`scan_number`] and
/// [`Frequency::from_decimal`] read them. The conversion is made where each kind of number is
/// read, so that a short integer's, whose digits are known to be a non-negative integer,
/// compiles to little more than a move.
#[inline(always)]
fn scan_frequency(p: &[u8], start: usize) -> Option<(usize, Frequency)> {
    scan_number_then(p, start, |(end, decimal)| {
        // `end` is past the number's last byte, within the payload.
        (end, Frequency::from_decimal(decimal, &p[start..end], start))
    })
}

/// [`scan_number`], its end and digits handed to `finish` where each kind of number is read.
#[inline(always)]
fn scan_number_then<T>(
    p: &[u8],
    start: usize,
    finish: impl Fn((usize, Decimal)) -> T,
) -> Option<T> {
    // The word is loaded at `start` whatever its first byte, and a sign is handled apart:
    // the next value's offset then waits on one load, not on a load to find where to load.
    if let Some(word) = word_at(p, start) {
        if let Some((len, magnitude)) = short_integer(word) {
            let integer = Decimal::integer(false, magnitude);
            let next = (word >> (8 * len)) as u8;
            if !matches!(next, b'.' | b'e' | b'E') {
                return Some(finish((start + len, integer)));
            }
            // A double such as `14.578301734827` or `2.291e+01`: its integer part is read.
            if let Some(read) = short_fraction_and_exponent(p, start + len, integer) {
                return Some(finish(read));
            }
            return read_fraction_and_exponent(p, start + len, integer).map(finish);
        }
        if let Some(read) = long_integer(p, start, word) {
            return Some(finish(read));
        }
    }
    let negative = p.get(start) == Some(&b'-');
    if negative {
        if let Some((len, magnitude)) = word_at(p, start + 1).and_then(short_integer) {
            let integer = Decimal::integer(true, magnitude);
            let end = start + 1 + len;
            if !matches!(p.get(end), Some(b'.' | b'e' | b'E')) {
                return Some(finish((end, integer)));
            }
            return read_fraction_and_exponent(p, end, integer).map(finish);
        }
    }
    scan_long_number(p, start).map(finish)
}

/// The eight bytes at `at`, the first in the lowest byte, when there are eight.
#[inline(always)]
fn word_at(p: &[u8], at: usize) -> Option<u64> {
    let chunk = p.get(at..)?.first_chunk::<8>()?;
    Some(u64::from_le_bytes(*chunk))
}

/// The length and value of the integer of one to seven digits, without a leading zero, that
/// starts the word, when one does: the usual `frequency`, read without a branch per digit.
/// The byte after the digits is in the word.
#[inline(always)]
fn short_integer(word: u64) -> Option<(usize, u64)> {
    let (len, values) = short_integer_digits(word)?;
    // The digits moved to the word's high bytes; the zeros below are leading zeros. One to
    // seven digits: the shift is below 64, with no case for none (see `leading_value`).
    Some((len, eight_digits(values << (8 * (8 - len)))))
}

/// [`short_integer`]'s length and digit values (see [`leading_digits`]), without the value.
#[inline(always)]
fn short_integer_digits(word: u64) -> Option<(usize, u64)> {
    let (len, values) = leading_digits(word);
    // A lone `0` is a number; `0` followed by digits is not.
    let leading_zero = word as u8 == b'0' && len > 1;
    if !(1..8).contains(&len) || leading_zero {
        return None;
    }
    Some((len, values))
}

/// The integer of 8 to 23 digits at `start`, whose first eight bytes are `word`, when it is
/// one and neither a fraction nor an exponent follows: a long integer read three words at a
/// time, with no branch on how many digits it has. Beyond 19 digits, the first 19 are kept
/// and the rest counted, as `Decimal::push_digit` keeps them. `None` leaves it to the general
/// reading.
#[inline(always)]
fn long_integer(p: &[u8], start: usize, word: u64) -> Option<(usize, Decimal)> {
    let (len, values) = leading_digits(word);
    if len != 8 || word as u8 == b'0' {
        return None;
    }
    let (len2, values2) = leading_digits(word_at(p, start + 8)?);
    let (len3, values3) = leading_digits(word_at(p, start + 16)?);
    // The third word's digits count only when the second word is all digits (`len2` is at
    // most 8). A product, not a branch: how many digits a long integer has varies from item
    // to item, and a branch on it is mispredicted about every other item.
    let len3 = len3 * (len2 / 8);
    // Twenty-four digits or more: the general reading.
    if len3 == 8 {
        return None;
    }
    let end = start + 8 + len2 + len3;
    if matches!(p.get(end), Some(b'.' | b'e' | b'E')) {
        return None;
    }
    // Nineteen digits at most: at most 10^19 - 1, no overflow.
    let kept = len3.min(3);
    let mantissa = (eight_digits(values) * POWERS_OF_TEN[len2] + leading_value(values2, len2))
        * POWERS_OF_TEN[kept]
        + leading_value(values3, kept);
    // The digits beyond the nineteenth (none to four of them, one value per byte): how many,
    // and whether any is not zero.
    let dropped = len3 - kept;
    // At most four bytes: the shift is at most 32.
    let dropped_values = (values3 >> (8 * kept)) & !(u64::MAX << (8 * dropped));
    let decimal = Decimal {
        exponent: dropped as i64,
        truncated: dropped_values != 0,
        ..Decimal::integer(false, mantissa)
    };
    Some((end, decimal))
}

/// The fraction and the exponent of the number whose integer part (at most seven digits,
/// read into `integer`) ends at `i`, at a `.`, `e` or `E`: up to fifteen digits of fraction
/// and four of exponent, read a word at a time with no branch on how many digits there are
/// within a word.
/// `None` for anything else (more digits, or not a number), which the general reading
/// ([`read_fraction_and_exponent`]) then reads.
#[inline(always)]
fn short_fraction_and_exponent(
    p: &[u8],
    mut i: usize,
    integer: Decimal,
) -> Option<(usize, Decimal)> {
    let mut decimal = Decimal {
        integer: false,
        ..integer
    };
    if p.get(i) == Some(&b'.') {
        let (len1, values1) = leading_digits(word_at(p, i + 1)?);
        if len1 == 0 {
            return None;
        }
        // Below 10^15: no overflow.
        let mut mantissa = decimal.mantissa * POWERS_OF_TEN[len1] + leading_value(values1, len1);
        // The second word is read only for a fraction of more than eight digits: the branch
        // goes the same way for every item of an event written by one program.
        let mut len2 = 0;
        if len1 == 8 {
            let (len, values) = leading_digits(word_at(p, i + 9)?);
            if len == 8 {
                return None;
            }
            mantissa = mantissa
                .checked_mul(POWERS_OF_TEN[len])?
                .checked_add(leading_value(values, len))?;
            len2 = len;
        }
        // Nineteen digits at most, as `Decimal::push_digit` keeps them: digits taken one at a
        // time would all have been kept.
        if mantissa > MAX_MANTISSA {
            return None;
        }
        decimal.mantissa = mantissa;
        decimal.exponent = -((len1 + len2) as i64);
        i += 1 + len1 + len2;
    }
    if !matches!(p.get(i), Some(b'e' | b'E')) {
        return Some((i, decimal));
    }
    let word = word_at(p, i + 1)?;
    let sign = word as u8;
    let signed = usize::from(sign == b'+' || sign == b'-');
    let (len, values) = leading_digits(word >> (8 * signed));
    if !(1..=4).contains(&len) {
        return None;
    }
    // Four digits at most, and at most fifteen of fraction: far inside the range
    // `Decimal::add_exponent` clamps to.
    let exponent = i64::from(leading_value_of_four(values, len));
    decimal.exponent += if sign == b'-' { -exponent } else { exponent };
    Some((i + 1 + signed + len, decimal))
}

/// The largest mantissa of nineteen digits.
const MAX_MANTISSA: u64 = 10u64.pow(19) - 1;

/// The number written by the first `len` digit values of a word (see [`leading_digits`]);
/// zero for none.
#[inline(always)]
fn leading_value(values: u64, len: usize) -> u64 {
    // The digits moved to the word's high bytes; the zeros below are leading zeros. A shift
    // by 64 (no digits) leaves nothing.
    eight_digits(values.checked_shl(8 * (8 - len as u32)).unwrap_or(0))
}

/// [`leading_value`] for one to four digits, in half the operations: an exponent's.
#[inline(always)]
fn leading_value_of_four(values: u64, len: usize) -> u32 {
    debug_assert!((1..=4).contains(&len));
    // The digits moved to the high bytes of the low half; the zeros below are leading zeros.
    let digits = (values as u32) << (8 * (4 - len));
    // Each even byte becomes ten times itself plus the next: the two pairs' values, each
    // below 100, in bytes 0 and 2.
    let pairs = digits.wrapping_mul(10).wrapping_add(digits >> 8);
    // (first + second × 2^16) × (1 + 100 × 2^16): the first pair times 100 plus the second
    // in bits 16 to 31, the first alone below them, and the second times 100 × 2^32 off the
    // top of the word.
    (pairs & 0x00FF_00FF).wrapping_mul(100 << 16 | 1) >> 16
}

/// The end of the JSON number at `start`, whose value is not needed: [`scan_number`]'s end,
/// without the digits' value for the usual one to seven.
#[inline(always)]
fn number_end(p: &[u8], start: usize) -> Option<usize> {
    if let Some(word) = word_at(p, start) {
        if let Some((len, _)) = short_integer_digits(word) {
            if !matches!((word >> (8 * len)) as u8, b'.' | b'e' | b'E') {
                return Some(start + len);
            }
        }
    }
    scan_number(p, start).map(|(end, _)| end)
}

/// How many of a word's bytes, from the lowest, are digits, and each byte's distance from `0`.
#[inline(always)]
fn leading_digits(word: u64) -> (usize, u64) {
    // Each byte's distance from `0`: a digit exactly when below 10.
    let values = word ^ (ONES * u64::from(b'0'));
    // High bit of each byte: set when the byte is not a digit (its value is 128 or more,
    // or its low seven bits are 10 or more; the sum cannot carry between bytes).
    let not_digits = ((values & !HIGHS).wrapping_add(ONES * (0x80 - 10)) | values) & HIGHS;
    ((not_digits.trailing_zeros() / 8) as usize, values)
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

/// [`scan_number`] for any number: the integer part, the fraction and the exponent, their
/// digits eight at a time.
#[inline]
fn scan_long_number(p: &[u8], start: usize) -> Option<(usize, Decimal)> {
    let mut decimal = Decimal {
        negative: p.get(start) == Some(&b'-'),
        integer: true,
        ..Decimal::default()
    };
    let mut i = start + usize::from(decimal.negative);
    match *p.get(i)? {
        b'0' => i += 1,
        b'1'..=b'9' => i = read_digits(p, i, &mut decimal, false),
        _ => return None,
    }
    read_fraction_and_exponent(p, i, decimal)
}

/// Reads the fraction and the exponent, if any, of the number whose integer part ends at `i`
/// and was read into `decimal`; returns the number's end and its digits.
#[inline(always)]
fn read_fraction_and_exponent(
    p: &[u8],
    mut i: usize,
    mut decimal: Decimal,
) -> Option<(usize, Decimal)> {
    if p.get(i) == Some(&b'.') {
        decimal.integer = false;
        let fraction = i + 1;
        i = read_digits(p, fraction, &mut decimal, true);
        if i == fraction {
            return None;
        }
    }
    if let Some(b'e' | b'E') = p.get(i) {
        decimal.integer = false;
        i += 1;
        let negative = p.get(i) == Some(&b'-');
        if let Some(b'+' | b'-') = p.get(i) {
            i += 1;
        }
        let digits = i;
        let mut exponent: i64 = 0;
        while let Some(&b @ b'0'..=b'9') = p.get(i) {
            exponent = (exponent * 10 + i64::from(b - b'0')).min(Decimal::EXPONENT_LIMIT);
            i += 1;
        }
        if i == digits {
            return None;
        }
        decimal.add_exponent(if negative { -exponent } else { exponent });
    }
    Some((i, decimal))
}

/// Reads the digits at `i` into `decimal` (of its integer part, or of its fraction), eight
/// at a time while the mantissa has room for eight more; returns the end of the digits.
#[inline(always)]
fn read_digits(p: &[u8], mut i: usize, decimal: &mut Decimal, in_fraction: bool) -> usize {
    // Room for eight more digits: the mantissa stays below 10^19.
    const ROOM_FOR_EIGHT: u64 = 10u64.pow(11);
    while decimal.mantissa < ROOM_FOR_EIGHT {
        let Some(chunk) = p.get(i..i + 8) else { break };
        // A slice of length 8 always converts.
        let (len, values) = leading_digits(u64::from_le_bytes(chunk.try_into().expect("8")));
        if len == 0 {
            return i;
        }
        decimal.mantissa = decimal.mantissa * POWERS_OF_TEN[len] + leading_value(values, len);
        if in_fraction {
            decimal.exponent -= len as i64;
        }
        i += len;
        if len < 8 {
            return i;
        }
    }
    while let Some(&b @ b'0'..=b'9') = p.get(i) {
        decimal.push_digit(b - b'0', in_fraction);
        i += 1;
    }
    i
}

/// 10^0 to 10^8.
const POWERS_OF_TEN: [u64; 9] = [
    1,
    10,
    100,
    1_000,
    10_000,
    100_000,
    1_000_000,
    10_000_000,
    100_000_000,
];

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
            Ok(Frequency::Big { start, len, .. }) => assert_eq!(
                &text[start as usize..(start + len) as usize],
                "123456789012345678901234567890"
            ),
            other => panic!("expected a big integer, got {other:?}"),
        }
    }

    /// A remembered lead that is a prefix of a longer one (more whitespace before the value)
    /// reads as the longer one: an item whose frequency is a string with a byte that is not
    /// UTF-8 is a wrong kind of value to a scanner that remembers nothing, and must stay one.
    #[test]
    fn a_lead_with_more_whitespace_reads_as_it_would_fresh() {
        for spaces in [" ", "\n", "\r\n  ", "\t"] {
            let mut payload = b"{\"frequency\":1}, ".to_vec();
            payload.extend_from_slice(format!("{{\"frequency\":{spaces}\"x").as_bytes());
            // A lead byte of two with no continuation byte after it.
            payload.extend_from_slice(b"\xc3y\"}]");
            let mut scanner = ItemScanner::default();
            let (one, end) = scanner.parse_item(&payload, 0, 1).unwrap();
            assert_eq!(one, Ok(Frequency::Int(1)));
            let second_start = end + 2;
            let remembered = scanner.parse_item(&payload, second_start, 1);
            let fresh = ItemScanner::default().parse_item(&payload, second_start, 1);
            assert_eq!(remembered, fresh, "spaces {spaces:?}");
            assert!(
                matches!(
                    fresh,
                    Ok((Err(ItemFault::FrequencyNotANumber(JsonKind::String)), _))
                ),
                "{fresh:?}"
            );
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
    use proptest::test_runner::TestCaseError;

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

    /// One member: spaces before its separator, its name, spaces before its name and before
    /// its colon, spaces after its colon, its value.
    type Member = (usize, usize, usize, usize, usize);

    fn item_bytes(members: &[Member]) -> Vec<u8> {
        let mut out = b"{".to_vec();
        for (k, &(before, name, around, after, value)) in members.iter().enumerate() {
            if k > 0 {
                out.extend_from_slice(SPACES[before]);
                out.push(b',');
            }
            out.extend_from_slice(SPACES[around]);
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
        /// it, gives a fresh scanner's result for every item, serde_json's for every item that
        /// is UTF-8, and flags every item that is not, for the caller's check to report
        /// (serde_json words some of those differently, or not at all).
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
            read_as_fresh(&payload, &items)?;
        }
    }

    /// Reads the items of `payload` (each `(start, end)`) with one scanner, with room for a
    /// full lead comparison (16 or 32 bytes) after the array and with none: every item reads
    /// as a scanner that remembers nothing reads it (where a part begins never changes which
    /// error an item gives), as serde_json reads it when it is UTF-8, and is flagged for the
    /// caller's UTF-8 check when it is not (serde_json words some of those differently, or
    /// not at all); and the next item's start, when given, is where skipping the separator
    /// ends.
    fn read_as_fresh(payload: &[u8], items: &[(usize, usize)]) -> Result<(), TestCaseError> {
        for tail in [&b"]                                "[..], &b"]"[..]] {
            let mut payload = payload.to_vec();
            payload.extend_from_slice(tail);
            let mut scanner = ItemScanner::default();
            for &(start, end) in items {
                let expected = parse_item_with_serde(&payload, start);
                scanner.utf8_unchecked = false;
                let found = scanner.parse_array_item(&payload, start, 1);
                if let Ok(ArrayItem {
                    end,
                    next: Some(next),
                    ..
                }) = found
                {
                    let comma = skip_ws(&payload, end);
                    prop_assert_eq!(payload[comma], b',');
                    prop_assert_eq!(next, skip_ws(&payload, comma + 1));
                }
                let found = found.map(|item| (item.frequency, item.end));
                let fresh = ItemScanner::default().parse_item(&payload, start, 1);
                prop_assert_eq!(&found, &fresh);
                if std::str::from_utf8(&payload[start..end]).is_ok() {
                    prop_assert_eq!(&found, &expected);
                } else {
                    prop_assert!(scanner.utf8_unchecked || found.is_err());
                }
                if found.is_err() {
                    break;
                }
            }
            // The loop over items laid out alike, driven as `fanout::parse_run` drives it,
            // reads each item as a fresh scanner would and stops only at an item's start.
            let mut runner = ItemScanner::default();
            let mut k = 0;
            while k < items.len() {
                let mut read = Vec::new();
                let stopped =
                    runner.read_items_by_layout(&payload, items[k].0, payload.len(), &mut read);
                for frequency in read {
                    let fresh = ItemScanner::default().parse_item(&payload, items[k].0, 1);
                    prop_assert_eq!(fresh.map(|(found, _)| found), Ok(Ok(frequency)));
                    k += 1;
                }
                let Some(&(start, _)) = items.get(k) else {
                    break;
                };
                prop_assert_eq!(stopped, start);
                if runner.parse_array_item(&payload, start, 1).is_err() {
                    break;
                }
                k += 1;
            }
        }
        Ok(())
    }

    /// A value index, mostly of the numbers and strings an item layout holds.
    fn layout_value() -> impl Strategy<Value = usize> {
        prop_oneof![8 => 0..10usize, 2 => 0..VALUES.len()]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2_000))]

        /// Items that share their names and spaces but each hold values of their own, mostly
        /// of the kinds an item layout holds, with separators that differ now and then: one
        /// scanner, which reads many of them by the layout it learned, gives a fresh scanner's
        /// result for every item, serde_json's for every item that is UTF-8, and the next
        /// item's start where skipping the separator ends.
        #[test]
        fn items_read_by_layout_read_as_they_would_fresh(
            layout in prop::collection::vec(member(), 1..10),
            frequency_at in 0..10usize,
            values in prop::collection::vec(prop::collection::vec(layout_value(), 10), 1..24),
            separators in prop::collection::vec(0..SPACES.len(), 24),
        ) {
            let mut layout = layout;
            if let Some(member) = layout.get_mut(frequency_at) {
                member.1 = 2;
            }
            let mut payload = Vec::new();
            let mut items = Vec::new();
            for (item_values, &separator) in values.iter().zip(&separators) {
                if !items.is_empty() {
                    payload.push(b',');
                    payload.extend_from_slice(SPACES[separator]);
                }
                let members: Vec<Member> = layout
                    .iter()
                    .zip(item_values)
                    .map(|(&(before, name, around, after, _), &value)| {
                        (before, name, around, after, value)
                    })
                    .collect();
                let start = payload.len();
                payload.extend_from_slice(&item_bytes(&members));
                items.push((start, payload.len()));
            }
            read_as_fresh(&payload, &items)?;
        }
    }

    /// A layout compares every byte of its leads and of its tail, however long, and a
    /// layout with no tail (learned from an item followed by no object) ends its loop at each
    /// item: items that differ from the layout only past a lead's sixteenth byte, or that
    /// follow a tail-less layout, read as a fresh scanner reads them.
    #[test]
    fn layouts_compare_their_leads_and_tail_to_the_last_byte() {
        let runs: [&[&str]; 4] = [
            // A lead of 29 bytes; the second item has a control character at its 21st.
            &[
                r#"{"padding-padding-padding": 7, "frequency": 1}"#,
                "{\"padding-padding-p\x01dding\": 7, \"frequency\": 1}",
                r#"{"padding-padding-padding": 7, "frequency": 2}"#,
            ],
            // A tail of 21 bytes, then one of 19 that is the same for its first sixteen.
            &[
                r#"{"id": 1, "frequency": 1}                 "#,
                r#"{"id": 2, "frequency": 2}               "#,
                r#"{"id": 3, "frequency": 3}"#,
            ],
            // The layout learned from an item followed by a number: no tail.
            &[
                r#"{"id": 1, "frequency": 1}"#,
                "7",
                r#"{"id": 2, "frequency": 20}"#,
                r#"{"id": 3, "frequency": 30}"#,
            ],
            // Short leads and tail: the loop's usual case.
            &[
                r#"{"id": 1, "frequency": 1}"#,
                r#"{"id": 2, "frequency": 20}"#,
                r#"{"id": 3, "frequency": 30}"#,
            ],
        ];
        for run in runs {
            let mut payload = Vec::new();
            let mut items = Vec::new();
            for item in run {
                if !items.is_empty() {
                    payload.extend_from_slice(b", ");
                }
                let start = payload.len();
                payload.extend_from_slice(item.trim_end().as_bytes());
                items.push((start, payload.len()));
                // The spaces (and what follows them) after an item's close.
                payload.extend_from_slice(&item.as_bytes()[item.trim_end().len()..]);
            }
            read_as_fresh(&payload, &items).expect("read as fresh");
        }
    }

    /// Items of one layout, flat and pretty-printed (leads of more than 16 bytes), are read by
    /// the layout learned from the first: the path the property tests above hold to a fresh
    /// scanner is the one these items take.
    #[test]
    fn items_of_one_layout_are_read_by_it() {
        for shape in [crate::sample::Shape::Flat, crate::sample::Shape::Pretty] {
            let payload = shape.event(2_000);
            let first = payload
                .iter()
                .position(|&b| b == b'[')
                .expect("an items array")
                + 1;
            let first = skip_ws(&payload, first);
            let mut scanner = ItemScanner::default();
            let (_, end) = scanner.parse_item(&payload, first, 1).expect("an item");
            assert!(scanner.layout.count > 0, "{shape:?}: no layout learned");
            let second = skip_ws(&payload, skip_ws(&payload, end) + 1);
            assert!(
                scanner.scan_by_layout(&payload, second).is_some(),
                "{shape:?}: the second item is not read by the layout"
            );
            let by_layout = scanner
                .parse_array_item(&payload, second, 1)
                .expect("an item");
            let fresh = ItemScanner::default().parse_item(&payload, second, 1);
            assert_eq!(Ok((by_layout.frequency, by_layout.end)), fresh, "{shape:?}");
            let third = skip_ws(&payload, skip_ws(&payload, by_layout.end) + 1);
            assert_eq!(
                by_layout.next,
                Some(third),
                "{shape:?}: the tail is not learned"
            );
        }
    }

    /// The longest prefix of `p` that is a JSON number, one byte at a time (`None` if none).
    fn number_end_bytewise(p: &[u8]) -> Option<usize> {
        let digits = |mut i: usize| {
            while p.get(i).is_some_and(u8::is_ascii_digit) {
                i += 1;
            }
            i
        };
        let mut i = usize::from(p.first() == Some(&b'-'));
        i = match p.get(i)? {
            b'0' => i + 1,
            b'1'..=b'9' => digits(i),
            _ => return None,
        };
        if p.get(i) == Some(&b'.') {
            let end = digits(i + 1);
            if end == i + 1 {
                return None;
            }
            i = end;
        }
        if let Some(b'e' | b'E') = p.get(i) {
            let sign = i + 1 + usize::from(matches!(p.get(i + 1), Some(b'+' | b'-')));
            let end = digits(sign);
            if end == sign {
                return None;
            }
            i = end;
        }
        Some(i)
    }

    /// The eight-at-a-time number scan finds the end the byte loop finds and the digits
    /// `Decimal::read` reads, for every literal, at every length, before every kind of byte
    /// that can follow a number; its integers are the literal's value.
    #[test]
    fn the_fast_number_scan_agrees_with_the_byte_loop() {
        let mut literals: Vec<String> = Vec::new();
        for digits in 1..=42 {
            for first in ['0', '1', '5', '9'] {
                let body: String = std::iter::once(first)
                    .chain((1..digits).map(|k| char::from(b'0' + (k * 7 % 10) as u8)))
                    .collect();
                let nines: String = std::iter::once(first)
                    .chain((1..digits).map(|_| '9'))
                    .collect();
                let zeros: String = std::iter::once(first)
                    .chain((1..digits).map(|_| '0'))
                    .collect();
                for body in [body, nines, zeros] {
                    literals.push(body.clone());
                    literals.push(format!("-{body}"));
                    literals.push(format!("{body}.5"));
                    literals.push(format!("0.{body}"));
                    literals.push(format!("-0.000{body}e-7"));
                    literals.push(format!("1.{body}"));
                    literals.push(format!("{body}.{body}"));
                    literals.push(format!("{body}e3"));
                    literals.push(format!("{body}E-3"));
                    literals.push(format!("{body}e+030"));
                    literals.push(format!("1.{body}e-5"));
                    literals.push(format!("7.{body}E12345"));
                    literals.push(format!("3{body}e0"));
                }
            }
        }
        for value in (0..100_000).chain([9_999_999, 10_000_000, 99_999_999, 123_456_789]) {
            literals.push(value.to_string());
        }
        // Every exponent of one to four digits, with leading zeros and without.
        for exponent in 0..10_000 {
            literals.push(format!("2.291e+{exponent:02}"));
            literals.push(format!("9e-{exponent:04}"));
            literals.push(format!("1.5E{exponent}"));
        }
        literals.extend(
            [
                "-",
                "-0",
                "-01",
                "01",
                "0.",
                "1.e5",
                "-a",
                "1e",
                "1e+",
                "1e-",
                "0e999999999999",
                "1e99999999999999999999",
                "9223372036854775807",
                "9223372036854775808",
                "-9223372036854775808",
                "-9223372036854775809",
                "18446744073709551615",
                "18446744073709551616",
                "9999999999999999999",
                "10000000000000000000",
                "2.291e+01",
                "2.291e-01",
                "2.291E1",
                "2.291e+0001",
                "2.291e-99999",
                "2.291e+123456",
                "1.5e",
                "1.5e+",
                "1.5e+-1",
                "12.000000000000001",
                "99.99999999999999999",
                "1234567.123456789012345",
                "1234567.12345678e9",
            ]
            .map(String::from),
        );
        // How many texts the byte-by-byte reading answered (it may leave any to `scan_number`).
        let mut read_by_bytes = 0;
        for literal in &literals {
            let afters = [
                "", ",", "}", " ", "]", "\"", "é", "\u{7f}", ":", "/", "0", ".", "e",
            ];
            // Bare, and padded so that the words read at once (up to three) are always there.
            let paddings = ["", "        ", "                                "];
            for (after, padding) in afters.iter().flat_map(|a| paddings.map(|pad| (a, pad))) {
                let text = format!("{literal}{after}{padding}");
                let p = text.as_bytes();
                let fast = scan_number(p, 0);
                let end = number_end_bytewise(p);
                assert_eq!(fast.map(|(end, _)| end), end, "{text:?}");
                assert_eq!(number_end(p, 0), end, "{text:?}");
                if let Some(read) = number_by_bytes(p, 0) {
                    assert_eq!(Some(read), fast, "{text:?} by bytes");
                    read_by_bytes += 1;
                }
                let mut steady = LiteralForm {
                    repeats: LiteralForm::STEADY_AFTER,
                    ..LiteralForm::default()
                };
                assert_eq!(steady.read(p, 0), scan_frequency(p, 0), "{text:?}");
                let Some((end, decimal)) = fast else { continue };
                assert_eq!(decimal, Decimal::read(&p[..end]), "{text:?}");
                let frequency = Frequency::from_decimal(decimal, &p[..end], 0);
                assert_eq!(
                    frequency,
                    Frequency::from_literal(&text[..end], 0),
                    "{text:?}"
                );
                if let Frequency::Int(value) = frequency {
                    assert_eq!(text[..end].parse::<i64>(), Ok(value), "{text:?}");
                }
            }
        }
        // Every literal of up to 19 digits and four of exponent: most of the texts (4,466,646
        // of 5,326,971 when this was written).
        assert!(read_by_bytes > 1_000_000, "{read_by_bytes} read by bytes");
    }

    /// A run of `frequency` literals turns to the byte-by-byte reading after
    /// `LiteralForm::STEADY_AFTER` of one form in a row, and back at the first of another form
    /// or an integer; every literal reads as `scan_frequency` reads it, whichever reading.
    #[test]
    fn literals_of_one_form_are_read_byte_by_byte_after_a_run_of_them() {
        let mut form = LiteralForm::default();
        let steady = LiteralForm::STEADY_AFTER;
        let literals = (0..steady + 3)
            .map(|k| format!("{}.{:03}e-{:02},", k % 10, k * 37 % 1000, k % 100))
            .chain(["12.5,", "7.125e+300,", "3,", "-0.0e0,"].map(String::from));
        let mut by_bytes = Vec::new();
        for literal in literals {
            let p = literal.as_bytes();
            by_bytes.push(form.repeats >= steady);
            assert_eq!(form.read(p, 0), scan_frequency(p, 0), "{literal}");
        }
        // The first literal sets the form, each later one repeats it: the 17th of one form
        // is the first read by bytes, and so is the one of another form after them.
        let expected: Vec<bool> = (0..steady + 7)
            .map(|k| (steady + 1..=steady + 3).contains(&k))
            .collect();
        assert_eq!(by_bytes, expected);
        // The byte-by-byte reading takes the usual forms itself, leaving none of them to
        // `scan_number`.
        for literal in [
            "2.291e+01",
            "2.291e-01",
            "1E5",
            "-0.5",
            "0",
            "12",
            "14.578301734827",
            "-9999999999999999999",
            "1.234567890123456789e-1234",
        ] {
            let text = format!("{literal}}}");
            let read = number_by_bytes(text.as_bytes(), 0);
            assert_eq!(read.map(|(end, _)| end), Some(literal.len()), "{literal}");
        }
    }

    /// Nested arrays and objects are read as serde_json reads them: every case is accepted by
    /// one exactly when it is by the other, ending at the same byte, at depths on either side
    /// of the limit.
    #[test]
    fn nested_values_end_where_serde_json_ends_them() {
        let cases = [
            "[]",
            "{}",
            "[ ]",
            "{ }",
            "[1]",
            "[1,2]",
            "[1 , 2 ]",
            "[[[]]]",
            "[{}]",
            "{\"a\":1}",
            "{\"a\" : [1, {\"b\": null}], \"c\": \"x\\\"y\"}",
            "[\"a\\u00e9\", true, false]",
            "[\"\\ud800\"]",
            "{\"\\u0066\": 1}",
            "[1,]",
            "[,1]",
            "{\"a\":}",
            "{\"a\" 1}",
            "{a:1}",
            "{\"a\":1,}",
            "[1 2]",
            "[01]",
            "[1.]",
            "[tru]",
            "[\"a\\x\"]",
            "[\"a\x01\"]",
            "{\"a\":[}",
            "[}",
            "{]",
            "[\"é\"]",
            "[-]",
            "[1e5, -0.5E-3]",
            "[\"\\u12\"]",
        ];
        for case in cases {
            for (depth, expected_ok) in [
                (1, true),
                (json::MAX_DEPTH - 4, true),
                (json::MAX_DEPTH, false),
            ] {
                let text = format!("{case} ");
                let p = text.as_bytes();
                let serde = json::parse_value::<IgnoredAny>(p, 0)
                    .ok()
                    .filter(|&(_, end)| json::check_depth(p, 0, end, depth).is_ok())
                    .map(|(_, end)| end);
                let ours = nested_end(p, 0, depth + 1).map(|(end, _)| end);
                if ours.is_some() {
                    assert_eq!(ours, serde, "{case:?} at depth {depth}");
                } else if expected_ok && serde.is_some() {
                    // Only the lone surrogate differs: read by serde_json, not here.
                    assert!(case.contains("ud800"), "{case:?} at depth {depth}");
                }
                let _ = expected_ok;
            }
        }
        let deep = |n: usize| format!("{}{} ", "[".repeat(n), "]".repeat(n));
        assert!(nested_end(deep(10).as_bytes(), 0, json::MAX_DEPTH - 9).is_some());
        assert!(nested_end(deep(10).as_bytes(), 0, json::MAX_DEPTH - 8).is_none());
    }

    /// A member name that is not UTF-8 sends the item to serde_json whatever the scanner
    /// learned from the items before it, so that the error (serde_json's, at the item's path)
    /// does not depend on where a part of the array began.
    #[test]
    fn a_name_that_is_not_utf8_is_read_by_serde_json_however_the_scan_began() {
        let payload = b"[{\"a\":1,\"b\":2}, {\"\xff\":1,\"b\":\t2}]";
        let second = 16;
        assert_eq!(payload[second], b'{');
        let expected = parse_item_with_serde(payload, second);
        assert!(expected.is_err(), "{expected:?}");
        let mut learned = ItemScanner::default();
        let (_, end) = learned
            .parse_item(payload, 1, 1)
            .expect("the first item is JSON");
        assert_eq!(end, second - 2);
        assert_eq!(learned.parse_item(payload, second, 1), expected);
        assert_eq!(
            ItemScanner::default().parse_item(payload, second, 1),
            expected
        );
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
