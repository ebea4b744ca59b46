//! Logs and metrics, as a production Lambda team expects them, with no agent and no API call.
//!
//! - Logs go through tracing. `AWS_LAMBDA_LOG_FORMAT=JSON` gives one JSON object per line
//!   with `timestamp`, `level` and `message` at the top level (Lambda filters JSON lines by
//!   `AWS_LAMBDA_LOG_LEVEL` only when they carry `level`), plus the request id and X-Ray trace
//!   id of the invocation the line belongs to; otherwise readable text. Never ANSI colours:
//!   lambda_runtime's own dependency turns tracing-subscriber's `ansi` feature on, and colour
//!   codes land in CloudWatch as garbage. Logs go to stderr, so that local mode's stdout
//!   carries only the response.
//! - One summary line per invocation ([`record_invocation`]): items, count, width, the time of
//!   each phase, `cold_start`, and the event's source. A rejected event logs one WARN line with
//!   its errorType and path, never the payload (which can hold private data and weigh 6 MB);
//!   the payload is logged only at TRACE.
//! - One CloudWatch Embedded Metric Format line per invocation on stdout ([`Metrics`]), which
//!   CloudWatch turns into metrics by itself: no permission beyond writing logs is needed.

use std::collections::BTreeMap;
use std::fmt;
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id};
use tracing::Level;
use tracing::{Event, Subscriber};
use tracing_subscriber::filter::{filter_fn, LevelFilter};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::time::FormatTime;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::Layer;

use crate::error::FunctionError;
use crate::event::EventForm;
use crate::handler::Answer;
use crate::http::HttpReply;
use crate::response::Response;

/// The namespace of the metrics when `METRICS_NAMESPACE` is not set.
pub const DEFAULT_METRICS_NAMESPACE: &str = "FrequencyFanout";

/// Installs the global subscriber. Call once, before anything logs; a second call keeps the
/// first subscriber.
pub fn init() {
    init_with_default_level(LevelFilter::INFO);
}

/// [`init`], logging at `default_level` when neither `AWS_LAMBDA_LOG_LEVEL` nor `RUST_LOG` is set.
pub fn init_with_default_level(default_level: LevelFilter) {
    let json = std::env::var("AWS_LAMBDA_LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json"));
    let level = std::env::var("AWS_LAMBDA_LOG_LEVEL")
        .or_else(|_| std::env::var("RUST_LOG"))
        .map(|level| level_filter(&level))
        .unwrap_or(default_level);
    // The level filters events only: the runtime's per-invocation span (request id, X-Ray
    // trace id, at INFO) stays on at WARN and ERROR, so that every line keeps its ids.
    let filter = filter_fn(move |metadata| {
        if metadata.is_span() {
            *metadata.level() <= Level::INFO
        } else {
            *metadata.level() <= level
        }
    });
    let registry = tracing_subscriber::registry().with(filter);
    let _ = if json {
        registry
            .with(SpanFieldsLayer)
            .with(
                tracing_subscriber::fmt::layer()
                    .event_format(JsonLines)
                    .with_writer(std::io::stderr),
            )
            .try_init()
    } else {
        registry
            .with(
                tracing_subscriber::fmt::layer()
                    .with_ansi(false)
                    .with_target(false)
                    .with_writer(std::io::stderr),
            )
            .try_init()
    };
}

/// A level as Lambda names it (`FATAL` is tracing's `ERROR`); unknown names mean INFO.
fn level_filter(level: &str) -> LevelFilter {
    let level = level.trim();
    if level.eq_ignore_ascii_case("fatal") {
        return LevelFilter::ERROR;
    }
    level.parse().unwrap_or(LevelFilter::INFO)
}

/// The invocation's source, a metrics dimension and a summary field: the HTTP payload format,
/// or the form of a direct invocation. A rejected direct invocation is `Direct`, whatever form
/// it was meant to have.
pub fn event_source(answer: &Answer) -> &'static str {
    match (&answer.http, &answer.result) {
        (Some(HttpReply::V1(_)), _) => "HttpPayloadV1",
        (Some(HttpReply::V2(_)), _) => "HttpPayloadV2",
        (None, Ok(response)) => match response.form {
            Some(EventForm::BareArray) => "BareArray",
            Some(EventForm::StepFunctionsBatch) => "StepFunctions",
            Some(EventForm::Direct) | None => "Direct",
        },
        (None, Err(_)) => "Direct",
    }
}

/// True the first time it is called in the process: the invocation that paid the cold start.
/// Atomic, so that of invocations served at once exactly one gets it.
fn take_cold_start() -> bool {
    static WARM: AtomicBool = AtomicBool::new(false);
    !WARM.swap(true, Ordering::Relaxed)
}

/// One invocation as the logs and metrics see it, beside its answer.
#[derive(Clone, Copy, Debug)]
pub struct Invocation<'a> {
    /// Lambda's request id and the invocation's X-Ray trace id, for the metrics line (log lines
    /// take them from the invocation's span).
    pub request_id: &'a str,
    pub xray_trace_id: Option<&'a str>,
    pub payload: &'a [u8],
    /// The function's own time for it.
    pub elapsed: Duration,
    /// The pool's width.
    pub workers: usize,
}

/// What every line about one invocation says.
struct Summary {
    cold_start: bool,
    source: &'static str,
    duration_ms: f64,
    http_status: Option<i64>,
    payload_bytes: usize,
}

impl Summary {
    fn of(invocation: &Invocation<'_>, answer: &Answer) -> Summary {
        Summary {
            cold_start: take_cold_start(),
            source: event_source(answer),
            duration_ms: milliseconds(invocation.elapsed),
            http_status: answer.http.as_ref().map(HttpReply::status),
            payload_bytes: invocation.payload.len(),
        }
    }
}

/// Logs the invocation's summary line (and its payload at TRACE), and writes its metrics line
/// when `metrics` is given (Lambda mode).
pub fn record_invocation(invocation: &Invocation<'_>, answer: &Answer, metrics: Option<&Metrics>) {
    let summary = Summary::of(invocation, answer);
    log_payload(invocation.payload);
    log_summary(answer, &summary);
    if let Some(metrics) = metrics {
        metrics.emit(answer, &summary, invocation);
    }
}

/// The payload, at TRACE only: it can hold private data and weigh 6 MB.
fn log_payload(payload: &[u8]) {
    if tracing::enabled!(Level::TRACE) {
        // At most 64 KiB of it: a CloudWatch log event holds 256 KB.
        let shown = &payload[..payload.len().min(TRACE_PAYLOAD_LIMIT)];
        tracing::trace!(
            payload = %String::from_utf8_lossy(shown),
            payload_bytes = payload.len(),
            truncated = shown.len() < payload.len(),
            "invocation payload"
        );
    }
}

/// The one summary line: INFO for an answer, WARN for the caller's mistake, ERROR for the
/// function's failure.
fn log_summary(answer: &Answer, s: &Summary) {
    match &answer.result {
        Ok(response) => log_processed(response, s),
        Err(FunctionError::InvalidEvent(invalid)) => tracing::warn!(
            error_type = "InvalidEvent",
            path = %invalid.path,
            error = %invalid.problem,
            payload_bytes = s.payload_bytes,
            event_source = s.source,
            http_status = s.http_status,
            cold_start = s.cold_start,
            duration_ms = s.duration_ms,
            "invocation rejected"
        ),
        // A caller's mistake, answered over HTTP: a warning, not the function's failure.
        Err(error @ FunctionError::MethodNotAllowed(_)) => tracing::warn!(
            error_type = error.error_type(),
            error = %error,
            payload_bytes = s.payload_bytes,
            event_source = s.source,
            http_status = s.http_status,
            cold_start = s.cold_start,
            duration_ms = s.duration_ms,
            "invocation rejected"
        ),
        Err(error) => tracing::error!(
            error_type = error.error_type(),
            error = %error,
            payload_bytes = s.payload_bytes,
            event_source = s.source,
            http_status = s.http_status,
            cold_start = s.cold_start,
            duration_ms = s.duration_ms,
            "invocation failed"
        ),
    }
}

fn log_processed(response: &Response, s: &Summary) {
    let ms = milliseconds;
    let phases = &response.phases;
    tracing::info!(
        items = response.total_items,
        high_frequency_count = response.high_frequency_count,
        workers = response.workers,
        payload_bytes = s.payload_bytes,
        event_source = s.source,
        step_functions_batch = response.form == Some(EventForm::StepFunctionsBatch),
        http_status = s.http_status,
        cold_start = s.cold_start,
        duration_ms = s.duration_ms,
        receive_ms = ms(phases.receive),
        recognise_ms = ms(phases.recognise),
        split_ms = ms(phases.split),
        parse_and_check_ms = ms(phases.parse_and_check),
        reassemble_ms = ms(phases.reassemble),
        "invocation processed"
    )
}

/// How much of a payload the TRACE line shows.
const TRACE_PAYLOAD_LIMIT: usize = 64 * 1024;

/// Milliseconds to the microsecond, without binary-fraction noise in the logs.
fn milliseconds(duration: Duration) -> f64 {
    duration.as_micros() as f64 / 1e3
}

/// CloudWatch Embedded Metric Format: one line on stdout per invocation.
#[derive(Clone, Debug)]
pub struct Metrics {
    namespace: String,
    function_name: String,
}

impl Metrics {
    /// From `METRICS_NAMESPACE`, `METRICS_DISABLED` and `AWS_LAMBDA_FUNCTION_NAME`; `None` when
    /// metrics are disabled.
    pub fn from_env() -> Option<Metrics> {
        let disabled = std::env::var("METRICS_DISABLED")
            .is_ok_and(|v| v.trim().eq_ignore_ascii_case("true") || v.trim() == "1");
        if disabled {
            return None;
        }
        let namespace = std::env::var("METRICS_NAMESPACE")
            .ok()
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
            .unwrap_or_else(|| DEFAULT_METRICS_NAMESPACE.to_string());
        let function_name =
            std::env::var("AWS_LAMBDA_FUNCTION_NAME").unwrap_or_else(|_| "frequency-fanout".into());
        Some(Metrics {
            namespace,
            function_name,
        })
    }

    pub fn new(namespace: impl Into<String>, function_name: impl Into<String>) -> Metrics {
        Metrics {
            namespace: namespace.into(),
            function_name: function_name.into(),
        }
    }

    /// The EMF line for one invocation: its figures as metrics, and its request id and X-Ray
    /// trace id as properties (searchable in Logs Insights, not dimensions: a dimension per
    /// request would make a metric per request).
    pub fn line(
        &self,
        answer: &Answer,
        source: &str,
        cold_start: bool,
        invocation: &Invocation<'_>,
    ) -> String {
        let response: Option<&Response> = answer.result.as_ref().ok();
        let rejected = match (&answer.result, &answer.http) {
            (Err(FunctionError::InvalidEvent(_) | FunctionError::MethodNotAllowed(_)), _) => 1,
            _ => 0,
        };
        let mut definitions = vec![
            json!({"Name": "Items", "Unit": "Count"}),
            json!({"Name": "HighFrequencyItems", "Unit": "Count"}),
            json!({"Name": "Rejected", "Unit": "Count"}),
            json!({"Name": "Duration", "Unit": "Milliseconds"}),
            json!({"Name": "Workers", "Unit": "Count"}),
        ];
        let mut line = json!({
            "_aws": {
                "Timestamp": SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map_or(0, |d| d.as_millis() as u64),
                "CloudWatchMetrics": [],
            },
            "FunctionName": self.function_name,
            "EventSource": source,
            "Items": response.map_or(0, |r| r.total_items),
            "HighFrequencyItems": response.map_or(0, |r| r.high_frequency_count),
            "Rejected": rejected,
            "Duration": milliseconds(invocation.elapsed),
            "Workers": invocation.workers,
            "requestId": invocation.request_id,
        });
        if let Some(trace_id) = invocation.xray_trace_id {
            line["xrayTraceId"] = json!(trace_id);
        }
        if cold_start {
            definitions.push(json!({"Name": "ColdStart", "Unit": "Count"}));
            line["ColdStart"] = json!(1);
        }
        line["_aws"]["CloudWatchMetrics"] = json!([{
            "Namespace": self.namespace,
            "Dimensions": [["FunctionName"], ["FunctionName", "EventSource"]],
            "Metrics": definitions,
        }]);
        line.to_string()
    }

    fn emit(&self, answer: &Answer, summary: &Summary, invocation: &Invocation<'_>) {
        let line = self.line(answer, summary.source, summary.cold_start, invocation);
        let mut stdout = std::io::stdout().lock();
        // A metrics line that cannot be written is lost; the invocation's answer is not.
        let _ = writeln!(stdout, "{line}").and_then(|()| stdout.flush());
    }
}

/// Span fields (the runtime's `requestId` and `xrayTraceId`), kept for the JSON lines.
struct SpanFields(BTreeMap<String, Value>);

/// Records each new span's fields in its extensions.
struct SpanFieldsLayer;

impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for SpanFieldsLayer {
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let mut fields = FieldMap::default();
        attrs.record(&mut fields);
        if let Some(span) = ctx.span(id) {
            span.extensions_mut().insert(SpanFields(fields.0));
        }
    }
}

/// One JSON object per line: `timestamp`, `level`, `message`, the enclosing spans' fields,
/// then the event's own fields.
struct JsonLines;

impl<S, N> FormatEvent<S, N> for JsonLines
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let mut line = serde_json::Map::new();
        let mut timestamp = String::new();
        tracing_subscriber::fmt::time::SystemTime.format_time(&mut Writer::new(&mut timestamp))?;
        line.insert("timestamp".into(), timestamp.into());
        line.insert("level".into(), event.metadata().level().as_str().into());
        let mut fields = FieldMap::default();
        event.record(&mut fields);
        line.insert(
            "message".into(),
            fields.0.remove("message").unwrap_or_else(|| "".into()),
        );
        if let Some(scope) = ctx.event_scope() {
            for span in scope.from_root() {
                if let Some(SpanFields(span_fields)) = span.extensions().get::<SpanFields>() {
                    for (name, value) in span_fields {
                        line.insert(name.clone(), value.clone());
                    }
                }
            }
        }
        line.extend(fields.0);
        writeln!(writer, "{}", Value::Object(line))
    }
}

/// Collects fields as JSON values.
#[derive(Default)]
struct FieldMap(BTreeMap<String, Value>);

impl Visit for FieldMap {
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.0.insert(field.name().into(), json!(value));
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.0.insert(field.name().into(), json!(value));
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.insert(field.name().into(), json!(value));
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.0.insert(field.name().into(), json!(value));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().into(), json!(value));
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0
            .insert(field.name().into(), json!(format!("{value:?}")));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lambda_level_names() {
        assert_eq!(level_filter("FATAL"), LevelFilter::ERROR);
        assert_eq!(level_filter("warn"), LevelFilter::WARN);
        assert_eq!(level_filter("DEBUG"), LevelFilter::DEBUG);
        assert_eq!(level_filter("bogus"), LevelFilter::INFO);
    }
}
