//! Answer out: the response to a valid event, as the caller and the logs see it.
//!
//! Its own module so that every adapter that shapes an answer (the direct invocation in
//! [`crate::handler`], the HTTP reply in [`crate::http`], the summary line in
//! [`crate::observability`]) depends on it, and none of them on another.

use std::time::Duration;

use serde::Serialize;
use serde_json::value::RawValue;

use crate::event::EventForm;

/// The answer to a valid event.
#[derive(Clone, Debug, Serialize)]
pub struct Response {
    pub high_frequency_count: usize,
    pub total_items: usize,
    /// The threshold's literal, exactly as given: no digit of a big integer is rounded away.
    pub threshold: Box<RawValue>,
    /// The pool's width.
    pub workers: usize,
    /// Ascending 0-based indices of the high-frequency items, when the event asked for them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub high_frequency_indices: Option<Vec<usize>>,
    /// Which form the event was, for the logs.
    #[serde(skip)]
    pub form: Option<EventForm>,
    /// Where the time went, for the logs.
    #[serde(skip)]
    pub phases: Phases,
}

/// Time spent in each phase of one invocation, logged in its summary line.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Phases {
    /// From the handler's start until the work started (on the pool, or inline).
    pub receive: Duration,
    /// Recognising the event: its top level and options, outside the items.
    pub recognise: Duration,
    /// Guessing where the items' parts start.
    pub split: Duration,
    /// Parsing the parts on the pool, and comparing every frequency with the threshold.
    pub parse_and_check: Duration,
    /// Chaining the parts in item order and building the response.
    pub reassemble: Duration,
}
