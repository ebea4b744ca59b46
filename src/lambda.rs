//! Lambda mode: serving invocations through the Runtime API.
//!
//! Each invocation takes four steps, in `serve_invocations`: ask `/next` for it, read its
//! payload into a buffer that the same loop reuses for every invocation it serves, run the
//! function on it ([`FrequencyFanout::process`]), and post the answer to `/response` or `/error`.
//! `AWS_LAMBDA_MAX_CONCURRENCY` such loops run at once ([`max_concurrency`]): one on standard
//! Lambda, up to the variable on Lambda Managed Instances, where the Runtime API hands out that
//! many invocations at the same time.
//!
//! The loops are this crate's own, each over a Runtime API connection of its own
//! ([`crate::runtime_api`]: the payload read straight into the loop's buffer, no wait for a
//! delayed acknowledgement) and lambda_runtime's configuration and context (`Config`,
//! `Context`, and the runtime's per-invocation tracing span), rather than
//! `lambda_runtime::Runtime::run`, for what its loop costs a long-lived environment, each
//! measured on the release binary (BENCHMARKS.md, "Memory for the life of an environment"):
//!
//! - its sequential loop copies every invocation's X-Ray trace id into the environment
//!   variable `_X_AMZN_TRACE_ID`, and glibc's `setenv` keeps every distinct value it was ever
//!   given: 182 bytes more resident memory per invocation, for as long as the environment
//!   lives (about 65 MB an hour at 100 invocations a second). Nothing here reads that variable;
//!   the trace id is in the context and on every log line;
//! - it collects each payload into a buffer of its own, freed after the invocation, on top of
//!   hyper's read buffer: megabytes asked of the allocator, page-faulted in and given back on
//!   every large invocation. Here each loop keeps one buffer, at most [`KEPT_PAYLOAD_BYTES`],
//!   and the payload is read into it from the socket;
//! - it has no way to run the function before the payload is deserialized, which this function
//!   does not need (the payload is parsed on the pool, in parts).
//!
//! A failed invocation is posted with its own `errorType` in the
//! `Lambda-Runtime-Function-Error-Type` header (`InvalidEvent`, `WorkerPanic`), and the
//! `Lambda-Runtime-Invocation-Id` the Runtime API sent is echoed on every answer, as
//! lambda_runtime does, so that it can refuse a late answer to an invocation it timed out.

use std::fmt;
use std::sync::Arc;
use std::time::Instant;

use lambda_runtime::layers::trace::request_span;
use lambda_runtime::{Context, Diagnostic};
use tokio::task::JoinSet;
use tracing::Instrument;

use crate::error::FunctionError;
use crate::handler::{FrequencyFanout, Reply};
use crate::observability::{self, Metrics};
use crate::runtime_api::{Connection, ConnectionError, Endpoint};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The header that tells the Runtime API the type of a function error.
pub const ERROR_TYPE_HEADER: &str = "lambda-runtime-function-error-type";
/// The header that names an invocation; echoed on its answer.
const INVOCATION_ID_HEADER: &str = "lambda-runtime-invocation-id";
const REQUEST_ID_HEADER: &str = "lambda-runtime-aws-request-id";
const DEADLINE_HEADER: &str = "lambda-runtime-deadline-ms";
const NEXT_PATH: &str = "/2018-06-01/runtime/invocation/next";

/// A payload buffer keeps at most this capacity from one invocation to the next: Lambda's
/// largest synchronous payload (6 MB) fits. A larger one (asynchronous events are smaller, so
/// only a local emulator sends them) is freed after its invocation.
pub const KEPT_PAYLOAD_BYTES: usize = 8 << 20;

/// How many invocations may be in flight at once: `AWS_LAMBDA_MAX_CONCURRENCY` read as
/// lambda_runtime 1.5 reads it. A whole number from 1 up (`u32`) is taken as it is; anything
/// else (unset, empty, `0`, `-1`, `2.5`, `eight`, a number beyond `u32`, spaces around it) means
/// 1, one invocation at a time, as on standard Lambda.
pub fn max_concurrency(value: Option<&str>) -> usize {
    value.and_then(whole_number_from_1).unwrap_or(1)
}

/// The value as a whole number from 1 (`u32`, as lambda_runtime takes it), or `None`.
fn whole_number_from_1(value: &str) -> Option<usize> {
    value
        .parse::<u32>()
        .ok()
        .filter(|&n| n > 0)
        .map(|n| n as usize)
}

/// [`max_concurrency`] of this process's environment, with a warning when the variable is set
/// to something it does not take (Lambda itself only ever sets a whole number from 1 to 1600).
pub fn max_concurrency_from_env() -> usize {
    let Ok(value) = std::env::var("AWS_LAMBDA_MAX_CONCURRENCY") else {
        return 1;
    };
    whole_number_from_1(&value).unwrap_or_else(|| {
        tracing::warn!(
            "AWS_LAMBDA_MAX_CONCURRENCY={value:?} is not a whole number from 1: serving one \
             invocation at a time"
        );
        1
    })
}

/// Why serving stopped.
#[derive(Debug)]
pub enum ServeError {
    /// A variable Lambda always sets is missing or malformed.
    Environment(String),
    /// The Runtime API could not be reached, or a connection to it failed.
    Transport(BoxError),
    /// `/next` answered with an error status: the execution environment is broken, and the
    /// Runtime API expects the runtime to exit.
    NextStatus { status: u16, body: String },
    /// An invocation came without a header the protocol requires, or with a malformed one.
    Protocol(String),
}

impl ServeError {
    /// Whether the whole process must stop, rather than the one loop that met it: a broken
    /// environment or protocol concerns every invocation; a failed connection only its loop's.
    fn is_fatal(&self) -> bool {
        !matches!(self, ServeError::Transport(_))
    }
}

impl fmt::Display for ServeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ServeError::Environment(problem) => f.write_str(problem),
            ServeError::Transport(error) => write!(f, "the Runtime API connection failed: {error}"),
            ServeError::NextStatus { status, body } => write!(
                f,
                "the Runtime API answered /next with status {status}: {body}"
            ),
            ServeError::Protocol(problem) => write!(f, "the Runtime API {problem}"),
        }
    }
}

impl std::error::Error for ServeError {}

impl ServeError {
    fn transport(error: ConnectionError) -> ServeError {
        ServeError::Transport(Box::new(error))
    }
}

/// What every serving loop shares.
struct Serving {
    function: Arc<FrequencyFanout>,
    metrics: Option<Metrics>,
    /// Where the Runtime API is; each loop makes its own connection to it.
    runtime_api: Endpoint,
    config: Arc<lambda_runtime::Config>,
}

/// Serves invocations, `concurrency` at a time, until the Runtime API goes away. Needs the
/// Lambda environment (`AWS_LAMBDA_RUNTIME_API` and the function's variables).
///
/// Returns when the environment turns out broken (a fatal [`ServeError`], at once) or when
/// every loop has stopped on a failed connection (the last error).
pub async fn serve(
    function: Arc<FrequencyFanout>,
    metrics: Option<Metrics>,
    concurrency: usize,
) -> Result<(), ServeError> {
    let config = Arc::new(lambda_config()?);
    let runtime_api = runtime_api_endpoint()?;
    let serving = Arc::new(Serving {
        function,
        metrics,
        runtime_api,
        config,
    });
    let mut loops = JoinSet::new();
    for _ in 0..concurrency {
        loops.spawn(serve_invocations(Arc::clone(&serving)));
    }
    let mut last_error = None;
    while let Some(stopped) = loops.join_next().await {
        let error = match stopped {
            Ok(Ok(())) => continue,
            Ok(Err(error)) => error,
            // A panic outside the function's own catch: a bug, but one loop's.
            Err(join_error) => ServeError::Transport(Box::new(join_error)),
        };
        if error.is_fatal() {
            return Err(error);
        }
        if !loops.is_empty() {
            tracing::error!(
                loops_left = loops.len(),
                "one of the loops serving invocations stopped: {error}"
            );
        }
        last_error = Some(error);
    }
    last_error.map_or(Ok(()), Err)
}

/// Where the Runtime API is: `AWS_LAMBDA_RUNTIME_API` (`host:port` on Lambda, a URL under
/// `cargo lambda watch`).
fn runtime_api_endpoint() -> Result<Endpoint, ServeError> {
    let api = std::env::var("AWS_LAMBDA_RUNTIME_API").unwrap_or_default();
    Endpoint::parse(&api).map_err(|problem| {
        ServeError::Environment(format!(
            "AWS_LAMBDA_RUNTIME_API={api:?} is not a host and port or an http URL: {problem}"
        ))
    })
}

/// lambda_runtime's configuration, checked first: its own reading panics on a missing variable.
fn lambda_config() -> Result<lambda_runtime::Config, ServeError> {
    for name in [
        "AWS_LAMBDA_FUNCTION_NAME",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
        "AWS_LAMBDA_FUNCTION_VERSION",
    ] {
        if std::env::var_os(name).is_none() {
            return Err(ServeError::Environment(format!(
                "{name} is not set (Lambda sets it)"
            )));
        }
    }
    let memory = std::env::var("AWS_LAMBDA_FUNCTION_MEMORY_SIZE").unwrap_or_default();
    if memory.parse::<i32>().is_err() {
        return Err(ServeError::Environment(format!(
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE={memory:?} is not a whole number of MB"
        )));
    }
    Ok(lambda_runtime::Config::from_env())
}

/// One invocation as the Runtime API handed it out.
struct Invocation {
    context: Context,
    invocation_id: Option<http::HeaderValue>,
    payload: Vec<u8>,
}

/// One loop: invocation after invocation, each in its own tracing span (the request id and
/// X-Ray trace id on every log line), the payload buffer handed from one to the next.
async fn serve_invocations(serving: Arc<Serving>) -> Result<(), ServeError> {
    let mut connection = Connection::new(serving.runtime_api.clone());
    let mut buffer = Vec::new();
    loop {
        let invocation = next_invocation(&serving, &mut connection, buffer).await?;
        let span = request_span(&invocation.context);
        buffer = invoke(&serving, &mut connection, invocation)
            .instrument(span)
            .await?;
    }
}

/// Asks `/next` for an invocation and reads its payload into `buffer`.
async fn next_invocation(
    serving: &Serving,
    connection: &mut Connection,
    mut buffer: Vec<u8>,
) -> Result<Invocation, ServeError> {
    buffer.clear();
    let answer = connection
        .get(NEXT_PATH, &mut buffer)
        .await
        .map_err(ServeError::transport)?;
    if !(200..300).contains(&answer.status) {
        return Err(ServeError::NextStatus {
            status: answer.status,
            body: shown(&buffer),
        });
    }
    let headers = &answer.headers;
    let request_id = header_text(headers, REQUEST_ID_HEADER)?;
    if !is_path_segment(request_id) {
        return Err(ServeError::Protocol(format!(
            "sent a {REQUEST_ID_HEADER} of {request_id:?}, which cannot name it in a path"
        )));
    }
    // `Context::new` reads the deadline, and an error for a malformed one, but panics when the
    // header is missing.
    header_text(headers, DEADLINE_HEADER)?;
    let context =
        Context::new(request_id, Arc::clone(&serving.config), headers).map_err(|error| {
            ServeError::Protocol(format!("sent invocation headers it cannot read: {error}"))
        })?;
    Ok(Invocation {
        context,
        invocation_id: headers.get(INVOCATION_ID_HEADER).cloned(),
        payload: buffer,
    })
}

/// Runs the function on one invocation, logs it, and posts its answer. Returns the payload
/// buffer for the next invocation.
async fn invoke(
    serving: &Serving,
    connection: &mut Connection,
    invocation: Invocation,
) -> Result<Vec<u8>, ServeError> {
    let started = Instant::now();
    let request_id = invocation.context.request_id.as_str();
    let (answer, payload) = serving
        .function
        .process(invocation.payload, request_id)
        .await;
    let context = &invocation.context;
    let record = observability::Invocation {
        request_id,
        xray_trace_id: context.xray_trace_id.as_deref(),
        payload: &payload,
        elapsed: started.elapsed(),
        workers: serving.function.workers(),
    };
    observability::record_invocation(&record, &answer, serving.metrics.as_ref());
    let invocation_id = &invocation.invocation_id;
    let posted = match answer.into_reply() {
        Ok(reply) => post_response(connection, request_id, invocation_id, &reply).await,
        Err(error) => post_error(connection, request_id, invocation_id, error).await,
    };
    posted?;
    Ok(reusable(payload))
}

/// The buffer emptied for the next payload, or a fresh one when it grew beyond
/// [`KEPT_PAYLOAD_BYTES`].
fn reusable(mut buffer: Vec<u8>) -> Vec<u8> {
    if buffer.capacity() > KEPT_PAYLOAD_BYTES {
        return Vec::new();
    }
    buffer.clear();
    buffer
}

async fn post_response(
    connection: &mut Connection,
    request_id: &str,
    invocation_id: &Option<http::HeaderValue>,
    reply: &Reply,
) -> Result<(), ServeError> {
    // Serializing these plain structs cannot fail: no maps with non-string keys, no I/O.
    let mut body = Vec::with_capacity(reply.json_size_hint());
    serde_json::to_writer(&mut body, reply).expect("replies serialize");
    let headers = echoed(invocation_id);
    let path = answer_path(request_id, "response");
    post(connection, &path, &headers, &body, "response").await
}

/// Posts a failed invocation to `/error`, with its `errorType` in the body and the header.
async fn post_error(
    connection: &mut Connection,
    request_id: &str,
    invocation_id: &Option<http::HeaderValue>,
    error: FunctionError,
) -> Result<(), ServeError> {
    let error_type = error.error_type();
    // A Diagnostic is two strings: it serializes.
    let body = serde_json::to_vec(&Diagnostic::from(error)).expect("diagnostics serialize");
    let mut headers = echoed(invocation_id);
    headers.push((ERROR_TYPE_HEADER, error_type));
    let path = answer_path(request_id, "error");
    post(connection, &path, &headers, &body, "error report").await
}

/// The path of an invocation's answer: `/invocation/{id}/{endpoint}`.
fn answer_path(request_id: &str, endpoint: &str) -> String {
    format!("/2018-06-01/runtime/invocation/{request_id}/{endpoint}")
}

/// The invocation id, echoed on its answer when the Runtime API sent one (a header value that
/// is not text, which the Runtime API does not send, is left out).
fn echoed(invocation_id: &Option<http::HeaderValue>) -> Vec<(&'static str, &str)> {
    invocation_id
        .as_ref()
        .and_then(|id| id.to_str().ok())
        .map(|id| (INVOCATION_ID_HEADER, id))
        .into_iter()
        .collect()
}

/// Sends an answer. A refusal (the invocation timed out, say) is logged and serving goes on;
/// a failed connection ends this loop.
async fn post(
    connection: &mut Connection,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    what: &str,
) -> Result<(), ServeError> {
    let mut answer_body = Vec::new();
    let answer = connection
        .post(path, headers, body, &mut answer_body)
        .await
        .map_err(ServeError::transport)?;
    if !(200..300).contains(&answer.status) {
        let status = answer.status;
        let body = shown(&answer_body);
        tracing::error!(status, body, "the Runtime API refused the {what}");
    }
    Ok(())
}

fn header_text<'a>(headers: &'a http::HeaderMap, name: &str) -> Result<&'a str, ServeError> {
    let value = headers
        .get(name)
        .ok_or_else(|| ServeError::Protocol(format!("sent an invocation without {name}")))?;
    value
        .to_str()
        .map_err(|_| ServeError::Protocol(format!("sent a {name} header that is not text")))
}

/// Whether `text` can stand as one segment of the path the answer is posted to
/// ([`answer_path`]) as it is: not empty, and only characters a path takes unescaped, none of
/// which ends a segment (RFC 3986: unreserved, sub-delims, `:` and `@`), and not `.` or `..`,
/// which a server reads as a step in the path. Lambda's request ids are UUIDs.
fn is_path_segment(text: &str) -> bool {
    !matches!(text, "" | "." | "..")
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@".contains(&b))
}

/// A short answer's body as text, for a log line (at most 4 KiB of it).
fn shown(body: &[u8]) -> String {
    const SHOWN: usize = 4 * 1024;
    String::from_utf8_lossy(&body[..body.len().min(SHOWN)]).into_owned()
}

/// Reports an init failure to the Runtime API's `/init/error`, as the Runtime API asks of a
/// function that cannot start; Lambda then shows `error_type` and `message` to the caller.
/// Best effort: the process exits non-zero either way.
pub fn report_init_error(error_type: &str, message: &str) {
    let report = async {
        let mut connection = Connection::new(runtime_api_endpoint()?);
        let body = serde_json::to_vec(&Diagnostic {
            error_type: error_type.into(),
            error_message: message.into(),
        })?;
        let headers = [(ERROR_TYPE_HEADER, error_type)];
        connection
            .post(
                "/2018-06-01/runtime/init/error",
                &headers,
                &body,
                &mut Vec::new(),
            )
            .await?;
        Ok::<(), BoxError>(())
    };
    let outcome: Result<(), BoxError> = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(BoxError::from)
        .and_then(|runtime| runtime.block_on(report));
    if let Err(error) = outcome {
        tracing::warn!("could not report the init error to the Runtime API: {error}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn concurrency_is_read_as_lambda_runtime_reads_it() {
        assert_eq!(max_concurrency(None), 1);
        assert_eq!(max_concurrency(Some("8")), 8);
        assert_eq!(max_concurrency(Some("1")), 1);
        assert_eq!(max_concurrency(Some("1600")), 1600);
        for invalid in ["", "0", "-1", "2.5", "eight", " 8", "8 ", "4294967296", "+"] {
            assert_eq!(max_concurrency(Some(invalid)), 1, "{invalid:?}");
        }
    }

    #[test]
    fn request_ids_go_into_a_path_only_as_one_plain_segment() {
        for id in ["8476a536-e9f4-11e8-9739-2dfe598c3fcd", "req:1@x", "a.b_c~d"] {
            assert!(is_path_segment(id), "{id:?}");
        }
        for id in [
            "",
            "a b",
            "a/b",
            "a?b",
            "a#b",
            "../x",
            "caf\u{e9}",
            "a%20b",
            "a\tb",
        ] {
            assert!(!is_path_segment(id), "{id:?}");
        }
    }

    #[test]
    fn a_kept_buffer_is_emptied_and_a_huge_one_freed() {
        let mut small = Vec::with_capacity(1024);
        small.extend_from_slice(b"payload");
        let kept = reusable(small);
        assert!(kept.is_empty() && kept.capacity() >= 1024);
        let huge = Vec::with_capacity(KEPT_PAYLOAD_BYTES + 1);
        assert_eq!(reusable(huge).capacity(), 0);
    }
}
