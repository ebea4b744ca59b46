//! The fan-out: the items array split at guessed item boundaries, each part parsed as its own
//! rayon task, every guess verified, and the parts reassembled in item order.
//!
//! Parsing is the work; the comparison after it costs almost nothing. So each worker parses
//! its own share of the items' bytes. A worker cannot know where its share really begins
//! without reading everything before it, so the split guesses: part `k` starts at the first
//! `},{` after `k/parts` of the way through the array, and runs until it reaches an item that
//! starts at or beyond the next part's guess. A guess can be wrong (the text `},{` can sit
//! inside a string), so the parts are chained in order: part 0 starts at the `[` and is always
//! right; part `k` is kept only when part `k-1` stopped exactly where part `k` began. Where the
//! chain breaks, the parse carries on serially from where the last good part stopped until it
//! meets a later guess again. The chain of checks proves the result equal to a serial parse.
//! Each worker's share is cut into a few parts ([`PARTS_PER_WORKER`]), so that the workers stay
//! busy to the end even when one of them runs slower. When the threshold is known before the
//! items ([`ItemsPlan`]), each part also counts its items above it in its own task.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use rayon::prelude::*;

use crate::item::{ArrayItem, ItemFault, ItemScanner};
use crate::json::{self, Malformed};
use crate::number::{Frequency, Threshold};

/// A rejected item, by index among all items.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ItemRejection {
    pub index: usize,
    pub fault: ItemFault,
}

/// The items array, parsed.
#[derive(Debug, Default)]
pub struct ParsedItems {
    /// Each part's frequencies, in item order; concatenated they are the items.
    pub parts: Vec<Vec<Frequency>>,
    /// The first rejected item, if any (later items were checked for syntax only).
    pub rejection: Option<ItemRejection>,
    /// Where the time went, for the invocation's summary.
    pub timings: ItemsTimings,
    /// The items above the plan's threshold, when it had one: each part counted them in its
    /// own task, as soon as it was parsed.
    counted: Option<CountedAbove>,
}

/// A count of the items above a threshold.
#[derive(Debug)]
struct CountedAbove {
    threshold: Threshold,
    count: usize,
}

/// How an items array is to be parsed.
#[derive(Clone, Copy, Debug)]
pub struct ItemsPlan<'t> {
    /// How many workers of the current rayon pool parse it (serially for 1).
    pub workers: usize,
    /// The threshold the event will most likely be judged by, as far as the text before the
    /// array tells. Each part counts its items above it in the task that parsed it, while
    /// their frequencies are still in that worker's cache and without a second round on the
    /// pool; the count is used only when the event's threshold turns out to be the same.
    pub likely_threshold: Option<&'t Threshold>,
}

impl ItemsPlan<'_> {
    /// A plan that only parses, with `workers` workers.
    pub fn workers(workers: usize) -> ItemsPlan<'static> {
        ItemsPlan {
            workers,
            likely_threshold: None,
        }
    }
}

/// Time spent in each phase of the fan-out.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct ItemsTimings {
    /// Guessing the parts' starts.
    pub split: Duration,
    /// The parts parsed on the pool.
    pub parse: Duration,
    /// Chaining the parts (and any serial repair of a wrong guess).
    pub reassemble: Duration,
}

impl ItemsTimings {
    pub fn total(&self) -> Duration {
        self.split + self.parse + self.reassemble
    }
}

/// Gives the parts' buffers back for the next event to parse into.
impl Drop for ParsedItems {
    fn drop(&mut self) {
        spare_buffers::give_back(std::mem::take(&mut self.parts));
    }
}

/// The buffers the parts parse their frequencies into, kept from one event to the next. Without
/// them every event asks the allocator for megabytes that glibc maps fresh from the kernel and
/// unmaps again when the event is done: a page fault for every 4 KiB written, and, with two
/// workers in one process, the other core interrupted to flush its TLB at each unmap. A warm
/// process parses into memory it already has.
mod spare_buffers {
    use super::{Frequency, Mutex};

    /// At most this much capacity is kept (a 1,000,000-item event's worth at 16 bytes per
    /// item); buffers beyond it are freed.
    const KEPT_BYTES: usize = 16 << 20;

    static SPARE: Mutex<Vec<Vec<Frequency>>> = Mutex::new(Vec::new());

    /// An empty buffer: the largest kept, so that a part seldom outgrows the buffer it gets and
    /// the kept buffers settle at the sizes the events need.
    pub fn take() -> Vec<Frequency> {
        // Nothing panics while the lock is held, but a poisoned list is still a valid list.
        let mut spare = SPARE
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        spare.pop().unwrap_or_default()
    }

    /// Keeps `buffers` for later parts, largest first, up to [`KEPT_BYTES`] in all.
    pub fn give_back(buffers: Vec<Vec<Frequency>>) {
        let mut spare = SPARE
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        spare.extend(buffers.into_iter().filter(|buffer| buffer.capacity() > 0));
        // Ascending by capacity: `take` pops the largest; the smallest go first when over the
        // bound.
        spare.sort_unstable_by_key(Vec::capacity);
        let mut kept = 0;
        let mut keep_from = spare.len();
        for (i, buffer) in spare.iter().enumerate().rev() {
            let bytes = buffer.capacity() * size_of::<Frequency>();
            if kept + bytes > KEPT_BYTES {
                break;
            }
            kept += bytes;
            keep_from = i;
        }
        spare.drain(..keep_from);
        for buffer in spare.iter_mut() {
            buffer.clear();
        }
    }
}

impl ParsedItems {
    /// The number of items parsed (all of them when nothing was rejected).
    pub fn len(&self) -> usize {
        self.parts.iter().map(Vec::len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// How many items lie above `threshold`, when the parts counted them against it already.
    pub fn counted_above(&self, threshold: &Threshold) -> Option<usize> {
        self.counted
            .as_ref()
            .filter(|counted| counted.threshold == *threshold)
            .map(|counted| counted.count)
    }

    /// Every frequency in item order.
    pub fn iter(&self) -> impl Iterator<Item = &Frequency> {
        self.parts.iter().flatten()
    }

    /// Counts the items whose frequency `selects`, and lists their indices in ascending order
    /// when asked. Split items are counted part by part on the pool that parsed them, so that
    /// the count does not become the serial tail of the fan-out; a single part is counted on
    /// the calling thread, which may be outside any pool.
    pub fn count_where(
        &self,
        selects: impl Fn(&Frequency) -> bool + Sync,
        with_indices: bool,
    ) -> (usize, Option<Vec<usize>>) {
        let count_part = |first: usize, part: &[Frequency]| -> (usize, Option<Vec<usize>>) {
            let count = part.iter().filter(|frequency| selects(frequency)).count();
            if !with_indices {
                return (count, None);
            }
            // Counted first, so that the list is allocated once at its size: an invocation
            // asks the allocator for nothing that grows by doubling.
            let mut indices = Vec::with_capacity(count);
            indices.extend(
                (first..)
                    .zip(part)
                    .filter(|(_, frequency)| selects(frequency))
                    .map(|(index, _)| index),
            );
            (count, Some(indices))
        };
        if let [part] = self.parts.as_slice() {
            return count_part(0, part);
        }
        let firsts: Vec<usize> = self
            .parts
            .iter()
            .scan(0, |seen, part| {
                let first = *seen;
                *seen += part.len();
                Some(first)
            })
            .collect();
        let counted: Vec<(usize, Option<Vec<usize>>)> = self
            .parts
            .par_iter()
            .zip(firsts)
            .map(|(part, first)| count_part(first, part))
            .collect();
        let count = counted.iter().map(|(count, _)| count).sum();
        let indices = with_indices.then(|| {
            let mut all = Vec::with_capacity(count);
            for (_, indices) in counted {
                all.extend(indices.unwrap_or_default());
            }
            all
        });
        (count, indices)
    }
}

/// How one run of item parsing ended.
#[derive(Debug)]
enum RunEnd {
    /// Stopped at the start of an item at or beyond the run's limit: that item's offset.
    Reached(usize),
    /// Parsed the array's closing `]`: the offset just past it.
    ArrayEnd(usize),
    /// An item was rejected: its index within the run and its offset.
    Rejected {
        index: usize,
        offset: usize,
        fault: ItemFault,
    },
    /// The bytes are not JSON; `item` is the index within the run of the item being read.
    Malformed {
        item: Option<usize>,
        malformed: Malformed,
    },
}

#[derive(Debug)]
struct Run {
    frequencies: Vec<Frequency>,
    /// The frequencies above the plan's likely threshold, when it has one.
    above: Option<usize>,
    end: RunEnd,
}

/// How many parts each worker's share is cut into, at most. A worker that finishes its part
/// early takes another instead of waiting for a slower one (a core shared with other work, a
/// denser stretch of the array), at the cost of a few more boundary guesses to verify: what
/// is left at the end is at most one part, a sixteenth of a worker's share.
pub const PARTS_PER_WORKER: usize = 16;

/// The fewest bytes of the array a part is cut to (while there are more workers than parts
/// it may be less): below it, a part's fixed costs (a task, a boundary guess, a buffer) would
/// be a noticeable share of its parse.
pub const MIN_PART_BYTES: usize = 8 * 1024;

/// How many parts an array of `bytes` bytes is cut into for `workers` workers.
fn part_count(bytes: usize, workers: usize) -> usize {
    if workers <= 1 {
        return 1;
    }
    workers
        .saturating_mul(PARTS_PER_WORKER)
        .min(bytes / MIN_PART_BYTES)
        .max(workers)
}

/// Parses the items array whose `[` is at `open` as `plan` says: the array is cut into
/// `part_count` parts for the plan's workers, each run as its own task. Returns the items and
/// the offset just past the `]`. `items_path` (`items`, `Items`, or empty for a bare array)
/// names the array in syntax errors.
pub fn parse_items(
    payload: &[u8],
    open: usize,
    plan: ItemsPlan<'_>,
    items_path: &str,
) -> Result<(ParsedItems, usize), Malformed> {
    let ItemsPlan {
        workers,
        likely_threshold,
    } = plan;
    let array_path = || {
        if items_path.is_empty() {
            "$".to_string()
        } else {
            items_path.to_string()
        }
    };
    let item_path = |index: usize| format!("{items_path}[{index}]");
    // The arrays and objects around each item: the bare array is the event itself; `items` and
    // `Items` are members of the event's object.
    let depth = if items_path.is_empty() { 1 } else { 2 };
    debug_assert_eq!(payload.get(open), Some(&b'['));
    let first = skip_opening(payload, open).map_err(|m| m.within(array_path))?;
    let first = match first {
        Opening::Empty(end) => return Ok((ParsedItems::default(), end)),
        Opening::FirstItem(pos) => pos,
    };

    let started = Instant::now();
    let parts = part_count(payload.len() - first, workers);
    let starts = guess_starts(payload, first, parts);
    let split = started.elapsed();
    let runs: Vec<Option<Run>> = if starts.len() == 1 {
        vec![Some(run(
            payload,
            first,
            usize::MAX,
            depth,
            likely_threshold,
        ))]
    } else {
        starts
            .par_iter()
            .with_max_len(1)
            .enumerate()
            .map(|(k, &start)| {
                let limit = starts.get(k + 1).copied().unwrap_or(usize::MAX);
                Some(run(payload, start, limit, depth, likely_threshold))
            })
            .collect()
    };

    let parse = started.elapsed() - split;
    let chained = chain(
        payload,
        &starts,
        runs,
        depth,
        likely_threshold,
        array_path,
        item_path,
    );
    let timings = ItemsTimings {
        split,
        parse,
        reassemble: started.elapsed() - split - parse,
    };
    chained.map(|(mut parsed, end)| {
        parsed.timings = timings;
        (parsed, end)
    })
}

/// Chains the runs into the items: `current` is always a run whose start is proven right.
fn chain(
    payload: &[u8],
    starts: &[usize],
    mut runs: Vec<Option<Run>>,
    depth: usize,
    likely_threshold: Option<&Threshold>,
    array_path: impl Fn() -> String,
    item_path: impl Fn(usize) -> String,
) -> Result<(ParsedItems, usize), Malformed> {
    let mut parsed = ParsedItems::default();
    // Every run counts against the same threshold, or none does.
    let mut above = likely_threshold.map(|_| 0);
    let mut next_guess = 1;
    // Part 0 starts at the first item, which is proven by construction.
    let mut current = runs[0].take().expect("part 0 was run");
    loop {
        let base = parsed.len();
        let Run {
            frequencies,
            above: run_above,
            end,
        } = current;
        parsed.parts.push(frequencies);
        above = above.zip(run_above).map(|(sum, run)| sum + run);
        let reached = match end {
            RunEnd::ArrayEnd(end) => {
                parsed.counted =
                    likely_threshold
                        .zip(above)
                        .map(|(threshold, count)| CountedAbove {
                            threshold: threshold.clone(),
                            count,
                        });
                return Ok((parsed, end));
            }
            RunEnd::Malformed { item, malformed } => {
                return Err(match item {
                    Some(index) => malformed.within(|| item_path(base + index)),
                    None => malformed.within(array_path),
                })
            }
            RunEnd::Rejected {
                index,
                offset,
                fault,
            } => {
                parsed.rejection = Some(ItemRejection {
                    index: base + index,
                    fault,
                });
                // Syntax errors anywhere in the event outrank a rejected item, so the rest of
                // the array is still read, for syntax only.
                let end = skip_rest_of_array(payload, offset, depth)
                    .map_err(|(skipped, m)| m.within(|| item_path(base + index + skipped)))?;
                return Ok((parsed, end));
            }
            RunEnd::Reached(pos) => pos,
        };
        // Guesses before `reached` were inside items already parsed: their runs are wrong.
        while next_guess < starts.len() && starts[next_guess] < reached {
            next_guess += 1;
        }
        current = if next_guess < starts.len() && starts[next_guess] == reached {
            next_guess += 1;
            runs[next_guess - 1]
                .take()
                .expect("each part is chained once")
        } else {
            // The chain broke: go on serially until the next guess.
            let limit = starts.get(next_guess).copied().unwrap_or(usize::MAX);
            run(payload, reached, limit, depth, likely_threshold)
        };
    }
}

enum Opening {
    Empty(usize),
    FirstItem(usize),
}

fn skip_opening(payload: &[u8], open: usize) -> Result<Opening, Malformed> {
    let pos = json::skip_whitespace(payload, open + 1);
    match payload.get(pos) {
        Some(b']') => Ok(Opening::Empty(pos + 1)),
        Some(_) => Ok(Opening::FirstItem(pos)),
        None => Err(Malformed::new(pos, json::END_INSIDE_ARRAY)),
    }
}

/// Offsets where parts begin: the first item, then one guessed item start per further part.
/// A guess is the first `{` after `k/parts` of the remaining bytes that follows `}` and `,`
/// (whitespace allowed between them). Strictly increasing.
fn guess_starts(payload: &[u8], first: usize, parts: usize) -> Vec<usize> {
    let mut starts = vec![first];
    if parts <= 1 {
        return starts;
    }
    let span = payload.len() - first;
    for k in 1..parts {
        let from = first + span * k / parts;
        let last = *starts.last().expect("starts begins with the first item");
        match next_item_start(payload, from.max(last + 1)) {
            Some(start) if start > last => starts.push(start),
            _ => {}
        }
    }
    starts
}

/// The first `{` at or after `from` whose preceding non-whitespace bytes are `}` then `,`.
/// Searches a bounded window: beyond it, the part is dropped and its neighbour takes its share.
fn next_item_start(payload: &[u8], from: usize) -> Option<usize> {
    const WINDOW: usize = 64 * 1024;
    let end = payload.len().min(from.saturating_add(WINDOW));
    let mut pos = from;
    while pos < end {
        if payload[pos] == b'{' {
            let before_comma = last_non_whitespace(payload, pos);
            if let Some(comma) = before_comma.filter(|&i| payload[i] == b',') {
                if last_non_whitespace(payload, comma).is_some_and(|i| payload[i] == b'}') {
                    return Some(pos);
                }
            }
        }
        pos += 1;
    }
    None
}

fn last_non_whitespace(payload: &[u8], before: usize) -> Option<usize> {
    payload[..before]
        .iter()
        .rposition(|b| !matches!(b, b' ' | b'\n' | b'\r' | b'\t'))
}

/// Parses items from `start` (an item's first byte) until the array ends or the next item
/// starts at or beyond `limit`, makes sure that the bytes it covered are UTF-8, and counts the
/// items above `likely_threshold` when there is one.
fn run(
    payload: &[u8],
    start: usize,
    limit: usize,
    depth: usize,
    likely_threshold: Option<&Threshold>,
) -> Run {
    #[cfg(feature = "fault-injection")]
    fault_injection::panic_if_marked(&payload[start..limit.min(payload.len())]);
    let mut frequencies = spare_buffers::take();
    let mut scanner = ItemScanner::default();
    let end = parse_run(payload, start, limit, depth, &mut frequencies, &mut scanner);
    let above = likely_threshold.map(|threshold| {
        frequencies
            .iter()
            .filter(|frequency| threshold.is_exceeded_by(frequency, payload))
            .count()
    });
    if !scanner.utf8_unchecked {
        // The item scanner proved every byte it read, and between items there is only
        // punctuation and whitespace.
        return Run {
            frequencies,
            above,
            end,
        };
    }
    let covered = match &end {
        RunEnd::Reached(pos) | RunEnd::ArrayEnd(pos) => *pos,
        RunEnd::Rejected { offset, .. } => *offset,
        RunEnd::Malformed { malformed, .. } => malformed.offset,
    };
    // An invalid byte before the run's end is the first error; after it, another run's.
    let end = match json::check_utf8(payload, start, covered.min(payload.len())) {
        Ok(()) => end,
        Err(invalid) => RunEnd::Malformed {
            item: None,
            malformed: invalid,
        },
    };
    Run {
        frequencies,
        above,
        end,
    }
}

fn parse_run(
    payload: &[u8],
    start: usize,
    limit: usize,
    depth: usize,
    frequencies: &mut Vec<Frequency>,
    scanner: &mut ItemScanner,
) -> RunEnd {
    let mut pos = start;
    loop {
        pos = scanner.read_items_by_layout(payload, pos, limit, frequencies);
        if pos >= limit {
            return RunEnd::Reached(pos);
        }
        let end = match scanner.parse_array_item(payload, pos, depth) {
            Ok(ArrayItem {
                frequency: Ok(frequency),
                next: Some(next),
                ..
            }) => {
                frequencies.push(frequency);
                pos = next;
                continue;
            }
            Ok(ArrayItem {
                frequency: Ok(frequency),
                end,
                ..
            }) => {
                frequencies.push(frequency);
                end
            }
            Ok(ArrayItem {
                frequency: Err(fault),
                ..
            }) => {
                return RunEnd::Rejected {
                    index: frequencies.len(),
                    offset: pos,
                    fault,
                }
            }
            Err(malformed) => {
                return RunEnd::Malformed {
                    item: Some(frequencies.len()),
                    malformed,
                }
            }
        };
        let after = json::skip_whitespace(payload, end);
        match payload.get(after) {
            Some(b',') => pos = json::skip_whitespace(payload, after + 1),
            Some(b']') => return RunEnd::ArrayEnd(after + 1),
            _ => {
                return RunEnd::Malformed {
                    item: None,
                    malformed: Malformed::new(after, json::expected("`,` or `]`", payload, after)),
                }
            }
        }
    }
}

/// From the start of an item, skips values until the array's `]`, checking syntax, depth and
/// UTF-8 item by item, so that the first error in the text's order is the one reported.
/// An error comes with the number of items skipped before the one it is in.
fn skip_rest_of_array(
    payload: &[u8],
    mut pos: usize,
    depth: usize,
) -> Result<usize, (usize, Malformed)> {
    let mut skipped = 0;
    loop {
        // serde_json does not check the UTF-8 of the strings it skips: an invalid byte before
        // the error it found, or anywhere in the item, comes first.
        let (_, end) = json::parse_value::<serde::de::IgnoredAny>(payload, pos).map_err(|m| {
            let before = m.offset.min(payload.len());
            (
                skipped,
                json::check_utf8(payload, pos, before).err().unwrap_or(m),
            )
        })?;
        let too_deep = json::check_depth(payload, pos, end, depth).err();
        let utf8_end = too_deep.as_ref().map_or(end, |m| m.offset);
        if let Some(first) = json::check_utf8(payload, pos, utf8_end).err().or(too_deep) {
            return Err((skipped, first));
        }
        let after = json::skip_whitespace(payload, end);
        match payload.get(after) {
            Some(b',') => {
                pos = after + 1;
                skipped += 1;
            }
            Some(b']') => return Ok(after + 1),
            _ => {
                let malformed = Malformed::new(after, json::expected("`,` or `]`", payload, after));
                return Err((skipped, malformed));
            }
        }
    }
}

/// A test-only hook, compiled only with the `fault-injection` feature: a part whose bytes hold
/// the marker panics on its pool worker, so tests can prove that a panic fails one invocation
/// and nothing else.
#[cfg(feature = "fault-injection")]
mod fault_injection {
    /// The text that makes a worker panic.
    pub const PANIC_MARKER: &[u8] = b"fault-injection: panic in worker";

    pub fn panic_if_marked(part: &[u8]) {
        if part
            .windows(PANIC_MARKER.len())
            .any(|window| window == PANIC_MARKER)
        {
            panic!("fault injection: a worker panicked while parsing its part");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pool(width: usize) -> rayon::ThreadPool {
        rayon::ThreadPoolBuilder::new()
            .num_threads(width)
            .build()
            .unwrap()
    }

    fn parse(
        text: impl AsRef<[u8]>,
        parts: usize,
    ) -> Result<(Vec<Frequency>, Option<ItemRejection>, usize), Malformed> {
        let text = text.as_ref();
        pool(parts)
            .install(|| parse_items(text, 0, ItemsPlan::workers(parts), "items"))
            .map(|(items, end)| (items.iter().copied().collect(), items.rejection, end))
    }

    #[test]
    fn every_split_gives_the_serial_result() {
        // Strings full of `},{` tempt the guesses into the middle of items.
        let mut text = String::from("[");
        for i in 0..200 {
            if i > 0 {
                text.push_str(if i % 3 == 0 { ",\n " } else { "," });
            }
            text.push_str(&format!(
                r#"{{"id":{i},"name":"x}},{{\"frequency\":1}},{{y","nested":{{"frequency":{}}},"frequency":{}}}"#,
                i * 7,
                i % 17
            ));
        }
        text.push_str(" ]");
        let serial = parse(&text, 1).unwrap();
        assert_eq!(serial.0.len(), 200);
        assert_eq!(serial.2, text.len());
        for parts in 2..=8 {
            assert_eq!(parse(&text, parts).unwrap(), serial, "parts = {parts}");
        }
    }

    /// Each part's count against the plan's threshold, summed over the chain, is the count
    /// after the parse, at every split and for thresholds of every kind; a different threshold
    /// or a plan without one gets no count.
    #[test]
    fn the_parts_count_what_a_count_after_the_parse_counts() {
        let mut text = String::from("[");
        for i in 0..3_000 {
            if i > 0 {
                text.push(',');
            }
            // Integers, doubles and an integer beyond i64, around the thresholds below.
            let frequency = match i % 4 {
                0 => format!("{}", i % 23),
                1 => format!("{}.5", i % 19),
                2 => format!("{}e-1", i % 200),
                _ => format!("{}9223372036854775808", if i % 8 == 3 { "-" } else { "" }),
            };
            text.push_str(&format!(r#"{{"id":{i},"frequency":{frequency}}}"#));
        }
        text.push(']');
        let payload = text.as_bytes();
        for literal in ["10", "9.5", "-1", "1e30", "18.0000000000000000000001"] {
            let threshold = Threshold::parse(literal).unwrap();
            let other = Threshold::parse("11").unwrap();
            for parts in 1..=8 {
                let pool = pool(parts);
                let plan = ItemsPlan {
                    workers: parts,
                    likely_threshold: Some(&threshold),
                };
                let (items, _) = pool
                    .install(|| parse_items(payload, 0, plan, "items"))
                    .unwrap();
                let (expected, _) = pool
                    .install(|| items.count_where(|f| threshold.is_exceeded_by(f, payload), false));
                let case = format!("threshold {literal}, {parts} parts");
                assert_eq!(items.counted_above(&threshold), Some(expected), "{case}");
                assert_eq!(items.counted_above(&other), None, "{case}");
                let (unplanned, _) = pool
                    .install(|| parse_items(payload, 0, ItemsPlan::workers(parts), "items"))
                    .unwrap();
                assert_eq!(unplanned.counted_above(&threshold), None, "{case}");
            }
        }
    }

    /// The scanner's own UTF-8 check finds the same first invalid byte as a check of the whole
    /// text, wherever the byte is and however the array is split. A byte in a member name is
    /// serde_json's to report (it decodes names), in the same words, at the same offset.
    #[test]
    fn invalid_utf8_is_found_at_its_offset_at_every_width() {
        let mut text = String::from("[");
        for i in 0..120 {
            if i > 0 {
                text.push_str(", ");
            }
            text.push_str(&format!(
                r#"{{"id": {i}, "name": "café-{i}-𝄞", "ключ": "x", "frequency": {}}}"#,
                i % 9
            ));
        }
        text.push(']');
        for parts in 1..=8 {
            assert_eq!(parse(&text, parts).unwrap().0.len(), 120);
        }
        let valid = text.into_bytes();
        // Every non-ASCII byte in turn: a lead byte made a stray continuation byte, a
        // continuation byte made ASCII-incompatible, or a sequence cut short.
        let targets: Vec<usize> = (0..valid.len()).filter(|&i| valid[i] >= 0x80).collect();
        for &at in targets.iter().step_by(7) {
            for replacement in [0xFF, 0x80, 0xC3] {
                let mut bytes = valid.clone();
                bytes[at] = replacement;
                let Err(expected) = std::str::from_utf8(&bytes) else {
                    continue;
                };
                for parts in 1..=4 {
                    let error = parse(&bytes, parts).expect_err("invalid UTF-8");
                    assert_eq!(
                        error.offset,
                        expected.valid_up_to(),
                        "byte {at}, {parts} parts"
                    );
                    // In a member name serde_json reports it ("invalid unicode code point"), in
                    // the same plain words.
                    assert_eq!(error.detail, "invalid UTF-8", "byte {at}, {parts} parts");
                }
            }
        }
    }

    #[test]
    fn empty_arrays_and_whitespace() {
        assert_eq!(parse("[ \n ]", 4).unwrap(), (vec![], None, 5));
        assert_eq!(parse("[]", 1).unwrap(), (vec![], None, 2));
    }

    #[test]
    fn the_first_rejected_item_wins_at_every_width() {
        let mut text = String::from("[");
        for i in 0..100 {
            if i > 0 {
                text.push(',');
            }
            if i == 61 || i == 90 {
                text.push_str(r#"{"frequency":"high"}"#);
            } else {
                text.push_str(&format!(r#"{{"frequency":{i}}}"#));
            }
        }
        text.push(']');
        for parts in 1..=8 {
            let (_, rejection, end) = parse(&text, parts).unwrap();
            assert_eq!(end, text.len());
            assert_eq!(
                rejection,
                Some(ItemRejection {
                    index: 61,
                    fault: ItemFault::FrequencyNotANumber(crate::error::JsonKind::String)
                })
            );
        }
    }

    #[test]
    fn syntax_errors_after_a_rejected_item_still_count() {
        let text = r#"[{"frequency":"x"},{"frequency":1},{"frequency":}]"#;
        for parts in 1..=4 {
            assert!(parse(text, parts).is_err());
        }
    }

    /// After a rejected item, a byte that is not UTF-8 is reported in the item that holds it,
    /// before any later syntax error, however the array was split.
    #[test]
    fn invalid_utf8_after_a_rejected_item_names_its_item() {
        let mut text = b"[".to_vec();
        for i in 0..40 {
            if i > 0 {
                text.extend_from_slice(b", ");
            }
            match i {
                10 => text.extend_from_slice(b"{\"frequency\": \"ten\"}"),
                // Not UTF-8, in an item after the rejected one, then a syntax error later.
                20 => text.extend_from_slice(b"{\"frequency\": 2, \"s\": \"\xc3\"}"),
                30 => text.extend_from_slice(b"{\"frequency\": tru}"),
                _ => text.extend_from_slice(format!(r#"{{"frequency": {i}}}"#).as_bytes()),
            }
        }
        text.push(b']');
        let invalid = std::str::from_utf8(&text).unwrap_err().valid_up_to();
        for parts in 1..=8 {
            let error = parse(&text, parts).expect_err("not UTF-8");
            assert_eq!(error.offset, invalid, "{parts} parts");
            assert_eq!(error.detail, "invalid UTF-8", "{parts} parts");
            assert_eq!(error.path.as_deref(), Some("items[20]"), "{parts} parts");
        }
    }
}
