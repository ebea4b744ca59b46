//! Logs through tracing, configured as Lambda's advanced logging controls expect.
//!
//! `AWS_LAMBDA_LOG_FORMAT=JSON` gives one JSON object per line with a top-level `level`, which
//! Lambda needs to filter by `AWS_LAMBDA_LOG_LEVEL`; otherwise plain text. Never ANSI colours:
//! lambda_runtime's own dependency turns tracing-subscriber's `ansi` feature on, and colour
//! codes land in CloudWatch as garbage. Logs go to stderr, so that local mode's stdout carries
//! only the response.

use std::time::Duration;

use tracing_subscriber::filter::{EnvFilter, LevelFilter};

use crate::error::FunctionError;
use crate::event::EventForm;
use crate::handler::Answer;
use crate::http::HttpReply;

/// Installs the global subscriber. Call once, before anything logs.
pub fn init() {
    let json = std::env::var("AWS_LAMBDA_LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json"));
    let level = std::env::var("AWS_LAMBDA_LOG_LEVEL")
        .or_else(|_| std::env::var("RUST_LOG"))
        .ok()
        .and_then(|level| level.parse::<LevelFilter>().ok())
        .unwrap_or(LevelFilter::INFO);
    let filter = EnvFilter::builder()
        .with_default_directive(level.into())
        .parse_lossy("");
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(false)
        .with_target(false)
        .with_writer(std::io::stderr);
    // A second init (in tests) keeps the first subscriber.
    let _ = if json {
        builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .try_init()
    } else {
        builder.try_init()
    };
}

/// The one line logged per invocation.
pub fn invocation(request_id: &str, payload_bytes: usize, answer: &Answer, elapsed: Duration) {
    let duration_ms = elapsed.as_secs_f64() * 1e3;
    let http_status = answer.http.as_ref().map(HttpReply::status);
    match &answer.result {
        Ok(response) => tracing::info!(
            request_id,
            items = response.total_items,
            high_frequency_count = response.high_frequency_count,
            workers = response.workers,
            payload_bytes,
            http_status,
            step_functions_batch = response.form == Some(EventForm::StepFunctionsBatch),
            duration_ms,
            "invocation processed"
        ),
        Err(FunctionError::InvalidEvent(invalid)) => tracing::warn!(
            request_id,
            error_type = "InvalidEvent",
            path = %invalid.path,
            error = %invalid,
            payload_bytes,
            http_status,
            duration_ms,
            "invocation rejected"
        ),
        Err(error) => tracing::error!(
            request_id,
            error_type = error.error_type(),
            error = %error,
            payload_bytes,
            http_status,
            duration_ms,
            "invocation failed"
        ),
    }
}
